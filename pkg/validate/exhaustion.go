package validate

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

// FamilyUsage is one family of one subnet, computed from the inventory
// (never from status, which lags and is wrong after expansions).
type FamilyUsage struct {
	Family ipam.Family
	Block  netip.Prefix
	// Total is how many addresses the block can hand out: its capacity
	// minus the excluded allocatable addresses, the gateway included.
	Total uint64
	// Using is how many addresses are held inside the block's allocatable
	// range, not counting those in excluded ranges other than the gateway.
	Using uint64
	// Available is Total - Using, clamped at 0.
	Available uint64
}

// Usage computes the usage of each family of sn as the Kube-OVN controller
// counts it (KUBE-OVN.md, "Capacity and usage"): Total is the capacity of
// the block minus its excluded allocatable addresses (the gateway counts as
// excluded); Using is the IP objects and Vips of the subnet (InUseCount)
// minus those inside non-gateway excludeIps. Using also leaves out addresses
// held outside the block's allocatable range (left over from an earlier
// CIDR, or under a candidate spec that moves the block): the controller
// drops those allocations, so they take nothing from the block.
//
// The subnet is looked up by sn.Name, so sn may be a candidate record for a
// spec that is not stored yet. Cost: O(r log n + k) for r excluded ranges
// and k held addresses inside excluded ranges or outside the block.
func Usage(r inventory.Reader, sn *inventory.Subnet) []FamilyUsage {
	if len(sn.Spec.Blocks) == 0 {
		return nil
	}
	excluded := sn.Spec.Exclude.View()
	out := make([]FamilyUsage, 0, len(sn.Spec.Blocks))
	// One counter and its callbacks serve every query: the callbacks escape
	// through the Reader interface, so they are made once.
	var c struct {
		n  int
		gw netip.Addr
	}
	all := func(inventory.Holder) bool { c.n++; return true }
	notGateway := func(h inventory.Holder) bool {
		if h.Addr != c.gw {
			c.n++
		}
		return true
	}
	for _, b := range sn.Spec.Blocks {
		f := ipam.FamilyOfPrefix(b)
		u := FamilyUsage{Family: f, Block: b, Total: sn.Spec.Capacity(f)}
		held := r.InUseCount(sn.Name, f)
		if held > 0 {
			c.n = 0
			c.gw, _ = sn.Spec.Gateway(f)
			countNotUsing(r, sn.Name, b, excluded, all, notGateway)
			held -= c.n
		}
		u.Using = uint64(max(held, 0))
		if u.Using < u.Total {
			u.Available = u.Total - u.Using
		}
		out = append(out, u)
	}
	return out
}

// countNotUsing visits the holders of the subnet in block b's family that do
// not take an address of the block: with all, those outside its allocatable
// range; with notGateway, those inside an excluded range (static IPs may sit
// there; notGateway leaves out the gateway, which counts as using).
func countNotUsing(r inventory.Reader, name string, b netip.Prefix, excluded []netipx.IPRange, all, notGateway func(inventory.Holder) bool) {
	alloc := ipam.Allocatable(b)
	lo, hi := familyBounds(ipam.FamilyOfPrefix(b))
	if alloc.From() != lo {
		r.InUse(name, lo, alloc.From().Prev(), all)
	}
	if alloc.To() != hi {
		r.InUse(name, alloc.To().Next(), hi, all)
	}
	for _, x := range excluded {
		// Clip to the allocatable range so that an excluded network or
		// broadcast address is not subtracted twice.
		from, to := x.From(), x.To()
		if from.BitLen() != alloc.From().BitLen() || to.Less(alloc.From()) || alloc.To().Less(from) {
			continue
		}
		if from.Less(alloc.From()) {
			from = alloc.From()
		}
		if alloc.To().Less(to) {
			to = alloc.To()
		}
		r.InUse(name, from, to, notGateway)
	}
}

// Available is what a consumer can take from a subnet: the minimum over its
// families (a dual-stack pod needs one address of each), and the family
// that limits it (IPv4 on a tie). It is 0, 0 without any family.
func Available(us []FamilyUsage) (uint64, ipam.Family) {
	if len(us) == 0 {
		return 0, 0
	}
	best := us[0]
	for _, u := range us[1:] {
		if u.Available < best.Available {
			best = u
		}
	}
	return best.Available, best.Family
}

