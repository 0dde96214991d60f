package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
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
			deadline := time.Now().Add(2 * time.Second)
			for syscall.Kill(-pgid, 0) == nil {
				if time.Now().After(deadline) {
					t.Fatalf("process group %d still alive after stop", pgid)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := c.stop(time.Second); err != nil {
				t.Errorf("second stop() = %v, want nil", err)
			}
		})
	}
}

func waitForFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never contained %q: %q", path, want, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
