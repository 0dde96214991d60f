package ipam

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

type pair struct {
	p netip.Prefix
	v int
}

func collect(x *PrefixIndex[int], p netip.Prefix) []pair {
	var out []pair
	x.Overlapping(p, func(q netip.Prefix, v int) bool {
		out = append(out, pair{q, v})
		return true
	})
	return out
}

func pairsString(pp []pair) []string {
	var out []string
	for _, p := range pp {
		out = append(out, p.p.String()+"="+string(rune('0'+p.v)))
	}
	return out
}

func TestPrefixIndexTable(t *testing.T) {
	t.Parallel()
	var x *PrefixIndex[int]
	for i, s := range []string{"10.0.0.0/8", "10.16.0.0/16", "10.16.0.0/24", "10.16.1.0/24", "10.17.0.0/16", "192.168.0.0/16", "10.16.0.0/16", "fd00::/64", "fd00::/120", "0.0.0.0/0"} {
		x = x.Insert(netip.MustParsePrefix(s), i)
	}
	x = x.Insert(netip.MustParsePrefix("10.16.0.9/16"), 1) // duplicate after masking: no-op
	if x.Len() != 10 {
		t.Fatalf("Len = %d, want 10", x.Len())
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"10.16.0.0/16", []string{"0.0.0.0/0=9", "10.0.0.0/8=0", "10.16.0.0/16=1", "10.16.0.0/16=6", "10.16.0.0/24=2", "10.16.1.0/24=3"}},
		{"10.16.0.128/25", []string{"0.0.0.0/0=9", "10.0.0.0/8=0", "10.16.0.0/16=1", "10.16.0.0/16=6", "10.16.0.0/24=2"}},
		{"10.16.0.5/32", []string{"0.0.0.0/0=9", "10.0.0.0/8=0", "10.16.0.0/16=1", "10.16.0.0/16=6", "10.16.0.0/24=2"}},
		{"10.0.0.0/7", []string{"0.0.0.0/0=9", "10.0.0.0/8=0", "10.16.0.0/16=1", "10.16.0.0/16=6", "10.16.0.0/24=2", "10.16.1.0/24=3", "10.17.0.0/16=4"}},
		{"10.16.2.0/23", []string{"0.0.0.0/0=9", "10.0.0.0/8=0", "10.16.0.0/16=1", "10.16.0.0/16=6"}},
		{"172.16.0.0/12", []string{"0.0.0.0/0=9"}},
		{"fd00::/48", []string{"fd00::/64=7", "fd00::/120=8"}},
		{"fd00::1/128", []string{"fd00::/64=7", "fd00::/120=8"}},
		{"fd01::/64", nil},
		{"::/0", []string{"fd00::/64=7", "fd00::/120=8"}},
	}
	for _, tt := range tests {
		if got := pairsString(collect(x, netip.MustParsePrefix(tt.query))); !slices.Equal(got, tt.want) {
			t.Errorf("Overlapping(%s) = %v, want %v", tt.query, got, tt.want)
		}
	}
	// Early stop.
	n := 0
	x.Overlapping(netip.MustParsePrefix("10.16.0.0/16"), func(netip.Prefix, int) bool { n++; return n < 3 })
	if n != 3 {
		t.Errorf("yield called %d times after returning false at 3", n)
	}
	// Delete, including absent pairs.
	y := x.Delete(netip.MustParsePrefix("10.16.0.0/16"), 1)
	if y.Delete(netip.MustParsePrefix("10.16.0.0/16"), 1) != y || y.Delete(netip.MustParsePrefix("10.99.0.0/16"), 1) != y {
		t.Error("deleting an absent pair must return the same index")
	}
	if got := pairsString(collect(y, netip.MustParsePrefix("10.16.0.0/24"))); !slices.Equal(got, []string{"0.0.0.0/0=9", "10.0.0.0/8=0", "10.16.0.0/16=6", "10.16.0.0/24=2"}) {
		t.Errorf("after delete: %v", got)
	}
	if y.Len() != 9 || x.Len() != 10 {
		t.Errorf("Len after delete: new %d old %d", y.Len(), x.Len())
	}
	// Nil and invalid inputs.
	var empty *PrefixIndex[int]
	if empty.Len() != 0 || collect(empty, netip.MustParsePrefix("10.0.0.0/8")) != nil {
		t.Error("nil index is not empty")
	}
	if empty.Delete(netip.MustParsePrefix("10.0.0.0/8"), 1) != nil || x.Insert(netip.Prefix{}, 1) != x {
		t.Error("no-op operations must return the receiver")
	}
	if x.Insert(netip.MustParsePrefix("10.0.0.0/8"), 0) != x {
		t.Error("inserting an existing pair must return the receiver")
	}
}

