package diagnose

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"time"
	"unsafe"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// Options tune the checks. The zero value is not usable: start from
// DefaultOptions.
type Options struct {
	// Now is the time the state is judged at (pending time, latency).
	Now time.Time
	// WarnAvailable and CriticalAvailable are the available-address
	// thresholds of the subnet table, per family: at or below
	// WarnAvailable a subnet is in warning, at or below CriticalAvailable
	// critical (the runbook's healthy > 10, warning 6–10, critical <= 5).
	WarnAvailable, CriticalAvailable uint64
	// SlowAllocation and FailedAllocation are the allocation latency
	// thresholds (pod created → IP object created): above SlowAllocation a
	// warning, above FailedAllocation (or never) failing.
	SlowAllocation, FailedAllocation time.Duration
	// Judge, when set, judges a pod Kube-OVN has not allocated yet through
	// the shared admission pipeline: it returns the reasons the webhook
	// would refuse the pod now (none: it would admit it). The CLI and the
	// webhook set it; nil skips the pod-annotation-refused check.
	Judge func(ctx context.Context, pod *Pod) ([]string, error)
	// Ctx bounds Judge.
	Ctx context.Context
}

// DefaultOptions are the runbook's thresholds, judged at now.
func DefaultOptions(now time.Time) Options {
	return Options{
		Now:               now,
		WarnAvailable:     10,
		CriticalAvailable: 5,
		SlowAllocation:    2 * time.Second,
		FailedAllocation:  10 * time.Second,
		Ctx:               context.Background(),
	}
}

// check is one diagnosis step: it reads the index and appends findings (and
// table rows) to the report.
type check func(x *index, opts *Options, r *Report)

// stages run in this order, the checks of one stage at once (on as many
// cores), each into a report of its own, merged in the order listed: a
// check reads only the index and the findings of earlier stages (a stuck
// pod links to the exhausted subnet that explains it). The duplicate
// check also splits its own work among the cores; measureLatency walks the
// pods for the latency check beside the owner check, the longest of the
// stage before it.
var stages = [][]check{
	{
		checkSubnets,    // subnet.go: table, thresholds, stored status
		checkOverlaps,   // overlap.go
		checkDuplicates, // duplicate.go
	},
	{
		checkOwners,       // zombie.go: zombie, kept, suspicious-kept (reads the subnet table)
		checkReservations, // reservation.go
		measureLatency,    // latency.go: the walk over the pods checkLatency reports on
	},
	{checkPending}, // pending.go: stuck pods, refused annotations (links to all the above)
	{checkLatency}, // latency.go (links to stuck pods)
}

// Run diagnoses the state. It never fails: what cannot be judged is skipped
// with the reason in the report (Incomplete for unread state).
func Run(s *State, opts Options) *Report {
	if opts.Now.IsZero() {
		opts.Now = s.Time
	}
	if opts.Ctx == nil {
		opts.Ctx = context.Background()
	}
	r := &Report{ClusterID: s.ClusterID, Time: s.Time, Incomplete: append([]Gap(nil), s.Incomplete...)}
	x := newIndex(s)
	for _, stage := range stages {
		runStage(x, &opts, r, stage)
	}
	r.finish()
	return r
}

// runStage runs the checks of one stage at once and appends what each
// added to r, in the stage's order.
func runStage(x *index, opts *Options, r *Report, stage []check) {
	if len(stage) == 1 {
		stage[0](x, opts, r)
		return
	}
	parts := make([]Report, len(stage))
	var wg sync.WaitGroup
	for i, c := range stage {
		// Each sees r as it is; clipped, so that appending copies instead
		// of writing into r's spare capacity, which the others share.
		parts[i] = *r
		parts[i].Findings = slices.Clip(r.Findings)
		parts[i].Subnets = slices.Clip(r.Subnets)
		parts[i].Latency = slices.Clip(r.Latency)
		parts[i].Incomplete = slices.Clip(r.Incomplete)
		wg.Go(func() { c(x, opts, &parts[i]) })
	}
	wg.Wait()
	nf, ns, nl, ni := len(r.Findings), len(r.Subnets), len(r.Latency), len(r.Incomplete)
	for i := range parts {
		p := &parts[i]
		r.Findings = append(r.Findings, p.Findings[nf:]...)
		r.Subnets = append(r.Subnets, p.Subnets[ns:]...)
		r.Latency = append(r.Latency, p.Latency[nl:]...)
		r.Incomplete = append(r.Incomplete, p.Incomplete[ni:]...)
	}
}

