package diagnose

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamguard/ipamguard/pkg/annotations"
)

// stuckGrace is how long a pod may wait for its sandbox before the doctor
// calls it stuck: Kube-OVN allocates within seconds, and kubelet retries
// a failed sandbox every few seconds, so a minute with IPAM events is not
// a transient.
const stuckGrace = time.Minute

// maxEventMessage bounds the event text quoted in a finding (kubelet's
// sandbox messages carry the whole CNI error chain).
const maxEventMessage = 300

// maxReasons bounds the refusal reasons spelled out in one finding.
const maxReasons = 5

// ipamClass is what an IPAM event says went wrong.
type ipamClass string

// Classes of IPAM events.
const (
	classNoAddress  ipamClass = "no-address"
	classConflict   ipamClass = "conflict"
	classOutOfRange ipamClass = "out-of-range"
	classDuplicate  ipamClass = "duplicate"
	classIPObject   ipamClass = "ip-object"
	classOther      ipamClass = "other-ipam"
)

// Event reasons of Kube-OVN v1.16.2's controller about a pod's addresses
// (pkg/controller/pod.go, reconcileAllocateSubnets and handleAddOrUpdatePod):
// every message they carry is about IPAM.
const (
	reasonAcquireAddressFailed     = "AcquireAddressFailed"
	reasonValidatePodNetworkFailed = "ValidatePodNetworkFailed"
)

// classPatterns tell an event message's class, first match wins; matching
// is on the lower-cased message. The texts are Kube-OVN v1.16.2's, plus
// the wording of ipamguard's simulated controller (internal/simovn) and
// the runbook's ("IP already allocated", "Failed to allocate IP").
var classPatterns = []struct {
	class ipamClass
	texts []string
}{
	// The IP object could not be written: pkg/controller/ip.go
	// createOrUpdateIPCR ("failed to create ip CR %s"), pod.go ("failed to
	// create ips CR"); simovn's "create IP object %s" and "IP object %s
	// belongs to pod" (the name is taken).
	{classIPObject, []string{"failed to create ip cr", "failed to create ips cr", "create ip object", "failed to get ip cr", "failed to update ip crd", "belongs to pod"}},
	// Someone else on the wire answers for the address: pkg/daemon
	// ovs_linux.go configureNic, ARP probe (IPv4) or DAD (IPv6), relayed
	// by kubelet in FailedCreatePodSandBox.
	{classDuplicate, []string{"has already been used by host", "duplicate address", "dadfailed"}},
	// The address (or MAC) is held in Kube-OVN's IPAM by another pod:
	// pkg/ipam ErrConflict "AddressConflict".
	{classConflict, []string{"addressconflict", "already held by", "already allocated", "has been allocated to", "has been assigned to"}},
	// The fixed address is outside the subnet or is its network or
	// broadcast address: pkg/ipam ErrOutOfRange "AddressOutOfRange";
	// pkg/util/validator.go ValidatePodNetwork ("%s not in cidr %s") and
	// ValidateNetworkBroadcast ("is the broadcast ip in cidr", "is the
	// network number ip in cidr").
	{classOutOfRange, []string{"addressoutofrange", "not in cidr", "outside subnet", "is the broadcast ip", "is the network number ip", "network or broadcast address", "is the gateway of subnet"}},
	// Nothing left to hand out: pkg/ipam ErrNoAvailable
	// "NoAvailableAddress" (also for an ip_pool whose entries are all
	// taken, pkg/controller/pod.go acquireStaticAddressHelper); the
	// host-local IPAM plugin's "no IP addresses available in range set".
	{classNoAddress, []string{"noavailableaddress", "no available ip", "no available address", "no free ip", "no ip addresses available"}},
	// IPAM, cause not named: the CNI server's "no address allocated to pod
	// %s/%s provider %s, please see kube-ovn-controller logs"
	// (pkg/daemon/handler.go), pkg/ipam's NoSubnet and CIDRInvalid,
	// acquireStaticAddress's "failed to parse IP"; ValidatePodNetwork's
	// "is not a valid ovn.kubernetes.io/ip_address".
	{classOther, []string{"no address allocated to pod", "no address has been allocated", "failed to allocate ip", "failed to allocate address", "nosubnet", "cidrinvalid", "failed to parse ip", "ip_address", "ip_pool", "ippool"}},
}

