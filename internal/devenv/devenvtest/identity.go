package devenvtest

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/ipamguard/ipamguard/internal/devenv"
)

// identityTTL is how long the token of InstallIdentity's kubeconfig is
// valid: a day, beyond any test run (CI stops at 90 minutes) and most
// kept API servers (test/soak's IPAMGUARD_SOAK_HOLD); envtest's API server
// sets no maximum.
const identityTTL = 24 * time.Hour

// InstallIdentity creates the shipped install's ServiceAccount and RBAC in
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
	id, err := env.InstallIdentity(t.Context(), filepath.Join(root, devenv.DeployTree), identityTTL)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, id.Kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return id
}

// forbidden matches the error of a request the API server's authorizer
// refused to a ServiceAccount, in a process's log: as is (a message, a
// multi-line value) or quoted once or more (klog's and logr's key/value
// pairs, JSON).
var forbidden = regexp.MustCompile(`is forbidden: User \\*"system:serviceaccount:`)

// Span is a part of a log, byte offsets [From, To); a To below zero is the
// end of the log.
type Span struct{ From, To int64 }

// CheckGranted fails t with the first line of the log at path in which the
// API server refused a request of a process running as a ServiceAccount
// (InstallIdentity): the install's RBAC must grant all it asks for. who
// names the process. Refusals within excused are not counted: while the
// API server restarts, it answers before its RBAC has caught up.
func CheckGranted(t testing.TB, who, path string, excused ...Span) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v", who, err)
		return
	}
	for _, m := range forbidden.FindAllIndex(b, -1) {
		j := int64(m[0])
		if slices.ContainsFunc(excused, func(s Span) bool { return j >= s.From && (s.To < 0 || j < s.To) }) {
			continue
		}
		start := bytes.LastIndexByte(b[:j], '\n') + 1
		end := len(b)
		if k := bytes.IndexByte(b[j:], '\n'); k >= 0 {
			end = int(j) + k
		}
		t.Errorf("%s was refused by the API server's RBAC (the install's): %s", who, b[start:end])
		return
	}
}
