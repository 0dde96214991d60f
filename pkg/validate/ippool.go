package validate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"go4.org/netipx"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
	"github.com/ipamguard/ipamguard/pkg/policy"
)

var (
	poolSubnetPath     = specPath.Child("subnet")
	poolIPsPath        = specPath.Child("ips")
	poolNamespacesPath = specPath.Child("namespaces")
	// maxListedRanges caps the overlapping ranges named per pool.
	maxListedRanges = 3
)

// IPPoolCreate judges a new IPPool: its subnet exists, every entry of
// spec.ips parses strictly and lies in the subnet, its namespaces are
// namespace names, and no other pool of the subnet shares an address.
func IPPoolCreate(c Context, _, obj *kubeovnv1.IPPool) Result {
	r := c.Inventory
	var fs findings
	checkIPPoolSyntax(c.Ctx, &fs, r, nil, obj)
	checkIPPoolOverlap(c.Ctx, &fs, r, nil, obj)
	return Result{Findings: fs.result()}
}

// IPPoolUpdate judges a change to an IPPool. It is ratcheted: entries and
// namespaces that were already there are not judged again, and only newly
// added addresses are checked for overlap, so a pool that already
// overlaps can still be narrowed.
func IPPoolUpdate(c Context, oldObj, obj *kubeovnv1.IPPool) Result {
	r := c.Inventory
	var fs findings
	checkIPPoolSyntax(c.Ctx, &fs, r, oldObj, obj)
	checkIPPoolOverlap(c.Ctx, &fs, r, oldObj, obj)
	return Result{Findings: fs.result()}
}

