// Package plant plants, on a real API server, every broken IP-management
// state `kubectl ipam doctor` diagnoses, and beside them the shapes
// Kube-OVN keeps on purpose, with fixed names, so that a test (or a user of
// `make run PLANT=1`) can watch the doctor find each one and nothing else.
//
// Plant writes objects as kube-ovn-controller, kubelet and a user would
// have left them: it must run with ipamguard's webhook off (or bypassed),
// which would refuse some of them. Nothing runs afterwards to reconcile
// them on a bare control plane; under `make run` the simulated Kube-OVN
// (internal/simovn) only re-annotates the planted pods and records its own
// AcquireAddressFailed events on the two unallocated ones.
//
// # Time
//
// The API server stamps creationTimestamp itself, so every planted object
// is seconds old when Plant returns. The doctor leaves IP objects and pods
// younger than one minute alone (zombie-ip, kept-ip, suspicious-kept-ip:
// a half-made or half-gone pod; pod-stuck-creating: a sandbox retry), and
// pod-annotation-refused is a warning until the pod is a minute old.
// Expectation.Aged marks what is reported only past that grace: a test
// judges the live state at a later time (diagnose.Options.Now), a user
// runs the doctor a minute after planting.
package plant

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/ipam"
)

// Names of what Plant creates. Every namespaced object is in Namespace,
// every pod is on Node.
const (
	Namespace = "ipam-planted"
	Node      = "planted-node-1"
	// NodeIP is the node's InternalIP, outside every planted subnet.
	NodeIP = "172.31.0.10"
	// Vpc holds the two overlapping subnets.
	Vpc = "planted-vpc"

	// SubnetZombie holds a healthy pod's IP object and a zombie's.
	SubnetZombie = "planted-zombie"
	// SubnetDuplicate holds two live pods' IP objects on one address.
	SubnetDuplicate = "planted-dup"
	// SubnetPodIP holds a pod whose status.podIPs names another pod's
	// address.
	SubnetPodIP = "planted-podip"
	// SubnetStale has a status that disagrees with its IP objects.
	SubnetStale = "planted-stale"
	// SubnetImpossible has a status no subnet can have.
	SubnetImpossible = "planted-impossible"
	// SubnetFull has one allocatable address, taken: the stuck pod waits
	// for one.
	SubnetFull = "planted-full"
	// SubnetStatic is where the refused pod asks for an address outside it.
	SubnetStatic = "planted-static"
	// SubnetKept holds the IP objects kept on purpose (StatefulSet,
	// reserved, KubeVirt VM) and one kept past its reason.
	SubnetKept = "planted-kept"
	// SubnetOverlapA and SubnetOverlapB overlap in Vpc; B is created
	// after A, so it is the one the doctor names first.
	SubnetOverlapA = "planted-ovl-a"
	SubnetOverlapB = "planted-ovl-b"

	// Pods and other objects.
	PodWeb       = "web"       // healthy, in SubnetZombie
	ZombiePod    = "ghost"     // gone; its IP object is the zombie
	PodDupA      = "dup-a"     // holds DuplicateAddr first
	PodDupB      = "dup-b"     // got DuplicateAddr second: restarted by the fix
	PodHolder    = "holder"    // holds PodIPAddr through its IP object
	PodSquatter  = "squatter"  // its status.podIPs say PodIPAddr
	PodStale     = "stale-app" // healthy, in SubnetStale
	PodFull      = "full-0"    // holds SubnetFull's only address
	PodStuck     = "stuck"     // ContainerCreating: no address left
	PodStatic    = "static"    // asks for StaticAddr, outside SubnetStatic
	StatefulSet  = "db"        // replicas 2: keeps db-0 and db-1, not db-2
	VM           = "vm-1"      // a stopped KubeVirt VM: keeps its address
	ReservedName = "reserved-app"

	// Addresses.
	DuplicateAddr = "10.80.2.5"
	PodIPAddr     = "10.80.3.7"
	StaticAddr    = "10.80.8.9"
)

// Kube-OVN's annotation and label keys Plant writes.
const (
	annAllocated     = "ovn.kubernetes.io/allocated"
	annIPAddress     = "ovn.kubernetes.io/ip_address"
	annLogicalSwitch = "ovn.kubernetes.io/logical_switch"
	annCIDR          = "ovn.kubernetes.io/cidr"
	annGateway       = "ovn.kubernetes.io/gateway"
	labelSubnet      = "ovn.kubernetes.io/subnet"
	labelReserved    = "ovn.kubernetes.io/ip_reserved"
)

