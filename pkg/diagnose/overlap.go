package diagnose

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"go4.org/netipx"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

// maxOverlapsListed is the most overlap findings one subnet block starts,
// and the most nodes one node-address finding names; the rest are counted.
// Ten thousand subnets of one CIDR would otherwise make fifty million
// findings.
const maxOverlapsListed = 10

// defaultVPCOf is the VPC an empty spec.vpc means: the Vpc the controller
// marks status.default, else the name of a fresh install's (the controller
// flag's default).
func defaultVPCOf(s *State) string {
	for i := range s.Vpcs {
		if s.Vpcs[i].Status.Default {
			return s.Vpcs[i].Name
		}
	}
	return settings.FreshInstall().VPC
}

// overlapBlock is one block of one subnet in its scope.
type overlapBlock struct {
	p   netip.Prefix
	sub *kubeovnv1.Subnet
}

// subnetPair is an overlap between two subnets; newer is the one to
// recreate.
type subnetPair struct {
	newer, older *kubeovnv1.Subnet
	scope        inventory.Scope
}

// checkOverlaps reports CIDR overlaps in one routing scope, decided as the
// webhook decides it (pkg/validate/subnet.go checkOverlap): subnets of one
// VPC (empty spec.vpc is the default VPC, inventory.ScopeOf) and one VLAN
// overlap when a block of one contains a block of the other; non-OVN
// subnets take part in none. In the default VPC a subnet must also stay
// clear of the Service CIDRs, and an overlay subnet (no VLAN: underlay
// subnets share the nodes' network by design) of the node InternalIPs,
// excluded or not (as the webhook judges it, and as Kube-OVN's subnet
// controller fails such a subnet: excludeIps keeps pods off the address,
// but the logical switch still claims it), except a node's own join address (the IP object node-<node> the controller allocates in
// the join subnet).
//
// Overlaps are found per scope with one sort and a sweep: CIDR blocks
// either nest or are disjoint, so after sorting by address then length
// the blocks containing a block are exactly those left on a stack of open
// blocks. That is O(n log n) for n blocks, plus the overlaps found
// (capped per block).
func checkOverlaps(x *index, _ *Options, r *Report) {
	defVPC := defaultVPCOf(x.s)
	scopes := map[inventory.Scope][]overlapBlock{}
	var scopeOrder []inventory.Scope
	for i := range x.s.Subnets {
		sub := &x.s.Subnets[i]
		if !inventory.IsOVNProvider(sub.Spec.Provider) {
			continue
		}
		sc := inventory.ScopeOf(sub, defVPC)
		if _, ok := scopes[sc]; !ok {
			scopeOrder = append(scopeOrder, sc)
		}
		for _, b := range ipam.NewSubnet(sub.Spec.CIDRBlock, "", nil).Blocks {
			scopes[sc] = append(scopes[sc], overlapBlock{p: b, sub: sub})
		}
	}
	slices.SortFunc(scopeOrder, func(a, b inventory.Scope) int { return cmp.Or(cmp.Compare(a.VPC, b.VPC), cmp.Compare(a.VLAN, b.VLAN)) })
	var pairs []subnetPair
	seen := map[[2]string]bool{}
	for _, sc := range scopeOrder {
		blocks := scopes[sc]
		slices.SortFunc(blocks, func(a, b overlapBlock) int {
			return cmp.Or(a.p.Addr().Compare(b.p.Addr()), cmp.Compare(a.p.Bits(), b.p.Bits()), cmp.Compare(a.sub.Name, b.sub.Name))
		})
		var open []overlapBlock
		for _, b := range blocks {
			for len(open) > 0 {
				top := open[len(open)-1].p
				if top.Addr().BitLen() == b.p.Addr().BitLen() && top.Bits() <= b.p.Bits() && top.Contains(b.p.Addr()) {
					break
				}
				open = open[:len(open)-1]
			}
			listed, more := 0, 0
			for k := len(open) - 1; k >= 0; k-- {
				o := open[k]
				if o.sub == b.sub {
					continue // a subnet's own blocks are of two families
				}
				key := [2]string{min(o.sub.Name, b.sub.Name), max(o.sub.Name, b.sub.Name)}
				if seen[key] {
					continue // the other family of a dual-stack pair
				}
				if listed == maxOverlapsListed {
					more++
					continue
				}
				seen[key] = true
				listed++
				pairs = append(pairs, newerFirst(b.sub, o.sub, sc))
			}
			if more > 0 {
				r.Findings = append(r.Findings, moreOverlapsFinding(b, more, sc))
			}
			open = append(open, b)
		}
	}
	for _, p := range pairs {
		r.Findings = append(r.Findings, pairFinding(x, p))
	}
	checkDefaultVPCExtras(x, defVPC, scopes, scopeOrder, r)
}

