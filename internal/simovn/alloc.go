package simovn

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"go4.org/netipx"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
)

// Event reasons, as the Kube-OVN controller names them.
const (
	// ReasonAcquireAddressFailed is the reason of the Warning event recorded
	// on a pod that could not get an address.
	ReasonAcquireAddressFailed = "AcquireAddressFailed"
)

// podInfo is what the allocator reads of a pod.
type podInfo struct {
	Namespace string
	Name      string
	// Owner is the owner key of the pod (annotations.OwnerKey).
	Owner string
	// Ordinal is the StatefulSet ordinal of the pod, or -1.
	Ordinal int
	// Req is the pod's primary ("ovn" provider) interface request.
	Req annotations.Request
}

// allocation is the result of a successful allocation: one address per
// family of the subnet (IPv4 first).
type allocation struct {
	Subnet *inventory.Subnet
	Addrs  []netip.Addr
}

// allocError is an allocation failure, recorded as an Event on the pod.
type allocError struct {
	Reason string
	Msg    string
}

func (e *allocError) Error() string { return e.Msg }

func failf(format string, args ...any) *allocError {
	return &allocError{Reason: ReasonAcquireAddressFailed, Msg: fmt.Sprintf(format, args...)}
}

// primaryRequest returns the request of the pod's default-provider interface.
func primaryRequest(ann map[string]string) annotations.Request {
	for _, r := range annotations.Requests(ann) {
		if r.Provider == annotations.DefaultProvider && r.Interface == "" {
			return r
		}
	}
	return annotations.Request{Provider: annotations.DefaultProvider}
}

