package snapshot

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// oldRead is read as it was before the items were split without
// jsontext: every item read and checked by the decoder of the document.
// The splitter is compared with it.
func oldRead(r io.Reader, visit func(i int, off int64, apiVersion, kind string, raw []byte) error) (*Header, error) {
	dec := jsontext.NewDecoder(bufio.NewReaderSize(r, 1<<16), jsontext.AllowDuplicateNames(true))
	h := &Header{}
	bad := func(err error) (*Header, error) { return h, fmt.Errorf("at byte %d: %w", dec.InputOffset(), err) }
	tok, err := dec.ReadToken()
	if err != nil {
		return h, fmt.Errorf("read the document: %w", eofIsEmpty(err))
	}
	if tok.Kind() != '{' {
		return bad(fmt.Errorf("not a snapshot: the document is a JSON %s, not an object", kindName(tok.Kind())))
	}
	itemsSeen := false
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return bad(err)
		}
		name := tok.String()
		switch name {
		case "apiVersion", "kind":
			v, err := dec.ReadToken()
			if err != nil {
				return bad(err)
			}
			if v.Kind() != '"' {
				return bad(fmt.Errorf("%s: must be a string, not a JSON %s", name, kindName(v.Kind())))
			}
			if name == "kind" {
				h.Kind = v.String()
			} else {
				h.APIVersion = v.String()
			}
			if err := h.checkKind(itemsSeen); err != nil {
				return bad(err)
			}
		case "metadata":
			v, err := dec.ReadValue()
			if err != nil {
				return bad(err)
			}
			if h.Kind == Kind || h.Kind == "" {
				if err := json.Unmarshal(v, &h.Metadata); err != nil && h.Kind == Kind {
					return bad(fmt.Errorf("metadata: %s", Describe(err)))
				}
			}
		case "incomplete":
			v, err := dec.ReadValue()
			if err != nil {
				return bad(err)
			}
			if err := json.Unmarshal(v, &h.Incomplete); err != nil {
				return bad(fmt.Errorf("incomplete: %s", Describe(err)))
			}
		case countsMember:
			v, err := dec.ReadValue()
			if err != nil {
				return bad(err)
			}
			var counts map[string]int
			if err := json.Unmarshal(v, &counts); err == nil && h.Snapshot() {
				h.ItemCounts = counts
			}
		case "items":
			itemsSeen = true
			if err := h.checkKind(true); err != nil {
				return bad(err)
			}
			if err := h.oldItems(dec, visit); err != nil {
				return h, err
			}
		default:
			if err := dec.SkipValue(); err != nil {
				return bad(err)
			}
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return bad(err)
	}
	if err := h.checkKind(true); err != nil {
		return bad(err)
	}
	if !itemsSeen {
		return bad(errors.New("no items: a snapshot (or List) holds its objects in items"))
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("more than one JSON value")
		}
		return bad(fmt.Errorf("after the document: %w", err))
	}
	return h, nil
}

func (h *Header) oldItems(dec *jsontext.Decoder, visit func(i int, off int64, apiVersion, kind string, raw []byte) error) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return fmt.Errorf("items: %w", err)
	}
	if tok.Kind() == 'n' {
		return nil
	}
	if tok.Kind() != '[' {
		return fmt.Errorf("items: must be an array, not a JSON %s", kindName(tok.Kind()))
	}
	var dflt [2]string
	if h.Kind != Kind && h.Kind != "List" {
		dflt = [2]string{h.APIVersion, h.Kind[:len(h.Kind)-4]}
	}
	var names nameCache
	for i := 0; dec.PeekKind() != ']'; i++ {
		off := dec.InputOffset()
		v, err := dec.ReadValue()
		if err != nil {
			return &ItemError{Index: i, Offset: off, Err: err}
		}
		if v.Kind() != '{' {
			return &ItemError{Index: i, Offset: off, Err: fmt.Errorf("must be an object, not a JSON %s", kindName(v.Kind()))}
		}
		apiVersion, kind, err := itemHead(v, &names)
		if err != nil {
			return &ItemError{Index: i, Offset: off, Err: err}
		}
		raw := []byte(v)
		if apiVersion == "" && kind == "" && dflt[1] != "" {
			apiVersion, kind = dflt[0], dflt[1]
			raw = withType(apiVersion, kind, raw)
		}
		if apiVersion == "" || kind == "" {
			return &ItemError{Index: i, Offset: off, Object: objectName(raw), Err: errors.New("field apiVersion, kind: both must be set")}
		}
		if err := visit(i, off, apiVersion, kind, raw); err != nil {
			return err
		}
		h.Items++
	}
	if _, err := dec.ReadToken(); err != nil {
		return fmt.Errorf("items: %w", err)
	}
	return nil
}