func TestPrefixIndexPersistence(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var x *PrefixIndex[int]
	var pairs []pair
	for i := range 500 {
		p := randPrefix(rng)
		pairs = append(pairs, pair{p, i})
		x = x.Insert(p, i)
	}
	queries := make([]netip.Prefix, 200)
	for i := range queries {
		queries[i] = randPrefix(rng)
	}
	snapshot := func(x *PrefixIndex[int]) [][]pair {
		var out [][]pair
		for _, q := range queries {
			out = append(out, collect(x, q))
		}
		return out
	}
	before := snapshot(x)
	old := x
	y := x
	for i := range 300 {
		y = y.Insert(randPrefix(rng), 1000+i)
		y = y.Delete(pairs[i].p, pairs[i].v)
	}
	if old.Len() != 500 {
		t.Fatalf("old Len changed to %d", old.Len())
	}
	after := snapshot(old)
	for i := range before {
		if !slices.Equal(before[i], after[i]) {
			t.Fatalf("old index changed for query %s: %v -> %v", queries[i], before[i], after[i])
		}
	}
	// Deleting everything prunes the trie completely.
	for _, pr := range pairs {
		x = x.Delete(pr.p, pr.v)
	}
	if x.Len() != 0 || x.v4 != nil || x.v6 != nil {
		t.Fatalf("after deleting all: Len %d v4 %v v6 %v", x.Len(), x.v4, x.v6)
	}
}

// randPrefix returns a prefix from a small space so that overlaps and duplicate
// prefixes are frequent.
func randPrefix(rng *rand.Rand) netip.Prefix {
	if rng.IntN(2) == 0 {
		var b [4]byte
		b[0] = 10
		b[1] = byte(rng.IntN(4))
		b[2] = byte(rng.IntN(256))
		b[3] = byte(rng.IntN(256))
		return netip.PrefixFrom(netip.AddrFrom4(b), rng.IntN(33)).Masked()
	}
	var b [16]byte
	b[0], b[1] = 0xfd, 0x00
	b[6] = byte(rng.IntN(4))
	b[7] = byte(rng.IntN(256))
	b[15] = byte(rng.IntN(256))
	bits := rng.IntN(129)
	if rng.IntN(2) == 0 {
		bits = 48 + rng.IntN(20)
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), bits).Masked()
}

func TestPrefixIndexRandomAgainstBruteForce(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	var x *PrefixIndex[int]
	live := map[pair]bool{}
	var all []pair
	for i := range 6000 {
		switch {
		case len(all) > 0 && rng.IntN(4) == 0: // delete a random known pair (maybe already deleted)
			pr := all[rng.IntN(len(all))]
			x = x.Delete(pr.p, pr.v)
			delete(live, pr)
		case len(all) > 0 && rng.IntN(5) == 0: // re-insert a known pair, or reuse a prefix with a new value
			pr := all[rng.IntN(len(all))]
			if rng.IntN(2) == 0 {
				pr.v = i
				all = append(all, pr)
			}
			x = x.Insert(pr.p, pr.v)
			live[pr] = true
		default:
			pr := pair{randPrefix(rng), i % 50}
			all = append(all, pr)
			x = x.Insert(pr.p, pr.v)
			live[pr] = true
		}
		if x.Len() != len(live) {
			t.Fatalf("step %d: Len %d, want %d", i, x.Len(), len(live))
		}
		if i%20 != 0 {
			continue
		}
		for range 5 {
			q := randPrefix(rng)
			got := collect(x, q)
			var want []pair
			for pr := range live {
				if pr.p.Overlaps(q) {
					want = append(want, pr)
				}
			}
			checkOrder(t, q, got)
			sortPairs(got)
			sortPairs(want)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: Overlapping(%s) = %v, want %v", i, q, got, want)
			}
		}
	}
}

// checkOrder verifies the documented order: ancestors by increasing length, then
// the subtree in address order with a prefix before the prefixes it contains.
func checkOrder(t *testing.T, q netip.Prefix, got []pair) {
	t.Helper()
	for i := 1; i < len(got); i++ {
		a, b := got[i-1].p, got[i].p
		aAnc, bAnc := a.Bits() <= q.Bits(), b.Bits() <= q.Bits()
		switch {
		case aAnc && bAnc && a.Bits() > b.Bits(), !aAnc && bAnc:
			t.Fatalf("Overlapping(%s): %s before %s", q, a, b)
		case !aAnc && !bAnc && cmpPrefix(a, b) > 0:
			t.Fatalf("Overlapping(%s): %s before %s (not address order)", q, a, b)
		}
	}
}

func cmpPrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

func sortPairs(pp []pair) {
	slices.SortFunc(pp, func(a, b pair) int {
		return cmp.Or(cmpPrefix(a.p, b.p), cmp.Compare(a.v, b.v))
	})
}

func TestPrefixIndexOverlappingAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var x *PrefixIndex[int]
	for i := range 1000 {
		x = x.Insert(randPrefix(rng), i)
	}
	q := netip.MustParsePrefix("10.1.0.0/16")
	n := 0
	yield := func(netip.Prefix, int) bool { n++; return true }
	if allocs := testing.AllocsPerRun(100, func() { x.Overlapping(q, yield) }); allocs != 0 {
		t.Errorf("Overlapping allocates %.1f times per call", allocs)
	}
}
