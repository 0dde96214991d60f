package devenvtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/ipamguard/ipamguard/internal/devenv"
)

// sharedStartTimeout bounds starting a shared control plane and what runs
// on it; devenv's own process timeouts are shorter.
const sharedStartTimeout = 3 * time.Minute

// Shared is a control plane, and whatever a package runs on it, that the
// envtest tests of one package share, as cluster-api's suites do. It starts
// when a test first calls Get, so unit tests in the same package never pay
// for it, and Main stops it after the last test. Tests that share it must
// leave it as they found it: unique names, or t.Cleanup that deletes what
// they created and restores what they changed.
type Shared[T any] struct {
	opts  devenv.Options
	setup func(ctx context.Context, env *devenv.Env) (T, func() error, error)

	once sync.Once
	env  *devenv.Env
	val  T
	stop func() error
	skip string // why every test using it skips
	err  error  // why every test using it fails
}

// NewShared returns a Shared control plane started with o (AssetsDir
// defaults to the pinned binaries, Log to stderr under -v) on first use.
// setup then builds the package's fixture on it; ctx bounds only the
// start, and the returned stop (may be nil) is called before the control
// plane stops.
func NewShared[T any](o devenv.Options, setup func(ctx context.Context, env *devenv.Env) (T, func() error, error)) *Shared[T] {
	return &Shared[T]{opts: o, setup: setup}
}

// Get returns the shared fixture, starting it on the first call. Without
// the control-plane binaries it skips t (fails it when
// IPAMGUARD_REQUIRE_ENVTEST=1); if starting failed, every test that asks
// fails with that error.
func (s *Shared[T]) Get(t testing.TB) T {
	t.Helper()
	s.once.Do(s.start)
	switch {
	case s.skip != "":
		t.Skip(s.skip)
	case s.err != nil:
		t.Fatalf("shared control plane: %v", s.err)
	}
	return s.val
}

func (s *Shared[T]) start() {
	o := s.opts
	if o.AssetsDir == "" {
		o.AssetsDir, s.skip, s.err = lookupAssets()
		if s.skip != "" || s.err != nil {
			return
		}
	}
	if o.Log.GetSink() == nil {
		o.Log = stderrLog()
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedStartTimeout)
	defer cancel()
	began := time.Now()
	env, err := devenv.Start(ctx, o)
	if err != nil {
		s.err = err
		return
	}
	s.env = env
	s.val, s.stop, err = s.setup(ctx, env)
	if err != nil {
		s.err = fmt.Errorf("set up on the control plane: %w", err)
		if stopErr := s.Stop(); stopErr != nil {
			s.err = errors.Join(s.err, stopErr)
		}
		return
	}
	o.Log.Info("shared control plane ready", "took", time.Since(began).Round(time.Millisecond).String())
}

// Stop stops what setup started and then the control plane, if Get ever
// started them. Main calls it; it is safe to call more than once.
func (s *Shared[T]) Stop() error {
	var errs []error
	if s.stop != nil {
		errs = append(errs, s.stop())
		s.stop = nil
	}
	if s.env != nil {
		errs = append(errs, s.env.Stop())
	}
	return errors.Join(errs...)
}

// stderrLog logs to stderr under go test -v and discards otherwise: a
// shared control plane outlives the test that started it, so it cannot
// log through that test's t.
func stderrLog() logr.Logger {
	if !testing.Verbose() {
		return logr.Discard()
	}
	return funcr.New(func(prefix, args string) {
		fmt.Fprintln(os.Stderr, "devenv:", prefix, args)
	}, funcr.Options{})
}

// Main runs a package's tests and then stops its shared fixtures; a fixture
// that fails to stop fails the run. Call it from TestMain:
//
//	var shared = devenvtest.NewShared(devenv.Options{}, setup)
//
//	func TestMain(m *testing.M) { devenvtest.Main(m, shared) }
func Main(m *testing.M, fixtures ...interface{ Stop() error }) {
	code := m.Run()
	for _, f := range fixtures {
		if err := f.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop shared control plane: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}
