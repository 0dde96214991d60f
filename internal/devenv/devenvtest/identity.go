package devenvtest

import (
	"bytes"
	"os"
	"slices"
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
// names the process. Refusals within excused (byte offsets [from, to) of
// the log) are not counted: while the API server restarts, it answers
// before its RBAC has caught up.
func CheckGranted(t testing.TB, who, path string, excused ...[2]int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v", who, err)
		return
	}
	for off := 0; ; {
		j := bytes.Index(b[off:], []byte(forbiddenMark))
		if j < 0 {
			return
		}
		j += off
		off = j + len(forbiddenMark)
		if slices.ContainsFunc(excused, func(span [2]int64) bool { return int64(j) >= span[0] && int64(j) < span[1] }) {
			continue
		}
		start := bytes.LastIndexByte(b[:j], '\n') + 1
		end := len(b)
		if k := bytes.IndexByte(b[j:], '\n'); k >= 0 {
			end = j + k
		}
		t.Errorf("%s was refused by the API server's RBAC (the install's): %s", who, b[start:end])
		return
	}
}
