package inventory

import (
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/google/btree"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ipamguard/ipamguard/pkg/annotations"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/ipam"
)

// Scope is the address space a subnet lives in: two subnets can only
// conflict when they share a VPC and a VLAN.
type Scope struct {
	VPC  string
	VLAN string
}

// Subnet is the inventory's immutable record of one Subnet object: the
// fields the rules read, parsed once when the object changes.
type Subnet struct {
	Name      string
	VPC       string // resolved: empty spec.vpc becomes the default VPC
	VLAN      string
	Provider  string
	CIDRBlock string // as stored
	Gateway   string // as stored
	Spec      ipam.Subnet
	// Namespaces and Selectors bind the subnet to namespaces; when both
	// are empty the subnet is open to every namespace.
	Namespaces []string
	Selectors  []labels.Selector
	// SelectorErr is set when a namespaceSelector does not parse; such a
	// selector matches nothing.
	SelectorErr error
}

// Bound reports whether the subnet is bound to any namespace at all.
func (s *Subnet) Bound() bool { return len(s.Namespaces) > 0 || len(s.Selectors) > 0 }

// BindsNamespace reports whether the subnet is bound to the namespace with
// the given name and labels.
func (s *Subnet) BindsNamespace(ns string, nsLabels labels.Set) bool {
	if slices.Contains(s.Namespaces, ns) {
		return true
	}
	for _, sel := range s.Selectors {
		if sel.Matches(nsLabels) {
			return true
		}
	}
	return false
}

// Scope returns the overlap scope of the subnet.
func (s *Subnet) Scope() Scope { return Scope{VPC: s.VPC, VLAN: s.VLAN} }

// HolderKind says what kind of object holds an address.
type HolderKind uint8

// Kinds of address holders.
const (
	HolderIP  HolderKind = iota + 1 // a kubeovn.io IP object
	HolderVip                       // a kubeovn.io Vip object
)

// Holder is one address held in one subnet by one object.
type Holder struct {
	Subnet string
	Addr   netip.Addr
	Kind   HolderKind
	// Name is the holding object's name.
	Name string
	// PodNamespace and PodName identify the owning pod (or VM) of an IP
	// object, or the namespace of a Vip; empty for node and reserved IPs.
	PodNamespace string
	PodName      string
	NodeName     string
	PodType      string
}

// Owner describes the holder for messages: "pod ns/name", "node n",
// "vip v" or "IP object x".
func (h Holder) Owner() string {
	switch {
	case h.Kind == HolderVip:
		return "vip " + h.Name
	case h.PodType == kubeovnv1.PodTypeVirtualMachine && h.PodName != "":
		return "vm " + h.PodNamespace + "/" + h.PodName
	case h.PodName != "" && h.PodNamespace != "":
		return "pod " + h.PodNamespace + "/" + h.PodName
	case h.NodeName != "" && strings.HasPrefix(h.Name, "node-"):
		return "node " + h.NodeName
	default:
		return "IP object " + h.Name
	}
}

// holderKey is where a holder sits in the Store's B-tree: a subnet and an
// address.
type holderKey struct {
	subnet string
	addr   netip.Addr
}

// holderOwner is the Store's record of one IP or Vip object: the fields all
// of its holders share, kept once, and the keys of its B-tree entries, so
// an update or delete removes exactly what the object added.
type holderOwner struct {
	kind                                           HolderKind
	name, podNamespace, podName, nodeName, podType string
	keys                                           []holderKey
}

// newHolderOwner builds the record of the holders of one object, as
// IPHolders and VipHolders return them (same owner, distinct keys).
func newHolderOwner(hs []Holder) *holderOwner {
	h := hs[0]
	o := &holderOwner{kind: h.Kind, name: h.Name, podNamespace: h.PodNamespace, podName: h.PodName,
		nodeName: h.NodeName, podType: h.PodType, keys: make([]holderKey, len(hs))}
	for i, h := range hs {
		o.keys[i] = holderKey{subnet: h.Subnet, addr: h.Addr}
	}
	return o
}

// holderEntry is one B-tree entry: 48 bytes instead of a 128-byte Holder,
// with the owner's fields shared by all of its addresses.
type holderEntry struct {
	holderKey
	owner *holderOwner // nil only in search pivots
}

