package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
)

func TestPrefixWriter(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := &prefixWriter{w: &out, prefix: "webhook | "}
	for _, chunk := range []string{"first li", "ne\nsecond\nthi", "rd"} {
		if n, err := p.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	if got, want := out.String(), "webhook | first line\nwebhook | second\n"; got != want {
		t.Errorf("before Flush: %q, want %q", got, want)
	}
	p.Flush()
	if got, want := out.String(), "webhook | first line\nwebhook | second\nwebhook | third\n"; got != want {
		t.Errorf("after Flush: %q, want %q", got, want)
	}
}

func TestTailSection(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "webhook.log")
	var b strings.Builder
	for i := 1; i <= logTailLines+5; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := tailSection(path)
	if strings.Contains(got, "line 5\n") || !strings.Contains(got, "line 6\n") || !strings.HasSuffix(got, fmt.Sprintf("line %d", logTailLines+5)) {
		t.Errorf("tailSection kept the wrong lines:\n%s", got)
	}
}

// TestChildStop checks both ways a child ends: it honours SIGTERM, or it
// ignores it and is killed after the timeout, taking its own children along.
func TestChildStop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		script  string
		wantErr bool
	}{
		{"exits on SIGTERM", `trap 'exit 0' TERM; echo started; while :; do sleep 0.1; done`, false},
		{"ignores SIGTERM", `trap '' TERM; echo started; sleep 60 & wait`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logPath := filepath.Join(t.TempDir(), "child.log")
			c, err := startChild(testr.New(t), "/bin/sh", logPath, []string{"-c", tt.script}, "/nonexistent")
			if err != nil {
				t.Fatal(err)
			}
			waitForFile(t, logPath, "started")
			pgid := c.cmd.Process.Pid

			err = c.stop(500 * time.Millisecond)
			if (err != nil) != tt.wantErr {
				t.Errorf("stop() = %v, want error %v", err, tt.wantErr)
			}
			select {
			case <-c.done:
			default:
				t.Fatal("stop returned before the child was reaped")
			}
			// The whole group, including the background sleep, must be gone.
			devenvtest.Eventually(t, fmt.Sprintf("process group %d to be gone after stop", pgid), 2*time.Second, func() error {
				if syscall.Kill(-pgid, 0) == nil {
					return errors.New("still alive")
				}
				return nil
			})
			if err := c.stop(time.Second); err != nil {
				t.Errorf("second stop() = %v, want nil", err)
			}
		})
	}
}

func waitForFile(t *testing.T, path, want string) {
	t.Helper()
	devenvtest.Eventually(t, fmt.Sprintf("%s to contain %q", path, want), 5*time.Second, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), want) {
			return fmt.Errorf("it holds %q", b)
		}
		return nil
	})
}
