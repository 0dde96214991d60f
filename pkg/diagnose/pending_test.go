package diagnose

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// pendNow is the time the pending tests judge at.
var pendNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func pendSubnet(name, cidr string) kubeovnv1.Subnet {
	var s kubeovnv1.Subnet
	s.Name, s.UID, s.ResourceVersion = name, types.UID("uid-"+name), "7"
	s.Spec.CIDRBlock = cidr
	return s
}

// pendPod is a pod of namespace app created age before pendNow, waiting
// in ContainerCreating on node n1, with annotations kv (key, value, …).
func pendPod(name string, age time.Duration, kv ...string) Pod {
	p := Pod{NodeName: "n1", Phase: "Pending", Waiting: "ContainerCreating"}
	p.Namespace, p.Name, p.UID, p.ResourceVersion = "app", name, "uid-"+name, "11"
	p.CreationTimestamp = metav1.NewTime(pendNow.Add(-age))
	if len(kv) > 0 {
		p.Annotations = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Annotations[kv[i]] = kv[i+1]
		}
	}
	return p
}

func pendEvent(name, pod, reason, msg string, last time.Duration) Event {
	e := Event{Reason: reason, Message: msg, Count: 3, Last: pendNow.Add(-last)}
	e.Namespace, e.Name, e.UID, e.ResourceVersion = "app", name, "uid-"+name, "21"
	e.Object = ObjectRef{APIVersion: "v1", Kind: "Pod", Namespace: "app", Name: pod, UID: "uid-" + pod}
	return e
}

func pendIP(name, ns, pod, subnet, addr string, created time.Time) kubeovnv1.IP {
	var ip kubeovnv1.IP
	ip.Name, ip.UID = name, types.UID("uid-"+name)
	ip.CreationTimestamp = metav1.NewTime(created)
	ip.Spec = kubeovnv1.IPSpec{Namespace: ns, PodName: pod, Subnet: subnet, IPAddress: addr, V4IPAddress: addr}
	return ip
}

func pendOptions() *Options {
	o := DefaultOptions(pendNow)
	return &o
}

// runPending runs checkPending over s after the findings pre (standing in
// for the earlier checks), and finishes the report.
func runPending(s *State, opts *Options, pre ...Finding) *Report {
	r := &Report{Findings: append([]Finding(nil), pre...)}
	checkPending(newIndex(s), opts, r)
	r.finish()
	return r
}

func pendFind(r *Report, check, pod string) *Finding {
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Check == check && len(f.Objects) > 0 && f.Objects[0].Kind == "Pod" && f.Objects[0].Name == pod {
			return f
		}
	}
	return nil
}

func TestStuckClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		reason, msg string
		class       ipamClass
		ours        bool
	}{
		// Kube-OVN v1.16.2's controller (pkg/controller/pod.go) with
		// pkg/ipam's errors.
		{"AcquireAddressFailed", "NoAvailableAddress", classNoAddress, true},
		{"AcquireAddressFailed", "AddressConflict", classConflict, true},
		{"AcquireAddressFailed", "AddressOutOfRange", classOutOfRange, true},
		{"AcquireAddressFailed", `ippools.kubeovn.io "pool-a" not found`, classOther, true},
		{"ValidatePodNetworkFailed", "10.16.0.300 is not a valid ovn.kubernetes.io/ip_address", classOther, true},
		{"ValidatePodNetworkFailed", "10.16.0.0 is the network number ip in cidr 10.16.0.0/16", classOutOfRange, true},
		// kubelet relaying the CNI server (pkg/daemon/handler.go,
		// pkg/request/cniserver.go, cmd/cni).
		{"FailedCreatePodSandBox", `Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "abc": plugin type="kube-ovn" failed (add): RPC failed; request ip return 500 no address allocated to pod app/web provider ovn, please see kube-ovn-controller logs to find errors`, classOther, true},
		{"FailedCreatePodSandBox", `... request ip return 500 configure nic eth0 for pod web/app failed: IP address 10.16.0.9 has already been used by host with MAC 00:00:00:aa:bb:cc`, classDuplicate, true},
		{"FailedCreatePodSandBox", `failed to setup network for sandbox "abc": plugin type="kube-ovn" failed (add): RPC failed; context deadline exceeded`, "", false},
		{"FailedCreatePodSandBox", `rpc error: code = ResourceExhausted desc = grpc: received message larger than max`, "", false},
		// ipamguard's simulated controller.
		{"AcquireAddressFailed", "no available IP in subnet small (10.200.0.0/28)", classNoAddress, true},
		{"AcquireAddressFailed", "address 10.0.0.5 in subnet s1 is already held by pod app/x", classConflict, true},
		{"AcquireAddressFailed", "address 10.9.0.5 is outside subnet s1", classOutOfRange, true},
		{"AcquireAddressFailed", "create IP object web.app: admission webhook denied the request", classIPObject, true},
		{"AcquireAddressFailed", "IP object web.app belongs to pod other/web", classIPObject, true},
		{"Scheduled", "Successfully assigned app/web to n1", "", false},
	}
	for _, c := range cases {
		class, ours := classifyEvent(c.reason, c.msg)
		if class != c.class || ours != c.ours {
			t.Errorf("classifyEvent(%q, %q) = %q, %v; want %q, %v", c.reason, c.msg, class, ours, c.class, c.ours)
		}
	}
}

