package diagnose

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
)

// ownerGrace is how young an IP object may be before the owner check
// judges it. Kube-OVN creates a pod's IP object after the pod (the
// logical switch port first, pkg/controller/pod.go reconcileAllocateSubnets)
// and deletes it only after the pod's termination grace, so an object of
// the last minute may belong to a pod the state caught half made or half
// gone; the next run judges it.
const ownerGrace = time.Minute

// Labels and name prefixes Kube-OVN v1.16.2 gives the IP objects it keeps
// on purpose (pkg/util/const.go).
const (
	// ipReservedLabel is "true" on IP objects a user created to reserve an
	// address (handleAddReservedIP in pkg/controller/ip.go sets it, and
	// pod deletion and the periodic LSP GC never delete such objects).
	ipReservedLabel = "ovn.kubernetes.io/ip_reserved"
	// nodeIPPrefix names a node's port in the join subnet, "node-<node>".
	nodeIPPrefix = "node-"
	// u2oIPPrefix and mcastIPPrefix name a subnet's underlay-to-overlay
	// interconnection and multicast querier ports,
	// "u2o-interconnection.<vpc>.<subnet>" and "mcast-querier.<subnet>".
	u2oIPPrefix   = "u2o-interconnection."
	mcastIPPrefix = "mcast-querier."
	// natGwPrefix starts the StatefulSets (and pods) of VPC NAT gateways,
	// "vpc-nat-gw-<gateway>" (pkg/util/vpc_nat_gateway.go; the prefix is a
	// controller flag, this is its default).
	natGwPrefix = "vpc-nat-gw-"
	// controllerFinalizer is the finalizer through which kube-ovn-controller
	// releases an IP object's address (and its deprecated spelling).
	controllerFinalizer           = "kubeovn.io/kube-ovn-controller"
	deprecatedControllerFinalizer = "kube-ovn-controller"
)

// ownerClass is what the owner check makes of one IP object.
type ownerClass uint8

const (
	// classOwned: its owner (pod, node, subnet) exists; not reported.
	classOwned ownerClass = iota
	// classSkipped: not judged (too young, or the state that would judge it
	// was not read).
	classSkipped
	// classKept: its pod is gone and Kube-OVN keeps it on purpose.
	classKept
	// classSuspicious: kept by Kube-OVN, but the reason to keep it looks
	// gone.
	classSuspicious
	// classZombie: its owner is gone and nothing keeps it.
	classZombie
)

// verdict is the class of an IP object and why.
type verdict struct {
	class ownerClass
	// reason completes "IP object X holds A in subnet S: ..." (empty for
	// owned objects: nothing is said of them, and a million reasons would
	// cost).
	reason string
	// hint is advice beside the fix.
	hint string
	// podGone marks a plain pod's object whose pod is gone: a controller
	// restart can hand its address out again.
	podGone bool
}

// owners answers who owns an IP object. It is built once per check and
// builds its extra indexes (virt-launcher pods by VM, IPPools by name)
// only when an IP object needs them.
type owners struct {
	x   *index
	now time.Time
	// launchers are the running virt-launcher pods by namespace/VM name.
	launchers map[objKey]*Pod
	pools     map[string]*kubeovnv1.IPPool
	// missing are the resources the state could not read: what needs them
	// is not judged (the report is incomplete already).
	missingPods, missingNodes, missingSets, missingVMs, missingSubnets bool
}

func newOwners(x *index, now time.Time) *owners {
	o := &owners{x: x, now: now}
	for _, g := range x.s.Incomplete {
		r := strings.ToLower(g.Resource)
		switch {
		case strings.Contains(r, "virtualmachine"):
			o.missingVMs = true
		case strings.Contains(r, "statefulset"):
			o.missingSets = true
		case strings.Contains(r, "subnet"):
			o.missingSubnets = true
		case strings.Contains(r, "node"):
			o.missingNodes = true
		case strings.Contains(r, "pod"):
			o.missingPods = true
		}
	}
	return o
}

// launcher returns a virt-launcher pod of VM namespace/name (owned by its
// VirtualMachineInstance, as Kube-OVN's isVMPod tells them), or nil.
func (o *owners) launcher(namespace, vm string) *Pod {
	if o.launchers == nil {
		o.launchers = map[objKey]*Pod{}
		for i := range o.x.s.Pods {
			p := &o.x.s.Pods[i]
			if name := annotations.LauncherVM(p.OwnerReferences); name != "" && !p.HostNetwork {
				o.launchers[key(p.Namespace, name)] = p
			}
		}
	}
	return o.launchers[key(namespace, vm)]
}

