package webhook_test

import (
	"net/netip"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/reserve"
	"github.com/ipamguard/ipamguard/pkg/webhook"
)

// PodRequestsAddress answers from the claims the pod rules compute: the
// address must be one the pod's annotations ask for, in the subnet they
// resolve to, whoever holds it now.
func TestPodRequestsAddress(t *testing.T) {
	t.Parallel()
	d := mutateDeps(t, true, "")
	d.Store.UpsertSubnet(&kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: "net1"},
		Spec: kubeovnv1.SubnetSpec{CIDRBlock: "10.17.0.0/16", Gateway: "10.17.0.1", Vpc: "ovn-cluster"}})
	// Another pod's IP object holds 10.16.0.7: the holder does not matter,
	// the request does.
	d.Store.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "other.apps"},
		Spec: kubeovnv1.IPSpec{PodName: "other", Namespace: "apps", Subnet: "ovn-default", IPAddress: "10.16.0.7"}})
	pod := func(ann map[string]string) *metav1.ObjectMeta {
		return &metav1.ObjectMeta{Namespace: "apps", Name: "web", Annotations: ann}
	}
	for _, tc := range []struct {
		name   string
		ann    map[string]string
		subnet string
		addr   string
		want   bool
	}{
		{"its address", map[string]string{ipKey: "10.16.0.5"}, "ovn-default", "10.16.0.5", true},
		{"another address", map[string]string{ipKey: "10.16.0.5"}, "ovn-default", "10.16.0.6", false},
		{"its address in another subnet", map[string]string{ipKey: "10.16.0.5"}, "net1", "10.16.0.5", false},
		{"held by another pod", map[string]string{ipKey: "10.16.0.7"}, "ovn-default", "10.16.0.7", true},
		{"named subnet", map[string]string{ipKey: "10.17.0.9", "ovn.kubernetes.io/logical_switch": "net1"}, "net1", "10.17.0.9", true},
		{"no fixed address", map[string]string{"app": "web"}, "ovn-default", "10.16.0.5", false},
		{"unparsable", map[string]string{ipKey: "10.16.0.5/16"}, "ovn-default", "10.16.0.5", false},
	} {
		if got := d.PodRequestsAddress(pod(tc.ann), tc.subnet, netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("%s: PodRequestsAddress(%v, %s, %s) = %v, want %v", tc.name, tc.ann, tc.subnet, tc.addr, got, tc.want)
		}
	}
}

// The longest confirmation window, plus the API calls around it, fits in
// the handler's budget: a request waiting out a forged reservation is
// answered, not timed out.
func TestConfirmWindowFitsTheBudget(t *testing.T) {
	t.Parallel()
	if reserve.MaxConfirmWindow+500*time.Millisecond > webhook.Budget {
		t.Fatalf("MaxConfirmWindow %v leaves less than 500 ms of the handler's budget %v", reserve.MaxConfirmWindow, webhook.Budget)
	}
	for _, w := range []string{"0s", "50ms", "1.5s"} {
		d, _ := time.ParseDuration(w)
		if err := reserve.CheckWindow(d); err == nil {
			t.Errorf("CheckWindow(%s) accepted", w)
		}
	}
	if err := reserve.CheckWindow(reserve.ConfirmWindow); err != nil {
		t.Errorf("the default window: %v", err)
	}
}