func TestStuckPodLinkedToExhaustedSubnet(t *testing.T) {
	t.Parallel()
	sn := pendSubnet("s1", "10.0.0.0/28")
	s := &State{
		Subnets: []kubeovnv1.Subnet{sn},
		Pods:    []Pod{pendPod("web", 5*time.Minute, "ovn.kubernetes.io/logical_switch", "s1")},
		Events: []Event{
			// Newer, but generic: the controller's reason says more.
			pendEvent("e-cni", "web", "FailedCreatePodSandBox", "plugin type=\"kube-ovn\" failed (add): RPC failed; request ip return 500 no address allocated to pod app/web provider ovn", 10*time.Second),
			pendEvent("e-old", "web", "AcquireAddressFailed", "NoAvailableAddress", 4*time.Minute),
			pendEvent("e-sched", "web", "Scheduled", "Successfully assigned app/web to n1", 5*time.Minute),
		},
	}
	usage := Finding{Check: CheckSubnetUsage, Severity: Critical, Subnet: "s1", Objects: []ObjectRef{RefSubnet(&sn)}, Message: "s1 has 0 available"}
	r := runPending(s, pendOptions(), usage)
	f := pendFind(r, CheckStuckPod, "web")
	if f == nil {
		t.Fatalf("no stuck-pod finding: %+v", r.Findings)
	}
	if f.Severity != Critical || f.Subnet != "s1" {
		t.Errorf("severity %s subnet %q; want critical s1", f.Severity, f.Subnet)
	}
	if len(f.Objects) != 2 || f.Objects[0].UID != "uid-web" || f.Objects[1].Kind != "Event" || f.Objects[1].Name != "e-old" {
		t.Errorf("objects %+v; want the pod then event e-old", f.Objects)
	}
	if !strings.Contains(f.Message, "no-address") || !strings.Contains(f.Message, "NoAvailableAddress") || !strings.Contains(f.Message, "5m0s") {
		t.Errorf("message %q lacks the class, the event text or the wait", f.Message)
	}
	if want := []string{"subnet-usage/Subnet/s1"}; !slices.Equal(f.Related, want) {
		t.Errorf("related %v; want %v", f.Related, want)
	}
	if f.Hint == "" || f.ID != "pod-stuck-creating/Pod/app/web" {
		t.Errorf("hint %q id %q", f.Hint, f.ID)
	}
	if n := len(r.Findings); n != 2 {
		t.Errorf("%d findings; want the usage and the stuck pod", n)
	}
}

