package webhook_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/pkg/admit"
	"github.com/ipamguard/ipamguard/pkg/validate"
	"github.com/ipamguard/ipamguard/pkg/webhook"
)

// fakeWorkloads answers WorkloadTemplate from a fixed template and counts
// the calls.
type fakeWorkloads struct {
	t     admit.WorkloadTemplate
	err   error
	calls int
}

func (f *fakeWorkloads) WorkloadTemplate(_ context.Context, _, _, _ string) (admit.WorkloadTemplate, error) {
	f.calls++
	return f.t, f.err
}

func scaleRequest(resource string, from, to int) admission.Request {
	r := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:         "s1",
		Kind:        metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"},
		Resource:    metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: resource},
		SubResource: "scale",
		Namespace:   "apps", Name: "db",
		Operation: admissionv1.Update,
	}}
	r.Object.Raw = []byte(`{"apiVersion":"autoscaling/v1","kind":"Scale","spec":{"replicas":` + strconv.Itoa(to) + `}}`)
	r.OldObject.Raw = []byte(`{"apiVersion":"autoscaling/v1","kind":"Scale","spec":{"replicas":` + strconv.Itoa(from) + `}}`)
	return r
}

func TestScaleSubresource(t *testing.T) {
	t.Parallel()
	fixed := map[string]string{"ovn.kubernetes.io/ip_address": "10.16.0.7"}
	cases := []struct {
		name      string
		resource  string
		from, to  int
		getter    *fakeWorkloads
		denied    bool
		wantCalls int
	}{
		{"fixed address scaled up is refused", "statefulsets", 1, 3,
			&fakeWorkloads{t: admit.WorkloadTemplate{Kind: validate.KindStatefulSet, Annotations: fixed}}, true, 1},
		{"an operator-owned StatefulSet is judged like any other", "statefulsets", 1, 3,
			&fakeWorkloads{t: admit.WorkloadTemplate{Kind: validate.KindStatefulSet, Annotations: fixed, Controller: "PerconaXtraDBCluster"}}, true, 1},
		{"a Deployment's ReplicaSet is judged through the Deployment", "replicasets", 1, 3,
			&fakeWorkloads{t: admit.WorkloadTemplate{Kind: validate.KindReplicaSet, Annotations: fixed, Controller: validate.KindDeployment}}, false, 1},
		{"a ReplicaSet owned by something else is judged", "replicasets", 1, 3,
			&fakeWorkloads{t: admit.WorkloadTemplate{Kind: validate.KindReplicaSet, Annotations: fixed, Controller: "Rollout"}}, true, 1},
		{"scaling down needs no lookup", "statefulsets", 3, 1,
			&fakeWorkloads{t: admit.WorkloadTemplate{Kind: validate.KindStatefulSet, Annotations: fixed}}, false, 0},
		{"an unreadable template never refuses", "statefulsets", 1, 3,
			&fakeWorkloads{err: errors.New("forbidden")}, false, 1},
		{"one replica may hold the fixed address", "deployments", 0, 1,
			&fakeWorkloads{t: admit.WorkloadTemplate{Kind: validate.KindDeployment, Annotations: fixed}}, false, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := mutateDeps(t, true, "")
			d.Workloads = c.getter
			resp := webhook.NewCapacityValidator(d).Handle(t.Context(), scaleRequest(c.resource, c.from, c.to))
			if denied := !resp.Allowed; denied != c.denied {
				t.Errorf("denied = %v, want %v (%+v)", denied, c.denied, resp.Result)
			}
			if c.denied && (resp.Result == nil || !strings.Contains(resp.Result.Message, "[workload-static-ip]")) {
				t.Errorf("denial %+v does not name workload-static-ip", resp.Result)
			}
			if c.getter.calls != c.wantCalls {
				t.Errorf("%d template lookups, want %d", c.getter.calls, c.wantCalls)
			}
		})
	}
}
