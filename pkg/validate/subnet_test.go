package validate

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

type subnetT = kubeovnv1.Subnet

func subnet(name, cidr string, mutate ...func(*kubeovnv1.Subnet)) *kubeovnv1.Subnet {
	s := &kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kubeovnv1.SubnetSpec{CIDRBlock: cidr}}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func ipObj(pod, ns, subnetName, addrs string) *kubeovnv1.IP {
	return &kubeovnv1.IP{
		ObjectMeta: metav1.ObjectMeta{Name: pod + "." + ns},
		Spec:       kubeovnv1.IPSpec{PodName: pod, Namespace: ns, Subnet: subnetName, IPAddress: addrs},
	}
}

// fixture is a fresh-install cluster with a few tenants and pods.
func fixture() *inventory.Store {
	s := inventory.New("ovn-cluster")
	s.UpsertSubnet(subnet("ovn-default", "10.16.0.0/16", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "ovn-cluster"; s.Spec.Gateway = "10.16.0.1" }))
	s.UpsertSubnet(subnet("join", "100.64.0.0/16", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "ovn-cluster" }))
	s.UpsertSubnet(subnet("tenant-a", "10.70.0.0/24"))
	s.UpsertSubnet(subnet("tenant-b", "10.70.2.0/24"))
	s.UpsertSubnet(subnet("dual", "10.80.0.0/24,fd00:80::/64"))
	s.UpsertSubnet(subnet("vpc1-net", "10.16.0.0/16", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "vpc1" }))
	s.UpsertSubnet(subnet("vlan-net", "192.168.10.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vlan = "vlan10" }))
	s.UpsertIP(ipObj("web-0", "default", "tenant-a", "10.70.0.10"))
	s.UpsertIP(ipObj("web-1", "default", "tenant-a", "10.70.0.200"))
	s.UpsertIP(ipObj("db-0", "prod", "dual", "10.80.0.5,fd00:80::5"))
	s.UpsertVip(&kubeovnv1.Vip{ObjectMeta: metav1.ObjectMeta{Name: "vip1"},
		Spec: kubeovnv1.VipSpec{Subnet: "tenant-a"}, Status: kubeovnv1.VipStatus{V4ip: "10.70.0.100"}})
	s.UpsertNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.18.0.2"}, {Type: corev1.NodeHostName, Address: "node1"}}}})
	return s
}

type want struct {
	rule     policy.RuleID
	field    string
	contains []string
}

func check(t *testing.T, got []policy.Finding, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d findings, want %d:\n%s", len(got), len(wants), dump(got))
	}
	for i, w := range wants {
		g := got[i]
		if g.Rule != w.rule || g.Err.Field != w.field {
			t.Errorf("finding %d: got %s on %s, want %s on %s\n%s", i, g.Rule, g.Err.Field, w.rule, w.field, dump(got))
		}
		for _, c := range w.contains {
			if !strings.Contains(g.Err.Error(), c) {
				t.Errorf("finding %d: %q does not contain %q", i, g.Err.Error(), c)
			}
		}
	}
}

func dump(fs []policy.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s\n", f.Rule, f.Err)
	}
	return b.String()
}

