package snapshot

import (
	"errors"
	"io"
	"runtime"
	"sync/atomic"
)

// ReadParallel reads a document as Read does, with each item's handling
// split in two so that a snapshot of a million pods decodes on every
// core: decode runs on workers goroutines at once (0: GOMAXPROCS), each
// with the decode function newDecoder made for it, items in no particular
// order; apply receives what decode returned in the items' order, one at
// a time, on the calling goroutine, valid only during the call. raw is
// valid only during decode.
//
// The reading goroutine only splits the items, at line ends where the
// document is laid out as the Writer writes it; their syntax is checked
// on the workers, after decode, unless decode vouches for it (a *T that
// implements Checked and reports true): decode may be handed raw that is
// not valid JSON (nor a whole item), and what it returns for such raw is
// dropped. A line found not to be one item has the items read again from
// it, in order, as Read reads them.
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
		raw              []byte
		checked, spec    bool
	}
	type batch struct {
		entries []entry
		// blocks are the blocks the entries are slices of, held until
		// the batch is applied.
		blocks  []*block
		size    int
		results []T
		errs    []error
		done    chan struct{}
		// epoch counts the restarts before the batch was read: a batch
		// of an earlier epoch is read again, not applied.
		epoch int
		// sync marks the reading waiting for the verdict on its lines.
		sync bool
	}
	// order holds the batches in reading order and bounds how far reading
	// runs ahead of applying; work feeds the workers.
	order := make(chan *batch, 4*workers)
	work := make(chan *batch, 4*workers)
	// free recycles applied batches, pool the blocks of the document, so
	// that reading a million items allocates a few dozen of each.
	free := make(chan *batch, 8*workers+2)
	pool := make(chan *block, 8*workers+4)
	newBatch := func() *batch {
		select {
		case b := <-free:
			b.entries, b.blocks, b.size = b.entries[:0], b.blocks[:0], 0
			b.done = make(chan struct{})
			return b
		default:
			return &batch{entries: make([]entry, 0, batchItems), done: make(chan struct{})}
		}
	}
	stop := make(chan struct{})
	errStopped := errors.New("stopped")
	// restart asks the reading to read the items again from one that was
	// not its line; synced answers a sync marker: all lines were items.
	restart := make(chan *restartError, 1)
	synced := make(chan struct{}, 1)
	var applied atomic.Int64
	closed := make(chan struct{})
	close(closed)

	for range workers {
		go func() {
			decode := newDecoder()
			var zero T
			for b := range work {
				if cap(b.results) < len(b.entries) {
					b.results, b.errs = make([]T, len(b.entries)), make([]error, len(b.entries))
				}
				b.results, b.errs = b.results[:len(b.entries)], b.errs[:len(b.entries)]
				for i := range b.entries {
					e := &b.entries[i]
					b.results[i], b.errs[i] = decode(e.apiVersion, e.kind, e.raw)
					if e.checked {
						continue
					}
					if c, ok := any(&b.results[i]).(Checked); ok && b.errs[i] == nil && c.CheckedJSON() {
						continue
					}
					if !valid(e.raw) {
						b.results[i], b.errs[i] = zero, errNotLine
						if !e.spec {
							b.errs[i] = syntaxError{checkValue(e.raw, e.offset)}
						}
					}
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
		epoch := 0
		cur := newBatch()
		// restarted drops the batch being made: it is read again.
		restarted := func(rs *restartError) error {
			for _, blk := range cur.blocks {
				blk.release()
			}
			clear(cur.entries)
			clear(cur.blocks)
			cur.entries, cur.blocks, cur.size = cur.entries[:0], cur.blocks[:0], 0
			epoch++
			cur.epoch = epoch
			return rs
		}
		send := func() error {
			select {
			case order <- cur:
			case rs := <-restart:
				return restarted(rs)
			case <-stop:
				return errStopped
			}
			work <- cur
			cur = newBatch()
			cur.epoch = epoch
			return nil
		}
		sync := func() error {
			if len(cur.entries) > 0 {
				if err := send(); err != nil {
					return err
				}
			}
			select {
			case order <- &batch{sync: true, epoch: epoch, done: closed}:
			case rs := <-restart:
				return restarted(rs)
			case <-stop:
				return errStopped
			}
			select {
			case <-synced:
				return nil
			case rs := <-restart:
				return restarted(rs)
			case <-stop:
				return errStopped
			}
		}
		m := &splitMode{pool: pool, lines: true, applied: &applied, sync: sync}
		h, err := read(r, m, func(it *item) error {
			if it.blk != nil && (len(cur.blocks) == 0 || cur.blocks[len(cur.blocks)-1] != it.blk) {
				it.blk.hold()
				cur.blocks = append(cur.blocks, it.blk)
			}
			cur.entries = append(cur.entries, entry{index: it.index, offset: it.offset, apiVersion: it.apiVersion, kind: it.kind, raw: it.raw, checked: it.checked, spec: it.spec})
			cur.size += len(it.raw)
			if len(cur.entries) >= batchItems || cur.size >= batchBytes {
				return send()
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

	nApplied := 0
	epoch := 0
	var itemErr error
	for b := range order {
		<-b.done
		switch {
		case b.epoch != epoch || itemErr != nil:
			// read again, or draining
		case b.sync:
			synced <- struct{}{}
			continue
		default:
			for i, e := range b.entries {
				err := b.errs[i]
				if err == errNotLine {
					// Not its line: read again from it, in order.
					restart <- &restartError{index: e.index, offset: e.offset}
					epoch++
					break
				}
				if se, ok := err.(syntaxError); ok {
					itemErr = &ItemError{Index: e.index, Offset: e.offset, Err: se.err}
					close(stop)
					break
				}
				if err == nil {
					err = apply(&b.results[i]) // not copied: a T may be large
				}
				if err != nil {
					itemErr = &ItemError{Index: e.index, Offset: e.offset, Object: e.apiVersion + " " + e.kind + " " + objectName(e.raw), Err: err}
					close(stop)
					break
				}
				nApplied++
				applied.Store(e.offset) // its start: raw may not be the block's
			}
		}
		if b.sync {
			continue
		}
		clear(b.results) // let the applied objects go
		clear(b.entries) // and the blocks
		for _, blk := range b.blocks {
			blk.release()
		}
		clear(b.blocks)
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
	h.Items = nApplied
	if itemErr != nil {
		return h, itemErr
	}
	return h, res.err
}

// Checked is implemented by what a ReadParallel decoder returns (the *T)
// when it can vouch for the syntax of the item it decoded: CheckedJSON
// reports true when raw was exactly one valid JSON value (as
// encoding/json/jsontext reads it, with duplicate names allowed and
// invalid UTF-8 refused), so that ReadParallel need not check it again.
type Checked interface {
	CheckedJSON() bool
}

// errNotLine marks an item split at its line that is not valid JSON.
var errNotLine = errors.New("not one line")

// syntaxError is an item's syntax error found on a worker.
type syntaxError struct{ err error }

func (e syntaxError) Error() string { return e.err.Error() }
