package ipam

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"go4.org/netipx"
)

// fakeOccupancy is an Occupancy over plain values: subnet blocks (those in
// ignore are reported as ignored) and blocked addresses. It counts what
// FreeBlock asks.
type fakeOccupancy struct {
	subnets []netip.Prefix // sorted by address, containing prefixes first
	ignore  map[netip.Prefix]bool
	nodes   []netip.Addr

	yields, blockedCalls int
}

func newFakeOccupancy(subnets []string, ignore []string, nodes []string) *fakeOccupancy {
	o := &fakeOccupancy{ignore: map[netip.Prefix]bool{}}
	for _, s := range subnets {
		o.subnets = append(o.subnets, netip.MustParsePrefix(s))
	}
	for _, s := range ignore {
		p := netip.MustParsePrefix(s)
		o.subnets = append(o.subnets, p)
		o.ignore[p] = true
	}
	for _, s := range nodes {
		o.nodes = append(o.nodes, netip.MustParseAddr(s))
	}
	slices.SortFunc(o.subnets, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return o
}

func (o *fakeOccupancy) Subnets(region netip.Prefix, yield func(netip.Prefix, bool) bool) {
	for _, p := range o.subnets {
		if !p.Overlaps(region) {
			continue
		}
		o.yields++
		if !yield(p, o.ignore[p]) {
			return
		}
	}
}

func (o *fakeOccupancy) Blocked(p netip.Prefix) bool {
	o.blockedCalls++
	return slices.ContainsFunc(o.nodes, p.Contains)
}

// fill returns the blocks of length bits in within, but for those in skip.
func fill(within string, bits int, skip ...string) []string {
	w := netip.MustParsePrefix(within)
	var out []string
	for p, ok := netip.PrefixFrom(w.Addr(), bits), true; ok && w.Contains(p.Addr()); p, ok = AlignedAtOrAfter(netipx.PrefixLastIP(p).Next(), bits) {
		if !slices.Contains(skip, p.String()) {
			out = append(out, p.String())
		}
	}
	return out
}

// supernetSiblings returns the siblings of p and of each of its parents up
// to length top: the space around p, all taken.
func supernetSiblings(p string, top int) []string {
	var out []string
	for q := netip.MustParsePrefix(p); q.Bits() > top; q = netip.PrefixFrom(q.Addr(), q.Bits()-1).Masked() {
		s, _ := Sibling(q)
		out = append(out, s.String())
	}
	return out
}

func TestFreeBlock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		near, taken   string
		want          uint64
		avoid         []string
		subnets       []string
		ignore, nodes []string
		found         string // "" for none
	}{
		{name: "the sibling", near: "10.0.0.0/24", want: 1, found: "10.0.1.0/24"},
		{name: "the sibling, lower half", near: "10.0.1.0/24", want: 1, found: "10.0.0.0/24"},
		{name: "next supernet", near: "10.0.0.0/24", want: 1, subnets: []string{"10.0.1.0/24"}, found: "10.0.2.0/24"},
		{name: "first gap of the half", near: "10.0.0.0/24", want: 1,
			subnets: []string{"10.0.1.0/24", "10.0.2.0/24", "10.0.3.128/25"}, found: "10.0.4.0/24"},
		{name: "gap between subnets", near: "10.0.0.0/24", want: 1,
			subnets: []string{"10.0.1.0/24", "10.0.2.0/24", "10.0.4.0/24"}, found: "10.0.3.0/24"},
		{name: "larger block for a larger want", near: "10.0.0.16/28", want: 20, found: "10.0.0.32/27"},
		{name: "want at the capacity of the block", near: "10.0.0.0/24", want: 253, found: "10.0.1.0/24"},
		{name: "want one past the capacity", near: "10.0.0.0/24", want: 254, found: "10.0.2.0/23"},
		{name: "out of the taken expansion", near: "10.0.0.0/24", taken: "10.0.0.0/23", want: 1, found: "10.0.2.0/24"},
		{name: "avoided ranges", near: "10.0.0.0/24", want: 1,
			avoid: []string{"10.0.1.0/24", "10.0.2.0/23", "10.0.4.0/22"}, found: "10.0.8.0/24"},
		{name: "avoided range containing the candidates", near: "10.0.0.0/24", want: 1,
			avoid: []string{"10.0.0.0/16"}, found: "10.1.0.0/24"},
		{name: "node addresses", near: "10.0.0.0/24", want: 1,
			nodes: []string{"10.0.1.5", "10.0.2.255"}, found: "10.0.3.0/24"},
		{name: "ignored entry is free", near: "10.0.0.0/24", want: 1, ignore: []string{"10.0.1.0/24"}, found: "10.0.1.0/24"},
		{name: "containing subnet is skipped whole", near: "10.1.0.0/24", want: 1,
			subnets: []string{"10.1.0.0/16"}, found: "10.0.0.0/24"},
		{name: "not a valid subnet range", near: "169.255.0.0/16", want: 1, found: "169.252.0.0/16"},
		{name: "nothing free in the private range", near: "192.168.0.0/24", want: 1,
			subnets: supernetSiblings("192.168.0.0/24", 16)},
		{name: "only hole beyond the visit bound", near: "10.74.0.0/28", want: 11,
			subnets: fill("10.74.0.0/16", 28, "10.74.0.0/28", "10.74.255.240/28")},
		{name: "want beyond any block", near: "10.0.0.0/24", want: math.MaxUint64},
		{name: "invalid block", want: 1},
		{name: "ipv6", near: "fd00:71::/120", want: 11, subnets: []string{"fd00:71::100/120"}, found: "fd00:71::200/120"},
		{name: "ipv6 node", near: "fd00:71::/120", want: 11,
			subnets: []string{"fd00:71::100/120"}, nodes: []string{"fd00:71::2ff"}, found: "fd00:71::300/120"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var q FreeQuery
			if tc.near != "" {
				q.Near = netip.MustParsePrefix(tc.near)
			}
			q.Taken = q.Near
			if tc.taken != "" {
				q.Taken = netip.MustParsePrefix(tc.taken)
			}
			q.Want = tc.want
			for _, a := range tc.avoid {
				q.Avoid = append(q.Avoid, netip.MustParsePrefix(a))
			}
			occ := newFakeOccupancy(tc.subnets, tc.ignore, tc.nodes)
			got, ok := FreeBlock(q, occ)
			if (tc.found == "") == ok || (ok && got.String() != tc.found) {
				t.Errorf("FreeBlock = %v %v, want %q", got, ok, tc.found)
			}
			// The budget bounds the work: each Subnets query may report
			// one entry past it.
			if occ.yields+occ.blockedCalls > maxFreeSearchVisits+maxFreeSearchLevels {
				t.Errorf("%d entries and %d blocked checks, over the bound", occ.yields, occ.blockedCalls)
			}
		})
	}
}

