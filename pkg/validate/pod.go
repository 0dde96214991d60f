package validate

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

// PodInput is what the pod rules read of a Pod, or of a workload's pod
// template.
type PodInput struct {
	Namespace   string
	Name        string
	Labels      map[string]string
	Annotations map[string]string
	// VM is the KubeVirt VM the pod is a virt-launcher pod of
	// (annotations.LauncherVM of its owner references), or "".
	VM string
	// Ordinal is the StatefulSet ordinal of the pod, or -1.
	Ordinal int
	// Meta is the path of the metadata in the admitted object:
	// "metadata" for a Pod, "spec.template.metadata" for a workload.
	Meta *field.Path
}

// Owner returns the key of who owns the pod's addresses (the pod, or its
// KubeVirt VM): annotations.OwnerKey.
func (in PodInput) Owner() string { return annotations.OwnerKey(in.Name, in.VM) }

// Claim is an address a pod is admitted to take.
type Claim struct {
	Subnet string
	Addr   netip.Addr
	// Field and Value are the annotation that asks for the address, for
	// a finding about it.
	Field *field.Path
	Value string
}

// Reservations are addresses claimed by admissions still in flight.
type Reservations interface {
	// Holder returns the pod (namespace, owner) that claimed the address.
	Holder(subnet string, a netip.Addr) (namespace, owner string, ok bool)
}

// PodCreate judges a new pod's static-IP annotations: syntax, range,
// reserved and excluded addresses, tenancy, and whether another owner holds
// the address (IP objects, Vips, pending pods, in-flight admissions). It
// returns the claims to reserve if the pod is admitted.
func PodCreate(ctx Context, _, in *PodInput) Result {
	c := podCheck{r: ctx.Inventory, d: ctx.Defaults, in: *in, res: ctx.Reservations, taken: true, rc: ctx}
	c.run()
	return Result{Findings: c.fs.result(), Claims: c.claims}
}

// PodTemplate judges a workload's pod template like a pod, without the
// "taken" checks, which belong to the pods themselves.
func PodTemplate(ctx Context, _, in *PodInput) Result {
	c := podCheck{r: ctx.Inventory, d: ctx.Defaults, in: *in, rc: ctx}
	c.run()
	return Result{Findings: c.fs.result()}
}

// ownIPObject reports whether IP object h is the pod's own: for a
// virt-launcher pod, its VM's (named after the VM: keep-vm-ip, Kube-OVN's
// default; or, for a live-migration target, after one of the VM's launcher
// pods), with podType VirtualMachine; for any other pod, one named after
// the pod (keep-IP recreation) that is no VM's. Same namespace only.
func ownIPObject(h inventory.Holder, in *PodInput) bool {
	if h.Kind != inventory.HolderIP || h.PodNamespace != in.Namespace {
		return false
	}
	if in.VM != "" {
		return h.PodType == kubeovnv1.PodTypeVirtualMachine &&
			(h.PodName == in.VM || annotations.MigrationTarget(in.VM, in.Annotations) && annotations.IsLauncherOf(h.PodName, in.VM))
	}
	return h.PodName == in.Name && h.PodType != kubeovnv1.PodTypeVirtualMachine
}

type podCheck struct {
	r      inventory.Reader
	d      settings.Defaults
	in     PodInput
	res    Reservations
	taken  bool
	fs     findings
	claims []Claim
	// rc is the rule context: the pending-holder bound, the clock and the
	// message switch.
	rc Context
}

func (c *podCheck) annPath(key string) *field.Path {
	return c.in.Meta.Child("annotations").Key(key)
}