// usageOf returns the usage of family f in us.
func usageOf(us []FamilyUsage, f ipam.Family) FamilyUsage {
	for _, u := range us {
		if u.Family == f {
			return u
		}
	}
	return FamilyUsage{Family: f}
}

// maxExpansionSteps bounds how far Remedy looks: /n-1 … /n-8, that is up to
// 256 times the block.
const maxExpansionSteps = 8

// Remedy names a concrete fix for a subnet running dry: the smallest
// expansion of its block of family f (parent prefixes /n-1, /n-2, … up to 8
// steps) that adds addresses and whose new range overlaps no other subnet of
// its scope (VPC and VLAN), and in the default VPC neither the join nor the
// service CIDRs nor a node InternalIP (underlay subnets, with a VLAN, may
// contain nodes, as in the overlap rule). It reads
// "expand 10.70.0.0/24 to 10.70.0.0/23 (256 more addresses)". When the
// expansion moves the network address and the gateway is not written in
// spec.gateway, the remedy says to keep it, because the default gateway
// would move with the network address.
//
// Containment makes the search short: a range that overlaps something is
// inside every larger parent too, so the first blocked parent ends it. Then
// the remedy names what blocks it and suggests another subnet, naming a
// free block for it when a bounded search finds one near the subnet
// (freeBlock): "10.60.0.0/24 cannot grow (10.60.0.0/23 would overlap subnet
// right 10.60.1.0/24 in vpc ovn-cluster); create another subnet, e.g.
// 10.60.2.0/24 (252 more addresses, free in vpc ovn-cluster)". Cost:
// O(steps * (bits + k)) with k the subnets and nodes reported, at most one
// per step, plus the bounded search of ipam.FreeBlock (at most 256 index
// entries and candidate blocks) for the free block.
func Remedy(r inventory.Reader, d settings.Defaults, sn *inventory.Subnet, f ipam.Family) string {
	return remedy(r, d, sn, f, 1)
}

// remedy is Remedy looking for an expansion that adds at least want
// addresses; when no free one does, it offers the largest free one (if any)
// and suggests another subnet as well, naming a free block for it when the
// bounded search of freeBlock finds one.
func remedy(r inventory.Reader, d settings.Defaults, sn *inventory.Subnet, f ipam.Family, want uint64) string {
	block, ok := sn.Spec.Block(f)
	if !ok {
		return ""
	}
	want = max(want, 1)
	var best netip.Prefix
	var bestMore uint64
	blocker := ""
	for step := 1; step <= maxExpansionSteps && block.Bits()-step >= 0; step++ {
		parent := netip.PrefixFrom(block.Addr(), block.Bits()-step).Masked()
		if blocker = expansionBlocker(r, d, sn, parent); blocker != "" {
			break
		}
		more := ipam.Capacity(parent) - ipam.Capacity(block)
		if ipam.Capacity(parent) == math.MaxUint64 {
			// Saturated: the parent has 2^65 addresses or more, so it adds
			// at least 2^64.
			more = math.MaxUint64
		}
		if more == 0 {
			// A /31 grown to a /30 loses both ends to network and
			// broadcast: no gain.
			continue
		}
		best, bestMore = parent, more
		if more >= want {
			return expandText(sn, f, block, parent, more)
		}
	}
	another := "create another subnet"
	if sn.Bound() {
		another += " bound to the same namespaces"
	}
	// The new subnet must bring what the expansion could not.
	taken := block
	if best.IsValid() {
		// The new block must not overlap the expansion offered with it.
		taken = best
	}
	if free, ok := freeBlock(r, d, sn, block, taken, want-min(bestMore, want-1)); ok {
		another += ", e.g. " + freeText(r, sn, free)
		switch {
		case best.IsValid() && blocker != "":
			return fmt.Sprintf("%s; %s; for more room %s", expandText(sn, f, block, best, bestMore), blocker, another)
		case best.IsValid():
			return fmt.Sprintf("%s; for more room %s", expandText(sn, f, block, best, bestMore), another)
		case blocker != "":
			return fmt.Sprintf("%s cannot grow (%s); %s", block, blocker, another)
		}
		return fmt.Sprintf("%s cannot grow within %d steps; %s", block, maxExpansionSteps, another)
	}
	switch {
	case best.IsValid() && blocker != "":
		return fmt.Sprintf("%s; for more room %s (%s)", expandText(sn, f, block, best, bestMore), another, blocker)
	case best.IsValid():
		return fmt.Sprintf("%s; for more room %s", expandText(sn, f, block, best, bestMore), another)
	case blocker != "":
		return fmt.Sprintf("%s: %s cannot grow (%s)", another, block, blocker)
	}
	return fmt.Sprintf("%s: %s cannot grow within %d steps", another, block, maxExpansionSteps)
}