func (e holderEntry) holder() Holder {
	o := e.owner
	return Holder{Subnet: e.subnet, Addr: e.addr, Kind: o.kind, Name: o.name,
		PodNamespace: o.podNamespace, PodName: o.podName, NodeName: o.nodeName, PodType: o.podType}
}

// entryLess orders entries by (subnet, address, kind, name): InUse is one
// range scan, and holders of one address have a stable order. A pivot
// without owner sorts first among the entries of its key.
func entryLess(a, b holderEntry) bool {
	if a.subnet != b.subnet {
		return a.subnet < b.subnet
	}
	if c := a.addr.Compare(b.addr); c != 0 {
		return c < 0
	}
	switch {
	case b.owner == nil:
		return false
	case a.owner == nil:
		return true
	case a.owner.kind != b.owner.kind:
		return a.owner.kind < b.owner.kind
	default:
		return a.owner.name < b.owner.name
	}
}

type subnetCounts [2]int // index 0: IPv4, 1: IPv6

// Store is the cluster as the rules see it, kept up to date by Upsert/Delete
// calls from informers (webhook) or from decoded files (offline checks and
// tests). Every query is answered from an index: no query visits objects it
// does not return, beyond a logarithmic search.
//
// Queries run through Read, which holds a read lock for the duration of one
// admission so a request sees one consistent state.
type Store struct {
	defaultVPC string

	mu sync.RWMutex

	subnets map[string]*Subnet
	scopes  map[Scope]*ipam.PrefixIndex[*Subnet]

	// holders is ordered by (subnet, address, kind, name), which answers
	// "in-use addresses of subnet N in range R" with one range scan.
	holders *btree.BTreeG[holderEntry]
	counts  map[string]*subnetCounts
	// byIP and byVip hold each object's record, whose keys say which
	// entries an update or delete removes.
	byIP  map[string]*holderOwner
	byVip map[string]*holderOwner

	nodes   map[string][]netip.Addr
	nodeIdx *ipam.PrefixIndex[string]

	// Tenancy: subnets by bound namespace name, subnets with selectors,
	// subnets by provider, namespaces' labels, VPCs.
	byNamespace     map[string][]string
	selectorSubnets []string
	// bySelector maps each known namespace to the sorted names of the
	// selector subnets that select it, and selectUnlabelled lists those
	// selecting a namespace without labels (what an unknown namespace
	// gets): a pod's subnets are found without evaluating selectors. They
	// change when a selector subnet or a namespace's labels do (tenancy.go).
	bySelector       map[string][]string
	selectUnlabelled []string
	byProvider       map[string][]string
	namespaces       map[string]labels.Set
	vpcs             map[string]*VPC
	vpcByNamespace   map[string][]string

	// namespacesGen changes whenever namespaces does, so a selection
	// computed without the lock (selectionOf) is known to be current.
	namespacesGen uint64

	pools         map[string]*IPPool
	poolsBySubnet map[string][]string

	// Pods that asked for fixed addresses: the requests by address, and
	// per pod only the addresses, which say where its requests are.
	podRequests map[podKey][]netip.Addr
	podsByAddr  map[netip.Addr][]PodRequest
}

// New returns an empty Store. defaultVPC is the VPC an empty spec.vpc means.
func New(defaultVPC string) *Store {
	return &Store{
		defaultVPC: defaultVPC,
		subnets:    map[string]*Subnet{},
		scopes:     map[Scope]*ipam.PrefixIndex[*Subnet]{},
		holders:    btree.NewG(32, entryLess),
		counts:     map[string]*subnetCounts{},
		byIP:       map[string]*holderOwner{},
		byVip:      map[string]*holderOwner{},
		nodes:      map[string][]netip.Addr{},

		byNamespace:    map[string][]string{},
		bySelector:     map[string][]string{},
		byProvider:     map[string][]string{},
		namespaces:     map[string]labels.Set{},
		vpcs:           map[string]*VPC{},
		vpcByNamespace: map[string][]string{},
		pools:          map[string]*IPPool{},
		poolsBySubnet:  map[string][]string{},
		podRequests:    map[podKey][]netip.Addr{},
		podsByAddr:     map[netip.Addr][]PodRequest{},
	}
}

