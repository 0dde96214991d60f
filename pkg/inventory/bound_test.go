package inventory

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// boundTo returns the names SubnetsBoundTo visits for a namespace.
func boundTo(s *Store, ns string) []string {
	var out []string
	s.Read(func(r Reader) {
		r.SubnetsBoundTo(ns, func(x *Subnet) bool {
			out = append(out, x.Name)
			return true
		})
	})
	return out
}

// boundModel is the brute-force reference: the subnets' records and the
// namespaces' labels as last upserted, every subnet evaluated on every
// question.
type boundModel struct {
	subnets    map[string]*Subnet
	namespaces map[string]map[string]string
}

// boundTo evaluates every subnet against the namespace, the way the Store
// answered before it had an index: unknown namespaces have no labels.
func (m *boundModel) boundTo(ns string) []string {
	var l labels.Set
	if nsl, ok := m.namespaces[ns]; ok {
		l = labels.Set(nsl)
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(m.subnets)) {
		if m.subnets[name].BindsNamespace(ns, l) {
			out = append(out, name)
		}
	}
	return out
}

// randomSelector draws a namespaceSelector over a small label vocabulary, so
// that matches, misses, empty selectors and unparseable ones all occur.
func randomSelector(rng *rand.Rand) metav1.LabelSelector {
	keys := []string{"team", "env", "tier"}
	vals := []string{"a", "b", "c"}
	var sel metav1.LabelSelector
	switch rng.IntN(8) {
	case 0: // empty: matches every namespace, known or not
		return sel
	case 1: // unparseable: bad operator or bad key
		if rng.IntN(2) == 0 {
			sel.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near", Values: []string{"a"}}}
		} else {
			sel.MatchLabels = map[string]string{"bad key!": "a"}
		}
		return sel
	}
	if rng.IntN(2) == 0 {
		sel.MatchLabels = map[string]string{keys[rng.IntN(len(keys))]: vals[rng.IntN(len(vals))]}
	}
	ops := []metav1.LabelSelectorOperator{metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn, metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist}
	for range rng.IntN(3) {
		r := metav1.LabelSelectorRequirement{Key: keys[rng.IntN(len(keys))], Operator: ops[rng.IntN(len(ops))]}
		if r.Operator == metav1.LabelSelectorOpIn || r.Operator == metav1.LabelSelectorOpNotIn {
			r.Values = []string{vals[rng.IntN(len(vals))], vals[rng.IntN(len(vals))]}
		}
		sel.MatchExpressions = append(sel.MatchExpressions, r)
	}
	return sel
}

func randomLabels(rng *rand.Rand) map[string]string {
	l := map[string]string{}
	for _, k := range []string{"team", "env", "tier", "other"} {
		if rng.IntN(2) == 0 {
			l[k] = []string{"a", "b", "c"}[rng.IntN(3)]
		}
	}
	if len(l) == 0 && rng.IntN(2) == 0 {
		return nil
	}
	return l
}