// freeText renders a free block proposed for a new subnet:
// "10.71.0.32/27 (29 more addresses, free in vpc ovn-cluster)". The count
// leaves out the new subnet's gateway.
func freeText(r inventory.Reader, sn *inventory.Subnet, p netip.Prefix) string {
	n := ipam.CapacityLessGateway(p)
	count := fmt.Sprintf("%d more addresses", n)
	switch {
	case n == 1:
		count = "1 more address"
	case n >= math.MaxUint64-2:
		// A /64 or larger: the exact figure helps nobody.
		count = "at least 2^64-3 more addresses"
	}
	return fmt.Sprintf("%s (%s, free in %s)", p, count, scopeText(r, sn.Scope()))
}

// scopeText names an overlap scope: "vpc ovn-cluster" or
// "vpc ovn-cluster vlan vlan10".
func scopeText(r inventory.Reader, scope inventory.Scope) string {
	if scope.VPC == "" {
		scope.VPC = r.DefaultVPC()
	}
	s := "vpc " + scope.VPC
	if scope.VLAN != "" {
		s += " vlan " + scope.VLAN
	}
	return s
}

// freeBlock finds a block for a new subnet next to sn's block of one
// family (ipam.FreeBlock): at least as large as the block and with at least
// want addresses, overlapping nothing the overlap rule protects (other
// subnets of the scope, sn's own blocks, and in the default VPC the join and
// service CIDRs and, for overlay subnets, node InternalIPs) nor taken (the
// block, or the expansion offered for it), and a valid subnet range.
func freeBlock(r inventory.Reader, d settings.Defaults, sn *inventory.Subnet, block, taken netip.Prefix, want uint64) (netip.Prefix, bool) {
	o := &freeOccupancy{r: r, self: sn.Name, scope: sn.Scope()}
	if o.scope.VPC == "" {
		o.scope.VPC = r.DefaultVPC()
	}
	avoid := sn.Spec.Blocks
	if o.scope.VPC == r.DefaultVPC() {
		// The new subnet is never the join subnet: keep out of its CIDR.
		avoid = make([]netip.Prefix, 0, len(sn.Spec.Blocks)+len(d.JoinCIDR)+len(d.ServiceCIDR))
		avoid = append(avoid, sn.Spec.Blocks...)
		avoid = append(avoid, d.JoinCIDR...)
		avoid = append(avoid, d.ServiceCIDR...)
		o.nodes = sn.VLAN == ""
	}
	// The callbacks escape through the Reader interface: made once per
	// search, not once per query.
	o.visit = func(other *inventory.Subnet, b netip.Prefix) bool { return o.yield(b, other.Name == o.self) }
	o.node = func(string, netip.Addr) bool { o.blocked = true; return false }
	return ipam.FreeBlock(ipam.FreeQuery{Near: block, Taken: taken, Want: want, Avoid: avoid}, o)
}

// freeOccupancy answers the questions of ipam.FreeBlock from the inventory:
// the subnets of one scope and, for overlay subnets of the default VPC, node
// InternalIPs.
type freeOccupancy struct {
	r     inventory.Reader
	self  string // the subnet judged: its stored record is no obstacle
	scope inventory.Scope
	nodes bool // avoid node InternalIPs

	yield   func(netip.Prefix, bool) bool
	visit   func(*inventory.Subnet, netip.Prefix) bool
	blocked bool
	node    func(string, netip.Addr) bool
}

