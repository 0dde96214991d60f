package diagnose

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"go4.org/netipx"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
)

// Subnet table states.
const (
	StateHealthy  = "healthy"
	StateWarning  = "warning"
	StateCritical = "critical"
)

// maxStatusRanges is the most ranges one status range field of a printed
// fix may carry; a subnet more fragmented than that gets the counters
// only (the controller rewrites the ranges on its next recompute).
const maxStatusRanges = 4096

// Two numbers are counted for every family of a subnet.
//
// The table (FamilyUsage) counts what the allocator has left: Total is
// the block's allocatable addresses less excludeIps and the gateway
// (ipam.Subnet.Capacity: Kube-OVN's util.AddressCountBigInt less
// util.CountIPNumsBigInt(util.ExpandExcludeIPs(...)), the gateway being
// in the formatted excludeIps), Used the distinct addresses of that
// family held in the subnet by IP objects (inventory.IPAddrs) and Vips
// that lie in it, not excluded and not the gateway, Available the rest.
// That is the set kube-ovn-controller's IPAM hands out from, so it decides
// when allocation fails.
//
// The stored status is judged against what kube-ovn-controller itself
// would write (pkg/controller/subnet_status.go calcSubnetStatusIP,
// v1.16.2), which counts objects, not addresses: usingIPs is the number
// of IP objects labelled with the subnet, less those whose v4IpAddress or
// v6IpAddress lies in a non-gateway excludeIps entry
// (filterNonGatewayExcludeIPs, calculateUsingIPs), plus the subnet's Vips
// and EIPs, the same number for both families of a dual-stack subnet;
// availableIPs is AddressCount − excluded − usingIPs, floored at 0. The
// two agree on ordinary subnets; they differ where Kube-OVN's formula is
// an approximation (an IP object of one family in a dual-stack subnet,
// two IP objects on one address, addresses left outside a shrunk block),
// and then the table tells the truth while the status check still does
// not flag what the controller would write again.
//
// Subnet.Spec.Vips are not counted: Kube-OVN only creates OVN virtual
// ports for them (pkg/controller/subnet.go syncVirtualPort) and neither
// its IPAM nor its status counts them.

// famCount is one family of one subnet.
type famCount struct {
	family ipam.Family
	block  netip.Prefix
	// total, used: the table's numbers; used are sorted and distinct.
	total uint64
	used  []netip.Addr
	state string
}

// subnetCount is one subnet's accounting.
type subnetCount struct {
	sub  *kubeovnv1.Subnet
	spec ipam.Subnet
	fams []famCount
	// kubeUsing is Kube-OVN's usingIPs (before it is zeroed for a family
	// the subnet lacks); ips and vips are what it counted.
	kubeUsing int64
	ips, vips int
}

// subnetNameLabel is the label Kube-OVN puts on the objects of a subnet
// (util.SubnetNameLabel).
const subnetNameLabel = "ovn.kubernetes.io/subnet"

