package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSplitSecondItems reads a document with two items members, the
// second read by a decoder made after the first: both arrays are read,
// as the old path read them, also when the second spans many blocks.
func TestSplitSecondItems(t *testing.T) {
	short := `{"kind":"List","apiVersion":"v1","items":[],"items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a-namespace-with-a-long-enough-name"}}]}`
	var long strings.Builder
	long.WriteString(`{"kind":"List","apiVersion":"v1","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"first"}}],"items":[`)
	const n = 30000
	for i := range n {
		if i > 0 {
			long.WriteString(",\n")
		}
		fmt.Fprintf(&long, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"namespace-%06d"},"pad":"%s"}`, i, strings.Repeat("x", 40))
	}
	long.WriteString("],\"incomplete\":[{\"resource\":\"pods\",\"reason\":\"x\"}]}\n")
	for name, c := range map[string]struct {
		doc   string
		items int
	}{"short": {short, 1}, "long": {long.String(), n + 1}} {
		t.Run(name, func(t *testing.T) {
			compareSplit(t, []byte(c.doc))
			var last string
			h, err := Read(strings.NewReader(c.doc), func(_, _ string, raw []byte) error { last = string(raw); return nil })
			if err != nil || h.Items != c.items || len(h.Incomplete) != strings.Count(c.doc, "incomplete") {
				t.Fatalf("%v, %d items, %v; want %d items", err, h.Items, h.Incomplete, c.items)
			}
			if !strings.HasSuffix(c.doc, last+"]}") && !strings.Contains(c.doc, last+"],") {
				t.Fatalf("last item %.100s", last)
			}
		})
	}
}

// TestSplitOneLine reads documents of many items on one line (json.dump,
// jq -cj): each byte is searched for a line end once, not once per item,
// and no item is its whole line (the line's search is capped).
func TestSplitOneLine(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"kind":"List","apiVersion":"v1","items":[`)
	const n = 60000
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p-%d","namespace":"n"}}`, i)
	}
	b.WriteString(`]}`)
	for name, doc := range map[string][]byte{"no newline": []byte(b.String()), "newline at the end": []byte(b.String() + "\n")} {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			var longest int
			go func() {
				h, err := Read(bytes.NewReader(doc), func(_, _ string, raw []byte) error { return nil })
				if err == nil && h.Items != n {
					err = fmt.Errorf("Read: %d items", h.Items)
				}
				if err != nil {
					done <- err
					return
				}
				h, err = ReadParallel(bytes.NewReader(doc), 2, func() func(_, _ string, raw []byte) (int, error) {
					return func(_, _ string, raw []byte) (int, error) { return len(raw), nil }
				}, func(l *int) error { longest = max(longest, *l); return nil })
				if err == nil && h.Items != n {
					err = fmt.Errorf("ReadParallel: %d items", h.Items)
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("%d items on one line (%d bytes) not read in 20s", n, len(doc))
			}
			if longest > 200 {
				t.Errorf("an item applied is %d bytes", longest)
			}
		})
	}
	// The splitter alone, as ReadParallel's reader: no item it hands on
	// is longer than the cap on a line.
	doc := []byte(b.String() + "\n")
	var applied atomic.Int64
	longest := 0
	// (The lines are not verified here: the last items are split as their
	// line, which ends the document too soon.)
	_, _ = read(bytes.NewReader(doc), &splitMode{pool: make(chan *block, 2), lines: true, applied: &applied, sync: func() error { return nil }}, func(it *item) error {
		longest = max(longest, len(it.raw))
		applied.Store(it.offset)
		return nil
	})
	if longest > lineCap {
		t.Errorf("an item split is %d bytes (the document: %d)", longest, len(doc))
	}
}

