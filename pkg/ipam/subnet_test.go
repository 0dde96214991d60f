package ipam

import (
	"math"
	"net/netip"
	"slices"
	"testing"

	"go4.org/netipx"
)

func rangesString(rr []netipx.IPRange) []string {
	var out []string
	for _, r := range rr {
		out = append(out, r.String())
	}
	return out
}

func TestNewExcludeSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		entries  []string
		cidr     string
		gateways []string
		want     []string
	}{
		{"empty", nil, "10.16.0.0/16", nil, nil},
		{"gateway only", nil, "10.16.0.0/16", []string{"10.16.0.1"}, []string{"10.16.0.1-10.16.0.1"}},
		{"merge overlapping and touching", []string{"10.16.0.5..10.16.0.9", "10.16.0.8..10.16.0.12", "10.16.0.13", "10.16.0.20"}, "10.16.0.0/16", []string{"10.16.0.1"},
			[]string{"10.16.0.1-10.16.0.1", "10.16.0.5-10.16.0.13", "10.16.0.20-10.16.0.20"}},
		{"clip to block", []string{"10.15.255.250..10.16.0.3", "10.16.255.250..10.17.0.9", "192.168.0.1", "fd00::1"}, "10.16.0.0/16", nil,
			[]string{"10.16.0.0-10.16.0.3", "10.16.255.250-10.16.255.255"}},
		{"gateway outside dropped", nil, "10.16.0.0/16", []string{"10.17.0.1"}, nil},
		{"skip malformed, tolerate spaces", []string{"bogus", "10.16.0.9..10.16.0.5", "10.16.0.0/24", " 10.16.0.7 ", "10.16.0.8..fd00::1", ""}, "10.16.0.0/16", nil,
			[]string{"10.16.0.7-10.16.0.7"}},
		{"dual stack", []string{"fd00::5..fd00::7", "10.16.0.5"}, "10.16.0.0/16,fd00::/64", []string{"10.16.0.1", "fd00::1"},
			[]string{"10.16.0.1-10.16.0.1", "10.16.0.5-10.16.0.5", "fd00::1-fd00::1", "fd00::5-fd00::7"}},
		{"no blocks", []string{"10.16.0.5"}, "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var blocks []netip.Prefix
			if tt.cidr != "" {
				blocks = mustBlocks(t, tt.cidr)
			}
			var gws []netip.Addr
			for _, g := range tt.gateways {
				gws = append(gws, netip.MustParseAddr(g))
			}
			s := NewExcludeSet(tt.entries, blocks, gws)
			if got := rangesString(s.Ranges()); !slices.Equal(got, tt.want) {
				t.Fatalf("Ranges = %v, want %v", got, tt.want)
			}
			for _, r := range s.Ranges() {
				if !s.Contains(r.From()) || !s.Contains(r.To()) {
					t.Errorf("Contains(%s) = false", r)
				}
			}
		})
	}
	var zero ExcludeSet
	if zero.Contains(netip.MustParseAddr("10.0.0.1")) || zero.CountIn(netip.MustParsePrefix("10.0.0.0/8")) != 0 || zero.Ranges() != nil {
		t.Error("zero ExcludeSet is not empty")
	}
}

func TestExcludeSetCountIn(t *testing.T) {
	t.Parallel()
	blocks := mustBlocks(t, "10.16.0.0/16,fd00::/64")
	s := NewExcludeSet([]string{"10.16.0.0..10.16.0.10", "10.16.255.250..10.16.255.255", "fd00::..fd00::ffff:ffff:ffff:ffff"}, blocks, nil)
	tests := []struct {
		prefix string
		want   uint64
	}{
		{"10.16.0.0/16", 10 + 5}, // network and broadcast are not allocatable
		{"10.16.0.0/28", 10},     // 10.16.0.1..10.16.0.10 inside .1-.14
		{"10.16.0.0/31", 2},      // /31: both addresses count
		{"10.16.0.4/32", 1},      // /32
		{"10.17.0.0/16", 0},      // elsewhere
		{"fd00::/64", math.MaxUint64 - 1},
		{"fd00::/120", 254},
		{"fd00::/63", math.MaxUint64}, // fd00::1..fd00::ffff:ffff:ffff:ffff is 2^64-1 addresses
	}
	for _, tt := range tests {
		if got := s.CountIn(netip.MustParsePrefix(tt.prefix)); got != tt.want {
			t.Errorf("CountIn(%s) = %d, want %d", tt.prefix, got, tt.want)
		}
	}
}