// checkSubnets fills the subnet table, reports subnets at or below the
// available-address thresholds, and stored statuses that disagree with the
// IP objects and Vips or are impossible.
func checkSubnets(x *index, opts *Options, r *Report) {
	vipsBySubnet := make(map[string][]*kubeovnv1.Vip)
	for i := range x.s.Vips {
		v := &x.s.Vips[i]
		if v.Spec.Subnet != "" {
			vipsBySubnet[v.Spec.Subnet] = append(vipsBySubnet[v.Spec.Subnet], v)
		}
	}
	// Kube-OVN counts the EIPs labelled with a subnet in its usingIPs
	// (pkg/controller/subnet_status.go calculateUsingIPs).
	eipsBySubnet := make(map[string]int)
	for i := range x.s.EIPs {
		if sn := x.s.EIPs[i].Labels[subnetNameLabel]; sn != "" {
			eipsBySubnet[sn]++
		}
	}
	// A status judged from a partial list would be "stale" for no reason,
	// and its fix would write wrong counters.
	partial := incompleteFor(x.s, "ips") || incompleteFor(x.s, "vips") ||
		incompleteFor(x.s, "iptables-eips") || incompleteFor(x.s, "ovn-eips")
	order := make([]*kubeovnv1.Subnet, 0, len(x.s.Subnets))
	for i := range x.s.Subnets {
		order = append(order, &x.s.Subnets[i])
	}
	slices.SortStableFunc(order, func(a, b *kubeovnv1.Subnet) int { return cmp.Compare(a.Name, b.Name) })
	defVPC := defaultVPCOf(x.s)
	r.Subnets = slices.Grow(r.Subnets, len(order))
	for _, sub := range order {
		c := countSubnet(sub, x.ipsBySubnet[sub.Name], vipsBySubnet[sub.Name])
		c.kubeUsing += int64(eipsBySubnet[sub.Name])
		row := SubnetRow{Name: sub.Name, State: StateHealthy}
		if inventory.IsOVNProvider(sub.Spec.Provider) {
			row.Vpc = inventory.ScopeOf(sub, defVPC).VPC // a non-OVN subnet is in no VPC
		}
		for i := range c.fams {
			f := &c.fams[i]
			f.state = usageState(f.total, f.total-uint64(len(f.used)), opts)
			row.State = worseState(row.State, f.state)
			row.Families = append(row.Families, FamilyUsage{
				CIDR:      f.block.String(),
				Total:     f.total,
				Used:      uint64(len(f.used)),
				Available: f.total - uint64(len(f.used)),
			})
		}
		if partial {
			r.Subnets = append(r.Subnets, row)
			continue
		}
		if row.State != StateHealthy {
			r.Findings = append(r.Findings, usageFinding(c))
		}
		if f, ok := statusFinding(c, row.Families, len(x.ipsBySubnet[sub.Name]), len(vipsBySubnet[sub.Name])+eipsBySubnet[sub.Name]); ok {
			r.Findings = append(r.Findings, f)
		}
		r.Subnets = append(r.Subnets, row)
	}
}

// countSubnet counts one subnet from its IP objects and Vips.
func countSubnet(sub *kubeovnv1.Subnet, ips []*kubeovnv1.IP, vips []*kubeovnv1.Vip) *subnetCount {
	c := &subnetCount{sub: sub, spec: ipam.NewSubnet(sub.Spec.CIDRBlock, sub.Spec.Gateway, sub.Spec.ExcludeIps)}
	for _, b := range c.spec.Blocks {
		c.fams = append(c.fams, famCount{family: ipam.FamilyOfPrefix(b), block: b, total: c.spec.Capacity(ipam.FamilyOfPrefix(b))})
	}
	if len(c.fams) == 0 {
		return c
	}
	for i := range c.fams {
		c.fams[i].used = make([]netip.Addr, 0, len(ips)+len(vips)) // one address a holder, usually
	}
	hold := func(a netip.Addr) {
		if ok, _ := c.spec.Allocatable(a); !ok {
			return // outside the block, reserved, the gateway or excluded: not the allocator's
		}
		for i := range c.fams {
			if c.fams[i].family == ipam.FamilyOf(a) {
				c.fams[i].used = append(c.fams[i].used, a)
			}
		}
	}
	noGW := nonGatewayExcludes(sub)
	for _, ip := range ips {
		for a := range inventory.IPAddrSeq(&ip.Spec) {
			if a.Subnet == sub.Name {
				hold(a.Addr)
			}
		}
		c.ips++
		if !inRanges(noGW, ip.Spec.V4IPAddress) && !inRanges(noGW, ip.Spec.V6IPAddress) {
			c.kubeUsing++
		}
	}
	for _, v := range vips {
		allocated := false
		for _, s := range [...]string{v.Spec.V4ip, v.Spec.V6ip, v.Status.V4ip, v.Status.V6ip} {
			if a, ok := ipam.ParseIP(strings.TrimSpace(s)); ok {
				hold(a)
				allocated = true
			}
		}
		// Kube-OVN counts the Vips it labelled with the subnet and with an
		// empty ip_reserved label (pkg/controller/subnet_status.go
		// calculateUsingIPs): allocated and not taken by a pod, whose IP
		// object counts instead (the label then names the pod's port).
		if reserved, ok := v.Labels[ipReservedLabel]; allocated && ok && reserved == "" {
			c.vips++
			c.kubeUsing++
		}
	}
	for i := range c.fams {
		f := &c.fams[i]
		slices.SortFunc(f.used, netip.Addr.Compare)
		f.used = slices.Compact(f.used)
	}
	return c
}