// seen is one item as a visit saw it.
type seen struct {
	index            int
	offset           int64
	apiVersion, kind string
	raw              string
}

// compareSplit reads doc with the old path, the new one (as Read does)
// and ReadParallel, and reports where they disagree.
func compareSplit(t *testing.T, doc []byte) {
	t.Helper()
	var want, got []seen
	wh, werr := oldRead(bytes.NewReader(doc), func(i int, off int64, apiVersion, kind string, raw []byte) error {
		want = append(want, seen{i, off, apiVersion, kind, string(raw)})
		return nil
	})
	gh, gerr := read(iotestHalf(doc), &splitMode{check: true, pool: make(chan *block, 2), lines: true}, func(it *item) error {
		got = append(got, seen{it.index, it.offset, it.apiVersion, it.kind, string(it.raw)})
		return nil
	})
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("old: %v; new: %v\n%.300q", werr, gerr, doc)
	}
	var wie, gie *ItemError
	if errors.As(werr, &wie) != errors.As(gerr, &gie) || wie != nil && (wie.Index != gie.Index) {
		t.Fatalf("old: %v; new: %v: not the same item\n%.300q", werr, gerr, doc)
	}
	if len(got) != len(want) {
		t.Fatalf("old: %d items (%v); new: %d (%v)\n%.300q", len(want), werr, len(got), gerr, doc)
	}
	for i := range want {
		// The old path named the offset before the white space that
		// (and comma) precede an item; the new one the item's first byte.
		for want[i].offset < int64(len(doc)) && strings.IndexByte(" \t\r\n,", doc[want[i].offset]) >= 0 {
			want[i].offset++
		}
		if got[i] != want[i] {
			t.Fatalf("item %d: old %+v; new %+v\n%.300q", i, want[i], got[i], doc)
		}
	}
	if werr == nil && (wh.Items != gh.Items || wh.Kind != gh.Kind || wh.APIVersion != gh.APIVersion ||
		fmt.Sprint(wh.Incomplete) != fmt.Sprint(gh.Incomplete) || fmt.Sprint(wh.ItemCounts) != fmt.Sprint(gh.ItemCounts) || wh.Metadata != gh.Metadata) {
		t.Fatalf("header: old %+v; new %+v", wh, gh)
	}
	// ReadParallel: the items' syntax checked on the workers.
	var par []seen
	ph, perr := ReadParallel(bytes.NewReader(doc), 2, func() func(apiVersion, kind string, raw []byte) (seen, error) {
		return func(apiVersion, kind string, raw []byte) (seen, error) {
			return seen{apiVersion: apiVersion, kind: kind, raw: string(raw)}, nil
		}
	}, func(s *seen) error { par = append(par, *s); return nil })
	rh, rerr := Read(bytes.NewReader(doc), func(string, string, []byte) error { return nil })
	if fmt.Sprint(perr) != fmt.Sprint(rerr) || ph.Items != rh.Items || ph.Items != len(par) {
		t.Fatalf("ReadParallel: %v, %d items; Read: %v, %d items\n%.300q", perr, ph.Items, rerr, rh.Items, doc)
	}
	for i, s := range par {
		if s.raw != want[i].raw {
			t.Fatalf("ReadParallel item %d: %s, want %s", i, s.raw, want[i].raw)
		}
	}
}

// iotestHalf reads doc a few bytes at a time, so that items straddle the
// reads.
func iotestHalf(doc []byte) io.Reader { return &smallReader{b: doc} }

type smallReader struct {
	b []byte
	n int
}

func (r *smallReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	r.n++
	k := min(len(p), len(r.b), 1+r.n%7)
	copy(p, r.b[:k])
	r.b = r.b[k:]
	return k, nil
}