// podOf returns the pod that uses an IP object's addresses: the pod named
// by spec.namespace/podName, or for a VM's IP object (podName is the VM
// when Kube-OVN's keep-vm-ip is on, the default) one of its virt-launcher
// pods. Host-network pods use none.
func (o *owners) podOf(ip *kubeovnv1.IP) *Pod {
	if ip.Spec.PodName == "" {
		return nil
	}
	if p := o.x.podOfIP(ip); p != nil && !p.HostNetwork && !podFinished(p) {
		return p
	}
	if ip.Spec.PodType == kubeovnv1.PodTypeVirtualMachine {
		return o.launcher(ip.Spec.Namespace, ip.Spec.PodName)
	}
	return nil
}

// isNodeIP tells a node's join-subnet port: Kube-OVN creates it with no
// namespace and podName = nodeName = the node (createOrUpdateIPCR in
// pkg/controller/ip.go), named node-<node>, and its GC tells it so
// (checkIPOwnerExists and gcNode in pkg/controller/gc.go).
func isNodeIP(ip *kubeovnv1.IP) bool {
	if ip.Spec.Namespace == "" && ip.Spec.PodName != "" && ip.Spec.NodeName == ip.Spec.PodName {
		return true
	}
	return strings.HasPrefix(ip.Name, nodeIPPrefix) && !strings.Contains(ip.Name, ".") && ip.Spec.Namespace == ""
}

// subnetOwned returns the subnet that owns a subnet's own port (u2o
// interconnection, multicast querier): Kube-OVN sets a Subnet owner
// reference on them and names them after the subnet.
func subnetOwned(ip *kubeovnv1.IP) (subnet, what string, ok bool) {
	for _, ref := range ip.OwnerReferences {
		if ref.Kind == "Subnet" {
			return ref.Name, subnetPortKind(ip.Name), true
		}
	}
	if strings.HasPrefix(ip.Name, u2oIPPrefix) || strings.HasPrefix(ip.Name, mcastIPPrefix) {
		return ip.Spec.Subnet, subnetPortKind(ip.Name), true
	}
	return "", "", false
}

func subnetPortKind(name string) string {
	switch {
	case strings.HasPrefix(name, u2oIPPrefix):
		return "underlay-to-overlay interconnection port"
	case strings.HasPrefix(name, mcastIPPrefix):
		return "multicast querier port"
	}
	return "port"
}

// nodeOwner returns the node named by a Node owner reference.
func nodeOwner(ip *kubeovnv1.IP) (string, bool) {
	for _, ref := range ip.OwnerReferences {
		if ref.Kind == "Node" {
			return ref.Name, true
		}
	}
	return "", false
}

