package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync/atomic"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/ipamguard/ipamguard/pkg/jsonscan"
)

// The items of a document are split without being copied or checked: the
// document is read in blocks, an item is a slice of a block (one that
// does not fit is carried whole into the next block). An item the Writer
// wrote is its line (bytes.IndexByte finds its end); any other is found by
// a structural scan (strings, escapes, depth) that does not check its
// syntax. The syntax is checked where the item is handled, by valid: Read
// checks each item before its visit; ReadParallel on its workers, unless
// the decoder vouches for it (Checked). A line that is not valid JSON may
// be an item on several lines, or several items on one: the items are
// then read again from it by the structural scan (restartError), so that
// any layout reads as before, and a malformed item is refused as before.

// splitMode is how read splits the items.
type splitMode struct {
	// check has each item's syntax checked before its visit (Read).
	check bool
	// pool recycles the blocks.
	pool chan *block
	// lines splits the items at line ends first, as the Writer writes
	// them: a line that is valid JSON is the item. With check, a line
	// that is not is split again by the structural scan at once.
	// Otherwise (ReadParallel) the visit is handed items marked spec,
	// not checked, and sync, called before the reading leaves the items
	// (or fails in them), tells whether each was its line: nil, or a
	// *restartError naming the first that was not, from which the items
	// are read again by the structural scan. A restartError may also come
	// from a visit. applied is the end offset of the items applied (the
	// blocks from there on are kept for a restart).
	lines   bool
	applied *atomic.Int64
	sync    func() error
}

// restartError asks for the items to be read again from one that was not
// its line.
type restartError struct {
	index  int
	offset int64
}

func (e *restartError) Error() string {
	return fmt.Sprintf("item %d (byte %d) is not one line: read again", e.index, e.offset)
}

// errRedo has an item split at its line split again by the structural
// scan.
var errRedo = errors.New("not one line")

// blockSize is the size of a block of the document.
const blockSize = 1 << 20

// block is a part of the document the items of which are slices of it.
type block struct {
	buf []byte // the bytes read: buf[:len]
	// base is the document's offset of buf[0].
	base int64
	// refs counts the holds on the block: the source's while it reads
	// from it, and one for each batch (ReadParallel) holding its items.
	// The last release returns it to its pool.
	refs atomic.Int32
	pool chan *block
}

// hold pins the block for one more holder.
func (b *block) hold() { b.refs.Add(1) }

// release drops a hold; the last returns the block to its pool.
func (b *block) release() {
	if b.refs.Add(-1) == 0 && b.pool != nil {
		select {
		case b.pool <- b:
		default:
		}
	}
}

// source reads the document by blocks, from where a jsontext.Decoder left
// it.
type source struct {
	r   io.Reader
	blk *block
	pos int // the next byte: blk.buf[pos]
	err error
	// chain, when kept (applied set), holds the blocks from the first
	// item not yet applied on, so that the reading can go back to it
	// (rewind); applied is the end offset of the items applied.
	chain   []*block
	applied *atomic.Int64
	// nl is the document's offset of the newline line last found, and
	// scanned the offset up to which line searched: no newline lies
	// between where it started (an item's start) and scanned, unless at
	// nl.
	nl, scanned int64
	// stack holds the brackets value has open.
	stack []byte
}

// newSource continues the document at offset base, with buffered: the
// bytes a decoder read of it ahead of base.
func newSource(r io.Reader, buffered []byte, base int64, pool chan *block) *source {
	var b *block
	select {
	case b = <-pool:
	default:
		b = &block{pool: pool}
	}
	if need := max(blockSize, len(buffered)); cap(b.buf) < need {
		b.buf = make([]byte, 0, need)
	}
	b.buf, b.base = append(b.buf[:0], buffered...), base
	b.refs.Store(1)
	return &source{r: r, blk: b}
}

// keepChain has the source keep its blocks from the first item not yet
// applied on (applied: the end offset of the items applied).
func (s *source) keepChain(applied *atomic.Int64) {
	s.applied = applied
	s.blk.hold()
	s.chain = append(s.chain, s.blk)
}

// offset is the document's offset of the next byte.
func (s *source) offset() int64 { return s.blk.base + int64(s.pos) }