// nonGatewayExcludes are the subnet's excludeIps entries other than those
// spelled exactly as a gateway, merged: Kube-OVN does not count an IP
// object whose v4IpAddress or v6IpAddress lies in one of them as using
// (pkg/controller/subnet_status.go filterNonGatewayExcludeIPs).
func nonGatewayExcludes(sub *kubeovnv1.Subnet) []netipx.IPRange {
	gws := strings.Split(sub.Spec.Gateway, ",")
	var rs []netipx.IPRange
	for _, e := range sub.Spec.ExcludeIps {
		if slices.Contains(gws, e) {
			continue
		}
		if rg, ok := ipam.ExcludeRange(strings.TrimSpace(e)); ok {
			rs = append(rs, rg)
		}
	}
	return ipam.MergeRanges(rs)
}

// inRanges reports whether the address written in s lies in the sorted,
// merged ranges rs.
func inRanges(rs []netipx.IPRange, s string) bool {
	a, ok := ipam.ParseIP(strings.TrimSpace(s))
	if !ok || len(rs) == 0 {
		return false
	}
	i := sort.Search(len(rs), func(i int) bool { return !rs[i].To().Less(a) })
	return i < len(rs) && rs[i].Contains(a)
}

// usageState judges one family by the available-address thresholds.
//
// The runbook's thresholds (warning at 10, critical at 5) are absolute and
// meant for ordinary subnets; a subnet of 13 addresses or fewer would
// be critical while empty. So they are capped for small subnets: warning
// at min(WarnAvailable, total/2), critical at min(CriticalAvailable,
// total/4). A /24 is judged by the runbook's numbers, a /28 (13) is
// critical at 3 available and in warning at 6, a /29 (5) critical at 1, a
// full subnet always critical, an empty one never. A family with nothing
// to hand out at all (every address excluded: static addresses only, by
// design) is not judged.
func usageState(total, available uint64, opts *Options) string {
	if total == 0 {
		return StateHealthy
	}
	warn, crit := min(opts.WarnAvailable, total/2), min(opts.CriticalAvailable, total/4)
	switch {
	case available <= crit:
		return StateCritical
	case available <= warn:
		return StateWarning
	}
	return StateHealthy
}

