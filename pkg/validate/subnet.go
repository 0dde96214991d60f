package validate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"
	"k8s.io/apimachinery/pkg/util/validation/field"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

var (
	specPath       = field.NewPath("spec")
	cidrPath       = specPath.Child("cidrBlock")
	gatewayPath    = specPath.Child("gateway")
	excludePath    = specPath.Child("excludeIps")
	protocolPath   = specPath.Child("protocol")
	u2oIPPath      = specPath.Child("u2oInterconnectionIP")
	vpcPath        = specPath.Child("vpc")
	vipsPath       = specPath.Child("vips")
	metaNamePath   = field.NewPath("metadata", "name")
	maxListedItems = 10
)

// SubnetCreate judges a new Subnet: syntax and overlap.
func SubnetCreate(c Context, _, obj *kubeovnv1.Subnet) Result {
	r, d := c.Inventory, c.Defaults
	var fs findings
	blocks := checkSubnetSyntax(c.Ctx, &fs, nil, obj)
	checkVpcName(&fs, nil, obj)
	if blocks != nil {
		checkVips(&fs, nil, obj, blocks)
		checkU2OIP(&fs, r, nil, obj, blocks)
		if inventory.IsOVNProvider(obj.Spec.Provider) {
			checkOverlap(&fs, r, d, obj, blocks)
		}
	}
	return Result{Findings: fs.result()}
}

// SubnetUpdate judges a change to a Subnet: syntax of the changed fields,
// overlap when the address space or scope changed, and that every address
// in use stays allocatable.
//
// Syntax is ratcheted: a field that was already invalid and did not change
// is not reported again, so an old object can still get unrelated edits.
func SubnetUpdate(c Context, oldObj, obj *kubeovnv1.Subnet) Result {
	r, d := c.Inventory, c.Defaults
	var fs findings
	blocks := checkSubnetSyntax(c.Ctx, &fs, oldObj, obj)
	// Kube-OVN's webhook refuses every vpc change but empty to the default
	// VPC (pkg/webhook/subnet.go SubnetUpdateHook, "vpc can only be changed
	// from empty to ovn-cluster"); the controller does not move the logical
	// switch to another router.
	if o, n := oldObj.Spec.Vpc, obj.Spec.Vpc; o != n && (o != "" || n != r.DefaultVPC()) {
		fs.add(policy.SubnetInvalid, field.Invalid(vpcPath, n, fmt.Sprintf(
			"vpc can only be changed from empty to %s; Kube-OVN does not move a subnet to another vpc: create a new subnet there instead", r.DefaultVPC())))
	}
	checkVpcName(&fs, oldObj, obj)
	if blocks != nil {
		checkVips(&fs, oldObj, obj, blocks)
		checkU2OIP(&fs, r, oldObj, obj, blocks)
	}
	// The scope is compared resolved: filling in an empty vpc with the
	// default VPC moves nothing.
	oldScope := inventory.ScopeOf(oldObj, r.DefaultVPC())
	newScope := inventory.ScopeOf(obj, r.DefaultVPC())
	if blocks != nil && inventory.IsOVNProvider(obj.Spec.Provider) && (oldObj.Spec.CIDRBlock != obj.Spec.CIDRBlock || oldScope != newScope) {
		checkOverlap(&fs, r, d, obj, blocks)
	}
	if fs.empty() || blocks != nil {
		checkInUse(&fs, r, oldObj, obj)
	}
	return Result{Findings: fs.result()}
}

