package ipam

import (
	"net/netip"
	"testing"
)

func TestFamilyOfIndex(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr   netip.Addr
		family Family
		index  int
	}{
		{netip.MustParseAddr("10.16.0.1"), IPv4, 0},
		{netip.MustParseAddr("0.0.0.0"), IPv4, 0},
		{netip.MustParseAddr("fd00::1"), IPv6, 1},
		{netip.MustParseAddr("::"), IPv6, 1},
		// IPv4-mapped IPv6 is IPv6, as in net/netip.
		{netip.MustParseAddr("::ffff:10.16.0.1"), IPv6, 1},
		{netip.MustParseAddr("fe80::1%eth0"), IPv6, 1},
		// The zero Addr has no family and lands in slot 0.
		{netip.Addr{}, 0, 0},
	} {
		f := FamilyOf(tc.addr)
		if f != tc.family || f.Index() != tc.index {
			t.Errorf("FamilyOf(%v) = %v (index %d), want %v (index %d)", tc.addr, f, f.Index(), tc.family, tc.index)
		}
	}
}

func TestProtocol(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		blocks []string
		want   string
	}{
		{[]string{"10.16.0.0/16"}, "IPv4"},
		{[]string{"fd00:10:16::/64"}, "IPv6"},
		{[]string{"10.16.0.0/16", "fd00:10:16::/64"}, "Dual"},
		{[]string{"::ffff:10.0.0.0/104"}, "IPv6"},
		{nil, "IPv6"},
	} {
		var blocks []netip.Prefix
		for _, b := range tc.blocks {
			blocks = append(blocks, netip.MustParsePrefix(b))
		}
		if got := Protocol(blocks); got != tc.want {
			t.Errorf("Protocol(%v) = %q, want %q", tc.blocks, got, tc.want)
		}
	}
}