// classify decides the class of one IP object, following what Kube-OVN
// v1.16.2 keeps and deletes:
//
//   - its start-up GC (gcIP → checkIPOwnerExists in pkg/controller/gc.go)
//     deletes an IP object whose subnet is gone, a node's whose node is
//     gone, a VM's whose VirtualMachine is gone, a StatefulSet pod's whose
//     StatefulSet is gone, a subnet port's whose owner is gone, and a plain
//     pod's whose pod is gone or on the host network;
//   - on pod deletion (handleDeletePod in pkg/controller/pod.go) it keeps
//     a StatefulSet pod's IP object unless the StatefulSet is gone, being
//     deleted, re-created or scaled below the pod's ordinal
//     (isStatefulSetPodToDel), and a VM pod's unless the VM is gone or
//     being deleted (isVMToDel, keep-vm-ip on by default); it never
//     deletes an object labelled ovn.kubernetes.io/ip_reserved=true.
func (o *owners) classify(ip *kubeovnv1.IP) verdict {
	if ip.DeletionTimestamp != nil {
		since := o.now.Sub(ip.DeletionTimestamp.Time)
		if since < ownerGrace || !hasControllerFinalizer(ip) {
			return verdict{class: classSkipped}
		}
		return verdict{class: classZombie,
			reason: fmt.Sprintf("its deletion has waited %s for kube-ovn-controller, which releases the address and then removes its finalizer %s (handleUpdateIP, pkg/controller/ip.go)", ownerAge(since), controllerFinalizer),
			hint:   "check that kube-ovn-controller runs and look for this IP object in its log; removing the finalizer by hand skips the release (the controller's IPAM keeps the address until it restarts)"}
	}
	if !ip.CreationTimestamp.IsZero() && o.now.Sub(ip.CreationTimestamp.Time) < ownerGrace {
		return verdict{class: classSkipped}
	}
	if ip.Spec.Subnet != "" && !o.missingSubnets && o.x.subnets[ip.Spec.Subnet] == nil {
		return verdict{class: classZombie, reason: fmt.Sprintf("subnet %s no longer exists (kube-ovn-controller's start-up GC deletes IP objects of a missing subnet)", ip.Spec.Subnet)}
	}
	if node, ok := nodeOwner(ip); ok || isNodeIP(ip) {
		if !ok {
			node = ip.Spec.NodeName
			if node == "" {
				node = strings.TrimPrefix(ip.Name, nodeIPPrefix)
			}
		}
		if o.missingNodes {
			return verdict{class: classSkipped}
		}
		if o.x.nodes[node] != nil {
			return verdict{class: classOwned}
		}
		return verdict{class: classZombie, reason: fmt.Sprintf("it is the join-subnet port of node %s, which no longer exists (Kube-OVN's node GC removes it: gcNode, pkg/controller/gc.go)", node)}
	}
	if subnet, what, ok := subnetOwned(ip); ok {
		if o.missingSubnets {
			return verdict{class: classSkipped}
		}
		if o.x.subnets[subnet] != nil {
			return verdict{class: classOwned}
		}
		return verdict{class: classZombie, reason: fmt.Sprintf("it is the %s of subnet %s, which no longer exists", what, subnet)}
	}
	if o.missingPods {
		return verdict{class: classSkipped}
	}
	if ip.Spec.PodName != "" {
		if p := o.x.podOfIP(ip); p != nil {
			if p.HostNetwork {
				return verdict{class: classZombie, reason: fmt.Sprintf("pod %s/%s uses the host network now and needs no address (kube-ovn-controller's start-up GC deletes such objects)", p.Namespace, p.Name)}
			}
			if !podFinished(p) || ip.Spec.PodType != "" {
				return verdict{class: classOwned}
			}
			// Kube-OVN releases a finished pod's addresses (a pod that is
			// not alive is handled as deleted, pkg/controller/pod.go
			// isPodAlive) and its IPAM, rebuilt after a restart, counts
			// only live pods: the address may already be someone else's.
			return verdict{class: classZombie, podGone: true, reason: fmt.Sprintf("pod %s/%s has finished (%s) and Kube-OVN released its address", p.Namespace, p.Name, p.Phase)}
		}
	}
	if ip.Labels[ipReservedLabel] == "true" {
		v := verdict{class: classKept, reason: "reserved (labelled " + ipReservedLabel + "=true): Kube-OVN never deletes it when a pod goes"}
		if ip.Spec.PodType == "" && ip.Spec.PodName != "" {
			v.reason += fmt.Sprintf("; note that kube-ovn-controller's start-up GC (checkIPOwnerExists, pkg/controller/gc.go) deletes it while pod %s/%s does not exist", ip.Spec.Namespace, ip.Spec.PodName)
		}
		return v
	}
	switch ip.Spec.PodType {
	case kubeovnv1.PodTypeVirtualMachine:
		return o.classifyVM(ip)
	case kubeovnv1.PodTypeStatefulSet:
		return o.classifyStatefulSet(ip)
	}
	if ip.Spec.PodName == "" {
		return verdict{class: classZombie, reason: "it names no pod, node or subnet that could own it"}
	}
	return verdict{class: classZombie, podGone: true, reason: fmt.Sprintf("pod %s/%s no longer exists", ip.Spec.Namespace, ip.Spec.PodName)}
}