func sortedInsert(list []string, v string) []string {
	i, found := slices.BinarySearch(list, v)
	if found {
		return list
	}
	return slices.Insert(list, i, v)
}

func sortedRemove(list []string, v string) []string {
	if i, found := slices.BinarySearch(list, v); found {
		return slices.Delete(list, i, i+1)
	}
	return list
}

// DefaultVPC returns the VPC that an empty spec.vpc means.
func (s *Store) DefaultVPC() string { return s.defaultVPC }

// IsOVNProvider reports whether a subnet's provider is OVN: empty, "ovn" or
// "<nad>.<ns>.ovn". Kube-OVN gives other subnets (macvlan and other non-OVN
// IPAM users) no VPC and no conflict checks (pkg/util/subnet.go
// IsOvnProvider; pkg/controller/subnet.go handleAddOrUpdateSubnet returns
// after SetNonOvnSubnetSuccess).
func IsOVNProvider(provider string) bool {
	if provider == "" || provider == "ovn" {
		return true
	}
	fields := strings.Split(provider, ".")
	return len(fields) == 3 && fields[2] == "ovn"
}

// ScopeOf returns the scope a Subnet object's addresses live in, with an
// empty spec.vpc resolved to defaultVPC; the same as
// NewSubnetRecord(obj, defaultVPC).Scope(), without parsing the spec.
func ScopeOf(obj *kubeovnv1.Subnet, defaultVPC string) Scope {
	vpc := obj.Spec.Vpc
	if vpc == "" {
		vpc = defaultVPC
	}
	return Scope{VPC: vpc, VLAN: obj.Spec.Vlan}
}

// NewSubnetRecord builds the record the Store keeps for a Subnet object.
// Validators use it to view a candidate object the way the Store would.
func NewSubnetRecord(obj *kubeovnv1.Subnet, defaultVPC string) *Subnet {
	scope := ScopeOf(obj, defaultVPC)
	provider := obj.Spec.Provider
	if provider == "" {
		provider = annotations.DefaultProvider
	}
	rec := &Subnet{
		Name:       obj.Name,
		VPC:        scope.VPC,
		VLAN:       scope.VLAN,
		Provider:   provider,
		CIDRBlock:  obj.Spec.CIDRBlock,
		Gateway:    obj.Spec.Gateway,
		Spec:       ipam.NewSubnet(obj.Spec.CIDRBlock, obj.Spec.Gateway, obj.Spec.ExcludeIps),
		Namespaces: slices.Clone(obj.Spec.Namespaces),
	}
	for i := range obj.Spec.NamespaceSelectors {
		sel, err := metav1.LabelSelectorAsSelector(&obj.Spec.NamespaceSelectors[i])
		if err != nil {
			rec.SelectorErr = err
			continue
		}
		rec.Selectors = append(rec.Selectors, sel)
	}
	return rec
}

// UpsertSubnet adds or replaces a Subnet.
func (s *Store) UpsertSubnet(obj *kubeovnv1.Subnet) {
	s.upsertSubnet(NewSubnetRecord(obj, s.defaultVPC))
}

// upsertSubnet adds or replaces a subnet's record. Its namespaceSelectors
// are evaluated before the write lock is taken (selectionOf).
func (s *Store) upsertSubnet(rec *Subnet) {
	pre := s.selectionOf(rec)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.subnets[rec.Name]
	s.removeSubnetLocked(rec.Name)
	s.subnets[rec.Name] = rec
	idx := s.scopes[rec.Scope()]
	for _, b := range rec.Spec.Blocks {
		idx = idx.Insert(b, rec)
	}
	s.scopes[rec.Scope()] = idx
	for _, ns := range rec.Namespaces {
		s.byNamespace[ns] = sortedInsert(s.byNamespace[ns], rec.Name)
	}
	s.rebindSelectorsLocked(old, rec, pre)
	s.byProvider[rec.Provider] = sortedInsert(s.byProvider[rec.Provider], rec.Name)
}

// DeleteSubnet removes a Subnet. Addresses held in it stay indexed until
// their IP objects go, as in the cluster.
func (s *Store) DeleteSubnet(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.subnets[name]; old != nil {
		s.removeSubnetLocked(name)
		s.rebindSelectorsLocked(old, nil, nil)
	}
}

