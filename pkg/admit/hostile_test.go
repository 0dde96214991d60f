package admit_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ipamguard/ipamguard/internal/racedetect"
	"github.com/ipamguard/ipamguard/pkg/admit"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/reserve"
	"github.com/ipamguard/ipamguard/test/bench/hostile"
)

// The bound of issue 12: one admission of an object under the API
// server's size limits allocates at most this much.
const maxBytesPerAdmission = 16 << 20

// hostileEngine is the pipeline over the hostile shapes' inventory, with
// the default configuration and in-flight reservations, as the webhook
// runs it.
func hostileEngine() *admit.Engine {
	cfg := config.Default()
	return &admit.Engine{Store: hostile.NewStore(), Config: func() *config.Config { return cfg }, Reservations: reserve.New(time.Minute)}
}

// outcome classifies an outcome as the API server's client sees it.
func outcome(out *admit.Outcome) string {
	switch {
	case out.Denied():
		return "denied"
	case len(out.Decision.Warnings) > 0 || len(out.Defaulted) > 0:
		return "warned"
	}
	return "allowed"
}

// bytesPerRun is testing.AllocsPerRun for bytes: the average bytes
// allocated by f over runs, after one warm-up run, with one P so that
// nothing else allocates meanwhile. Tests using it must not be parallel.
func bytesPerRun(runs int, f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// Every hostile shape gets its verdict through the pipeline, and a
// bounded answer: at most policy.MaxFindings causes or warnings (plus one
// "… and N more"), none longer than a few KiB, whatever the input size.
func TestHostileShapesVerdicts(t *testing.T) {
	e := hostileEngine()
	for _, s := range hostile.Shapes() {
		t.Run(s.Name, func(t *testing.T) {
			req := s.Request(s.N)
			out, err := e.Review(context.Background(), &req)
			if err != nil {
				t.Fatalf("Review: %v", err)
			}
			if got := outcome(out); got != s.Want {
				t.Fatalf("outcome %s, want %s: %+v", got, s.Want, out.Decision.Applied)
			}
			if s.Rule != "" && !hasRule(out, s.Rule) {
				t.Errorf("no %s in %+v", s.Rule, out.Decision.Applied)
			}
			d := out.Decision
			if len(d.Deny) > policy.MaxFindings+1 || len(d.Warnings) > policy.MaxFindings+1 || len(d.Applied) > 2*policy.MaxFindings+2 {
				t.Errorf("unbounded decision: %d causes, %d warnings, %d applied", len(d.Deny), len(d.Warnings), len(d.Applied))
			}
			size := 0
			for _, e := range d.Deny {
				size += len(e.Error())
			}
			for _, w := range append(d.Warnings, out.Defaulted...) {
				size += len(w)
			}
			for _, a := range d.Audit {
				size += len(a)
			}
			if size > 64<<10 {
				t.Errorf("messages of %d bytes", size)
			}
		})
	}
}

// A pod or workload over a count limit is refused with one finding that
// names the field and the limit.
func TestOverLimitIsOneFinding(t *testing.T) {
	e := hostileEngine()
	for _, name := range []string{"pod-ippool-out-of-range", "statefulset-ippool-groups-out-of-range"} {
		s, _ := hostile.ShapeByName(name)
		req := s.Request(s.N)
		out, err := e.Review(context.Background(), &req)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Findings) != 1 || out.Findings[0].Rule != policy.PodIPInvalid ||
			!strings.Contains(out.Findings[0].Err.Error(), "judges at most 4096") ||
			!strings.Contains(out.Findings[0].Err.Field, "annotations[ovn.kubernetes.io/ip_pool]") {
			t.Errorf("%s: findings %+v", name, out.Decision.Applied)
		}
	}
}

// Cost is counted, not timed: every hostile shape allocates at most 16 MiB
// per admission, and twice the input costs at most about twice the
// allocations and bytes (linear growth): per byte of input, the larger
// input may cost at most 10% more than the smaller one. Below 1 MiB or
// 10,000 allocations, constants dominate and only the total is bounded.
func TestHostileShapesCost(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts of every hostile shape at two sizes")
	}
	if racedetect.Enabled {
		t.Skip("allocation counts under -race are the detector's; make test runs this test again without -race")
	}
	e := hostileEngine()
	review := func(req admit.Request) func() {
		return func() {
			r := req
			if _, err := e.Review(context.Background(), &r); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, s := range hostile.Shapes() {
		half, full := s.Request(s.N/2), s.Request(s.N)
		bHalf, bFull := bytesPerRun(3, review(half)), bytesPerRun(3, review(full))
		aHalf, aFull := testing.AllocsPerRun(3, review(half)), testing.AllocsPerRun(3, review(full))
		t.Logf("%-42s n=%-6d %9d B/op %7.0f allocs/op; n/2: %9d B/op %7.0f allocs/op", s.Name, s.N, bFull, aFull, bHalf, aHalf)
		if bFull > maxBytesPerAdmission {
			t.Errorf("%s: %d bytes allocated per admission, over %d", s.Name, bFull, maxBytesPerAdmission)
		}
		inFull, inHalf := float64(len(full.Object)+len(full.OldObject)), float64(len(half.Object)+len(half.OldObject))
		if bFull > 1<<20 && float64(bFull)/inFull > 1.1*float64(bHalf)/inHalf {
			t.Errorf("%s: bytes grow %.2fx for %.2fx the input", s.Name, float64(bFull)/float64(bHalf), inFull/inHalf)
		}
		if aFull > 10000 && aFull/inFull > 1.1*aHalf/inHalf {
			t.Errorf("%s: allocations grow %.2fx for %.2fx the input", s.Name, aFull/aHalf, inFull/inHalf)
		}
	}
}

// A request whose context is done is not judged: the pipeline stops at its
// next check and says why, so the webhook answers (504) and the API
// server applies the failure policy.
func TestDoneContextIsTimeout(t *testing.T) {
	e := hostileEngine()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, s := range hostile.Shapes() {
		req := s.Request(s.N / 10)
		_, err := e.Review(ctx, &req)
		var ae *admit.Error
		if !errors.As(err, &ae) || ae.Reason != admit.Timeout || !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want a Timeout", s.Name, err)
		}
	}
}

// BenchmarkHostilePipeline measures each hostile shape through the
// pipeline alone (test/bench's BenchmarkHostile goes through the HTTP
// handlers).
func BenchmarkHostilePipeline(b *testing.B) {
	e := hostileEngine()
	for _, s := range hostile.Shapes() {
		b.Run(s.Name, func(b *testing.B) {
			req := s.Request(s.N)
			b.ReportAllocs()
			for b.Loop() {
				r := req
				if _, err := e.Review(context.Background(), &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
