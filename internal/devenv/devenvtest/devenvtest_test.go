package devenvtest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ipamguard/ipamguard/internal/devenv"
)

// fakeT records how a helper ended a test: Fatal or Skip stop it as the
// real ones do, by ending its goroutine.
type fakeT struct {
	testing.TB
	fatal, skip string
	// errors are what Errorf recorded.
	errors []string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeT) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

func (f *fakeT) Skip(args ...any) { f.Skipf("%s", fmt.Sprint(args...)) }

func (f *fakeT) Skipf(format string, args ...any) {
	f.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls fn with a fakeT in its own goroutine, as a test runs.
func run(t *testing.T, fn func(*fakeT)) *fakeT {
	t.Helper()
	f := &fakeT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestEventually(t *testing.T) {
	t.Parallel()

	t.Run("returns once the condition holds", func(t *testing.T) {
		t.Parallel()
		calls := 0
		f := run(t, func(f *fakeT) {
			Eventually(f, "three calls", time.Second, func() error {
				if calls++; calls < 3 {
					return errors.New("not yet")
				}
				return nil
			})
		})
		if f.fatal != "" || calls != 3 {
			t.Errorf("fatal %q after %d calls, want none after 3", f.fatal, calls)
		}
	})

	t.Run("a timeout names what was awaited and the last error", func(t *testing.T) {
		t.Parallel()
		n := 0
		f := run(t, func(f *fakeT) {
			Eventually(f, "the answer", 50*time.Millisecond, func() error {
				n++
				return fmt.Errorf("attempt %d", n)
			})
		})
		want := fmt.Sprintf("timed out after 50ms waiting for the answer; last error: attempt %d", n)
		if f.fatal != want {
			t.Errorf("fatal %q, want %q", f.fatal, want)
		}
	})
}

func TestSharedWithoutAssets(t *testing.T) {
	t.Setenv(devenv.AssetsEnv, t.TempDir())
	starts := 0
	s := NewShared(devenv.Options{}, func(context.Context, *devenv.Env) (int, func() error, error) {
		starts++
		return 1, nil, nil
	})

	t.Setenv(RequireEnv, "")
	for range 2 {
		f := run(t, func(f *fakeT) { s.Get(f) })
		if !strings.Contains(f.skip, "envtest assets missing") || !strings.Contains(f.skip, RequireEnv+"=1") {
			t.Errorf("skip %q, want it to name the missing assets and %s", f.skip, RequireEnv)
		}
	}
	if starts != 0 {
		t.Errorf("setup ran %d times without a control plane", starts)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("Stop of a fixture never started: %v", err)
	}

	t.Setenv(RequireEnv, "1")
	s = NewShared(devenv.Options{}, func(context.Context, *devenv.Env) (int, func() error, error) { return 1, nil, nil })
	f := run(t, func(f *fakeT) { s.Get(f) })
	if f.skip != "" || !strings.Contains(f.fatal, "envtest assets missing") {
		t.Errorf("with %s=1: skip %q, fatal %q, want a failure naming the missing assets", RequireEnv, f.skip, f.fatal)
	}
}

func TestSkipUnlessRequired(t *testing.T) {
	t.Setenv(RequireEnv, "")
	if f := run(t, func(f *fakeT) { SkipUnlessRequired(f, "no %s", "CRDs") }); f.skip == "" || f.fatal != "" {
		t.Errorf("not required: skip %q, fatal %q, want a skip", f.skip, f.fatal)
	}
	t.Setenv(RequireEnv, "1")
	if f := run(t, func(f *fakeT) { SkipUnlessRequired(f, "no %s", "CRDs") }); f.fatal != "no CRDs ("+RequireEnv+"=1)" {
		t.Errorf("required: skip %q, fatal %q, want a failure", f.skip, f.fatal)
	}
}