func worseState(a, b string) string {
	rank := func(s string) int {
		switch s {
		case StateCritical:
			return 2
		case StateWarning:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// usageFinding reports a subnet at or below the thresholds.
func usageFinding(c *subnetCount) Finding {
	sev := Warning
	var parts []string
	for _, f := range c.fams {
		if f.state == StateHealthy {
			continue
		}
		if f.state == StateCritical {
			sev = Critical
		}
		parts = append(parts, fmt.Sprintf("%d of %d %s addresses available", f.total-uint64(len(f.used)), f.total, f.family))
	}
	return Finding{
		Check:    CheckSubnetUsage,
		Severity: sev,
		Subnet:   c.sub.Name,
		Message: fmt.Sprintf("subnet %s (%s) has %s; Kube-OVN fails new pods in it with NoAvailableAddress once a family runs out",
			c.sub.Name, c.sub.Spec.CIDRBlock, strings.Join(parts, " and ")),
		Objects: []ObjectRef{RefSubnet(c.sub)},
		Hint: "free or add addresses: delete IP objects whose pods are gone (see the zombie-ip findings of this subnet); " +
			"shrink spec.excludeIps if it reserves addresses nobody uses; grow spec.cidrBlock to a larger block that contains " +
			"the current one and keeps the gateway (Kube-OVN extends the subnet in place and keeps every allocation); or create " +
			"another subnet and bind the namespaces to it (spec.namespaces or spec.namespaceSelectors; a namespace's pods use " +
			"its bound subnets in order, skipping full ones)",
	}
}

// kubeStatus is one family's status counters: stored, or as
// kube-ovn-controller would write them.
type kubeStatus struct {
	using, available *big.Int
	usingRange       string
	// usingSome says the using range is not empty (also when it was not
	// built).
	usingSome                     bool
	availableRange                string
	rangesBuilt, rangesIncomplete bool
}

// kubeStatusOf returns what kube-ovn-controller would write for family
// fam of the subnet (zero for a family it lacks); ranges builds the
// range fields too.
func kubeStatusOf(c *subnetCount, fam ipam.Family, ranges bool) kubeStatus {
	st := kubeStatus{using: new(big.Int), available: new(big.Int)}
	var f *famCount
	for i := range c.fams {
		if c.fams[i].family == fam {
			f = &c.fams[i]
		}
	}
	if f == nil {
		st.rangesBuilt = true
		return st
	}
	st.using.SetInt64(c.kubeUsing)
	st.available.Sub(addressCount(f.block), new(big.Int).SetUint64(c.spec.Exclude.CountIn(f.block)))
	st.available.Sub(st.available, st.using)
	if st.available.Sign() < 0 {
		st.available.SetInt64(0)
	}
	st.usingSome = len(f.used) > 0
	if ranges {
		st.usingRange, st.availableRange, st.rangesIncomplete = statusRanges(c, f)
		st.rangesBuilt = !st.rangesIncomplete
	}
	return st
}

// addressCount is Kube-OVN's util.AddressCountBigInt: 2^hostbits, less
// network and broadcast when there are at least two host bits.
func addressCount(p netip.Prefix) *big.Int {
	hb := p.Addr().BitLen() - p.Bits()
	n := new(big.Int).Lsh(big.NewInt(1), uint(hb))
	if hb >= 2 {
		n.Sub(n, big.NewInt(2))
	}
	return n
}

// statusRanges builds the v4usingIPrange/v4availableIPrange strings the
// way kube-ovn-controller's IPAM prints them (pkg/ipam/ipam.go
// GetSubnetIPRangeString: the using and available sets less excludeIps,
// "a-b" or "a", comma separated), from the addresses held now: what a
// freshly started controller computes. incomplete is set when a field
// would exceed maxStatusRanges ranges.
func statusRanges(c *subnetCount, f *famCount) (using, available string, incomplete bool) {
	var ub, ab strings.Builder
	nu, na := 0, 0
	write := func(b *strings.Builder, n *int, from, to netip.Addr) {
		*n++
		if *n > maxStatusRanges {
			incomplete = true
			return
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(from.String())
		if from != to {
			b.WriteByte('-')
			b.WriteString(to.String())
		}
	}
	for i := 0; i < len(f.used); {
		j := i
		for j+1 < len(f.used) && f.used[j].Next() == f.used[j+1] {
			j++
		}
		write(&ub, &nu, f.used[i], f.used[j])
		i = j + 1
	}
	// Available: the allocatable range less the excluded ranges and the
	// used addresses, walked in address order.
	alloc := ipam.Allocatable(f.block)
	taken := make([]netipx.IPRange, 0, len(f.used)+4)
	for _, rg := range c.spec.Exclude.View() {
		if ipam.FamilyOf(rg.From()) == f.family {
			taken = append(taken, rg)
		}
	}
	for _, a := range f.used {
		taken = append(taken, netipx.IPRangeFrom(a, a))
	}
	taken = ipam.MergeRanges(taken)
	next, done := alloc.From(), false
	for _, t := range taken {
		if done || t.To().Less(next) {
			continue
		}
		if next.Less(t.From()) {
			end := t.From().Prev()
			if alloc.To().Less(end) {
				end = alloc.To()
			}
			write(&ab, &na, next, end)
		}
		if !t.To().Less(alloc.To()) {
			done = true
			continue
		}
		next = t.To().Next()
	}
	if !done && !alloc.To().Less(next) {
		write(&ab, &na, next, alloc.To())
	}
	return ub.String(), ab.String(), incomplete
}

// storedStatus is one family of the stored status.
func storedStatus(st *kubeovnv1.SubnetStatus, fam ipam.Family) (using, available float64, usingRange string) {
	if fam == ipam.IPv6 {
		return float64(st.V6UsingIPs), float64(st.V6AvailableIPs), st.V6UsingIPRange
	}
	return float64(st.V4UsingIPs), float64(st.V4AvailableIPs), st.V4UsingIPRange
}

// sameCount compares a stored counter with a computed one. Counters above
// 2^53 went through float64 (releases before v1.16 write floats, and this
// project decodes them as float64), so there they are equal within
// float64 precision.
func sameCount(stored float64, want *big.Int) bool {
	w, _ := new(big.Float).SetInt(want).Float64()
	if stored == w {
		return true
	}
	m := math.Max(math.Abs(stored), math.Abs(w))
	return m > 1<<53 && math.Abs(stored-w) <= m*1e-12
}

// statusFaults lists what makes a family's counters impossible: a
// negative or fractional counter, more in use than the block has
// addresses, available and using adding up to more than the allocatable
// addresses, and a using counter that disagrees with the emptiness of the
// using range (kube-ovn-controller itself logs the latter as an
// inconsistency: pkg/controller/subnet_status.go checkSubnetUsingIPs).
func statusFaults(using, available float64, usingSome bool, count, total *big.Int) []string {
	var out []string
	if using < 0 || available < 0 {
		out = append(out, "a negative counter")
	}
	if using != math.Trunc(using) || available != math.Trunc(available) {
		out = append(out, "a fractional counter")
	}
	c, _ := new(big.Float).SetInt(count).Float64()
	t, _ := new(big.Float).SetInt(total).Float64()
	if using > c && !sameCount(using, count) {
		out = append(out, fmt.Sprintf("more in use than the block's %s addresses", count))
	}
	if available > 0 && available+using > t && !sameCount(available+using, total) {
		out = append(out, fmt.Sprintf("available and using adding up to more than the %s allocatable addresses", total))
	}
	switch {
	case using > 0 && !usingSome:
		out = append(out, "addresses in use while the using range is empty")
	case using == 0 && usingSome:
		out = append(out, "no address in use while the using range lists some")
	}
	return out
}

// statusFinding compares the stored status with what kube-ovn-controller
// would write. A subnet whose status is entirely empty and that holds no
// IP object or Vip is skipped: the controller has not reconciled it yet
// (it writes the status right after it creates the subnet's IPAM, so an
// empty status with addresses held is a real loss, for example a restore
// without status, and is reported).
func statusFinding(c *subnetCount, fams []FamilyUsage, ips, vips int) (Finding, bool) {
	sub := c.sub
	st := &sub.Status
	if len(c.spec.Blocks) == 0 {
		return Finding{}, false
	}
	if ips == 0 && vips == 0 && st.V4UsingIPs == 0 && st.V4AvailableIPs == 0 && st.V6UsingIPs == 0 && st.V6AvailableIPs == 0 &&
		st.V4UsingIPRange == "" && st.V4AvailableIPRange == "" && st.V6UsingIPRange == "" && st.V6AvailableIPRange == "" {
		return Finding{}, false
	}
	var (
		want       [2]kubeStatus
		stale      []string
		faults     []string
		deleteNote string
		skipNote   string
	)
	for i, fam := range [2]ipam.Family{ipam.IPv4, ipam.IPv6} {
		want[i] = kubeStatusOf(c, fam, false)
		using, avail, usingRange := storedStatus(st, fam)
		block, hasBlock := c.spec.Block(fam)
		count, total := new(big.Int), new(big.Int)
		if hasBlock {
			count = addressCount(block)
			total.SetUint64(c.spec.Capacity(fam))
		}
		var got, had []string
		if hasBlock {
			got = statusFaults(using, avail, usingRange != "", count, total)
			had = statusFaults(float64(want[i].using.Int64()), mustFloat(want[i].available), want[i].usingSome, count, total)
		} else if using != 0 || avail != 0 || usingRange != "" {
			got = []string{"status for a family the subnet has no block of"}
		}
		var fresh []string
		for _, g := range got {
			if !slices.Contains(had, g) {
				fresh = append(fresh, fam.String()+": "+g)
			}
		}
		differs := !sameCount(using, want[i].using) || !sameCount(avail, want[i].available)
		if !differs && len(fresh) == 0 {
			continue
		}
		faults = append(faults, fresh...)
		stale = append(stale, fmt.Sprintf("%s %s in use and %s available where Kube-OVN counts %s and %s",
			fam, fmtCount(using), fmtCount(avail), want[i].using, want[i].available))
		for j := range fams {
			if hasBlock && fams[j].CIDR == block.String() {
				u, a := using, avail
				fams[j].StoredUsing, fams[j].StoredAvailable = &u, &a
			}
		}
		if avail == 0 && want[i].available.Sign() > 0 {
			skipNote = "; while it says none are available, Kube-OVN skips the subnet when it picks one of a namespace's subnets for a pod (pkg/controller/pod.go getPodDefaultSubnet)"
		}
		switch {
		case using > 0 && want[i].using.Sign() == 0:
			deleteNote = "; while it says addresses are in use, Kube-OVN's webhook refuses to delete the subnet or change its gateway"
		case using == 0 && want[i].using.Sign() > 0 && deleteNote == "":
			deleteNote = "; while it says none are in use, Kube-OVN's webhook lets the subnet be deleted under its pods"
		}
	}
	if len(stale) == 0 {
		return Finding{}, false
	}
	sev, what := Warning, "is stale"
	if len(faults) > 0 {
		sev, what = Critical, "is impossible ("+strings.Join(faults, "; ")+")"
	}
	var counters SubnetCounters
	for _, fam := range [2]ipam.Family{ipam.IPv4, ipam.IPv6} {
		counters.set(fam, kubeStatusOf(c, fam, true))
	}
	return Finding{
		Check:    CheckSubnetStatus,
		Severity: sev,
		Subnet:   sub.Name,
		Message: fmt.Sprintf("subnet %s status %s: it says %s, from %d IP objects and %d Vips%s%s",
			sub.Name, what, strings.Join(stale, ", and "), c.ips, c.vips, skipNote, deleteNote),
		Objects: []ObjectRef{RefSubnet(sub)},
		Fix:     []string{StatusPatchCommand(RefSubnet(sub), counters)},
		Hint: "kube-ovn-controller recomputes these counters only when an IP object, Vip or EIP of the subnet is added or " +
			"deleted, when the subnet's spec changes, and for Ready subnets when the controller starts " +
			"(pkg/controller/subnet_status.go calcSubnetStatusIP; no periodic resync), so a stale status stays until one of " +
			"those happens: restarting kube-ovn-controller also rewrites it. The command writes the controller's own count" +
			guardNote(sub.ResourceVersion) + ".",
	}, true
}

// guardNote says whether a printed command is guarded by the object's
// resourceVersion (objects read from a live cluster or a snapshot have one;
// hand-written manifests may not).
func guardNote(rv string) string {
	if rv == "" {
		return " (unguarded: the state gave no resourceVersion to check against)"
	}
	return " and fails if the subnet changed since this report"
}

func mustFloat(b *big.Int) float64 {
	f, _ := new(big.Float).SetInt(b).Float64()
	return f
}

// fmtCount prints a stored counter without exponent.
func fmtCount(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%g", f)
}

// SubnetCounters are the status fields kube-ovn-controller writes about a
// subnet's addresses (the ones its calcSubnetStatusIP patches). Nil
// counters are written as 0; the range fields are written only when
// Ranges is set.
type SubnetCounters struct {
	V4Using, V4Available, V6Using, V6Available *big.Int
	Ranges                                     *SubnetRanges
}

// SubnetRanges are the status range fields, as the controller prints them
// ("10.16.0.2-10.16.0.9,10.16.0.12").
type SubnetRanges struct {
	V4Using, V4Available, V6Using, V6Available string
}

// set fills family fam from a computed status; the ranges are kept only
// while every family's ranges were built.
func (c *SubnetCounters) set(fam ipam.Family, k kubeStatus) {
	if fam == ipam.IPv6 {
		c.V6Using, c.V6Available = k.using, k.available
	} else {
		c.V4Using, c.V4Available = k.using, k.available
	}
	if !k.rangesBuilt {
		c.Ranges = nil
		return
	}
	if fam == ipam.IPv4 {
		c.Ranges = &SubnetRanges{}
	}
	if c.Ranges == nil {
		return
	}
	if fam == ipam.IPv6 {
		c.Ranges.V6Using, c.Ranges.V6Available = k.usingRange, k.availableRange
	} else {
		c.Ranges.V4Using, c.Ranges.V4Available = k.usingRange, k.availableRange
	}
}

// StatusPatchCommand is the kubectl command that writes counters into the
// status subresource of the subnet ref names, only while the subnet is at
// the resourceVersion the doctor saw: the merge patch carries
// metadata.resourceVersion, so the API server refuses it (409 Conflict)
// when the subnet changed since.
func StatusPatchCommand(ref ObjectRef, c SubnetCounters) string {
	zero := func(b *big.Int) *big.Int {
		if b == nil {
			return new(big.Int)
		}
		return b
	}
	type status struct {
		V4AvailableIPs     *big.Int `json:"v4availableIPs"`
		V4AvailableIPRange *string  `json:"v4availableIPrange,omitempty"`
		V4UsingIPs         *big.Int `json:"v4usingIPs"`
		V4UsingIPRange     *string  `json:"v4usingIPrange,omitempty"`
		V6AvailableIPs     *big.Int `json:"v6availableIPs"`
		V6AvailableIPRange *string  `json:"v6availableIPrange,omitempty"`
		V6UsingIPs         *big.Int `json:"v6usingIPs"`
		V6UsingIPRange     *string  `json:"v6usingIPrange,omitempty"`
	}
	type meta struct {
		ResourceVersion string `json:"resourceVersion"`
	}
	var body struct {
		Metadata *meta  `json:"metadata,omitempty"`
		Status   status `json:"status"`
	}
	if ref.ResourceVersion != "" {
		body.Metadata = &meta{ResourceVersion: ref.ResourceVersion}
	}
	body.Status = status{
		V4AvailableIPs: zero(c.V4Available), V4UsingIPs: zero(c.V4Using),
		V6AvailableIPs: zero(c.V6Available), V6UsingIPs: zero(c.V6Using),
	}
	if rg := c.Ranges; rg != nil {
		body.Status.V4AvailableIPRange, body.Status.V4UsingIPRange = &rg.V4Available, &rg.V4Using
		body.Status.V6AvailableIPRange, body.Status.V6UsingIPRange = &rg.V6Available, &rg.V6Using
	}
	raw, _ := json.Marshal(body) // plain structs and big.Int: cannot fail
	return "kubectl patch subnet " + shellQuote(ref.Name) + " --subresource=status --type=merge -p " + shellQuote(string(raw))
}