// classifyEvent returns the IPAM class of an event, or false when it is
// not about IPAM (a sandbox failing for a CNI timeout is not ours).
// Kube-OVN's own IPAM reasons are IPAM whatever their text.
func classifyEvent(reason, message string) (ipamClass, bool) {
	m := strings.ToLower(message)
	for _, p := range classPatterns {
		for _, t := range p.texts {
			if strings.Contains(m, t) {
				return p.class, true
			}
		}
	}
	switch reason {
	case reasonAcquireAddressFailed, reasonValidatePodNetworkFailed:
		return classOther, true
	}
	return "", false
}

// classHint says what to do about a stuck pod of each class.
var classHint = map[ipamClass]string{
	classNoAddress: "the subnet has no address left to hand out: release addresses (zombie IP objects, see the zombie-ip findings), " +
		"widen the subnet's cidrBlock or move the workload to a subnet with room; Kube-OVN retries the pod by itself once an address is free",
	classConflict: "the fixed address (or MAC) the pod asks for is held by another pod in Kube-OVN's IPAM: give the owning workload's " +
		"ip_address / ip_pool / mac_address annotation a free value and recreate the pod, or release the holder (see the related findings)",
	classOutOfRange: "the fixed address the pod asks for is outside the subnet it lands in, or is the subnet's network, broadcast or gateway " +
		"address: fix the owning workload's ip_address / ip_pool annotation (or its logical_switch) and recreate the pod",
	classDuplicate: "another host on the network answers for the pod's address (ARP probe or IPv6 DAD): find the host with the MAC the event " +
		"names and remove the address from it, or add the address to the subnet's excludeIps so Kube-OVN stops handing it out",
	classIPObject: "the controller could not write the pod's IP object: read the event's error (a webhook refusing IP objects, an IP object " +
		"of that name held by another pod) and the kube-ovn-controller logs; release or fix the conflicting IP object, then Kube-OVN retries",
	classOther: "the event is about the pod's addresses but does not say which step failed: look for the pod's AcquireAddressFailed events " +
		"and the kube-ovn-controller logs for the pod",
}

// podIPAM is what the pending and latency checks derive from a pod.
type podIPAM struct {
	// allocated: the controller marked an interface allocated.
	allocated bool
	// judgeable: annotations the webhook's pod rules read (ip_address,
	// ip_pool, mac_address, logical_switch for any provider).
	judgeable bool
}

// readPodIPAM reads a pod's annotations once, in time linear in their
// number.
func readPodIPAM(ann map[string]string) podIPAM {
	var out podIPAM
	for k, v := range ann {
		key, ok := annotations.ParseKey(k)
		if !ok {
			continue
		}
		switch key.Name {
		case annotations.Allocated:
			out.allocated = out.allocated || v == "true"
		case annotations.IPAddress, annotations.IPPool, annotations.MacAddress, annotations.LogicalSwitch:
			out.judgeable = true
		}
	}
	return out
}

// The default provider's annotation keys the checks read.
const (
	logicalSwitchKey = annotations.DefaultProvider + annotations.Domain + annotations.LogicalSwitch
	ipPoolKey        = annotations.DefaultProvider + annotations.Domain + annotations.IPPool
	allocatedKey     = annotations.DefaultProvider + annotations.Domain + annotations.Allocated
)

// pendingCtx holds what the pending and latency checks share in one run.
type pendingCtx struct {
	x *index
	// poolSubnet maps an IPPool name to its subnet.
	poolSubnet map[string]string
	// defaultSubnet is the subnet marked spec.default, if one is.
	defaultSubnet string
}

