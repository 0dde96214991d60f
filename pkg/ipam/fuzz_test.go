package ipam

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"go4.org/netipx"
)

var prefixSeeds = []string{
	"10.16.0.0/16", "10.16.0.5/16", "fd00:10:16::/64", "FD00::/64", "0.0.0.0/0", "::/0", "127.0.0.0/8",
	"::ffff:10.0.0.0/120", "fe80::%eth0/64", " 10.0.0.0/8", "10.0.0.0/33", "10.0.0.0/08", "255.255.255.255/32",
	"10.0.0.0/31", "fd00::/127", "", "/", "1.2.3.4/32/1",
}

func FuzzParsePrefix(f *testing.F) {
	for _, s := range prefixSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			if p.IsValid() || err.Value != s || err.Msg == "" {
				t.Fatalf("bad failure: %v, %+v", p, err)
			}
			return
		}
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("ParsePrefix(%q) = %v violates invariants", s, p)
		}
		if q, err := ParsePrefix(p.String()); err != nil || q != p {
			t.Fatalf("ParsePrefix(%q) = %v does not round-trip: %v, %v", s, p, q, err)
		}
		// Accepted prefixes never reach special addresses.
		for _, a := range []string{"0.0.0.0", "127.0.0.1", "255.255.255.255", "224.0.0.1", "169.254.1.1", "::", "::1", "fe80::1", "ff02::1"} {
			if p.Contains(netip.MustParseAddr(a)) {
				t.Fatalf("ParsePrefix(%q) = %v contains %s", s, p, a)
			}
		}
		if Capacity(p) == 0 || !p.Contains(Allocatable(p).From()) || !p.Contains(Allocatable(p).To()) {
			t.Fatalf("ParsePrefix(%q) = %v: bad allocatable range %v", s, p, Allocatable(p))
		}
	})
}

func checkBlocks(t *testing.T, in string, blocks []netip.Prefix) {
	t.Helper()
	if len(blocks) == 0 || len(blocks) > 2 {
		t.Fatalf("%q: %d blocks", in, len(blocks))
	}
	for _, p := range blocks {
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() {
			t.Fatalf("%q: block %v not a valid masked prefix", in, p)
		}
	}
	if len(blocks) == 2 && (!blocks[0].Addr().Is4() || !blocks[1].Addr().Is6()) {
		t.Fatalf("%q: blocks %v not IPv4 then IPv6", in, blocks)
	}
}

func FuzzParseCIDRBlock(f *testing.F) {
	for _, s := range append(prefixSeeds, "10.16.0.0/16,fd00::/64", "fd00::/64,10.0.0.0/24", "10.0.0.0/24,10.1.0.0/24", ",", "a,b,c", "10.0.0.0/24,") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		blocks, errs := ParseCIDRBlock(s)
		if len(errs) > 0 {
			if blocks != nil {
				t.Fatalf("%q: blocks along with errors", s)
			}
			for _, e := range errs {
				if e == nil || e.Msg == "" {
					t.Fatalf("%q: empty error %v", s, e)
				}
			}
			return
		}
		checkBlocks(t, s, blocks)
	})
}

func FuzzParseGateway(f *testing.F) {
	blocks := []netip.Prefix{netip.MustParsePrefix("10.16.0.0/16"), netip.MustParsePrefix("fd00:10:16::/64")}
	for _, s := range []string{"", "10.16.0.1,fd00:10:16::1", "10.16.0.1", "fd00:10:16::1,10.16.0.1", "10.16.0.0,fd00:10:16::", "10.16.255.255,fd00:10:16::ffff:ffff:ffff:ffff", ",", "a,b,c", "10.16.0.1 ,fd00:10:16::1", "::ffff:10.16.0.1,fd00:10:16::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		gws, errs := ParseGateway(s, blocks)
		if len(errs) > 0 {
			if gws != nil {
				t.Fatalf("%q: gateways along with errors", s)
			}
			return
		}
		if len(gws) != len(blocks) {
			t.Fatalf("%q: %d gateways for %d blocks", s, len(gws), len(blocks))
		}
		for i, g := range gws {
			if !blocks[i].Contains(g) || IsReserved(blocks[i], g) {
				t.Fatalf("%q: gateway %v not usable in %v", s, g, blocks[i])
			}
		}
		// The lenient reader agrees with the strict one on accepted input.
		sub := NewSubnet("10.16.0.0/16,fd00:10:16::/64", s, nil)
		for i, g := range gws {
			if sub.Gateways[i] != g {
				t.Fatalf("%q: NewSubnet gateway %v, ParseGateway %v", s, sub.Gateways[i], g)
			}
		}
	})
}

func FuzzParseExcludeEntry(f *testing.F) {
	for _, s := range []string{"10.0.0.5", "10.0.0.5..10.0.0.9", "10.0.0.9..10.0.0.5", "a..", "..b", "..", "10.0.0.1..fd00::1", "10.0.0.0/24", "fd00::1..fd00::ff", "1.2.3.4..1.2.3.5..1.2.3.6", " 10.0.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseExcludeEntry(s)
		if err != nil {
			if r.IsValid() || err.Value != s {
				t.Fatalf("%q: bad failure %v %+v", s, r, err)
			}
			return
		}
		if !r.IsValid() || r.From().Compare(r.To()) > 0 || FamilyOf(r.From()) != FamilyOf(r.To()) || r.From().Zone() != "" {
			t.Fatalf("%q: bad range %v", s, r)
		}
	})
}