func checkIPPoolSyntax(ctx context.Context, fs *findings, r inventory.Reader, old, obj *kubeovnv1.IPPool) {
	s := obj.Spec
	subnetChanged := old == nil || old.Spec.Subnet != s.Subnet
	var sn *inventory.Subnet
	switch found, ok := r.Subnet(s.Subnet); {
	case ok:
		sn = found
	case !subnetChanged:
	case s.Subnet == "":
		fs.add(policy.IPPoolInvalid, field.Required(poolSubnetPath, "an IPPool needs the subnet its addresses belong to"))
	default:
		fs.add(policy.IPPoolInvalid, field.Invalid(poolSubnetPath, s.Subnet,
			fmt.Sprintf("subnet %s does not exist; create it first or name an existing subnet", s.Subnet)))
	}

	var oldIPs, oldNamespaces ratchet
	if old != nil {
		oldNamespaces.old = old.Spec.Namespaces
		if !subnetChanged {
			oldIPs.old = old.Spec.IPs
		}
	}
	// advised counts the warnings; inside is set once a new entry lies
	// (at least partly) in the subnet.
	advised, inside := 0, false
	for i, entry := range s.IPs {
		if stopped(ctx, i) {
			return
		}
		if oldIPs.has(i, entry) {
			continue
		}
		rng, ok := poolRange(entry)
		if !ok {
			fs.addf(policy.IPPoolInvalid, poolIPsPath, func() *field.Error {
				_, err := parsePoolEntry(entry)
				return field.Invalid(poolIPsPath.Index(i), entry, err.Msg)
			})
			continue
		}
		if sn == nil {
			continue
		}
		// The controller keeps only what lies in the subnet's blocks
		// (pkg/ipam/subnet.go AddOrUpdateIPPool intersects the pool with
		// each block's first..last address, and skips a family the subnet
		// has no block of), so an entry outside is ignored, not refused:
		// a warning, and none for an entry that is only partly outside.
		f := ipam.FamilyOf(rng.From())
		block, ok := sn.Spec.Block(f)
		switch {
		case !ok:
			advise(fs, &advised, func() *field.Error {
				return field.Invalid(poolIPsPath.Index(i), entry, fmt.Sprintf(
					"is %s but subnet %s (%s) has no %s block; Kube-OVN ignores this entry", f, sn.Name, sn.CIDRBlock, f))
			})
		case !netipx.RangeOfPrefix(block).Overlaps(rng):
			advise(fs, &advised, func() *field.Error {
				return field.Invalid(poolIPsPath.Index(i), entry, fmt.Sprintf(
					"is not inside subnet %s (%s); Kube-OVN ignores this entry", sn.Name, block))
			})
		default:
			inside = true
		}
	}
	// A pool that has addresses in the subnet but none the controller can
	// hand out: every one is the network, broadcast or gateway address or
	// in excludeIps (AddOrUpdateIPPool takes the excluded addresses out of
	// the pool's free range), so pods naming the pool never get one.
	ipsChanged := subnetChanged || !slices.Equal(old.Spec.IPs, s.IPs)
	if sn != nil && ipsChanged && (inside || advised == 0) {
		if rs := poolRanges(s.IPs); len(rs) > 0 && !poolHasFree(rs, sn.Spec) {
			advise(fs, &advised, func() *field.Error {
				return field.Invalid(poolIPsPath, s.IPs, fmt.Sprintf(
					"has no address subnet %s can hand out: each one is its network, broadcast or gateway address or in its excludeIps; "+
						"pods naming ippool %s would wait for an address (NoAvailableAddress)", sn.Name, obj.Name))
			})
		}
	}
	// An address set holds one family: with both, the controller fails the
	// pool's address set (pkg/util/ippool.go ExpandIPPoolAddressesForOVN,
	// "mixed IPv4 and IPv6 addresses are not supported in OVN address
	// set") and, as pkg/controller/ippool.go handleAddOrUpdateIPPool
	// reconciles the address set first, never adds the pool to IPAM
	// (ReconcileAddressSetFailed): pods naming it get no address.
	if s.EnableAddressSet && (ipsChanged || !old.Spec.EnableAddressSet) {
		var fams [2]bool
		for _, e := range s.IPs {
			if rng, ok := inventory.PoolRange(strings.TrimSpace(e)); ok {
				fams[ipam.FamilyOf(rng.From()).Index()] = true
			}
		}
		if fams[0] && fams[1] {
			fs.add(policy.IPPoolInvalid, field.Invalid(poolIPsPath, s.IPs,
				"mixes IPv4 and IPv6 addresses while enableAddressSet is true; an OVN address set holds one family, so Kube-OVN fails "+
					"the pool's address set and never adds the pool to IPAM (ReconcileAddressSetFailed); "+
					"split it into one IPPool per family or set enableAddressSet to false"))
		}
	}
	for i, ns := range s.Namespaces {
		if stopped(ctx, i) {
			return
		}
		if oldNamespaces.has(i, ns) {
			continue
		}
		if len(ns) <= validation.DNS1123LabelMaxLength && dns1123Label(ns) {
			continue
		}
		fs.addf(policy.IPPoolInvalid, poolNamespacesPath, func() *field.Error {
			return field.Invalid(poolNamespacesPath.Index(i), ns,
				"is not a namespace name: "+strings.Join(validation.IsDNS1123Label(ns), "; "))
		})
	}
}

// advise adds an ippool-invalid finding that warns and never denies, up
// to policy.MaxFindings of them; past that they are dropped, as a summary
// finding would deny.
func advise(fs *findings, n *int, mk func() *field.Error) {
	if *n >= policy.MaxFindings {
		return
	}
	*n++
	fs.list = append(fs.list, policy.Finding{Rule: policy.IPPoolInvalid, Err: mk(), Advisory: true})
}

// poolHasFree reports whether the pool's addresses (sorted, merged
// ranges) include one the subnet can hand out: inside a block's
// allocatable range (first..last, as Kube-OVN's util.FirstIP/LastIP) and
// not excluded (the gateway counts as excluded).
func poolHasFree(ranges []netipx.IPRange, sn ipam.Subnet) bool {
	var in []netipx.IPRange
	for _, b := range sn.Blocks {
		alloc := ipam.Allocatable(b)
		for _, r := range ranges {
			from, to := r.From(), r.To()
			if from.Less(alloc.From()) {
				from = alloc.From()
			}
			if alloc.To().Less(to) {
				to = alloc.To()
			}
			if !to.Less(from) {
				in = append(in, netipx.IPRangeFrom(from, to))
			}
		}
	}
	return len(subtractRanges(ipam.MergeRanges(in), sn.Exclude.Ranges())) > 0
}

