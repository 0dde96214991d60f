package bench

import (
	"runtime"
	"testing"

	"github.com/ipamguard/ipamguard/test/bench/fixture"
)

// BenchmarkAdmission measures one admission from raw AdmissionReview bytes
// to response bytes, for every case, size and implementation. Names carry
// keys for benchstat: compare with `benchstat -col /impl bench.txt`.
//
// Each size's fixture is built once per process; `make bench` runs one size
// per process (-bench 'Admission/size=10k-1M/') so that only that size's
// objects are live while it is measured.
func BenchmarkAdmission(b *testing.B) {
	for _, sz := range fixture.Sizes() {
		b.Run("size="+sz.Name, func(b *testing.B) {
			e := EnvFor(sz)
			for _, c := range fixture.Cases() {
				b.Run("case="+c.Name, func(b *testing.B) {
					for _, impl := range []string{ImplIpamguard, ImplBaseline} {
						b.Run("impl="+impl, func(b *testing.B) {
							benchCase(b, e, impl, c)
						})
					}
				})
			}
		})
	}
}

func benchCase(b *testing.B, e *Env, impl string, c fixture.Case) {
	t := e.Target(impl)
	reqs := e.Requests[c.Name]
	var w Recorder
	// Check the outcome (and warm up): every variant for ipamguard, the
	// first for the baseline, which takes up to a second per request at 1M.
	check := reqs
	if impl == ImplBaseline {
		check = reqs[:1]
	}
	for _, r := range check {
		t.Serve(r, &w)
		if o, err := Outcome(w.Body.Bytes(), r.UID); o != c.Want {
			b.Fatalf("%s %s: outcome %s (%v), want %s: %s", impl, r.UID, o, err, c.Want, w.Body.String())
		}
	}
	runtime.GC()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		t.Serve(reqs[i%len(reqs)], &w)
	}
}
