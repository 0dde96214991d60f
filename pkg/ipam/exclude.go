package ipam

import (
	"net/netip"
	"strings"

	"go4.org/netipx"
)

// ExcludeSet is the merged set of excluded addresses of a subnet, all families
// together, as the controller sees it: the excludeIps entries plus the gateways,
// clipped to the subnet's blocks, with overlapping and touching ranges merged.
// The zero value is an empty set. An ExcludeSet is immutable and safe for
// concurrent use.
type ExcludeSet struct {
	set *netipx.IPSet
}

// NewExcludeSet builds the exclude set of a subnet. It never fails: entries that
// do not parse (see ParseExcludeEntry; surrounding spaces are tolerated here) are
// skipped, the way the controller treats stored objects. The gateways are added,
// and everything outside every block is dropped.
func NewExcludeSet(entries []string, blocks []netip.Prefix, gateways []netip.Addr) ExcludeSet {
	if len(blocks) == 0 {
		return ExcludeSet{}
	}
	// Clip each range to each block as it is added: one builder, no
	// set intersection (a subnet has at most one block per family).
	var b netipx.IPSetBuilder
	add := func(r netipx.IPRange) {
		for _, p := range blocks {
			if !p.IsValid() {
				continue
			}
			if in, ok := intersectRange(r, netipx.RangeOfPrefix(p.Masked())); ok {
				b.AddRange(in)
			}
		}
	}
	for _, e := range entries {
		if r, err := ParseExcludeEntry(strings.TrimSpace(e)); err == nil {
			add(r)
		}
	}
	for _, g := range gateways {
		if g.IsValid() && g.Zone() == "" {
			add(netipx.IPRangeFrom(g, g))
		}
	}
	set, err := b.IPSet()
	if err != nil || len(set.Ranges()) == 0 {
		return ExcludeSet{}
	}
	return ExcludeSet{set: set}
}

// Contains reports whether a is excluded.
func (s ExcludeSet) Contains(a netip.Addr) bool {
	return s.set != nil && s.set.Contains(a)
}

// CountIn returns how many excluded addresses lie inside Allocatable(p), that is,
// how many of p's allocatable addresses the set removes. It saturates at
// math.MaxUint64.
func (s ExcludeSet) CountIn(p netip.Prefix) uint64 {
	return s.countIn(p).uint64Sat()
}

// countIn is CountIn without the final saturation to 64 bits.
func (s ExcludeSet) countIn(p netip.Prefix) u128 {
	var n u128
	if s.set == nil || !p.IsValid() {
		return n
	}
	alloc := Allocatable(p)
	for _, r := range s.set.Ranges() {
		if in, ok := intersectRange(r, alloc); ok {
			n = n.addSat(rangeSize(in))
		}
	}
	return n
}

// Ranges returns the excluded addresses as merged ranges, sorted with IPv4 first.
// The slice is a fresh copy.
func (s ExcludeSet) Ranges() []netipx.IPRange {
	if s.set == nil {
		return nil
	}
	return s.set.Ranges()
}
