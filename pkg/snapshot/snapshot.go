// Package snapshot is the file format of `kubectl ipam snapshot`: the
// cluster state the doctor (pkg/diagnose) and `kubectl ipam check` read,
// stamped with the cluster's identity and the time it was read, every
// object stripped (Strip) to what they read of it:
//
//	{"apiVersion":"ipamguard.io/v1alpha1","kind":"Snapshot",
//	 "metadata":{"clusterID":"<kube-system namespace UID>","time":"2026-12-07T00:40:00Z"},
//	 "items":[
//	 {"apiVersion":"kubeovn.io/v1","kind":"Subnet","metadata":{...},"spec":{...},"status":{...}},
//	 ...
//	 ],
//	 "incomplete":[{"resource":"pods","reason":"..."}]}
//
// incomplete, after the items, names what could not be read (the doctor
// reports it, and exits 4).
//
// The Writer streams items one per line; Read streams them back one at a
// time, so neither holds a million pods in memory. A snapshot is also a
// Kubernetes List of its items: `check --snapshot` reads it like
// `kubectl get -o json` output, and Read takes such Lists too.
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
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// APIVersion and Kind of a snapshot document.
const (
	APIVersion = "ipamguard.io/v1alpha1"
	Kind       = "Snapshot"
)

// Metadata stamps a snapshot.
type Metadata struct {
	// ClusterID is the UID of the kube-system namespace ("" when it could
	// not be read).
	ClusterID string `json:"clusterID,omitempty"`
	// Time is when the reading started.
	Time time.Time `json:"time"`
}

// Gap is a resource the snapshot lacks, and why.
type Gap struct {
	Resource string `json:"resource"`
	Reason   string `json:"reason"`
}

// Writer writes one snapshot document. Add items, then Close.
type Writer struct {
	w *bufio.Writer
	n int
	// kinds counts the items written by kind, for the trailer.
	kinds map[string]int
	// err is the first write error: every later call returns it.
	err    error
	closed bool
}

// NewWriter starts a snapshot on w with its metadata.
func NewWriter(w io.Writer, meta Metadata) (*Writer, error) {
	m, err := json.Marshal(struct {
		ClusterID string `json:"clusterID,omitempty"`
		Time      string `json:"time"`
	}{meta.ClusterID, meta.Time.UTC().Format(time.RFC3339)})
	if err != nil {
		return nil, fmt.Errorf("write the snapshot's metadata: %w", err)
	}
	sw := &Writer{w: bufio.NewWriterSize(w, 1<<16), kinds: map[string]int{}}
	fmt.Fprintf(sw.w, `{"apiVersion":%q,"kind":%q,"metadata":%s,"items":[`, APIVersion, Kind, m)
	return sw, nil
}

// Add strips one object (Strip) and writes it unless a snapshot leaves it
// out. Its signature is Visit's.
func (w *Writer) Add(apiVersion, kind string, raw []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("snapshot: Add after Close")
	}
	out, keep, err := Strip(apiVersion, kind, raw)
	if err != nil || !keep {
		return err
	}
	if w.n > 0 {
		w.w.WriteByte(',')
	}
	w.w.WriteByte('\n')
	if _, err := w.w.Write(out); err != nil {
		w.err = fmt.Errorf("write the snapshot: %w", err)
		return w.err
	}
	w.n++
	w.kinds[kind]++
	return nil
}

// Items is how many items were written.
func (w *Writer) Items() int { return w.n }

