package snapshot

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"

	"github.com/ipamguard/ipamguard/pkg/jsonscan"
)

// maxItemDepth is the deepest nesting an item may have: the decoder of
// the whole document allows 10000 levels, two of which are the document
// and its items.
const maxItemDepth = 10000 - 2

// valid reports whether v is exactly one valid JSON value, as the
// document's decoder (jsontext, duplicate names allowed) would read it as
// an item: white space around it allowed, strings of valid UTF-8 without
// control characters, escapes (surrogates paired), numbers and literals
// of the grammar, nesting of at most maxItemDepth.
func valid(v []byte) bool {
	// stack holds the open containers: '{' or '['; small ones in place.
	var small [32]byte
	stack := small[:0]
	i := skipWS(v, 0)
	for {
		// A value at i.
		if i >= len(v) {
			return false
		}
		switch c := v[i]; c {
		case '{', '[':
			if len(stack) == maxItemDepth {
				return false
			}
			stack = append(stack, c)
			i = skipWS(v, i+1)
			if i < len(v) && v[i] == c+2 { // '}' or ']'
				stack = stack[:len(stack)-1]
				i++
				goto after
			}
			if c == '{' {
				if i = member(v, i); i < 0 {
					return false
				}
			}
			continue
		case '"':
			if i = str(v, i); i < 0 {
				return false
			}
		case 't':
			if i = literal(v, i, "true"); i < 0 {
				return false
			}
		case 'f':
			if i = literal(v, i, "false"); i < 0 {
				return false
			}
		case 'n':
			if i = literal(v, i, "null"); i < 0 {
				return false
			}
		default:
			if i = number(v, i); i < 0 {
				return false
			}
		}
	after:
		// After a value: close containers, or go on to the next value.
		for {
			i = skipWS(v, i)
			if len(stack) == 0 {
				return i == len(v)
			}
			if i >= len(v) {
				return false
			}
			top := stack[len(stack)-1]
			switch v[i] {
			case ',':
				i = skipWS(v, i+1)
				if top == '{' {
					if i = member(v, i); i < 0 {
						return false
					}
				}
			case top + 2:
				stack = stack[:len(stack)-1]
				i++
				continue
			default:
				return false
			}
			break
		}
	}
}

// member reads an object member's name and colon at i, returning where
// its value starts (after white space), or -1.
func member(v []byte, i int) int {
	if i >= len(v) || v[i] != '"' {
		return -1
	}
	if i = str(v, i); i < 0 {
		return -1
	}
	i = skipWS(v, i)
	if i >= len(v) || v[i] != ':' {
		return -1
	}
	return skipWS(v, i+1)
}

func skipWS(v []byte, i int) int {
	for i < len(v) {
		switch v[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// str reads the string at i (its quote) and returns the index after it,
// or -1.
func str(v []byte, i int) int {
	i++
	for i < len(v) {
		// Plain bytes eight at a time: the lowest byte marked is the
		// first quote, backslash, control or non-ASCII byte (bytes above
		// it may be marked by a borrow).
		for i+8 <= len(v) {
			if m := jsonscan.Special(binary.LittleEndian.Uint64(v[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(v) {
			break
		}
		c := v[i]
		switch {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= len(v) {
				return -1
			}
			switch v[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(v, i+2)
				if !ok {
					return -1
				}
				i += 6
				switch {
				case r >= 0xdc00 && r <= 0xdfff:
					return -1
				case r >= 0xd800 && r <= 0xdbff:
					if i+1 >= len(v) || v[i] != '\\' || v[i+1] != 'u' {
						return -1
					}
					r2, ok := hex4(v, i+2)
					if !ok || r2 < 0xdc00 || r2 > 0xdfff {
						return -1
					}
					i += 6
				}
			default:
				return -1
			}
		case c < 0x20:
			return -1
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(v[i:])
			if r == utf8.RuneError && n == 1 {
				return -1
			}
			i += n
		}
	}
	return -1
}

func hex4(v []byte, i int) (rune, bool) {
	if i+4 > len(v) {
		return 0, false
	}
	var r rune
	for _, c := range v[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func literal(v []byte, i int, lit string) int {
	if len(v)-i < len(lit) || string(v[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// number reads the number at i: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func number(v []byte, i int) int {
	if i < len(v) && v[i] == '-' {
		i++
	}
	switch {
	case i < len(v) && v[i] == '0':
		i++
	case i < len(v) && v[i] >= '1' && v[i] <= '9':
		i = digits(v, i)
	default:
		return -1
	}
	if i < len(v) && v[i] == '.' {
		j := digits(v, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		j := digits(v, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(v []byte, i int) int {
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	return i
}
