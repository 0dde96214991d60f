package webhook_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
)

func newPod(ns, name string, ann map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
	}
}

// ipKey is the annotation of a pod's fixed address.
const ipKey = "ovn.kubernetes.io/ip_address"

// wantPodDenied asserts a 422 from vpod.ipamguard.io with a cause on the
// annotation key.
func wantPodDenied(t *testing.T, err error, key string, contains ...string) {
	t.Helper()
	wantDeniedBy(t, "vpod.ipamguard.io", err, http.StatusUnprocessableEntity, "metadata.annotations["+key+"]", contains...)
}

// TestPodAdmissionOnRealAPIServer: static addresses are judged against
// their subnet, its tenancy, the IP objects and the pods admitted moments
// ago; StatefulSet and KubeVirt pods may take their own addresses back.
func TestPodAdmissionOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	c := s.c
	for _, ns := range []string{"apps", "team-a", "other", "vms"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, sn := range []*kubeovnv1.Subnet{
		newSubnet("team-a", "10.60.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Namespaces = []string{"team-a"} }),
		newSubnet("dual", "10.80.0.0/24,fd00:80::/64"),
	} {
		if err := c.Create(ctx, sn); err != nil {
			t.Fatal(err)
		}
	}
	keep := &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "db-1.apps"}, Spec: kubeovnv1.IPSpec{
		PodName: "db-1", Namespace: "apps", Subnet: "ovn-default", IPAddress: "10.16.0.21", PodType: kubeovnv1.PodTypeStatefulSet}}
	if err := c.Create(ctx, keep); err != nil {
		t.Fatal(err)
	}
	devenvtest.Eventually(t, "inventory", waitTimeout, func() error {
		err := c.Create(ctx, newPod("other", "probe", map[string]string{ipKey: "10.16.0.21"}), client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "10.16.0.21 in subnet ovn-default is held by") {
			return fmt.Errorf("dry-run pod on db-1's address: %v", err)
		}
		return nil
	})

	t.Run("valid static IPs pass", func(t *testing.T) {
		for _, p := range []*corev1.Pod{
			newPod("apps", "web", map[string]string{ipKey: "10.16.0.5"}),
			newPod("apps", "dualpod", map[string]string{"ovn.kubernetes.io/logical_switch": "dual", ipKey: "10.80.0.9,fd00:80::9"}),
			newPod("team-a", "t1", map[string]string{ipKey: "10.60.0.9"}),
			newPod("apps", "plain", nil), // not even sent to the webhook
		} {
			if err := c.Create(ctx, p); err != nil {
				t.Errorf("create %s: %v", p.Name, err)
			}
		}
	})

	t.Run("out of range names the subnet and its CIDR", func(t *testing.T) {
		wantPodDenied(t, c.Create(ctx, newPod("apps", "oor", map[string]string{ipKey: "10.17.0.5"})), ipKey,
			"10.17.0.5 is not inside subnet ovn-default (10.16.0.0/16) [pod-ip-out-of-range]")
	})

	t.Run("gateway is refused", func(t *testing.T) {
		wantPodDenied(t, c.Create(ctx, newPod("apps", "gw", map[string]string{ipKey: "10.16.0.1"})), ipKey,
			"the gateway of subnet ovn-default", "[pod-ip-reserved]")
	})

	t.Run("held by another pod's IP object", func(t *testing.T) {
		wantPodDenied(t, c.Create(ctx, newPod("other", "db-1", map[string]string{ipKey: "10.16.0.21"})), ipKey,
			"10.16.0.21 in subnet ovn-default is held by a pod in another namespace [pod-ip-taken]")
	})

	t.Run("statefulset pod recreated keeps its IP", func(t *testing.T) {
		p := newPod("apps", "db-1", map[string]string{ipKey: "10.16.0.21"})
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "u1", Controller: ptr.To(true)}}
		if err := c.Create(ctx, p); err != nil {
			t.Fatalf("keep-IP recreation refused: %v", err)
		}
	})

	t.Run("statefulset ';' pool: each ordinal takes its group", func(t *testing.T) {
		pool := "10.80.0.20,fd00:80::20;10.80.0.21,fd00:80::21;10.80.0.22,fd00:80::22"
		for i := range 3 {
			p := newPod("apps", fmt.Sprintf("ss-%d", i), map[string]string{"ovn.kubernetes.io/logical_switch": "dual", "ovn.kubernetes.io/ip_pool": pool})
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "ss", UID: "u2", Controller: ptr.To(true)}}
			if err := c.Create(ctx, p); err != nil {
				t.Fatalf("ordinal %d refused: %v", i, err)
			}
		}
	})

	t.Run("kubevirt migration target shares its vm's address", func(t *testing.T) {
		vmIP := &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "vm1.vms"}, Spec: kubeovnv1.IPSpec{
			PodName: "vm1", Namespace: "vms", Subnet: "ovn-default", IPAddress: "10.16.0.31", PodType: kubeovnv1.PodTypeVirtualMachine}}
		if err := c.Create(ctx, vmIP); err != nil {
			t.Fatal(err)
		}
		target := func(name, addr string) *corev1.Pod {
			p := newPod("vms", name, map[string]string{ipKey: addr, "kubevirt.io/migrationJobName": "mig-1"})
			p.Labels = map[string]string{"vm.kubevirt.io/name": "vm1"}
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachineInstance", Name: "vm1", UID: "vmi-uid-1", Controller: ptr.To(true)}}
			return p
		}
		devenvtest.Eventually(t, "vm1's IP object in the inventory", waitTimeout, func() error {
			err := c.Create(ctx, newPod("vms", "probe", map[string]string{ipKey: "10.16.0.31"}), client.DryRunAll)
			if err == nil || !strings.Contains(err.Error(), "vm vms/vm1") {
				return fmt.Errorf("dry-run pod on vm1's address: %v", err)
			}
			return nil
		})
		if err := c.Create(ctx, target("virt-launcher-vm1-b8z2q", "10.16.0.31")); err != nil {
			t.Fatalf("migration target refused: %v", err)
		}
		// The label alone (any pod may carry it) ties no pod to the VM.
		fake := newPod("vms", "virt-launcher-vm1-z9x8c", map[string]string{ipKey: "10.16.0.31", "kubevirt.io/migrationJobName": "mig-1"})
		fake.Labels = map[string]string{"vm.kubevirt.io/name": "vm1"}
		wantPodDenied(t, c.Create(ctx, fake), ipKey, "held by vm vms/vm1")
		// The annotation shares nothing but its own VM's address.
		wantPodDenied(t, c.Create(ctx, target("virt-launcher-vm1-q9r4t", "10.16.0.21")), ipKey,
			"10.16.0.21 in subnet ovn-default is held by a pod in another namespace [pod-ip-taken]")
	})

	t.Run("a pod admitted moments ago holds its address", func(t *testing.T) {
		wantPodDenied(t, c.Create(ctx, newPod("other", "late", map[string]string{ipKey: "10.16.0.5"})), ipKey, "in another namespace")
	})

	t.Run("dry-run reserves nothing", func(t *testing.T) {
		if err := c.Create(ctx, newPod("apps", "dry", map[string]string{ipKey: "10.16.0.77"}), client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, newPod("other", "real", map[string]string{ipKey: "10.16.0.77"})); err != nil {
			t.Fatalf("a dry-run left a reservation behind: %v", err)
		}
	})

	t.Run("tenancy warns by default, the multi-tenant profile denies", func(t *testing.T) {
		// Kube-OVN places a pod in any subnet its logical_switch names
		// (issue 13 false alarm 5): a warning by default.
		wc, rec := s.warningClient(t, "")
		rec.take()
		if err := wc.Create(ctx, newPod("apps", "visitor", map[string]string{"ovn.kubernetes.io/logical_switch": "team-a"}), client.DryRunAll); err != nil {
			t.Fatalf("default profile denied: %v", err)
		}
		if got := strings.Join(rec.take(), "\n"); !strings.Contains(got, "[tenant-subnet]") || !strings.Contains(got, "subnet team-a is bound to team-a, not to namespace apps") {
			t.Errorf("warnings = %q", got)
		}
		s.setConfig(t, "profile: multi-tenant\n")
		wantPodDenied(t, c.Create(ctx, newPod("apps", "sneaky", map[string]string{"ovn.kubernetes.io/logical_switch": "team-a"})),
			"ovn.kubernetes.io/logical_switch", "subnet team-a is bound to team-a, not to namespace apps", "[tenant-subnet]")
	})

	t.Run("invalid annotation", func(t *testing.T) {
		wantPodDenied(t, c.Create(ctx, newPod("apps", "bad", map[string]string{ipKey: "10.16.0.5,10.16.0.6"})), ipKey, "more than one IPv4", "[pod-ip-invalid]")
	})
}

// TestPodAdmissionRaceOnRealAPIServer: of pods created at once with the
// same address, exactly one is admitted.
func TestPodAdmissionRaceOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	c := s.c
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "race"}}); err != nil {
		t.Fatal(err)
	}
	devenvtest.Eventually(t, "namespace race in the inventory", waitTimeout, func() error {
		var known bool
		s.h.Store.Read(func(r inventory.Reader) { _, known = r.Namespace("race") })
		if !known {
			return errors.New("not seen yet")
		}
		return nil
	})

	t.Run("50 pods racing for one address: exactly one admitted", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		admitted, denied := 0, 0
		var other []error
		for i := range 50 {
			wg.Go(func() {
				err := c.Create(ctx, newPod("race", fmt.Sprintf("p%d", i), map[string]string{ipKey: "10.16.0.99"}))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					admitted++
				case strings.Contains(err.Error(), "[pod-ip-taken]"):
					denied++
				default:
					other = append(other, err)
				}
			})
		}
		wg.Wait()
		if admitted != 1 || denied != 49 || len(other) > 0 {
			t.Errorf("admitted %d, denied %d, other errors %v", admitted, denied, other)
		}
	})
}
