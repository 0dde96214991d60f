package ipam

import (
	"math"
	"net/netip"
	"testing"

	"go4.org/netipx"
)

func TestSatAdd(t *testing.T) {
	t.Parallel()
	const max = math.MaxUint64
	for _, tc := range []struct{ a, b, want uint64 }{
		{0, 0, 0},
		{1, 2, 3},
		{max, 0, max},
		{0, max, max},
		{max - 1, 1, max},
		{max - 1, 2, max},
		{max, 1, max},
		{1, max, max},
		{max, max, max},
		{1 << 63, 1<<63 - 1, max},
		{1 << 63, 1 << 63, max},
	} {
		if got := SatAdd(tc.a, tc.b); got != tc.want {
			t.Errorf("SatAdd(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestRangeLen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		from, to string
		want     uint64
	}{
		{"10.0.0.1", "10.0.0.1", 1},
		{"10.0.0.0", "10.0.0.255", 256},
		{"0.0.0.0", "255.255.255.255", 1 << 32},
		{"fd00::1", "fd00::ff", 255},
		// Across the middle of the address: the low word borrows.
		{"fd00::ffff:ffff:ffff:ffff", "fd00:0:0:1::", 2},
		{"fd00::1", "fd00::ffff:ffff:ffff:fffe", math.MaxUint64 - 1},
		{"fd00::", "fd00::ffff:ffff:ffff:fffe", math.MaxUint64},
		{"fd00::", "fd00::ffff:ffff:ffff:ffff", math.MaxUint64}, // 2^64
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", math.MaxUint64},
	} {
		r := netipx.IPRangeFrom(netip.MustParseAddr(tc.from), netip.MustParseAddr(tc.to))
		if got := RangeLen(r); got != tc.want {
			t.Errorf("RangeLen(%s) = %d, want %d", r, got, tc.want)
		}
	}
}

func TestSetSize(t *testing.T) {
	t.Parallel()
	set := func(prefixes ...string) *netipx.IPSet {
		var b netipx.IPSetBuilder
		for _, p := range prefixes {
			b.AddPrefix(netip.MustParsePrefix(p))
		}
		s, err := b.IPSet()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name string
		set  *netipx.IPSet
		want [2]uint64
	}{
		{"nil", nil, [2]uint64{}},
		{"empty", set(), [2]uint64{}},
		{"ipv4", set("10.0.0.0/24", "10.0.1.5/32", "10.0.0.128/25"), [2]uint64{257, 0}},
		{"ipv6", set("fd00::/120", "fd00::1:0/127"), [2]uint64{0, 258}},
		{"dual", set("10.0.0.0/30", "fd00::/126"), [2]uint64{4, 4}},
		{"all of ipv4", set("0.0.0.0/0"), [2]uint64{1 << 32, 0}},
		{"all of ipv6", set("::/0"), [2]uint64{0, math.MaxUint64}},
		{"everything", set("0.0.0.0/0", "::/0"), [2]uint64{1 << 32, math.MaxUint64}},
		{"ipv6 /65", set("fd00::/65"), [2]uint64{0, 1 << 63}},
		// Two ranges that sum to 2^64 saturate.
		{"ipv6 two /65s", set("fd00::/65", "fd01::/65"), [2]uint64{0, math.MaxUint64}},
	} {
		if got := SetSize(tc.set); got != tc.want {
			t.Errorf("%s: SetSize = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCapacityLessGateway(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    netip.Prefix
		want uint64
	}{
		{netip.MustParsePrefix("10.0.0.0/24"), 253},
		{netip.MustParsePrefix("10.0.0.0/30"), 1},
		{netip.MustParsePrefix("10.0.0.0/31"), 1},
		{netip.MustParsePrefix("10.0.0.0/32"), 0},
		{netip.MustParsePrefix("fd00::/64"), math.MaxUint64 - 2},
		{netip.MustParsePrefix("fd00::/63"), math.MaxUint64},
		{netip.Prefix{}, 0},
	} {
		if got := CapacityLessGateway(tc.p); got != tc.want {
			t.Errorf("CapacityLessGateway(%v) = %d, want %d", tc.p, got, tc.want)
		}
	}
}