// Close ends the document, naming the resources that could not be read,
// and flushes it.
func (w *Writer) Close(incomplete []Gap) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	w.closed = true
	if w.n > 0 {
		w.w.WriteByte('\n')
	}
	w.w.WriteByte(']')
	if len(incomplete) > 0 {
		g, err := json.Marshal(incomplete)
		if err != nil {
			return fmt.Errorf("write the snapshot: %w", err)
		}
		w.w.WriteString(",\n\"incomplete\":")
		w.w.Write(g)
	}
	// The counts by kind come last, where a reader of a file finds them
	// before it reads the items (TailCounts): it can then size its
	// slices once instead of growing them.
	if w.n > 0 {
		counts, err := json.Marshal(w.kinds) // keys in order
		if err != nil {
			return fmt.Errorf("write the snapshot: %w", err)
		}
		w.w.WriteString(",\n\"" + countsMember + "\":")
		w.w.Write(counts)
	}
	w.w.WriteString("}\n")
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("write the snapshot: %w", err)
	}
	return w.err
}

// Header is what Read returns of a document besides its items.
type Header struct {
	APIVersion, Kind string
	// Metadata is a snapshot's (zero for a List).
	Metadata Metadata
	// Incomplete are the gaps a snapshot records.
	Incomplete []Gap
	// ItemCounts are the items by kind the writer recorded (nil in a
	// List or a snapshot of an older writer).
	ItemCounts map[string]int
	// Items counts the items read.
	Items int
}

// Snapshot reports whether the document is a snapshot (not a List).
func (h *Header) Snapshot() bool { return h.APIVersion == APIVersion && h.Kind == Kind }

// ItemError is a problem with one item of a document.
type ItemError struct {
	// Index is the 0-based index of the item; Offset the byte offset of
	// the document where it starts.
	Index  int
	Offset int64
	// Object names it when known: "v1 Pod apps/db-3".
	Object string
	Err    error
}

func (e *ItemError) Error() string {
	s := fmt.Sprintf("item %d", e.Index)
	if e.Object != "" {
		s += " (" + e.Object + ")"
	}
	return s + ": " + Describe(e.Err)
}

func (e *ItemError) Unwrap() error { return e.Err }

// Read reads a snapshot document, or a Kubernetes List (kind List, or a
// typed list such as SubnetList whose items name no kind, as
// `kubectl get -o json` writes them), and calls visit for each item in
// order, one at a time: the document is never held whole. raw is valid
// only during the call. An error of visit stops the reading and is
// returned as an *ItemError naming the item; so is an item that is not an
// object with apiVersion and kind, or not valid JSON.
func Read(r io.Reader, visit Visit) (*Header, error) {
	return read(r, &splitMode{check: true, pool: make(chan *block, 2), lines: true}, func(it *item) error {
		if err := visit(it.apiVersion, it.kind, it.raw); err != nil {
			return &ItemError{Index: it.index, Offset: it.offset, Object: it.apiVersion + " " + it.kind + " " + objectName(it.raw), Err: err}
		}
		return nil
	})
}

// item is one item of a document, as read hands it to its visit.
type item struct {
	index int
	// offset is the document's offset of raw.
	offset           int64
	apiVersion, kind string
	raw              []byte
	// checked is set once raw's syntax is checked; otherwise the visit
	// must check it (checkValue) before it trusts it.
	checked bool
	// spec is set when raw is the item's line, not checked: if it is not
	// valid JSON, the items must be read again from it (restartError).
	spec bool
	// blk is the block raw is a slice of (nil: raw is not); it is reused
	// once the visit returns unless the visit holds it.
	blk *block
}

// itemVisit receives an item; an error stops the reading and is returned
// as it is.
type itemVisit func(*item) error

