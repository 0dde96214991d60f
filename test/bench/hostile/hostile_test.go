package hostile

import "testing"

// Each shape's Max is within 5% of the largest size the API server
// accepts: its object fits the limit, 5% more does not.
func TestMaxSizes(t *testing.T) {
	t.Parallel()
	for _, s := range Shapes() {
		if n := len(s.Request(s.Max).Object); n > s.Limit() {
			t.Errorf("%s: Max %d makes a %d-byte object, over %d", s.Name, s.Max, n, s.Limit())
		}
		if n := len(s.Request(s.Max * 21 / 20).Object); n <= s.Limit() {
			t.Errorf("%s: 5%% over Max (%d) still fits: %d bytes", s.Name, s.Max*21/20, n)
		}
		if s.N > s.Max {
			t.Errorf("%s: N %d over Max %d", s.Name, s.N, s.Max)
		}
	}
}