// newerFirst orders a pair by creationTimestamp, then name.
func newerFirst(a, b *kubeovnv1.Subnet, sc inventory.Scope) subnetPair {
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if ta.Before(tb) || ta.Equal(tb) && a.Name < b.Name {
		a, b = b, a
	}
	return subnetPair{newer: a, older: b, scope: sc}
}

func scopeName(sc inventory.Scope) string {
	s := "vpc " + sc.VPC
	if sc.VLAN != "" {
		s += " vlan " + sc.VLAN
	}
	return s
}

func pairFinding(x *index, p subnetPair) Finding {
	n, o := p.newer, p.older
	when := "at the same time as"
	if o.CreationTimestamp.Before(&n.CreationTimestamp) {
		when = "after"
	}
	return Finding{
		Check:    CheckOverlap,
		Severity: Critical,
		Subnet:   n.Name,
		Message: fmt.Sprintf("subnet %s (%s) overlaps subnet %s (%s) in %s: both logical switches claim the common addresses, and the same address can be given to two pods",
			n.Name, n.Spec.CIDRBlock, o.Name, o.Spec.CIDRBlock, scopeName(p.scope)),
		Objects: []ObjectRef{RefSubnet(n), RefSubnet(o)},
		Hint: fmt.Sprintf("%s was created %s %s: recreate %s with a free CIDR%s (no command is printed: deleting a subnet "+
			"in use is destructive). Kube-OVN's own webhook refuses overlapping CIDRs in one vpc and vlan "+
			"(pkg/util/validator.go ValidateCidrConflict) but is optional and fails open",
			n.Name, when, o.Name, n.Name, holdersNote(len(x.ipsBySubnet[n.Name]))),
		ID: CheckOverlap + "/Subnet/" + n.Name + "/Subnet/" + o.Name,
	}
}

// holdersNote says what recreating a subnet with n IP objects involves.
func holdersNote(n int) string {
	switch n {
	case 0:
		return "; it holds no IP object"
	case 1:
		return " and move the workload of its 1 IP object there"
	}
	return fmt.Sprintf(" and move the workloads of its %d IP objects there", n)
}

func moreOverlapsFinding(b overlapBlock, more int, sc inventory.Scope) Finding {
	return Finding{
		Check:    CheckOverlap,
		Severity: Critical,
		Subnet:   b.sub.Name,
		Message: fmt.Sprintf("block %s of subnet %s overlaps %d more subnets of %s besides the %d listed",
			b.p, b.sub.Name, more, scopeName(sc), maxOverlapsListed),
		Objects: []ObjectRef{RefSubnet(b.sub)},
		Hint:    "list them with: kubectl get subnet -o custom-columns=NAME:.metadata.name,VPC:.spec.vpc,VLAN:.spec.vlan,CIDR:.spec.cidrBlock",
		ID:      CheckOverlap + "/Subnet/" + b.sub.Name + "/more/" + b.p.String(),
	}
}

// nodeAddr is one node InternalIP.
type nodeAddr struct {
	a    netip.Addr
	node *Node
}