// read reads the document, handing each item to visit, split as m says.
func read(r io.Reader, m *splitMode, visit itemVisit) (*Header, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	// in is what dec reads: br, then what follows the items.
	var in io.Reader = br
	dec := jsontext.NewDecoder(in, jsontext.AllowDuplicateNames(true))
	// shift is the document's offset of the decoder's offset 0: the items
	// are read without it, and a new decoder reads what follows them.
	var shift int64
	h := &Header{}
	bad := func(err error) (*Header, error) {
		return h, fmt.Errorf("at byte %d: %w", dec.InputOffset()+shift, shiftOffset(err, shift))
	}
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
			// A List's metadata (resourceVersion, continue) is not a
			// snapshot's.
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
			// A hint only (TailCounts): one that does not parse is
			// ignored, not an error of the document.
			var counts map[string]int
			if err := json.Unmarshal(v, &counts); err == nil && h.Snapshot() {
				h.ItemCounts = counts
			}
		case "items":
			itemsSeen = true
			if err := h.checkKind(true); err != nil {
				return bad(err)
			}
			tok, err := dec.ReadToken()
			if err != nil {
				return h, fmt.Errorf("items: %w", shiftOffset(err, shift))
			}
			switch tok.Kind() {
			case 'n':
				continue
			case '[':
			default:
				return h, fmt.Errorf("items: must be an array, not a JSON %s", kindName(tok.Kind()))
			}
			src := newSource(in, dec.UnreadBuffer(), dec.InputOffset()+shift, m.pool)
			if err := h.items(src, m, visit); err != nil {
				return h, err
			}
			// A new decoder reads on from the end of the items, its
			// state restored by a prefix: inside the document's object,
			// after a member.
			const prefix = `{"":0`
			// After what the source read: the rest of its reader, or
			// why it ended.
			rest := []io.Reader{strings.NewReader(prefix), bytes.NewReader(src.blk.buf[src.pos:])}
			switch {
			case src.err == nil:
				rest = append(rest, src.r)
			case !errors.Is(src.err, io.EOF):
				rest = append(rest, errReader{src.err})
			}
			in = io.MultiReader(rest...)
			dec = jsontext.NewDecoder(in, jsontext.AllowDuplicateNames(true))
			for range 3 {
				if _, err := dec.ReadToken(); err != nil {
					return h, fmt.Errorf("items: %w", err) // not reached: the prefix reads
				}
			}
			shift = src.offset() - int64(len(prefix))
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
	// Only white space may follow.
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("more than one JSON value")
		}
		return bad(fmt.Errorf("after the document: %w", err))
	}
	return h, nil
}

// checkKind refuses a document that is neither a snapshot nor a List; the
// kind must be known before the items (complete: by now).
func (h *Header) checkKind(complete bool) error {
	switch {
	case h.Kind == Kind && (h.APIVersion == APIVersion || h.APIVersion == "" && !complete):
		return nil
	case h.Kind == Kind:
		return fmt.Errorf("apiVersion %q: a snapshot is %s", h.APIVersion, APIVersion)
	case h.Kind != "" && len(h.Kind) >= 4 && h.Kind[len(h.Kind)-4:] == "List":
		return nil
	case h.Kind != "":
		return fmt.Errorf("kind %q: not a snapshot (kind %s) nor a List", h.Kind, Kind)
	case complete:
		return errors.New("kind must be set, and come before items: not a snapshot (kind " + Kind + ") nor a List")
	}
	return nil
}

// items reads the items of an array after its '[', and the ']'; src is
// left after it.
func (h *Header) items(src *source, m *splitMode, visit itemVisit) error {
	// The items of a typed List (SubnetList) name no kind: the List's.
	var dflt [2]string
	if h.Kind != Kind && h.Kind != "List" {
		dflt = [2]string{h.APIVersion, h.Kind[:len(h.Kind)-4]}
	}
	var names nameCache
	lines := m.lines
	speculate := lines && !m.check
	if speculate {
		src.keepChain(m.applied)
	}
	c, ok := src.skipSpace()
	if !ok {
		return &ItemError{Index: 0, Offset: src.offset(), Err: src.endErr()}
	}
	if c == ']' {
		src.pos++
		return nil
	}
	first, before := 0, h.Items
	for {
		err := h.itemsFrom(src, first, lines, m.check, dflt, &names, visit)
		if !speculate {
			return err
		}
		// The lines split are all items, or the items are read again
		// from the first that is not.
		var rs *restartError
		if !errors.As(err, &rs) {
			if serr := m.sync(); !errors.As(serr, &rs) {
				if serr != nil {
					return serr
				}
				return err
			}
		}
		ns, rerr := src.rewind(rs.offset)
		if rerr != nil {
			return &ItemError{Index: rs.index, Offset: rs.offset, Err: rerr}
		}
		*src = *ns
		restarts.Add(1)
		h.Items = before + rs.index
		first, lines, speculate = rs.index, false, false
	}
}