func (c *podCheck) run() {
	reqs, ok := annotations.Parse(c.in.Annotations)
	if !ok {
		c.tooManyInterfaces()
		return
	}
	for _, req := range reqs {
		if req.MacAddress != "" {
			c.checkMAC(req)
		}
		if !req.Static() && req.LogicalSwitch == "" && req.IPFamily == "" {
			continue
		}
		cands, ok := c.resolve(req)
		if !ok {
			continue
		}
		if req.IPFamily != "" {
			c.checkIPFamily(req, cands)
		}
		if req.LogicalSwitch != "" && len(cands) == 1 {
			c.checkTenancy(cands[0], c.annPath(req.LogicalSwitchKey), req.LogicalSwitch)
		}
		if req.IPAddress != "" {
			c.checkAddresses(req, cands, req.IPAddressKey, req.IPAddress, false)
		}
		if req.IPPool != "" && !annotations.IsPoolName(req.IPPool) {
			c.checkAddresses(req, cands, req.IPPoolKey, req.IPPool, true)
		}
	}
}

// resolve finds the subnets a pod interface may land in, in the
// controller's order: logical_switch, the named IPPool's subnet, subnets
// bound to the namespace, the namespace VPC's default subnet, the default
// subnet. Attachment interfaces use their provider's subnets.
func (c *podCheck) resolve(req annotations.Request) ([]*inventory.Subnet, bool) {
	if req.Interface != "" && req.LogicalSwitch == "" {
		// A per-interface key "<nad>.<ns>.kubernetes.io/ip_address.<if>":
		// the interface's subnet is named on its provider,
		// "<nad>.<ns>.ovn.<if>" when the NAD is attached twice, else
		// "<nad>.<ns>.ovn" (pkg/controller/pod.go getPodAttachmentNet).
		for _, prov := range []string{req.Provider + "." + annotations.DefaultProvider + "." + req.Interface, req.Provider + "." + annotations.DefaultProvider} {
			if k := prov + annotations.Domain + annotations.LogicalSwitch; c.in.Annotations[k] != "" {
				req.LogicalSwitch, req.LogicalSwitchKey = c.in.Annotations[k], k
				break
			}
		}
	}
	var ls *inventory.Subnet
	if req.LogicalSwitch != "" {
		sn, ok := c.r.Subnet(req.LogicalSwitch)
		if !ok {
			c.fs.add(policy.PodIPInvalid, field.Invalid(c.annPath(req.LogicalSwitchKey), req.LogicalSwitch, "names a subnet that does not exist"))
			return nil, false
		}
		ls = sn
	}
	// A named IPPool is judged whether or not logical_switch is set, so
	// naming both cannot bypass the pool's tenancy.
	if req.IPPool != "" && annotations.IsPoolName(req.IPPool) {
		pool, ok := c.r.IPPool(req.IPPool)
		p := c.annPath(req.IPPoolKey)
		if !ok {
			c.fs.add(policy.PodIPInvalid, field.Invalid(p, req.IPPool, "names an IPPool that does not exist"))
			return nil, false
		}
		if pool.Bound() && !slices.Contains(pool.Namespaces, c.in.Namespace) {
			c.fs.add(policy.TenantIPPool, field.Forbidden(p, fmt.Sprintf(
				"IPPool %s is reserved for namespaces %s, not for namespace %s; Kube-OVN allocates from it anyway, the multi-tenant profile refuses it", pool.Name, strings.Join(pool.Namespaces, ", "), c.in.Namespace)))
		}
		sn, ok := c.r.Subnet(pool.Subnet)
		if !ok {
			c.fs.add(policy.PodIPInvalid, field.Invalid(p, req.IPPool, fmt.Sprintf("IPPool %s belongs to subnet %s, which does not exist", pool.Name, pool.Subnet)))
			return nil, false
		}
		if ls != nil && ls.Name != sn.Name {
			c.fs.add(policy.PodIPInvalid, field.Invalid(p, req.IPPool, fmt.Sprintf(
				"IPPool %s belongs to subnet %s but logical_switch names subnet %s", pool.Name, sn.Name, ls.Name)))
			return nil, false
		}
		if ls == nil {
			// The pool's subnet is where the pod takes its address: its
			// tenancy applies as if the pod had named it.
			c.checkTenancy(sn, p, req.IPPool)
		}
		if pool.Set != nil && !poolHasFree(pool.Set.Ranges(), sn.Spec) {
			// Every address of the pool is the subnet's network,
			// broadcast, gateway or excluded: Kube-OVN never hands one
			// out from it (pkg/ipam/subnet.go AddOrUpdateIPPool keeps
			// only allocatable addresses), so the pod would wait forever.
			c.fs.add(policy.PodIPInvalid, field.Invalid(p, req.IPPool, fmt.Sprintf(
				"IPPool %s has no address subnet %s can hand out (all are excluded, the gateway, network or broadcast); the pod would never get an address", pool.Name, sn.Name)))
		}
		if ls == nil && req.Provider == annotations.DefaultProvider && req.Interface == "" {
			// Kube-OVN v1.15 and v1.16 take the address from the pool's
			// subnet but attach the pod to its namespace's subnet
			// (pkg/controller/pod.go getPodDefaultSubnet reads only
			// logical_switch and the namespace; acquireStaticAddressHelper
			// returns podNet.Subnet); master attaches it to the pool's
			// subnet. A namespace not bound to that subnet gets a pod
			// whose address lies outside its switch.
			home := resolveDefault(c.r, c.d, c.in.Namespace, annotations.DefaultProvider)
			if !slices.ContainsFunc(home, func(h *inventory.Subnet) bool { return h.Name == sn.Name }) {
				where := "no subnet"
				if len(home) > 0 {
					where = "subnet " + home[0].Name
				}
				c.fs.add(policy.PodIPInvalid, field.Invalid(p, req.IPPool, fmt.Sprintf(
					"IPPool %s belongs to subnet %s, but namespace %s is not bound to it: Kube-OVN v1.15 and v1.16 take the address from %s and attach the pod to %s, so its address lies outside its switch; add the annotation %s: %s (or bind the namespace to subnet %s)",
					pool.Name, sn.Name, c.in.Namespace, sn.Name, where, strings.TrimSuffix(req.IPPoolKey, annotations.IPPool)+annotations.LogicalSwitch, sn.Name, sn.Name)))
				return nil, false
			}
		}
		return []*inventory.Subnet{sn}, true
	}
	if ls != nil {
		return []*inventory.Subnet{ls}, true
	}
	out := resolveDefault(c.r, c.d, c.in.Namespace, annotations.SubnetProviders(req.Provider, req.Interface)...)
	if len(out) == 0 && req.Interface != "" {
		// No subnet carries the NAD's provider: Kube-OVN serves the
		// interface from the pod's default subnet, its own
		// logical_switch or its namespace's (getPodAttachmentNet,
		// getPodDefaultSubnet), and tries the namespace's subnets after it
		// (getNsAvailableSubnets).
		if name := c.in.Annotations[annotations.DefaultProvider+annotations.Domain+annotations.LogicalSwitch]; name != "" {
			if sn, ok := c.r.Subnet(name); ok {
				out = append(out, sn)
			}
		}
		for _, sn := range resolveDefault(c.r, c.d, c.in.Namespace, annotations.DefaultProvider) {
			if !slices.ContainsFunc(out, func(o *inventory.Subnet) bool { return o.Name == sn.Name }) {
				out = append(out, sn)
			}
		}
	}
	return out, true
}