// Subnets implements ipam.Occupancy with one ordered index query; the
// stored record of the subnet judged is passed as ignored, since its
// candidate blocks are in the query's Avoid.
func (o *freeOccupancy) Subnets(region netip.Prefix, yield func(netip.Prefix, bool) bool) {
	o.yield = yield
	o.r.OverlappingSubnets(o.scope, region, o.visit)
}

// Blocked implements ipam.Occupancy: p contains a node InternalIP.
func (o *freeOccupancy) Blocked(p netip.Prefix) bool {
	if !o.nodes {
		return false
	}
	o.blocked = false
	o.r.NodeAddresses(p, o.node)
	return o.blocked
}

// expandText renders one expansion.
func expandText(sn *inventory.Subnet, f ipam.Family, block, parent netip.Prefix, more uint64) string {
	count := fmt.Sprintf("%d more addresses", more)
	switch {
	case more == 1:
		count = "1 more address"
	case more == math.MaxUint64:
		count = "at least 2^64 more addresses"
	}
	s := fmt.Sprintf("expand %s to %s (%s", block, parent, count)
	if gw, ok := sn.Spec.Gateway(f); ok && parent.Addr() != block.Addr() &&
		gw != ipam.Allocatable(parent).From() && !explicitGateway(sn.Gateway, gw) {
		s += fmt.Sprintf("; set spec.gateway to keep %s", gw)
	}
	return s + ")"
}

// explicitGateway reports whether spec.gateway names gw.
func explicitGateway(spec string, gw netip.Addr) bool {
	for part := range strings.SplitSeq(spec, ",") {
		if a, err := netip.ParseAddr(strings.TrimSpace(part)); err == nil && a == gw {
			return true
		}
	}
	return false
}

// expansionBlocker says why sn's block cannot grow to parent ("" when it
// can): a range that cannot be a subnet, another subnet of the scope, and
// in the default VPC the join and service CIDRs and node addresses.
func expansionBlocker(r inventory.Reader, d settings.Defaults, sn *inventory.Subnet, parent netip.Prefix) string {
	if _, err := ipam.ParsePrefix(parent.String()); err != nil {
		return fmt.Sprintf("%s: %s", parent, err.Msg)
	}
	scope := sn.Scope()
	if scope.VPC == "" {
		scope.VPC = r.DefaultVPC()
	}
	blocker := ""
	r.OverlappingSubnets(scope, parent, func(other *inventory.Subnet, b netip.Prefix) bool {
		if other.Name == sn.Name {
			return true
		}
		where := "vpc " + scope.VPC
		if scope.VLAN != "" {
			where += " vlan " + scope.VLAN
		}
		blocker = fmt.Sprintf("%s would overlap subnet %s %s in %s", parent, other.Name, b, where)
		return false
	})
	if blocker != "" || scope.VPC != r.DefaultVPC() {
		return blocker
	}
	if sn.Name != d.JoinSubnet {
		for _, j := range d.JoinCIDR {
			if j.Overlaps(parent) {
				return fmt.Sprintf("%s would overlap the join subnet CIDR %s", parent, j)
			}
		}
	}
	for _, s := range d.ServiceCIDR {
		if s.Overlaps(parent) {
			return fmt.Sprintf("%s would overlap the service CIDR %s", parent, s)
		}
	}
	if sn.VLAN == "" {
		r.NodeAddresses(parent, func(node string, a netip.Addr) bool {
			blocker = fmt.Sprintf("%s would contain the InternalIP of node %s (%s)", parent, node, a)
			return false
		})
	}
	return blocker
}

// remedies joins the remedy of every family of us that would be at or under
// the warning threshold after taking need addresses, each aimed above it:
// on dual stack both families may be short, and each needs its own fix.
func remedies(r inventory.Reader, d settings.Defaults, t settings.Thresholds, sn *inventory.Subnet, us []FamilyUsage, need uint64) string {
	var fixes []string
	for _, u := range us {
		want := shortfall(t, u.Available, need)
		if want == 0 {
			continue
		}
		if fix := remedy(r, d, sn, u.Family, want); fix != "" {
			fixes = append(fixes, fix)
		}
	}
	return strings.Join(fixes, "; ")
}

// shortfall is how many more addresses lift available - need above the
// warning threshold.
func shortfall(t settings.Thresholds, available, need uint64) uint64 {
	target := ipam.SatAdd(ipam.SatAdd(t.Warning, 1), need)
	if available >= target {
		return 0
	}
	return target - available
}