// Expectation is one finding the doctor must report about the planted
// state.
type Expectation struct {
	// ID is the finding's ID (diagnose.Finding.ID).
	ID string
	// Severity is the finding's severity once the planted objects are past
	// the doctor's one-minute grace.
	Severity diagnose.Severity
	// Fix is set when the finding prints commands that clear it.
	Fix bool
	// Aged is set when the doctor reports the finding only once the
	// objects are past its grace (or, for allocation-missing, past
	// --failed-allocation, 10 s).
	Aged bool
}

// Planted is what Plant created.
type Planted struct {
	// Time is when planting finished (the API server's clock may differ
	// by the skew between the two).
	Time time.Time
	// Subnets are the subnets Plant created, by name.
	Subnets []string
}

// Expect returns every finding the doctor must report about the planted
// state, and no other, sorted by ID. It holds for a cluster that held
// only SeedObjects before Plant.
func (Planted) Expect() []Expectation {
	ip := func(check, name string) string { return check + "/IP/" + name + "." + Namespace }
	pod := func(check, name string) string { return check + "/Pod/" + Namespace + "/" + name }
	sub := func(check, name string) string { return check + "/Subnet/" + name }
	out := []Expectation{
		{ID: sub(diagnose.CheckSubnetStatus, SubnetStale), Severity: diagnose.Warning, Fix: true},
		{ID: sub(diagnose.CheckSubnetStatus, SubnetImpossible), Severity: diagnose.Critical, Fix: true},
		{ID: sub(diagnose.CheckSubnetUsage, SubnetFull), Severity: diagnose.Critical},
		{ID: diagnose.CheckOverlap + "/Subnet/" + SubnetOverlapB + "/Subnet/" + SubnetOverlapA, Severity: diagnose.Critical},
		{ID: diagnose.CheckDuplicate + "/" + SubnetDuplicate + "/" + DuplicateAddr, Severity: diagnose.Critical, Fix: true},
		{ID: diagnose.CheckDuplicate + "/" + SubnetPodIP + "/" + PodIPAddr, Severity: diagnose.Critical, Fix: true},
		{ID: ip(diagnose.CheckZombie, ZombiePod), Severity: diagnose.Warning, Fix: true, Aged: true},
		{ID: ip(diagnose.CheckSuspiciousKept, StatefulSet+"-2"), Severity: diagnose.Warning, Fix: true, Aged: true},
		{ID: ip(diagnose.CheckKept, StatefulSet+"-0"), Severity: diagnose.Info, Aged: true},
		{ID: ip(diagnose.CheckKept, StatefulSet+"-1"), Severity: diagnose.Info, Aged: true},
		{ID: ip(diagnose.CheckKept, ReservedName), Severity: diagnose.Info, Aged: true},
		{ID: ip(diagnose.CheckKept, VM), Severity: diagnose.Info, Aged: true},
		{ID: pod(diagnose.CheckStuckPod, PodStuck), Severity: diagnose.Critical, Aged: true},
		{ID: pod(diagnose.CheckNoAllocation, PodStuck), Severity: diagnose.Critical, Aged: true},
		{ID: pod(diagnose.CheckRefusedAnnotation, PodStatic), Severity: diagnose.Critical},
	}
	slices.SortFunc(out, func(a, b Expectation) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// subnetPlan is one planted subnet.
type subnetPlan struct {
	name, cidr, gateway, vpc string
	exclude                  []string
}

var subnets = []subnetPlan{
	{name: SubnetZombie, cidr: "10.80.1.0/24", gateway: "10.80.1.1"},
	{name: SubnetDuplicate, cidr: "10.80.2.0/24", gateway: "10.80.2.1"},
	{name: SubnetPodIP, cidr: "10.80.3.0/24", gateway: "10.80.3.1"},
	{name: SubnetStale, cidr: "10.80.4.0/24", gateway: "10.80.4.1"},
	{name: SubnetImpossible, cidr: "10.80.5.0/28", gateway: "10.80.5.1"},
	// One allocatable address (.6): .1 is the gateway, .2–.5 excluded.
	{name: SubnetFull, cidr: "10.80.6.0/29", gateway: "10.80.6.1", exclude: []string{"10.80.6.2..10.80.6.5"}},
	{name: SubnetStatic, cidr: "10.80.7.0/24", gateway: "10.80.7.1"},
	{name: SubnetKept, cidr: "10.80.9.0/24", gateway: "10.80.9.1"},
	{name: SubnetOverlapA, cidr: "10.90.0.0/16", gateway: "10.90.0.1", vpc: Vpc},
	{name: SubnetOverlapB, cidr: "10.90.8.0/24", gateway: "10.90.8.1", vpc: Vpc},
}

// Options adjust what Plant writes.
type Options struct {
	// IPLabels are added to the IP objects of planted pods (not to the
	// zombie's, the kept ones' or the node's): `make run` marks them as
	// its simulated controller's own (internal/simovn's managed-by label),
	// so that it releases them when a fix deletes their pod, as
	// kube-ovn-controller would.
	IPLabels map[string]string
}

// planter creates objects in order and remembers what it needs later.
type planter struct {
	c    client.Client
	o    Options
	subs map[string]*kubeovnv1.Subnet
}

// Plant creates the planted state on the API server c talks to: the seed
// objects when missing (devenv.SeedObjects), KubeVirt's two CRDs when
// missing (metadata only, as the doctor reads them), then every object
// named in this package's constants. ipamguard's webhook must be off or
// bypassed. Plant fails on the first object it cannot create.
func Plant(ctx context.Context, c client.Client, o Options) (Planted, error) {
	p := &planter{c: c, o: o, subs: map[string]*kubeovnv1.Subnet{}}
	if err := p.plant(ctx); err != nil {
		return Planted{}, fmt.Errorf("plant the doctor's problems: %w", err)
	}
	out := Planted{Time: time.Now()}
	for _, s := range subnets {
		out.Subnets = append(out.Subnets, s.name)
	}
	return out, nil
}

func (p *planter) plant(ctx context.Context) error {
	for _, o := range devenv.SeedObjects() {
		if err := p.c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	if err := ensureKubeVirtCRDs(ctx, p.c); err != nil {
		return err
	}
	if err := p.create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}); err != nil {
		return err
	}
	if err := p.node(ctx); err != nil {
		return err
	}
	if err := p.create(ctx, &kubeovnv1.Vpc{ObjectMeta: metav1.ObjectMeta{Name: Vpc}}); err != nil {
		return err
	}
	for _, s := range subnets {
		sub := &kubeovnv1.Subnet{
			ObjectMeta: metav1.ObjectMeta{Name: s.name},
			Spec: kubeovnv1.SubnetSpec{CIDRBlock: s.cidr, Gateway: s.gateway, ExcludeIps: s.exclude, Vpc: s.vpc,
				Provider: "ovn", Protocol: kubeovnv1.ProtocolIPv4},
		}
		if err := p.create(ctx, sub); err != nil {
			return err
		}
		p.subs[s.name] = sub
	}

	// Healthy pods, each followed by the IP object Kube-OVN gives it.
	healthy := []struct{ pod, subnet, addr string }{
		{PodWeb, SubnetZombie, "10.80.1.2"},
		{PodDupA, SubnetDuplicate, DuplicateAddr},
		{PodDupB, SubnetDuplicate, DuplicateAddr}, // the duplicate
		{PodHolder, SubnetPodIP, PodIPAddr},
		{PodStale, SubnetStale, "10.80.4.2"},
		{PodFull, SubnetFull, "10.80.6.6"},
	}
	for _, h := range healthy {
		if err := p.runningPod(ctx, h.pod, h.subnet, h.addr, h.addr); err != nil {
			return err
		}
	}
	// A pod allocated 10.80.3.8 whose status says the holder's address,
	// as after a CNI that configured a stale address.
	if err := p.runningPod(ctx, PodSquatter, SubnetPodIP, "10.80.3.8", PodIPAddr); err != nil {
		return err
	}
	// The zombie: its pod is gone, nothing keeps it.
	if err := p.ip(ctx, ipObject(ZombiePod, SubnetZombie, "10.80.1.3", "")); err != nil {
		return err
	}
	if err := p.kept(ctx); err != nil {
		return err
	}
	if err := p.stuck(ctx); err != nil {
		return err
	}
	// A pod Kube-OVN has not allocated that asks for an address outside
	// its subnet: unscheduled, Pending.
	static := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: PodStatic, Namespace: Namespace, Annotations: map[string]string{
			annLogicalSwitch: SubnetStatic, annIPAddress: StaticAddr}},
		Spec: podSpec(""),
	}
	if err := p.create(ctx, static); err != nil {
		return err
	}
	return p.statuses(ctx)
}

