package validate

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go4.org/netipx"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

func inVPC(vpc string) func(*kubeovnv1.Subnet) {
	return func(s *kubeovnv1.Subnet) { s.Spec.Vpc = vpc }
}

func exhNode(s *inventory.Store, name, addr string) {
	s.UpsertNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: addr}}}})
}

// exhFill adds a subnet of length bits for every block of that length in
// within except those listed in skip, in vpc.
func exhFill(s *inventory.Store, vpc, within string, bits int, skip ...string) {
	w := netip.MustParsePrefix(within)
	for p, ok := netip.PrefixFrom(w.Addr(), bits), true; ok && w.Contains(p.Addr()); p, ok = ipam.AlignedAtOrAfter(netipx.PrefixLastIP(p).Next(), bits) {
		if !slices.Contains(skip, p.String()) {
			s.UpsertSubnet(subnet("fill-"+strings.NewReplacer(".", "-", "/", "-", ":", "-").Replace(p.String()), p.String(), inVPC(vpc)))
		}
	}
}

func TestRemedyFreeBlock(t *testing.T) {
	t.Parallel()
	s := inventory.New("ovn-cluster")
	// Expansion free.
	s.UpsertSubnet(subnet("alone", "10.71.8.0/28"))
	// Expansion blocked by a neighbour.
	s.UpsertSubnet(subnet("team-a", "10.71.0.0/28", func(s *kubeovnv1.Subnet) { s.Spec.Namespaces = []string{"a"} }))
	s.UpsertSubnet(subnet("team-b", "10.71.0.16/28"))
	// A /16 full of /24s but for one hole, in its own VPC.
	exhFill(s, "holes", "10.72.0.0/16", 24, "10.72.5.0/24", "10.72.200.0/24")
	s.UpsertSubnet(subnet("holed", "10.72.5.0/24", inVPC("holes")))
	// The join CIDR and node addresses next to a subnet of the default VPC.
	s.UpsertSubnet(subnet("by-join", "100.64.0.0/24"))
	s.UpsertSubnet(subnet("by-join-peer", "100.64.1.0/24"))
	s.UpsertSubnet(subnet("by-join-ul", "100.64.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vlan = "vlan7" }))
	s.UpsertSubnet(subnet("by-join-ul-peer", "100.64.1.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vlan = "vlan7" }))
	exhNode(s, "node-a", "100.64.4.5")
	// 192.168.0.0/16 full around a subnet: nothing free in its private range.
	s.UpsertSubnet(subnet("home", "192.168.0.0/24", inVPC("full")))
	for i := 24; i >= 17; i-- {
		p, _ := ipam.Sibling(netip.PrefixFrom(netip.MustParseAddr("192.168.0.0"), i))
		s.UpsertSubnet(subnet(fmt.Sprintf("full-%d", i), p.String(), inVPC("full")))
	}
	// A /16 of /28s whose only hole lies beyond the visit bound.
	exhFill(s, "dense", "10.74.0.0/16", 28, "10.74.0.0/28", "10.74.255.240/28")
	s.UpsertSubnet(subnet("dense-a", "10.74.0.0/28", inVPC("dense")))
	// IPv6.
	s.UpsertSubnet(subnet("v6-a", "fd00:71::/120"))
	s.UpsertSubnet(subnet("v6-b", "fd00:71::100/120"))

	d := exhDefaults()
	d.JoinCIDR = []netip.Prefix{netip.MustParsePrefix("100.64.2.0/23")}

	cases := []struct {
		name, subnet string
		family       ipam.Family
		want         uint64
		text         string
	}{
		{"expansion free", "alone", ipam.IPv4, 8,
			"expand 10.71.8.0/28 to 10.71.8.0/27 (16 more addresses)"},
		{"blocked by a neighbour", "team-a", ipam.IPv4, 8,
			"10.71.0.0/28 cannot grow (10.71.0.0/27 would overlap subnet team-b 10.71.0.16/28 in vpc ovn-cluster); create another subnet bound to the same namespaces, e.g. 10.71.0.32/28 (13 more addresses, free in vpc ovn-cluster)"},
		{"blocked, a larger block for a larger shortfall", "team-b", ipam.IPv4, 20,
			"10.71.0.16/28 cannot grow (10.71.0.0/27 would overlap subnet team-a 10.71.0.0/28 in vpc ovn-cluster); create another subnet, e.g. 10.71.0.32/27 (29 more addresses, free in vpc ovn-cluster)"},
		{"the one hole of a full /16", "holed", ipam.IPv4, 11,
			"10.72.5.0/24 cannot grow (10.72.4.0/23 would overlap subnet fill-10-72-4-0-24 10.72.4.0/24 in vpc holes); create another subnet, e.g. 10.72.200.0/24 (253 more addresses, free in vpc holes)"},
		// 100.64.2.0/23 is the join CIDR and 100.64.4.5 a node: the first
		// free /24 is 100.64.5.0/24.
		{"join CIDR and node next door", "by-join", ipam.IPv4, 11,
			"100.64.0.0/24 cannot grow (100.64.0.0/23 would overlap subnet by-join-peer 100.64.1.0/24 in vpc ovn-cluster); create another subnet, e.g. 100.64.5.0/24 (253 more addresses, free in vpc ovn-cluster)"},
		// Underlay subnets may hold nodes, never the join CIDR.
		{"underlay next to the join CIDR", "by-join-ul", ipam.IPv4, 11,
			"100.64.0.0/24 cannot grow (100.64.0.0/23 would overlap subnet by-join-ul-peer 100.64.1.0/24 in vpc ovn-cluster vlan vlan7); create another subnet, e.g. 100.64.4.0/24 (253 more addresses, free in vpc ovn-cluster vlan vlan7)"},
		{"nothing free in the private range", "home", ipam.IPv4, 11,
			"create another subnet: 192.168.0.0/24 cannot grow (192.168.0.0/23 would overlap subnet full-24 192.168.1.0/24 in vpc full)"},
		{"nothing free within the visit bound", "dense-a", ipam.IPv4, 11,
			"create another subnet: 10.74.0.0/28 cannot grow (10.74.0.0/27 would overlap subnet fill-10-74-0-16-28 10.74.0.16/28 in vpc dense)"},
		{"ipv6", "v6-a", ipam.IPv6, 11,
			"fd00:71::/120 cannot grow (fd00:71::/119 would overlap subnet v6-b fd00:71::100/120 in vpc ovn-cluster); create another subnet, e.g. fd00:71::200/120 (253 more addresses, free in vpc ovn-cluster)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sn := exhRecord(t, s, tc.subnet)
			s.Read(func(r inventory.Reader) {
				got := remedy(r, d, sn, tc.family, tc.want)
				if got != tc.text {
					t.Errorf("remedy =\n  %s\nwant\n  %s", got, tc.text)
				}
				if p, ok := proposed(got); ok {
					if why := notFree(r, d, sn, p); why != "" {
						t.Errorf("proposed %s is not free: %s", p, why)
					}
				}
			})
		})
	}
}

func TestExhaustionDualStackRemedies(t *testing.T) {
	t.Parallel()
	s := inventory.New("ovn-cluster")
	s.UpsertSubnet(subnet("v4-short", "10.73.0.0/28,fd00:73::/120"))
	s.UpsertSubnet(subnet("v4-peer", "10.73.0.16/28,fd00:74::/120"))
	exhHold(s, "v4-short", exhRange("10.73.0.2", 10)...)
	s.UpsertSubnet(subnet("both-short", "10.75.0.0/28,fd00:75::/124"))
	s.UpsertSubnet(subnet("both-peer", "10.75.0.16/28,fd00:75::10/124"))
	d := exhDefaults()

	var got []policy.Finding
	s.Read(func(r inventory.Reader) {
		got = SubnetExhaustion(cxt(r, d, settings.DefaultThresholds()), nil, subnet("v4-short", "10.73.0.0/28,fd00:73::/120")).Findings
	})
	check(t, got, []want{{policy.SubnetExhaustion, "spec.cidrBlock", []string{
		"subnet v4-short has 3 of 13 IPv4 addresses available (critical: <= 5); 10.73.0.0/28 cannot grow (10.73.0.0/27 would overlap subnet v4-peer 10.73.0.16/28 in vpc ovn-cluster); create another subnet, e.g. 10.73.0.32/28 (13 more addresses, free in vpc ovn-cluster)"}}})
	if _, fix, _ := strings.Cut(got[0].Err.Error(), "available"); strings.Contains(fix, "fd00:") {
		t.Errorf("the IPv6 family is not short: %s", got[0].Err.Error())
	}

	// Both families at or under the warning threshold: a fix for each,
	// IPv4 first.
	s.Read(func(r inventory.Reader) {
		got = SubnetExhaustion(cxt(r, d, settings.Thresholds{Warning: 13, Critical: 1}), nil, subnet("both-short", "10.75.0.0/28,fd00:75::/124")).Findings
	})
	check(t, got, []want{{policy.SubnetExhaustion, "spec.cidrBlock", []string{
		"subnet both-short has 13 of 13 IPv4 addresses available (warning: <= 13); " +
			"10.75.0.0/28 cannot grow (10.75.0.0/27 would overlap subnet both-peer 10.75.0.16/28 in vpc ovn-cluster); create another subnet, e.g. 10.75.0.32/28 (13 more addresses, free in vpc ovn-cluster); " +
			"fd00:75::/124 cannot grow (fd00:75::/123 would overlap subnet both-peer fd00:75::10/124 in vpc ovn-cluster); create another subnet, e.g. fd00:75::20/124 (13 more addresses, free in vpc ovn-cluster)"}}})
}

var proposedRE = regexp.MustCompile(`e\.g\. (\S+) \(`)

// proposed returns the free block a remedy names, if any.
func proposed(text string) (netip.Prefix, bool) {
	m := proposedRE.FindStringSubmatch(text)
	if m == nil {
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(m[1])
	return p, err == nil
}

// notFree says why p could not be a new subnet next to sn ("" when it can),
// asking the inventory's own overlap queries.
func notFree(r inventory.Reader, d settings.Defaults, sn *inventory.Subnet, p netip.Prefix) string {
	why := ""
	r.OverlappingSubnets(sn.Scope(), p, func(other *inventory.Subnet, b netip.Prefix) bool {
		if other.Name != sn.Name {
			why = fmt.Sprintf("overlaps subnet %s %s", other.Name, b)
			return false
		}
		return true
	})
	if why != "" {
		return why
	}
	for _, b := range sn.Spec.Blocks {
		if b.Overlaps(p) {
			return "overlaps the subnet itself " + b.String()
		}
	}
	if _, err := ipam.ParsePrefix(p.String()); err != nil {
		return err.Error()
	}
	if sn.VPC != r.DefaultVPC() {
		return ""
	}
	for _, x := range append(append([]netip.Prefix{}, d.JoinCIDR...), d.ServiceCIDR...) {
		if x.Overlaps(p) {
			return "overlaps " + x.String()
		}
	}
	if sn.VLAN == "" {
		r.NodeAddresses(p, func(node string, a netip.Addr) bool {
			why = fmt.Sprintf("contains node %s %s", node, a)
			return false
		})
	}
	return why
}

// TestRemedyProposesFreeBlocks checks, over a random default VPC crowded
// with subnets and nodes, that every block a remedy proposes is free by the
// inventory's own overlap queries.
func TestRemedyProposesFreeBlocks(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	s := inventory.New("ovn-cluster")
	d := settings.FreshInstall()
	d.ServiceCIDR = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}
	d.JoinCIDR = []netip.Prefix{netip.MustParsePrefix("10.3.0.0/20")}
	var names []string
	for i := range 3000 {
		bits := 20 + rng.IntN(9) // /20 … /28
		a := netip.AddrFrom4([4]byte{10, byte(rng.IntN(8)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		p := netip.PrefixFrom(a, bits).Masked()
		vlan := ""
		if rng.IntN(5) == 0 {
			vlan = "vlan1"
		}
		free := true
		s.Read(func(r inventory.Reader) {
			r.OverlappingSubnets(inventory.Scope{VPC: "ovn-cluster", VLAN: vlan}, p, func(*inventory.Subnet, netip.Prefix) bool {
				free = false
				return false
			})
		})
		if !free {
			continue
		}
		name := fmt.Sprintf("r%d", i)
		s.UpsertSubnet(subnet(name, p.String(), func(s *kubeovnv1.Subnet) {
			s.Spec.Vlan = vlan
			if rng.IntN(4) == 0 {
				s.Spec.Vpc = "ovn-cluster"
			}
		}))
		names = append(names, name)
	}
	for i := range 200 {
		exhNode(s, fmt.Sprintf("n%d", i), netip.AddrFrom4([4]byte{10, byte(rng.IntN(8)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))}).String())
	}
	found := 0
	s.Read(func(r inventory.Reader) {
		for _, name := range names {
			sn, _ := r.Subnet(name)
			want := uint64(1 + rng.IntN(5000))
			text := remedy(r, d, sn, ipam.IPv4, want)
			p, ok := proposed(text)
			if !ok {
				continue
			}
			found++
			if why := notFree(r, d, sn, p); why != "" {
				t.Errorf("%s: proposed %s is not free: %s\n%s", name, p, why, text)
			}
			block, _ := sn.Spec.Block(ipam.IPv4)
			if p.Bits() > block.Bits() {
				t.Errorf("%s: proposed %s is smaller than its block %s", name, p, block)
			}
		}
	})
	if found < len(names)/10 {
		t.Errorf("only %d of %d remedies name a free block", found, len(names))
	}
	t.Logf("%d subnets, %d remedies name a free block", len(names), found)
}

// BenchmarkRemedyFreeBlock runs the remedy at 10,000 subnets of one VPC:
// "near" finds a free block one level up, "dense" exhausts the visit bound
// in a region packed with subnets and falls back to the plain wording.
func BenchmarkRemedyFreeBlock(b *testing.B) {
	s := inventory.New("ovn-cluster")
	for i := range 10000 {
		s.UpsertSubnet(subnet(fmt.Sprintf("s%d", i), fmt.Sprintf("10.%d.%d.0/24", 100+i/256, i%256)))
	}
	// near: a /24 pair with free space next to it.
	s.UpsertSubnet(subnet("near", "10.200.0.0/24"))
	s.UpsertSubnet(subnet("near-peer", "10.200.1.0/24"))
	d := exhDefaults()
	s.Read(func(r inventory.Reader) {
		for _, name := range []string{"near", "s5000"} {
			sn, _ := r.Subnet(name)
			label := map[string]string{"near": "near", "s5000": "dense"}[name]
			b.Run(label, func(b *testing.B) {
				b.ReportAllocs()
				var text string
				for b.Loop() {
					text = remedy(r, d, sn, ipam.IPv4, 11)
				}
				b.Log(text)
			})
		}
	})
}