func TestStuckPodNotStuck(t *testing.T) {
	t.Parallel()
	noAddr := func(pod string) Event {
		return pendEvent("e-"+pod, pod, "AcquireAddressFailed", "NoAvailableAddress", time.Second)
	}
	running := pendPod("running", time.Hour)
	running.Phase, running.Waiting = "Running", ""
	hostNet := pendPod("hostnet", time.Hour)
	hostNet.HostNetwork = true
	deleting := pendPod("deleting", time.Hour)
	deleting.DeletionTimestamp = &metav1.Time{Time: pendNow}
	unscheduled := pendPod("unscheduled", time.Hour)
	unscheduled.NodeName, unscheduled.Waiting = "", ""
	earlier := pendPod("recreated", time.Hour)
	earlierEv := noAddr("recreated")
	earlierEv.Object.UID = "uid-of-an-earlier-pod"
	// An event without the pod's UID, last seen before the pod was
	// created, is about an earlier pod of that name.
	before := pendPod("before", time.Hour)
	beforeEv := pendEvent("e-before", "before", "AcquireAddressFailed", "NoAvailableAddress", 2*time.Hour)
	beforeEv.Object.UID = ""
	s := &State{
		Pods: []Pod{
			pendPod("young", 30*time.Second), running, hostNet, deleting, unscheduled, earlier, before,
			pendPod("timeout", time.Hour), pendPod("quiet", time.Hour),
		},
		Events: []Event{
			noAddr("young"), noAddr("running"), noAddr("hostnet"), noAddr("deleting"), noAddr("unscheduled"), earlierEv, beforeEv,
			pendEvent("e-timeout", "timeout", "FailedCreatePodSandBox", "RPC failed; context deadline exceeded", time.Second),
		},
	}
	r := runPending(s, pendOptions())
	if len(r.Findings) != 0 {
		t.Errorf("findings for pods that are not stuck on IPAM: %+v", r.Findings)
	}
}

func TestStuckPodPendingOnNode(t *testing.T) {
	t.Parallel()
	p := pendPod("web", 2*time.Minute)
	p.Waiting = "" // Pending on a node, no container status yet
	long := strings.Repeat("x", 2000)
	s := &State{Pods: []Pod{p}, Events: []Event{pendEvent("e1", "web", "AcquireAddressFailed", "AddressOutOfRange "+long, time.Second)}}
	r := runPending(s, pendOptions())
	f := pendFind(r, CheckStuckPod, "web")
	if f == nil {
		t.Fatal("pending pod on a node with an IPAM event is not reported")
	}
	if !strings.Contains(f.Message, "out-of-range") || !strings.Contains(f.Message, "Pending on node n1") {
		t.Errorf("message %q", f.Message)
	}
	if len(f.Message) > 600 {
		t.Errorf("message of %d bytes: the event text is not bounded", len(f.Message))
	}
}

func TestStuckPodConflictLinksDuplicateAndOverlap(t *testing.T) {
	t.Parallel()
	s1, s2 := pendSubnet("s1", "10.0.0.0/24"), pendSubnet("s2", "10.0.0.0/25")
	ip := pendIP("a.app", "app", "a", "s1", "10.0.0.5", pendNow.Add(-time.Hour))
	s := &State{
		Subnets: []kubeovnv1.Subnet{s1, s2},
		Pods: []Pod{pendPod("db", 3*time.Minute,
			"ovn.kubernetes.io/logical_switch", "s1", "ovn.kubernetes.io/ip_address", "10.0.0.5")},
		Events: []Event{pendEvent("e1", "db", "AcquireAddressFailed", "AddressConflict", time.Second)},
	}
	pre := []Finding{
		{Check: CheckDuplicate, Severity: Critical, Subnet: "s1", Message: "10.0.0.5 is held twice in subnet s1", Objects: []ObjectRef{RefIP(&ip)},
			ID: "duplicate-address/s1/10.0.0.5"},
		{Check: CheckDuplicate, Severity: Critical, Subnet: "s1", Message: "10.0.0.77 is held twice in subnet s1", Objects: []ObjectRef{{APIVersion: "kubeovn.io/v1", Kind: "IP", Name: "other"}}},
		{Check: CheckOverlap, Severity: Critical, Subnet: "s2", Message: "s2 overlaps s1", Objects: []ObjectRef{RefSubnet(&s2), RefSubnet(&s1)}},
		{Check: CheckSubnetUsage, Severity: Warning, Subnet: "s1", Message: "low"},
	}
	r := runPending(s, pendOptions(), pre...)
	f := pendFind(r, CheckStuckPod, "db")
	if f == nil {
		t.Fatal("no stuck-pod finding")
	}
	want := []string{"duplicate-address/s1/10.0.0.5", "overlap/Subnet/s2"}
	if !slices.Equal(f.Related, want) {
		t.Errorf("related %v; want %v (the duplicate of its address and the overlap, not the usage)", f.Related, want)
	}
}

