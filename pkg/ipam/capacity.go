package ipam

import (
	"math"
	"math/bits"
	"net/netip"

	"go4.org/netipx"
)

// hostBits returns the number of host bits of p (p must be valid).
func hostBits(p netip.Prefix) int {
	return p.Addr().BitLen() - p.Bits()
}

// Allocatable returns the range of addresses of block p that can be handed out:
// network+1 .. last-1 when p has at least two host bits; both addresses of a /31
// or /127; the single address of a /32 or /128. p is masked first. An invalid p
// yields the zero IPRange.
func Allocatable(p netip.Prefix) netipx.IPRange {
	if !p.IsValid() {
		return netipx.IPRange{}
	}
	p = p.Masked()
	first, last := p.Addr(), netipx.PrefixLastIP(p)
	if hostBits(p) >= 2 {
		first, last = first.Next(), last.Prev()
	}
	return netipx.IPRangeFrom(first, last)
}

// Capacity returns the number of addresses in Allocatable(p), saturating at
// math.MaxUint64: an IPv6 /64 holds 2^64-2 addresses, which still fits, while any
// shorter prefix saturates. An invalid p has capacity 0.
func Capacity(p netip.Prefix) uint64 {
	if !p.IsValid() {
		return 0
	}
	switch hb := hostBits(p); {
	case hb == 0:
		return 1
	case hb == 1:
		return 2
	case hb < 64:
		return 1<<hb - 2
	case hb == 64:
		return math.MaxUint64 - 1
	}
	return math.MaxUint64
}

// CapacityLessGateway returns how many addresses a new subnet with block p
// hands out to pods: Capacity(p) less the gateway, saturating like Capacity.
func CapacityLessGateway(p netip.Prefix) uint64 {
	c := Capacity(p)
	if c == math.MaxUint64 {
		return c
	}
	return max(c, 1) - 1
}

// SatAdd returns a+b, saturating at math.MaxUint64.
func SatAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// RangeLen returns the number of addresses in the valid range r, saturating
// at math.MaxUint64 (an IPv6 /64 holds 2^64).
func RangeLen(r netipx.IPRange) uint64 {
	return rangeSize(r).uint64Sat()
}

// SetSize returns the number of addresses of s per family, indexed by
// Family.Index, each saturating at math.MaxUint64. A nil set is empty.
func SetSize(s *netipx.IPSet) [2]uint64 {
	var out [2]uint64
	if s == nil {
		return out
	}
	for _, r := range s.Ranges() {
		i := FamilyOf(r.From()).Index()
		out[i] = SatAdd(out[i], RangeLen(r))
	}
	return out
}

// IsReserved reports whether a is the network address or the last ("broadcast",
// for IPv6 the all-ones) address of block p, for blocks with at least two host
// bits. /31, /32, /127 and /128 blocks have no reserved addresses, matching
// Allocatable. The answer is only meaningful when p.Contains(a).
func IsReserved(p netip.Prefix, a netip.Addr) bool {
	if !p.IsValid() || hostBits(p) < 2 {
		return false
	}
	p = p.Masked()
	return a == p.Addr() || a == netipx.PrefixLastIP(p)
}

// u128 is an unsigned 128-bit counter used where IPv6 sizes overflow uint64.
type u128 struct{ hi, lo uint64 }

func u128Of(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var v u128
	for i := 0; i < 8; i++ {
		v.hi = v.hi<<8 | uint64(b[i])
		v.lo = v.lo<<8 | uint64(b[i+8])
	}
	return v
}

// addSat returns x+y, saturating at 2^128-1.
func (x u128) addSat(y u128) u128 {
	lo, c := bits.Add64(x.lo, y.lo, 0)
	hi, c := bits.Add64(x.hi, y.hi, c)
	if c != 0 {
		return u128{math.MaxUint64, math.MaxUint64}
	}
	return u128{hi, lo}
}

// sub returns x-y, flooring at 0.
func (x u128) sub(y u128) u128 {
	lo, b := bits.Sub64(x.lo, y.lo, 0)
	hi, b := bits.Sub64(x.hi, y.hi, b)
	if b != 0 {
		return u128{}
	}
	return u128{hi, lo}
}

// allocatableSize returns the exact number of addresses in Allocatable(p).
func allocatableSize(p netip.Prefix) u128 {
	if !p.IsValid() {
		return u128{}
	}
	return rangeSize(Allocatable(p))
}

// uint64Sat returns x as a uint64, saturating at math.MaxUint64.
func (x u128) uint64Sat() uint64 {
	if x.hi != 0 {
		return math.MaxUint64
	}
	return x.lo
}

// rangeSize returns the number of addresses in a valid range, saturating at
// 2^128-1 (only ::..ffff:…:ffff holds more).
func rangeSize(r netipx.IPRange) u128 {
	from, to := u128Of(r.From()), u128Of(r.To())
	lo, b := bits.Sub64(to.lo, from.lo, 0)
	hi, _ := bits.Sub64(to.hi, from.hi, b)
	return u128{hi, lo}.addSat(u128{lo: 1})
}

// intersectRange returns the intersection of two ranges of the same family.
func intersectRange(a, b netipx.IPRange) (netipx.IPRange, bool) {
	if !a.IsValid() || !b.IsValid() || a.From().BitLen() != b.From().BitLen() || !a.Overlaps(b) {
		return netipx.IPRange{}, false
	}
	from, to := a.From(), a.To()
	if b.From().Compare(from) > 0 {
		from = b.From()
	}
	if b.To().Compare(to) < 0 {
		to = b.To()
	}
	return netipx.IPRangeFrom(from, to), true
}