// SubnetDelete refuses to delete a Subnet that still has addresses in use,
// counted from IP objects and Vips, never from status.
func SubnetDelete(c Context, obj, _ *kubeovnv1.Subnet) Result {
	r := c.Inventory
	n := r.InUseCount(obj.Name, ipam.IPv4) + r.InUseCount(obj.Name, ipam.IPv6)
	if n == 0 {
		return Result{}
	}
	var list holderList
	for _, f := range []ipam.Family{ipam.IPv4, ipam.IPv6} {
		lo, hi := familyBounds(f)
		r.InUse(obj.Name, lo, hi, func(h inventory.Holder) bool {
			list.add(h, "")
			return list.len() < maxListedItems
		})
	}
	list.n = n
	return Result{Findings: []policy.Finding{{
		Rule: policy.SubnetDeleteInUse,
		Err: field.Forbidden(metaNamePath, fmt.Sprintf(
			"subnet %s still has %s in use: %s; delete or move those pods, Vips and IP objects first",
			obj.Name, plural(n, "address", "addresses"), list)),
	}}}
}

// checkSubnetSyntax reports subnet-invalid findings and returns the parsed
// blocks, or nil when cidrBlock is unusable. With old set, unchanged fields
// are not reported. Long excludeIps lists are judged in linear time: the
// ratchet looks old entries up in a set, and past policy.MaxFindings bad
// entries are only counted.
func checkSubnetSyntax(ctx context.Context, fs *findings, old, obj *kubeovnv1.Subnet) []netip.Prefix {
	spec := obj.Spec
	cidrChanged := old == nil || old.Spec.CIDRBlock != spec.CIDRBlock
	if spec.CIDRBlock == "" {
		// An underlay subnet with a VLAN and no cidrBlock (MAC only, the
		// addresses come from an external DHCP server) is accepted by
		// newer Kube-OVN (master pkg/util/validator.go ValidateSubnet,
		// isUnderlayWithoutCIDR, kube-ovn #6885) as long as it has no
		// gateway (validateMacOnlySubnet) and no u2oInterconnectionIP.
		if spec.Vlan != "" {
			if spec.Gateway != "" && (old == nil || old.Spec.Gateway != spec.Gateway || cidrChanged) {
				fs.add(policy.SubnetInvalid, field.Invalid(gatewayPath, spec.Gateway, "must be empty for an underlay subnet without cidrBlock"))
			}
			if spec.U2OInterconnectionIP != "" && (old == nil || old.Spec.U2OInterconnectionIP != spec.U2OInterconnectionIP || cidrChanged) {
				fs.add(policy.SubnetInvalid, field.Invalid(u2oIPPath, spec.U2OInterconnectionIP, "is not supported for an underlay subnet without cidrBlock"))
			}
			return nil
		}
		if cidrChanged {
			fs.add(policy.SubnetInvalid, field.Required(cidrPath, "a subnet needs a cidrBlock such as 10.16.0.0/16 or 10.16.0.0/16,fd00:10:16::/64"))
		}
		return nil
	}
	blocks, errs := ipam.ParseCIDRBlock(spec.CIDRBlock)
	if len(errs) > 0 {
		if cidrChanged {
			for _, e := range errs {
				fs.add(policy.SubnetInvalid, field.Invalid(cidrPath, e.Value, e.Msg))
			}
		}
		return nil
	}
	if cidrChanged {
		for _, b := range blocks {
			if b.Bits() == b.Addr().BitLen() {
				fs.add(policy.SubnetInvalid, field.Invalid(cidrPath, spec.CIDRBlock, fmt.Sprintf(
					"block %s is a single address (/%d); Kube-OVN refuses it (pkg/util/validator.go InvalidNetworkMask) and no pod could get an address", b, b.Bits())))
			}
		}
	}

	if old == nil || old.Spec.Gateway != spec.Gateway || cidrChanged {
		if _, errs := ipam.ParseGateway(spec.Gateway, blocks); len(errs) > 0 {
			for _, e := range errs {
				fs.add(policy.SubnetInvalid, field.Invalid(gatewayPath, e.Value, e.Msg))
			}
		}
	}

	// A protocol that disagrees with the blocks is overwritten by the
	// controller (pkg/controller/subnet.go formatAddress, CheckProtocol) and
	// defaulted by msubnet; only a value Kube-OVN does not know is refused
	// (pkg/util/validator.go ValidateSubnet).
	if spec.Protocol != "" && (old == nil || old.Spec.Protocol != spec.Protocol) && !KnownProtocol(spec.Protocol) {
		want := ipam.Protocol(blocks)
		fs.add(policy.SubnetInvalid, field.Invalid(protocolPath, spec.Protocol, fmt.Sprintf(
			"must be IPv4, IPv6 or Dual; cidrBlock %s is %s: leave it empty or set %s", spec.CIDRBlock, want, want)))
	}

	var had ratchet
	if old != nil && !cidrChanged {
		had.old = old.Spec.ExcludeIps
	}
	for i, entry := range spec.ExcludeIps {
		if stopped(ctx, i) {
			break
		}
		if had.has(i, entry) {
			continue
		}
		// Entries outside the block, or of a family the subnet lacks, are
		// clipped by the controller (pkg/util/net.go ExpandExcludeIPs):
		// harmless, accepted. Only entries that do not parse are refused.
		if _, ok := ipam.ExcludeRange(entry); ok {
			continue
		}
		if fs.full(policy.SubnetInvalid) {
			fs.skip(policy.SubnetInvalid, excludePath)
			continue
		}
		_, err := ipam.ParseExcludeEntry(entry)
		fs.add(policy.SubnetInvalid, field.Invalid(excludePath.Index(i), err.Value, err.Msg))
	}
	return blocks
}

