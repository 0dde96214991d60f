// Package jsonscan finds, eight bytes at a time, the bytes a scan of a
// JSON string must stop at: the one place the snapshot reader's splitter
// and syntax check and the doctor's decoders look for them.
//
// Each function reads eight bytes as a little-endian word and marks (with
// its high bit) each byte of interest. The lowest marked byte is always
// one; a byte above it may be marked without being one (a borrow of the
// subtraction), so only the lowest is to be trusted:
//
//	if m := jsonscan.Special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
//		i += bits.TrailingZeros64(m) >> 3 // the first byte to look at
//	}
package jsonscan

// Bytes repeated in each byte of a word.
const (
	ones = 0x0101010101010101
	high = 0x8080808080808080
)

// QuoteOrEscape marks the quotes and backslashes of v: where a string
// ends or an escape starts.
func QuoteOrEscape(v uint64) uint64 {
	q := v ^ (ones * '"')
	e := v ^ (ones * '\\')
	return ((q-ones)&^q | (e-ones)&^e) & high
}

// Special marks what QuoteOrEscape marks, and control characters (which a
// JSON string may not hold) and the bytes of multi-byte UTF-8 sequences
// (0x80 and above, to be checked as UTF-8).
func Special(v uint64) uint64 {
	q := v ^ (ones * '"')
	e := v ^ (ones * '\\')
	return ((q-ones)&^q | (e-ones)&^e | (v-ones*0x20)&^v | v) & high
}
