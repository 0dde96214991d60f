package validate

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

// exhHold makes subnet name hold each address with one IP object.
func exhHold(s *inventory.Store, name string, addrs ...string) {
	for _, a := range addrs {
		s.UpsertIP(ipObj("p-"+strings.NewReplacer(".", "-", ":", "-").Replace(a), name, name, a))
	}
}

// exhRange returns the addresses from..from+n-1.
func exhRange(from string, n int) []string {
	a := netip.MustParseAddr(from)
	out := make([]string, 0, n)
	for range n {
		out = append(out, a.String())
		a = a.Next()
	}
	return out
}

func exhRecord(t *testing.T, s *inventory.Store, name string) *inventory.Subnet {
	t.Helper()
	var sn *inventory.Subnet
	s.Read(func(r inventory.Reader) { sn, _ = r.Subnet(name) })
	if sn == nil {
		t.Fatalf("no subnet %s", name)
	}
	return sn
}

func TestUsage(t *testing.T) {
	t.Parallel()
	const maxU = math.MaxUint64
	s := inventory.New("ovn-cluster")
	s.UpsertSubnet(subnet("v4", "10.70.0.0/24"))
	exhHold(s, "v4", "10.70.0.10", "10.70.0.200")
	s.UpsertVip(&kubeovnv1.Vip{ObjectMeta: metav1.ObjectMeta{Name: "vip1"},
		Spec: kubeovnv1.VipSpec{Subnet: "v4"}, Status: kubeovnv1.VipStatus{V4ip: "10.70.0.100"}})

	s.UpsertSubnet(subnet("v6", "fd00:10::/64"))
	exhHold(s, "v6", "fd00:10::5")
	s.UpsertSubnet(subnet("v6-48", "fd00:20::/48"))
	exhHold(s, "v6-48", "fd00:20::5")

	s.UpsertSubnet(subnet("dual-v4-short", "10.80.0.0/28,fd00:80::/120"))
	exhHold(s, "dual-v4-short", "10.80.0.2,fd00:80::2", "10.80.0.3,fd00:80::3")
	s.UpsertSubnet(subnet("dual-v6-short", "10.81.0.0/24,fd00:81::/124"))
	exhHold(s, "dual-v6-short", "10.81.0.2,fd00:81::2")

	s.UpsertSubnet(subnet("p31", "10.90.0.0/31"))
	exhHold(s, "p31", "10.90.0.1")
	s.UpsertSubnet(subnet("p32", "10.91.0.7/32"))

	// Static IPs inside excludeIps do not count as using.
	s.UpsertSubnet(subnet("static-excluded", "10.72.0.0/24", func(s *kubeovnv1.Subnet) {
		s.Spec.ExcludeIps = []string{"10.72.0.10..10.72.0.20"}
	}))
	exhHold(s, "static-excluded", "10.72.0.11", "10.72.0.12", "10.72.0.50")

	// The gateway inside an excluded range: a holder there still counts.
	s.UpsertSubnet(subnet("gateway", "10.73.0.0/24", func(s *kubeovnv1.Subnet) {
		s.Spec.Gateway = "10.73.0.1"
		s.Spec.ExcludeIps = []string{"10.73.0.1..10.73.0.5"}
	}))
	exhHold(s, "gateway", "10.73.0.1", "10.73.0.3", "10.73.0.100")

	// Holders outside the allocatable range (left from an older CIDR, or
	// on the broadcast address even when excluded) take nothing.
	s.UpsertSubnet(subnet("stale", "10.74.0.0/24", func(s *kubeovnv1.Subnet) {
		s.Spec.ExcludeIps = []string{"10.74.0.250..10.74.0.255"}
	}))
	exhHold(s, "stale", "10.74.0.5", "10.74.0.252", "10.74.0.255", "10.74.1.9", "10.73.255.255")

	// More holders than room: Available clamps at 0.
	s.UpsertSubnet(subnet("over", "10.75.0.0/30"))
	exhHold(s, "over", "10.75.0.2")
	s.UpsertVip(&kubeovnv1.Vip{ObjectMeta: metav1.ObjectMeta{Name: "vip-over"},
		Spec: kubeovnv1.VipSpec{Subnet: "over"}, Status: kubeovnv1.VipStatus{V4ip: "10.75.0.2"}})

	v4, v6 := ipam.IPv4, ipam.IPv6
	cases := []struct {
		name      string
		want      []FamilyUsage
		available uint64
		limit     ipam.Family
	}{
		{"v4", []FamilyUsage{{v4, netip.MustParsePrefix("10.70.0.0/24"), 253, 3, 250}}, 250, v4},
		{"v6", []FamilyUsage{{v6, netip.MustParsePrefix("fd00:10::/64"), maxU - 2, 1, maxU - 3}}, maxU - 3, v6},
		{"v6-48", []FamilyUsage{{v6, netip.MustParsePrefix("fd00:20::/48"), maxU, 1, maxU - 1}}, maxU - 1, v6},
		{"dual-v4-short", []FamilyUsage{
			{v4, netip.MustParsePrefix("10.80.0.0/28"), 13, 2, 11},
			{v6, netip.MustParsePrefix("fd00:80::/120"), 253, 2, 251},
		}, 11, v4},
		{"dual-v6-short", []FamilyUsage{
			{v4, netip.MustParsePrefix("10.81.0.0/24"), 253, 1, 252},
			{v6, netip.MustParsePrefix("fd00:81::/124"), 13, 1, 12},
		}, 12, v6},
		{"p31", []FamilyUsage{{v4, netip.MustParsePrefix("10.90.0.0/31"), 1, 1, 0}}, 0, v4},
		{"p32", []FamilyUsage{{v4, netip.MustParsePrefix("10.91.0.7/32"), 0, 0, 0}}, 0, v4},
		{"static-excluded", []FamilyUsage{{v4, netip.MustParsePrefix("10.72.0.0/24"), 242, 1, 241}}, 241, v4},
		{"gateway", []FamilyUsage{{v4, netip.MustParsePrefix("10.73.0.0/24"), 249, 2, 247}}, 247, v4},
		{"stale", []FamilyUsage{{v4, netip.MustParsePrefix("10.74.0.0/24"), 248, 1, 247}}, 247, v4},
		{"over", []FamilyUsage{{v4, netip.MustParsePrefix("10.75.0.0/30"), 1, 2, 0}}, 0, v4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sn := exhRecord(t, s, tc.name)
			var got []FamilyUsage
			s.Read(func(r inventory.Reader) { got = Usage(r, sn) })
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Usage = %+v\nwant    %+v", got, tc.want)
			}
			if a, f := Available(got); a != tc.available || f != tc.limit {
				t.Errorf("Available = %d %s, want %d %s", a, f, tc.available, tc.limit)
			}
		})
	}

	t.Run("no block", func(t *testing.T) {
		t.Parallel()
		sn := inventory.NewSubnetRecord(subnet("bad", "nonsense"), "ovn-cluster")
		s.Read(func(r inventory.Reader) {
			if got := Usage(r, sn); got != nil {
				t.Errorf("Usage = %v, want nil", got)
			}
		})
		if a, f := Available(nil); a != 0 || f != 0 {
			t.Errorf("Available(nil) = %d %v", a, f)
		}
	})
}

