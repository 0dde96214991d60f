package admit_test

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/ipamguard/ipamguard/pkg/admit"
)

// maxBytesPerInputByte bounds what one admission allocates per byte of
// the pod it judges, beyond a constant: the decode, the defaulter's
// rewrite and the rules together are linear, with room to spare (the
// hostile shapes measure 15 to 30). A quadratic path (a message repeating
// the whole value per element) costs thousands per byte.
const (
	maxBytesPerInputByte = 128
	maxBytesConstant     = 1 << 20
)

// FuzzPodAnnotationCost feeds arbitrary ip_address and ip_pool values
// (with an interface suffix, ';' groups, a StatefulSet ordinal) through
// the whole pipeline, defaulting then validation as the webhooks run
// them: it never panics, never fails to judge a well-formed pod, answers
// with a bounded decision, and allocates at most a constant plus
// maxBytesPerInputByte per byte of the pod.
func FuzzPodAnnotationCost(f *testing.F) {
	for _, s := range []struct {
		suffix, value string
		pool          bool
	}{
		{"", "10.16.0.20", false},
		{"", "10.16.0.20,fd00::20", false},
		{"", "10.16.0.5/16", false},
		{".eth1", "10.16.0.21", false},
		{"", "10.16.0.30,10.16.0.31,10.16.0.32", true},
		{"", "10.16.0.30;10.16.0.31;10.16.0.32", true},
		{"", strings.Repeat("z,", 500) + "z", true},
		{"", strings.Repeat("10.99.0.1,", 300) + "10.99.0.2", true},
		{"", strings.Repeat(";", 300), true},
		{"", strings.Repeat(" 10.16.0.9 ,", 200), true},
		{"", "my-pool", true},
		{"", strings.Repeat("10.16.0.9,", 5000), false},
	} {
		f.Add(s.suffix, s.value, s.pool)
	}
	e := engine(f, "")
	f.Fuzz(func(t *testing.T, suffix, value string, pool bool) {
		key := "ovn.kubernetes.io/ip_address" + suffix
		if pool {
			key = "ovn.kubernetes.io/ip_pool" + suffix
		}
		obj, err := json.Marshal(map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": "db-1", "namespace": "apps", "annotations": map[string]string{key: value},
				"ownerReferences": []map[string]any{{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "u", "controller": true}}},
		})
		if err != nil {
			t.Skip()
		}
		req := admit.Request{Kind: "Pod", Operation: admit.Create, Namespace: "apps", Name: "db-1", Object: obj, Stages: admit.AllStages, DryRun: true}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out, err := e.Review(context.Background(), &req)
		runtime.ReadMemStats(&after)
		if err != nil {
			var ae *admit.Error
			if !errors.As(err, &ae) || ae.Reason != admit.BadObject {
				t.Fatalf("Review: %v", err)
			}
			return
		}
		if n := len(out.Decision.Deny) + len(out.Decision.Warnings); n > 2*21 {
			t.Fatalf("%d causes and warnings", n)
		}
		if used, limit := after.TotalAlloc-before.TotalAlloc, uint64(maxBytesConstant+maxBytesPerInputByte*len(obj)); used > limit {
			t.Fatalf("%d bytes allocated for a %d-byte pod (limit %d)", used, len(obj), limit)
		}
	})
}