// fakeJudge refuses pods by name and counts the pods it judged.
type fakeJudge struct {
	refuse map[string][]string
	fail   map[string]bool
	judged []string
}

func (j *fakeJudge) judge(_ context.Context, p *Pod) ([]string, error) {
	j.judged = append(j.judged, p.Name)
	if j.fail[p.Name] {
		return nil, errors.New("pipeline could not read the pod")
	}
	return j.refuse[p.Name], nil
}

func TestRefusedAnnotation(t *testing.T) {
	t.Parallel()
	const ipAnn = "ovn.kubernetes.io/ip_address"
	ctrl := true
	owned := pendPod("owned", time.Hour, ipAnn, "10.0.0.9")
	owned.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "uid-db", Controller: &ctrl}}
	hostNet := pendPod("hostnet", time.Hour, ipAnn, "10.0.0.9")
	hostNet.HostNetwork = true
	deleting := pendPod("deleting", time.Hour, ipAnn, "10.0.0.9")
	deleting.DeletionTimestamp = &metav1.Time{Time: pendNow}
	done := pendPod("done", time.Hour, ipAnn, "10.0.0.9")
	done.Phase = "Succeeded"
	vmPod := pendPod("virt-launcher-vm1-abcde", time.Hour, ipAnn, "10.0.0.9")
	vmPod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachineInstance", Name: "vm1", Controller: &ctrl}}
	s := &State{
		Pods: []Pod{
			pendPod("bare", time.Hour, ipAnn, "10.9.9.9"),
			owned,
			pendPod("young", 10*time.Second, "ovn.kubernetes.io/ip_pool", "10.0.0.1,10.0.0.2"),
			pendPod("admitted", time.Hour, ipAnn, "10.0.0.8"),
			pendPod("mac", time.Hour, "ovn.kubernetes.io/mac_address", "00:00:00:00:00:01"),
			pendPod("attach", time.Hour, "net1.app.ovn.kubernetes.io/ip_address", "10.1.0.4"),
			pendPod("allocated", time.Hour, ipAnn, "10.0.0.9", "ovn.kubernetes.io/allocated", "true"),
			pendPod("has-ip", time.Hour, ipAnn, "10.0.0.9"),
			pendPod("plain", time.Hour),
			hostNet, deleting, done, vmPod,
		},
		IPs: []kubeovnv1.IP{
			pendIP("has-ip.app", "app", "has-ip", "s1", "10.0.0.9", pendNow.Add(-time.Hour)),
			pendIP("vm1.app", "app", "vm1", "s1", "10.0.0.9", pendNow.Add(-48*time.Hour)),
		},
	}
	j := &fakeJudge{refuse: map[string][]string{
		"bare":  {"metadata.annotations[ovn.kubernetes.io/ip_address]: Invalid value: \"10.9.9.9\": outside subnet [pod-ip-out-of-range]"},
		"owned": {"taken [pod-ip-taken]"},
		"young": {"r1", "r2", "r3", "r4", "r5", "r6", "r7"},
	}}
	opts := pendOptions()
	opts.Judge = j.judge
	r := runPending(s, opts)

	wantJudged := []string{"bare", "owned", "young", "admitted", "mac", "attach"}
	if !slices.Equal(j.judged, wantJudged) {
		t.Errorf("judged %v; want %v (allocated pods, pods with IP objects, host-network, deleted, finished and plain pods are not judged)", j.judged, wantJudged)
	}
	if n := len(r.Findings); n != 3 {
		t.Errorf("%d findings; want 3: %+v", n, r.Findings)
	}
	bare := pendFind(r, CheckRefusedAnnotation, "bare")
	if bare == nil || bare.Severity != Critical || !strings.Contains(bare.Message, "pod-ip-out-of-range") || !strings.Contains(bare.Hint, "no controller") {
		t.Errorf("bare pod: %+v", bare)
	}
	o := pendFind(r, CheckRefusedAnnotation, "owned")
	if o == nil || len(o.Objects) != 2 || o.Objects[1].Kind != "StatefulSet" || o.Objects[1].Name != "db" || !strings.Contains(o.Hint, "StatefulSet db") {
		t.Errorf("owned pod: %+v", o)
	}
	y := pendFind(r, CheckRefusedAnnotation, "young")
	if y == nil || y.Severity != Warning {
		t.Fatalf("young pod: %+v; want a warning (Kube-OVN may still allocate it)", y)
	}
	if !strings.Contains(y.Message, "r5") || strings.Contains(y.Message, "r6") || !strings.Contains(y.Message, "and 2 more") {
		t.Errorf("young pod message %q: want 5 reasons and the count of the rest", y.Message)
	}
	if len(r.Incomplete) != 0 {
		t.Errorf("incomplete %+v", r.Incomplete)
	}
}