// restarts counts the readings of items again, for the tests.
var restarts atomic.Int64

// itemsFrom reads the items from the one at src, the first-th, not white
// space.
func (h *Header) itemsFrom(src *source, first int, lines, check bool, dflt [2]string, names *nameCache, visit itemVisit) error {
	it := new(item) // one for all: an item per item would be garbage
	for i := first; ; i++ {
		if err := h.item(src, it, i, &lines, check, dflt, names, visit); err != nil {
			return err
		}
		h.Items++
		c, ok := src.skipSpace()
		switch {
		case !ok:
			return &ItemError{Index: i + 1, Offset: src.offset(), Err: src.endErr()}
		case c == ']':
			src.pos++
			return nil
		case c != ',':
			return &ItemError{Index: i + 1, Offset: src.offset(), Err: fmt.Errorf("invalid character %q after an item (expecting ',' or ']')", c)}
		}
		src.pos++
		if _, ok := src.skipSpace(); !ok {
			return &ItemError{Index: i + 1, Offset: src.offset(), Err: src.endErr()}
		}
	}
}

// item reads the item at src (not white space) and visits it. Its syntax
// is checked first when check is set, and whenever it is found wrong in
// another way, so that a malformed item is always refused for its syntax,
// by Read and ReadParallel alike. *lines says whether to try the item's
// line first; it is cleared once a line is found not to be its item.
func (h *Header) item(src *source, it *item, i int, lines *bool, check bool, dflt [2]string, names *nameCache, visit itemVisit) error {
	off := src.offset()
	c := src.blk.buf[src.pos]
	if *lines && c == '{' {
		if e := src.line(); e >= 0 {
			start := src.pos
			v := src.blk.buf[start:e:e]
			src.pos = e
			*it = item{index: i, offset: off, raw: v, blk: src.blk, spec: true}
			err := h.visitItem(it, check, dflt, names, visit)
			if err != errRedo {
				return err
			}
			// The document is not laid out as the Writer writes it: the
			// items from here on are split by the structural scan (a
			// line of many items is not checked again for each).
			src.pos = start
			*lines = false
		}
	}
	v, err := src.value()
	if err != nil {
		return &ItemError{Index: i, Offset: off, Err: err}
	}
	if len(v) == 0 {
		return &ItemError{Index: i, Offset: off, Err: fmt.Errorf("invalid character %q at the start of an item", c)}
	}
	*it = item{index: i, offset: off, raw: v, blk: src.blk}
	return h.visitItem(it, check, dflt, names, visit)
}