// TestFreeBlockIsFree checks over random occupancies that every block
// FreeBlock returns is free, large enough and a valid subnet range.
func TestFreeBlockIsFree(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 5))
	found := 0
	for i := range 300 {
		var subnets, nodes []string
		for range 100 + rng.IntN(400) {
			a := netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256)), 0})
			subnets = append(subnets, netip.PrefixFrom(a, 20+rng.IntN(9)).Masked().String())
		}
		for range rng.IntN(50) {
			nodes = append(nodes, netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256))}).String())
		}
		occ := newFakeOccupancy(subnets, nil, nodes)
		near := netip.MustParsePrefix(subnets[0])
		avoid := []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}
		q := FreeQuery{Near: near, Taken: near, Want: uint64(1 + rng.IntN(3000)), Avoid: avoid}
		p, ok := FreeBlock(q, occ)
		if !ok {
			continue
		}
		found++
		where := fmt.Sprintf("case %d: %s near %s", i, p, near)
		if p.Bits() > near.Bits() || CapacityLessGateway(p) < q.Want {
			t.Errorf("%s: too small for %d addresses", where, q.Want)
		}
		if _, err := ParsePrefix(p.String()); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		for _, x := range append(append([]netip.Prefix{q.Taken}, avoid...), occ.subnets...) {
			if x.Overlaps(p) {
				t.Errorf("%s: overlaps %s", where, x)
			}
		}
		if occ.Blocked(p) {
			t.Errorf("%s: holds a node address", where)
		}
	}
	if found < 100 {
		t.Errorf("only %d of 300 searches found a block", found)
	}
}