// resolveDefault finds the subnets of an interface that names none. The
// interface is served by subnets of any of providers (see
// annotations.SubnetProviders; the first that has subnets wins).
func resolveDefault(r inventory.Reader, d settings.Defaults, ns string, providers ...string) []*inventory.Subnet {
	var out []*inventory.Subnet
	r.SubnetsBoundTo(ns, func(sn *inventory.Subnet) bool {
		if slices.Contains(providers, sn.Provider) {
			out = append(out, sn)
		}
		return true
	})
	if len(out) > 0 {
		if len(providers) > 0 && providers[0] == annotations.DefaultProvider && ns != "kube-system" {
			// The namespace's list puts its custom VPC's default subnet
			// first, before the subnets bound to it, and a static
			// address is tried against each in turn (pkg/controller/
			// namespace.go handleAddNamespace; pkg/controller/pod.go
			// getNsAvailableSubnets, acquireStaticAddressHelper).
			if vpc, ok := r.VPCOfNamespace(ns); ok && vpc.DefaultSubnet != "" {
				if sn, ok := r.Subnet(vpc.DefaultSubnet); ok && sn.VPC == vpc.Name && sn.VPC != d.VPC &&
					!slices.ContainsFunc(out, func(o *inventory.Subnet) bool { return o.Name == sn.Name }) {
					out = append([]*inventory.Subnet{sn}, out...)
				}
			}
		}
		return out
	}
	if len(providers) == 0 || providers[0] != annotations.DefaultProvider {
		for _, provider := range providers {
			r.SubnetsOfProvider(provider, func(sn *inventory.Subnet) bool {
				out = append(out, sn)
				return true
			})
			if len(out) > 0 {
				break
			}
		}
		return out
	}
	if vpc, ok := r.VPCOfNamespace(ns); ok && vpc.DefaultSubnet != "" {
		if sn, ok := r.Subnet(vpc.DefaultSubnet); ok {
			return []*inventory.Subnet{sn}
		}
	}
	if sn, ok := r.Subnet(d.Subnet); ok {
		return []*inventory.Subnet{sn}
	}
	return nil
}

