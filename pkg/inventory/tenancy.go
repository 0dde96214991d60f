package inventory

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"go4.org/netipx"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/ipam"
)

// VPC is the inventory's record of a Vpc.
type VPC struct {
	Name          string
	Namespaces    []string
	DefaultSubnet string
}

// IPPool is the inventory's record of an IPPool.
type IPPool struct {
	Name       string
	Subnet     string
	Namespaces []string
	// Set holds every address of spec.ips that parses (address, a..b
	// range or CIDR).
	Set *netipx.IPSet
}

// Bound reports whether the pool is restricted to some namespaces.
func (p *IPPool) Bound() bool { return len(p.Namespaces) > 0 }

// ParsePoolEntry parses one IPPool spec.ips entry: an address, an
// inclusive range "a..b" or a CIDR.
func ParsePoolEntry(s string) (netipx.IPRange, error) {
	if r, ok := PoolRange(s); ok {
		return r, nil
	}
	if strings.Contains(s, "/") {
		_, err := netip.ParsePrefix(s)
		return netipx.IPRange{}, err
	}
	_, perr := ipam.ParseExcludeEntry(s)
	return netipx.IPRange{}, perr
}

// PoolRange is ParsePoolEntry without the error: a pool of thousands of
// bad entries is read without a message per entry.
func PoolRange(s string) (netipx.IPRange, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netipx.IPRange{}, false
		}
		return netipx.RangeOfPrefix(p.Masked()), true
	}
	return ipam.ExcludeRange(s)
}

// NewIPPoolRecord builds the record the Store keeps for an IPPool,
// skipping entries that do not parse.
func NewIPPoolRecord(obj *kubeovnv1.IPPool) *IPPool {
	var b netipx.IPSetBuilder
	for _, e := range obj.Spec.IPs {
		if r, ok := PoolRange(strings.TrimSpace(e)); ok {
			b.AddRange(r)
		}
	}
	set, _ := b.IPSet()
	return &IPPool{Name: obj.Name, Subnet: obj.Spec.Subnet, Namespaces: slices.Clone(obj.Spec.Namespaces), Set: set}
}

// UpsertNamespace records a namespace's labels and which selector-bound
// subnets select it. Updates that leave the labels alone (annotations,
// status, resyncs) cost a map comparison.
func (s *Store) UpsertNamespace(obj metav1.Object) {
	l := labels.Set{}
	maps.Copy(l, obj.GetLabels())
	name := obj.GetName()
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.namespaces[name]; ok && maps.Equal(old, l) {
		return
	}
	s.namespaces[name] = l
	s.namespacesGen++
	// One pass over the selector subnets, in name order, so the list comes
	// out sorted.
	var selected []string
	for _, sub := range s.selectorSubnets {
		if selectsAny(s.subnets[sub].Selectors, l) {
			selected = append(selected, sub)
		}
	}
	if len(selected) == 0 {
		delete(s.bySelector, name)
	} else {
		s.bySelector[name] = selected
	}
}

// DeleteNamespace forgets a namespace.
func (s *Store) DeleteNamespace(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.namespaces, name)
	delete(s.bySelector, name)
	s.namespacesGen++
}

// selectsAny reports whether any of a subnet's parsed namespaceSelectors
// matches the labels, as Subnet.BindsNamespace evaluates them.
func selectsAny(sels []labels.Selector, l labels.Set) bool {
	for _, sel := range sels {
		if sel.Matches(l) {
			return true
		}
	}
	return false
}

// sameSelectors reports whether two selector lists are written the same.
// Selectors render canonically (requirements sorted by key, values
// sorted), so equal strings select the same namespaces; lists that differ
// only in order compare unequal, which merely costs a rebind.
func sameSelectors(a, b []labels.Selector) bool {
	return slices.EqualFunc(a, b, func(x, y labels.Selector) bool { return x.String() == y.String() })
}