func TestSubnetCreate(t *testing.T) {
	t.Parallel()
	store := fixture()
	d := settings.FreshInstall()
	cases := []struct {
		name string
		obj  *kubeovnv1.Subnet
		want []want
	}{
		{name: "valid ipv4", obj: subnet("new", "10.90.0.0/24")},
		{name: "valid dual stack", obj: subnet("new", "10.90.0.0/24,fd00:90::/64", func(s *kubeovnv1.Subnet) { s.Spec.Gateway = "10.90.0.1,fd00:90::1" })},
		{name: "valid ipv6", obj: subnet("new", "fd00:91::/120")},
		{name: "valid /31 and /32", obj: subnet("new", "10.91.0.0/31")},
		{name: "same cidr in another vpc", obj: subnet("new", "10.70.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "vpc2" })},
		{name: "same cidr on another vlan", obj: subnet("new", "10.70.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vlan = "vlan99" })},
		{name: "missing cidr", obj: subnet("new", ""),
			want: []want{{policy.SubnetInvalid, "spec.cidrBlock", []string{"Required"}}}},
		{name: "host bits", obj: subnet("new", "10.90.0.5/24"),
			want: []want{{policy.SubnetInvalid, "spec.cidrBlock", []string{"10.90.0.0/24"}}}},
		{name: "ipv6 first", obj: subnet("new", "fd00:90::/64,10.90.0.0/24"),
			want: []want{{policy.SubnetInvalid, "spec.cidrBlock", []string{"IPv4"}}}},
		{name: "loopback", obj: subnet("new", "127.0.0.0/8"),
			want: []want{{policy.SubnetInvalid, "spec.cidrBlock", []string{"loopback"}}}},
		{name: "multicast", obj: subnet("new", "224.1.0.0/16"),
			want: []want{{policy.SubnetInvalid, "spec.cidrBlock", []string{"multicast"}}}},
		{name: "link-local v6", obj: subnet("new", "fe80::/64"),
			want: []want{{policy.SubnetInvalid, "spec.cidrBlock", []string{"link-local"}}}},
		{name: "gateway outside", obj: subnet("new", "10.90.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Gateway = "10.91.0.1" }),
			want: []want{{policy.SubnetInvalid, "spec.gateway", []string{"10.91.0.1"}}}},
		{name: "gateway on broadcast", obj: subnet("new", "10.90.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Gateway = "10.90.0.255" }),
			want: []want{{policy.SubnetInvalid, "spec.gateway", []string{"broadcast"}}}},
		// The controller overwrites a known protocol that disagrees with the
		// blocks (msubnet defaults it); only unknown values are refused.
		{name: "protocol mismatch is left to the defaulter", obj: subnet("new", "10.90.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Protocol = "IPv6" })},
		{name: "unknown protocol", obj: subnet("new", "10.90.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Protocol = "ipv5" }),
			want: []want{{policy.SubnetInvalid, "spec.protocol", []string{"IPv4, IPv6 or Dual", "IPv4"}}}},
		{name: "single-address block", obj: subnet("new", "10.90.0.9/32"),
			want: []want{{policy.SubnetInvalid, "spec.cidrBlock", []string{"single address"}}}},
		{name: "underlay without cidrBlock", obj: subnet("new", "", func(s *kubeovnv1.Subnet) { s.Spec.Vlan = "vlan1" })},
		{name: "non-OVN provider is not checked for overlap", obj: subnet("mac", "10.16.5.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Provider = "macvlan.default" })},
		{name: "u2oInterconnectionIP outside the block, upper case", obj: subnet("u2o", "fd00:19::/120", func(s *kubeovnv1.Subnet) { s.Spec.U2OInterconnectionIP = "fd00:20::2" }),
			want: []want{{policy.SubnetInvalid, "spec.u2oInterconnectionIP", []string{"not inside"}}}},
		{name: "u2oInterconnectionIP upper case", obj: subnet("u2o", "fd00:19::/120", func(s *kubeovnv1.Subnet) { s.Spec.U2OInterconnectionIP = "FD00:19::2" }),
			want: []want{{policy.SubnetInvalid, "spec.u2oInterconnectionIP", []string{"lower case"}}}},
		{name: "u2oInterconnectionIP on the default gateway, spelled long", obj: subnet("u2o", "fd00:19::/120", func(s *kubeovnv1.Subnet) { s.Spec.U2OInterconnectionIP = "fd00:19:0:0::1" }),
			want: []want{{policy.SubnetInvalid, "spec.u2oInterconnectionIP", []string{"gateway"}}}},
		{name: "IPv6 all-ones gateway accepted (union of releases)", obj: subnet("gw6", "fd00:17::/120", func(s *kubeovnv1.Subnet) { s.Spec.Gateway = "fd00:17::ff" })},
		{name: "underlay without cidrBlock with a gateway", obj: subnet("new", "", func(s *kubeovnv1.Subnet) { s.Spec.Vlan = "vlan1"; s.Spec.Gateway = "10.0.0.1" }),
			want: []want{{policy.SubnetInvalid, "spec.gateway", []string{"without cidrBlock"}}}},
		{name: "u2oInterconnectionIP outside, on the gateway", obj: subnet("u2o", "10.90.0.0/24", func(s *kubeovnv1.Subnet) {
			s.Spec.Gateway = "10.90.0.1"
			s.Spec.U2OInterconnectionIP = "10.90.0.1"
		}),
			want: []want{{policy.SubnetInvalid, "spec.u2oInterconnectionIP", []string{"gateway"}}}},
		{name: "exclude malformed and outside", obj: subnet("new", "10.90.0.0/24", func(s *kubeovnv1.Subnet) {
			s.Spec.ExcludeIps = []string{"10.90.0.9..10.90.0.2", "10.91.0.1", "fd00::1", "10.90.0.10..10.90.0.20"}
		}),
			// Entries outside the block or of the other family are clipped
			// by the controller (pkg/util/net.go ExpandExcludeIPs).
			want: []want{
				{policy.SubnetInvalid, "spec.excludeIps[0]", nil},
			}},
		{name: "overlap with empty vpc means default vpc", obj: subnet("dup", "10.16.5.0/24"),
			want: []want{{policy.SubnetOverlap, "spec.cidrBlock", []string{"ovn-default 10.16.0.0/16", "vpc ovn-cluster"}}}},
		{name: "overlap names every subnet", obj: subnet("big", "10.0.0.0/8", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "ovn-cluster" }),
			want: []want{
				{policy.SubnetOverlap, "spec.cidrBlock", []string{"4 subnets in vpc ovn-cluster: ovn-default 10.16.0.0/16", "tenant-a", "tenant-a", "dual 10.80.0.0/24,fd00:80::/64"}},
				{policy.SubnetOverlap, "spec.cidrBlock", []string{"service CIDR 10.96.0.0/12"}},
			}},
		{name: "overlap on the ipv6 block only", obj: subnet("v6dup", "fd00:80::/48"),
			want: []want{{policy.SubnetOverlap, "spec.cidrBlock", []string{"dual"}}}},
		{name: "overlap inside a custom vpc", obj: subnet("vpc1-b", "10.16.128.0/17", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "vpc1" }),
			want: []want{{policy.SubnetOverlap, "spec.cidrBlock", []string{"vpc1-net", "vpc vpc1"}}}},
		{name: "overlap on the same vlan", obj: subnet("vlan-b", "192.168.10.128/25", func(s *kubeovnv1.Subnet) { s.Spec.Vlan = "vlan10" }),
			want: []want{{policy.SubnetOverlap, "spec.cidrBlock", []string{"vlan-net", "vlan vlan10"}}}},
		{name: "join subnet object is found", obj: subnet("j2", "100.64.1.0/24"),
			want: []want{{policy.SubnetOverlap, "spec.cidrBlock", []string{"join 100.64.0.0/16"}}}},
		{name: "service cidr", obj: subnet("svc", "10.100.0.0/16"),
			want: []want{{policy.SubnetOverlap, "spec.cidrBlock", []string{"service CIDR 10.96.0.0/12"}}}},
		{name: "node address", obj: subnet("nodes", "172.18.0.0/24"),
			want: []want{{policy.SubnetOverlap, "spec.cidrBlock", []string{"node1 (172.18.0.2)"}}}},
		{name: "node address fine on an underlay vlan", obj: subnet("nodes", "172.18.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vlan = "vlan20" })},
		{name: "node address fine in a custom vpc", obj: subnet("nodes", "172.18.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "vpc1" })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []policy.Finding
			store.Read(func(r inventory.Reader) { got = SubnetCreate(cx(r, d), nil, tc.obj).Findings })
			check(t, got, tc.want)
		})
	}
}

func TestSubnetJoinCIDRFromConfig(t *testing.T) {
	t.Parallel()
	store := inventory.New("ovn-cluster") // no join Subnet object yet
	d := settings.FreshInstall()
	var got []policy.Finding
	store.Read(func(r inventory.Reader) { got = SubnetCreate(cx(r, d), nil, subnet("x", "100.64.3.0/24")).Findings })
	check(t, got, []want{{policy.SubnetOverlap, "spec.cidrBlock", []string{"join subnet CIDR 100.64.0.0/16"}}})
	store.Read(func(r inventory.Reader) { got = SubnetCreate(cx(r, d), nil, subnet("join", "100.64.0.0/16")).Findings })
	check(t, got, nil)
}

func TestSubnetUpdate(t *testing.T) {
	t.Parallel()
	store := fixture()
	d := settings.FreshInstall()
	tenantA := subnet("tenant-a", "10.70.0.0/24")
	dual := subnet("dual", "10.80.0.0/24,fd00:80::/64")
	cases := []struct {
		name     string
		old, obj *kubeovnv1.Subnet
		want     []want
	}{
		{name: "expansion", old: tenantA, obj: subnet("tenant-a", "10.70.0.0/23")},
		{name: "filling in the default vpc moves nothing (an old overlap is not re-judged)",
			old: subnet("legacy-dup", "10.16.5.0/24"), obj: subnet("legacy-dup", "10.16.5.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "ovn-cluster" })},
		{name: "moving to another vpc is judged", old: subnet("moving", "10.95.0.0/24"), obj: subnet("moving", "10.16.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "vpc1" }),
			want: []want{
				{policy.SubnetInvalid, "spec.vpc", []string{"from empty to ovn-cluster"}},
				{policy.SubnetOverlap, "spec.cidrBlock", []string{"vpc1-net"}},
			}},
		{name: "vips left outside the block by an old object are not re-judged",
			old: subnet("old-vips", "10.96.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vips = []string{"10.97.0.5"} }),
			obj: subnet("old-vips", "10.96.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vips = []string{"10.97.0.5"}; s.Labels = map[string]string{"a": "b"} })},
		{name: "a new vip outside the block", old: subnet("vips", "10.96.0.0/24"),
			obj: subnet("vips", "10.96.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vips = []string{"10.96.0.5", "FD00::1", "10.97.0.5", "x"} }),
			want: []want{
				{policy.SubnetInvalid, "spec.vips[1]", []string{"lower case"}},
				{policy.SubnetInvalid, "spec.vips[2]", []string{"not inside cidrBlock 10.96.0.0/24"}},
				{policy.SubnetInvalid, "spec.vips[3]", []string{"not an IP address"}},
			}},
		{name: "a vip added beside an old one outside the block: only the new one is judged",
			old:  subnet("old-vips2", "10.96.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vips = []string{"10.97.0.5"} }),
			obj:  subnet("old-vips2", "10.96.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vips = []string{"10.97.0.5", "10.96.0.9", " 10.96.0.8"} }),
			want: []want{{policy.SubnetInvalid, "spec.vips[2]", []string{"not an IP address"}}}},
		{name: "a subnet moved to a vpc of its own name", old: subnet("same", "10.98.0.0/24"),
			obj:  subnet("same", "10.98.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "same" }),
			want: []want{{policy.SubnetInvalid, "spec.vpc", []string{"from empty to ovn-cluster"}}, {policy.SubnetInvalid, "spec.vpc", []string{"same name"}}}},
		{name: "label-only edit of an invalid old object is not re-judged",
			old: subnet("legacy", "10.99.0.5/24"), obj: subnet("legacy", "10.99.0.5/24", func(s *kubeovnv1.Subnet) { s.Labels = map[string]string{"a": "b"} })},
		{name: "shrink strands addresses with owners", old: tenantA, obj: subnet("tenant-a", "10.70.0.0/25"),
			want: []want{{policy.SubnetShrink, "spec.cidrBlock", []string{
				"1 address", "10.70.0.200 (pod default/web-1, outside 10.70.0.0/25)"}}}},
		{name: "shrink strands a vip", old: tenantA, obj: subnet("tenant-a", "10.70.0.0/26"),
			want: []want{{policy.SubnetShrink, "spec.cidrBlock", []string{
				"2 addresses", "10.70.0.100 (vip vip1, outside 10.70.0.0/26)", "10.70.0.200 (pod default/web-1"}}}},
		{name: "shrink onto the broadcast address", old: subnet("tenant-a", "10.70.0.0/23"), obj: subnet("tenant-a", "10.70.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Gateway = "10.70.0.1" }),
			want: nil},
		{name: "expansion into an overlap", old: tenantA, obj: subnet("tenant-a", "10.70.0.0/22"),
			want: []want{{policy.SubnetOverlap, "spec.cidrBlock", []string{"tenant-b 10.70.2.0/24"}}}},
		{name: "expansion downwards moves the default gateway", old: subnet("tenant-a", "10.70.0.0/24"), obj: subnet("tenant-a", "10.68.0.0/14"),
			want: []want{
				{policy.SubnetOverlap, "spec.cidrBlock", []string{"tenant-b"}},
				{policy.SubnetGatewayInUse, "spec.gateway", []string{"10.70.0.1 to 10.68.0.1"}},
			}},
		{name: "vpc filled in with the default vpc", old: tenantA, obj: subnet("tenant-a", "10.70.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "ovn-cluster" })},
		{name: "vpc cleared", old: subnet("tenant-a", "10.70.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "ovn-cluster" }), obj: tenantA,
			want: []want{{policy.SubnetInvalid, "spec.vpc", []string{"from empty to ovn-cluster"}}}},
		{name: "u2oInterconnectionIP on an address a pod holds", old: tenantA, obj: subnet("tenant-a", "10.70.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.U2OInterconnectionIP = "10.70.0.10" }),
			want: []want{{policy.SubnetInvalid, "spec.u2oInterconnectionIP", []string{"held by pod default/web-0"}}}},
		{name: "excluding an address in use says what Kube-OVN does", old: tenantA, obj: subnet("tenant-a", "10.70.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.ExcludeIps = []string{"10.70.0.10"} }),
			want: []want{{policy.SubnetExcludeInUse, "spec.excludeIps", []string{"keep their addresses", "counters stop counting them", "will not hand them out again once released"}}}},
		{name: "move to a block that loses everyone", old: tenantA, obj: subnet("tenant-a", "10.71.0.0/24"),
			want: []want{{policy.SubnetShrink, "spec.cidrBlock", []string{"3 addresses", "web-0"}}}},
		{name: "removing the ipv6 block of a dual stack subnet", old: dual, obj: subnet("dual", "10.80.0.0/24"),
			want: []want{{policy.SubnetShrink, "spec.cidrBlock", []string{"fd00:80::5 (pod prod/db-0"}}}},
		{name: "new gateway on a used address", old: tenantA, obj: subnet("tenant-a", "10.70.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Gateway = "10.70.0.10" }),
			want: []want{
				{policy.SubnetGatewayInUse, "spec.gateway", []string{"10.70.0.1 to 10.70.0.10", "3 addresses are in use"}},
				{policy.SubnetShrink, "spec.cidrBlock", []string{"10.70.0.10 (pod default/web-0, the gateway)"}},
			}},
		{name: "exclude over used addresses", old: tenantA, obj: subnet("tenant-a", "10.70.0.0/24", func(s *kubeovnv1.Subnet) {
			s.Spec.ExcludeIps = []string{"10.70.0.2..10.70.0.20", "10.70.0.150"}
		}),
			want: []want{{policy.SubnetExcludeInUse, "spec.excludeIps", []string{"1 address", "10.70.0.10 (pod default/web-0)"}}}},
		{name: "exclude unused addresses", old: tenantA, obj: subnet("tenant-a", "10.70.0.0/24", func(s *kubeovnv1.Subnet) {
			s.Spec.ExcludeIps = []string{"10.70.0.20..10.70.0.30"}
		})},
		{name: "explicit gateway equal to the default is no change", old: tenantA, obj: subnet("tenant-a", "10.70.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Gateway = "10.70.0.1" })},
		{name: "moving the ipv6 block strands its address", old: dual, obj: subnet("dual", "10.80.0.0/24,fd00:81::/64"),
			want: []want{{policy.SubnetShrink, "spec.cidrBlock", []string{"fd00:80::5"}}}},
		{name: "gateway change on a family without addresses is fine", old: subnet("tenant-a", "10.70.0.0/24,fd00:70::/64"),
			obj: subnet("tenant-a", "10.70.0.0/24,fd00:70::/64", func(s *kubeovnv1.Subnet) { s.Spec.Gateway = "10.70.0.1,fd00:70::fe" })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []policy.Finding
			store.Read(func(r inventory.Reader) { got = SubnetUpdate(cx(r, d), tc.old, tc.obj).Findings })
			check(t, got, tc.want)
		})
	}
}

func TestSubnetShrinkListIsCapped(t *testing.T) {
	t.Parallel()
	store := inventory.New("ovn-cluster")
	store.UpsertSubnet(subnet("big", "10.50.0.0/16"))
	for i := range 40 {
		store.UpsertIP(ipObj(fmt.Sprintf("p%d", i), "ns", "big", fmt.Sprintf("10.50.1.%d", i+1)))
	}
	var got []policy.Finding
	store.Read(func(r inventory.Reader) {
		got = SubnetUpdate(cx(r, settings.FreshInstall()), subnet("big", "10.50.0.0/16"), subnet("big", "10.50.0.0/24")).Findings
	})
	check(t, got, []want{{policy.SubnetShrink, "spec.cidrBlock", []string{"40 addresses", "10.50.1.1 (pod ns/p0", "and 30 more"}}})
}

func TestSubnetDelete(t *testing.T) {
	t.Parallel()
	store := fixture()
	d := settings.FreshInstall()
	var got []policy.Finding
	store.Read(func(r inventory.Reader) {
		got = SubnetDelete(cx(r, d), subnet("tenant-a", "10.70.0.0/24"), nil).Findings
	})
	check(t, got, []want{{policy.SubnetDeleteInUse, "metadata.name", []string{"3 addresses", "pod default/web-0", "vip vip1"}}})
	if got[0].Err.Type != field.ErrorTypeForbidden {
		t.Errorf("delete error type = %s, want Forbidden", got[0].Err.Type)
	}
	store.Read(func(r inventory.Reader) {
		got = SubnetDelete(cx(r, d), subnet("vpc1-net", "10.16.0.0/16"), nil).Findings
	})
	check(t, got, nil)

	// Status is never trusted: a subnet with stale status counters but no
	// IP objects can go.
	stale := subnet("vlan-net", "192.168.10.0/24")
	stale.Status.V4UsingIPs = 42
	store.Read(func(r inventory.Reader) { got = SubnetDelete(cx(r, d), stale, nil).Findings })
	check(t, got, nil)
}

// cx is the rules' context over r with defaults d and the default
// thresholds.
func cx(r inventory.Reader, d settings.Defaults) Context {
	return Context{Inventory: r, Defaults: d, Thresholds: settings.DefaultThresholds()}
}

// cxt is cx with thresholds t.
func cxt(r inventory.Reader, d settings.Defaults, t settings.Thresholds) Context {
	return Context{Inventory: r, Defaults: d, Thresholds: t}
}

// valPtr returns a pointer to a copy of v.
func valPtr[T any](v T) *T { return &v }

// podCreate runs PodCreate with in-flight reservations res.
func podCreate(r inventory.Reader, d settings.Defaults, in PodInput, res Reservations) ([]policy.Finding, []Claim) {
	c := cx(r, d)
	c.Reservations = res
	out := PodCreate(c, nil, &in)
	return out.Findings, out.Claims
}
