package validate

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

// t0 is when the pending pods of holderFixture were created.
var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

// holderFixture extends podFixture with holders in other namespaces, VMs
// with and without Kube-OVN's keep-vm-ip, timed pending pods and the
// subnets of attachment forms.
func holderFixture() *inventory.Store {
	s := podFixture()
	ip := func(name, ns, pod, podType, addr string) {
		s.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kubeovnv1.IPSpec{
			PodName: pod, Namespace: ns, Subnet: "ovn-default", IPAddress: addr, PodType: podType}})
	}
	ip("db-9.tenant-b", "tenant-b", "db-9", "", "10.16.0.22")
	ip("vm1.other-vms", "other-vms", "vm1", kubeovnv1.PodTypeVirtualMachine, "10.16.0.33")
	// Without keep-vm-ip the IP object is named after the launcher pod.
	ip("virt-launcher-vm3-x7k2p.vms", "vms", "virt-launcher-vm3-x7k2p", kubeovnv1.PodTypeVirtualMachine, "10.16.0.32")
	ip("reserved.tenant-b", "tenant-b", "", "", "10.16.0.23")
	s.UpsertVip(&kubeovnv1.Vip{ObjectMeta: metav1.ObjectMeta{Name: "vip-b"},
		Spec: kubeovnv1.VipSpec{Subnet: "tenant-a", Namespace: "tenant-b"}, Status: kubeovnv1.VipStatus{V4ip: "10.70.0.101"}})
	pending := func(ns, name, addr string, created time.Time) {
		s.UpsertPod(&metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(created),
			Annotations: map[string]string{ipKey: addr}})
	}
	pending("tenant-b", "stuck", "10.16.0.42", t0)
	pending("apps", "fresh", "10.16.0.44", t0)
	s.UpsertSubnet(subnet("macnet", "192.168.60.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Provider = "mac1.default" }))
	s.UpsertSubnet(subnet("vmo", "192.168.70.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Provider = "vmo.default.ovn" }))
	s.UpsertSubnet(subnet("att-a", "192.168.80.0/24", func(s *kubeovnv1.Subnet) {
		s.Spec.Provider = "net2.default.ovn"
		s.Spec.Namespaces = []string{"team-a"}
	}))
	return s
}

type podCase struct {
	name   string
	in     PodInput
	want   []want
	claims int
}

func runPodCases(t *testing.T, store *inventory.Store, c Context, cases []podCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out Result
			store.Read(func(r inventory.Reader) {
				c := c
				c.Inventory = r
				out = PodCreate(c, nil, valPtr(tc.in))
			})
			check(t, out.Findings, tc.want)
			if len(out.Claims) != tc.claims {
				t.Errorf("claims = %v, want %d", out.Claims, tc.claims)
			}
		})
	}
}

// TestAnnotationForms: only the keys Kube-OVN reads claim addresses, and
// the attachment forms resolve to the subnets the controller would use.
func TestAnnotationForms(t *testing.T) {
	t.Parallel()
	c := Context{Defaults: settings.FreshInstall(), Now: t0}
	runPodCases(t, holderFixture(), c, []podCase{
		{name: "ovn ip_address with an interface suffix is not read: no claim, no conflict",
			in: pod("apps2", "x", map[string]string{ipKey + ".eth1": "10.16.0.21", lsKey: "ovn-default"})},
		{name: "ip_pool with an interface suffix is not read",
			in: pod("apps2", "x", map[string]string{poolKey + ".eth9": strings.Repeat("garbage,", 500)})},
		{name: "the per-interface form with a .ovn segment is not read",
			in: pod("default", "x", map[string]string{"net1.default.ovn.kubernetes.io/ip_address.eth1": "10.16.0.21"})},
		{name: "per-interface form lands in the OVN NAD's subnet", in: pod("default", "x", map[string]string{ifKey: "192.168.50.9"}), claims: 1},
		{name: "per-interface form out of the OVN NAD's subnet", in: pod("default", "x", map[string]string{ifKey: "192.168.51.9"}),
			want: []want{{policy.PodIPOutOfRange, annPath(ifKey), []string{"subnet att"}}}},
		{name: "per-interface form of an IPAM-only NAD", in: pod("default", "x", map[string]string{"mac1.default.kubernetes.io/ip_address.net1": "192.168.60.9"}), claims: 1},
		{name: "a NAD attached twice: the provider carries the interface", in: pod("default", "x", map[string]string{"vmo.default.ovn.net1.kubernetes.io/ip_address": "192.168.70.9"}), claims: 1},
	})
}

