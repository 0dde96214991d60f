package review

import (
	"errors"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// exactStrings decodes a JSON array into a []string of exactly its
// length. The default decoder appends, and a slice grows by a quarter at
// a time past a few hundred elements: a Subnet's 100k excludeIps cost five
// times their final 1.6 MB in discarded backing arrays, per object, and an
// update carries two. The array is read once (as raw bytes, no copy),
// its elements counted, and then decoded into a slice of that capacity.
// Arrays of a few elements take the default path's cost.
func exactStrings(dec *jsontext.Decoder, v *[]string) error {
	if dec.PeekKind() != '[' {
		return errors.ErrUnsupported // the default decoder takes it
	}
	raw, err := dec.ReadValue()
	if err != nil {
		return err
	}
	if n := CountElements(raw); n > 64 && cap(*v) < n {
		*v = make([]string, 0, n)
	}
	return json.Unmarshal(raw, v, baseDecodeOptions)
}

// CountElements returns the number of elements of the JSON array raw (a
// valid array, as jsontext.Decoder.ReadValue returns it), counting the
// commas outside nested values and strings, without decoding.
func CountElements(raw []byte) int {
	depth, n, empty := 0, 0, true
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth == 1 {
				continue
			}
		case c == ']' || c == '}':
			depth--
			continue
		case c == ',' && depth == 1:
			n++
			continue
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		}
		if depth >= 1 {
			empty = false
		}
	}
	if empty {
		return 0
	}
	return n + 1
}
