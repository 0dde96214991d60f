package devenvtest

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/ipamguard/ipamguard/internal/devenv"
)

// identityTTL is how long the token of InstallIdentity's kubeconfig is
// valid: beyond any test run (CI stops at 90 minutes).
const identityTTL = 3 * time.Hour

// InstallIdentity applies the shipped install's ServiceAccount and RBAC to
// env (devenv.Env.InstallIdentity) and writes a kubeconfig that
// authenticates as that ServiceAccount to path: a webhook process started
// with it may do exactly what the install grants. The Namespace may exist
// already.
func InstallIdentity(t testing.TB, env *devenv.Env, path string) *devenv.Identity {
	t.Helper()
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	id, err := env.InstallIdentity(t.Context(), root, identityTTL)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, id.Kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return id
}

// forbiddenMark is in the error of a request the API server's authorizer
// refused to a ServiceAccount, in a process's log (klog or logr, whose
// values quote it).
const forbiddenMark = `is forbidden: User \"system:serviceaccount:`

// CheckGranted fails t with the first line of the log at path in which the
// API server refused a request of a process running as a ServiceAccount
// (InstallIdentity): the install's RBAC must grant all it asks for. who
// names the process.
func CheckGranted(t testing.TB, who, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v", who, err)
		return
	}
	j := bytes.Index(b, []byte(forbiddenMark))
	if j < 0 {
		return
	}
	start := bytes.LastIndexByte(b[:j], '\n') + 1
	end := len(b)
	if k := bytes.IndexByte(b[j:], '\n'); k >= 0 {
		end = j + k
	}
	t.Errorf("%s was refused by the API server's RBAC (the install's): %s", who, b[start:end])
}
