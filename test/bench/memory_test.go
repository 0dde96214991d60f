package bench

import (
	"os"
	"testing"

	"github.com/ipamguard/ipamguard/test/bench/fixture"
)

// requireBench skips heavy measurements unless IPAMGUARD_BENCH=1: they are
// measurements (seconds to minutes, gigabytes at 1M objects), not
// correctness tests; `make bench` runs them.
func requireBench(t *testing.T) {
	t.Helper()
	if os.Getenv("IPAMGUARD_BENCH") != "1" {
		t.Skip("measurement, not a correctness test: set IPAMGUARD_BENCH=1 (make bench) to run it")
	}
}

// TestMemory measures the heap with the 10k subnets / 100k IP objects
// inventory plus 100k running pods' address metadata in informer caches
// and checks the 200 MiB target.
func TestMemory(t *testing.T) {
	requireBench(t)
	r := MeasureMemory(fixture.Size10k100k, 100_000, true)
	t.Logf("sync %v, heap %.1f MiB (in use %.1f MiB, sys %.1f MiB), RSS %.1f MiB (peak %.1f MiB), objects %v",
		r.SyncTime, mib(r.HeapAlloc), mib(r.HeapInuse), mib(r.HeapSys), mib(r.RSS), mib(r.PeakRSS), r.Objects)
	if r.HeapAlloc > 200<<20 {
		t.Errorf("heap %.1f MiB exceeds the 200 MiB target", mib(r.HeapAlloc))
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