// SubnetExhaustion judges a Subnet create or update: a subnet-exhaustion
// finding on spec.cidrBlock when the resulting spec leaves the subnet at or
// under the warning threshold. Usage is computed for the candidate spec
// against the addresses held in the subnet now (by name), so a shrink,
// a new excludeIps range or an expansion is judged as it will be. The
// remedy aims to lift the subnet above the warning threshold. An unusable
// cidrBlock yields nothing: the syntax rule reports it.
func SubnetExhaustion(c Context, old, obj *kubeovnv1.Subnet) Result {
	r, d, t := c.Inventory, c.Defaults, c.Thresholds
	sn := storedRecord(r, d, old, obj)
	if sn == nil {
		// Usage and remedies read the addresses and whether the subnet is
		// bound, not which namespaces it binds: one selector says that
		// much, and a subnet of 20k selectors is not parsed for a warning.
		o := *obj
		o.Spec.NamespaceSelectors = o.Spec.NamespaceSelectors[:min(1, len(o.Spec.NamespaceSelectors))]
		sn = inventory.NewSubnetRecord(&o, d.VPC)
	}
	us := Usage(r, sn)
	if len(us) == 0 {
		return Result{}
	}
	avail, f := Available(us)
	level := t.Level(avail)
	if level == settings.LevelOK {
		return Result{}
	}
	u := usageOf(us, f)
	msg := fmt.Sprintf("subnet %s has %d of %d %s addresses available (%s)", sn.Name, avail, u.Total, f, t.Describe(level))
	if fix := remedies(r, d, t, sn, us, 0); fix != "" {
		msg += "; " + fix
	}
	return Result{Findings: []policy.Finding{{
		Rule: policy.SubnetExhaustion,
		Err:  field.Invalid(cidrPath, obj.Spec.CIDRBlock, msg),
		// A subnet left low is worth knowing, never worth refusing:
		// refusing would not add addresses.
		Advisory: true,
	}}}
}

// storedRecord returns the inventory's record of a subnet whose update
// leaves everything the exhaustion rule reads as it was (blocks, gateway,
// exclusions, scope, provider, whether it is bound), or nil. That record
// was parsed when the object was stored: an update of a subnet with 100k
// excludeIps (a label, a status) does not parse them again for a warning.
// Should the inventory lag behind old by a version, the warning counts
// the exclusions it has, which is what it does for pods anyway.
func storedRecord(r inventory.Reader, d settings.Defaults, old, obj *kubeovnv1.Subnet) *inventory.Subnet {
	if old == nil {
		return nil
	}
	o, s := old.Spec, obj.Spec
	if o.CIDRBlock != s.CIDRBlock || o.Gateway != s.Gateway || !slices.Equal(o.ExcludeIps, s.ExcludeIps) {
		return nil
	}
	cur, ok := r.Subnet(obj.Name)
	provider := s.Provider
	if provider == "" {
		provider = annotations.DefaultProvider
	}
	bound := len(s.Namespaces) > 0 || len(s.NamespaceSelectors) > 0
	if !ok || cur.CIDRBlock != s.CIDRBlock || cur.Gateway != s.Gateway || cur.Scope() != inventory.ScopeOf(obj, d.VPC) ||
		cur.Provider != provider || cur.Bound() != bound {
		return nil
	}
	return cur
}