func TestNewSubnet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cidr, gw  string
		exclude   []string
		blocks    []string
		gateways  []string
		capacity4 uint64
		capacity6 uint64
	}{
		{"ipv4 default gateway", "10.16.0.0/16", "", nil, []string{"10.16.0.0/16"}, []string{"10.16.0.1"}, 65533, 0},
		{"spec example", "10.16.0.0/16", "10.16.0.1", []string{"10.16.0.1..10.16.0.10"}, []string{"10.16.0.0/16"}, []string{"10.16.0.1"}, 65534 - 10, 0},
		{"dual stack", "10.16.0.0/16,fd00:10:16::/64", "10.16.0.1,fd00:10:16::1", nil,
			[]string{"10.16.0.0/16", "fd00:10:16::/64"}, []string{"10.16.0.1", "fd00:10:16::1"}, 65533, math.MaxUint64 - 2},
		{"v6 first is reordered", "fd00::/120 , 10.0.0.0/24", "fd00::fe,10.0.0.254", nil,
			[]string{"10.0.0.0/24", "fd00::/120"}, []string{"10.0.0.254", "fd00::fe"}, 253, 253},
		{"host bits masked", "10.16.0.5/16", "", nil, []string{"10.16.0.0/16"}, []string{"10.16.0.1"}, 65533, 0},
		{"bad elements ignored", "bogus,10.0.0.0/24,10.1.0.0/24,fd00::/64%x", "x", nil, []string{"10.0.0.0/24"}, []string{"10.0.0.1"}, 253, 0},
		{"gateway outside defaults", "10.0.0.0/24", "10.9.9.9", nil, []string{"10.0.0.0/24"}, []string{"10.0.0.1"}, 253, 0},
		{"one gateway for dual stack", "10.0.0.0/24,fd00::/120", "fd00::9", nil, []string{"10.0.0.0/24", "fd00::/120"}, []string{"10.0.0.1", "fd00::9"}, 253, 253},
		{"/31", "10.0.0.0/31", "", nil, []string{"10.0.0.0/31"}, []string{"10.0.0.0"}, 1, 0},
		{"/32", "10.0.0.7/32", "", nil, []string{"10.0.0.7/32"}, []string{"10.0.0.7"}, 0, 0},
		{"/127", "fd00::/127", "fd00::1", nil, []string{"fd00::/127"}, []string{"fd00::1"}, 0, 1},
		{"/63 saturates", "fd00::/63", "", []string{"fd00::2..fd00::9"}, []string{"fd00::/63"}, []string{"fd00::1"}, 0, math.MaxUint64},
		{"/63 minus 2^64 exact", "fd00::/63", "", []string{"fd00::..fd00:0:0:1::"}, []string{"fd00::/63"}, []string{"fd00::1"}, 0, math.MaxUint64 - 1},
		{"fully excluded", "10.0.0.0/30", "", []string{"10.0.0.0..10.0.0.3"}, []string{"10.0.0.0/30"}, []string{"10.0.0.1"}, 0, 0},
		{"empty", "", "", []string{"10.0.0.1"}, nil, nil, 0, 0},
		{"mapped ignored", "::ffff:10.0.0.0/120", "", nil, nil, nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewSubnet(tt.cidr, tt.gw, tt.exclude)
			var blocks, gws []string
			for _, p := range s.Blocks {
				blocks = append(blocks, p.String())
			}
			for _, a := range s.Gateways {
				gws = append(gws, a.String())
			}
			if !slices.Equal(blocks, tt.blocks) || !slices.Equal(gws, tt.gateways) {
				t.Fatalf("blocks %v gateways %v, want %v %v", blocks, gws, tt.blocks, tt.gateways)
			}
			if got := s.Capacity(IPv4); got != tt.capacity4 {
				t.Errorf("Capacity(IPv4) = %d, want %d", got, tt.capacity4)
			}
			if got := s.Capacity(IPv6); got != tt.capacity6 {
				t.Errorf("Capacity(IPv6) = %d, want %d", got, tt.capacity6)
			}
			for i, p := range s.Blocks {
				f := FamilyOfPrefix(p)
				if b, ok := s.Block(f); !ok || b != p {
					t.Errorf("Block(%v) = %v, %v", f, b, ok)
				}
				if g, ok := s.Gateway(f); !ok || g != s.Gateways[i] {
					t.Errorf("Gateway(%v) = %v, %v", f, g, ok)
				}
			}
		})
	}
}