// kept plants the shapes Kube-OVN keeps on purpose: a StatefulSet's keep-IP
// objects (two wanted, one beyond its replicas), a reserved IP object, a
// stopped KubeVirt VM's, and a node's join port.
func (p *planter) kept(ctx context.Context) error {
	labels := map[string]string{"app": StatefulSet}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: StatefulSet, Namespace: Namespace},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{annLogicalSwitch: SubnetKept}},
				Spec:       podSpec(""),
			},
		},
	}
	if err := p.create(ctx, sts); err != nil {
		return err
	}
	for i, addr := range []string{"10.80.9.10", "10.80.9.11", "10.80.9.12"} {
		if err := p.ip(ctx, ipObject(fmt.Sprintf("%s-%d", StatefulSet, i), SubnetKept, addr, kubeovnv1.PodTypeStatefulSet)); err != nil {
			return err
		}
	}
	reserved := ipObject(ReservedName, SubnetKept, "10.80.9.20", "")
	reserved.Labels[labelReserved] = "true"
	if err := p.ip(ctx, reserved); err != nil {
		return err
	}
	vm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
		"metadata": map[string]any{"name": VM, "namespace": Namespace},
		"spec":     map[string]any{"runStrategy": "Halted", "template": map[string]any{"spec": map[string]any{}}},
	}}
	if err := p.create(ctx, vm); err != nil {
		return err
	}
	if err := p.ip(ctx, ipObject(VM, SubnetKept, "10.80.9.30", kubeovnv1.PodTypeVirtualMachine)); err != nil {
		return err
	}
	// The node's port in the join subnet, as the controller names it.
	join := &kubeovnv1.IP{
		ObjectMeta: metav1.ObjectMeta{Name: "node-" + Node, Labels: map[string]string{labelSubnet: devenv.JoinSubnet}},
		Spec: kubeovnv1.IPSpec{PodName: Node, NodeName: Node, Subnet: devenv.JoinSubnet,
			IPAddress: "100.64.0.2", V4IPAddress: "100.64.0.2"},
	}
	return p.ip(ctx, join)
}

