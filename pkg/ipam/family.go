package ipam

import (
	"net/netip"
	"strconv"
)

// Family is an IP address family. Its values are the IP version numbers.
type Family uint8

// The two address families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// FamilyOf returns the family of a. IPv4-mapped IPv6 addresses are IPv6; callers
// that want them as IPv4 must Unmap them first. The zero Addr reports 0.
func FamilyOf(a netip.Addr) Family {
	switch {
	case a.Is4():
		return IPv4
	case a.Is6():
		return IPv6
	}
	return 0
}

// FamilyOfPrefix returns the family of p's address (0 for the zero Prefix).
func FamilyOfPrefix(p netip.Prefix) Family {
	return FamilyOf(p.Addr())
}

// String returns "IPv4" or "IPv6" (the spelling of Kube-OVN's spec.protocol).
func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// Index returns 0 for IPv4 and 1 for IPv6 (and for anything else): the
// index of f in arrays kept per family, such as [2]uint64 counters.
func (f Family) Index() int {
	if f == IPv6 {
		return 1
	}
	return 0
}

// BlockOf returns the block of family f among blocks (a subnet's parsed
// cidrBlock holds at most one per family).
func BlockOf(blocks []netip.Prefix, f Family) (netip.Prefix, bool) {
	for _, p := range blocks {
		if FamilyOfPrefix(p) == f {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// Protocol returns the spec.protocol that a subnet's parsed blocks imply, as
// Kube-OVN spells it: "Dual" for two blocks, "IPv4" for one IPv4 block, and
// "IPv6" otherwise (no block included).
func Protocol(blocks []netip.Prefix) string {
	switch {
	case len(blocks) == 2:
		return "Dual"
	case len(blocks) == 1 && blocks[0].Addr().Is4():
		return IPv4.String()
	default:
		return IPv6.String()
	}
}