// KnownProtocol reports whether p is a protocol Kube-OVN knows (IPv4, IPv6,
// Dual), in any case: msubnet rewrites it to the one the blocks imply.
func KnownProtocol(p string) bool {
	for _, k := range []string{"IPv4", "IPv6", "Dual"} {
		if strings.EqualFold(strings.TrimSpace(p), k) {
			return true
		}
	}
	return false
}

// checkU2OIP judges spec.u2oInterconnectionIP when it is set and changed
// (or the blocks or gateway changed): as Kube-OVN's validation
// (pkg/util/validator.go ValidateSubnet) it must be lower case, lie in the
// block of its family and (master) not be the gateway; the controller takes
// it as a static address (pkg/controller/subnet.go acquireU2OIP), so it must
// not be held by another address holder of the subnet either.
func checkU2OIP(fs *findings, r inventory.Reader, old, obj *kubeovnv1.Subnet, blocks []netip.Prefix) {
	s := obj.Spec
	v := s.U2OInterconnectionIP
	if v == "" {
		return
	}
	if old != nil && old.Spec.U2OInterconnectionIP == v && old.Spec.CIDRBlock == s.CIDRBlock && old.Spec.Gateway == s.Gateway {
		return
	}
	if strings.ToLower(v) != v {
		fs.add(policy.SubnetInvalid, field.Invalid(u2oIPPath, v, "must be lower case; Kube-OVN refuses upper-case IPv6 addresses"))
		return
	}
	gateways, _ := ipam.ParseGateway(s.Gateway, blocks)
	if strings.TrimSpace(s.Gateway) == "" {
		for _, b := range blocks { // the controller's default gateway
			gateways = append(gateways, ipam.Allocatable(b).From())
		}
	}
	for _, e := range strings.Split(v, ",") {
		a, ok := ipam.ParseIP(strings.TrimSpace(e))
		if !ok {
			fs.add(policy.SubnetInvalid, field.Invalid(u2oIPPath, v, fmt.Sprintf("%q is not an IP address", e)))
			continue
		}
		f := ipam.FamilyOf(a)
		block, ok := ipam.BlockOf(blocks, f)
		if !ok || !block.Contains(a) {
			fs.add(policy.SubnetInvalid, field.Invalid(u2oIPPath, v, fmt.Sprintf("%s is not inside cidrBlock %s; Kube-OVN refuses it", a, s.CIDRBlock)))
			continue
		}
		if ipam.IsReserved(block, a) {
			fs.add(policy.SubnetInvalid, field.Invalid(u2oIPPath, v, fmt.Sprintf("%s is the network or broadcast address of %s and cannot be allocated", a, block)))
			continue
		}
		if slices.Contains(gateways, a) {
			fs.add(policy.SubnetInvalid, field.Invalid(u2oIPPath, v, fmt.Sprintf("%s is the subnet's gateway; the u2o interconnection port needs an address of its own", a)))
			continue
		}
		var holder string
		r.InUse(obj.Name, a, a, func(h inventory.Holder) bool {
			if strings.HasPrefix(h.Name, "u2o-interconnection.") {
				return true // the controller's own IP object of the u2o port
			}
			holder = h.Owner()
			return false
		})
		if holder != "" {
			fs.add(policy.SubnetInvalid, field.Invalid(u2oIPPath, v, fmt.Sprintf(
				"%s is held by %s; Kube-OVN cannot give it to the u2o interconnection port", a, holder)))
		}
	}
}

