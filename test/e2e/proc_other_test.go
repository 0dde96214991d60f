//go:build !linux

package e2e

import "errors"

// procInfo identifies a process; the leak check needs /proc (Linux).
type procInfo struct{ cmdline string }

var errNoProc = errors.New("process leak check needs /proc (Linux)")

func descendants(int) ([]procInfo, error) { return nil, errNoProc }

func survivors([]procInfo, ...string) ([]procInfo, error) { return nil, errNoProc }
