package devenvtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckGranted(t *testing.T) {
	t.Parallel()
	refusal := `leases.coordination.k8s.io "x" is forbidden: User "system:serviceaccount:ns:sa" cannot get resource "leases"`
	quoted := strings.ReplaceAll(refusal, `"`, `\"`)
	for _, c := range []struct {
		name, log string
		excused   []Span
		fails     bool
	}{
		{"clean", "I1207 started\nI1207 ready\n", nil, false},
		{"plain message", "ipamguard-webhook: " + refusal + "\n", nil, true},
		{"klog value", `E1207 10:47:08 event.go:365] "Server rejected event" err="` + quoted + "\"\n", nil, true},
		{"JSON twice quoted", `{"msg":"x","error":"` + strings.ReplaceAll(quoted, `\"`, `\\\"`) + "\"}\n", nil, true},
		{"another user", strings.ReplaceAll(refusal, "system:serviceaccount:ns:sa", "alice") + "\n", nil, false},
		{"excused", "ok\n" + refusal + "\n", []Span{{From: 3, To: -1}}, false},
		{"after the excuse", "ok\n" + refusal + "\n", []Span{{From: 0, To: 3}}, true},
	} {
		path := filepath.Join(t.TempDir(), "log")
		if err := os.WriteFile(path, []byte(c.log), 0o600); err != nil {
			t.Fatal(err)
		}
		ft := run(t, func(ft *fakeT) { CheckGranted(ft, "p", path, c.excused...) })
		if failed := len(ft.errors) > 0; failed != c.fails {
			t.Errorf("%s: failed %v, want %v %q", c.name, failed, c.fails, ft.errors)
		}
	}
}