var splitSeeds = []string{
	`{"apiVersion":"ipamguard.io/v1alpha1","kind":"Snapshot","metadata":{"time":"2026-12-07T00:00:00Z"},"items":[` + "\n" + `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"b"}},` + "\n" + `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"c\"}]"}}` + "\n]" + `,` + "\n" + `"incomplete":[{"resource":"pods","reason":"x"}],` + "\n" + `"itemCounts":{"Pod":2}}` + "\n",
	`{"kind":"SubnetList","apiVersion":"kubeovn.io/v1","items":[{"metadata":{"name":"a"},"spec":{"cidrBlock":"10.0.0.0/24"}}]}`,
	"{\"kind\": \"List\", \"apiVersion\": \"v1\", \"items\": [\n {\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"p\\u0031\"}\n },\n {\"kind\":\"X\",\"apiVersion\":\"a/b\"}\n ]\n}\n",
	`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod"} {"apiVersion":"v1","kind":"Pod"}]}`,
	`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","x":[1,2,}]}`,
	`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","x":"\xff"}]}`,
	`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","x":"\ud800"}]}`,
	`{"kind":"List","items":[1,]}`, `{"kind":"List","items":[,]}`, `{"kind":"List","items":[tru]}`, `{"kind":"List","items":[-]}`,
	`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod"},`, `{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod"}]`,
	`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","a":"x\`, `{"kind":"List","items":[{}],"items":[{"apiVersion":"v","kind":"K"}], "x" : [1, {"y":2}] }  `,
	`{"kind":"List","items":[],"incomplete":[{"resource":1}]}`, `{"kind":"List","items":[] , }`, `{"kind":"List","items":null}`,
	`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod"}]} x`, `{"kind":"List","items":[{"kind":"Pod","apiVersion":"v1","a":{"b":[{"c":"}"}]}}]}`,
	`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod"}}]}`, `{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod"]]}`,
	`{"kind":"List","items":["a",{}]}`, `{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","a":01}]}`,
	`{"kind":"List","apiVersion":"v1","items":[],"items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a-namespace-with-a-long-enough-name"}}]}`,
	`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","a":[[[[}]}`, `{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","a":tru,"b":[[[`,
	`{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod"},{"apiVersion":"v1","kind":"Pod"}` + "\n" + `,{"apiVersion":"v1","kind":"Pod"}]}`,
}

// FuzzSplit compares the splitter with the old jsontext path on any
// input: the same documents accepted, the same items, the same item at
// fault; and ReadParallel with Read.
func FuzzSplit(f *testing.F) {
	for _, s := range splitSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) { compareSplit(t, doc) })
}

// TestSplitLarge compares the paths on a document of items larger than a
// block and of many blocks.
func TestSplitLarge(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Metadata{Time: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		big := strings.Repeat(`x\"`, 1+i%50)
		if i == 1500 {
			big = strings.Repeat("y", 3*blockSize)
		}
		_ = w.Add("example.com/v1", "Thing", fmt.Appendf(nil, `{"apiVersion":"example.com/v1","kind":"Thing","metadata":{"name":"t-%d"},"data":"%s","list":[{"a":"]"},{"b":"}"}]}`, i, big))
	}
	if err := w.Close(nil); err != nil {
		t.Fatal(err)
	}
	doc := buf.Bytes()
	compareSplit(t, doc)
	for _, cut := range []int{len(doc) / 3, len(doc) / 2, len(doc) - 5} {
		compareSplit(t, doc[:cut])
	}
	// Hand-edited: lines that are not one item each, far into the
	// document (ReadParallel reads again from them), and a bad item.
	lines := strings.Split(string(doc), "\n")
	edit := func(at int, with string) []byte {
		l := append([]string(nil), lines...)
		l[at] = with
		return []byte(strings.Join(l, "\n"))
	}
	pretty := func(at int) string {
		var out bytes.Buffer
		line := strings.TrimSuffix(lines[at], ",")
		if err := json.Indent(&out, []byte(line), "", "  "); err != nil {
			t.Fatal(err)
		}
		return out.String() + ","
	}
	for name, d := range map[string][]byte{
		"pretty item":      edit(2000, pretty(2000)),
		"pretty first":     edit(1, pretty(1)),
		"two on a line":    edit(2100, strings.TrimSuffix(lines[2100], ",")+" , "+lines[2101]+"\n"+`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"extra"}},`),
		"split after a }":  edit(2200, strings.Replace(lines[2200], `{"a":"]"},`, `{"a":"]"},`+"\n", 1)),
		"bad item":         edit(2300, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"y":[1,}`+","),
		"bad after pretty": edit(2400, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"y":tru}`+","),
	} {
		t.Run(name, func(t *testing.T) {
			if name == "bad after pretty" {
				l := strings.Split(string(d), "\n")
				l[10] = pretty(10)
				d = []byte(strings.Join(l, "\n"))
			}
			before := restarts.Load()
			compareSplit(t, d)
			// A line that starts an item but ends elsewhere is split by
			// the structural scan at once; one that looks like an item
			// but is not valid JSON is found so by ReadParallel's
			// workers, and read again.
			if again := restarts.Load() > before; again != !strings.HasPrefix(name, "pretty") {
				t.Errorf("ReadParallel read again: %v", again)
			}
		})
	}
}