// rebindSelectorsLocked moves a subnet's entries in the selector indexes
// from its old record to its new one; either may be nil (added, deleted).
// A subnet update that keeps its selectors (CIDR, exclusions, status)
// costs nothing here; any other change of a selector subnet visits every
// known namespace once, which is rare next to admissions.
//
// pre, when it is current (same old record, no namespace changed since),
// is the selection computed before the lock was taken: a subnet of 20k
// selectors then holds the write lock for index updates only, not for
// evaluating its selectors against every namespace.
func (s *Store) rebindSelectorsLocked(old, rec *Subnet, pre *selection) {
	var oldSels, newSels []labels.Selector
	if old != nil {
		oldSels = old.Selectors
	}
	if rec != nil {
		newSels = rec.Selectors
	}
	if pre != nil && (pre.old != old || pre.gen != s.namespacesGen) {
		pre = nil // stale: evaluate under the lock, as before
	}
	if len(oldSels) == 0 && len(newSels) == 0 {
		return
	}
	if pre != nil && pre.same || pre == nil && sameSelectors(oldSels, newSels) {
		return
	}
	if len(oldSels) > 0 {
		name := old.Name
		s.selectorSubnets = sortedRemove(s.selectorSubnets, name)
		s.selectUnlabelled = sortedRemove(s.selectUnlabelled, name)
		for ns, list := range s.bySelector {
			if list = sortedRemove(list, name); len(list) == 0 {
				delete(s.bySelector, ns)
			} else {
				s.bySelector[ns] = list
			}
		}
	}
	if len(newSels) > 0 {
		name := rec.Name
		s.selectorSubnets = sortedInsert(s.selectorSubnets, name)
		if pre != nil {
			if pre.unlabelled {
				s.selectUnlabelled = sortedInsert(s.selectUnlabelled, name)
			}
			for _, ns := range pre.selected {
				s.bySelector[ns] = sortedInsert(s.bySelector[ns], name)
			}
			return
		}
		if selectsAny(newSels, nil) {
			s.selectUnlabelled = sortedInsert(s.selectUnlabelled, name)
		}
		for ns, l := range s.namespaces {
			if selectsAny(newSels, l) {
				s.bySelector[ns] = sortedInsert(s.bySelector[ns], name)
			}
		}
	}
}

// selection is what a subnet's namespaceSelectors select among the known
// namespaces, computed by selectionOf without the write lock.
type selection struct {
	// old is the record the subnet replaces and gen the namespaces'
	// generation the selection was computed at.
	old *Subnet
	gen uint64
	// same is set when the selectors are written as old's.
	same bool
	// selected are the namespaces selected; unlabelled is whether an
	// unknown (label-less) namespace is.
	selected   []string
	unlabelled bool
}

// selectionOf evaluates rec's selectors against a snapshot of the known
// namespaces, taken under the read lock and evaluated outside any lock,
// or returns nil when rec selects nothing and replaces no selector subnet.
func (s *Store) selectionOf(rec *Subnet) *selection {
	type namespace struct {
		name   string
		labels labels.Set
	}
	s.mu.RLock()
	old := s.subnets[rec.Name]
	if len(rec.Selectors) == 0 && (old == nil || len(old.Selectors) == 0) {
		s.mu.RUnlock()
		return nil
	}
	pre := &selection{old: old, gen: s.namespacesGen}
	var known []namespace
	if len(rec.Selectors) > 0 {
		// Label sets are replaced, never changed in place: they may be
		// read after the lock is released.
		known = make([]namespace, 0, len(s.namespaces))
		for name, l := range s.namespaces {
			known = append(known, namespace{name, l})
		}
	}
	s.mu.RUnlock()
	if old != nil && sameSelectors(old.Selectors, rec.Selectors) {
		pre.same = true
		return pre
	}
	pre.unlabelled = selectsAny(rec.Selectors, nil)
	for _, ns := range known {
		if selectsAny(rec.Selectors, ns.labels) {
			pre.selected = append(pre.selected, ns.name)
		}
	}
	return pre
}

