package bench

import (
	"testing"

	"github.com/ipamguard/ipamguard/test/bench/fixture"
)

// TestOutcomes checks, on a small fixture, that every generated request gets
// its case's expected outcome from ipamguard and from the baseline, so the
// benchmarks compare the same decisions. It is quick and always runs.
func TestOutcomes(t *testing.T) {
	e := EnvFor(fixture.SizeSmall)
	for _, c := range fixture.Cases() {
		for _, impl := range []string{ImplIpamguard, ImplBaseline} {
			var w Recorder
			reqs := e.Requests[c.Name]
			if impl == ImplBaseline {
				reqs = reqs[:8] // it deep-copies every object per request
			}
			for _, r := range reqs {
				e.Target(impl).Serve(r, &w)
				if o, err := Outcome(w.Body.Bytes(), r.UID); o != c.Want {
					t.Errorf("%s %s: outcome %s (%v), want %s: %s", impl, r.UID, o, err, c.Want, w.Body.String())
				}
			}
		}
	}
}
