package snapshot

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
)

// countsMember is the snapshot's last member: the items by kind.
const countsMember = "itemCounts"

// minItemBytes is less than a pod or IP object a Writer writes takes
// (stripped, it keeps its apiVersion, kind, name, namespace, UID,
// resourceVersion, creation time and addresses: 300 bytes and more): a
// file claiming more items than its size allows at this size is not
// believed, so what a reader reserves by the counts (a State: about 500
// bytes per IP object) stays within about twice the file's size.
const minItemBytes = 256

// tailSize is how much of a file's end TailCounts reads: the counts of a
// few dozen kinds take a few hundred bytes.
const tailSize = 4 << 10

// TailCounts reads the item counts a snapshot file records at its end
// (Writer writes them last), so that a reader can size what it builds
// before reading the items, and seeks f back to where it was. It is a
// hint: nil when the file does not end with them (a List, an older
// snapshot, a file cut short); reading the document checks it as usual.
func TailCounts(f io.ReadSeeker) map[string]int {
	start, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil
	}
	defer f.Seek(start, io.SeekStart) //nolint:errcheck // the reading that follows fails if this did
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil
	}
	from := max(start, end-tailSize)
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return nil
	}
	tail, err := io.ReadAll(io.LimitReader(f, end-from))
	if err != nil {
		return nil
	}
	i := bytes.LastIndex(tail, []byte(`"`+countsMember+`":`))
	if i < 0 {
		return nil
	}
	rest := tail[i+len(countsMember)+3:]
	dec := json.NewDecoder(bytes.NewReader(rest))
	var counts map[string]int
	if err := dec.Decode(&counts); err != nil {
		return nil
	}
	// Only the document's closing brace may follow.
	if string(bytes.TrimSpace(rest[dec.InputOffset():])) != "}" {
		return nil
	}
	// Counts the file cannot hold are not believed: a reader sizes memory
	// by them.
	var total int64
	for _, n := range counts {
		if n < 0 || n > math.MaxInt32 {
			return nil
		}
		total += int64(n)
	}
	if total > (end-start)/minItemBytes {
		return nil
	}
	return counts
}