// UpsertVpc adds or replaces a Vpc.
func (s *Store) UpsertVpc(obj *kubeovnv1.Vpc) {
	rec := &VPC{Name: obj.Name, Namespaces: slices.Clone(obj.Spec.Namespaces), DefaultSubnet: obj.Spec.DefaultSubnet}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeVpcLocked(obj.Name)
	s.vpcs[rec.Name] = rec
	for _, ns := range rec.Namespaces {
		s.vpcByNamespace[ns] = sortedInsert(s.vpcByNamespace[ns], rec.Name)
	}
}

// DeleteVpc removes a Vpc.
func (s *Store) DeleteVpc(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeVpcLocked(name)
}

func (s *Store) removeVpcLocked(name string) {
	old, ok := s.vpcs[name]
	if !ok {
		return
	}
	delete(s.vpcs, name)
	for _, ns := range old.Namespaces {
		if s.vpcByNamespace[ns] = sortedRemove(s.vpcByNamespace[ns], name); len(s.vpcByNamespace[ns]) == 0 {
			delete(s.vpcByNamespace, ns)
		}
	}
}

// UpsertIPPool adds or replaces an IPPool.
func (s *Store) UpsertIPPool(obj *kubeovnv1.IPPool) {
	rec := NewIPPoolRecord(obj)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeIPPoolLocked(obj.Name)
	s.pools[rec.Name] = rec
	s.poolsBySubnet[rec.Subnet] = sortedInsert(s.poolsBySubnet[rec.Subnet], rec.Name)
}

// DeleteIPPool removes an IPPool.
func (s *Store) DeleteIPPool(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeIPPoolLocked(name)
}

func (s *Store) removeIPPoolLocked(name string) {
	old, ok := s.pools[name]
	if !ok {
		return
	}
	delete(s.pools, name)
	if s.poolsBySubnet[old.Subnet] = sortedRemove(s.poolsBySubnet[old.Subnet], name); len(s.poolsBySubnet[old.Subnet]) == 0 {
		delete(s.poolsBySubnet, old.Subnet)
	}
}

// PodRequest is one fixed address a pod asked for with an ip_address
// annotation. Pods that got their address also have an IP object; the
// request covers the time before that (and pods that never get one, which
// the rules stop counting some time after Created).
type PodRequest struct {
	Namespace string
	Pod       string
	// Owner is the pod name, or the KubeVirt VM name of a virt-launcher pod.
	Owner    string
	Provider string
	// Interface is the interface of a per-interface key
	// ("<nad>.<ns>.kubernetes.io/ip_address.<ifname>"), else "".
	Interface     string
	LogicalSwitch string
	IPPool        string
	Addr          netip.Addr
	// Created is the pod's creationTimestamp; zero when unknown (objects
	// of manifests that were never created).
	Created time.Time
}

type podKey struct{ namespace, name string }

// PodRequestsOf extracts the fixed-address requests of a pod's metadata.
// A pod with more interfaces than annotations.MaxInterfaces has none: the
// webhook refuses such pods, and one that exists anyway (admitted while the
// webhook was down, or exempt) must not block others' addresses.
func PodRequestsOf(obj metav1.Object) []PodRequest {
	ann := obj.GetAnnotations()
	if !annotations.HasStatic(ann) {
		return nil
	}
	owner := annotations.OwnerKey(obj.GetName(), annotations.LauncherVM(obj.GetOwnerReferences()))
	var out []PodRequest
	for _, r := range annotations.Requests(ann) {
		// Once allocated, the addresses are held by an IP object (or were
		// released when the pod finished): the pod is no longer pending.
		if r.IPAddress == "" || r.Allocated {
			continue
		}
		for part := range strings.SplitSeq(r.IPAddress, ",") {
			part = strings.TrimSpace(part)
			if i := strings.IndexByte(part, '/'); i >= 0 {
				part = part[:i]
			}
			a, err := netip.ParseAddr(part)
			if err != nil {
				continue
			}
			out = append(out, PodRequest{
				Namespace: obj.GetNamespace(), Pod: obj.GetName(), Owner: owner,
				Provider: r.Provider, Interface: r.Interface, LogicalSwitch: r.LogicalSwitch, IPPool: r.IPPool, Addr: a,
				Created: obj.GetCreationTimestamp().Time,
			})
		}
	}
	return out
}

