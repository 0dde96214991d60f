package ipam

import (
	"net/netip"
	"testing"
)

func TestAlignedAtOrAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		bits int
		want string // "" when there is none
	}{
		{"10.0.0.0", 24, "10.0.0.0/24"},
		{"10.0.0.1", 24, "10.0.1.0/24"},
		{"10.0.0.255", 30, "10.0.1.0/30"},
		{"10.0.0.17", 32, "10.0.0.17/32"},
		{"10.0.0.17", 0, ""},
		{"0.0.0.0", 0, "0.0.0.0/0"},
		{"255.255.255.1", 24, ""},
		{"255.255.255.0", 24, "255.255.255.0/24"},
		{"fd00::1", 120, "fd00::100/120"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff1", 124, ""},
		{"10.0.0.0", 33, ""},
		{"10.0.0.0", -1, ""},
	} {
		got, ok := AlignedAtOrAfter(netip.MustParseAddr(tc.addr), tc.bits)
		if (tc.want == "") != !ok || (ok && got.String() != tc.want) {
			t.Errorf("AlignedAtOrAfter(%s, %d) = %v %v, want %q", tc.addr, tc.bits, got, ok, tc.want)
		}
	}
	if _, ok := AlignedAtOrAfter(netip.Addr{}, 8); ok {
		t.Error("invalid address: want !ok")
	}
}

func TestSibling(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ p, want string }{
		{"10.0.0.0/24", "10.0.1.0/24"},
		{"10.0.1.0/24", "10.0.0.0/24"},
		{"10.0.1.7/24", "10.0.0.0/24"},
		{"0.0.0.0/1", "128.0.0.0/1"},
		{"255.255.255.255/32", "255.255.255.254/32"},
		{"fd00::/64", "fd00:0:0:1::/64"},
		{"0.0.0.0/0", ""},
	} {
		got, ok := Sibling(netip.MustParsePrefix(tc.p))
		if (tc.want == "") != !ok || (ok && got.String() != tc.want) {
			t.Errorf("Sibling(%s) = %v %v, want %q", tc.p, got, ok, tc.want)
		}
	}
}
