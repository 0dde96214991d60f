// Package devenvtest holds test helpers shared by the envtest and e2e suites:
// starting a control plane for one test (Start) or once for a whole package
// (Shared, Main), the rule that missing binaries skip unless CI requires them
// (SkipUnlessRequired), and one polling helper (Eventually).
package devenvtest

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/go-logr/logr/testr"

	"github.com/ipamguard/ipamguard/internal/devenv"
)

// RequireEnv names the environment variable that turns missing control-plane
// binaries from a skip into a failure. CI sets it to "1".
const RequireEnv = "IPAMGUARD_REQUIRE_ENVTEST"

// Required reports whether RequireEnv is "1": a missing prerequisite of an
// envtest test is then a failure, not a skip.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// SkipUnlessRequired skips t because a prerequisite (control-plane binaries,
// upstream CRDs) is missing, or fails it when IPAMGUARD_REQUIRE_ENVTEST=1:
// CI must never pass by skipping.
func SkipUnlessRequired(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (%s=1)", msg, RequireEnv)
	}
	t.Skipf("skipping: %s; set %s=1 to make this a failure", msg, RequireEnv)
}

// Assets returns the directory of kube-apiserver, etcd and kubectl. When they
// are missing it skips the test, unless IPAMGUARD_REQUIRE_ENVTEST=1, in which
// case it fails it: CI must never pass by skipping.
func Assets(t testing.TB) string {
	t.Helper()
	dir, skip, err := lookupAssets()
	switch {
	case err != nil:
		t.Fatal(err)
	case skip != "":
		t.Skip(skip)
	}
	return dir
}

// lookupAssets returns the assets directory, or why envtest tests cannot
// run: skip when the binaries are missing and that is allowed, err when it
// is not (or the directory cannot be located).
func lookupAssets() (dir, skip string, err error) {
	dir, err = devenv.DefaultAssetsDir()
	if err != nil {
		return "", "", fmt.Errorf("locate envtest assets: %w", err)
	}
	if err := devenv.CheckAssets(dir); err != nil {
		if errors.Is(err, devenv.ErrAssetsMissing) && !Required() {
			return "", fmt.Sprintf("skipping: %v; set %s=1 to make this a failure", err, RequireEnv), nil
		}
		return "", "", fmt.Errorf("envtest assets: %w", err)
	}
	return dir, "", nil
}

// Start starts a control plane for the test with o (AssetsDir defaults to
// Assets(t)), stops it in t.Cleanup, and logs through t. A package whose
// tests can share one control plane uses Shared instead.
func Start(t testing.TB, o devenv.Options) *devenv.Env {
	t.Helper()
	if o.AssetsDir == "" {
		o.AssetsDir = Assets(t)
	}
	if o.Log.GetSink() == nil {
		o.Log = testr.NewWithInterface(t, testr.Options{})
	}
	env, err := devenv.Start(t.Context(), o)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return env
}