// checkDefaultVPCExtras reports subnets of the default VPC that overlap a
// Service CIDR or contain node InternalIPs.
func checkDefaultVPCExtras(x *index, defVPC string, scopes map[inventory.Scope][]overlapBlock, order []inventory.Scope, r *Report) {
	var addrs []nodeAddr
	for i := range x.s.Nodes {
		n := &x.s.Nodes[i]
		for _, s := range n.InternalIPs {
			if a, ok := ipam.ParseIP(strings.TrimSpace(s)); ok {
				addrs = append(addrs, nodeAddr{a: a, node: n})
			}
		}
	}
	slices.SortFunc(addrs, func(a, b nodeAddr) int { return cmp.Or(a.a.Compare(b.a), cmp.Compare(a.node.Name, b.node.Name)) })
	var nodeIPs map[string]*kubeovnv1.IP // node-<node> IP objects, built when first needed
	for _, sc := range order {
		if sc.VPC != defVPC {
			continue
		}
		// Blocks are sorted by address; a subnet's findings are kept
		// together by collecting them per subnet first.
		type hit struct {
			sub   *kubeovnv1.Subnet
			nodes []string
			refs  []ObjectRef
			n     int
		}
		hits := map[*kubeovnv1.Subnet]*hit{}
		var hitOrder []*kubeovnv1.Subnet
		for _, b := range scopes[sc] {
			for _, svc := range x.s.ServiceCIDRs {
				if svc.Overlaps(b.p) {
					r.Findings = append(r.Findings, Finding{
						Check:    CheckOverlap,
						Severity: Critical,
						Subnet:   b.sub.Name,
						Message: fmt.Sprintf("subnet %s (%s) overlaps the Service CIDR %s in vpc %s: traffic to ClusterIPs in the common range is handled as Service traffic, and pods given those addresses are unreachable",
							b.sub.Name, b.sub.Spec.CIDRBlock, svc, defVPC),
						Objects: []ObjectRef{RefSubnet(b.sub)},
						Hint:    fmt.Sprintf("recreate %s with a CIDR outside the Service range and move its workloads (no command is printed: deleting a subnet in use is destructive)", b.sub.Name),
						ID:      CheckOverlap + "/Subnet/" + b.sub.Name + "/service/" + svc.String(),
					})
				}
			}
			if sc.VLAN != "" || len(addrs) == 0 {
				continue
			}
			last := netipx.PrefixLastIP(b.p)
			i := sort.Search(len(addrs), func(i int) bool { return !addrs[i].a.Less(b.p.Addr()) })
			for ; i < len(addrs) && !last.Less(addrs[i].a); i++ {
				na := addrs[i]
				if nodeIPs == nil {
					nodeIPs = nodeIPObjects(x.s)
				}
				if ownJoinAddress(nodeIPs["node-"+na.node.Name], b.sub.Name, na.a) {
					continue
				}
				h := hits[b.sub]
				if h == nil {
					h = &hit{sub: b.sub, refs: []ObjectRef{RefSubnet(b.sub)}}
					hits[b.sub] = h
					hitOrder = append(hitOrder, b.sub)
				}
				h.n++
				if len(h.nodes) < maxOverlapsListed {
					h.nodes = append(h.nodes, fmt.Sprintf("%s (%s)", na.node.Name, na.a))
					h.refs = append(h.refs, RefNode(na.node))
				}
			}
		}
		for _, sub := range hitOrder {
			h := hits[sub]
			list := strings.Join(h.nodes, ", ")
			if h.n > len(h.nodes) {
				list += fmt.Sprintf(" and %d more", h.n-len(h.nodes))
			}
			noun := "node"
			if h.n > 1 {
				noun = "nodes"
			}
			r.Findings = append(r.Findings, Finding{
				Check:    CheckOverlap,
				Severity: Critical,
				Subnet:   sub.Name,
				Message: fmt.Sprintf("overlay subnet %s (%s) of vpc %s contains the InternalIP of %d %s: %s; the subnet's logical switch claims those addresses, so pods cannot reach the nodes and a pod may be given a node's address",
					sub.Name, sub.Spec.CIDRBlock, defVPC, h.n, noun, list),
				Objects: h.refs,
				Hint: fmt.Sprintf("recreate %s with a CIDR outside the node network and move its workloads (no command is printed: deleting a subnet in use is destructive); "+
					"if it is the join subnet, its CIDR is a kube-ovn-controller flag (--node-switch-cidr)", sub.Name),
				ID: CheckOverlap + "/Subnet/" + sub.Name + "/nodes",
			})
		}
	}
}

// nodeIPObjects indexes the IP objects named node-<node>: the addresses
// kube-ovn-controller allocates to nodes in the join subnet.
func nodeIPObjects(s *State) map[string]*kubeovnv1.IP {
	m := map[string]*kubeovnv1.IP{}
	for i := range s.IPs {
		if ip := &s.IPs[i]; strings.HasPrefix(ip.Name, "node-") {
			m[ip.Name] = ip
		}
	}
	return m
}

// ownJoinAddress reports whether the node's own IP object holds a in the
// subnet.
func ownJoinAddress(ip *kubeovnv1.IP, subnet string, a netip.Addr) bool {
	if ip == nil {
		return false
	}
	for h := range inventory.IPAddrSeq(&ip.Spec) {
		if h.Subnet == subnet && h.Addr == a {
			return true
		}
	}
	return false
}