func newPendingCtx(x *index) *pendingCtx {
	c := &pendingCtx{x: x, poolSubnet: make(map[string]string, len(x.s.IPPools))}
	for i := range x.s.IPPools {
		c.poolSubnet[x.s.IPPools[i].Name] = x.s.IPPools[i].Spec.Subnet
	}
	for i := range x.s.Subnets {
		if x.s.Subnets[i].Spec.Default {
			c.defaultSubnet = x.s.Subnets[i].Name
			break
		}
	}
	return c
}

// podSubnets returns the subnets a pod's primary interface lands in, in
// the controller's order, as far as the state tells: its logical_switch
// annotation; the subnet of the IPPool its ip_pool names; the subnets the
// controller lists in its namespace's logical_switch annotation; the
// default subnet. Only the first non-empty source counts, and only
// subnets that exist.
func (c *pendingCtx) podSubnets(p *Pod) []string {
	if ls := p.Annotations[logicalSwitchKey]; ls != "" {
		return c.existing(ls)
	}
	if pool := p.Annotations[ipPoolKey]; pool != "" && annotations.IsPoolName(pool) {
		if sn, ok := c.poolSubnet[strings.TrimSpace(pool)]; ok {
			return c.existing(sn)
		}
	}
	if ns := c.x.namespaces[p.Namespace]; ns != nil {
		if list := ns.Annotations[logicalSwitchKey]; list != "" {
			var out []string
			for name := range strings.SplitSeq(list, ",") {
				out = append(out, c.existing(strings.TrimSpace(name))...)
			}
			if len(out) > 0 {
				return out
			}
		}
	}
	if c.defaultSubnet != "" {
		return []string{c.defaultSubnet}
	}
	return nil
}

func (c *pendingCtx) existing(name string) []string {
	if _, ok := c.x.subnets[name]; ok {
		return []string{name}
	}
	return nil
}

// firstPodIP returns the index in the state of the first IP object of a
// pod, -1 when none: named after the pod, else after its KubeVirt VM
// (keep-vm-ip IP objects carry the VM's name, pkg/controller/pod.go
// getNameByPod). x.nextIP chains the others.
func (x *index) firstPodIP(p *Pod) int32 {
	if i := x.firstIPOf(p.Namespace, p.Name, p); i >= 0 {
		return i
	}
	if vm := annotations.LauncherVM(p.OwnerReferences); vm != "" && vm != p.Name {
		return x.firstIPOf(p.Namespace, vm, nil)
	}
	return -1
}

// hasIPObject reports whether any IP object names the pod or its VM.
func (x *index) hasIPObject(p *Pod) bool { return x.firstPodIP(p) >= 0 }

// podFinished reports a pod that has finished: Kube-OVN releases its
// address (pod.go, isPodStatusPhaseAlive), so it is neither stuck nor
// missing one.
func podFinished(p *Pod) bool { return p.Phase == "Succeeded" || p.Phase == "Failed" }

// podLive reports whether Kube-OVN allocates to the pod at all.
func podLive(p *Pod) bool { return !p.HostNetwork && p.DeletionTimestamp == nil && !podFinished(p) }

// podAge is how long the pod has existed at now; false when unknown.
func podAge(p *Pod, now time.Time) (time.Duration, bool) {
	if p.CreationTimestamp.IsZero() {
		return 0, false
	}
	return now.Sub(p.CreationTimestamp.Time), true
}

// incompleteFor reports whether the state says resource could not be
// read (Gap.Resource "ips", "ips.kubeovn.io", "pods", …).
func incompleteFor(s *State, resource string) bool {
	for _, g := range s.Incomplete {
		r := strings.ToLower(g.Resource)
		if r == resource || strings.HasPrefix(r, resource+".") {
			return true
		}
	}
	return false
}

// checkPending finds pods stuck creating with IPAM events, and pods that
// Kube-OVN has not allocated yet whose annotations the webhook would
// refuse now (through opts.Judge).
func checkPending(x *index, opts *Options, r *Report) {
	c := newPendingCtx(x)
	refused := checkRefused(c, opts, r)
	checkStuck(c, opts, r, refused)
}

