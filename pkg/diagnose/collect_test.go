package diagnose

import (
	"runtime/debug"
	"testing"
)

// TestHoldCollection: the collector is off and the heap bounded while a
// state is read, and both settings come back as they were.
func TestHoldCollection(t *testing.T) {
	percent := debug.SetGCPercent(77)
	limit := debug.SetMemoryLimit(5 << 40)
	defer func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}()

	release := HoldCollection(1 << 30)
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Errorf("GC percent %d while held, want -1 (off)", got)
	}
	if got := debug.SetMemoryLimit(-1); got < 2<<30 || got >= 5<<40 {
		t.Errorf("memory limit %d while held, want the heap and twice 1 GiB", got)
	}
	release()
	if got := debug.SetGCPercent(77); got != 77 {
		t.Errorf("GC percent %d after, want 77 back", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 5<<40 {
		t.Errorf("memory limit %d after, want %d back", got, int64(5<<40))
	}

	// A lower limit already set is kept; no size holds nothing.
	debug.SetMemoryLimit(1 << 30)
	release = HoldCollection(1 << 40)
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("memory limit %d while held, want the lower 1 GiB kept", got)
	}
	release()
	HoldCollection(0)()
	if got := debug.SetGCPercent(77); got != 77 {
		t.Errorf("GC percent %d after an empty hold, want 77", got)
	}
}