// checkAddresses judges the addresses of an ip_address annotation, or of
// an ip_pool listing addresses (pool is true). StatefulSet pods take the
// ";"-separated group of their ordinal. A value of more than
// MaxAnnotationAddresses elements gets one finding and nothing else; the
// work is linear in the value's length, and past policy.MaxFindings per
// rule problems are only counted.
func (c *podCheck) checkAddresses(req annotations.Request, cands []*inventory.Subnet, key, value string, pool bool) {
	p := c.annPath(key)
	if overLimit(&c.fs, p, value) {
		return
	}
	var groups []string
	grouped := strings.Contains(value, ";") // one group per pod
	switch {
	case !pool:
		groups = []string{value}
	case grouped:
		groups = strings.Split(value, ";")
	default:
		// A flat pool: the controller picks any free address of each
		// family, so each address is its own group.
		groups = strings.Split(value, ",")
		if len(groups) == 2 && dualPair(groups) {
			// "v4,v6" is one pod's pair (pkg/controller/pod.go
			// acquireStaticAddressHelper, CheckProtocol of both).
			groups, grouped = []string{value}, true
		}
	}
	mine := -1 // the group this pod will take, when known
	switch {
	case !pool:
		mine = 0
	case c.in.Ordinal >= 0:
		// A StatefulSet pod takes entry N of the list, N the number its
		// name ends in, for ";" groups and flat comma lists alike, and
		// nothing else: no fallback to other entries
		// (pkg/controller/pod.go acquireStaticAddressHelper, isStsPod).
		grouped = true
		mine = c.in.Ordinal
		if mine >= len(groups) {
			what := "groups"
			if !strings.Contains(value, ";") {
				what = "entries"
			}
			c.fs.add(policy.PodIPInvalid, field.Invalid(p, value, fmt.Sprintf(
				"has %d %s but this is StatefulSet pod ordinal %d, which takes entry %d only; Kube-OVN never gives it an address (NoAvailableAddress): add an entry per replica", len(groups), what, mine, mine)))
			mine = -1
		}
	}
	// For a flat pool, per family: addresses checked and addresses free.
	var freeInPool, checkedInPool [2]int
	var tenancyJudged []string // subnets whose tenancy was judged for this value
	for gi, g := range groups {
		if stopped(c.rc.Ctx, gi) {
			return
		}
		addrs, ok := c.parseGroup(p, value, g, !pool || grouped)
		if !ok {
			continue
		}
		for _, a := range addrs {
			sn, ok := c.place(p, a, cands)
			if !ok {
				continue
			}
			// Tenancy: every address, of ip_address and ip_pool alike
			// (flat lists, every ";" group), once per subnet.
			if !slices.Contains(tenancyJudged, sn.Name) {
				tenancyJudged = append(tenancyJudged, sn.Name)
				c.checkTenancy(sn, p, value)
			}
			if !c.taken || (pool && mine >= 0 && gi != mine) {
				continue
			}
			holder := c.holder(sn, a)
			switch {
			case holder != "" && (!pool || gi == mine):
				c.fs.addf(policy.PodIPTaken, p, func() *field.Error {
					if pool && c.in.Ordinal >= 0 {
						return field.Invalid(p, value, fmt.Sprintf(
							"%s in subnet %s is %s; StatefulSet pod ordinal %d takes only this entry, so Kube-OVN never gives it an address", a, sn.Name, holder, c.in.Ordinal))
					}
					return field.Invalid(p, value, fmt.Sprintf("%s in subnet %s is %s", a, sn.Name, holder))
				})
			case holder == "" && (!pool || gi == mine):
				c.claims = append(c.claims, Claim{Subnet: sn.Name, Addr: a, Field: p, Value: value})
			}
			if pool && mine < 0 {
				fi := ipam.FamilyOf(a).Index()
				checkedInPool[fi]++
				if holder == "" {
					freeInPool[fi]++
				}
			}
		}
	}
	for fi := range checkedInPool {
		if pool && mine < 0 && checkedInPool[fi] > 0 && freeInPool[fi] == 0 {
			f := ipam.IPv4
			if fi == 1 {
				f = ipam.IPv6
			}
			c.fs.add(policy.PodIPTaken, field.Invalid(p, value, fmt.Sprintf(
				"every %s address of the pool is already held; the pod would wait for an address forever", f)))
		}
	}
}

