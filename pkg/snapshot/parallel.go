package snapshot

import (
	"errors"
	"io"
	"runtime"
)

// ReadParallel reads a document as Read does, with each item's handling
// split in two so that a snapshot of a million pods decodes on every
// core: decode runs on workers goroutines at once (0: GOMAXPROCS), each
// with the decode function newDecoder made for it, items in no particular
// order; apply receives what decode returned in the items' order, one at
// a time, on the calling goroutine, valid only during the call. raw is
// valid only during decode.
//
// Errors are Read's: the first error of decode or apply, in the items'
// order, stops the reading and is returned as an *ItemError naming the
// item; a malformed document is an error once the items before the fault
// are applied. Header.Items counts the items applied.
func ReadParallel[T any](r io.Reader, workers int, newDecoder func() func(apiVersion, kind string, raw []byte) (T, error), apply func(*T) error) (*Header, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	const (
		batchItems = 256
		batchBytes = 256 << 10
	)
	type entry struct {
		index            int
		offset           int64
		apiVersion, kind string
		start, end       int
	}
	type batch struct {
		arena   []byte
		entries []entry
		results []T
		errs    []error
		done    chan struct{}
	}
	// order holds the batches in reading order and bounds how far reading
	// runs ahead of applying; work feeds the workers.
	order := make(chan *batch, 4*workers)
	work := make(chan *batch, 4*workers)
	// free recycles applied batches: their arena and results are reused,
	// so reading a million items allocates a few dozen batches, not a
	// million copies.
	free := make(chan *batch, 8*workers+2)
	newBatch := func() *batch {
		select {
		case b := <-free:
			b.arena, b.entries = b.arena[:0], b.entries[:0]
			b.done = make(chan struct{})
			return b
		default:
			return &batch{arena: make([]byte, 0, batchBytes+batchBytes/4), entries: make([]entry, 0, batchItems), done: make(chan struct{})}
		}
	}
	stop := make(chan struct{})
	errStopped := errors.New("stopped")

	for range workers {
		go func() {
			decode := newDecoder()
			for b := range work {
				if cap(b.results) < len(b.entries) {
					b.results, b.errs = make([]T, len(b.entries)), make([]error, len(b.entries))
				}
				b.results, b.errs = b.results[:len(b.entries)], b.errs[:len(b.entries)]
				for i, e := range b.entries {
					b.results[i], b.errs[i] = decode(e.apiVersion, e.kind, b.arena[e.start:e.end])
				}
				close(b.done)
			}
		}()
	}

	type readResult struct {
		h   *Header
		err error
	}
	readDone := make(chan readResult, 1)
	go func() {
		defer close(work)
		defer close(order)
		cur := newBatch()
		send := func() bool {
			select {
			case order <- cur:
			case <-stop:
				return false
			}
			work <- cur
			cur = newBatch()
			return true
		}
		h, err := read(r, func(i int, off int64, apiVersion, kind string, raw []byte) error {
			start := len(cur.arena)
			cur.arena = append(cur.arena, raw...)
			cur.entries = append(cur.entries, entry{index: i, offset: off, apiVersion: apiVersion, kind: kind, start: start, end: len(cur.arena)})
			if len(cur.entries) >= batchItems || len(cur.arena) >= batchBytes {
				if !send() {
					return errStopped
				}
			}
			return nil
		})
		if len(cur.entries) > 0 && err == nil {
			send()
		} else if len(cur.entries) > 0 && !errors.Is(err, errStopped) {
			send() // the items before the fault are applied
		}
		readDone <- readResult{h, err}
	}()

	applied := 0
	var itemErr error
	for b := range order {
		<-b.done
		if itemErr != nil {
			continue // draining
		}
		for i, e := range b.entries {
			err := b.errs[i]
			if err == nil {
				err = apply(&b.results[i]) // not copied: a T may be large
			}
			if err != nil {
				raw := b.arena[e.start:e.end]
				itemErr = &ItemError{Index: e.index, Offset: e.offset, Object: e.apiVersion + " " + e.kind + " " + objectName(raw), Err: err}
				close(stop)
				break
			}
			applied++
		}
		clear(b.results) // let the applied objects go
		select {
		case free <- b:
		default:
		}
	}
	res := <-readDone
	h := res.h
	if h == nil {
		h = &Header{}
	}
	h.Items = applied
	if itemErr != nil {
		return h, itemErr
	}
	return h, res.err
}