// TestSplitUnclosed reads items whose brackets do not close: the error is
// the decoder's, at the byte that does not match, as the old path reported
// it, not the end of the document.
func TestSplitUnclosed(t *testing.T) {
	tail := strings.Repeat(`,{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}`+"\n", 50000) + "]}"
	for _, doc := range []string{
		`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","a":[[[[}]}`,
		`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","a":{"b":[}` + tail,
		`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","a":[[[[` + tail,
		`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","a":tru,"b":[[[` + strings.Repeat("[", 100),
		// Deeper than the brackets kept in a word.
		`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","a":` + strings.Repeat(`[{"b":`, 40) + `1]` + strings.Repeat(`}]`, 40) + `}]}`,
		`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","a":` + strings.Repeat(`[{"b":`, 40) + `[1}` + strings.Repeat(`}]`, 40) + `}]}`,
	} {
		_, werr := oldRead(strings.NewReader(doc), func(int, int64, string, string, []byte) error { return nil })
		_, gerr := Read(strings.NewReader(doc), func(string, string, []byte) error { return nil })
		// The same error at the same byte; the JSON pointer is the
		// item's, as for any item found malformed by checkValue.
		within := regexp.MustCompile(`within "[^"]*" `)
		if werr == nil || gerr == nil || within.ReplaceAllString(werr.Error(), "") != within.ReplaceAllString(gerr.Error(), "") {
			t.Errorf("old: %v\nnew: %v\n%.100q", werr, gerr, doc)
		}
		if strings.Contains(fmt.Sprint(gerr), "unexpected EOF") {
			t.Errorf("%v: not the byte at fault", gerr)
		}
		compareSplit(t, []byte(doc))
	}
	// Deep items that close read as before.
	for _, d := range []int{10, 63, 64, 65, 200} {
		compareSplit(t, []byte(`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","a":`+strings.Repeat(`[{"b":`, d)+`1`+strings.Repeat(`}]`, d)+`},`+"\n"+`{"apiVersion":"v1","kind":"Pod"}]}`))
	}
}

// failingReader returns doc in small chunks, the last with err, then
// io.EOF.
type failingReader struct {
	doc  []byte
	last int // the size of the last chunk
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	switch {
	case r.doc == nil:
		return 0, io.EOF
	case len(r.doc) == r.last:
		n := copy(p, r.doc)
		r.doc = nil
		return n, r.err
	}
	n := copy(p, r.doc[:min(len(r.doc)-r.last, 100)])
	r.doc = r.doc[n:]
	return n, nil
}

// TestSplitReadError: a read error with the last bytes the items are read
// from is not lost after them.
func TestSplitReadError(t *testing.T) {
	boom := errors.New("boom")
	doc := `{"kind":"List","apiVersion":"v1","items":[` + strings.Repeat(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}},`+"\n", 2000) + `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"y"}}` + "\n" + `]}`
	for _, last := range []int{2, 3, 60} {
		h, err := Read(&failingReader{doc: []byte(doc), last: last, err: boom}, func(string, string, []byte) error { return nil })
		if !errors.Is(err, boom) && !strings.Contains(fmt.Sprint(err), "boom") {
			t.Errorf("last chunk %d: %v, %d items; want the read error", last, err, h.Items)
		}
	}
	if _, err := Read(&failingReader{doc: []byte(doc), last: 2, err: io.EOF}, func(string, string, []byte) error { return nil }); err != nil {
		t.Errorf("io.EOF with the last bytes: %v", err)
	}
}

// TestSplitItemCapacity: an item's raw has no room into its block, so
// that a visit appending to it does not write over the document.
func TestSplitItemCapacity(t *testing.T) {
	for _, doc := range []string{
		splitSeeds[0],
		"{\"kind\": \"List\", \"apiVersion\": \"v1\", \"items\": [\n {\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\"\n },{\"kind\":\"X\",\"apiVersion\":\"a/b\"} ,\n{\"kind\":\"X\",\"apiVersion\":\"a/b\"}]}",
	} {
		n := 0
		_, err := Read(strings.NewReader(doc), func(_, _ string, raw []byte) error {
			n++
			if cap(raw) != len(raw) {
				return fmt.Errorf("raw %q has capacity %d", raw, cap(raw))
			}
			return nil
		})
		if err != nil || n == 0 {
			t.Errorf("%v, %d items", err, n)
		}
	}
}

// TestValueBrackets: the structural scan stops at the first closing
// bracket that does not match, at any depth, and reads a value that
// closes to its end.
func TestValueBrackets(t *testing.T) {
	for _, d := range []int{1, 63, 64, 65, 130} {
		open := strings.Repeat(`[{"b":`, d)
		for _, c := range []struct {
			v    string
			stop int // the end of the scan: of the value, or after the mismatch
			bad  bool
		}{
			{open + `1` + strings.Repeat(`}]`, d), len(open) + 1 + 2*d, false},
			{open + `1]` + strings.Repeat(`}]`, d), len(open) + 2, true},
			{open + `[1}` + strings.Repeat(`}]`, d), len(open) + 3, true},
			{open + `1}}` + strings.Repeat(`}]`, d), len(open) + 3, true},
		} {
			doc := c.v + ` ,{"x":1}]`
			src := newSource(strings.NewReader(""), []byte(doc), 0, make(chan *block, 1))
			v, err := src.value()
			if (err != nil) != c.bad || src.pos != c.stop || !c.bad && string(v) != doc[:c.stop] {
				t.Errorf("depth %d: %.20q… scanned to %d (%v), want %d (error: %v)", d, c.v, src.pos, err, c.stop, c.bad)
			}
		}
	}
}