// checkVpcName refuses a subnet named like its vpc, as Kube-OVN's webhook
// and controller do (pkg/util/validator.go ValidateSubnet, "subnet %s and
// vpc %s cannot have the same name"): the subnet never gets its logical
// switch. Ratcheted: an old subnet already so is not reported again.
func checkVpcName(fs *findings, old, obj *kubeovnv1.Subnet) {
	if obj.Spec.Vpc == "" || obj.Spec.Vpc != obj.Name || old != nil && old.Spec.Vpc == old.Name {
		return
	}
	fs.add(policy.SubnetInvalid, field.Invalid(vpcPath, obj.Spec.Vpc, fmt.Sprintf(
		"subnet %s and vpc %s have the same name; Kube-OVN refuses it (the subnet never gets a logical switch)", obj.Name, obj.Spec.Vpc)))
}

// checkVips refuses spec.vips entries that Kube-OVN's ValidateSubnet
// refuses (pkg/util/validator.go): upper-case IPv6, or outside the block
// of their family ("vip %s conflicts with subnet %s cidr %s"). Ratcheted
// per entry. Bounded: entries past the findings cap are counted, not
// judged one by one.
func checkVips(fs *findings, old, obj *kubeovnv1.Subnet, blocks []netip.Prefix) {
	s := obj.Spec
	if len(s.Vips) == 0 {
		return
	}
	// Ratcheted per entry: an entry the old object already had is judged
	// again only when the cidrBlock changed.
	var kept map[string]bool
	if old != nil && old.Spec.CIDRBlock == s.CIDRBlock {
		kept = make(map[string]bool, len(old.Spec.Vips))
		for _, v := range old.Spec.Vips {
			kept[v] = true
		}
	}
	for i, v := range s.Vips {
		if kept[v] {
			continue
		}
		if fs.full(policy.SubnetInvalid) {
			fs.skip(policy.SubnetInvalid, vipsPath)
			return
		}
		if strings.ToLower(v) != v {
			fs.add(policy.SubnetInvalid, field.Invalid(vipsPath.Index(i), v, "must be lower case; Kube-OVN refuses upper-case IPv6 addresses"))
			continue
		}
		// Not trimmed: Kube-OVN's CIDRContainIP parses the entry as it is.
		a, ok := ipam.ParseIP(v)
		if !ok {
			fs.add(policy.SubnetInvalid, field.Invalid(vipsPath.Index(i), v, "is not an IP address; Kube-OVN refuses it"))
			continue
		}
		if block, ok := ipam.BlockOf(blocks, ipam.FamilyOf(a)); !ok || !block.Contains(a) {
			fs.add(policy.SubnetInvalid, field.Invalid(vipsPath.Index(i), v, fmt.Sprintf("is not inside cidrBlock %s; Kube-OVN refuses it", s.CIDRBlock)))
		}
	}
}

