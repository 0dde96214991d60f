package mutate

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// TestPatchJSONIsMarshal: the hand-sized encoding writes json.Marshal's
// bytes, escapes and odd values included.
func TestPatchJSONIsMarshal(t *testing.T) {
	t.Parallel()
	for _, p := range []Patch{
		{{Op: "add", Path: "/spec/excludeIps", Value: []string{"10.0.0.1", "10.0.0.5..10.0.0.9", "fd00::1"}}},
		{{Op: "add", Path: "/spec/gateway", Value: "10.0.0.1"}, {Op: "add", Path: "/spec/protocol", Value: "IPv4"}},
		{{Op: "add", Path: "/metadata/annotations/a~1b", Value: "quote \" back \\ <tag> & \x01 é \xff"}},
		{{Op: "add", Path: "/spec/excludeIps", Value: []string(nil)}, {Op: "add", Path: "/spec/x", Value: []string{}}},
		{{Op: "add", Path: "/spec/n", Value: 3}, {Op: "remove", Path: "/spec/y", Value: nil}, {Op: "add", Path: "/m", Value: map[string]any{"k": []int{1}}}},
	} {
		got, err := p.JSON()
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Patch.JSON =\n%s\njson.Marshal =\n%s", got, want)
		}
	}
}

// TestCanonicalExcludesV4Spans: the compact IPv4 path writes what the
// general one writes.
func TestCanonicalExcludesV4Spans(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		n := 1 + rng.IntN(40)
		entries := make([]string, n)
		for i := range entries {
			a := netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(3)), byte(rng.IntN(40))})
			switch rng.IntN(4) {
			case 0:
				b := a
				for range rng.IntN(20) {
					b = b.Next()
				}
				entries[i] = a.String() + ".." + b.String()
			case 1:
				entries[i] = " " + a.String() + " "
			default:
				entries[i] = a.String()
			}
		}
		gw := netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(40))}).String()
		v4, ok4, fits := canonicalSpans(entries, gw, v4Ops)
		all, okAll, _ := canonicalSpans(entries, gw, addrOps)
		if !fits || ok4 != okAll || !slices.Equal(v4, all) {
			t.Fatalf("%q gw %s:\nv4  %q %v %v\nall %q %v", entries, gw, v4, ok4, fits, all, okAll)
		}
	}
	if _, _, fits := canonicalSpans([]string{"10.0.0.1", "fd00::1"}, "10.0.0.1", v4Ops); fits {
		t.Errorf("an IPv6 entry fits the IPv4 path")
	}
	got, ok := canonicalExcludes([]string{"fd00::5", "10.0.0.9", "10.0.0.1..10.0.0.3", "10.0.0.2"}, "10.0.0.1,fd00::1")
	if want := []string{"10.0.0.1..10.0.0.3", "10.0.0.9", "fd00::1", "fd00::5"}; !ok || !slices.Equal(got, want) {
		t.Errorf("dual-stack excludes = %q %v, want %q", got, ok, want)
	}
}