// removeSubnetLocked drops a subnet from every index but the selector
// ones, which rebindSelectorsLocked maintains.
func (s *Store) removeSubnetLocked(name string) {
	old, ok := s.subnets[name]
	if !ok {
		return
	}
	delete(s.subnets, name)
	for _, ns := range old.Namespaces {
		s.byNamespace[ns] = sortedRemove(s.byNamespace[ns], name)
		if len(s.byNamespace[ns]) == 0 {
			delete(s.byNamespace, ns)
		}
	}
	if s.byProvider[old.Provider] = sortedRemove(s.byProvider[old.Provider], name); len(s.byProvider[old.Provider]) == 0 {
		delete(s.byProvider, old.Provider)
	}
	idx := s.scopes[old.Scope()]
	for _, b := range old.Spec.Blocks {
		idx = idx.Delete(b, old)
	}
	if idx.Len() == 0 {
		delete(s.scopes, old.Scope())
	} else {
		s.scopes[old.Scope()] = idx
	}
}

// IPHolders returns the addresses an IP object holds, as IPAddrs defines
// them (the union of its primary address fields in spec.subnet, and each
// attachment address in the matching attachSubnets entry). Unparseable
// addresses are skipped.
func IPHolders(obj *kubeovnv1.IP) []Holder {
	addrs := IPAddrs(&obj.Spec)
	if len(addrs) == 0 {
		return nil
	}
	out := make([]Holder, len(addrs))
	for i, a := range addrs {
		out[i] = Holder{
			Subnet:       a.Subnet,
			Addr:         a.Addr,
			Kind:         HolderIP,
			Name:         obj.Name,
			PodNamespace: obj.Spec.Namespace,
			PodName:      obj.Spec.PodName,
			NodeName:     obj.Spec.NodeName,
			PodType:      obj.Spec.PodType,
		}
	}
	return out
}

// VipHolders returns the addresses a Vip holds: the allocated ones from
// status and the requested ones from spec.
func VipHolders(obj *kubeovnv1.Vip) []Holder {
	base := Holder{Kind: HolderVip, Name: obj.Name, Subnet: obj.Spec.Subnet, PodNamespace: obj.Spec.Namespace}
	if base.Subnet == "" {
		return nil
	}
	var out []Holder
	for _, s := range []string{obj.Status.V4ip, obj.Status.V6ip, obj.Spec.V4ip, obj.Spec.V6ip} {
		if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil {
			h := base
			h.Addr = a
			out = append(out, h)
		}
	}
	return dedupe(out)
}

func dedupe(hs []Holder) []Holder {
	out := hs[:0]
	for i, h := range hs {
		dup := false
		for _, prev := range hs[:i] {
			if prev.Subnet == h.Subnet && prev.Addr == h.Addr {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, h)
		}
	}
	return out
}

// UpsertIP adds or replaces an IP object.
func (s *Store) UpsertIP(obj *kubeovnv1.IP) {
	hs := IPHolders(obj)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replaceHoldersLocked(s.byIP, obj.Name, hs)
}