// classifyVM judges a KubeVirt VM's IP object whose VM runs no pod. With
// keep-vm-ip (on by default) Kube-OVN keeps the address while the
// VirtualMachine exists, stopped or not; once it is gone, pod deletion
// releases the address (isVMToDel) and the start-up GC deletes the object,
// so one left behind is a zombie like any other.
func (o *owners) classifyVM(ip *kubeovnv1.IP) verdict {
	vm := key(ip.Spec.Namespace, ip.Spec.PodName)
	if p := o.launcher(ip.Spec.Namespace, ip.Spec.PodName); p != nil {
		return verdict{class: classOwned}
	}
	if o.missingVMs {
		return verdict{class: classSkipped}
	}
	if m := o.x.vms[vm]; m != nil {
		if m.DeletionTimestamp != nil {
			return verdict{class: classSuspicious, reason: fmt.Sprintf("KubeVirt VM %s is being deleted; Kube-OVN releases the address once it is gone", vm),
				hint: "if the VM stays in deletion, look at its finalizers before deleting this IP object"}
		}
		return verdict{class: classKept, reason: fmt.Sprintf("KubeVirt VM %s exists and runs no pod: Kube-OVN keeps its address for its next start (keep-vm-ip)", vm)}
	}
	return verdict{class: classZombie, reason: fmt.Sprintf("KubeVirt VM %s no longer exists (Kube-OVN keeps a VM's address only while the VM exists: isVMToDel, pkg/controller/pod.go)", vm)}
}

// classifyStatefulSet judges a StatefulSet pod's IP object whose pod is
// gone. Kube-OVN takes the StatefulSet's name and the ordinal from the pod
// name's last dash (checkIPOwnerExists, isStatefulSetPodToDel).
func (o *owners) classifyStatefulSet(ip *kubeovnv1.IP) verdict {
	pod := ip.Spec.PodName
	dash := strings.LastIndexByte(pod, '-')
	if dash <= 0 {
		return verdict{class: classSuspicious, reason: fmt.Sprintf("it is marked a StatefulSet pod's, but pod name %q has no ordinal", pod)}
	}
	setName := pod[:dash]
	what := "StatefulSet"
	if ip.Spec.Namespace == "kube-system" && strings.HasPrefix(setName, natGwPrefix) {
		what = "VPC NAT gateway StatefulSet"
	}
	if o.missingSets {
		return verdict{class: classSkipped}
	}
	st := o.x.statefulSets[key(ip.Spec.Namespace, setName)]
	if st == nil {
		return verdict{class: classZombie, reason: fmt.Sprintf("pod %s/%s and its %s %s are gone (Kube-OVN releases a StatefulSet pod's address once the StatefulSet is deleted)", ip.Spec.Namespace, pod, what, setName)}
	}
	if st.DeletionTimestamp != nil {
		return verdict{class: classZombie, reason: fmt.Sprintf("pod %s/%s is gone and its %s %s is being deleted", ip.Spec.Namespace, pod, what, setName)}
	}
	ordinal, err := strconv.ParseInt(pod[dash+1:], 10, 32)
	if err != nil {
		return verdict{class: classSuspicious, reason: fmt.Sprintf("pod name %q has no ordinal after its last dash, so Kube-OVN's start-up GC keeps it while %s %s/%s exists", pod, what, ip.Spec.Namespace, setName)}
	}
	start, end := int64(st.Start), int64(st.Start)+int64(st.Replicas)
	if ordinal < start || ordinal >= end {
		return verdict{class: classSuspicious,
			reason: fmt.Sprintf("pod %s/%s is gone and %s %s no longer wants ordinal %d (%s); Kube-OVN's start-up GC keeps it while the StatefulSet exists (checkIPOwnerExists, pkg/controller/gc.go)", ip.Spec.Namespace, pod, what, setName, ordinal, stsOrdinals(st)),
			hint:   "if the StatefulSet is scaled back up, its pod gets a new address after this object is deleted"}
	}
	if addr, asked, ok := o.templateAsks(ip, st); ok && !asked {
		return verdict{class: classSuspicious,
			reason: fmt.Sprintf("its old fixed address %s is no longer requested by %s %s's pod template, yet Kube-OVN keeps it for pod %s, which will conflict when it returns (kube-ovn#5259)", addr, what, setName, pod),
			hint:   "deleting this object lets the returning pod take the address its template asks for"}
	}
	return verdict{class: classKept, reason: fmt.Sprintf("%s %s/%s wants ordinal %d (%s): Kube-OVN keeps the address across the pod's re-creation (isStatefulSetPodToDel, pkg/controller/pod.go)", what, ip.Spec.Namespace, setName, ordinal, stsOrdinals(st))}
}

func stsOrdinals(st *StatefulSet) string {
	if st.Replicas <= 0 {
		return "replicas 0"
	}
	if st.Start == 0 {
		return fmt.Sprintf("replicas %d", st.Replicas)
	}
	return fmt.Sprintf("ordinals %d to %d", st.Start, st.Start+st.Replicas-1)
}

