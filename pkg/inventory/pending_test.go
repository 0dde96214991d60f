package inventory

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamguard/ipamguard/pkg/annotations"
)

// TestPendingPodsKeepTheirCreation: the pod cache transform keeps the
// creationTimestamp of pending pods, and their requests carry it, so the
// rules can stop counting a pod Kube-OVN never allocated.
func TestPendingPodsKeepTheirCreation(t *testing.T) {
	t.Parallel()
	created := metav1.NewTime(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	in := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: "a", Name: "p", CreationTimestamp: created, Labels: map[string]string{"app": "x"},
		Annotations: map[string]string{"ovn.kubernetes.io/ip_address": "10.16.0.9", "unrelated": "x"},
	}}
	out, _ := StripPod(in)
	stripped := out.(*metav1.PartialObjectMetadata)
	if !stripped.CreationTimestamp.Equal(&created) {
		t.Errorf("StripPod dropped the creationTimestamp of a pending pod: %v", stripped.CreationTimestamp)
	}
	reqs := PodRequestsOf(stripped)
	if len(reqs) != 1 || !reqs[0].Created.Equal(created.Time) || reqs[0].Addr != netip.MustParseAddr("10.16.0.9") {
		t.Errorf("requests = %+v", reqs)
	}
	plain, _ := StripPod(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "q", CreationTimestamp: created}})
	if !plain.(*metav1.PartialObjectMetadata).CreationTimestamp.IsZero() {
		t.Errorf("StripPod kept the creationTimestamp of a pod that asks for nothing")
	}
}

// TestPendingRequestForms: only keys Kube-OVN reads make a pod pending;
// per-interface requests carry their interface and stop being pending once
// the controller marks the network's provider allocated.
func TestPendingRequestForms(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ann  map[string]string
		want []string // provider/interface of each request
	}{
		{name: "not read by Kube-OVN", ann: map[string]string{"ovn.kubernetes.io/ip_address.eth9": "10.16.0.9"}},
		{name: "ip_pool has no per-interface form", ann: map[string]string{"net1.default.kubernetes.io/ip_pool.eth1": "10.16.0.9"}},
		{name: "per-interface", ann: map[string]string{"net1.default.kubernetes.io/ip_address.eth1": "192.168.50.9"}, want: []string{"net1.default/eth1"}},
		{name: "per-interface, allocated on the NAD's provider", ann: map[string]string{
			"net1.default.kubernetes.io/ip_address.eth1": "192.168.50.9", "net1.default.ovn.kubernetes.io/allocated": "true"}},
	}
	for _, tc := range cases {
		var got []string
		for _, r := range PodRequestsOf(&metav1.ObjectMeta{Namespace: "a", Name: "p", Annotations: tc.ann}) {
			got = append(got, r.Provider+"/"+r.Interface)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: requests %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestPodOverTheInterfaceLimitHoldsNothing: a pod with more interfaces than
// the webhook admits claims no address in the inventory, however it came
// to exist.
func TestPodOverTheInterfaceLimitHoldsNothing(t *testing.T) {
	t.Parallel()
	ann := map[string]string{}
	for i := range annotations.MaxInterfaces + 1 {
		ann[fmt.Sprintf("n%d.default.kubernetes.io/ip_address.eth1", i)] = fmt.Sprintf("10.16.0.%d", i+2)
	}
	s := New("ovn-cluster")
	s.UpsertPod(&metav1.ObjectMeta{Namespace: "a", Name: "squat", Annotations: ann})
	if len(s.podRequests) != 0 || len(s.podsByAddr) != 0 {
		t.Errorf("a pod over the limit holds %d addresses", len(s.podsByAddr))
	}
}