// dualPair reports whether two entries are one address of each family,
// the one-pod pair Kube-OVN keeps whole in a flat ip_pool list.
func dualPair(entries []string) bool {
	a, err1 := netip.ParseAddr(strings.TrimSpace(entries[0]))
	b, err2 := netip.ParseAddr(strings.TrimSpace(entries[1]))
	return err1 == nil && err2 == nil && a.Is4() != b.Is4()
}

// parseGroup parses one comma-separated group of addresses. With perFamily,
// the group is one pod's addresses: at most one per family.
func (c *podCheck) parseGroup(p *field.Path, value, g string, perFamily bool) ([]netip.Addr, bool) {
	var out []netip.Addr
	ok := true
	var seen [2]bool
	// Each problem names its element; the value itself is quoted once per
	// finding, cut to policy.MaxValueBytes when the decision renders it.
	for part := range strings.SplitSeq(g, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			c.fs.addf(policy.PodIPInvalid, p, func() *field.Error { return field.Invalid(p, value, "has an empty address") })
			ok = false
			continue
		}
		if i := strings.IndexByte(part, '/'); i >= 0 {
			c.fs.addf(policy.PodIPInvalid, p, func() *field.Error {
				return field.Invalid(p, value, fmt.Sprintf("%s is a CIDR; write the address %s alone", part, part[:i]))
			})
			ok = false
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil || a.Zone() != "" || a.Is4In6() {
			c.fs.addf(policy.PodIPInvalid, p, func() *field.Error {
				return field.Invalid(p, value, fmt.Sprintf("%q is not an IP address", part))
			})
			ok = false
			continue
		}
		fi := ipam.FamilyOf(a).Index()
		if perFamily && seen[fi] {
			c.fs.addf(policy.PodIPInvalid, p, func() *field.Error {
				return field.Invalid(p, value, fmt.Sprintf(
					"has more than one %s address in %q; a pod takes at most one per family", ipam.FamilyOf(a), policy.Shorten(g)))
			})
			ok = false
			continue
		}
		seen[fi] = true
		out = append(out, a)
	}
	return out, ok
}