// TestSubnetsBoundToMatchesBruteForce drives the Store and the reference
// through the same random subnet and namespace events and compares the
// answer for every namespace (known, deleted and never seen) after each.
func TestSubnetsBoundToMatchesBruteForce(t *testing.T) {
	t.Parallel()
	for seed := range uint64(4) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			s := New("ovn-cluster")
			m := &boundModel{subnets: map[string]*Subnet{}, namespaces: map[string]map[string]string{}}
			objs := map[string]*kubeovnv1.Subnet{}
			nsNames := make([]string, 12)
			for i := range nsNames {
				nsNames[i] = fmt.Sprintf("ns%d", i)
			}
			subnetNames := make([]string, 15)
			for i := range subnetNames {
				subnetNames[i] = fmt.Sprintf("s%02d", i)
			}
			for step := range 2000 {
				var what string
				switch op := rng.IntN(10); {
				case op < 4:
					obj := sn(subnetNames[rng.IntN(len(subnetNames))], fmt.Sprintf("10.%d.0.0/16", rng.IntN(200)), "", "")
					if rng.IntN(3) == 0 {
						for range 1 + rng.IntN(2) {
							obj.Spec.Namespaces = append(obj.Spec.Namespaces, nsNames[rng.IntN(len(nsNames))])
						}
					}
					if rng.IntN(3) > 0 {
						for range 1 + rng.IntN(2) {
							obj.Spec.NamespaceSelectors = append(obj.Spec.NamespaceSelectors, randomSelector(rng))
						}
					}
					// Re-upsert unchanged now and then: the Store may skip work.
					if old, ok := objs[obj.Name]; ok && rng.IntN(5) == 0 {
						obj = old.DeepCopy()
						obj.Spec.CIDRBlock = fmt.Sprintf("10.%d.0.0/16", rng.IntN(200))
					}
					s.UpsertSubnet(obj)
					objs[obj.Name] = obj.DeepCopy()
					m.subnets[obj.Name] = NewSubnetRecord(obj, "ovn-cluster")
					what = fmt.Sprintf("upsert subnet %s namespaces=%v selectors=%v", obj.Name, obj.Spec.Namespaces, obj.Spec.NamespaceSelectors)
				case op < 5:
					name := subnetNames[rng.IntN(len(subnetNames))]
					s.DeleteSubnet(name)
					delete(objs, name)
					delete(m.subnets, name)
					what = "delete subnet " + name
				case op < 9:
					name := nsNames[rng.IntN(len(nsNames))]
					l := randomLabels(rng)
					if old, ok := m.namespaces[name]; ok && rng.IntN(4) == 0 {
						l = maps.Clone(old) // same labels again, e.g. an annotation change
					}
					s.UpsertNamespace(&metav1.ObjectMeta{Name: name, Labels: l})
					m.namespaces[name] = maps.Clone(l)
					what = fmt.Sprintf("upsert namespace %s labels=%v", name, l)
				default:
					name := nsNames[rng.IntN(len(nsNames))]
					s.DeleteNamespace(name)
					delete(m.namespaces, name)
					what = "delete namespace " + name
				}
				for _, ns := range append(nsNames, "never-seen") {
					if got, want := boundTo(s, ns), m.boundTo(ns); !slices.Equal(got, want) {
						t.Fatalf("step %d (%s): SubnetsBoundTo(%s) = %v, want %v", step, what, ns, got, want)
					}
				}
				checkSelectorIndex(t, s)
			}
			// Emptied, the Store keeps nothing of the index.
			for _, name := range subnetNames {
				s.DeleteSubnet(name)
			}
			for _, name := range nsNames {
				s.DeleteNamespace(name)
			}
			if len(s.bySelector) != 0 || len(s.selectorSubnets) != 0 || len(s.selectUnlabelled) != 0 {
				t.Errorf("empty store keeps selector index: %v %v %v", s.bySelector, s.selectorSubnets, s.selectUnlabelled)
			}
		})
	}
}

// checkSelectorIndex checks what answers cannot show: the index holds
// entries only for known namespaces and never an empty list.
func checkSelectorIndex(t *testing.T, s *Store) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for ns, list := range s.bySelector {
		if _, ok := s.namespaces[ns]; !ok || len(list) == 0 {
			t.Fatalf("bySelector[%s] = %v (namespace known: %v)", ns, list, ok)
		}
	}
}

// TestSubnetsBoundToStopsEarly: fn returning false ends the walk, whether
// the subnet came from spec.namespaces or from a selector.
func TestSubnetsBoundToStopsEarly(t *testing.T) {
	t.Parallel()
	s := New("ovn-cluster")
	s.UpsertNamespace(&metav1.ObjectMeta{Name: "apps", Labels: map[string]string{"team": "a"}})
	byName := func(name string) *kubeovnv1.Subnet {
		o := sn(name, "10.0.0.0/24", "", "")
		o.Spec.Namespaces = []string{"apps"}
		return o
	}
	bySelector := func(name string) *kubeovnv1.Subnet {
		o := sn(name, "10.0.0.0/24", "", "")
		o.Spec.NamespaceSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"team": "a"}}}
		return o
	}
	both := byName("c")
	both.Spec.NamespaceSelectors = bySelector("c").Spec.NamespaceSelectors
	for _, o := range []*kubeovnv1.Subnet{byName("a"), bySelector("b"), both, bySelector("d"), byName("e")} {
		s.UpsertSubnet(o)
	}
	if got := boundTo(s, "apps"); !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
		t.Fatalf("all: %v", got)
	}
	for stopAt := 1; stopAt <= 5; stopAt++ {
		var got []string
		s.Read(func(r Reader) {
			r.SubnetsBoundTo("apps", func(x *Subnet) bool {
				got = append(got, x.Name)
				return len(got) < stopAt
			})
		})
		if want := []string{"a", "b", "c", "d", "e"}[:stopAt]; !slices.Equal(got, want) {
			t.Errorf("stop after %d: visited %v, want %v", stopAt, got, want)
		}
	}
}

