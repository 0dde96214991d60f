package inventory

import (
	"strconv"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// lockProbe is a namespaceSelector that records whether it is evaluated
// while the Store's write lock is held, and selects namespaces labelled
// team=gold.
type lockProbe struct {
	labels.Selector
	s         *Store
	evaluated int
	underLock int
}

func (p *lockProbe) Matches(l labels.Labels) bool {
	p.evaluated++
	if p.s.mu.TryLock() {
		p.s.mu.Unlock()
	} else {
		p.underLock++
	}
	return l.Get("team") == "gold"
}

func (p *lockProbe) String() string { return "team=gold" }

// A subnet's namespaceSelectors are evaluated against every namespace
// without the write lock that admissions wait behind: a Subnet of 20k
// selectors must not stall every request for seconds.
func TestSelectorsAreEvaluatedOutsideTheWriteLock(t *testing.T) {
	s := New("ovn-cluster")
	for i := range 100 {
		team := "blue"
		if i%10 == 0 {
			team = "gold"
		}
		s.UpsertNamespace(&metav1.ObjectMeta{Name: "ns-" + strconv.Itoa(i), Labels: map[string]string{"team": team}})
	}
	probe := &lockProbe{s: s}
	s.upsertSubnet(&Subnet{Name: "gold", Provider: "ovn", Selectors: []labels.Selector{probe}})
	if probe.evaluated < 100 || probe.underLock != 0 {
		t.Fatalf("%d evaluations, %d of them under the write lock", probe.evaluated, probe.underLock)
	}
	n := 0
	s.Read(func(r Reader) {
		for i := range 100 {
			r.SubnetsBoundTo("ns-"+strconv.Itoa(i), func(sn *Subnet) bool { n++; return true })
		}
	})
	if n != 10 {
		t.Fatalf("subnet bound to %d namespaces, want the 10 gold ones", n)
	}
}
