package bench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipamguard/ipamguard/internal/racedetect"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/test/bench/fixture"
	"github.com/ipamguard/ipamguard/test/bench/hostile"
)

// BenchmarkHostile measures one admission of each hostile shape of issue 12
// (package hostile), at the size the issue measured (n=N) and at the
// largest the API server accepts (n=Max), from raw AdmissionReview bytes
// to response bytes through the production handlers. The target: <= 50
// ms and <= 16 MiB allocated per admission.
func BenchmarkHostile(b *testing.B) {
	SetLogger()
	store := hostile.NewStore()
	hs := IpamguardHandlers(store, nil)
	for _, s := range hostile.Shapes() {
		for _, n := range []int{s.N, s.Max} {
			b.Run("shape="+s.Name+"/n="+strconv.Itoa(n), func(b *testing.B) {
				t := NewTarget(ImplIpamguard, hs)
				uid := "hostile-" + strconv.Itoa(n)
				r := fixture.Request{Case: fixture.Case{Name: s.Name, Path: s.Path, Want: s.Want}, UID: uid, Body: s.Review(n, uid)}
				var w Recorder
				t.Serve(r, &w)
				if o, err := Outcome(w.Body.Bytes(), r.UID); o != s.Want {
					b.Fatalf("%s: outcome %s (%v), want %s: %.2000s", s.Name, o, err, s.Want, w.Body.String())
				}
				runtime.GC()
				b.ReportAllocs()
				b.SetBytes(int64(len(r.Body)))
				for b.Loop() {
					t.Serve(r, &w)
				}
			})
		}
	}
}

// TestHostileHandlers sends every hostile shape, at the size and
// at the largest the API server accepts, through the production HTTP
// handlers, as the API server would: each gets its verdict, the response
// stays small (a bounded denial, not the value repeated per element), and
// one admission allocates at most 16 MiB, the review's decode and encode
// included. Bytes are counted, not timed; the test is not parallel, so
// the count is the request's.
func TestHostileHandlers(t *testing.T) {
	if racedetect.Enabled {
		// Under -race the detector's allocations swamp the count, and a
		// 3 MiB review can outlast the handlers' time budget on a loaded
		// machine: make test runs this test again without -race.
		t.Skip("allocation counts and time budgets under -race are the detector's")
	}
	SetLogger()
	hs := IpamguardHandlers(hostile.NewStore(), nil)
	tgt := NewTarget(ImplIpamguard, hs)
	for _, sized := range hostileSizes() {
		s := sized.Shape
		uid := "hostile-" + s.Name
		r := fixture.Request{Case: fixture.Case{Name: s.Name, Path: s.Path, Want: s.Want}, UID: uid, Body: s.Review(sized.n, uid)}
		var w Recorder
		serve := func() { tgt.Serve(r, &w) }
		serve()
		if o, err := Outcome(w.Body.Bytes(), uid); o != s.Want {
			t.Errorf("%s: outcome %s (%v), want %s: %.2000s", s.Name, o, err, s.Want, w.Body.String())
			continue
		}
		if s.Want == "denied" && w.Body.Len() > 64<<10 {
			t.Errorf("%s: a denial of %d bytes", s.Name, w.Body.Len())
		}
		// The least of three admissions: other goroutines of the process
		// allocate now and then, and a single reading could be theirs.
		var used uint64
		for i := range 3 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			serve()
			runtime.ReadMemStats(&after)
			if u := after.TotalAlloc - before.TotalAlloc; i == 0 || u < used {
				used = u
			}
		}
		const budget = 16 << 20
		if used > budget {
			t.Errorf("%s n=%d: %d bytes allocated for one admission of a %d-byte review", s.Name, sized.n, used, len(r.Body))
		}
	}
}

type sizedShape struct {
	hostile.Shape
	n int
}

// hostileSizes is every shape at its N and at its Max.
func hostileSizes() []sizedShape {
	var out []sizedShape
	for _, s := range hostile.Shapes() {
		out = append(out, sizedShape{s, s.N}, sizedShape{s, s.Max})
	}
	return out
}

// BenchmarkHostileInventory measures the informer side of a hostile
// Subnet: storing a Subnet of 20k namespaceSelectors (changing one
// selector each time, so they are evaluated against the 1,000 namespaces
// every time), and the longest an admission's read of the inventory
// waited meanwhile (max-read-wait-ns): the write lock is held for index
// updates only.
func BenchmarkHostileInventory(b *testing.B) {
	store := hostile.NewStore()
	subnets := [2]*kubeovnv1.Subnet{hostile.SelectorSubnet(20000), hostile.SelectorSubnet(20000)}
	subnets[1].Spec.NamespaceSelectors[0].MatchExpressions[0].Values = []string{"other"}
	store.UpsertSubnet(subnets[1])
	stop := make(chan struct{})
	waits := make(chan time.Duration)
	go func() {
		var worst time.Duration
		for {
			select {
			case <-stop:
				waits <- worst
				return
			default:
			}
			t0 := time.Now()
			store.Read(func(inventory.Reader) {})
			worst = max(worst, time.Since(t0))
			time.Sleep(100 * time.Microsecond)
		}
	}()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		store.UpsertSubnet(subnets[i%2])
	}
	close(stop)
	b.ReportMetric(float64(<-waits), "max-read-wait-ns")
}

// A request whose context is done before it is judged (the handler's
// budget spent, the API server gone) is answered 504 with a Status body:
// the API server applies the webhook's failure policy to an answer.
func TestDoneRequestIs504(t *testing.T) {
	SetLogger()
	hs := IpamguardHandlers(hostile.NewStore(), nil)
	s, _ := hostile.ShapeByName("pod-ippool-bad-entries")
	body := s.Review(s.N, "done")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, s.Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	hs[s.Path].ServeHTTP(w, req)
	if w.Code != http.StatusGatewayTimeout || !strings.Contains(w.Body.String(), "not judged in time") {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
}