// stuck plants a pod in ContainerCreating in the full subnet, with the
// events Kube-OVN and kubelet record: the controller's AcquireAddressFailed
// carrying pkg/ipam's "NoAvailableAddress" (pkg/controller/pod.go,
// v1.16.2), and kubelet's FailedCreatePodSandBox relaying the CNI server's
// answer (pkg/daemon/handler.go).
func (p *planter) stuck(ctx context.Context) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: PodStuck, Namespace: Namespace, Annotations: map[string]string{annLogicalSwitch: SubnetFull}},
		Spec:       podSpec(Node),
	}
	if err := p.create(ctx, pod); err != nil {
		return err
	}
	pod.Status = corev1.PodStatus{
		Phase:      corev1.PodPending,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: pod.Spec.Containers[0].Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}},
	}
	if err := p.c.Status().Update(ctx, pod); err != nil {
		return fmt.Errorf("set the status of pod %s/%s: %w", Namespace, PodStuck, err)
	}
	now := metav1.Now()
	ref := corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: Namespace, Name: PodStuck, UID: pod.UID}
	events := []*corev1.Event{
		{
			ObjectMeta:     metav1.ObjectMeta{Name: PodStuck + ".acquire-address", Namespace: Namespace},
			InvolvedObject: ref, Type: corev1.EventTypeWarning, Reason: "AcquireAddressFailed",
			Message: "NoAvailableAddress", Count: 4, FirstTimestamp: now, LastTimestamp: now,
			Source: corev1.EventSource{Component: "kube-ovn-controller"},
		},
		{
			ObjectMeta:     metav1.ObjectMeta{Name: PodStuck + ".sandbox", Namespace: Namespace},
			InvolvedObject: ref, Type: corev1.EventTypeWarning, Reason: "FailedCreatePodSandBox",
			Message: `Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "0f3c9a": ` +
				`plugin type="kube-ovn" failed (add): RPC failed; request ip return 500 no address allocated to pod ` +
				Namespace + "/" + PodStuck + ` provider ovn, please see kube-ovn-controller logs to find errors`,
			Count: 4, FirstTimestamp: now, LastTimestamp: now,
			Source: corev1.EventSource{Component: "kubelet", Host: Node},
		},
	}
	for _, e := range events {
		if err := p.create(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// node plants the node the pods run on, with its InternalIP.
func (p *planter) node(ctx context.Context) error {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: Node}}
	if err := p.create(ctx, n); err != nil {
		return err
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: NodeIP}, {Type: corev1.NodeHostName, Address: Node}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
	if err := p.c.Status().Update(ctx, n); err != nil {
		return fmt.Errorf("set the status of node %s: %w", Node, err)
	}
	return nil
}