func TestThresholdsLevel(t *testing.T) {
	t.Parallel()
	th := settings.DefaultThresholds()
	if th != (settings.Thresholds{Warning: 10, Critical: 5}) {
		t.Fatalf("DefaultThresholds = %+v", th)
	}
	for _, tc := range []struct {
		available uint64
		want      settings.Level
	}{
		{math.MaxUint64, ""}, {11, ""}, {10, settings.LevelWarning}, {6, settings.LevelWarning},
		{5, settings.LevelCritical}, {1, settings.LevelCritical}, {0, settings.LevelExhausted},
	} {
		if got := th.Level(tc.available); got != tc.want {
			t.Errorf("Level(%d) = %q, want %q", tc.available, got, tc.want)
		}
	}
	if got := (settings.Thresholds{}).Level(1); got != "" {
		t.Errorf("zero thresholds: Level(1) = %q", got)
	}
}

// exhFixture is a default VPC with neighbours, a custom VPC, a node and a
// join CIDR not backed by a stored subnet (so only Defaults can block).
func exhFixture() *inventory.Store {
	s := inventory.New("ovn-cluster")
	s.UpsertSubnet(subnet("ovn-default", "10.16.0.0/16", func(s *kubeovnv1.Subnet) { s.Spec.Gateway = "10.16.0.1" }))
	s.UpsertSubnet(subnet("tenant-a", "10.70.0.0/24"))
	s.UpsertSubnet(subnet("tenant-b", "10.70.2.0/24"))
	s.UpsertSubnet(subnet("left", "10.60.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Namespaces = []string{"team"} }))
	s.UpsertSubnet(subnet("right", "10.60.1.0/24"))
	s.UpsertSubnet(subnet("upper", "10.61.1.0/24"))
	s.UpsertSubnet(subnet("upper-gw", "10.61.3.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Gateway = "10.61.3.1" }))
	s.UpsertSubnet(subnet("vpc1-a", "10.60.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "vpc1" }))
	s.UpsertSubnet(subnet("vlan-a", "10.60.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vlan = "vlan10" }))
	s.UpsertSubnet(subnet("near-join", "100.65.0.0/16"))
	s.UpsertSubnet(subnet("vpc1-near-join", "100.65.0.0/16", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "vpc1" }))
	s.UpsertSubnet(subnet("near-svc", "10.96.0.0/16"))
	s.UpsertSubnet(subnet("near-node", "172.18.1.0/24"))
	s.UpsertSubnet(subnet("underlay-near-node", "172.18.1.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vlan = "vlan20" }))
	s.UpsertSubnet(subnet("near-linklocal", "169.255.0.0/16"))
	s.UpsertSubnet(subnet("p31", "10.90.0.0/31"))
	s.UpsertSubnet(subnet("p32", "10.91.0.7/32"))
	s.UpsertSubnet(subnet("v6", "fd00:60::/120"))
	s.UpsertSubnet(subnet("v6-64", "fd00:61::/64"))
	s.UpsertSubnet(subnet("v6-64-upper", "fd00:62:0:1::/64"))
	s.UpsertNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.18.0.2"}}}})
	return s
}

func exhDefaults() settings.Defaults {
	d := settings.FreshInstall()
	d.ServiceCIDR = []netip.Prefix{netip.MustParsePrefix("10.97.0.0/16")}
	return d
}

func TestRemedy(t *testing.T) {
	t.Parallel()
	s := exhFixture()
	d := exhDefaults()
	cases := []struct {
		subnet string
		family ipam.Family
		want   string
	}{
		{"tenant-a", ipam.IPv4, "expand 10.70.0.0/24 to 10.70.0.0/23 (256 more addresses)"},
		{"left", ipam.IPv4, "10.60.0.0/24 cannot grow (10.60.0.0/23 would overlap subnet right 10.60.1.0/24 in vpc ovn-cluster); create another subnet bound to the same namespaces, e.g. 10.60.2.0/24 (253 more addresses, free in vpc ovn-cluster)"},
		{"right", ipam.IPv4, "10.60.1.0/24 cannot grow (10.60.0.0/23 would overlap subnet left 10.60.0.0/24 in vpc ovn-cluster); create another subnet, e.g. 10.60.2.0/24 (253 more addresses, free in vpc ovn-cluster)"},
		// The same range elsewhere: other VPCs and VLANs are other address spaces.
		{"vpc1-a", ipam.IPv4, "expand 10.60.0.0/24 to 10.60.0.0/23 (256 more addresses)"},
		{"vlan-a", ipam.IPv4, "expand 10.60.0.0/24 to 10.60.0.0/23 (256 more addresses)"},
		// The network address moves: the defaulted gateway would move too.
		{"upper", ipam.IPv4, "expand 10.61.1.0/24 to 10.61.0.0/23 (256 more addresses; set spec.gateway to keep 10.61.1.1)"},
		{"upper-gw", ipam.IPv4, "expand 10.61.3.0/24 to 10.61.2.0/23 (256 more addresses)"},
		{"near-join", ipam.IPv4, "100.65.0.0/16 cannot grow (100.64.0.0/15 would overlap the join subnet CIDR 100.64.0.0/16); create another subnet, e.g. 100.66.0.0/16 (65533 more addresses, free in vpc ovn-cluster)"},
		{"vpc1-near-join", ipam.IPv4, "expand 100.65.0.0/16 to 100.64.0.0/15 (65536 more addresses; set spec.gateway to keep 100.65.0.1)"},
		{"near-svc", ipam.IPv4, "10.96.0.0/16 cannot grow (10.96.0.0/15 would overlap the service CIDR 10.97.0.0/16); create another subnet, e.g. 10.98.0.0/16 (65533 more addresses, free in vpc ovn-cluster)"},
		{"near-node", ipam.IPv4, "172.18.1.0/24 cannot grow (172.18.0.0/23 would contain the InternalIP of node node1 (172.18.0.2)); create another subnet, e.g. 172.18.2.0/24 (253 more addresses, free in vpc ovn-cluster)"},
		{"underlay-near-node", ipam.IPv4, "expand 172.18.1.0/24 to 172.18.0.0/23 (256 more addresses; set spec.gateway to keep 172.18.1.1)"},
		{"near-linklocal", ipam.IPv4, "169.255.0.0/16 cannot grow (169.254.0.0/15: contains the link-local range 169.254.0.0/16, which cannot be part of a subnet); create another subnet, e.g. 169.252.0.0/16 (65533 more addresses, free in vpc ovn-cluster)"},
		// A /31 grown to a /30 gains nothing; the /29 is the first gain.
		{"p31", ipam.IPv4, "expand 10.90.0.0/31 to 10.90.0.0/29 (4 more addresses)"},
		{"p32", ipam.IPv4, "expand 10.91.0.7/32 to 10.91.0.6/31 (1 more address; set spec.gateway to keep 10.91.0.7)"},
		{"v6", ipam.IPv6, "expand fd00:60::/120 to fd00:60::/119 (256 more addresses)"},
		{"v6-64", ipam.IPv6, "expand fd00:61::/64 to fd00:61::/63 (at least 2^64 more addresses)"},
		{"v6-64-upper", ipam.IPv6, "expand fd00:62:0:1::/64 to fd00:62::/63 (at least 2^64 more addresses; set spec.gateway to keep fd00:62:0:1::1)"},
		{"tenant-a", ipam.IPv6, ""},
	}
	for _, tc := range cases {
		t.Run(tc.subnet+"/"+tc.family.String(), func(t *testing.T) {
			t.Parallel()
			sn := exhRecord(t, s, tc.subnet)
			s.Read(func(r inventory.Reader) {
				if got := Remedy(r, d, sn, tc.family); got != tc.want {
					t.Errorf("Remedy =\n  %s\nwant\n  %s", got, tc.want)
				}
			})
		})
	}
}

func TestSubnetExhaustion(t *testing.T) {
	t.Parallel()
	s := exhFixture()
	// tenant-a (/24, 253 usable) holds 245 addresses: 8 left.
	exhHold(s, "tenant-a", exhRange("10.70.0.2", 245)...)
	// small (/28, 13 usable) holds 10: 3 left.
	s.UpsertSubnet(subnet("small", "10.62.0.0/28"))
	exhHold(s, "small", exhRange("10.62.0.2", 10)...)
	d := exhDefaults()

	// levels builds a /28 subnet with the given number available.
	levels := func(name string, available int) *kubeovnv1.Subnet {
		obj := subnet(name, "10.63."+fmt.Sprint(available)+".0/28")
		s.UpsertSubnet(obj)
		exhHold(s, name, exhRange("10.63."+fmt.Sprint(available)+".2", 13-available)...)
		return obj
	}
	cases := []struct {
		name string
		th   settings.Thresholds
		obj  *kubeovnv1.Subnet
		want []want
	}{
		{name: "the brief's example", obj: subnet("tenant-a", "10.70.0.0/24"), want: []want{{policy.SubnetExhaustion, "spec.cidrBlock", []string{
			`Invalid value: "10.70.0.0/24": subnet tenant-a has 8 of 253 IPv4 addresses available (warning: <= 10); expand 10.70.0.0/24 to 10.70.0.0/23 (256 more addresses)`}}}},
		{name: "11 available", obj: levels("l11", 11)},
		{name: "10 available", obj: levels("l10", 10), want: []want{{policy.SubnetExhaustion, "spec.cidrBlock", []string{"has 10 of 13 IPv4 addresses available (warning: <= 10); expand 10.63.10.0/28 to 10.63.10.0/27 (16 more addresses)"}}}},
		{name: "6 available", obj: levels("l6", 6), want: []want{{policy.SubnetExhaustion, "spec.cidrBlock", []string{"has 6 of 13 IPv4 addresses available (warning: <= 10)"}}}},
		{name: "5 available", obj: levels("l5", 5), want: []want{{policy.SubnetExhaustion, "spec.cidrBlock", []string{"has 5 of 13 IPv4 addresses available (critical: <= 5)"}}}},
		{name: "1 available", obj: levels("l1", 1), want: []want{{policy.SubnetExhaustion, "spec.cidrBlock", []string{"has 1 of 13 IPv4 addresses available (critical: <= 5)"}}}},
		{name: "0 available", obj: levels("l0", 0), want: []want{{policy.SubnetExhaustion, "spec.cidrBlock", []string{"has 0 of 13 IPv4 addresses available (exhausted)"}}}},
		// The candidate spec is judged, not the stored one.
		{name: "stored small, expanded candidate", obj: subnet("small", "10.62.0.0/27")},
		{name: "candidate excludes free addresses", obj: subnet("tenant-a", "10.70.0.0/23", func(s *kubeovnv1.Subnet) {
			s.Spec.ExcludeIps = []string{"10.70.1.0..10.70.1.253"}
		}), want: []want{{policy.SubnetExhaustion, "spec.cidrBlock", []string{"has 10 of 255 IPv4 addresses available (warning: <= 10)"}}}},
		{name: "new subnet, nothing held", obj: subnet("fresh", "10.64.0.0/28")},
		{name: "new /29 is born under the threshold", obj: subnet("fresh", "10.64.0.0/29"), want: []want{{policy.SubnetExhaustion, "spec.cidrBlock", []string{
			"subnet fresh has 5 of 5 IPv4 addresses available (critical: <= 5); expand 10.64.0.0/29 to 10.64.0.0/28 (8 more addresses)"}}}},
		// The remedy aims above the warning threshold: with warning 300 the
		// /23 is not enough and the /22 is taken by tenant-b.
		{name: "remedy short of the goal", th: settings.Thresholds{Warning: 300, Critical: 5}, obj: subnet("tenant-a", "10.70.0.0/24"), want: []want{{policy.SubnetExhaustion, "spec.cidrBlock", []string{
			"(warning: <= 300); expand 10.70.0.0/24 to 10.70.0.0/23 (256 more addresses); 10.70.0.0/22 would overlap subnet tenant-b 10.70.2.0/24 in vpc ovn-cluster; for more room create another subnet, e.g. 10.70.3.0/24 (253 more addresses, free in vpc ovn-cluster)"}}}},
		{name: "remedy that reaches the goal skips a step", th: settings.Thresholds{Warning: 300, Critical: 5}, obj: subnet("small", "10.62.0.0/28"), want: []want{{policy.SubnetExhaustion, "spec.cidrBlock", []string{
			"(critical: <= 5); expand 10.62.0.0/28 to 10.62.0.0/23 (496 more addresses)"}}}},
		{name: "dual stack reports the limiting family", th: settings.Thresholds{Warning: 13, Critical: 1}, obj: subnet("dual-new", "10.65.0.0/24,fd00:65::/124"), want: []want{{policy.SubnetExhaustion, "spec.cidrBlock", []string{
			"subnet dual-new has 13 of 13 IPv6 addresses available"}}}},
		{name: "unusable cidr is the syntax rule's business", obj: subnet("fresh", "nonsense")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			th := tc.th
			if th == (settings.Thresholds{}) {
				th = settings.DefaultThresholds()
			}
			var got []policy.Finding
			s.Read(func(r inventory.Reader) { got = SubnetExhaustion(cxt(r, d, th), nil, tc.obj).Findings })
			check(t, got, tc.want)
			for _, f := range got {
				if f.Err.Type != field.ErrorTypeInvalid || f.Err.BadValue != tc.obj.Spec.CIDRBlock {
					t.Errorf("want field.Invalid with the cidr, got %s %v", f.Err.Type, f.Err.BadValue)
				}
			}
		})
	}
}

func TestPodExhaustion(t *testing.T) {
	t.Parallel()
	s := exhFixture()
	d := exhDefaults()
	// avail<n>: a /28 (13 usable) with n available.
	for _, n := range []int{12, 11, 6, 3, 1, 0} {
		name := fmt.Sprintf("avail%d", n)
		s.UpsertSubnet(subnet(name, fmt.Sprintf("10.66.%d.0/28", n)))
		exhHold(s, name, exhRange(fmt.Sprintf("10.66.%d.2", n), 13-n)...)
	}
	s.UpsertSubnet(subnet("dual", "10.67.0.0/24,fd00:67::/124"))
	exhHold(s, "dual", "10.67.0.2,fd00:67::2", "10.67.0.3,fd00:67::3", "10.67.0.4,fd00:67::4")

	annotationsPath := field.NewPath("metadata", "annotations")
	metaPath := field.NewPath("metadata")
	cases := []struct {
		name   string
		subnet string
		need   uint64
		path   *field.Path
		want   []want
	}{
		{name: "12 left, one pod", subnet: "avail12", need: 1, path: annotationsPath},
		{name: "11 left, one pod", subnet: "avail11", need: 1, path: annotationsPath, want: []want{{policy.PodSubnetExhausted, "metadata.annotations", []string{
			`Invalid value: "avail11": subnet avail11 will have 10 of 13 IPv4 addresses available after this pod (warning: <= 10); expand 10.66.11.0/28 to 10.66.11.0/27 (16 more addresses)`}}}},
		{name: "6 left, one pod", subnet: "avail6", need: 1, path: metaPath, want: []want{{policy.PodSubnetExhausted, "metadata", []string{
			"will have 5 of 13 IPv4 addresses available after this pod (critical: <= 5)"}}}},
		{name: "1 left, one pod", subnet: "avail1", need: 1, path: metaPath, want: []want{{policy.PodSubnetExhausted, "metadata", []string{
			"will have 0 of 13 IPv4 addresses available after this pod (exhausted)"}}}},
		{name: "none left, one pod", subnet: "avail0", need: 1, path: annotationsPath, want: []want{{policy.PodSubnetExhausted, "metadata.annotations", []string{
			`subnet avail0 has no IPv4 address left (0 of 13 available); the pod will hang in ContainerCreating with "Failed to allocate IP"; expand 10.66.0.0/28 to 10.66.0.0/27 (16 more addresses)`}}}},
		{name: "none left, a scale of 4", subnet: "avail0", need: 4, path: metaPath, want: []want{{policy.PodSubnetExhausted, "metadata", []string{
			`all 4 pods will hang in ContainerCreating with "Failed to allocate IP"`}}}},
		{name: "need more than available", subnet: "avail3", need: 5, path: metaPath, want: []want{{policy.PodSubnetExhausted, "metadata", []string{
			`subnet avail3 has 3 of 13 IPv4 addresses available but 5 are needed; 2 pods will hang in ContainerCreating with "Failed to allocate IP"; expand 10.66.3.0/28 to 10.66.3.0/27 (16 more addresses)`}}}},
		{name: "a scale that lands on the warning", subnet: "avail12", need: 2, path: metaPath, want: []want{{policy.PodSubnetExhausted, "metadata", []string{
			"will have 10 of 13 IPv4 addresses available after these 2 pods (warning: <= 10)"}}}},
		// The remedy aims above the threshold after the request: 20 pods
		// on 12 left need 19 more, which a /27 (16 more) does not give.
		{name: "remedy sized for the request", subnet: "avail12", need: 20, path: metaPath, want: []want{{policy.PodSubnetExhausted, "metadata", []string{
			"8 pods will hang", "expand 10.66.12.0/28 to 10.66.12.0/26 (48 more addresses)"}}}},
		{name: "dual stack takes the smaller family", subnet: "dual", need: 1, path: metaPath, want: []want{{policy.PodSubnetExhausted, "metadata", []string{
			"subnet dual will have 9 of 13 IPv6 addresses available after this pod (warning: <= 10); expand fd00:67::/124 to fd00:67::/123 (16 more addresses)"}}}},
		{name: "need 0 takes nothing", subnet: "avail0", need: 0, path: metaPath},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sn := exhRecord(t, s, tc.subnet)
			var got []policy.Finding
			s.Read(func(r inventory.Reader) {
				got = PodExhaustion(cxt(r, d, settings.DefaultThresholds()), sn, tc.need, tc.path, sn.Name)
			})
			check(t, got, tc.want)
			for _, f := range got {
				if f.Err.Type != field.ErrorTypeInvalid || f.Err.BadValue != tc.subnet {
					t.Errorf("want field.Invalid with the subnet name, got %s %v", f.Err.Type, f.Err.BadValue)
				}
			}
		})
	}
}

// BenchmarkExhaustion shows that the cost does not grow with the cluster:
// 4,000 subnets and 200,000 held addresses around the judged one.
func BenchmarkExhaustion(b *testing.B) {
	s := inventory.New("ovn-cluster")
	for i := range 4000 {
		name := fmt.Sprintf("s%d", i)
		s.UpsertSubnet(subnet(name, fmt.Sprintf("10.%d.%d.0/24", 100+i/256, i%256), func(s *kubeovnv1.Subnet) {
			s.Spec.ExcludeIps = []string{fmt.Sprintf("10.%d.%d.240..10.%d.%d.250", 100+i/256, i%256, 100+i/256, i%256)}
		}))
		exhHold(s, name, exhRange(fmt.Sprintf("10.%d.%d.2", 100+i/256, i%256), 50)...)
	}
	sn := exhRecord(&testing.T{}, s, "s1000")
	d := exhDefaults()
	th := settings.DefaultThresholds()
	p := field.NewPath("metadata")
	s.Read(func(r inventory.Reader) {
		b.Run("Usage", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Usage(r, sn)
			}
		})
		b.Run("Remedy", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Remedy(r, d, sn, ipam.IPv4)
			}
		})
		b.Run("PodExhaustion/quiet", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				PodExhaustion(cxt(r, d, th), sn, 1, p, sn.Name)
			}
		})
	})
}