// more reads more of the document into a new block that starts with
// blk.buf[keep:] (moving pos along); false when nothing more was read
// (err says why).
func (s *source) more(keep int) bool {
	if s.err != nil {
		return false
	}
	old := s.blk
	if len(old.buf) < cap(old.buf) {
		// Room left: read into the block itself. Its bytes stay where
		// they are, so the items already sliced from it stay valid.
		n := len(old.buf)
		s.read(old)
		return len(old.buf) > n
	}
	tail := old.buf[keep:]
	var nb *block
	select {
	case nb = <-old.pool:
	default:
		nb = &block{pool: old.pool}
	}
	if need := max(blockSize, 2*len(tail)); cap(nb.buf) < need {
		nb.buf = make([]byte, 0, need)
	}
	nb.buf = append(nb.buf[:0], tail...)
	nb.base = old.base + int64(keep)
	nb.refs.Store(1)
	if s.applied != nil {
		done := s.applied.Load()
		n := 0
		for n < len(s.chain) && s.chain[n].base+int64(len(s.chain[n].buf)) <= done {
			s.chain[n].release()
			n++
		}
		s.chain = append(s.chain[:0], s.chain[n:]...)
		nb.hold()
		s.chain = append(s.chain, nb)
	}
	s.read(nb)
	s.pos -= keep
	s.blk = nb
	old.release()
	return len(nb.buf) > len(tail)
}

// rewind returns a source that reads the document again from offset off,
// which must not be before the first item not yet applied: the bytes are
// those of the chain's blocks. The chain is let go.
func (s *source) rewind(off int64) (*source, error) {
	var b []byte
	covered := off
	for _, blk := range s.chain {
		end := blk.base + int64(len(blk.buf))
		switch {
		case end <= covered:
		case blk.base > covered:
			return nil, fmt.Errorf("read the document again from byte %d: byte %d is gone", off, covered)
		default:
			b = append(b, blk.buf[covered-blk.base:]...)
			covered = end
		}
	}
	if covered < s.offset() {
		return nil, fmt.Errorf("read the document again from byte %d: byte %d is gone", off, covered)
	}
	for _, blk := range s.chain {
		blk.release()
	}
	s.chain = nil
	ns := newSource(s.r, b, off, s.blk.pool)
	ns.err = s.err
	return ns, nil
}

// lineCap bounds a line's search: a line longer than this from its item's
// start is not tried (the structural scan splits the item), so that a
// document on one line is not held whole nor searched again for each
// item.
const lineCap = blockSize

// line returns the end (in blk.buf) of the item at pos, a '{', if its
// line holds it as the Writer writes it — the item, maybe a comma, then
// the line's end — on the assumption that the line holds one item; -1
// if the line does not end with '}' or ',' after one, or is longer than
// lineCap. Whether the line is the item is for the check of the item's
// syntax to tell: if it is valid JSON, it is the item. What the search
// found is remembered (nl, scanned), so that each byte is searched once
// however many items a line holds.
func (s *source) line() int {
	startOff := s.offset()
	nl := -1
	switch {
	case s.nl >= startOff:
		nl = int(s.nl - s.blk.base)
	case s.scanned-startOff >= lineCap:
		return -1
	default:
		for {
			buf := s.blk.buf
			from := max(s.pos, int(s.scanned-s.blk.base))
			if k := bytes.IndexByte(buf[from:], '\n'); k >= 0 {
				nl = from + k
				s.nl = s.blk.base + int64(nl)
				s.scanned = s.nl
				break
			}
			s.scanned = s.blk.base + int64(len(buf))
			if len(buf)-s.pos >= lineCap || !s.more(s.pos) {
				return -1
			}
		}
	}
	start := s.pos
	if nl-start > lineCap {
		return -1
	}
	buf := s.blk.buf
	e := trimSpaceEnd(buf, start, nl)
	if e > start && buf[e-1] == ',' {
		e = trimSpaceEnd(buf, start, e-1)
	}
	if e-start < 2 || buf[e-1] != '}' {
		return -1
	}
	return e
}

func trimSpaceEnd(buf []byte, start, e int) int {
	for e > start && (buf[e-1] == ' ' || buf[e-1] == '\t' || buf[e-1] == '\r') {
		e--
	}
	return e
}

// read reads into the free part of b at least one byte, or sets err.
func (s *source) read(b *block) {
	for {
		n, err := s.r.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+n]
		if err != nil {
			s.err = err
			return
		}
		if n > 0 {
			return
		}
	}
}

