package webhook_test

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// TestPodFlowsOnRealAPIServer runs two Kube-OVN flows through the real API
// server and the webhook (issue 13): per-interface static-IP keys of a
// network attached twice, and a namespace of a custom VPC with two
// candidate subnets, where Kube-OVN tries the static address against each.
func TestPodFlowsOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	c := s.c
	for _, ns := range []string{"nics", "tenant-ns"} {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if ns == "tenant-ns" {
			n.Annotations = map[string]string{"ovn.kubernetes.io/logical_switch": "tenant-default,tenant-extra"}
		}
		if err := c.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	vpc := &kubeovnv1.Vpc{ObjectMeta: metav1.ObjectMeta{Name: "tenant-vpc"},
		Spec: kubeovnv1.VpcSpec{Namespaces: []string{"tenant-ns"}, DefaultSubnet: "tenant-default"}}
	if err := c.Create(ctx, vpc); err != nil {
		t.Fatal(err)
	}
	for _, sn := range []*kubeovnv1.Subnet{
		newSubnet("vm-overlay", "10.241.45.0/24", func(s *kubeovnv1.Subnet) {
			s.Spec.Provider, s.Spec.Gateway = "vm-overlay.nics.ovn", "10.241.45.1"
		}),
		newSubnet("tenant-default", "192.168.10.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "tenant-vpc" }),
		newSubnet("tenant-extra", "192.168.20.0/24", func(s *kubeovnv1.Subnet) {
			s.Spec.Vpc, s.Spec.Namespaces = "tenant-vpc", []string{"tenant-ns"}
		}),
	} {
		if err := c.Create(ctx, sn); err != nil {
			t.Fatal(err)
		}
	}
	const (
		net1 = "vm-overlay.nics.kubernetes.io/ip_address.net1"
		net2 = "vm-overlay.nics.kubernetes.io/ip_address.net2"
		nets = `[{"name":"vm-overlay","namespace":"nics","interface":"net1"},{"name":"vm-overlay","namespace":"nics","interface":"net2"}]`
	)
	twoNICs := func(name, a1, a2 string) *corev1.Pod {
		return newPod("nics", name, map[string]string{"k8s.v1.cni.cncf.io/networks": nets, net1: a1, net2: a2})
	}
	devenvtest.Eventually(t, "the subnets in the inventory", waitTimeout, func() error {
		for _, p := range []*corev1.Pod{
			twoNICs("probe", "10.241.45.300", "10.241.45.12"),
			newPod("tenant-ns", "probe", map[string]string{ipKey: "192.168.30.10"}),
		} {
			if err := c.Create(ctx, p, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "[pod-ip-") {
				return fmt.Errorf("dry-run %s/%s: %v", p.Namespace, p.Name, err)
			}
		}
		return nil
	})

	t.Run("per-interface keys of a network attached twice", func(t *testing.T) {
		if err := c.Create(ctx, twoNICs("two-nics", "10.241.45.11", "10.241.45.12")); err != nil {
			t.Fatalf("two interfaces with their own addresses refused: %v", err)
		}
		// The second pod asks for the first one's net2 address: that pod
		// holds it (admitted moments ago, or pending in the inventory by
		// now: Kube-OVN has not allocated it).
		wantPodDenied(t, c.Create(ctx, twoNICs("late", "10.241.45.21", "10.241.45.12")), net2,
			"10.241.45.12 in subnet vm-overlay is requested by ", "nics/two-nics", "[pod-ip-taken]")
		wantPodDenied(t, c.Create(ctx, twoNICs("outside", "10.241.46.11", "10.241.45.31")), net1,
			"10.241.46.11 is not inside subnet vm-overlay (10.241.45.0/24)", "[pod-ip-out-of-range]")
	})

	t.Run("custom vpc namespace with two candidate subnets", func(t *testing.T) {
		for _, p := range []*corev1.Pod{
			newPod("tenant-ns", "in-extra", map[string]string{ipKey: "192.168.20.10"}),
			newPod("tenant-ns", "in-default", map[string]string{ipKey: "192.168.10.10"}),
		} {
			if err := c.Create(ctx, p); err != nil {
				t.Errorf("%s refused: %v", p.Name, err)
			}
		}
		wantPodDenied(t, c.Create(ctx, newPod("tenant-ns", "nowhere", map[string]string{ipKey: "192.168.30.10"})), ipKey,
			"192.168.30.10", "[pod-ip-out-of-range]")
		wantPodDenied(t, c.Create(ctx, newPod("tenant-ns", "second", map[string]string{ipKey: "192.168.20.10"})), ipKey,
			"192.168.20.10 in subnet tenant-extra is requested by ", "tenant-ns/in-extra", "[pod-ip-taken]")
	})
}