// TestInterfaceLimitFinding: a pod or template naming more interfaces than
// annotations.MaxInterfaces is refused with one finding, whatever its
// values.
func TestInterfaceLimitFinding(t *testing.T) {
	t.Parallel()
	ann := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("n%d.default.kubernetes.io/ip_address.eth1", i)] = "not an address"
		}
		return m
	}
	store := holderFixture()
	for _, tc := range []struct {
		n    int
		want int // findings
	}{{annotations.MaxInterfaces, annotations.MaxInterfaces}, {annotations.MaxInterfaces + 1, 1}, {5000, 1}} {
		var created, tmpl []policy.Finding
		store.Read(func(r inventory.Reader) {
			created = PodCreate(cx(r, settings.FreshInstall()), nil, valPtr(pod("apps", "x", ann(tc.n)))).Findings
			in := pod("apps", "", ann(tc.n))
			in.Meta = field.NewPath("spec", "template", "metadata")
			tmpl = PodTemplate(cx(r, settings.FreshInstall()), nil, &in).Findings
		})
		if tc.want == 1 {
			check(t, created, []want{{policy.PodIPInvalid, "metadata.annotations", []string{fmt.Sprintf("more than %d interfaces", annotations.MaxInterfaces)}}})
			check(t, tmpl, []want{{policy.PodIPInvalid, "spec.template.metadata.annotations", nil}})
			continue
		}
		// Within the limit every interface is judged (here: each value is
		// unparseable, and each interface's provider has no subnet).
		if len(created) == 0 || len(created) > tc.want*2 {
			t.Errorf("%d interfaces: %d findings", tc.n, len(created))
		}
	}
}

// TestPendingHolderTimeout: a pending pod holds its address for the
// timeout after its creation, then no longer; pods of unknown creation
// (manifests) hold theirs.
func TestPendingHolderTimeout(t *testing.T) {
	t.Parallel()
	store := holderFixture()
	const taken = "requested by pending pod apps/fresh"
	for _, tc := range []struct {
		name    string
		at      time.Duration // after t0
		timeout time.Duration
		addr    string
		want    []string // "" means free
	}{
		{name: "just created", at: time.Second, addr: "10.16.0.44", want: []string{taken}},
		{name: "before the default timeout", at: 4*time.Minute + 59*time.Second, addr: "10.16.0.44", want: []string{taken}},
		{name: "at the default timeout", at: 5 * time.Minute, addr: "10.16.0.44"},
		{name: "an hour later", at: time.Hour, addr: "10.16.0.44"},
		{name: "a configured longer timeout", at: 6 * time.Minute, timeout: 10 * time.Minute, addr: "10.16.0.44", want: []string{taken}},
		{name: "a configured shorter timeout", at: 2 * time.Minute, timeout: time.Minute, addr: "10.16.0.44"},
		{name: "unknown creation holds", at: 24 * time.Hour, addr: "10.16.0.41", want: []string{"requested by pending pod apps/early"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Context{Defaults: settings.FreshInstall(), Now: t0.Add(tc.at), PendingHolderTimeout: tc.timeout}
			var got Result
			store.Read(func(r inventory.Reader) {
				c.Inventory = r
				got = PodCreate(c, nil, valPtr(pod("apps", "x", map[string]string{ipKey: tc.addr})))
			})
			var wants []want
			if tc.want != nil {
				wants = []want{{policy.PodIPTaken, annPath(ipKey), tc.want}}
			}
			check(t, got.Findings, wants)
			if tc.want == nil && len(got.Claims) != 1 {
				t.Errorf("claims = %v", got.Claims)
			}
		})
	}
	// Allocated pods never hold: their IP object does.
	s := inventory.New("ovn-cluster")
	s.UpsertSubnet(subnet("ovn-default", "10.16.0.0/16"))
	s.UpsertPod(&metav1.ObjectMeta{Namespace: "apps", Name: "done", CreationTimestamp: metav1.NewTime(t0),
		Annotations: map[string]string{ipKey: "10.16.0.44", "ovn.kubernetes.io/allocated": "true"}})
	s.Read(func(r inventory.Reader) {
		c := Context{Inventory: r, Defaults: settings.FreshInstall(), Now: t0.Add(time.Second)}
		check(t, PodCreate(c, nil, valPtr(pod("apps", "x", map[string]string{ipKey: "10.16.0.44"}))).Findings, nil)
	})
}

