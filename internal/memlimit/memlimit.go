// Package memlimit sets the Go runtime's soft memory limit from the
// container's cgroup memory limit.
//
// The webhook's live heap grows with the cluster (about 180 MiB at 10k
// subnets, 100k IP objects and 110k pods), and the initial informer list
// briefly holds the untransformed objects too. With the default GOGC the
// heap may grow to twice the live heap before a collection; in a container
// with a memory limit that is an OOM kill waiting to happen. A soft limit
// a little under the container's makes the collector work harder instead.
// An explicit GOMEMLIMIT always wins.
package memlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// The files the container's memory limit is read from, in order: cgroup v2,
// then cgroup v1 (where "no limit" is a number near 2^63).
const (
	CgroupFile   = "/sys/fs/cgroup/memory.max"
	CgroupV1File = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
)

// CgroupFiles are CgroupFile and CgroupV1File, for Set.
var CgroupFiles = []string{CgroupFile, CgroupV1File}

// unlimitedV1 is where cgroup v1's "no limit" values start (the kernel
// reports 2^63 rounded down to a page).
const unlimitedV1 = 1 << 62

// Result says what Set did.
type Result struct {
	// Limit is the soft limit set, in bytes; 0 when none was set.
	Limit int64
	// Cgroup is the cgroup limit read, in bytes; 0 when there is none.
	Cgroup int64
	// File is the file the limit was read from.
	File string
	// Reason explains a limit not set ("GOMEMLIMIT is set", "no cgroup
	// memory limit", "disabled", or why the limit could not be read).
	Reason string
}

// Set sets the runtime's soft memory limit to ratio times the container's
// memory limit, read from the first of files that exists, unless the
// GOMEMLIMIT environment variable is set or ratio is 0. Only a ratio
// outside [0, 1] is an error: the limit is an optimisation, so a missing,
// unlimited or unreadable cgroup file leaves the runtime's default and
// says why in Result.Reason.
func Set(ratio float64, files ...string) (Result, error) {
	switch {
	case ratio < 0 || ratio > 1 || math.IsNaN(ratio):
		return Result{}, fmt.Errorf("memory limit ratio %v: must be between 0 and 1", ratio)
	case ratio == 0:
		return Result{Reason: "disabled"}, nil
	case os.Getenv("GOMEMLIMIT") != "":
		return Result{Reason: "GOMEMLIMIT is set"}, nil
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Result{File: file, Reason: fmt.Sprintf("cannot read the cgroup memory limit: %v", err)}, nil
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return Result{File: file, Reason: "no cgroup memory limit"}, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		switch {
		case err != nil || n <= 0:
			return Result{File: file, Reason: fmt.Sprintf("cgroup memory limit %q in %s is not a positive number of bytes", s, file)}, nil
		case n >= unlimitedV1:
			return Result{File: file, Reason: "no cgroup memory limit"}, nil
		}
		limit := int64(float64(n) * ratio)
		debug.SetMemoryLimit(limit)
		return Result{Limit: limit, Cgroup: n, File: file}, nil
	}
	return Result{Reason: "no cgroup memory limit"}, nil
}