// UpsertIPs adds or replaces many IP objects, leaving the Store as
// UpsertIP on each in turn would (a name given twice: the later one), for
// a Store filled from a whole state at once (the doctor's and check's
// judge of a snapshot of a million IP objects). The objects' addresses are
// read on every core, and their B-tree entries inserted in key order: each
// insertion then walks the same few, cached, nodes instead of a random
// path through a million entries. The Store's write lock is held for the
// whole insertion (about a second for a million): not for a Store that
// admissions read while it is filled.
func (s *Store) UpsertIPs(objs []kubeovnv1.IP) {
	owners := make([]*holderOwner, len(objs))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(objs)/1024))
	var wg sync.WaitGroup
	for w := range workers {
		from, to := len(objs)*w/workers, len(objs)*(w+1)/workers
		wg.Go(func() {
			for i := from; i < to; i++ {
				if hs := IPHolders(&objs[i]); len(hs) > 0 {
					owners[i] = newHolderOwner(hs)
				}
			}
		})
	}
	wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	// Into a Store that holds IP objects already, one at a time.
	if len(s.byIP) > 0 {
		for i := range objs {
			s.replaceHoldersLocked(s.byIP, objs[i].Name, nil)
			if o := owners[i]; o != nil {
				s.byIP[objs[i].Name] = o
				s.insertOwnerLocked(o)
			}
		}
		return
	}
	// An owner that a later object of the same name replaces is never
	// inserted.
	var replaced map[*holderOwner]bool
	n := 0
	for i := range objs {
		name := objs[i].Name
		if old := s.byIP[name]; old != nil {
			if replaced == nil {
				replaced = map[*holderOwner]bool{}
			}
			replaced[old] = true
			n -= len(old.keys)
		}
		if o := owners[i]; o != nil {
			s.byIP[name] = o
			n += len(o.keys)
		} else {
			delete(s.byIP, name)
		}
	}
	entries := make([]holderEntry, 0, n)
	for _, o := range owners {
		if o == nil || replaced[o] {
			continue
		}
		for _, k := range o.keys {
			entries = append(entries, holderEntry{k, o})
		}
	}
	slices.SortFunc(entries, func(a, b holderEntry) int {
		switch {
		case entryLess(a, b):
			return -1
		case entryLess(b, a):
			return 1
		}
		return 0
	})
	for _, e := range entries {
		if _, replaced := s.holders.ReplaceOrInsert(e); !replaced {
			s.countLocked(e.holderKey, +1)
		}
	}
}

// DeleteIP removes an IP object.
func (s *Store) DeleteIP(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replaceHoldersLocked(s.byIP, name, nil)
}

// UpsertVip adds or replaces a Vip.
func (s *Store) UpsertVip(obj *kubeovnv1.Vip) {
	hs := VipHolders(obj)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replaceHoldersLocked(s.byVip, obj.Name, hs)
}

// DeleteVip removes a Vip.
func (s *Store) DeleteVip(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replaceHoldersLocked(s.byVip, name, nil)
}

func (s *Store) replaceHoldersLocked(by map[string]*holderOwner, name string, hs []Holder) {
	if old := by[name]; old != nil {
		for _, k := range old.keys {
			if _, ok := s.holders.Delete(holderEntry{k, old}); ok {
				s.countLocked(k, -1)
			}
		}
	}
	if len(hs) == 0 {
		delete(by, name)
		return
	}
	o := newHolderOwner(hs)
	by[name] = o
	s.insertOwnerLocked(o)
}

// insertOwnerLocked inserts the B-tree entries of o.
func (s *Store) insertOwnerLocked(o *holderOwner) {
	for _, k := range o.keys {
		if _, replaced := s.holders.ReplaceOrInsert(holderEntry{k, o}); !replaced {
			s.countLocked(k, +1)
		}
	}
}

func (s *Store) countLocked(k holderKey, delta int) {
	c := s.counts[k.subnet]
	if c == nil {
		c = &subnetCounts{}
		s.counts[k.subnet] = c
	}
	c[ipam.FamilyOf(k.addr).Index()] += delta
	if c[0] == 0 && c[1] == 0 {
		delete(s.counts, k.subnet)
	}
}

// UpsertNode records a node's InternalIP addresses.
func (s *Store) UpsertNode(obj *corev1.Node) {
	var addrs []netip.Addr
	for _, a := range obj.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			addrs = append(addrs, ip.Unmap())
		}
	}
	s.mu.RLock()
	same := slices.Equal(s.nodes[obj.Name], addrs)
	s.mu.RUnlock()
	if same {
		return // status heartbeats rarely change addresses
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeNodeLocked(obj.Name)
	if len(addrs) == 0 {
		return
	}
	s.nodes[obj.Name] = addrs
	for _, a := range addrs {
		s.nodeIdx = s.nodeIdx.Insert(netip.PrefixFrom(a, a.BitLen()), obj.Name)
	}
}

// DeleteNode forgets a node.
func (s *Store) DeleteNode(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeNodeLocked(name)
}

func (s *Store) removeNodeLocked(name string) {
	for _, a := range s.nodes[name] {
		s.nodeIdx = s.nodeIdx.Delete(netip.PrefixFrom(a, a.BitLen()), name)
	}
	delete(s.nodes, name)
}

// Read runs fn with a consistent view of the store. The view must not be
// used after fn returns.
func (s *Store) Read(fn func(Reader)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(view{s})
}

