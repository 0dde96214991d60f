package validate

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

func pool(name, subnetName string, ips ...string) *kubeovnv1.IPPool {
	return &kubeovnv1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kubeovnv1.IPPoolSpec{Subnet: subnetName, IPs: ips}}
}

func withAddressSet(p *kubeovnv1.IPPool) *kubeovnv1.IPPool {
	p.Spec.EnableAddressSet = true
	return p
}

func withNamespaces(p *kubeovnv1.IPPool, ns ...string) *kubeovnv1.IPPool {
	p.Spec.Namespaces = ns
	return p
}

// poolFixture is ipFixture() plus pools on tenant-a, dual and ovn-default.
func poolFixture() *inventory.Store {
	s := ipFixture()
	s.UpsertIPPool(pool("pool-a", "tenant-a", "10.70.0.20..10.70.0.29"))
	s.UpsertIPPool(pool("pool-b", "tenant-a", "10.70.0.128/28", "10.70.0.150"))
	s.UpsertIPPool(pool("pool-v6", "dual", "fd00:80::100..fd00:80::1ff"))
	s.UpsertIPPool(pool("pool-def", "ovn-default", "10.16.0.0/24"))
	return s
}

func TestIPPoolCreate(t *testing.T) {
	t.Parallel()
	store := poolFixture()
	d := settings.FreshInstall()
	cases := []struct {
		name string
		obj  *kubeovnv1.IPPool
		want []want
	}{
		// Valid pools.
		{name: "ipv4 address, range and cidr", obj: pool("new", "tenant-a", "10.70.0.40..10.70.0.49", "10.70.0.60", "10.70.0.64/27")},
		{name: "dual stack", obj: pool("new", "dual", "10.80.0.32/27", "fd00:80::1000/120")},
		{name: "ipv6 only", obj: pool("new", "v6net", "fd00:60::10..fd00:60::20", "fd00:60::80/121")},
		{name: "the whole block", obj: pool("new", "tenant-b", "10.70.2.0/24")},
		{name: "same addresses in another subnet", obj: pool("new", "vpc1-net", "10.16.0.0/24")},
		{name: "valid namespaces", obj: withNamespaces(pool("new", "tenant-a", "10.70.0.60"), "default", "team-a")},

		// ippool-invalid.
		{name: "no subnet", obj: pool("new", "", "10.70.0.60"),
			want: []want{{policy.IPPoolInvalid, "spec.subnet", []string{"Required"}}}},
		{name: "unknown subnet", obj: pool("new", "tenant-z", "10.70.0.60"),
			want: []want{{policy.IPPoolInvalid, "spec.subnet", []string{"subnet tenant-z does not exist"}}}},
		// The controller masks host bits (pkg/ipam/ip_range_list.go).
		{name: "host bits in a cidr", obj: pool("new", "tenant-a", "10.70.0.69/28")},
		{name: "reversed range", obj: pool("new", "tenant-a", "10.70.0.60", "10.70.0.49..10.70.0.40"),
			want: []want{{policy.IPPoolInvalid, "spec.ips[1]", []string{"start is after its end; write 10.70.0.40..10.70.0.49"}}}},
		{name: "mixed family range", obj: pool("new", "dual", "10.80.0.40..fd00:80::1"),
			want: []want{{policy.IPPoolInvalid, "spec.ips[0]", []string{"mixes families"}}}},
		{name: "garbage and a bad cidr", obj: pool("new", "tenant-a", "10.70.0.x", "10.70.0.0/33", " 10.70.0.5"),
			want: []want{
				{policy.IPPoolInvalid, "spec.ips[0]", []string{"not a valid IP address"}},
				{policy.IPPoolInvalid, "spec.ips[1]", []string{"not a valid CIDR"}},
				{policy.IPPoolInvalid, "spec.ips[2]", []string{"spaces"}},
			}},
		// Entries outside the subnet are ignored by the controller
		// (pkg/ipam/subnet.go AddOrUpdateIPPool): a warning for an entry
		// wholly outside, nothing for one partly outside.
		{name: "partly outside the block", obj: pool("new", "tenant-a", "10.70.0.250..10.70.1.5")},
		{name: "wholly outside the block", obj: pool("new", "tenant-a", "10.70.0.250..10.70.1.5", "10.71.0.0/24"),
			want: []want{{policy.IPPoolInvalid, "spec.ips[1]", []string{"is not inside subnet tenant-a (10.70.0.0/24); Kube-OVN ignores this entry"}}}},
		{name: "ipv6 on an ipv4 subnet", obj: pool("new", "tenant-a", "fd00:70::/120"),
			want: []want{{policy.IPPoolInvalid, "spec.ips[0]", []string{"is IPv6 but subnet tenant-a (10.70.0.0/24) has no IPv6 block; Kube-OVN ignores this entry"}}}},
		{name: "dual stack, ipv6 outside", obj: pool("new", "dual", "10.80.0.32/27", "fd00:81::/120"),
			want: []want{{policy.IPPoolInvalid, "spec.ips[1]", []string{"not inside subnet dual (fd00:80::/64)"}}}},
		{name: "every address excluded or the gateway", obj: pool("new", "ex", "10.75.0.1..10.75.0.20"),
			want: []want{{policy.IPPoolInvalid, "spec.ips", []string{"has no address subnet ex can hand out", "pods naming ippool new would wait"}}}},
		{name: "network and broadcast only", obj: pool("new", "tenant-b", "10.70.2.0", "10.70.2.255"),
			want: []want{{policy.IPPoolInvalid, "spec.ips", []string{"has no address subnet tenant-b can hand out"}}}},
		{name: "one free address is enough", obj: pool("new", "ex", "10.75.0.1..10.75.0.21")},
		{name: "address set of one family", obj: withAddressSet(pool("new", "dual", "10.80.0.32/27"))},
		{name: "address set mixing families", obj: withAddressSet(pool("new", "dual", "10.80.0.32/27", "fd00:80::1000/120")),
			want: []want{{policy.IPPoolInvalid, "spec.ips", []string{"mixes IPv4 and IPv6", "ReconcileAddressSetFailed"}}}},
		{name: "namespace that is not a name", obj: withNamespaces(pool("new", "tenant-a", "10.70.0.60"), "default", "Team_A"),
			want: []want{{policy.IPPoolInvalid, "spec.namespaces[1]", []string{`"Team_A"`, "is not a namespace name", "RFC 1123"}}}},

		// ippool-overlap.
		{name: "overlaps one pool", obj: pool("new", "tenant-a", "10.70.0.25..10.70.0.35"),
			want: []want{{policy.IPPoolOverlap, "spec.ips", []string{
				"overlaps ippool pool-a (10.70.0.25..10.70.0.29) of subnet tenant-a; the IPPools of one subnet must not share addresses"}}}},
		{name: "overlaps every pool of the subnet", obj: pool("new", "tenant-a", "10.70.0.0/24"),
			want: []want{{policy.IPPoolOverlap, "spec.ips", []string{
				"overlaps 2 ippools of subnet tenant-a: pool-a (10.70.0.20..10.70.0.29), pool-b (10.70.0.128..10.70.0.143, 10.70.0.150)"}}}},
		{name: "overlaps on ipv6", obj: pool("new", "dual", "10.80.0.32/27", "fd00:80::1f0/124"),
			want: []want{{policy.IPPoolOverlap, "spec.ips", []string{"pool-v6 (fd00:80::1f0..fd00:80::1ff) of subnet dual"}}}},
		{name: "overlap and invalid together", obj: pool("new", "tenant-a", "10.70.0.20", "10.70.0.1/33"),
			want: []want{
				{policy.IPPoolInvalid, "spec.ips[1]", []string{"not a valid CIDR"}},
				{policy.IPPoolOverlap, "spec.ips", []string{"pool-a"}},
			}},
		{name: "host bits overlap as masked", obj: pool("new", "tenant-a", "10.70.0.1/24"),
			want: []want{{policy.IPPoolOverlap, "spec.ips", []string{"pool-a", "pool-b"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []policy.Finding
			store.Read(func(r inventory.Reader) { got = IPPoolCreate(cx(r, d), nil, tc.obj).Findings })
			check(t, got, tc.want)
		})
	}
}

func TestIPPoolOverlapListIsCapped(t *testing.T) {
	t.Parallel()
	store := ipFixture()
	var ips []string
	for i := range 5 {
		ips = append(ips, "10.70.0."+string(rune('1'+i))+"0")
	}
	store.UpsertIPPool(pool("many", "tenant-a", ips...))
	var got []policy.Finding
	store.Read(func(r inventory.Reader) {
		got = IPPoolCreate(cx(r, settings.FreshInstall()), nil, pool("new", "tenant-a", "10.70.0.0/26")).Findings
	})
	check(t, got, []want{{policy.IPPoolOverlap, "spec.ips", []string{"many (10.70.0.10, 10.70.0.20, 10.70.0.30 and 2 more)"}}})
}

func TestIPPoolUpdate(t *testing.T) {
	t.Parallel()
	store := poolFixture()
	// An overlap that predates ipamguard.
	store.UpsertIPPool(pool("legacy", "tenant-a", "10.70.0.25..10.70.0.35", "10.70.0.69/28"))
	d := settings.FreshInstall()
	legacy := pool("legacy", "tenant-a", "10.70.0.25..10.70.0.35", "10.70.0.69/28")
	cases := []struct {
		name     string
		old, obj *kubeovnv1.IPPool
		want     []want
	}{
		{name: "a pool does not overlap itself", old: pool("pool-a", "tenant-a", "10.70.0.20..10.70.0.29"),
			obj: pool("pool-a", "tenant-a", "10.70.0.16..10.70.0.29")},
		{name: "growing into another pool", old: pool("pool-a", "tenant-a", "10.70.0.20..10.70.0.29"),
			obj:  pool("pool-a", "tenant-a", "10.70.0.20..10.70.0.29", "10.70.0.150"),
			want: []want{{policy.IPPoolOverlap, "spec.ips", []string{"overlaps ippool pool-b (10.70.0.150)"}}}},
		{name: "an old overlap can be narrowed and relabelled", old: legacy,
			obj: withNamespaces(pool("legacy", "tenant-a", "10.70.0.27..10.70.0.35", "10.70.0.69/28"), "default")},
		{name: "new entries are judged, old ones are not", old: legacy,
			obj:  pool("legacy", "tenant-a", "10.70.0.25..10.70.0.35", "10.70.0.69/28", "10.70.0.99/33"),
			want: []want{{policy.IPPoolInvalid, "spec.ips[2]", []string{"not a valid CIDR"}}}},
		{name: "moving to another subnet judges everything", old: pool("pool-a", "tenant-a", "10.70.0.20..10.70.0.29"),
			obj:  pool("pool-a", "tenant-b", "10.70.0.20..10.70.0.29"),
			want: []want{{policy.IPPoolInvalid, "spec.ips[0]", []string{"not inside subnet tenant-b (10.70.2.0/24)"}}}},
		{name: "a bad new namespace", old: pool("pool-a", "tenant-a", "10.70.0.20..10.70.0.29"),
			obj:  withNamespaces(pool("pool-a", "tenant-a", "10.70.0.20..10.70.0.29"), "-x"),
			want: []want{{policy.IPPoolInvalid, "spec.namespaces[0]", []string{"-x"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []policy.Finding
			store.Read(func(r inventory.Reader) { got = IPPoolUpdate(cx(r, d), tc.old, tc.obj).Findings })
			check(t, got, tc.want)
		})
	}
}

// TestIPPoolWarningsNeverDeny: what Kube-OVN ignores or accepts (entries
// outside the subnet, a pool with nothing to hand out) is advisory, and
// what it fails on (an address set mixing families) is not.
func TestIPPoolWarningsNeverDeny(t *testing.T) {
	t.Parallel()
	store := poolFixture()
	d := settings.FreshInstall()
	for _, tc := range []struct {
		obj      *kubeovnv1.IPPool
		advisory bool
	}{
		{pool("new", "tenant-a", "10.71.0.0/24"), true},
		{pool("new", "tenant-a", "fd00:70::/120"), true},
		{pool("new", "ex", "10.75.0.2..10.75.0.20"), true},
		{withAddressSet(pool("new", "dual", "10.80.0.32/27", "fd00:80::1000/120")), false},
	} {
		var got []policy.Finding
		store.Read(func(r inventory.Reader) { got = IPPoolCreate(cx(r, d), nil, tc.obj).Findings })
		if len(got) != 1 || got[0].Advisory != tc.advisory {
			t.Errorf("%v: got %s, want one finding with Advisory %v", tc.obj.Spec.IPs, dump(got), tc.advisory)
		}
	}
}
