package ipam

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func BenchmarkPrefixIndexOverlapping(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	var x *PrefixIndex[int]
	for i := range 10000 {
		var a [4]byte
		a[0] = 10
		a[1] = byte(rng.IntN(256))
		a[2] = byte(rng.IntN(256))
		x = x.Insert(netip.PrefixFrom(netip.AddrFrom4(a), 16+rng.IntN(9)).Masked(), i)
		var a6 [16]byte
		a6[0], a6[1], a6[4], a6[5] = 0xfd, 0x00, byte(rng.IntN(256)), byte(rng.IntN(256))
		x = x.Insert(netip.PrefixFrom(netip.AddrFrom16(a6), 48+rng.IntN(17)).Masked(), i)
	}
	queries := []netip.Prefix{
		netip.MustParsePrefix("10.42.0.0/16"),
		netip.MustParsePrefix("10.42.7.0/24"),
		netip.MustParsePrefix("fd00:0:1234::/48"),
		netip.MustParsePrefix("192.168.0.0/24"),
	}
	n := 0
	yield := func(netip.Prefix, int) bool { n++; return true }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		x.Overlapping(queries[i%len(queries)], yield)
	}
	b.ReportMetric(float64(n)/float64(b.N), "results/op")
}

func BenchmarkPrefixIndexInsert(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	var x *PrefixIndex[int]
	for i := range 10000 {
		var a [4]byte
		a[0], a[1], a[2] = 10, byte(rng.IntN(256)), byte(rng.IntN(256))
		x = x.Insert(netip.PrefixFrom(netip.AddrFrom4(a), 16+rng.IntN(9)).Masked(), i)
	}
	p := netip.MustParsePrefix("10.42.7.0/24")
	b.ReportAllocs()
	for b.Loop() {
		_ = x.Insert(p, -1)
	}
}

func BenchmarkParseCIDRBlock(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := ParseCIDRBlock("10.16.0.0/16,fd00:10:16::/64"); errs != nil {
			b.Fatal(errs)
		}
	}
}

func BenchmarkSubnetAllocatable(b *testing.B) {
	s := NewSubnet("10.16.0.0/16,fd00:10:16::/64", "", []string{"10.16.0.2..10.16.0.20", "10.16.1.0..10.16.1.255", "fd00:10:16::2..fd00:10:16::ff"})
	addrs := []netip.Addr{
		netip.MustParseAddr("10.16.3.4"),
		netip.MustParseAddr("10.16.1.9"),
		netip.MustParseAddr("fd00:10:16::1:2"),
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if ok, _ := s.Allocatable(addrs[i%len(addrs)]); ok != (i%3 != 1) {
			b.Fatal("unexpected result")
		}
	}
}