// FuzzValid compares valid with jsontext on any value.
func FuzzValid(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}],"c":"\u00e9\ud83d\ude00"}`, `[]`, `{}`, ` 1 `, `-0.5e+3`, `01`, `"\ud800"`, `"\udc00x"`, "\"\xff\"", "\"\xed\xa0\x80\"", `{"a" 1}`, `[1,]`, `{"a":1,}`, `tru`, `nulll`, `"a\x01"`, `[[[[]]]]`, `{"a":{"a":1},"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		want := jsontext.Value(v).IsValid(jsontext.AllowDuplicateNames(true))
		if got := valid(v); got != want {
			t.Fatalf("valid(%q) = %v, jsontext: %v", v, got, want)
		}
	})
}

// BenchmarkSplit measures the reading goroutine's part per item on a
// Writer's document of pods and IP objects: the old path (every item
// read by jsontext and copied, as ReadParallel's arena did), the
// splitter alone (ReadParallel's reader), the splitter with each item
// checked (Read), and the check alone against jsontext's.
func BenchmarkSplit(b *testing.B) {
	const n = 50000
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Metadata{Time: time.Unix(0, 0)})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
		ns := fmt.Sprintf("ns-%d", i%100)
		_ = w.Add("v1", "Pod", fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p-%d","namespace":%q,"uid":"0b6a2c1e-3f5d-4c6b-9a8e-%012d","resourceVersion":"%d","creationTimestamp":"2026-01-01T00:00:00Z","labels":{"app":"web","pod-template-hash":"abc"},"annotations":{"ovn.kubernetes.io/ip_address":%q,"ovn.kubernetes.io/allocated":"true","ovn.kubernetes.io/logical_switch":"ovn-default"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-abc","uid":"u","controller":true}]},"spec":{"nodeName":"node-1"},"status":{"phase":"Running","podIPs":[{"ip":%q}]}}`, i, ns, i, i, addr, addr))
		_ = w.Add("kubeovn.io/v1", "IP", fmt.Appendf(nil, `{"apiVersion":"kubeovn.io/v1","kind":"IP","metadata":{"name":"p-%d.%s","uid":"u-%d","resourceVersion":"%d","creationTimestamp":"2026-01-01T00:00:01Z","labels":{"ovn.kubernetes.io/subnet":"ovn-default"}},"spec":{"podName":"p-%d","namespace":%q,"subnet":"ovn-default","nodeName":"node-1","ipAddress":%q,"v4IpAddress":%q,"macAddress":"00:00:00:00:00:01","containerID":"abc"}}`, i, ns, i, i, i, ns, addr, addr))
	}
	if err := w.Close(nil); err != nil {
		b.Fatal(err)
	}
	doc := buf.Bytes()
	perItem := func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(2*n), "ns/item")
	}
	b.Run("old", func(b *testing.B) {
		arena := make([]byte, 0, 320<<10)
		for range b.N {
			if _, err := oldRead(bytes.NewReader(doc), func(_ int, _ int64, _, _ string, raw []byte) error {
				if len(arena)+len(raw) > cap(arena) {
					arena = arena[:0]
				}
				arena = append(arena, raw...)
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		perItem(b)
	})
	var applied atomic.Int64
	for name, m := range map[string]*splitMode{
		"structural":       {},
		"lines":            {lines: true, applied: &applied, sync: func() error { return nil }},
		"lines+check":      {lines: true, check: true},
		"structural+check": {check: true},
	} {
		b.Run("split/"+name, func(b *testing.B) {
			m.pool = make(chan *block, 2)
			for range b.N {
				if _, err := read(bytes.NewReader(doc), m, func(it *item) error { applied.Store(it.offset); return nil }); err != nil {
					b.Fatal(err)
				}
			}
			perItem(b)
		})
	}
	var items [][]byte
	_, _ = oldRead(bytes.NewReader(doc), func(_ int, _ int64, _, _ string, raw []byte) error {
		items = append(items, bytes.Clone(raw))
		return nil
	})
	b.Run("valid", func(b *testing.B) {
		for range b.N {
			for _, it := range items {
				if !valid(it) {
					b.Fatal("invalid")
				}
			}
		}
		perItem(b)
	})
	b.Run("jsontext.IsValid", func(b *testing.B) {
		for range b.N {
			for _, it := range items {
				if !jsontext.Value(it).IsValid(jsontext.AllowDuplicateNames(true)) {
					b.Fatal("invalid")
				}
			}
		}
		perItem(b)
	})
}