// checkRefused judges every pod Kube-OVN has not allocated yet that
// carries annotations the pod rules read, and returns the IDs of the
// findings it made, by pod key. Allocated pods hold their addresses
// through their IP objects and are never re-judged.
func checkRefused(c *pendingCtx, opts *Options, r *Report) map[objKey]string {
	out := map[objKey]string{}
	if opts.Judge == nil || incompleteFor(c.x.s, "ips") {
		// Without the IP objects every pod would look unallocated.
		return out
	}
	ctx := opts.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	var failed int
	var firstErr error
	pods := c.x.s.Pods
	for i := range pods {
		p := &pods[i]
		// Most pods are allocated: one lookup in their annotations skips
		// them before any index is read.
		if !podLive(p) || p.Annotations[allocatedKey] == "true" || c.x.hasIPObject(p) {
			continue
		}
		if ipm := readPodIPAM(p.Annotations); ipm.allocated || !ipm.judgeable {
			continue
		}
		var reasons []string
		err := ctx.Err()
		if err == nil {
			// Once ctx is done no pod is judged; each counts as unjudged.
			reasons, err = opts.Judge(ctx, p)
		}
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if len(reasons) == 0 {
			continue
		}
		f := refusedFinding(c, p, reasons, opts.Now)
		out[key(p.Namespace, p.Name)] = idOf(&f)
		r.Findings = append(r.Findings, f)
	}
	if failed > 0 {
		r.Incomplete = append(r.Incomplete, Gap{Resource: "pods (annotation judgement)",
			Reason: fmt.Sprintf("%d unallocated pods could not be judged: %v", failed, firstErr)})
	}
	return out
}

