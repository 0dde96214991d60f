package validate

import (
	"fmt"
	"net/netip"
	"slices"
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
	checkIPPoolSyntax(&fs, r, nil, obj)
	checkIPPoolOverlap(&fs, r, nil, obj)
	return Result{Findings: fs}
}

// IPPoolUpdate judges a change to an IPPool. It is ratcheted: entries and
// namespaces that were already there are not judged again, and only newly
// added addresses are checked for overlap, so a pool that already
// overlaps can still be narrowed.
func IPPoolUpdate(c Context, oldObj, obj *kubeovnv1.IPPool) Result {
	r := c.Inventory
	var fs findings
	checkIPPoolSyntax(&fs, r, oldObj, obj)
	checkIPPoolOverlap(&fs, r, oldObj, obj)
	return Result{Findings: fs}
}

func checkIPPoolSyntax(fs *findings, r inventory.Reader, old, obj *kubeovnv1.IPPool) {
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

	var oldIPs, oldNamespaces []string
	if old != nil {
		oldNamespaces = old.Spec.Namespaces
		if !subnetChanged {
			oldIPs = old.Spec.IPs
		}
	}
	for i, entry := range s.IPs {
		if slices.Contains(oldIPs, entry) {
			continue
		}
		p := poolIPsPath.Index(i)
		rng, err := parsePoolEntry(entry)
		if err != nil {
			fs.add(policy.IPPoolInvalid, field.Invalid(p, entry, err.Msg))
			continue
		}
		if sn == nil {
			continue
		}
		f := ipam.FamilyOf(rng.From())
		block, ok := sn.Spec.Block(f)
		switch {
		case !ok:
			fs.add(policy.IPPoolInvalid, field.Invalid(p, entry,
				fmt.Sprintf("is %s but subnet %s (%s) has no %s block", f, sn.Name, sn.CIDRBlock, f)))
		case !block.Contains(rng.From()) || !block.Contains(rng.To()):
			fs.add(policy.IPPoolInvalid, field.Invalid(p, entry,
				fmt.Sprintf("is not inside subnet %s (%s)", sn.Name, block)))
		}
	}
	for i, ns := range s.Namespaces {
		if slices.Contains(oldNamespaces, ns) {
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			fs.add(policy.IPPoolInvalid, field.Invalid(poolNamespacesPath.Index(i), ns,
				"is not a namespace name: "+strings.Join(errs, "; ")))
		}
	}
}

// parsePoolEntry parses one spec.ips entry strictly: an address, an
// inclusive range a..b (same family, a <= b) or a CIDR without host bits.
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
		case p.Masked() != p:
			return netipx.IPRange{}, &ipam.Error{Value: s, Msg: fmt.Sprintf("host bits are set; the network address is %s", p.Masked())}
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
func checkIPPoolOverlap(fs *findings, r inventory.Reader, old, obj *kubeovnv1.IPPool) {
	added := inventory.NewIPPoolRecord(obj).Set
	if old != nil && old.Spec.Subnet == obj.Spec.Subnet {
		var b netipx.IPSetBuilder
		b.AddSet(added)
		b.RemoveSet(inventory.NewIPPoolRecord(old).Set)
		added, _ = b.IPSet()
	}
	if added == nil || len(added.Ranges()) == 0 || obj.Spec.Subnet == "" {
		return
	}
	var others []string
	n := 0
	r.IPPoolsOfSubnet(obj.Spec.Subnet, func(p *inventory.IPPool) bool {
		if p.Name == obj.Name || p.Set == nil {
			return true
		}
		var b netipx.IPSetBuilder
		b.AddSet(added)
		b.Intersect(p.Set)
		shared, _ := b.IPSet()
		if shared == nil || len(shared.Ranges()) == 0 {
			return true
		}
		n++
		if len(others) < maxListedItems {
			rs := shared.Ranges()
			items := make([]string, 0, min(len(rs), maxListedRanges))
			for _, rng := range rs[:min(len(rs), maxListedRanges)] {
				items = append(items, formatRange(rng))
			}
			others = append(others, fmt.Sprintf("%s (%s)", p.Name, joinCapped(items, len(rs))))
		}
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

// formatRange writes a range the way spec.ips does: an address or a..b.
func formatRange(r netipx.IPRange) string {
	if r.From() == r.To() {
		return r.From().String()
	}
	return r.From().String() + ".." + r.To().String()
}