// visitItem checks what the reading must of an item and visits it. An
// item split at its line that is found not to be valid JSON here is
// errRedo.
func (h *Header) visitItem(it *item, check bool, dflt [2]string, names *nameCache, visit itemVisit) error {
	i, off, v := it.index, it.offset, it.raw
	var err error
	checkIt := func() error {
		if it.checked {
			return nil
		}
		if it.spec {
			if !valid(v) {
				return errRedo
			}
			it.checked, it.spec = true, false
			return nil
		}
		it.checked = true
		if err := checkValue(v, off); err != nil {
			return &ItemError{Index: i, Offset: off, Err: err}
		}
		return nil
	}
	if check {
		if err := checkIt(); err != nil {
			return err
		}
	}
	if v[0] != '{' {
		if err := checkIt(); err != nil {
			return err
		}
		return &ItemError{Index: i, Offset: off, Err: fmt.Errorf("must be an object, not a JSON %s", kindName(jsontext.Value(v).Kind()))}
	}
	it.apiVersion, it.kind, err = itemHead(v, names)
	if err != nil {
		if cerr := checkIt(); cerr != nil {
			return cerr
		}
		return &ItemError{Index: i, Offset: off, Err: err}
	}
	if it.apiVersion == "" && it.kind == "" && dflt[1] != "" {
		// A new value, not the block's: checked first, as the item read.
		if err := checkIt(); err != nil {
			return err
		}
		it.apiVersion, it.kind = dflt[0], dflt[1]
		it.raw, it.blk = withType(it.apiVersion, it.kind, v), nil
	}
	if it.apiVersion == "" || it.kind == "" {
		if err := checkIt(); err != nil {
			return err
		}
		return &ItemError{Index: i, Offset: off, Object: objectName(it.raw), Err: errors.New("field apiVersion, kind: both must be set")}
	}
	return visit(it)
}

// itemHead reads an item's apiVersion and kind.
func itemHead(v []byte, names *nameCache) (apiVersion, kind string, err error) {
	if a, k, _, ok := fastHead(v, false); ok {
		return names.str(a), names.str(k), nil
	}
	var h struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(v, &h); err != nil {
		return "", "", errors.New(Describe(err))
	}
	return h.APIVersion, h.Kind, nil
}

// objectName is an item's namespace/name, for errors.
func objectName(v []byte) string {
	if _, _, name, ok := fastHead(v, true); ok {
		return string(name)
	}
	var h struct {
		Metadata struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(v, &h)
	return qualified(h.Metadata.Namespace, h.Metadata.Name)
}

// nameCache shares the apiVersion and kind strings of the items: a
// snapshot names a handful, a million times.
type nameCache struct {
	m map[string]string
}

func (c *nameCache) str(b []byte) string {
	if s, ok := c.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if c.m == nil {
		c.m = map[string]string{}
	}
	if len(c.m) < 256 {
		c.m[s] = s
	}
	return s
}

func qualified(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// fastHead reads the head the Writer writes, {"apiVersion":"…","kind":"…",
// "metadata":{"name":"…"[,"namespace":"…"], without decoding the item:
// strings without escapes only; anything else is left to itemHead. The
// namespace/name is made only when withName is set.
func fastHead(v []byte, withName bool) (apiVersion, kind, name []byte, ok bool) {
	rest, ok := bytes.CutPrefix(v, []byte(`{"apiVersion":`))
	if !ok {
		return
	}
	if apiVersion, rest, ok = plainString(rest); !ok {
		return
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"kind":`)); !ok {
		return
	}
	if kind, rest, ok = plainString(rest); !ok {
		return
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"metadata":{"name":`)); !ok {
		return
	}
	if name, rest, ok = plainString(rest); !ok {
		return
	}
	if rest, found := bytes.CutPrefix(rest, []byte(`,"namespace":`)); found {
		var ns []byte
		if ns, _, ok = plainString(rest); !ok {
			return
		}
		if withName {
			name = []byte(qualified(string(ns), string(name)))
		}
	}
	return apiVersion, kind, name, true
}

// plainString reads a JSON string without escapes at the start of b.
func plainString(b []byte) ([]byte, []byte, bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 || bytes.IndexByte(b[1:1+end], '\\') >= 0 {
		return nil, nil, false
	}
	return b[1 : 1+end], b[2+end:], true
}

// withType sets apiVersion and kind on an item of a typed List.
func withType(apiVersion, kind string, raw []byte) []byte {
	out := fmt.Appendf(nil, `{"apiVersion":%q,"kind":%q`, apiVersion, kind)
	if rest := bytes.TrimSpace(raw[1:]); len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, raw[1:]...)
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}

// errReader is a reader that failed.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func eofIsEmpty(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("empty: no JSON document")
	}
	return err
}