// templateAsks reports whether the StatefulSet's pod template still asks
// for the IP object's address: ok is false when the template has no fixed
// address (ip_address or ip_pool) for the IP object's interface, or names
// an IPPool the state does not hold; addr is the address not asked for.
// The check is lenient: any address the annotation names counts, whatever
// the ordinal it is meant for.
func (o *owners) templateAsks(ip *kubeovnv1.IP, st *StatefulSet) (addr string, asked, ok bool) {
	if len(st.TemplateAnnotations) == 0 {
		return "", false, false
	}
	provider := ipProvider(ip)
	var values []string
	for _, req := range annotations.Requests(st.TemplateAnnotations) {
		if !servesProvider(req, provider) {
			continue
		}
		if req.IPAddress != "" {
			values = append(values, req.IPAddress)
		}
		if req.IPPool != "" {
			values = append(values, req.IPPool)
		}
	}
	if len(values) == 0 {
		return "", false, false
	}
	var asked4 []netip.Addr
	var ranges []string
	for _, v := range values {
		if annotations.IsPoolName(v) {
			pool := o.pool(strings.TrimSpace(v))
			if pool == nil {
				return "", false, false
			}
			ranges = append(ranges, pool.Spec.IPs...)
			continue
		}
		for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' }) {
			if a, good := ipam.ParseIP(strings.TrimSpace(part)); good {
				asked4 = append(asked4, a)
			} else {
				ranges = append(ranges, strings.TrimSpace(part))
			}
		}
	}
	for held := range inventory.IPAddrSeq(&ip.Spec) {
		if held.Subnet != ip.Spec.Subnet {
			continue
		}
		if !templateHas(asked4, ranges, held.Addr) {
			return held.Addr.String(), false, true
		}
	}
	return "", true, true
}

func templateHas(addrs []netip.Addr, ranges []string, a netip.Addr) bool {
	for _, b := range addrs {
		if b == a {
			return true
		}
	}
	for _, r := range ranges {
		if rg, ok := inventory.PoolRange(strings.TrimSpace(r)); ok && rg.Contains(a) {
			return true
		}
	}
	return false
}

func (o *owners) pool(name string) *kubeovnv1.IPPool {
	if o.pools == nil {
		o.pools = make(map[string]*kubeovnv1.IPPool, len(o.x.s.IPPools))
		for i := range o.x.s.IPPools {
			o.pools[o.x.s.IPPools[i].Name] = &o.x.s.IPPools[i]
		}
	}
	return o.pools[name]
}

// ipProvider is the provider an IP object's name carries:
// "<pod>.<namespace>" is the default provider's, "<pod>.<namespace>.<p>"
// provider p's (ovs.PodNameToPortName in Kube-OVN).
func ipProvider(ip *kubeovnv1.IP) string {
	base := ip.Spec.PodName + "." + ip.Spec.Namespace
	if rest, ok := strings.CutPrefix(ip.Name, base+"."); ok && rest != "" {
		return rest
	}
	return annotations.DefaultProvider
}

// servesProvider reports whether an annotation request is for the
// interface of provider p.
func servesProvider(req annotations.Request, p string) bool {
	if req.Provider == p {
		return true
	}
	for _, q := range annotations.SubnetProviders(req.Provider, req.Interface) {
		if q == p {
			return true
		}
	}
	return false
}

func hasControllerFinalizer(ip *kubeovnv1.IP) bool {
	for _, f := range ip.Finalizers {
		if f == controllerFinalizer || f == deprecatedControllerFinalizer {
			return true
		}
	}
	return false
}

// releaseNote says what deleting the IP object really does in Kube-OVN
// v1.16.2.
func releaseNote(ip *kubeovnv1.IP) string {
	if hasControllerFinalizer(ip) {
		return "deleting it lets kube-ovn-controller delete its logical switch port, release the address in its IPAM and recount the subnet before it removes its finalizer (handleUpdateIP, pkg/controller/ip.go)"
	}
	return "it has no kube-ovn-controller finalizer, so deleting it only makes the controller recount the subnet; the controller's IPAM frees the address at its next restart (handleDelIP, pkg/controller/ip.go)"
}