func TestSubnetAllocatable(t *testing.T) {
	t.Parallel()
	s := NewSubnet("10.16.0.0/16,fd00:10:16::/64", "10.16.0.1,fd00:10:16::1", []string{"10.16.0.5..10.16.0.9", "fd00:10:16::5", "192.168.0.1"})
	tests := []struct {
		addr   string
		ok     bool
		reason string
	}{
		{"10.16.0.2", true, ""},
		{"10.16.255.254", true, ""},
		{"10.16.0.10", true, ""},
		{"fd00:10:16::2", true, ""},
		{"fd00:10:16::ffff:ffff:ffff:fffe", true, ""},
		{"10.17.0.1", false, "outside 10.16.0.0/16"},
		{"192.168.0.1", false, "outside 10.16.0.0/16"},
		{"fd00:10:17::1", false, "outside fd00:10:16::/64"},
		{"::ffff:10.16.0.2", false, "outside fd00:10:16::/64"},
		{"10.16.0.0", false, "the network address of 10.16.0.0/16"},
		{"10.16.255.255", false, "the broadcast address of 10.16.0.0/16"},
		{"fd00:10:16::", false, "the network address of fd00:10:16::/64"},
		{"fd00:10:16::ffff:ffff:ffff:ffff", false, "the broadcast address of fd00:10:16::/64"},
		{"10.16.0.1", false, "the gateway"},
		{"fd00:10:16::1", false, "the gateway"},
		{"10.16.0.5", false, "excluded by excludeIps"},
		{"10.16.0.9", false, "excluded by excludeIps"},
		{"fd00:10:16::5", false, "excluded by excludeIps"},
		{"fd00:10:16::5%eth0", false, "an address with a zone"},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		ok, reason := s.Allocatable(a)
		if ok != tt.ok || reason != tt.reason {
			t.Errorf("Allocatable(%s) = %v, %q; want %v, %q", tt.addr, ok, reason, tt.ok, tt.reason)
		}
		if inside := s.Contains(a); inside != (tt.ok || (tt.reason != "" && tt.reason[:7] != "outside" && a.Zone() == "")) {
			t.Errorf("Contains(%s) = %v", tt.addr, inside)
		}
	}
	v4 := NewSubnet("10.0.0.0/24", "", nil)
	if ok, reason := v4.Allocatable(netip.MustParseAddr("fd00::1")); ok || reason != "not in an IPv6 block of the subnet" {
		t.Errorf("v6 address in v4 subnet: %v %q", ok, reason)
	}
	if ok, reason := v4.Allocatable(netip.Addr{}); ok || reason != "not a valid IP address" {
		t.Errorf("zero address: %v %q", ok, reason)
	}
	if _, ok := v4.Gateway(IPv6); ok {
		t.Error("Gateway(IPv6) found in a v4 subnet")
	}
	// /31 and /32: every address is allocatable except the gateway.
	p2p := NewSubnet("10.0.0.0/31", "10.0.0.1", nil)
	if ok, reason := p2p.Allocatable(netip.MustParseAddr("10.0.0.0")); !ok {
		t.Errorf("/31 network: %q", reason)
	}
	if ok, reason := p2p.Allocatable(netip.MustParseAddr("10.0.0.1")); ok || reason != "the gateway" {
		t.Errorf("/31 gateway: %v %q", ok, reason)
	}
}
