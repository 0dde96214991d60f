// Package devenvtest holds test helpers shared by the envtest and e2e suites.
package devenvtest

import (
	"errors"
	"os"
	"testing"

	"github.com/go-logr/logr/testr"

	"github.com/ipamguard/ipamguard/internal/devenv"
)

// RequireEnv names the environment variable that turns missing control-plane
// binaries from a skip into a failure. CI sets it to "1".
const RequireEnv = "IPAMGUARD_REQUIRE_ENVTEST"

// Assets returns the directory of kube-apiserver, etcd and kubectl. When they
// are missing it skips the test, unless IPAMGUARD_REQUIRE_ENVTEST=1, in which
// case it fails it: CI must never pass by skipping.
func Assets(t testing.TB) string {
	t.Helper()
	dir, err := devenv.DefaultAssetsDir()
	if err != nil {
		t.Fatalf("locate envtest assets: %v", err)
	}
	if err := devenv.CheckAssets(dir); err != nil {
		if errors.Is(err, devenv.ErrAssetsMissing) && os.Getenv(RequireEnv) != "1" {
			t.Skipf("skipping: %v; set %s=1 to make this a failure", err, RequireEnv)
		}
		t.Fatalf("envtest assets: %v", err)
	}
	return dir
}

// Start starts a control plane for the test with o (AssetsDir defaults to
// Assets(t)), stops it in t.Cleanup, and logs through t.
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