// place finds the candidate subnet that holds a and judges a against it:
// family, range, network/broadcast/gateway, excludeIps.
//
// It is called for every address of a value, so nothing is formatted for
// an address that fits, nor past policy.MaxFindings problems of a rule.
func (c *podCheck) place(p *field.Path, a netip.Addr, cands []*inventory.Subnet) (*inventory.Subnet, bool) {
	if len(cands) == 0 {
		c.fs.addf(policy.PodIPOutOfRange, p, func() *field.Error {
			return field.Invalid(p, a.String(), "no subnet could be resolved for this pod (no logical_switch, no bound subnet, no default subnet)")
		})
		return nil, false
	}
	f := ipam.FamilyOf(a)
	sameFamily := 0
	for _, sn := range cands {
		b, ok := sn.Spec.Block(f)
		if !ok {
			continue
		}
		sameFamily++
		if !b.Contains(a) {
			continue
		}
		if !usable(sn.Spec, a) {
			c.fs.addf(policy.PodIPReserved, p, func() *field.Error {
				_, reason := sn.Spec.Allocatable(a)
				return field.Invalid(p, a.String(), fmt.Sprintf(
					"%s is %s of subnet %s (%s) and can never be allocated", a, reason, sn.Name, sn.CIDRBlock))
			})
			return nil, false
		}
		if sn.Spec.Exclude.Contains(a) {
			c.fs.addf(policy.PodIPExcluded, p, func() *field.Error {
				return field.Invalid(p, a.String(), fmt.Sprintf(
					"%s is in excludeIps of subnet %s; Kube-OVN allows a static IP there, but the range was excluded on purpose", a, sn.Name))
			})
		}
		return sn, true
	}
	switch {
	case sameFamily == 0 && len(cands) == 1:
		c.fs.addf(policy.PodIPInvalid, p, func() *field.Error {
			return field.Invalid(p, a.String(), fmt.Sprintf(
				"%s is %s but subnet %s (%s) has no %s block", a, f, cands[0].Name, cands[0].CIDRBlock, f))
		})
	case sameFamily == 0:
		c.fs.addf(policy.PodIPInvalid, p, func() *field.Error {
			return field.Invalid(p, a.String(), fmt.Sprintf(
				"%s is %s but none of the subnets this pod may use has an %s block", a, f, f))
		})
	case len(cands) == 1:
		c.fs.addf(policy.PodIPOutOfRange, p, func() *field.Error {
			return field.Invalid(p, a.String(), fmt.Sprintf(
				"%s is not inside subnet %s (%s)", a, cands[0].Name, cands[0].CIDRBlock))
		})
	default:
		c.fs.addf(policy.PodIPOutOfRange, p, func() *field.Error {
			var blocks []string
			for _, sn := range cands {
				if b, ok := sn.Spec.Block(f); ok && len(blocks) < maxListedItems {
					blocks = append(blocks, sn.Name+" "+b.String())
				}
			}
			return field.Invalid(p, a.String(), fmt.Sprintf(
				"%s is not inside any subnet bound to namespace %s: %s", a, c.in.Namespace, joinCapped(blocks, sameFamily)))
		})
	}
	return nil, false
}

// checkMAC refuses a static MAC that does not parse: Kube-OVN's
// controller fails the allocation (pkg/controller/pod.go acquireAddress,
// net.ParseMAC, for OVN providers and the per-interface key) and its
// webhook refuses it (pkg/util/validator.go ValidatePodNetwork). Other
// providers' subnets never read the annotation.
func (c *podCheck) checkMAC(req annotations.Request) {
	if req.Interface == "" && req.Provider != annotations.DefaultProvider &&
		!strings.HasSuffix(req.Provider, "."+annotations.DefaultProvider) && !strings.Contains(req.Provider, "."+annotations.DefaultProvider+".") {
		return
	}
	if _, err := net.ParseMAC(req.MacAddress); err != nil {
		c.fs.add(policy.PodIPInvalid, field.Invalid(c.annPath(req.MacAddressKey), req.MacAddress,
			"is not a MAC address; Kube-OVN cannot allocate the pod (net.ParseMAC fails)"))
	}
}

