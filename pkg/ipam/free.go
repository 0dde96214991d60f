package ipam

import (
	"net/netip"

	"go4.org/netipx"
)

// Bounds of FreeBlock: how many enclosing supernets it tries, and how many
// subnets and candidate blocks it may look at in all. The visits bound the
// cost of one search whatever the cluster holds; with them spent the search
// gives up.
const (
	maxFreeSearchLevels = 16
	maxFreeSearchVisits = 256
)

// homeRanges are address plans a block's neighbours should stay in: a block
// in private space is never offered a neighbour outside its range.
var homeRanges = [...]netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

// FreeQuery describes the block FreeBlock looks for.
type FreeQuery struct {
	// Near is the block to find a neighbour for; the block found is at
	// least as large.
	Near netip.Prefix
	// Taken is a range the block found must not overlap, where the search
	// starts outward from: Near itself, or an expansion of Near offered
	// alongside.
	Taken netip.Prefix
	// Want is how many addresses the block found must hand out at least,
	// as CapacityLessGateway counts them.
	Want uint64
	// Avoid are further ranges the block found must not overlap, besides
	// the subnets Occupancy reports. They are checked after Taken, in order.
	Avoid []netip.Prefix
}

// Occupancy is what FreeBlock asks about the address space it searches.
// FreeBlock keeps one Occupancy's callbacks for the whole search, so an
// implementation can build its own callbacks once.
type Occupancy interface {
	// Subnets calls yield with the blocks of the subnets that overlap
	// region, in address order with a containing prefix before the
	// prefixes it contains, until yield returns false. ignore marks an
	// entry that is no obstacle (such as the stored record of the subnet
	// the search is for, whose blocks are in FreeQuery.Avoid); like every
	// entry it counts against the visit bound.
	Subnets(region netip.Prefix, yield func(b netip.Prefix, ignore bool) bool)
	// Blocked reports whether block p holds something a new subnet must not
	// contain, such as a node's address. It is asked only about blocks
	// clear of the subnets and of the ranges of the FreeQuery.
	Blocked(p netip.Prefix) bool
}

// FreeBlock finds a block for a new subnet next to q.Near: at least as
// large as q.Near and handing out at least q.Want addresses, overlapping
// neither q.Taken, q.Avoid, a subnet occ reports, nor an address occ
// blocks, and a valid subnet range (ParsePrefix accepts it).
//
// It searches outward: the free block nearest to q.Near, that is inside the
// smallest enclosing aligned supernet of q.Taken that has one, in address
// order within that supernet. Each supernet adds one half, the sibling of
// the previous one, so no range is searched twice; each half is read with
// one ordered Subnets query that stops at the first gap large enough. The
// search is bounded by 16 supernets, 256 visits (subnets reported and
// candidate blocks tried), and the private range (10/8, 172.16/12,
// 192.168/16, 100.64/10, fc00::/7) q.Near lies in. ok is false when nothing
// free is found within those bounds.
func FreeBlock(q FreeQuery, occ Occupancy) (p netip.Prefix, ok bool) {
	block := q.Near
	if !block.IsValid() {
		return netip.Prefix{}, false
	}
	bits := block.Bits()
	for bits > 0 && CapacityLessGateway(netip.PrefixFrom(block.Addr(), bits)) < q.Want {
		bits--
	}
	if CapacityLessGateway(netip.PrefixFrom(block.Addr(), bits)) < q.Want {
		return netip.Prefix{}, false
	}
	s := &freeSearch{occ: occ, taken: q.Taken, avoid: q.Avoid, bits: bits, budget: maxFreeSearchVisits}
	s.visit = s.subnet
	top := 0
	for _, h := range homeRanges {
		if h.Contains(block.Addr()) {
			top = h.Bits()
			break
		}
	}
	inner := netip.PrefixFrom(block.Addr(), bits).Masked()
	if q.Taken.Bits() < inner.Bits() {
		inner = q.Taken
	}
	for range maxFreeSearchLevels {
		if inner.Bits() <= top || s.budget <= 0 {
			break
		}
		half, _ := Sibling(inner)
		if p, ok := s.inRegion(half); ok {
			return p, true
		}
		inner = netip.PrefixFrom(inner.Addr(), inner.Bits()-1).Masked()
	}
	return netip.Prefix{}, false
}