// TestMigrationExemption: a live-migration target shares only its own
// VM's address, in its own namespace, and only when an owner reference to
// the VM's VirtualMachineInstance ties it to the VM (as Kube-OVN reads it);
// the label alone does not.
func TestMigrationExemption(t *testing.T) {
	t.Parallel()
	job := "kubevirt.io/migrationJobName"
	target := func(ns, vm, addr string) PodInput {
		return pod(ns, "virt-launcher-"+vm+"-b8z2q", map[string]string{ipKey: addr, job: "m1"}, func(in *PodInput) { in.VM = vm })
	}
	heldBy := func(s string) []want { return []want{{policy.PodIPTaken, annPath(ipKey), []string{s}}} }
	c := Context{Defaults: settings.FreshInstall(), Now: t0}
	runPodCases(t, holderFixture(), c, []podCase{
		{name: "its vm's IP object (keep-vm-ip)", in: target("vms", "vm1", "10.16.0.31"), claims: 1},
		{name: "its vm's launcher pod's IP object (no keep-vm-ip)", in: target("vms", "vm3", "10.16.0.32"), claims: 1},
		{name: "another vm of the namespace", in: target("vms", "vm2", "10.16.0.31"), want: heldBy("held by vm vms/vm1")},
		{name: "a vm of the same name in another namespace", in: target("vms", "vm1", "10.16.0.33"), want: heldBy("held by a VM in another namespace")},
		{name: "its vm's name from another namespace", in: target("other-vms", "vm1", "10.16.0.31"), want: heldBy("held by a VM in another namespace")},
		{name: "a statefulset pod's address", in: target("apps", "db-1x", "10.16.0.21"), want: heldBy("held by pod apps/db-1")},
		{name: "the annotation without the owner reference", in: pod("vms", "virt-launcher-vm1-b8z2q", map[string]string{ipKey: "10.16.0.31", job: "m1"}),
			want: heldBy("held by vm vms/vm1")},
		{name: "the label without the owner reference", in: pod("vms", "virt-launcher-vm1-b8z2q", map[string]string{ipKey: "10.16.0.31", job: "m1"}, func(in *PodInput) {
			in.Labels = map[string]string{annotations.VMNameLabel: "vm1"}
		}), want: heldBy("held by vm vms/vm1")},
		{name: "a plain pod named like the vm", in: pod("vms", "vm1", map[string]string{ipKey: "10.16.0.31"}), want: heldBy("held by vm vms/vm1")},
		{name: "a vm named like a plain pod", in: pod("apps", "virt-launcher-db-1-b8z2q", map[string]string{ipKey: "10.16.0.21"}, func(in *PodInput) { in.VM = "db-1" }),
			want: heldBy("held by pod apps/db-1")},
		{name: "a launcher pod's IP object needs the migration", in: pod("vms", "virt-launcher-vm3-q9r4t", map[string]string{ipKey: "10.16.0.32"}, func(in *PodInput) { in.VM = "vm3" }), want: heldBy("held by vm vms/virt-launcher-vm3-x7k2p")},
		{name: "a pending pod of another namespace", in: target("vms", "vm1", "10.16.0.42"), want: heldBy("requested by a pending pod in another namespace")},
	})
}

// TestPoolTenancy: ip_pool is judged for tenancy exactly like ip_address,
// flat lists and ";" groups alike, on every provider.
func TestPoolTenancy(t *testing.T) {
	t.Parallel()
	const att2Pool = "net2.default.ovn.kubernetes.io/ip_pool"
	const att2Addr = "net2.default.ovn.kubernetes.io/ip_address"
	forbidden := func(key, subnet string) []want {
		return []want{{policy.TenantSubnet, annPath(key), []string{"subnet " + subnet + " is bound to team-a, not to namespace apps; Kube-OVN places the pod there anyway"}}}
	}
	sts := func(ord int) func(*PodInput) { return func(in *PodInput) { in.Ordinal = ord } }
	c := Context{Defaults: settings.FreshInstall(), Now: t0}
	runPodCases(t, holderFixture(), c, []podCase{
		{name: "ip_address in another tenant's subnet", in: pod("apps", "x", map[string]string{lsKey: "team-a", ipKey: "10.60.0.9"}),
			want: append(forbidden(lsKey, "team-a"), forbidden(ipKey, "team-a")...), claims: 1},
		{name: "flat ip_pool in another tenant's subnet", in: pod("apps", "x", map[string]string{lsKey: "team-a", poolKey: "10.60.0.9,10.60.0.10"}),
			want: append(forbidden(lsKey, "team-a"), forbidden(poolKey, "team-a")...)},
		{name: "flat ip_pool: one finding per subnet, not per address", in: pod("apps", "x", map[string]string{lsKey: "team-a", poolKey: "10.60.0.9,10.60.0.10,10.60.0.11,10.60.0.12"}),
			want: append(forbidden(lsKey, "team-a"), forbidden(poolKey, "team-a")...)},
		{name: "flat ip_pool on an attachment", in: pod("apps", "x", map[string]string{att2Pool: "192.168.80.9,192.168.80.10"}),
			want: forbidden(att2Pool, "att-a")},
		{name: "ip_address on an attachment", in: pod("apps", "x", map[string]string{att2Addr: "192.168.80.9"}),
			want: forbidden(att2Addr, "att-a"), claims: 1},
		{name: "';' groups of a pod that is no statefulset", in: pod("apps", "x", map[string]string{att2Pool: "192.168.80.9;192.168.80.10"}),
			want: forbidden(att2Pool, "att-a")},
		{name: "';' groups: another ordinal's group counts too", in: pod("apps", "db-0", map[string]string{att2Pool: "192.168.80.9;192.168.80.10"}, sts(0)),
			want: forbidden(att2Pool, "att-a"), claims: 1},
		{name: "flat ip_pool of the tenant itself", in: pod("team-a", "x", map[string]string{att2Pool: "192.168.80.9,192.168.80.10"})},
	})
}