// advise records a finding that never denies (policy.Finding.Advisory):
// for what one supported Kube-OVN release refuses and another accepts.
func (c *podCheck) advise(rule policy.RuleID, err *field.Error) {
	c.fs.addAdvisory(rule, err)
}

// ipFamilyNote says which Kube-OVN releases read ip_family: master does
// (pkg/util/validator.go ValidatePodNetwork, pkg/controller/pod.go
// podNetRequestedIPFamily, validateRequestedIPFamilyForSubnet); v1.15 and
// v1.16 never read the annotation. The findings are therefore advisory:
// they warn, never deny.
const ipFamilyNote = "Kube-OVN master refuses it (the pod gets no address); v1.15 and v1.16 ignore ip_family"

// checkIPFamily judges an interface's ip_family: a value other than ipv4
// or ipv6, a fixed address of the other family, or a family none of the
// interface's subnets has.
func (c *podCheck) checkIPFamily(req annotations.Request, cands []*inventory.Subnet) {
	p := c.annPath(req.IPFamilyKey)
	var want ipam.Family
	switch req.IPFamily {
	case "ipv4":
		want = ipam.IPv4
	case "ipv6":
		want = ipam.IPv6
	default:
		c.advise(policy.PodIPInvalid, field.Invalid(p, req.IPFamily, "is not ipv4 or ipv6; "+ipFamilyNote))
		return
	}
	if req.IPAddress != "" && len(req.IPAddress) <= 256 {
		for part := range strings.SplitSeq(req.IPAddress, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(part))
			if err != nil || ipam.FamilyOf(a) == want {
				continue
			}
			c.advise(policy.PodIPInvalid, field.Invalid(p, req.IPFamily, fmt.Sprintf(
				"asks for %s but %s names %s, an %s address; %s", want, req.IPAddressKey, a, ipam.FamilyOf(a), ipFamilyNote)))
			return
		}
	}
	if len(cands) == 0 {
		return
	}
	for _, sn := range cands {
		if _, ok := sn.Spec.Block(want); ok {
			return
		}
	}
	c.advise(policy.PodIPInvalid, field.Invalid(p, req.IPFamily, fmt.Sprintf(
		"asks for %s but subnet %s (%s) has no %s block; %s", want, cands[0].Name, cands[0].CIDRBlock, want, ipFamilyNote)))
}

// checkTenancy flags a subnet bound to other namespaces only. Kube-OVN
// does not check it (pkg/controller/pod.go getPodDefaultSubnet): the rule
// warns by default and enforces under the multi-tenant profile.
func (c *podCheck) checkTenancy(sn *inventory.Subnet, p *field.Path, value string) {
	if !sn.Bound() {
		return
	}
	nsLabels, _ := c.r.Namespace(c.in.Namespace)
	if sn.BindsNamespace(c.in.Namespace, labels.Set(nsLabels)) {
		return
	}
	who := strings.Join(sn.Namespaces, ", ")
	if len(sn.Selectors) > 0 {
		if who != "" {
			who += " and "
		}
		who += "namespaces matching its namespaceSelectors"
	}
	c.fs.add(policy.TenantSubnet, field.Forbidden(p, fmt.Sprintf(
		"subnet %s is bound to %s, not to namespace %s; Kube-OVN places the pod there anyway, the multi-tenant profile refuses it", sn.Name, who, c.in.Namespace)))
}