// freeSearch is the state of one FreeBlock search.
type freeSearch struct {
	occ   Occupancy
	taken netip.Prefix
	avoid []netip.Prefix
	// bits is the prefix length of the block sought.
	bits   int
	budget int
	// visit is s.subnet, bound once for every Subnets query.
	visit func(netip.Prefix, bool) bool
	// The region being read by inRegion: the next address not known to
	// lie in a subnet, the region's last address, and the outcome.
	cursor, end netip.Addr
	found       netip.Prefix
	past, spent bool
}

// inRegion returns the first block of length s.bits inside region that is
// free. The subnets come from one Subnets query in address order
// (containing prefixes first), so the free space is the gaps between them;
// a gap is checked against the other obstacles block by block.
func (s *freeSearch) inRegion(region netip.Prefix) (netip.Prefix, bool) {
	s.cursor, s.end = region.Addr(), netipx.PrefixLastIP(region)
	s.found, s.past, s.spent = netip.Prefix{}, false, false
	s.occ.Subnets(region, s.visit)
	if s.found.IsValid() {
		return s.found, true
	}
	if s.past || s.spent {
		return netip.Prefix{}, false
	}
	return s.inGap(s.cursor, s.end)
}

// subnet takes in one subnet block b of the region being read: it searches
// the gap before b and moves the cursor past b.
func (s *freeSearch) subnet(b netip.Prefix, ignore bool) bool {
	if s.budget <= 0 {
		s.spent = true
		return false
	}
	s.budget--
	if ignore {
		return true
	}
	first, last := b.Masked().Addr(), netipx.PrefixLastIP(b)
	if s.cursor.Less(first) {
		if p, ok := s.inGap(s.cursor, first.Prev()); ok {
			s.found = p
			return false
		}
		if s.budget <= 0 {
			s.spent = true
			return false
		}
	}
	if !last.Less(s.cursor) {
		if !last.Less(s.end) {
			s.past = true
			return false
		}
		s.cursor = last.Next()
	}
	return true
}

// inGap returns the first block of length s.bits inside [from, to], a range
// with no subnet, that avoids the other obstacles and is a valid subnet
// range.
func (s *freeSearch) inGap(from, to netip.Addr) (netip.Prefix, bool) {
	for s.budget > 0 {
		p, ok := AlignedAtOrAfter(from, s.bits)
		if !ok || to.Less(netipx.PrefixLastIP(p)) {
			return netip.Prefix{}, false
		}
		s.budget--
		last, blocked := s.obstacle(p)
		if !blocked {
			return p, true
		}
		if from = last.Next(); !from.IsValid() {
			return netip.Prefix{}, false
		}
	}
	return netip.Prefix{}, false
}

// obstacle reports whether block p is unusable for a reason other than a
// subnet, and the last address the search can skip to.
func (s *freeSearch) obstacle(p netip.Prefix) (netip.Addr, bool) {
	if last, ok := skipOverlap(s.taken, p); ok {
		return last, true
	}
	for _, x := range s.avoid {
		if last, ok := skipOverlap(x, p); ok {
			return last, true
		}
	}
	if _, err := ParsePrefix(p.String()); err != nil {
		return netipx.PrefixLastIP(p), true
	}
	return netipx.PrefixLastIP(p), s.occ.Blocked(p)
}

// skipOverlap reports whether x overlaps block p, and then the last address
// of the larger of the two, which the search can skip to (two prefixes
// overlap when one contains the other).
func skipOverlap(x, p netip.Prefix) (netip.Addr, bool) {
	if !x.Overlaps(p) {
		return netip.Addr{}, false
	}
	if x.Bits() < p.Bits() {
		return netipx.PrefixLastIP(x), true
	}
	return netipx.PrefixLastIP(p), true
}
