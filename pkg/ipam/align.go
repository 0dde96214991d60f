package ipam

import (
	"net/netip"

	"go4.org/netipx"
)

// AlignedAtOrAfter returns the first prefix of length bits whose network
// address is a or follows a: a itself when a is aligned to bits, else the
// next aligned block. ok is false when no such block exists (a is invalid,
// bits is out of range, or the next block would wrap past the last address).
func AlignedAtOrAfter(a netip.Addr, bits int) (p netip.Prefix, ok bool) {
	if !a.IsValid() || bits < 0 || bits > a.BitLen() {
		return netip.Prefix{}, false
	}
	p = netip.PrefixFrom(a, bits).Masked()
	if p.Addr() == a {
		return p, true
	}
	next := netipx.PrefixLastIP(p).Next()
	if !next.IsValid() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(next, bits), true
}

// Sibling returns the other half of p's parent: the prefix of the same length
// that differs from p in its last network bit. ok is false for an invalid p
// or a prefix of length 0, which has no parent.
func Sibling(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() || p.Bits() == 0 {
		return netip.Prefix{}, false
	}
	p = p.Masked()
	parent := netip.PrefixFrom(p.Addr(), p.Bits()-1).Masked()
	if parent.Addr() == p.Addr() {
		return netip.PrefixFrom(netipx.PrefixLastIP(p).Next(), p.Bits()), true
	}
	return netip.PrefixFrom(parent.Addr(), p.Bits()), true
}