// holder says who else holds a in subnet sn ("held by pod ns/name"), or
// "" when nobody does: IP objects and Vips, pods that asked for it, have no
// IP object yet and were created less than the pending-holder timeout ago,
// and admissions in flight. Holders in other namespaces are not named
// unless c.rc.CrossNamespaceNames.
func (c *podCheck) holder(sn *inventory.Subnet, a netip.Addr) string {
	ns, owner := c.in.Namespace, c.in.Owner()
	var held string
	c.r.InUse(sn.Name, a, a, func(h inventory.Holder) bool {
		if ownIPObject(h, &c.in) {
			return true
		}
		held = "held by " + holderText(h, ns, c.rc.CrossNamespaceNames)
		return false
	})
	if held != "" {
		return held
	}
	now, timeout := c.rc.now(), c.rc.pendingHolderTimeout()
	c.r.PodRequests(a, func(pr inventory.PodRequest) bool {
		if pr.Namespace == ns && (pr.Owner == owner || pr.Pod == c.in.Name) {
			return true
		}
		if !pr.Created.IsZero() && now.Sub(pr.Created) >= timeout {
			// Kube-OVN allocates within seconds; a pod still pending is
			// stuck and no longer blocks the address for others.
			return true
		}
		if !requestLandsIn(c.r, c.d, pr, sn) {
			return true
		}
		held = "requested by " + pendingText(pr, ns, c.rc.CrossNamespaceNames)
		return false
	})
	if held != "" || c.res == nil {
		return held
	}
	if rns, rowner, ok := c.res.Holder(sn.Name, a); ok && (rns != ns || rowner != owner) {
		return inFlightHolder(ns, rns, rowner, c.rc.CrossNamespaceNames)
	}
	return ""
}

// inFlightHolder describes, to a pod of namespace ns, an admission in
// flight (of namespace rns, owner rowner) holding an address. names
// names it even in another namespace.
func inFlightHolder(ns, rns, rowner string, names bool) string {
	if rns == "" {
		// A reservation that names nobody: written by another version of
		// the webhook, which this one cannot read (pkg/reserve).
		return "reserved by another version of the webhook (during an upgrade) until its reservation lapses"
	}
	if rns != ns && !names {
		return "requested by a pod in another namespace, admitted moments ago"
	}
	return "requested by " + annotations.DescribeOwner(rns, rowner) + ", admitted moments ago"
}

// InFlight judges a pod's claims (PodCreate's, made without
// c.Reservations) against the admissions in flight: the part of the
// "taken" check that runs under the reservations' lock, so it is kept to
// one lookup per claim. It reports what PodCreate would have reported
// with c.Reservations set.
func InFlight(c Context, in *PodInput, claims []Claim) []policy.Finding {
	if c.Reservations == nil {
		return nil
	}
	ns, owner := in.Namespace, in.Owner()
	var fs findings
	for _, cl := range claims {
		if rns, rowner, ok := c.Reservations.Holder(cl.Subnet, cl.Addr); ok && (rns != ns || rowner != owner) {
			fs.add(policy.PodIPTaken, field.Invalid(cl.Field, cl.Value, fmt.Sprintf(
				"%s in subnet %s is %s", cl.Addr, cl.Subnet, inFlightHolder(ns, rns, rowner, c.CrossNamespaceNames))))
		}
	}
	return fs.result()
}

// requestLandsIn reports whether another pod's request resolves to sn.
func requestLandsIn(r inventory.Reader, d settings.Defaults, pr inventory.PodRequest, sn *inventory.Subnet) bool {
	switch {
	case pr.LogicalSwitch != "":
		return pr.LogicalSwitch == sn.Name
	case pr.IPPool != "" && annotations.IsPoolName(pr.IPPool):
		pool, ok := r.IPPool(pr.IPPool)
		return ok && pool.Subnet == sn.Name
	}
	for _, cand := range resolveDefault(r, d, pr.Namespace, annotations.SubnetProviders(pr.Provider, pr.Interface)...) {
		if cand.Name == sn.Name {
			return true
		}
	}
	return false
}