// index is the state arranged for the checks: built once per Run, in time
// linear in the state.
type index struct {
	s       *State
	subnets map[string]*kubeovnv1.Subnet
	// ipsBySubnet are the IP objects naming a subnet (spec.subnet or an
	// attachSubnets entry), in state order.
	ipsBySubnet map[string][]*kubeovnv1.IP
	// pods by namespace/name; podDup is set when two pods of the state
	// have one (pods then holds the last).
	pods   map[objKey]*Pod
	podDup bool
	// ipPod is, for each IP object (by index in s.IPs), the pod pods holds
	// for its spec.namespace/podName, nil for none: one lookup each, on
	// every core, read by the owner and latency checks.
	ipPod []*Pod
	// podFirstIP is, for each pod (by index in s.Pods) that pods holds,
	// the index of the first IP object naming it, -1 for none; ipsByPod
	// the same for the names IP objects give that no pod has (a VM's, a
	// gone pod's). nextIP chains the others of each name in state order
	// (-1 ends). A million pods then cost no slice and no second map.
	podFirstIP []int32
	ipsByPod   map[objKey]int32
	nextIP     []int32
	// latency is measureLatency's walk, for checkLatency.
	latency *latencyScan
	// statefulSets and vms by namespace/name; nodes by name; namespaces by
	// name.
	statefulSets map[objKey]*StatefulSet
	vms          map[objKey]*Meta
	nodes        map[string]*Node
	namespaces   map[string]*Meta
	// eventsByPod are the IPAM events of a pod, by namespace/name.
	eventsByPod map[objKey][]*Event
}

// objKey names a namespaced object in the index's maps: two strings that
// are already there, so a million keys cost no allocation.
type objKey struct{ namespace, name string }

func key(namespace, name string) objKey { return objKey{namespace, name} }

// String is namespace/name.
func (k objKey) String() string { return k.namespace + "/" + k.name }

func newIndex(s *State) *index {
	x := &index{
		s:            s,
		subnets:      make(map[string]*kubeovnv1.Subnet, len(s.Subnets)),
		ipsBySubnet:  make(map[string][]*kubeovnv1.IP, len(s.Subnets)),
		pods:         make(map[objKey]*Pod, len(s.Pods)),
		ipsByPod:     map[objKey]int32{},
		statefulSets: make(map[objKey]*StatefulSet, len(s.StatefulSets)),
		vms:          make(map[objKey]*Meta, len(s.VirtualMachines)),
		nodes:        make(map[string]*Node, len(s.Nodes)),
		namespaces:   make(map[string]*Meta, len(s.Namespaces)),
		eventsByPod:  map[objKey][]*Event{},
	}
	// The IP objects are indexed beside the rest, by subnet and by pod at
	// once: maps of a million entries take a second apiece, and the rest
	// of the index does not read them.
	var wg sync.WaitGroup
	wg.Go(func() { x.indexIPsBySubnet() })
	for i := range s.Subnets {
		x.subnets[s.Subnets[i].Name] = &s.Subnets[i]
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		k := key(p.Namespace, p.Name)
		if _, ok := x.pods[k]; ok {
			x.podDup = true
		}
		x.pods[k] = p
	}
	wg.Go(func() { x.indexIPsByPod() })
	for i := range s.StatefulSets {
		st := &s.StatefulSets[i]
		x.statefulSets[key(st.Namespace, st.Name)] = st
	}
	for i := range s.VirtualMachines {
		vm := &s.VirtualMachines[i]
		x.vms[key(vm.Namespace, vm.Name)] = vm
	}
	for i := range s.Nodes {
		x.nodes[s.Nodes[i].Name] = &s.Nodes[i]
	}
	for i := range s.Namespaces {
		x.namespaces[s.Namespaces[i].Name] = &s.Namespaces[i]
	}
	for i := range s.Events {
		e := &s.Events[i]
		if e.Object.Kind == "Pod" || e.Object.Kind == "" {
			k := key(e.Object.Namespace, e.Object.Name)
			x.eventsByPod[k] = append(x.eventsByPod[k], e)
		}
	}
	wg.Wait()
	return x
}