// endErr is why the document ended where a value was due.
func (s *source) endErr() error {
	if s.err == nil || errors.Is(s.err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read the document: %w", s.err)
}

// skipSpace skips white space and returns the next byte; false at the end.
func (s *source) skipSpace() (byte, bool) {
	for {
		buf := s.blk.buf
		for s.pos < len(buf) {
			switch c := buf[s.pos]; c {
			case ' ', '\t', '\n', '\r':
				s.pos++
			default:
				return c, true
			}
		}
		if !s.more(s.pos) {
			return 0, false
		}
	}
}

// value finds the end of the JSON value at pos (not white space) and
// returns it, moving pos past it. Its syntax is not checked, only its
// structure: a string ends at an unescaped quote, an object or array at
// the bracket that closes it, anything else at white space, a comma, a
// bracket, a brace, a quote or the end of the document. A closing
// bracket that does not match the one open, or the end of the document
// inside the value, is the decoder's error (checkValue) on the value so
// far. The value is valid until the next call to more.
func (s *source) value() ([]byte, error) {
	start := s.pos
	i := start
	// The brackets open: depth of them, the first 64 a bit each in
	// arrays (set: '['), the others in stack.
	depth := 0
	var arrays uint64
	stack := s.stack[:0]
	inString := false
	scalar := false
	switch s.blk.buf[start] {
	case '{', '[':
	case '"':
		inString = true
		i++
	default:
		scalar = true
	}
	for {
		buf := s.blk.buf
		if scalar {
			for ; i < len(buf); i++ {
				switch buf[i] {
				case ' ', '\t', '\n', '\r', ',', ']', '}', '[', '{', '"', ':':
					s.pos = i
					return buf[start:i:i], nil
				}
			}
		} else {
			for i < len(buf) {
				if inString {
					j := stringEnd(buf, i)
					if j == len(buf) {
						i = j
						break
					}
					if buf[j] == '\\' {
						if j+1 == len(buf) {
							i = j // the escape is read again with the next block
							break
						}
						i = j + 2
						continue
					}
					inString = false
					i = j + 1
					if depth == 0 {
						s.pos = i
						return buf[start:i:i], nil
					}
					continue
				}
				switch c := buf[i]; c {
				case '"':
					inString = true
				case '{', '[':
					switch {
					case depth >= 64:
						stack = append(stack[:depth-64], c)
					case c == '[':
						arrays |= 1 << depth
					default:
						arrays &^= 1 << depth
					}
					depth++
				case '}', ']':
					open := byte(0)
					if depth > 0 {
						depth--
						switch {
						case depth >= 64:
							open = stack[depth-64]
						case arrays>>depth&1 != 0:
							open = '['
						default:
							open = '{'
						}
					}
					if open != c-2 { // '{'+2 == '}', '['+2 == ']'
						s.stack = stack
						off := s.blk.base + int64(start)
						s.pos = i + 1
						if err := checkValue(buf[start:i+1], off); err != nil {
							return nil, err
						}
						return nil, fmt.Errorf("invalid character %q at byte %d", c, off+int64(i-start))
					}
					if depth == 0 {
						s.stack = stack
						s.pos = i + 1
						return buf[start : i+1 : i+1], nil
					}
				}
				i++
			}
		}
		n := i - start
		if !s.more(start) {
			s.stack = stack
			if scalar && s.err != nil && errors.Is(s.err, io.EOF) {
				v := s.blk.buf[s.pos:len(s.blk.buf):len(s.blk.buf)]
				s.pos = len(s.blk.buf)
				return v, nil
			}
			// The decoder would report a fault before the end.
			v := s.blk.buf[s.pos:]
			s.pos = len(s.blk.buf)
			if err := checkValue(v, s.offset()-int64(len(v))); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, err
			}
			return nil, s.endErr()
		}
		start, i = s.pos, s.pos+n
	}
}

// stringEnd returns the index of the first quote or backslash in buf from
// i on (len(buf): none), looking at eight bytes at a time.
func stringEnd(buf []byte, i int) int {
	for ; i+8 <= len(buf); i += 8 {
		if m := jsonscan.QuoteOrEscape(binary.LittleEndian.Uint64(buf[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(buf) && buf[i] != '"' && buf[i] != '\\' {
		i++
	}
	return i
}

// checkValue checks that v, at the document's offset off, is one valid
// JSON value (as the decoder of the document reads it): nil, or the
// decoder's error with the document's offset.
func checkValue(v []byte, off int64) error {
	if valid(v) {
		return nil
	}
	// The error, rarely made, is the decoder's.
	dec := jsontext.NewDecoder(bytes.NewReader(v), jsontext.AllowDuplicateNames(true))
	_, err := dec.ReadValue()
	if err == nil {
		_, err = dec.ReadToken()
		switch {
		case errors.Is(err, io.EOF):
			err = fmt.Errorf("nested more than %d deep", maxItemDepth)
		case err == nil:
			err = errors.New("more than one JSON value")
		}
	}
	return shiftOffset(err, off)
}

// shiftOffset moves the offset a jsontext error names by off.
func shiftOffset(err error, off int64) error {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		se.ByteOffset += off
	}
	return err
}