// TestHolderMessages: a namespaced request learns the names of holders in
// its own namespace and of cluster-scoped ones; holders in other
// namespaces are named only with crossNamespaceNames.
func TestHolderMessages(t *testing.T) {
	t.Parallel()
	store := holderFixture()
	res := fakeReservations{{Subnet: "ovn-default", Addr: netip.MustParseAddr("10.16.0.51")}: {"tenant-b", "racer"},
		// Another version's reservation, which names nobody (pkg/reserve).
		{Subnet: "ovn-default", Addr: netip.MustParseAddr("10.16.0.52")}: {"", ""}}
	cases := []struct {
		name, ns, key, addr string
		hidden, named       string
	}{
		{"a pod's IP object", "apps", lsKey, "10.16.0.22", "held by a pod in another namespace", "held by pod tenant-b/db-9"},
		{"a vm's IP object", "apps", lsKey, "10.16.0.33", "held by a VM in another namespace", "held by vm other-vms/vm1"},
		{"an IP object of no pod", "apps", lsKey, "10.16.0.23", "held by an IP object of another namespace", "held by IP object reserved.tenant-b"},
		{"a namespaced vip", "apps", "tenant-a", "10.70.0.101", "held by a vip of another namespace", "held by vip vip-b"},
		{"a vip of no namespace", "apps", "tenant-a", "10.70.0.100", "held by vip vip1", "held by vip vip1"},
		{"a pending pod", "apps", lsKey, "10.16.0.42", "requested by a pending pod in another namespace", "requested by pending pod tenant-b/stuck"},
		{"an admission in flight", "apps", lsKey, "10.16.0.51", "requested by a pod in another namespace, admitted moments ago", "requested by pod tenant-b/racer, admitted moments ago"},
		{"own namespace", "tenant-b", lsKey, "10.16.0.22", "held by pod tenant-b/db-9", "held by pod tenant-b/db-9"},
		{"another version's reservation", "apps", lsKey, "10.16.0.52", "reserved by another version of the webhook (during an upgrade) until its reservation lapses",
			"reserved by another version of the webhook (during an upgrade) until its reservation lapses"},
	}
	for _, tc := range cases {
		for _, names := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s names=%v", tc.name, names), func(t *testing.T) {
				t.Parallel()
				ann := map[string]string{ipKey: tc.addr}
				if tc.key != lsKey {
					ann[lsKey] = tc.key
				}
				text := tc.hidden
				if names {
					text = tc.named
				}
				c := Context{Defaults: settings.FreshInstall(), Now: t0.Add(time.Second), Reservations: res, CrossNamespaceNames: names}
				var got []policy.Finding
				store.Read(func(r inventory.Reader) {
					c.Inventory = r
					got = PodCreate(c, nil, valPtr(pod(tc.ns, "x", ann))).Findings
				})
				check(t, got, []want{{policy.PodIPTaken, annPath(ipKey), []string{text}}})
				for _, leak := range []string{"tenant-b/", "other-vms/", "vip-b", "reserved.tenant-b"} {
					if !names && tc.ns != "tenant-b" && strings.Contains(got[0].Err.Detail, leak) {
						t.Errorf("message names %q: %s", leak, got[0].Err.Detail)
					}
				}
			})
		}
	}
	// InFlight (the check under the reservations' lock) says the same.
	in := pod("apps", "x", map[string]string{ipKey: "10.16.0.51"})
	claims := []Claim{{Subnet: "ovn-default", Addr: netip.MustParseAddr("10.16.0.51"), Field: field.NewPath("metadata", "annotations").Key(ipKey), Value: "10.16.0.51"}}
	for names, text := range map[bool]string{false: "requested by a pod in another namespace", true: "requested by pod tenant-b/racer"} {
		fs := InFlight(Context{Reservations: res, CrossNamespaceNames: names}, &in, claims)
		check(t, fs, []want{{policy.PodIPTaken, annPath(ipKey), []string{text}}})
	}
}