// indexIPsBySubnet fills ipsBySubnet.
func (x *index) indexIPsBySubnet() {
	s := x.s
	for i := range s.IPs {
		ip := &s.IPs[i]
		if ip.Spec.Subnet != "" {
			x.ipsBySubnet[ip.Spec.Subnet] = append(x.ipsBySubnet[ip.Spec.Subnet], ip)
		}
		for i, a := range ip.Spec.AttachSubnets {
			// Once per subnet: an attachment listed twice is one object.
			if a != "" && a != ip.Spec.Subnet && !slices.Contains(ip.Spec.AttachSubnets[:i], a) {
				x.ipsBySubnet[a] = append(x.ipsBySubnet[a], ip)
			}
		}
	}
}

// indexIPsByPod fills ipPod, podFirstIP, ipsByPod and nextIP, once pods
// is built: the lookups of the IP objects' pods split among the cores
// (pods is only read), then the chains in one pass over arrays.
func (x *index) indexIPsByPod() {
	s := x.s
	x.ipPod = make([]*Pod, len(s.IPs))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(s.IPs)/4096))
	var wg sync.WaitGroup
	for w := range workers {
		from, to := len(s.IPs)*w/workers, len(s.IPs)*(w+1)/workers
		wg.Go(func() {
			for i := from; i < to; i++ {
				if sp := &s.IPs[i].Spec; sp.PodName != "" {
					x.ipPod[i] = x.pods[key(sp.Namespace, sp.PodName)]
				}
			}
		})
	}
	wg.Wait()
	x.podFirstIP = make([]int32, len(s.Pods))
	for i := range x.podFirstIP {
		x.podFirstIP[i] = -1
	}
	// Backwards, each in front of the later ones: the chains come out in
	// state order.
	x.nextIP = make([]int32, len(s.IPs))
	for i := len(s.IPs) - 1; i >= 0; i-- {
		x.nextIP[i] = -1
		if p := x.ipPod[i]; p != nil {
			j, _ := indexIn(s.Pods, p)
			x.nextIP[i] = x.podFirstIP[j]
			x.podFirstIP[j] = int32(i)
			continue
		}
		sp := &s.IPs[i].Spec
		if sp.PodName == "" {
			continue
		}
		k := key(sp.Namespace, sp.PodName)
		if next, ok := x.ipsByPod[k]; ok {
			x.nextIP[i] = next
		}
		x.ipsByPod[k] = int32(i)
	}
}

// firstIPOf returns the index of the first IP object naming pod
// namespace/name (-1 for none). p, when set, is that pod, from the state.
func (x *index) firstIPOf(namespace, name string, p *Pod) int32 {
	if p == nil || x.podDup {
		p = x.pods[key(namespace, name)]
	}
	if p != nil {
		if j, ok := indexIn(x.s.Pods, p); ok {
			return x.podFirstIP[j]
		}
	}
	if i, ok := x.ipsByPod[key(namespace, name)]; ok {
		return i
	}
	return -1
}

// podOfIP is the pod pods holds for an IP object's spec.namespace/podName,
// nil for none.
func (x *index) podOfIP(ip *kubeovnv1.IP) *Pod {
	if i, ok := indexIn(x.s.IPs, ip); ok && ip.Spec.PodName != "" {
		return x.ipPod[i]
	}
	return x.pods[key(ip.Spec.Namespace, ip.Spec.PodName)]
}

// indexIn returns the index in s of the element p points to, if it is
// one of s's.
func indexIn[T any](s []T, p *T) (int, bool) {
	if len(s) == 0 || p == nil {
		return 0, false
	}
	size := unsafe.Sizeof(s[0])
	base, at := uintptr(unsafe.Pointer(&s[0])), uintptr(unsafe.Pointer(p))
	if at < base || at-base >= uintptr(len(s))*size || (at-base)%size != 0 {
		return 0, false
	}
	return int((at - base) / size), true
}