// dns1123Label is validation.IsDNS1123Label's verdict without its
// messages (lower-case alphanumerics and '-', starting and ending
// alphanumeric); the length is checked by the caller.
func dns1123Label(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// poolRange is parsePoolEntry's verdict and range, without building a
// message for a bad entry: an address or range (ipam.ExcludeRange), or a
// CIDR without spaces or an IPv4-mapped prefix (host bits are masked).
func poolRange(s string) (netipx.IPRange, bool) {
	if !strings.Contains(s, "/") {
		return ipam.ExcludeRange(s)
	}
	if strings.ContainsFunc(s, func(c rune) bool { return c == ' ' || c == '\t' || c == '\n' }) {
		return netipx.IPRange{}, false
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Is4In6() {
		return netipx.IPRange{}, false
	}
	// Host bits are masked, as the controller's net.ParseCIDR does
	// (pkg/ipam/ip_range_list.go NewIPRangeListFrom).
	return netipx.RangeOfPrefix(p.Masked()), true
}

// parsePoolEntry parses one spec.ips entry strictly: an address, an
// inclusive range a..b (same family, a <= b) or a CIDR (host bits masked).
// The range returned is the one the inventory records for the entry.
func parsePoolEntry(s string) (netipx.IPRange, *ipam.Error) {
	if strings.Contains(s, "/") {
		if strings.ContainsFunc(s, func(c rune) bool { return c == ' ' || c == '\t' || c == '\n' }) {
			return netipx.IPRange{}, &ipam.Error{Value: s, Msg: "must not contain spaces"}
		}
		p, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			return netipx.IPRange{}, &ipam.Error{Value: s, Msg: "is not a valid CIDR; write an address, a range a..b or a CIDR such as 10.16.0.0/24"}
		case p.Addr().Is4In6():
			return netipx.IPRange{}, &ipam.Error{Value: s, Msg: "an IPv4-mapped IPv6 prefix is not allowed"}
		}
	} else if _, err := ipam.ParseExcludeEntry(s); err != nil {
		return netipx.IPRange{}, err
	}
	rng, err := inventory.ParsePoolEntry(s)
	if err != nil {
		return netipx.IPRange{}, &ipam.Error{Value: s, Msg: err.Error()}
	}
	return rng, nil
}

// checkIPPoolOverlap reports ippool-overlap: addresses the pool adds that
// another pool of the same subnet already has. Each pool is named with the
// shared ranges, computed on the same address sets the inventory keeps.
func checkIPPoolOverlap(ctx context.Context, fs *findings, r inventory.Reader, old, obj *kubeovnv1.IPPool) {
	if obj.Spec.Subnet == "" {
		return
	}
	// The addresses the pool adds, as sorted merged ranges (what
	// inventory.NewIPPoolRecord keeps, without building an IPSet of 100k
	// ranges): on update, those of entries not already in the old list,
	// minus the old list's, so an unchanged pool of 20k entries adds
	// nothing.
	var added []netipx.IPRange
	if old != nil && old.Spec.Subnet == obj.Spec.Subnet {
		had := ratchet{old: old.Spec.IPs}
		for i, e := range obj.Spec.IPs {
			if had.has(i, e) {
				continue
			}
			if rng, ok := inventory.PoolRange(strings.TrimSpace(e)); ok {
				added = append(added, rng)
			}
		}
		if len(added) == 0 {
			return
		}
		added = subtractRanges(ipam.MergeRanges(added), poolRanges(old.Spec.IPs))
	} else {
		added = poolRanges(obj.Spec.IPs)
	}
	if len(added) == 0 {
		return
	}
	var others []string
	n, i := 0, 0
	r.IPPoolsOfSubnet(obj.Spec.Subnet, func(p *inventory.IPPool) bool {
		if i++; stopped(ctx, i) {
			return false
		}
		// Overlaps costs a binary search per range of the other pool;
		// only the pools named in the message pay for an intersection.
		if p.Name == obj.Name || p.Set == nil || !overlapsSet(added, p.Set) {
			return true
		}
		if len(others) >= maxListedItems {
			n++
			return true
		}
		rs, total := sharedRanges(added, p.Set.Ranges(), maxListedRanges)
		if total == 0 {
			return true
		}
		n++
		items := make([]string, 0, len(rs))
		for _, rng := range rs {
			items = append(items, formatRange(rng))
		}
		others = append(others, fmt.Sprintf("%s (%s)", p.Name, joinCapped(items, total)))
		return true
	})
	if n == 0 {
		return
	}
	msg := fmt.Sprintf("overlaps ippool %s of subnet %s", others[0], obj.Spec.Subnet)
	if n > 1 {
		msg = fmt.Sprintf("overlaps %d ippools of subnet %s: %s", n, obj.Spec.Subnet, joinCapped(others, n))
	}
	fs.add(policy.IPPoolOverlap, field.Invalid(poolIPsPath, obj.Spec.IPs,
		msg+"; the IPPools of one subnet must not share addresses"))
}

// poolRanges returns the addresses of IPPool entries as sorted, merged
// ranges, read as inventory.NewIPPoolRecord reads them.
func poolRanges(entries []string) []netipx.IPRange {
	var rs []netipx.IPRange
	for i, e := range entries {
		if rng, ok := inventory.PoolRange(strings.TrimSpace(e)); ok {
			if rs == nil {
				// Sized at the first good entry: a list of bad ones costs
				// nothing here.
				rs = make([]netipx.IPRange, 0, len(entries)-i)
			}
			rs = append(rs, rng)
		}
	}
	return ipam.MergeRanges(rs)
}

// subtractRanges returns the addresses of a not in b, both sorted and
// merged, in one pass over both.
func subtractRanges(a, b []netipx.IPRange) []netipx.IPRange {
	var out []netipx.IPRange
	j := 0
	for _, r := range a {
		from, to := r.From(), r.To()
		for j < len(b) && b[j].To().Less(from) {
			j++
		}
		cur, covered := from, false
		for k := j; k < len(b) && !to.Less(b[k].From()); k++ {
			if cur.Less(b[k].From()) {
				out = append(out, netipx.IPRangeFrom(cur, b[k].From().Prev()))
			}
			if !b[k].To().Less(to) {
				covered = true
				break
			}
			cur = b[k].To().Next()
		}
		if !covered {
			out = append(out, netipx.IPRangeFrom(cur, to))
		}
	}
	return out
}

// overlapsSet reports whether the sorted, merged ranges a share an
// address with set, at the cost of the smaller side: a binary search into
// set per range of a short list, else one per range of set into a.
func overlapsSet(a []netipx.IPRange, set *netipx.IPSet) bool {
	if len(a) <= 64 {
		for _, r := range a {
			if set.OverlapsRange(r) {
				return true
			}
		}
		return false
	}
	// A long list: first its span per family, which rules out most pools
	// without reading their ranges.
	v6 := sort.Search(len(a), func(i int) bool { return a[i].From().Is6() })
	span := false
	for _, part := range [][]netipx.IPRange{a[:v6], a[v6:]} {
		if len(part) > 0 && set.OverlapsRange(netipx.IPRangeFrom(part[0].From(), part[len(part)-1].To())) {
			span = true
		}
	}
	if !span {
		return false
	}
	for _, r := range set.Ranges() {
		i := sort.Search(len(a), func(i int) bool { return !a[i].To().Less(r.From()) })
		if i < len(a) && !r.To().Less(a[i].From()) {
			return true
		}
	}
	return false
}

// sharedRanges returns the first few (at most keep) ranges of the
// intersection of two sorted, merged range lists, and how many ranges the
// intersection has: a binary search per range of b into a, so a pool of
// 20k ranges is intersected with a small pool in a few steps.
func sharedRanges(a, b []netipx.IPRange, keep int) ([]netipx.IPRange, int) {
	var out []netipx.IPRange
	total := 0
	for _, r := range b {
		j, _ := slices.BinarySearchFunc(a, r.From(), func(x netipx.IPRange, from netip.Addr) int {
			if x.To().Less(from) {
				return -1
			}
			return 1
		})
		for ; j < len(a) && !r.To().Less(a[j].From()); j++ {
			lo, hi := a[j].From(), a[j].To()
			if lo.Less(r.From()) {
				lo = r.From()
			}
			if r.To().Less(hi) {
				hi = r.To()
			}
			total++
			if len(out) < keep {
				out = append(out, netipx.IPRangeFrom(lo, hi))
			}
		}
	}
	return out, total
}

// formatRange writes a range the way spec.ips does: an address or a..b.
func formatRange(r netipx.IPRange) string {
	if r.From() == r.To() {
		return r.From().String()
	}
	return r.From().String() + ".." + r.To().String()
}
