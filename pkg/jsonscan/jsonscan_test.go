package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// TestMarks holds Special and QuoteOrEscape to the byte-at-a-time rule:
// the lowest mark is the first byte of interest, for every byte value at
// every place and for random words.
func TestMarks(t *testing.T) {
	for _, tc := range []struct {
		name string
		mark func(uint64) uint64
		is   func(byte) bool
	}{
		{"Special", Special, func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }},
		{"QuoteOrEscape", QuoteOrEscape, func(c byte) bool { return c == '"' || c == '\\' }},
	} {
		first := func(w [8]byte) int {
			for i, c := range w {
				if tc.is(c) {
					return i
				}
			}
			return 8
		}
		lowest := func(w [8]byte) int {
			m := tc.mark(binary.LittleEndian.Uint64(w[:]))
			if m == 0 {
				return 8
			}
			return bits.TrailingZeros64(m) >> 3
		}
		for at := range 8 {
			for c := range 256 {
				for _, fill := range []byte{'a', ' ', '~', '#', '!', 0x01, 0xff, '"'} {
					var w [8]byte
					for i := range w {
						w[i] = fill
					}
					for i := at; i < 8; i++ {
						w[i] = 'a'
					}
					w[at] = byte(c)
					if got, want := lowest(w), first(w); got != want {
						t.Fatalf("%s %q: lowest mark at %d, want %d", tc.name, w[:], got, want)
					}
				}
			}
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for range 1_000_000 {
			var w [8]byte
			binary.LittleEndian.PutUint64(w[:], rng.Uint64())
			// Mostly plain text, as in a snapshot.
			for i := range w {
				if rng.IntN(4) > 0 {
					w[i] = byte(0x20 + rng.IntN(0x60))
				}
			}
			if got, want := lowest(w), first(w); got != want {
				t.Fatalf("%s %q: lowest mark at %d, want %d", tc.name, w[:], got, want)
			}
		}
	}
}