// PodExhaustion judges a request that takes need addresses (1 for a pod
// without a fixed IP, the replicas for a workload scale) from subnet sn: a
// pod-subnet-exhausted finding on path p when the subnet would be at or
// under the warning threshold afterwards. The level reported is the one
// after the request. When the subnet cannot serve every address, the
// message says the pods left over will hang in ContainerCreating with
// "Failed to allocate IP". need 0 takes nothing and yields nothing.
//
// The finding is reported on field p with value (the namespace for a pod,
// the replicas for a workload).
func PodExhaustion(c Context, sn *inventory.Subnet, need uint64, p *field.Path, value any) []policy.Finding {
	r, d, t := c.Inventory, c.Defaults, c.Thresholds
	if need == 0 {
		return nil
	}
	us := Usage(r, sn)
	if len(us) == 0 {
		return nil
	}
	avail, f := Available(us)
	after := uint64(0)
	if avail > need {
		after = avail - need
	}
	level := t.Level(after)
	if level == settings.LevelOK {
		return nil
	}
	u := usageOf(us, f)
	var msg string
	switch {
	case avail == 0 && need == 1:
		msg = fmt.Sprintf("subnet %s has no %s address left (0 of %d available); the pod will hang in ContainerCreating with \"Failed to allocate IP\"",
			sn.Name, f, u.Total)
	case avail == 0:
		msg = fmt.Sprintf("subnet %s has no %s address left (0 of %d available); all %d pods will hang in ContainerCreating with \"Failed to allocate IP\"",
			sn.Name, f, u.Total, need)
	case need > avail:
		msg = fmt.Sprintf("subnet %s has %d of %d %s addresses available but %d are needed; %s will hang in ContainerCreating with \"Failed to allocate IP\"",
			sn.Name, avail, u.Total, f, need, plural(int(min(need-avail, math.MaxInt)), "pod", "pods"))
	default:
		who := "this pod"
		if need > 1 {
			who = fmt.Sprintf("these %d pods", need)
		}
		msg = fmt.Sprintf("subnet %s will have %d of %d %s addresses available after %s (%s)",
			sn.Name, after, u.Total, f, who, t.Describe(level))
	}
	if fix := remedies(r, d, t, sn, us, need); fix != "" {
		msg += "; " + fix
	}
	return []policy.Finding{{
		Rule: policy.PodSubnetExhausted,
		Err:  field.Invalid(p, value, msg),
		// Only a request the subnet cannot serve may be refused (when
		// the rule is set to enforce); threshold crossings stay warnings.
		Advisory: need <= avail,
	}}
}

// PoolExhaustion is PodExhaustion for a pod that names an IPPool: the pod
// takes an address of the pool only (pkg/ipam/ipam.go GetRandomAddress
// with the pool's name), so the pool's free addresses count, not the
// subnet's. A pool's free addresses are its addresses inside the subnet's
// allocatable range, outside excludeIps, held by nobody. A pool that
// cannot serve need is reported (the pods wait with
// NoAvailableAddress); the subnet thresholds do not apply to pools.
func PoolExhaustion(c Context, pool *inventory.IPPool, sn *inventory.Subnet, need uint64, p *field.Path, value any) []policy.Finding {
	r := c.Inventory
	if need == 0 || pool.Set == nil {
		return nil
	}
	for _, f := range []ipam.Family{ipam.IPv4, ipam.IPv6} {
		b, ok := sn.Spec.Block(f)
		if !ok {
			continue
		}
		var sb netipx.IPSetBuilder
		sb.AddSet(pool.Set)
		var in netipx.IPSetBuilder
		in.AddRange(ipam.Allocatable(b))
		inBlock, err := in.IPSet()
		if err != nil {
			continue
		}
		sb.Intersect(inBlock)
		for _, x := range sn.Spec.Exclude.View() {
			sb.RemoveRange(x)
		}
		usable, err := sb.IPSet()
		if err != nil {
			continue
		}
		total := ipam.SetSize(usable)[f.Index()]
		if total == 0 {
			continue // no address of this family at all: another rule's
		}
		held := uint64(0)
		for _, rg := range usable.Ranges() {
			r.InUse(sn.Name, rg.From(), rg.To(), func(inventory.Holder) bool { held++; return true })
		}
		free := uint64(0)
		if total > held {
			free = total - held
		}
		if free >= need {
			// Pools are small on purpose: the subnet thresholds would
			// flag every pool; only a pool that cannot serve counts.
			continue
		}
		msg := fmt.Sprintf("IPPool %s has %d free %s addresses of %d but %d are needed; %s will wait for an address (NoAvailableAddress)", pool.Name, free, f, total, need, plural(int(min(need-free, math.MaxInt)), "pod", "pods"))
		if need == 1 {
			msg = fmt.Sprintf("IPPool %s has no free %s address left (0 of %d); Kube-OVN leaves the pod without an address (NoAvailableAddress) until one is released", pool.Name, f, total)
		}
		return []policy.Finding{{Rule: policy.PodSubnetExhausted, Err: field.Invalid(p, value, msg)}}
	}
	return nil
}
