package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
)

func newValidator(t *testing.T, synced bool) *Handler {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := kubeovnv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	store := inventory.New("ovn-cluster")
	store.UpsertSubnet(&kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: "ovn-default"},
		Spec: kubeovnv1.SubnetSpec{CIDRBlock: "10.16.0.0/16", Vpc: "ovn-cluster"}})
	store.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "web-0.default"},
		Spec: kubeovnv1.IPSpec{PodName: "web-0", Namespace: "default", Subnet: "ovn-default", IPAddress: "10.16.0.9"}})
	return NewSubnetValidator(Deps{
		Store:  store,
		Synced: func() bool { return synced },
		Config: config.NewLive(config.Default()),
	})
}

func request(op admissionv1.Operation, name, obj, old string) admission.Request {
	r := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "uid-1",
		Kind:      metav1.GroupVersionKind{Group: "kubeovn.io", Version: "v1", Kind: "Subnet"},
		Resource:  metav1.GroupVersionResource{Group: "kubeovn.io", Version: "v1", Resource: "subnets"},
		Name:      name,
		Operation: op,
	}}
	if obj != "" {
		r.Object.Raw = []byte(obj)
	}
	if old != "" {
		r.OldObject.Raw = []byte(old)
	}
	return r
}

func subnetJSON(name, cidr string) string {
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "kubeovn.io/v1", "kind": "Subnet",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"cidrBlock": cidr, "someFutureField": map[string]any{"x": 1}},
		"status":   map[string]any{"v4availableIPs": 6.5533e+04, "v6availableIPs": "1.8446744073709552e+19"},
	})
	return string(b)
}

func TestSubnetHandler(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		req        admission.Request
		synced     bool
		allowed    bool
		code       int32
		reason     metav1.StatusReason
		causeField string
		contains   []string
	}{
		{name: "valid create", synced: true, allowed: true,
			req: request(admissionv1.Create, "a", subnetJSON("a", "10.17.0.0/16"), "")},
		{name: "overlap is 422 with a field cause", synced: true, code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
			causeField: "spec.cidrBlock",
			req:        request(admissionv1.Create, "dup", subnetJSON("dup", "10.16.5.0/24"), ""),
			contains:   []string{`Subnet.kubeovn.io "dup" is invalid`, "overlaps subnet ovn-default 10.16.0.0/16 in vpc ovn-cluster [subnet-overlap]"}},
		{name: "shrink names the pod", synced: true, code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid,
			causeField: "spec.cidrBlock",
			req:        request(admissionv1.Update, "ovn-default", subnetJSON("ovn-default", "10.16.1.0/24"), subnetJSON("ovn-default", "10.16.0.0/16")),
			contains:   []string{"10.16.0.9 (pod default/web-0, outside 10.16.1.0/24)", "[subnet-shrink]"}},
		{name: "delete in use is 403", synced: true, code: http.StatusForbidden, reason: metav1.StatusReasonForbidden,
			req:      request(admissionv1.Delete, "ovn-default", "", subnetJSON("ovn-default", "10.16.0.0/16")),
			contains: []string{"subnet ovn-default still has 1 address in use: 10.16.0.9 (pod default/web-0)"}},
		{name: "not synced is 503, never a judgement", synced: false, code: http.StatusServiceUnavailable,
			req:      request(admissionv1.Create, "a", subnetJSON("a", "10.17.0.0/16"), ""),
			contains: []string{"has not synced"}},
		{name: "garbage object is 400 naming the problem", synced: true, code: http.StatusBadRequest,
			req:      request(admissionv1.Create, "bad", `{"apiVersion":"kubeovn.io/v1","kind":"Subnet","metadata":{"name":"bad"},"status":{"v4availableIPs":"lots"}}`, ""),
			contains: []string{"decode Subnet bad", `"lots"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := newValidator(t, tc.synced)
			resp := v.Handle(context.Background(), tc.req)
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (result %+v)", resp.Allowed, tc.allowed, resp.Result)
			}
			if tc.allowed {
				return
			}
			if resp.Result == nil || resp.Result.Code != tc.code {
				t.Fatalf("result = %+v, want code %d", resp.Result, tc.code)
			}
			if tc.reason != "" && resp.Result.Reason != tc.reason {
				t.Errorf("reason = %s, want %s", resp.Result.Reason, tc.reason)
			}
			if tc.causeField != "" {
				if resp.Result.Details == nil || len(resp.Result.Details.Causes) == 0 || resp.Result.Details.Causes[0].Field != tc.causeField {
					t.Errorf("causes = %+v, want field %s", resp.Result.Details, tc.causeField)
				}
			}
			for _, c := range tc.contains {
				if !strings.Contains(resp.Result.Message, c) {
					t.Errorf("message %q does not contain %q", resp.Result.Message, c)
				}
			}
			if tc.code == http.StatusUnprocessableEntity || tc.code == http.StatusForbidden {
				if len(resp.AuditAnnotations) == 0 {
					t.Errorf("no audit annotations on a denial")
				}
				for k := range resp.AuditAnnotations {
					if strings.Contains(k, "/") {
						t.Errorf("audit annotation key %q must not carry a prefix", k)
					}
				}
			}
		})
	}
}

func TestSubnetHandlerWarnAction(t *testing.T) {
	t.Parallel()
	v := newValidator(t, true)
	cfg := config.Default()
	cfg.Policy = &policy.Policy{Actions: map[policy.RuleID]policy.Action{policy.SubnetOverlap: policy.Warn}}
	v.engine.Config = config.NewLive(cfg).Get
	resp := v.Handle(context.Background(), request(admissionv1.Create, "dup", subnetJSON("dup", "10.16.5.0/24"), ""))
	if !resp.Allowed {
		t.Fatalf("denied although subnet-overlap is warn: %+v", resp.Result)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "[subnet-overlap]") || !strings.Contains(resp.Warnings[0], "ovn-default") {
		t.Errorf("warnings = %q", resp.Warnings)
	}
	if resp.AuditAnnotations["subnet-overlap"] == "" {
		t.Errorf("audit annotations = %v", resp.AuditAnnotations)
	}
}
