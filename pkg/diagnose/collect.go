package diagnose

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// HoldCollection turns the garbage collector off while a State is read
// from a document of about size bytes, and returns the function that turns
// it back on as it was and collects once.
//
// Reading a snapshot makes little garbage: what it allocates is the state
// itself, live until the diagnosis ends. The default pacing still collects
// each time the heap doubles as it grows, and at 10k subnets, 1M IP
// objects and 1M pods those collections (of 0.7 and 1.4 GB) free almost
// nothing and cost about 1.8 CPU-seconds on the cores the decoding needs;
// one collection after the reading costs about 0.7. A soft memory limit of
// the runtime's memory at the start plus twice size (the state takes about the size
// of its snapshot) still bounds the heap when an input does make garbage
// (objects the fast decoders leave to encoding/json): the collector runs
// when it is reached. A lower limit already set (GOMEMLIMIT) is kept. A
// size of 0 or less holds nothing.
//
// Hold it before the state's slices are reserved (State.Reserve): at a
// million pods and IP objects their 700 MB would otherwise start a
// collection that scans them as they fill, 2 CPU-seconds of marking.
//
// For a process that reads one state, as the doctor does: the settings
// are the process's.
func HoldCollection(size int64) (release func()) {
	if size <= 0 {
		return func() {}
	}
	// The soft limit counts all the runtime's memory, not only the heap.
	sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(sample)
	held := int64(sample[0].Value.Uint64() - sample[1].Value.Uint64())
	limit := int64(math.MaxInt64)
	if size < (math.MaxInt64-held)/2 {
		limit = held + 2*size
	}
	oldLimit := debug.SetMemoryLimit(-1)
	debug.SetMemoryLimit(min(oldLimit, limit))
	oldPercent := debug.SetGCPercent(-1)
	return func() {
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(oldLimit)
		runtime.GC()
	}
}