func FuzzNewSubnet(f *testing.F) {
	f.Add("10.16.0.0/16", "10.16.0.1", "10.16.0.1..10.16.0.10", "10.16.0.5")
	f.Add("10.16.0.0/16,fd00::/64", "10.16.0.1,fd00::1", "fd00::5..fd00::9", "fd00::7")
	f.Add("fd00::/63 , 10.0.0.5/31", "", "bogus", "10.0.0.4")
	f.Add("::/0,0.0.0.0/0", "::", "::..ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::")
	f.Add("", "", "", "")
	f.Fuzz(func(t *testing.T, cidr, gw, exclude, addr string) {
		s := NewSubnet(cidr, gw, strings.Split(exclude, ","))
		if len(s.Blocks) > 0 {
			checkBlocks(t, cidr, s.Blocks)
		}
		if len(s.Gateways) != len(s.Blocks) {
			t.Fatalf("%d gateways for %d blocks", len(s.Gateways), len(s.Blocks))
		}
		for i, g := range s.Gateways {
			if !s.Blocks[i].Contains(g) || !s.Exclude.Contains(g) {
				t.Fatalf("gateway %v not inside %v or not excluded", g, s.Blocks[i])
			}
		}
		for _, r := range s.Exclude.Ranges() {
			if !s.Contains(r.From()) || !s.Contains(r.To()) {
				t.Fatalf("exclude range %v outside blocks %v", r, s.Blocks)
			}
		}
		if got, want := s.Exclude.Ranges(), referenceExclude(strings.Split(exclude, ","), s.Blocks, s.Gateways); !slices.Equal(got, want) {
			t.Fatalf("exclude set %v, want %v (by set intersection)", got, want)
		}
		for _, f := range []Family{IPv4, IPv6} {
			if p, ok := s.Block(f); ok && s.Capacity(f) > Capacity(p) {
				t.Fatalf("capacity %d above block capacity %d", s.Capacity(f), Capacity(p))
			}
		}
		if a, err := netip.ParseAddr(addr); err == nil {
			ok, reason := s.Allocatable(a)
			if ok == (reason != "") || (ok && (!s.Contains(a) || s.Exclude.Contains(a))) {
				t.Fatalf("Allocatable(%v) = %v, %q", a, ok, reason)
			}
		}
	})
}

// referenceExclude computes an exclude set the obvious way: every entry and
// gateway in one set, intersected with the set of the blocks.
func referenceExclude(entries []string, blocks []netip.Prefix, gateways []netip.Addr) []netipx.IPRange {
	var b, within netipx.IPSetBuilder
	for _, e := range entries {
		if r, err := ParseExcludeEntry(strings.TrimSpace(e)); err == nil {
			b.AddRange(r)
		}
	}
	for _, g := range gateways {
		if g.IsValid() && g.Zone() == "" {
			b.Add(g)
		}
	}
	for _, p := range blocks {
		within.AddPrefix(p.Masked())
	}
	bs, _ := within.IPSet()
	b.Intersect(bs)
	set, _ := b.IPSet()
	return set.Ranges()
}

// FuzzExcludeRange: the allocation-free ExcludeRange agrees with
// ParseExcludeEntry's full parser on every input: the same range, and false exactly
// when ParseExcludeEntry reports an error.
func FuzzExcludeRange(f *testing.F) {
	for _, s := range []string{"10.0.0.5", "10.0.0.5..10.0.0.9", "10.0.0.9..10.0.0.5", "fd00::1..fd00::2", "10.0.0.1..fd00::1",
		"", " 10.0.0.1", "10.0.0.0/24", "fe80::1%eth0", "::ffff:10.0.0.1", "..10.0.0.1", "10.0.0.1..", "1..2..3", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := ExcludeRange(s)
		want, err := parseExcludeEntry(s)
		if ok != (err == nil) || (ok && r != want) {
			t.Fatalf("ExcludeRange(%q) = %v, %v; ParseExcludeEntry = %v, %v", s, r, ok, want, err)
		}
	})
}

// FuzzParseIP: ParseIP gives netip.ParseAddr's address and verdict on
// every input.
func FuzzParseIP(f *testing.F) {
	for _, s := range []string{"10.0.0.5", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.1.1.1", "1.1.1", "1.1.1.1.1", "1..1.1", ".1.1.1", "1.1.1.",
		"fd00::1", "FD00::1", "::ffff:10.0.0.1", "fe80::1%eth0", "fe80::1%", "%x", "z", "", "1:2:3", "1.2:3", "::", "g::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := ParseIP(s)
		want, err := netip.ParseAddr(s)
		if ok != (err == nil) || ok && a != want {
			t.Fatalf("ParseIP(%q) = %v, %v; netip.ParseAddr = %v, %v", s, a, ok, want, err)
		}
	})
}
