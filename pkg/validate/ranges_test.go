package validate

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"go4.org/netipx"

	"github.com/ipamguard/ipamguard/pkg/ipam"
)

// The range-list helpers of the IPPool overlap check agree with netipx's
// set operations on random lists, IPv4 and IPv6 mixed, short and long.
func TestRangeListsAgreeWithIPSet(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	addr := func() netip.Addr {
		if rng.IntN(4) == 0 {
			return netip.AddrFrom16([16]byte{0xfd, 15: byte(rng.IntN(200))})
		}
		return netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(200))})
	}
	list := func(n int) ([]netipx.IPRange, *netipx.IPSet) {
		var rs []netipx.IPRange
		var b netipx.IPSetBuilder
		for range n {
			from := addr()
			to := from
			for range rng.IntN(4) {
				if next := to.Next(); next.IsValid() {
					to = next
				}
			}
			rs = append(rs, netipx.IPRangeFrom(from, to))
			b.AddRange(netipx.IPRangeFrom(from, to))
		}
		set, _ := b.IPSet()
		return ipam.MergeRanges(rs), set
	}
	for i := range 500 {
		a, aSet := list(1 + rng.IntN(100*(i%3)+5))
		b, bSet := list(rng.IntN(30))
		if !slices.Equal(a, aSet.Ranges()) {
			t.Fatalf("MergeRanges %v, IPSet %v", a, aSet.Ranges())
		}
		var diff netipx.IPSetBuilder
		diff.AddSet(aSet)
		diff.RemoveSet(bSet)
		want, _ := diff.IPSet()
		if got := subtractRanges(a, b); !slices.Equal(got, want.Ranges()) && !(len(got) == 0 && len(want.Ranges()) == 0) {
			t.Fatalf("subtractRanges(%v, %v) = %v, want %v", a, b, got, want.Ranges())
		}
		if got, want := overlapsSet(a, bSet), aSet.Overlaps(bSet); got != want {
			t.Fatalf("overlapsSet(%v, %v) = %v", a, b, got)
		}
		var both netipx.IPSetBuilder
		both.AddSet(aSet)
		both.Intersect(bSet)
		shared, _ := both.IPSet()
		got, total := sharedRanges(a, b, 3)
		if total != len(shared.Ranges()) || !slices.Equal(got, shared.Ranges()[:min(3, total)]) && total > 0 {
			t.Fatalf("sharedRanges(%v, %v) = %v, %d; want %v", a, b, got, total, shared.Ranges())
		}
	}
}