// ratchet tells the entries of a list field that were already in its old
// value: those are not judged again on update. Entries equal at the same
// position are found without a lookup; the others in a set of the old
// entries, built once and only for long lists, so the ratchet is linear in
// the lists' length.
type ratchet struct {
	old []string
	set map[string]struct{}
}

func (r *ratchet) has(i int, entry string) bool {
	switch {
	case i < len(r.old) && r.old[i] == entry:
		return true
	case len(r.old) <= 16:
		return slices.Contains(r.old, entry)
	}
	if r.set == nil {
		r.set = make(map[string]struct{}, len(r.old))
		for _, o := range r.old {
			r.set[o] = struct{}{}
		}
	}
	_, ok := r.set[entry]
	return ok
}

// checkOverlap reports subnet-overlap findings: other subnets of the same
// VPC and VLAN, and in the default VPC the join and service CIDRs and node
// addresses.
func checkOverlap(fs *findings, r inventory.Reader, d settings.Defaults, obj *kubeovnv1.Subnet, blocks []netip.Prefix) {
	scope := inventory.Scope{VPC: obj.Spec.Vpc, VLAN: obj.Spec.Vlan}
	if scope.VPC == "" {
		scope.VPC = r.DefaultVPC()
	}
	var others []string
	seen := map[string]bool{}
	total := 0
	for _, b := range blocks {
		r.OverlappingSubnets(scope, b, func(sn *inventory.Subnet, other netip.Prefix) bool {
			if sn.Name == obj.Name || seen[sn.Name] || !inventory.IsOVNProvider(sn.Provider) {
				return true // a non-OVN subnet is in no VPC: no conflict
			}
			seen[sn.Name] = true
			total++
			if len(others) < maxListedItems {
				others = append(others, fmt.Sprintf("%s %s", sn.Name, sn.CIDRBlock))
			}
			return true
		})
	}
	if total > 0 {
		where := "in vpc " + scope.VPC
		if scope.VLAN != "" {
			where += " vlan " + scope.VLAN
		}
		msg := "overlaps subnet " + others[0] + " " + where
		if total > 1 {
			msg = fmt.Sprintf("overlaps %d subnets %s: %s", total, where, joinCapped(others, total))
		}
		fs.add(policy.SubnetOverlap, field.Invalid(cidrPath, obj.Spec.CIDRBlock, msg))
	}

	if scope.VPC != r.DefaultVPC() {
		return
	}
	for _, b := range blocks {
		if obj.Name != d.JoinSubnet && !seen[d.JoinSubnet] {
			for _, j := range d.JoinCIDR {
				if j.Overlaps(b) {
					fs.add(policy.SubnetOverlap, field.Invalid(cidrPath, obj.Spec.CIDRBlock,
						fmt.Sprintf("block %s overlaps the join subnet CIDR %s", b, j)))
				}
			}
		}
		for _, s := range d.ServiceCIDR {
			if s.Overlaps(b) {
				fs.add(policy.SubnetOverlap, field.Invalid(cidrPath, obj.Spec.CIDRBlock,
					fmt.Sprintf("block %s overlaps the service CIDR %s", b, s)))
			}
		}
		// Underlay subnets (with a VLAN) commonly share the nodes' network.
		if obj.Spec.Vlan != "" {
			continue
		}
		var nodes []string
		n := 0
		r.NodeAddresses(b, func(node string, a netip.Addr) bool {
			n++
			if len(nodes) < maxListedItems {
				nodes = append(nodes, fmt.Sprintf("%s (%s)", node, a))
			}
			return true
		})
		if n > 0 {
			fs.add(policy.SubnetOverlap, field.Invalid(cidrPath, obj.Spec.CIDRBlock,
				fmt.Sprintf("block %s contains the InternalIP of %s %s; node addresses must stay outside overlay subnets of vpc %s",
					b, plural(n, "node", "nodes"), joinCapped(nodes, n), scope.VPC)))
		}
	}
}

