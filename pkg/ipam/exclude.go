package ipam

import (
	"net/netip"
	"slices"
	"sort"
	"strings"

	"go4.org/netipx"
)

// ExcludeSet is the merged set of excluded addresses of a subnet, all families
// together, as the controller sees it: the excludeIps entries plus the gateways,
// clipped to the subnet's blocks, with overlapping and touching ranges merged.
// The zero value is an empty set. An ExcludeSet is immutable and safe for
// concurrent use.
//
// It is a sorted slice of merged ranges, built with one sort: a subnet of
// 100k excludeIps costs one slice of 100k ranges, where netipx's
// IPSetBuilder allocated several times that.
type ExcludeSet struct {
	ranges []netipx.IPRange // sorted (IPv4 first), merged, never empty when set
}

// NewExcludeSet builds the exclude set of a subnet. It never fails: entries that
// do not parse (see ParseExcludeEntry; surrounding spaces are tolerated here) are
// skipped, the way the controller treats stored objects. The gateways are added,
// and everything outside every block is dropped.
func NewExcludeSet(entries []string, blocks []netip.Prefix, gateways []netip.Addr) ExcludeSet {
	if len(blocks) == 0 {
		return ExcludeSet{}
	}
	// Clip each range to each block as it is added (a subnet has at most
	// one block per family), then sort and merge once.
	var rs []netipx.IPRange
	add := func(r netipx.IPRange) {
		for _, p := range blocks {
			if !p.IsValid() {
				continue
			}
			if in, ok := intersectRange(r, netipx.RangeOfPrefix(p.Masked())); ok {
				if rs == nil {
					rs = make([]netipx.IPRange, 0, len(entries)+len(gateways))
				}
				rs = append(rs, in)
			}
		}
	}
	for _, e := range entries {
		if r, ok := ExcludeRange(strings.TrimSpace(e)); ok {
			add(r)
		}
	}
	for _, g := range gateways {
		if g.IsValid() && g.Zone() == "" {
			add(netipx.IPRangeFrom(g, g))
		}
	}
	if len(rs) == 0 {
		return ExcludeSet{}
	}
	return ExcludeSet{ranges: MergeRanges(rs)}
}

// MergeRanges sorts rs by start (IPv4 first) and merges overlapping and
// touching ranges in place, as netipx.IPSet holds them: one sort, where
// netipx.IPSetBuilder allocates several copies of a long list.
func MergeRanges(rs []netipx.IPRange) []netipx.IPRange {
	if len(rs) == 0 {
		return rs
	}
	byFrom := func(a, b netipx.IPRange) int { return a.From().Compare(b.From()) }
	if !slices.IsSortedFunc(rs, byFrom) { // lists are usually written in order
		slices.SortFunc(rs, byFrom)
	}
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if last.To().BitLen() == r.From().BitLen() && (!last.To().Less(r.From()) || last.To().Next() == r.From()) {
			if last.To().Less(r.To()) {
				*last = netipx.IPRangeFrom(last.From(), r.To())
			}
			continue
		}
		out = append(out, r)
	}
	return slices.Clip(out)
}

// Contains reports whether a is excluded.
func (s ExcludeSet) Contains(a netip.Addr) bool {
	i := sort.Search(len(s.ranges), func(i int) bool { return !s.ranges[i].To().Less(a) })
	return i < len(s.ranges) && s.ranges[i].Contains(a)
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
	if !p.IsValid() {
		return n
	}
	alloc := Allocatable(p)
	for _, r := range s.ranges {
		if in, ok := intersectRange(r, alloc); ok {
			n = n.addSat(rangeSize(in))
		}
	}
	return n
}

// Ranges returns the excluded addresses as merged ranges, sorted with IPv4 first.
// The slice is a fresh copy.
func (s ExcludeSet) Ranges() []netipx.IPRange {
	return slices.Clone(s.ranges)
}

// View returns the ranges of Ranges without copying them; the caller must
// not modify the slice.
func (s ExcludeSet) View() []netipx.IPRange {
	return s.ranges
}