// UpsertPod records the fixed addresses a pod asked for. Pods without
// static-IP annotations cost nothing.
func (s *Store) UpsertPod(obj metav1.Object) {
	reqs := PodRequestsOf(obj)
	key := podKey{obj.GetNamespace(), obj.GetName()}
	if len(reqs) == 0 {
		// Most pods ask for nothing; their events must not take the
		// write lock that admissions wait behind.
		s.mu.RLock()
		_, known := s.podRequests[key]
		s.mu.RUnlock()
		if !known {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removePodLocked(key)
	if len(reqs) == 0 {
		return
	}
	addrs := make([]netip.Addr, len(reqs))
	for i, r := range reqs {
		addrs[i] = r.Addr
		s.podsByAddr[r.Addr] = append(s.podsByAddr[r.Addr], r)
	}
	s.podRequests[key] = addrs
}

// DeletePod forgets a pod.
func (s *Store) DeletePod(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removePodLocked(podKey{namespace, name})
}

func (s *Store) removePodLocked(key podKey) {
	for _, a := range s.podRequests[key] {
		list := slices.DeleteFunc(s.podsByAddr[a], func(x PodRequest) bool {
			return x.Namespace == key.namespace && x.Pod == key.name
		})
		if len(list) == 0 {
			delete(s.podsByAddr, a)
		} else {
			s.podsByAddr[a] = list
		}
	}
	delete(s.podRequests, key)
}

func (v view) Namespace(name string) (labels.Set, bool) {
	l, ok := v.s.namespaces[name]
	return l, ok
}

func (v view) SubnetsBoundTo(ns string, fn func(*Subnet) bool) {
	byName := v.s.byNamespace[ns]
	// A namespace the Store has not seen has no labels, as BindsNamespace
	// is told with nil labels.
	bySel := v.s.selectUnlabelled
	if _, known := v.s.namespaces[ns]; known {
		bySel = v.s.bySelector[ns]
	}
	// Merge the two sorted name lists; a subnet in both is visited once.
	i, j := 0, 0
	for i < len(byName) || j < len(bySel) {
		var name string
		switch {
		case j >= len(bySel) || (i < len(byName) && byName[i] <= bySel[j]):
			name = byName[i]
			if j < len(bySel) && bySel[j] == name {
				j++
			}
			i++
		default:
			name = bySel[j]
			j++
		}
		if sn := v.s.subnets[name]; sn != nil && !fn(sn) {
			return
		}
	}
}

func (v view) SubnetsOfProvider(provider string, fn func(*Subnet) bool) {
	for _, name := range v.s.byProvider[provider] {
		if sn := v.s.subnets[name]; sn != nil && !fn(sn) {
			return
		}
	}
}

func (v view) VPCOfNamespace(ns string) (*VPC, bool) {
	names := v.s.vpcByNamespace[ns]
	if len(names) == 0 {
		return nil, false
	}
	return v.s.vpcs[names[0]], true
}

func (v view) VPC(name string) (*VPC, bool) {
	x, ok := v.s.vpcs[name]
	return x, ok
}

func (v view) IPPool(name string) (*IPPool, bool) {
	p, ok := v.s.pools[name]
	return p, ok
}

func (v view) IPPoolsOfSubnet(subnet string, fn func(*IPPool) bool) {
	for _, name := range v.s.poolsBySubnet[subnet] {
		if p := v.s.pools[name]; p != nil && !fn(p) {
			return
		}
	}
}

func (v view) PodRequests(a netip.Addr, fn func(PodRequest) bool) {
	for _, r := range v.s.podsByAddr[a] {
		if !fn(r) {
			return
		}
	}
}