// statefulSetOrdinal returns N of a pod named "<set>-N", or -1.
func statefulSetOrdinal(name string) int {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return -1
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// resolve returns the candidate subnets of the pod in the controller's
// order (KUBE-OVN.md, "Which subnet a pod lands in"): the logical_switch
// annotation; the subnet of the IPPool named by ip_pool; the subnets bound
// to the namespace (by spec.namespaces or namespaceSelectors), in name
// order; the default subnet of the namespace's VPC; the default subnet.
// It also returns the named IPPool, if any.
func resolve(r inventory.Reader, defaultSubnet string, p podInfo) ([]*inventory.Subnet, *inventory.IPPool, *allocError) {
	if ls := p.Req.LogicalSwitch; ls != "" {
		sn, ok := r.Subnet(ls)
		if !ok {
			return nil, nil, failf("subnet %s named by %s does not exist", ls, p.Req.LogicalSwitchKey)
		}
		return []*inventory.Subnet{sn}, nil, nil
	}
	if pool := p.Req.IPPool; pool != "" && annotations.IsPoolName(pool) {
		ipp, ok := r.IPPool(pool)
		if !ok {
			return nil, nil, failf("IPPool %s named by %s does not exist", pool, p.Req.IPPoolKey)
		}
		if ipp.Bound() && !contains(ipp.Namespaces, p.Namespace) {
			return nil, nil, failf("IPPool %s is not available to namespace %s", ipp.Name, p.Namespace)
		}
		sn, ok := r.Subnet(ipp.Subnet)
		if !ok {
			return nil, nil, failf("subnet %s of IPPool %s does not exist", ipp.Subnet, ipp.Name)
		}
		return []*inventory.Subnet{sn}, ipp, nil
	}
	var out []*inventory.Subnet
	r.SubnetsBoundTo(p.Namespace, func(sn *inventory.Subnet) bool {
		if sn.Provider == annotations.DefaultProvider {
			out = append(out, sn)
		}
		return true
	})
	if len(out) > 0 {
		return out, nil, nil
	}
	if vpc, ok := r.VPCOfNamespace(p.Namespace); ok && vpc.DefaultSubnet != "" {
		if sn, ok := r.Subnet(vpc.DefaultSubnet); ok {
			return []*inventory.Subnet{sn}, nil, nil
		}
	}
	if sn, ok := r.Subnet(defaultSubnet); ok {
		return []*inventory.Subnet{sn}, nil, nil
	}
	return nil, nil, failf("no subnet for namespace %s: default subnet %s does not exist", p.Namespace, defaultSubnet)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// allocate picks the addresses of a pod: the static ip_address (or the
// StatefulSet pod's ip_pool group) when given and free, else the lowest
// free allocatable address of each family of the first candidate subnet
// that has one, restricted to the named IPPool or the listed ip_pool
// addresses when the pod names them. ipName is the name of the pod's IP
// object; addresses it already holds count as free.
func allocate(r inventory.Reader, defaultSubnet string, p podInfo, ipName string) (allocation, *allocError) {
	cands, pool, err := resolve(r, defaultSubnet, p)
	if err != nil {
		return allocation{}, err
	}
	static, serr := staticAddrs(p)
	if serr != nil {
		return allocation{}, serr
	}
	if static != nil {
		return allocateStatic(r, p, cands, static, ipName)
	}

	var list []netipx.IPRange // ip_pool given as addresses
	if v := p.Req.IPPool; v != "" && !annotations.IsPoolName(v) {
		for e := range strings.SplitSeq(v, ",") {
			if rg, err := inventory.ParsePoolEntry(strings.TrimSpace(e)); err == nil {
				list = append(list, rg)
			}
		}
		if len(list) == 0 {
			return allocation{}, failf("%s %q lists no valid address", p.Req.IPPoolKey, v)
		}
	}

	var full []string
	for _, sn := range cands {
		var addrs []netip.Addr
		ok := len(sn.Spec.Blocks) > 0
		for _, block := range sn.Spec.Blocks {
			if !wantFamily(p.Req.IPFamily, block) {
				continue
			}
			a, found := firstFree(r, sn, candidateRanges(block, pool, list), func(a netip.Addr) bool {
				return requestedByOther(r, p, a)
			})
			if !found {
				ok = false
				break
			}
			addrs = append(addrs, a)
		}
		if ok && len(addrs) > 0 {
			return allocation{Subnet: sn, Addrs: addrs}, nil
		}
		desc := fmt.Sprintf("%s (%s)", sn.Name, sn.CIDRBlock)
		if pool != nil {
			desc = fmt.Sprintf("%s (%s, IPPool %s)", sn.Name, sn.CIDRBlock, pool.Name)
		}
		full = append(full, desc)
	}
	what := "subnet"
	if len(full) > 1 {
		what = "subnets"
	}
	return allocation{}, failf("no available IP in %s %s", what, strings.Join(full, ", "))
}

// wantFamily applies the ip_family annotation ("ipv4" or "ipv6").
func wantFamily(ipFamily string, block netip.Prefix) bool {
	switch strings.ToLower(strings.TrimSpace(ipFamily)) {
	case "ipv4":
		return block.Addr().Is4()
	case "ipv6":
		return block.Addr().Is6()
	}
	return true
}

// candidateRanges returns the ranges of block an address may come from:
// its allocatable range, cut down to the IPPool's addresses or the listed
// ones when given. The result is sorted.
func candidateRanges(block netip.Prefix, pool *inventory.IPPool, list []netipx.IPRange) []netipx.IPRange {
	alloc := ipam.Allocatable(block)
	var src []netipx.IPRange
	switch {
	case pool != nil:
		if pool.Set != nil {
			src = pool.Set.Ranges()
		}
	case list != nil:
		src = list
	default:
		return []netipx.IPRange{alloc}
	}
	var b netipx.IPSetBuilder
	for _, rg := range src {
		b.AddRange(rg)
	}
	b.Intersect(mustSet(alloc))
	set, err := b.IPSet()
	if err != nil {
		return nil
	}
	return set.Ranges()
}

func mustSet(rg netipx.IPRange) *netipx.IPSet {
	var b netipx.IPSetBuilder
	b.AddRange(rg)
	s, _ := b.IPSet()
	return s
}

// requestedByOther reports whether another pod asked for a as a fixed
// address and does not hold it yet: handing it out would leave that pod
// without its address.
func requestedByOther(r inventory.Reader, p podInfo, a netip.Addr) bool {
	other := false
	r.PodRequests(a, func(req inventory.PodRequest) bool {
		if req.Namespace != p.Namespace || req.Owner != p.Owner {
			other = true
			return false
		}
		return true
	})
	return other
}

// firstFree returns the lowest address of ranges (sorted, one family) that
// is not excluded, not held in the subnet and not skipped. It walks the
// held addresses with one ordered range scan per range and stops at the
// first gap, so the cost grows with the addresses in use below the answer,
// not with the size of the subnet.
func firstFree(r inventory.Reader, sn *inventory.Subnet, ranges []netipx.IPRange, skip func(netip.Addr) bool) (netip.Addr, bool) {
	excl := sn.Spec.Exclude.Ranges()
	for _, rg := range ranges {
		if !rg.IsValid() {
			continue
		}
		cur, to := rg.From(), rg.To()
		// settle moves cur to the next candidate that is neither excluded
		// nor skipped; false once it passes to.
		settle := func() bool {
			for cur.IsValid() && !to.Less(cur) {
				if end, ok := excludedUntil(excl, cur); ok {
					cur = end.Next()
					continue
				}
				if skip != nil && skip(cur) {
					cur = cur.Next()
					continue
				}
				return true
			}
			return false
		}
		var found, exhausted bool
		r.InUse(sn.Name, cur, to, func(h inventory.Holder) bool {
			if !settle() {
				exhausted = true
				return false
			}
			switch {
			case cur.Less(h.Addr):
				found = true // a gap below the next held address
				return false
			case cur == h.Addr:
				cur = cur.Next()
			}
			// h.Addr < cur: a second holder of an address already passed.
			return true
		})
		if found {
			return cur, true
		}
		if !exhausted && settle() {
			return cur, true
		}
	}
	return netip.Addr{}, false
}

// excludedUntil returns the end of the excluded range holding a.
func excludedUntil(excl []netipx.IPRange, a netip.Addr) (netip.Addr, bool) {
	i := sort.Search(len(excl), func(i int) bool { return !excl[i].To().Less(a) })
	if i < len(excl) && excl[i].Contains(a) {
		return excl[i].To(), true
	}
	return netip.Addr{}, false
}

// staticAddrs returns the fixed addresses the pod asks for: ip_address, or
// the group of a StatefulSet pod's ordinal in a ";"-separated ip_pool.
// Nil means none.
func staticAddrs(p podInfo) ([]netip.Addr, *allocError) {
	key, value := p.Req.IPAddressKey, p.Req.IPAddress
	if value == "" {
		pool := p.Req.IPPool
		if !strings.Contains(pool, ";") {
			return nil, nil
		}
		groups := strings.Split(pool, ";")
		if p.Ordinal < 0 || p.Ordinal >= len(groups) {
			return nil, failf("%s %q has no group for pod %s (ordinal %d)", p.Req.IPPoolKey, pool, p.Name, p.Ordinal)
		}
		key, value = p.Req.IPPoolKey, groups[p.Ordinal]
	}
	var out []netip.Addr
	var seen [2]bool
	for part := range strings.SplitSeq(value, ",") {
		part = strings.TrimSpace(part)
		if i := strings.IndexByte(part, '/'); i >= 0 {
			part = part[:i]
		}
		if part == "" {
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil || a.Zone() != "" {
			return nil, failf("%s %q: %q is not an IP address", key, value, part)
		}
		a = a.Unmap()
		fi := 0
		if a.Is6() {
			fi = 1
		}
		if seen[fi] {
			return nil, failf("%s %q gives two %s addresses", key, value, ipam.FamilyOf(a))
		}
		seen[fi] = true
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, failf("%s %q lists no address", key, value)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out, nil
}

// allocateStatic checks fixed addresses against the first candidate subnet
// whose blocks contain them all. Like the controller, it accepts addresses
// inside excludeIps but never the network, broadcast or gateway address.
func allocateStatic(r inventory.Reader, p podInfo, cands []*inventory.Subnet, addrs []netip.Addr, ipName string) (allocation, *allocError) {
	var sn *inventory.Subnet
	for _, c := range cands {
		all := true
		for _, a := range addrs {
			if !c.Spec.Contains(a) {
				all = false
				break
			}
		}
		if all {
			sn = c
			break
		}
	}
	if sn == nil {
		names := make([]string, len(cands))
		for i, c := range cands {
			names[i] = fmt.Sprintf("%s (%s)", c.Name, c.CIDRBlock)
		}
		return allocation{}, failf("address %s is outside subnet %s", joinAddrs(addrs), strings.Join(names, ", "))
	}
	for _, a := range addrs {
		block, _ := sn.Spec.Block(ipam.FamilyOf(a))
		if ipam.IsReserved(block, a) {
			return allocation{}, failf("address %s is the network or broadcast address of subnet %s (%s)", a, sn.Name, block)
		}
		if gw, ok := sn.Spec.Gateway(ipam.FamilyOf(a)); ok && gw == a {
			return allocation{}, failf("address %s is the gateway of subnet %s", a, sn.Name)
		}
		var holder string
		r.InUse(sn.Name, a, a, func(h inventory.Holder) bool {
			if h.Kind == inventory.HolderIP && h.Name == ipName {
				return true
			}
			holder = h.Owner()
			return false
		})
		if holder != "" {
			return allocation{}, failf("address %s in subnet %s is already held by %s", a, sn.Name, holder)
		}
	}
	return allocation{Subnet: sn, Addrs: addrs}, nil
}

// joinAddrs renders addresses as "v4,v6".
func joinAddrs(addrs []netip.Addr) string {
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",")
}