// runningPod plants a pod Kube-OVN allocated addr in subnet, then its IP
// object, then its Running status with podIP.
func (p *planter) runningPod(ctx context.Context, name, subnet, addr, podIP string) error {
	s := p.subs[subnet]
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Annotations: map[string]string{
			annAllocated: "true", annIPAddress: addr, annLogicalSwitch: subnet,
			annCIDR: s.Spec.CIDRBlock, annGateway: s.Spec.Gateway}},
		Spec: podSpec(Node),
	}
	if err := p.create(ctx, pod); err != nil {
		return err
	}
	ip := ipObject(name, subnet, addr, "")
	for k, v := range p.o.IPLabels {
		ip.Labels[k] = v
	}
	if err := p.ip(ctx, ip); err != nil {
		return err
	}
	pod.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		HostIP:     NodeIP, HostIPs: []corev1.HostIP{{IP: NodeIP}},
		PodIP: podIP, PodIPs: []corev1.PodIP{{IP: podIP}},
	}
	if err := p.c.Status().Update(ctx, pod); err != nil {
		return fmt.Errorf("set the status of pod %s/%s: %w", Namespace, name, err)
	}
	return nil
}

func podSpec(node string) corev1.PodSpec {
	return corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}}
}

// ipObject is the IP object Kube-OVN names "<pod>.<namespace>".
func ipObject(pod, subnet, addr, podType string) *kubeovnv1.IP {
	return &kubeovnv1.IP{
		ObjectMeta: metav1.ObjectMeta{Name: pod + "." + Namespace, Labels: map[string]string{labelSubnet: subnet}},
		Spec: kubeovnv1.IPSpec{PodName: pod, Namespace: Namespace, Subnet: subnet, NodeName: Node,
			IPAddress: addr, V4IPAddress: addr, PodType: podType},
	}
}

func (p *planter) ip(ctx context.Context, ip *kubeovnv1.IP) error { return p.create(ctx, ip) }

func (p *planter) create(ctx context.Context, o client.Object) error {
	if err := p.c.Create(ctx, o); err != nil {
		return fmt.Errorf("create %s %s: %w", kindOf(o), client.ObjectKeyFromObject(o), err)
	}
	return nil
}

func kindOf(o client.Object) string {
	if k := o.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", o), "*")
}

// statuses writes every subnet's status: what kube-ovn-controller would
// write (Recount), except the stale and the impossible one.
func (p *planter) statuses(ctx context.Context) error {
	names := []string{devenv.JoinSubnet}
	for _, s := range subnets {
		names = append(names, s.name)
	}
	for _, name := range names {
		var set func(*kubeovnv1.SubnetStatus)
		switch name {
		case SubnetStale:
			// Three more in use than its one IP object, as after lost
			// delete events: consistent, only out of date.
			set = func(st *kubeovnv1.SubnetStatus) {
				st.V4UsingIPs, st.V4AvailableIPs = 4, 249
				st.V4UsingIPRange, st.V4AvailableIPRange = "10.80.4.2-10.80.4.5", "10.80.4.6-10.80.4.254"
			}
		case SubnetImpossible:
			// More in use than the /28 has addresses, with an empty
			// using range (kube-ovn#5269, #4747).
			set = func(st *kubeovnv1.SubnetStatus) {
				st.V4UsingIPs, st.V4AvailableIPs = 40, 0
				st.V4UsingIPRange, st.V4AvailableIPRange = "", ""
			}
		}
		if err := Recount(ctx, p.c, name, set); err != nil {
			return err
		}
	}
	return nil
}