// checkInUse reports subnet-shrink, subnet-exclude-in-use and
// subnet-gateway-in-use: addresses held in the subnet must stay allocatable
// under the new spec. It only visits addresses that can be affected, found
// with range queries on the inventory: those outside the new block, on its
// network, broadcast and gateway addresses, and in newly excluded ranges.
func checkInUse(fs *findings, r inventory.Reader, oldObj, obj *kubeovnv1.Subnet) {
	o, s := oldObj.Spec, obj.Spec
	if o.CIDRBlock == s.CIDRBlock && o.Gateway == s.Gateway && slices.Equal(o.ExcludeIps, s.ExcludeIps) {
		// Nothing that decides which addresses are allocatable changed
		// (labels, status, selectors...): no address in use can be
		// stranded by this update, and a subnet of 100k excludeIps is not
		// parsed for nothing.
		return
	}
	name := obj.Name
	// The old record's exclusions are never read: usable() looks at
	// blocks and gateways only.
	oldRec := ipam.NewSubnet(o.CIDRBlock, o.Gateway, nil)
	newRec := ipam.NewSubnet(s.CIDRBlock, s.Gateway, s.ExcludeIps)

	var stranded, excluded holderList
	// The newly excluded addresses: those of entries not already in the
	// old list, minus the old list's ranges (an entry may be rewritten
	// without excluding anything new).
	var added netipx.IPSetBuilder
	had := ratchet{old: o.ExcludeIps}
	fresh := false
	for i, e := range s.ExcludeIps {
		if had.has(i, e) {
			continue
		}
		if rng, ok := ipam.ExcludeRange(e); ok {
			added.AddRange(rng)
			fresh = true
		}
	}
	if fresh {
		added.RemoveSet(rawExcludes(o.ExcludeIps))
	}
	addedSet, _ := added.IPSet()

	for _, f := range []ipam.Family{ipam.IPv4, ipam.IPv6} {
		inUse := r.InUseCount(name, f)
		if inUse == 0 {
			continue
		}
		strandedBefore := stranded.len()
		strand := func(h inventory.Holder) bool {
			// An address that was already unusable (outside the old block,
			// on its gateway) is not this update's doing.
			if usable(oldRec, h.Addr) && !usable(newRec, h.Addr) {
				_, reason := newRec.Allocatable(h.Addr)
				stranded.add(h, reason)
			}
			return true
		}
		lo, hi := familyBounds(f)
		newBlock, ok := newRec.Block(f)
		if !ok {
			r.InUse(name, lo, hi, strand)
			continue
		}
		first, last := newBlock.Addr(), netipx.PrefixLastIP(newBlock)
		if first != lo {
			r.InUse(name, lo, first.Prev(), strand)
		}
		if last != hi {
			r.InUse(name, last.Next(), hi, strand)
		}
		newGw, _ := newRec.Gateway(f)
		for _, a := range []netip.Addr{first, last, newGw} {
			if a.IsValid() && (a == newGw || ipam.IsReserved(newBlock, a)) {
				r.InUse(name, a, a, strand)
			}
		}
		for _, rng := range addedSet.Ranges() {
			if ipam.FamilyOf(rng.From()) != f {
				continue
			}
			r.InUse(name, rng.From(), rng.To(), func(h inventory.Holder) bool {
				if usable(newRec, h.Addr) {
					excluded.add(h, "")
				}
				return true
			})
		}
		// Gateway change under running pods; not repeated when the block
		// moved away from the family's addresses anyway.
		oldBlock, _ := oldRec.Block(f)
		moved := oldBlock != newBlock && stranded.len() > strandedBefore
		if oldGw, _ := oldRec.Gateway(f); oldGw.IsValid() && newGw.IsValid() && oldGw != newGw && !moved {
			fs.add(policy.SubnetGatewayInUse, field.Invalid(gatewayPath, obj.Spec.Gateway, fmt.Sprintf(
				"the %s gateway would change from %s to %s while %s in use; running pods keep the old gateway until they are recreated",
				f, oldGw, newGw, plural(inUse, "address is", "addresses are"))))
		}
		// Capacity below usage, when no single address explains it (for
		// example several IP objects holding one address).
		if stranded.len() == 0 && excluded.len() == 0 {
			using := inUse - inExcluded(r, name, newRec, f)
			if capacity := newRec.Capacity(f); capacity < uint64(max(using, 0)) {
				fs.add(policy.SubnetShrink, field.Invalid(cidrPath, obj.Spec.CIDRBlock, fmt.Sprintf(
					"the %s block %s has room for %d addresses but %d are in use", f, newBlock, capacity, using)))
			}
		}
	}
	if stranded.len() > 0 {
		fs.add(policy.SubnetShrink, field.Invalid(cidrPath, obj.Spec.CIDRBlock, fmt.Sprintf(
			"%s in use would no longer be allocatable: %s; keep them inside the new block or move those pods first",
			plural(stranded.len(), "address", "addresses"), stranded)))
	}
	if excluded.len() > 0 {
		fs.add(policy.SubnetExcludeInUse, field.Invalid(excludePath, obj.Spec.ExcludeIps, fmt.Sprintf(
			"excludes %s in use: %s; the holders keep their addresses, the subnet's usage counters stop counting them, and Kube-OVN will not hand them out again once released",
			plural(excluded.len(), "address", "addresses"), excluded)))
	}
}