func ownerAge(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	case d >= time.Minute:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

// checkOwners sorts every IP object into owned (its pod, node or subnet
// exists: not reported), kept on purpose (Info, with the reason),
// suspicious-kept (Warning: kept, but the reason looks gone) and zombie
// (Warning: nothing owns it). A zombie in a subnet the subnet table calls
// critical is Critical and names the usage finding: its address is one the
// subnet is short of.
//
// Plain pods' zombies matter beyond the address they hold: when
// kube-ovn-controller restarts it rebuilds its IPAM from pods and from
// StatefulSet and VM IP objects only (InitIPAM, pkg/controller/init.go), so
// a zombie's address can be handed to a new pod while the zombie still
// names it, the usual source of a duplicate-address finding
// (kube-ovn#4304, #1809).
func checkOwners(x *index, opts *Options, r *Report) {
	o := newOwners(x, opts.Now)
	critical, usage := criticalSubnets(r)
	for i := range x.s.IPs {
		ip := &x.s.IPs[i]
		v := o.classify(ip)
		if v.class == classOwned || v.class == classSkipped {
			continue
		}
		subnet := ip.Spec.Subnet
		held := ipHeldText(ip)
		switch v.class {
		case classKept:
			r.Findings = append(r.Findings, Finding{
				Check: CheckKept, Severity: Info, Subnet: subnet,
				Message: fmt.Sprintf("IP object %s holds %s in subnet %s, kept on purpose: %s", ip.Name, held, subnet, v.reason),
				Objects: []ObjectRef{RefIP(ip)},
			})
		case classSuspicious:
			ref := RefIP(ip)
			r.Findings = append(r.Findings, Finding{
				Check: CheckSuspiciousKept, Severity: Warning, Subnet: subnet,
				Message: fmt.Sprintf("IP object %s holds %s in subnet %s: %s; %s", ip.Name, held, subnet, v.reason, releaseNote(ip)),
				Objects: []ObjectRef{ref},
				Fix:     []string{DeleteCommand(ref)},
				Hint:    v.hint,
			})
		case classZombie:
			ref := RefIP(ip)
			f := Finding{
				Check: CheckZombie, Severity: Warning, Subnet: subnet,
				Objects: []ObjectRef{ref},
				Hint:    v.hint,
			}
			if ip.DeletionTimestamp != nil {
				f.Message = fmt.Sprintf("IP object %s holds %s in subnet %s: %s", ip.Name, held, subnet, v.reason)
			} else {
				f.Message = fmt.Sprintf("IP object %s holds %s in subnet %s, but %s; %s", ip.Name, held, subnet, v.reason, releaseNote(ip))
				if v.podGone {
					f.Message += "; meanwhile a restarted kube-ovn-controller rebuilds its IPAM without this object (InitIPAM, pkg/controller/init.go) and can give the address to a new pod before its start-up GC deletes the object (or ever, with GC off)"
				}
				f.Fix = []string{DeleteCommand(ref)}
			}
			if critical[subnet] {
				f.Severity = Critical
				f.Message += "; the subnet is short of addresses"
				if id := usage[subnet]; id != "" {
					f.Related = []string{id}
				}
			}
			r.Findings = append(r.Findings, f)
		}
	}
}

// criticalSubnets returns the subnets the subnet table (built by the
// earlier checkSubnets) calls critical, and the IDs of their usage
// findings.
func criticalSubnets(r *Report) (critical map[string]bool, usage map[string]string) {
	critical = map[string]bool{}
	for _, row := range r.Subnets {
		if row.State == string(Critical) {
			critical[row.Name] = true
		}
	}
	usage = map[string]string{}
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Check == CheckSubnetUsage && critical[f.Subnet] {
			id := f.ID
			if id == "" {
				id = findingID(f)
			}
			usage[f.Subnet] = id
		}
	}
	return critical, usage
}

// ipHeldText lists the addresses an IP object holds in its own subnet.
func ipHeldText(ip *kubeovnv1.IP) string {
	var b strings.Builder
	n := 0
	for a := range inventory.IPAddrSeq(&ip.Spec) {
		if a.Subnet != ip.Spec.Subnet {
			continue
		}
		if n == 4 {
			b.WriteString(" …")
			break
		}
		if n > 0 {
			b.WriteString(",")
		}
		b.WriteString(a.Addr.String())
		n++
	}
	if n == 0 {
		return "no address"
	}
	return b.String()
}
