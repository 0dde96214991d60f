package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipamguard/ipamguard/test/bench"
)

// The summary says, figure by figure, whether issue 15's targets are met.
func TestWriteReservationCost(t *testing.T) {
	for _, c := range []struct {
		p99   time.Duration
		ratio float64
		want  []string
	}{
		{4 * time.Millisecond, 0.72, []string{"| 4.00 ms | <= 5.00 ms | yes |", "| 72 % (300/s against 420/s over all rounds) | >= 70 % | yes |"}},
		{6 * time.Millisecond, 0.65, []string{"| 6.00 ms | <= 5.00 ms | **no** |", "| 65 % (300/s against 420/s over all rounds) | >= 70 % | **no** |"}},
	} {
		r := bench.ReservationCost{Rounds: 2, OneAtATime: 600, Concurrent: 1500, Workers: 16, AddedP50: 2 * time.Millisecond, AddedP99: c.p99,
			PlainP50: map[string]time.Duration{"off": time.Millisecond, "api": time.Millisecond},
			PlainP99: map[string]time.Duration{"off": time.Millisecond, "api": time.Millisecond},
			Rate:     map[string]float64{"off": 420, "api": 300}, RatioPerRound: []float64{c.ratio - 0.01, c.ratio + 0.01}, RatioMedian: c.ratio,
			CPUPerCreation: map[string]map[string]float64{"off": {"all": 4}, "api": {"all": 6}}, DeleteCPU: 1.2, ListCPU: 0.06, SteadyRatio: 4 / 7.26}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "reservations.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		var w strings.Builder
		writeReservationCost(&w, path)
		for _, want := range append(c.want, "Concurrently: 1500 fixed-address pods by 16 workers", "costs 1.20 ms of CPU", "over its TTL 0.06 ms", "costs 55 % of the CPU") {
			if !strings.Contains(w.String(), want) {
				t.Errorf("summary lacks %q:\n%s", want, w.String())
			}
		}
	}
	// A file without figures says so, not "0 ms, within target".
	empty := filepath.Join(t.TempDir(), "empty.json")
	if err := os.WriteFile(empty, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	var e strings.Builder
	writeReservationCost(&e, empty)
	if !strings.Contains(e.String(), "no rounds recorded") || strings.Contains(e.String(), "yes") {
		t.Errorf("summary of an empty file: %q", e.String())
	}
	// No file (the step skipped): nothing written.
	var w strings.Builder
	writeReservationCost(&w, filepath.Join(t.TempDir(), "none.json"))
	if w.Len() != 0 {
		t.Errorf("summary without a file: %q", w.String())
	}
}