// Reader answers the rules' questions about the cluster. Every method is
// served from an index.
type Reader interface {
	// DefaultVPC is the VPC an empty spec.vpc means.
	DefaultVPC() string
	// Subnet returns a subnet by name.
	Subnet(name string) (*Subnet, bool)
	// OverlappingSubnets calls fn for every subnet of the scope with a block
	// overlapping p, until fn returns false.
	OverlappingSubnets(scope Scope, p netip.Prefix, fn func(*Subnet, netip.Prefix) bool)
	// NodeAddresses calls fn for every node InternalIP inside p.
	NodeAddresses(p netip.Prefix, fn func(node string, a netip.Addr) bool)
	// InUse calls fn, in address order, for every address held in the
	// subnet within [from, to] (same family), until fn returns false.
	InUse(subnet string, from, to netip.Addr, fn func(Holder) bool)
	// InUseCount returns how many addresses of a family the subnet holds.
	InUseCount(subnet string, f ipam.Family) int

	// Subnets calls fn for every subnet, in no particular order. Only for
	// whole-cluster views (metrics scrapes, diagnosis), never per request.
	Subnets(fn func(*Subnet) bool)

	// Namespace returns a namespace's labels and whether it is known.
	Namespace(name string) (labels.Set, bool)
	// SubnetsBoundTo calls fn, in name order, for every subnet bound to
	// the namespace by spec.namespaces or a matching namespaceSelector.
	SubnetsBoundTo(ns string, fn func(*Subnet) bool)
	// SubnetsOfProvider calls fn, in name order, for the subnets of a
	// provider ("ovn" for the default network).
	SubnetsOfProvider(provider string, fn func(*Subnet) bool)
	// VPCOfNamespace returns the custom VPC whose spec.namespaces lists the
	// namespace (the first by name), if any.
	VPCOfNamespace(ns string) (*VPC, bool)
	// VPC returns a VPC by name.
	VPC(name string) (*VPC, bool)
	// IPPool returns an IPPool by name.
	IPPool(name string) (*IPPool, bool)
	// IPPoolsOfSubnet calls fn, in name order, for the pools of a subnet.
	IPPoolsOfSubnet(subnet string, fn func(*IPPool) bool)
	// PodRequests calls fn for every pod that asked for address a with a
	// fixed ip_address annotation.
	PodRequests(a netip.Addr, fn func(PodRequest) bool)
}

type view struct{ s *Store }

func (v view) DefaultVPC() string { return v.s.defaultVPC }

func (v view) Subnets(fn func(*Subnet) bool) {
	for _, sn := range v.s.subnets {
		if !fn(sn) {
			return
		}
	}
}

func (v view) Subnet(name string) (*Subnet, bool) {
	sn, ok := v.s.subnets[name]
	return sn, ok
}

func (v view) OverlappingSubnets(scope Scope, p netip.Prefix, fn func(*Subnet, netip.Prefix) bool) {
	if scope.VPC == "" {
		scope.VPC = v.s.defaultVPC
	}
	v.s.scopes[scope].Overlapping(p, func(b netip.Prefix, sn *Subnet) bool { return fn(sn, b) })
}

func (v view) NodeAddresses(p netip.Prefix, fn func(string, netip.Addr) bool) {
	v.s.nodeIdx.Overlapping(p, func(q netip.Prefix, node string) bool {
		if !p.Contains(q.Addr()) {
			return true
		}
		return fn(node, q.Addr())
	})
}

func (v view) InUse(subnet string, from, to netip.Addr, fn func(Holder) bool) {
	if !from.IsValid() || !to.IsValid() || from.BitLen() != to.BitLen() || to.Less(from) {
		return
	}
	v.s.holders.AscendGreaterOrEqual(holderEntry{holderKey: holderKey{subnet: subnet, addr: from}}, func(e holderEntry) bool {
		if e.subnet != subnet || to.Less(e.addr) {
			return false
		}
		return fn(e.holder())
	})
}

func (v view) InUseCount(subnet string, f ipam.Family) int {
	c := v.s.counts[subnet]
	if c == nil {
		return 0
	}
	if f == ipam.IPv6 {
		return c[1]
	}
	return c[0]
}