// TestSubnetsBoundToConcurrent runs under -race: admissions read while
// namespace and selector-subnet events arrive.
func TestSubnetsBoundToConcurrent(t *testing.T) {
	t.Parallel()
	s := New("ovn-cluster")
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 1000 {
			o := sn(fmt.Sprintf("s%d", i%20), "10.0.0.0/24", "", "")
			o.Spec.NamespaceSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"team": fmt.Sprint(i % 3)}}}
			s.UpsertSubnet(o)
			if i%7 == 0 {
				s.DeleteSubnet(o.Name)
			}
		}
	})
	wg.Go(func() {
		for i := range 1000 {
			s.UpsertNamespace(&metav1.ObjectMeta{Name: fmt.Sprintf("ns%d", i%10), Labels: map[string]string{"team": fmt.Sprint(i % 3)}})
			if i%5 == 0 {
				s.DeleteNamespace(fmt.Sprintf("ns%d", i%10))
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for i := range 500 {
				got := boundTo(s, fmt.Sprintf("ns%d", i%10))
				if !slices.IsSorted(got) {
					t.Errorf("not in name order: %v", got)
				}
			}
		})
	}
	wg.Wait()
}

// selectorStore builds a Store with n selector-bound subnets (subnet i
// selects namespaces labelled team=t<i>), 100 name-bound subnets and 1000
// namespaces, ns<i> labelled team=t<i mod n>.
func selectorStore(n, namespaces int) *Store {
	s := New("ovn-cluster")
	for i := range n {
		o := sn(fmt.Sprintf("sel-%05d", i), "10.0.0.0/24", "", "")
		o.Spec.NamespaceSelectors = []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{fmt.Sprintf("t%d", i)}},
		}}}
		s.UpsertSubnet(o)
	}
	for i := range 100 {
		o := sn(fmt.Sprintf("named-%03d", i), "10.1.0.0/24", "", "")
		o.Spec.Namespaces = []string{fmt.Sprintf("ns%d", i)}
		s.UpsertSubnet(o)
	}
	for i := range namespaces {
		s.UpsertNamespace(&metav1.ObjectMeta{Name: fmt.Sprintf("ns%d", i), Labels: map[string]string{"team": fmt.Sprintf("t%d", i%n)}})
	}
	return s
}

// BenchmarkSubnetsBoundTo is the per-admission cost of resolving a pod's
// namespace to its subnets: it must not grow with the number of
// selector-bound subnets.
func BenchmarkSubnetsBoundTo(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("selectorSubnets=%d", n), func(b *testing.B) {
			s := selectorStore(n, 1000)
			visited := 0
			for b.Loop() {
				s.Read(func(r Reader) {
					r.SubnetsBoundTo("ns5", func(*Subnet) bool { visited++; return true })
				})
			}
			if visited == 0 {
				b.Fatal("ns5 is bound to nothing")
			}
		})
	}
}

// BenchmarkSelectorIndexSync is what an initial sync of 1k selector-bound
// subnets and 10k namespaces costs in the selector index (one op fills a
// fresh Store), in both orders the informers may deliver them. The webhook
// is not ready until the sync is done, so no admission waits for it.
func BenchmarkSelectorIndexSync(b *testing.B) {
	const subnets, namespaces = 1000, 10000
	nsObjs := make([]*metav1.ObjectMeta, namespaces)
	for i := range nsObjs {
		nsObjs[i] = &metav1.ObjectMeta{Name: fmt.Sprintf("ns%d", i), Labels: map[string]string{
			"team": fmt.Sprintf("t%d", i%subnets), "env": "prod", "kubernetes.io/metadata.name": fmt.Sprintf("ns%d", i)}}
	}
	subnetObjs := make([]*kubeovnv1.Subnet, subnets)
	for i := range subnetObjs {
		o := sn(fmt.Sprintf("sel-%05d", i), "10.0.0.0/24", "", "")
		o.Spec.NamespaceSelectors = []metav1.LabelSelector{{
			MatchLabels: map[string]string{"env": "prod"},
			MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{fmt.Sprintf("t%d", i)}},
			}}}
		subnetObjs[i] = o
	}
	addSubnets := func(s *Store) {
		for _, o := range subnetObjs {
			s.UpsertSubnet(o)
		}
	}
	addNamespaces := func(s *Store) {
		for _, o := range nsObjs {
			s.UpsertNamespace(o)
		}
	}
	for _, order := range []struct {
		name          string
		first, second func(*Store)
	}{{"subnetsFirst", addSubnets, addNamespaces}, {"namespacesFirst", addNamespaces, addSubnets}} {
		b.Run(order.name, func(b *testing.B) {
			for b.Loop() {
				s := New("ovn-cluster")
				order.first(s)
				order.second(s)
				if got := boundTo(s, "ns1005"); !slices.Equal(got, []string{"sel-00005"}) {
					b.Fatalf("ns1005 bound to %v", got)
				}
			}
		})
	}
}