// refusedFinding reports a pod the webhook would refuse now. A pod still
// unallocated past the grace is critical: Kube-OVN allocates within
// seconds, so it is waiting on what the webhook refuses (a taken or
// out-of-range address Kube-OVN cannot allocate either). A younger one
// is a warning: Kube-OVN may yet allocate it (it ignores the webhook's
// policy-only rules, such as tenancy), and once allocated it is never
// re-judged.
func refusedFinding(c *pendingCtx, p *Pod, reasons []string, now time.Time) Finding {
	sev := Warning
	if a, ok := podAge(p, now); ok && a >= stuckGrace {
		sev = Critical
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pod %s/%s has no address from Kube-OVN yet and the webhook would refuse its annotations now: ", p.Namespace, p.Name)
	for i, reason := range reasons {
		if i == maxReasons {
			fmt.Fprintf(&b, "; … and %d more", len(reasons)-maxReasons)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(truncateText(reason, maxEventMessage))
	}
	f := Finding{
		Check:    CheckRefusedAnnotation,
		Severity: sev,
		Message:  b.String(),
		Objects:  []ObjectRef{RefPod(p)},
	}
	if sns := c.podSubnets(p); len(sns) == 1 {
		f.Subnet = sns[0]
	}
	owner := podController(p)
	if owner != nil {
		f.Objects = append(f.Objects, ObjectRef{APIVersion: owner.APIVersion, Kind: owner.Kind, Namespace: p.Namespace, Name: owner.Name, UID: string(owner.UID)})
		f.Hint = fmt.Sprintf("Kube-OVN reads the pod's own annotations, copied from its %s %s: fix the Kube-OVN annotations "+
			"(ip_address, ip_pool, mac_address, logical_switch) in the pod template of %s %s (for a ReplicaSet, its Deployment's), "+
			"then delete the pod so it is recreated with them", owner.Kind, owner.Name, owner.Kind, owner.Name)
	} else {
		f.Hint = "the pod has no controller: delete it and create it again with corrected Kube-OVN annotations " +
			"(ip_address, ip_pool, mac_address, logical_switch), so the webhook judges them on creation"
	}
	return f
}

// podController returns the pod's controlling owner reference, if any.
func podController(p *Pod) *metav1.OwnerReference {
	for i := range p.OwnerReferences {
		if o := &p.OwnerReferences[i]; o.Controller != nil && *o.Controller {
			return o
		}
	}
	return nil
}

// stuckEvent is the event that classifies a stuck pod.
type stuckEvent struct {
	e     *Event
	class ipamClass
}

// eventSkew is how much earlier than its pod's creation an event without
// the pod's UID may be and still be about that pod.
const eventSkew = 2 * time.Second

// pickEvent chooses the event that says what is wrong with a pod: the
// latest one of a specific class, else the latest generic IPAM one (the
// CNI's "no address allocated" repeats on every sandbox retry, and the
// controller's own reason is more telling). Events about an earlier pod
// of the same name (another UID) do not count.
func pickEvent(p *Pod, events []*Event) (stuckEvent, bool) {
	var best stuckEvent
	for _, e := range events {
		if e.Object.UID != "" && p.UID != "" && e.Object.UID != p.UID {
			continue
		}
		// Without the UID to tell, an event last seen before the pod was
		// created is about an earlier pod of that name (a StatefulSet's).
		// Event times are whole seconds of the sender's clock, creation
		// times the API server's: eventSkew of slack.
		if !e.Last.IsZero() && !p.CreationTimestamp.IsZero() && e.Last.Add(eventSkew).Before(p.CreationTimestamp.Time) {
			continue
		}
		class, ok := classifyEvent(e.Reason, e.Message)
		if !ok {
			continue
		}
		switch {
		case best.e == nil,
			best.class == classOther && class != classOther,
			(best.class == classOther) == (class == classOther) && e.Last.After(best.e.Last):
			best = stuckEvent{e, class}
		}
	}
	return best, best.e != nil
}

// relatedIndex finds, in one pass over the findings so far, those that
// may explain a stuck pod: usage findings by subnet, overlap findings by
// the subnets they name, duplicate findings by subnet and address (the
// addresses their messages name) and by the pods they name.
type relatedIndex struct {
	usage     map[string][]string
	overlap   map[string][]string
	dupAddr   map[linkKey][]string
	dupPod    map[objKey][]string
	refusedBy map[objKey]string
}

type linkKey struct {
	subnet string
	addr   netip.Addr
}

// idOf is a finding's ID: its own when the check set one (finish keeps
// it), else the one finish will give it.
func idOf(f *Finding) string {
	if f.ID != "" {
		return f.ID
	}
	return findingID(f)
}

func newRelatedIndex(findings []Finding, refused map[objKey]string) *relatedIndex {
	ri := &relatedIndex{usage: map[string][]string{}, overlap: map[string][]string{},
		dupAddr: map[linkKey][]string{}, dupPod: map[objKey][]string{}, refusedBy: refused}
	for i := range findings {
		f := &findings[i]
		switch f.Check {
		case CheckSubnetUsage:
			if f.Subnet != "" {
				ri.usage[f.Subnet] = append(ri.usage[f.Subnet], idOf(f))
			}
		case CheckOverlap:
			id := idOf(f)
			seen := map[string]bool{}
			if f.Subnet != "" {
				seen[f.Subnet] = true
				ri.overlap[f.Subnet] = append(ri.overlap[f.Subnet], id)
			}
			for _, o := range f.Objects {
				if o.Kind == "Subnet" && !seen[o.Name] {
					seen[o.Name] = true
					ri.overlap[o.Name] = append(ri.overlap[o.Name], id)
				}
			}
		case CheckDuplicate:
			id := idOf(f)
			if f.Subnet != "" {
				for _, a := range addrsInText(f.Message) {
					k := linkKey{f.Subnet, a}
					ri.dupAddr[k] = appendIDOnce(ri.dupAddr[k], id)
				}
			}
			for _, o := range f.Objects {
				if o.Kind == "Pod" {
					k := key(o.Namespace, o.Name)
					ri.dupPod[k] = appendIDOnce(ri.dupPod[k], id)
				}
			}
		}
	}
	return ri
}

func appendIDOnce(list []string, id string) []string {
	if len(list) > 0 && list[len(list)-1] == id {
		return list
	}
	return append(list, id)
}

// addrsInText returns the IP addresses a text names, as words (an address
// with a prefix length counts as its address).
func addrsInText(text string) []netip.Addr {
	var out []netip.Addr
	for w := range strings.FieldsFuncSeq(text, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || r == '.' || r == ':' || r == '/')
	}) {
		w = strings.Trim(w, ".:")
		if i := strings.IndexByte(w, '/'); i >= 0 {
			w = w[:i]
		}
		if a, err := netip.ParseAddr(w); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// podAddrs returns the fixed addresses a pod asks for (ip_address and
// address lists of ip_pool, any provider) and those its event names.
func podAddrs(p *Pod, e *Event) []netip.Addr {
	var out []netip.Addr
	for k, v := range p.Annotations {
		if key, ok := annotations.ParseKey(k); ok && (key.Name == annotations.IPAddress || key.Name == annotations.IPPool) {
			out = append(out, addrsInText(v)...)
		}
	}
	if e != nil {
		out = append(out, addrsInText(e.Message)...)
	}
	return out
}

// related returns the IDs of the findings that may explain a stuck pod of
// class in subnets.
func (ri *relatedIndex) related(p *Pod, se stuckEvent, subnets []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(ids ...string) {
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	if id, ok := ri.refusedBy[key(p.Namespace, p.Name)]; ok {
		add(id)
	}
	switch se.class {
	case classNoAddress:
		for _, sn := range subnets {
			add(ri.usage[sn]...)
		}
	case classConflict, classDuplicate, classIPObject:
		add(ri.dupPod[key(p.Namespace, p.Name)]...)
		addrs := podAddrs(p, se.e)
		for _, sn := range subnets {
			for _, a := range addrs {
				add(ri.dupAddr[linkKey{sn, a}]...)
			}
			add(ri.overlap[sn]...)
		}
	}
	return out
}

// checkStuck reports every pod stuck creating past the grace with IPAM
// events: waiting in ContainerCreating, or Pending on a node.
func checkStuck(c *pendingCtx, opts *Options, r *Report, refused map[objKey]string) {
	var ri *relatedIndex
	pods := c.x.s.Pods
	for i := range pods {
		p := &pods[i]
		if !podLive(p) {
			continue
		}
		if p.Waiting != "ContainerCreating" && (p.Phase != "Pending" || p.NodeName == "") {
			continue
		}
		a, ok := podAge(p, opts.Now)
		if !ok || a < stuckGrace {
			continue
		}
		events := c.x.eventsByPod[key(p.Namespace, p.Name)]
		if len(events) == 0 {
			continue
		}
		se, ok := pickEvent(p, events)
		if !ok {
			continue
		}
		if ri == nil {
			ri = newRelatedIndex(r.Findings, refused)
		}
		subnets := c.podSubnets(p)
		r.Findings = append(r.Findings, stuckFinding(p, se, subnets, a, ri.related(p, se, subnets)))
	}
}

// stuckFinding reports a stuck pod with the event that says why.
func stuckFinding(p *Pod, se stuckEvent, subnets []string, waited time.Duration, related []string) Finding {
	e := se.e
	state := "Pending on node " + p.NodeName
	if p.Waiting == "ContainerCreating" {
		state = "in ContainerCreating on node " + p.NodeName
	}
	count := ""
	if e.Count > 1 {
		count = " ×" + strconv.Itoa(int(e.Count))
	}
	f := Finding{
		Check:    CheckStuckPod,
		Severity: Critical,
		Message: fmt.Sprintf("pod %s/%s was created %s ago and is still %s: %s (%s%s): %q", p.Namespace, p.Name,
			waited.Truncate(time.Second), state, se.class, e.Reason, count, truncateText(e.Message, maxEventMessage)),
		Objects: []ObjectRef{RefPod(p), {APIVersion: "v1", Kind: "Event", Namespace: e.Namespace, Name: e.Name, UID: e.UID, ResourceVersion: e.ResourceVersion}},
		Hint:    classHint[se.class],
		Related: related,
	}
	if len(subnets) == 1 {
		f.Subnet = subnets[0]
	}
	return f
}

// truncateText cuts s to at most n bytes on a rune boundary, marking the cut.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
