package diagnose

import (
	"strconv"
	"testing"
)

// TestReserve: a state sized by a snapshot's counts takes its pods and IP
// objects without growing, and Compact then has nothing to give back.
func TestReserve(t *testing.T) {
	t.Parallel()
	s := &State{}
	s.Reserve(map[string]int{"Pod": 3000, "IP": 2000, "Subnet": 7})
	pods, ips := cap(s.Pods), cap(s.IPs)
	if pods < 3000 || ips < 2000 {
		t.Fatalf("room for %d pods and %d IP objects, want 3000 and 2000", pods, ips)
	}
	for i := range 3000 {
		raw := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p` + strconv.Itoa(i) + `","namespace":"n"}}`)
		if err := s.Add("v1", "Pod", raw); err != nil {
			t.Fatal(err)
		}
	}
	if cap(s.Pods) != pods {
		t.Errorf("pods grew from %d to %d", pods, cap(s.Pods))
	}
	s.Compact()
	if cap(s.Pods) != pods || len(s.Pods) != 3000 {
		t.Errorf("after Compact: %d pods in room for %d", len(s.Pods), cap(s.Pods))
	}
}