func TestRefusedAnnotationJudgeUnsetOrFailing(t *testing.T) {
	t.Parallel()
	s := &State{Pods: []Pod{
		pendPod("a", time.Hour, "ovn.kubernetes.io/ip_address", "10.0.0.9"),
		pendPod("b", time.Hour, "ovn.kubernetes.io/ip_address", "10.0.0.10"),
	}}
	if r := runPending(s, pendOptions()); len(r.Findings) != 0 || len(r.Incomplete) != 0 {
		t.Errorf("nil Judge: findings %+v incomplete %+v", r.Findings, r.Incomplete)
	}

	j := &fakeJudge{fail: map[string]bool{"a": true}, refuse: map[string][]string{"b": {"no"}}}
	opts := pendOptions()
	opts.Judge = j.judge
	r := runPending(s, opts)
	if len(r.Incomplete) != 1 || !strings.Contains(r.Incomplete[0].Reason, "1 unallocated pods could not be judged") {
		t.Errorf("incomplete %+v; want one gap for the pod the judge failed on", r.Incomplete)
	}
	if pendFind(r, CheckRefusedAnnotation, "b") == nil {
		t.Error("a failing judgement stopped the others")
	}

	// The state could not list IP objects: every pod would look
	// unallocated, so nothing is judged.
	s.Incomplete = []Gap{{Resource: "ips.kubeovn.io", Reason: "forbidden"}}
	j = &fakeJudge{}
	opts.Judge = j.judge
	runPending(s, opts)
	if len(j.judged) != 0 {
		t.Errorf("judged %v without the IP objects", j.judged)
	}
}

func TestRefusedAndStuckAreLinked(t *testing.T) {
	t.Parallel()
	s := &State{
		Pods:   []Pod{pendPod("db", 10*time.Minute, "ovn.kubernetes.io/ip_address", "10.0.0.5")},
		Events: []Event{pendEvent("e1", "db", "AcquireAddressFailed", "AddressConflict", time.Second)},
	}
	j := &fakeJudge{refuse: map[string][]string{"db": {"held by pod app/a [pod-ip-taken]"}}}
	opts := pendOptions()
	opts.Judge = j.judge
	r := runPending(s, opts)
	stuck := pendFind(r, CheckStuckPod, "db")
	if stuck == nil || !slices.Contains(stuck.Related, "pod-annotation-refused/Pod/app/db") {
		t.Errorf("stuck pod %+v is not linked to the refusal that explains it", stuck)
	}
}

// TestPickEventClockSkew: an event without the pod's UID last seen a
// second before the pod's creation (the sender's clock behind the API
// server's) is still about the pod; one an hour older is not.
func TestPickEventClockSkew(t *testing.T) {
	t.Parallel()
	p := pendPod("web", time.Hour)
	skewed := pendEvent("e-skewed", "web", "AcquireAddressFailed", "NoAvailableAddress", time.Hour+time.Second)
	skewed.Object.UID = ""
	if se, ok := pickEvent(&p, []*Event{&skewed}); !ok || se.e != &skewed {
		t.Errorf("an event 1 s before the pod's creation is not picked: %+v %v", se, ok)
	}
	old := pendEvent("e-old", "web", "AcquireAddressFailed", "NoAvailableAddress", 2*time.Hour)
	old.Object.UID = ""
	if se, ok := pickEvent(&p, []*Event{&old}); ok {
		t.Errorf("an event an hour before the pod's creation is picked: %+v", se)
	}
}