// Recount writes the status of subnet name as kube-ovn-controller v1.16.2
// computes it after an IP object of the subnet is added or deleted
// (pkg/controller/subnet_status.go calcSubnetStatusIP): usingIPs counts
// the IP objects of the subnet not in a non-gateway excludeIps entry,
// availableIPs the block's addresses less the excluded ones and usingIPs,
// and the range fields list the addresses in use and those left. Only
// IPv4 blocks are counted (Plant plants no IPv6). set, when not nil,
// changes the status before it is written. Tests call it to stand in for
// the controller after a fix deletes IP objects.
func Recount(ctx context.Context, c client.Client, name string, set func(*kubeovnv1.SubnetStatus)) error {
	var sub kubeovnv1.Subnet
	if err := c.Get(ctx, client.ObjectKey{Name: name}, &sub); err != nil {
		return fmt.Errorf("get subnet %s: %w", name, err)
	}
	var ips kubeovnv1.IPList
	if err := c.List(ctx, &ips); err != nil {
		return fmt.Errorf("list IP objects: %w", err)
	}
	sub.Status = subnetStatus(&sub, ips.Items)
	if set != nil {
		set(&sub.Status)
	}
	if err := c.Status().Update(ctx, &sub); err != nil {
		return fmt.Errorf("write the status of subnet %s: %w", name, err)
	}
	return nil
}

// subnetStatus computes an IPv4 subnet's status from the IP objects.
func subnetStatus(sub *kubeovnv1.Subnet, ips []kubeovnv1.IP) kubeovnv1.SubnetStatus {
	st := sub.Status
	spec := ipam.NewSubnet(sub.Spec.CIDRBlock, sub.Spec.Gateway, sub.Spec.ExcludeIps)
	block, ok := spec.Block(ipam.IPv4)
	if !ok {
		return st
	}
	gateways := strings.Split(sub.Spec.Gateway, ",")
	var noGW []string
	for _, e := range sub.Spec.ExcludeIps {
		if !slices.Contains(gateways, e) {
			noGW = append(noGW, e)
		}
	}
	excludedNoGW := ipam.NewSubnet(sub.Spec.CIDRBlock, "", noGW).Exclude
	using := 0
	used := map[netip.Addr]bool{}
	for i := range ips {
		ip := &ips[i]
		if ip.Spec.Subnet != sub.Name {
			continue
		}
		a, err := netip.ParseAddr(ip.Spec.V4IPAddress)
		if err != nil || !excludedNoGW.Contains(a) {
			using++
		}
		if err == nil {
			if ok, _ := spec.Allocatable(a); ok {
				used[a] = true
			}
		}
	}
	available := int64(ipam.Capacity(block)) - int64(spec.Exclude.CountIn(block)) - int64(using)
	st.V4UsingIPs, st.V4AvailableIPs = kubeovnv1.Count(using), kubeovnv1.Count(max(available, 0))
	var usingR, availR ranges
	all := ipam.Allocatable(block)
	for a := all.From(); ; a = a.Next() {
		switch {
		case used[a]:
			usingR.add(a)
		case !spec.Exclude.Contains(a):
			availR.add(a)
		}
		if a == all.To() {
			break // the last allocatable address
		}
	}
	st.V4UsingIPRange, st.V4AvailableIPRange = usingR.String(), availR.String()
	return st
}

// ranges collects addresses in ascending order into "a-b,c" as Kube-OVN
// prints them.
type ranges struct {
	parts    []string
	from, to netip.Addr
}

func (r *ranges) add(a netip.Addr) {
	if r.to.IsValid() && r.to.Next() == a {
		r.to = a
		return
	}
	r.flush()
	r.from, r.to = a, a
}

func (r *ranges) flush() {
	if !r.from.IsValid() {
		return
	}
	if r.from == r.to {
		r.parts = append(r.parts, r.from.String())
	} else {
		r.parts = append(r.parts, r.from.String()+"-"+r.to.String())
	}
}

func (r *ranges) String() string {
	r.flush()
	r.from, r.to = netip.Addr{}, netip.Addr{}
	return strings.Join(r.parts, ",")
}