// usable reports whether a could be held in the subnet: inside its block,
// not network, broadcast or gateway. Excluded addresses are usable: Kube-OVN
// lets static IPs take them.
func usable(s ipam.Subnet, a netip.Addr) bool {
	b, ok := s.Block(ipam.FamilyOf(a))
	if !ok || !b.Contains(a) || ipam.IsReserved(b, a) {
		return false
	}
	gw, _ := s.Gateway(ipam.FamilyOf(a))
	return a != gw
}

// inExcluded counts in-use addresses of a family that sit in the subnet's
// excluded ranges (static IPs may), which do not count as using.
func inExcluded(r inventory.Reader, name string, s ipam.Subnet, f ipam.Family) int {
	n := 0
	gw, _ := s.Gateway(f)
	for _, rng := range s.Exclude.View() {
		if ipam.FamilyOf(rng.From()) != f {
			continue
		}
		r.InUse(name, rng.From(), rng.To(), func(h inventory.Holder) bool {
			if h.Addr != gw {
				n++
			}
			return true
		})
	}
	return n
}

func rawExcludes(entries []string) *netipx.IPSet {
	var b netipx.IPSetBuilder
	for _, e := range entries {
		if rng, ok := ipam.ExcludeRange(e); ok {
			b.AddRange(rng)
		}
	}
	s, _ := b.IPSet()
	return s
}

func familyBounds(f ipam.Family) (netip.Addr, netip.Addr) {
	if f == ipam.IPv6 {
		return netip.IPv6Unspecified(), netipx.PrefixLastIP(netip.MustParsePrefix("::/0"))
	}
	return netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// holderList collects addresses for a message, keeping the first few.
type holderList struct {
	items []string
	n     int
}

func (l *holderList) add(h inventory.Holder, reason string) {
	l.n++
	if len(l.items) >= maxListedItems {
		return
	}
	s := h.Addr.String() + " (" + h.Owner()
	if reason != "" {
		s += ", " + reason
	}
	l.items = append(l.items, s+")")
}

func (l *holderList) len() int { return l.n }

func (l holderList) String() string { return joinCapped(l.items, l.n) }

// joinCapped joins the listed items and says how many more there are.
func joinCapped(items []string, total int) string {
	s := strings.Join(items, ", ")
	if more := total - len(items); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
