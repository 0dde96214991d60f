package diagnose

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// latPod is a running pod of namespace app on node n1 created age before
// pendNow.
func latPod(name string, age time.Duration, kv ...string) Pod {
	p := pendPod(name, age, kv...)
	p.Phase, p.Waiting = "Running", ""
	return p
}

// latAllocated adds a pod created age ago and its IP object in subnet,
// created after delay.
func latAllocated(s *State, name, subnet string, age, delay time.Duration) {
	p := latPod(name, age)
	s.Pods = append(s.Pods, p)
	s.IPs = append(s.IPs, pendIP(name+".app", "app", name, subnet, "10.0.0.1", p.CreationTimestamp.Add(delay)))
}

func runLatency(s *State, opts *Options, pre ...Finding) *Report {
	r := &Report{Findings: append([]Finding(nil), pre...)}
	checkLatency(newIndex(s), opts, r)
	r.finish()
	return r
}

func latRow(r *Report, subnet string) *LatencyRow {
	for i := range r.Latency {
		if r.Latency[i].Subnet == subnet {
			return &r.Latency[i]
		}
	}
	return nil
}

func TestLatencyPercentiles(t *testing.T) {
	t.Parallel()
	s := &State{Subnets: []kubeovnv1.Subnet{pendSubnet("fast", "10.0.0.0/24"), pendSubnet("slow", "10.1.0.0/24"), pendSubnet("failing", "10.2.0.0/24")}}
	// fast: 19 pods at 1 s and one at 30 s: p95 is the 19th value (1 s),
	// max 30 s.
	for i := range 19 {
		latAllocated(s, "f"+string(rune('a'+i)), "fast", time.Hour, time.Second)
	}
	latAllocated(s, "f-outlier", "fast", time.Hour, 30*time.Second)
	// slow: 1 s … 5 s: p50 3 s, p95 5 s (warning: above 2 s).
	for i := 1; i <= 5; i++ {
		latAllocated(s, "s"+string(rune('0'+i)), "slow", time.Hour, time.Duration(i)*time.Second)
	}
	// failing: one pod at 40 s (critical: above 10 s).
	latAllocated(s, "x1", "failing", time.Hour, 40*time.Second)

	r := runLatency(s, pendOptions())
	var names []string
	for _, row := range r.Latency {
		names = append(names, row.Subnet)
	}
	if want := []string{"failing", "fast", "slow"}; !slices.Equal(names, want) {
		t.Fatalf("rows %v; want %v", names, want)
	}
	if got, want := *latRow(r, "fast"), (LatencyRow{Subnet: "fast", Pods: 20, P50: time.Second, P95: time.Second, Max: 30 * time.Second}); got != want {
		t.Errorf("fast: %+v; want %+v", got, want)
	}
	if got, want := *latRow(r, "slow"), (LatencyRow{Subnet: "slow", Pods: 5, P50: 3 * time.Second, P95: 5 * time.Second, Max: 5 * time.Second}); got != want {
		t.Errorf("slow: %+v; want %+v", got, want)
	}
	sev := map[string]Severity{}
	for _, f := range r.Findings {
		if f.Check != CheckSlowAllocation {
			t.Errorf("unexpected finding %+v", f)
			continue
		}
		sev[f.Subnet] = f.Severity
		if len(f.Objects) != 1 || f.Objects[0].Kind != "Subnet" || f.Objects[0].Name != f.Subnet || f.Hint == "" {
			t.Errorf("finding %+v: want the subnet as object and a hint", f)
		}
	}
	if want := map[string]Severity{"slow": Warning, "failing": Critical}; len(sev) != 2 || sev["slow"] != want["slow"] || sev["failing"] != want["failing"] {
		t.Errorf("slow-allocation severities %v; want %v", sev, want)
	}
}

func TestLatencySkipsKeptAndOldPods(t *testing.T) {
	t.Parallel()
	s := &State{Subnets: []kubeovnv1.Subnet{pendSubnet("s1", "10.0.0.0/24")}}
	// A StatefulSet pod re-created today keeps an IP object from last week:
	// not an allocation.
	sts := latPod("db-0", time.Hour)
	s.Pods = append(s.Pods, sts)
	s.IPs = append(s.IPs, pendIP("db-0.app", "app", "db-0", "s1", "10.0.0.2", pendNow.Add(-7*24*time.Hour)))
	// A VM's launcher pod: the IP object carries the VM's name and
	// predates the pod.
	ctrl := true
	vm := latPod("virt-launcher-vm1-abcde", time.Hour)
	vm.OwnerReferences = []metav1.OwnerReference{{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachineInstance", Name: "vm1", Controller: &ctrl}}
	s.Pods = append(s.Pods, vm)
	s.IPs = append(s.IPs, pendIP("vm1.app", "app", "vm1", "s1", "10.0.0.3", pendNow.Add(-48*time.Hour)))
	// Allocated slowly, but months ago (a controller reinstall).
	latAllocated(s, "old", "s1", 90*24*time.Hour, time.Hour)
	// One fresh pod, 1 s, counted; its logical_switch names the subnet.
	latAllocated(s, "new", "other", time.Hour, time.Second)
	s.Pods[len(s.Pods)-1].Annotations = map[string]string{"ovn.kubernetes.io/logical_switch": "s1"}
	// Host-network pods get nothing.
	hn := latPod("hostnet", time.Hour)
	hn.HostNetwork = true
	s.Pods = append(s.Pods, hn)

	r := runLatency(s, pendOptions())
	if len(r.Latency) != 1 || r.Latency[0] != (LatencyRow{Subnet: "s1", Pods: 1, P50: time.Second, P95: time.Second, Max: time.Second}) {
		t.Errorf("rows %+v; want s1 with the one fresh allocation", r.Latency)
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings %+v; want none (kept IP objects are not missing allocations)", r.Findings)
	}
}

func TestLatencyMissing(t *testing.T) {
	t.Parallel()
	ctrl := true
	s := &State{Subnets: []kubeovnv1.Subnet{pendSubnet("s1", "10.0.0.0/24"), pendSubnet("s2", "10.1.0.0/24")}}
	s.Subnets[0].Spec.Default = true
	s.Namespaces = []Meta{{Name: "bound", Annotations: map[string]string{"ovn.kubernetes.io/logical_switch": "s2"}}}
	latAllocated(s, "ok", "s1", time.Hour, time.Second)
	stuck := pendPod("stuck", 3*time.Minute) // default subnet s1
	lost := latPod("lost", time.Hour)        // running with an address, IP object gone
	lost.PodIPs = []string{"10.0.0.44"}
	lost.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-1", Controller: &ctrl}}
	inNS := pendPod("in-ns", time.Hour)
	inNS.Namespace = "bound"
	young := pendPod("young", 5*time.Second)
	unscheduled := pendPod("unscheduled", time.Hour)
	unscheduled.NodeName = ""
	deleting := pendPod("deleting", time.Hour)
	deleting.DeletionTimestamp = &metav1.Time{Time: pendNow}
	done := latPod("done", time.Hour)
	done.Phase = "Succeeded"
	hn := pendPod("hostnet", time.Hour)
	hn.HostNetwork = true
	s.Pods = append(s.Pods, stuck, lost, inNS, young, unscheduled, deleting, done, hn)

	stuckF := Finding{Check: CheckStuckPod, Severity: Critical, Objects: []ObjectRef{RefPod(&stuck)}, Message: "stuck"}
	r := runLatency(s, pendOptions(), stuckF)

	if row := latRow(r, "s1"); row == nil || row.Pods != 1 || row.Missing != 2 {
		t.Errorf("s1 row %+v; want 1 pod and 2 missing", row)
	}
	if row := latRow(r, "s2"); row == nil || row.Pods != 0 || row.Missing != 1 || row.P95 != 0 {
		t.Errorf("s2 row %+v; want 1 missing, no latency", row)
	}
	missing := map[string]*Finding{}
	for i := range r.Findings {
		if f := &r.Findings[i]; f.Check == CheckNoAllocation {
			missing[f.Objects[0].Name] = f
		}
	}
	if len(missing) != 3 || missing["stuck"] == nil || missing["lost"] == nil || missing["in-ns"] == nil {
		t.Fatalf("missing-allocation findings for %v; want stuck, lost, in-ns", latKeys(missing))
	}
	if f := missing["stuck"]; f.Severity != Critical || f.Subnet != "s1" || !slices.Equal(f.Related, []string{"pod-stuck-creating/Pod/app/stuck"}) {
		t.Errorf("stuck: %+v; want critical in s1, related to its stuck-pod finding", f)
	}
	if f := missing["lost"]; !strings.Contains(f.Message, "no IP object") || len(f.Fix) != 1 || !strings.Contains(f.Fix[0], `"uid":"uid-lost"`) {
		t.Errorf("lost: %+v; want the lost IP object told and a precondition delete", f)
	}
	if f := missing["in-ns"]; f.Subnet != "s2" || len(f.Fix) != 0 || f.Hint == "" {
		t.Errorf("in-ns: %+v; want subnet s2 from the namespace, no fix, a hint", f)
	}

	// Without the IP objects nothing is missing for sure.
	s.Incomplete = []Gap{{Resource: "ips", Reason: "timeout"}}
	r = runLatency(s, pendOptions())
	for _, f := range r.Findings {
		if f.Check == CheckNoAllocation {
			t.Errorf("missing allocation reported without the IP objects: %+v", f)
		}
	}
}

func latKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestLatencyPercentileRank(t *testing.T) {
	t.Parallel()
	d := func(xs ...int) []time.Duration {
		out := make([]time.Duration, len(xs))
		for i, x := range xs {
			out[i] = time.Duration(x)
		}
		return out
	}
	cases := []struct {
		in       []time.Duration
		p        int
		want     time.Duration
		describe string
	}{
		{d(7), 50, 7, "one value"},
		{d(1, 2), 50, 1, "nearest rank rounds up the rank, not the value"},
		{d(1, 2, 3, 4), 95, 4, "p95 of 4 is the 4th"},
		{d(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 95, 19, "p95 of 20 is the 19th"},
	}
	for _, c := range cases {
		if got := nearestRank(c.in, c.p); got != c.want {
			t.Errorf("%s: nearestRank(%v, %d) = %v; want %v", c.describe, c.in, c.p, got, c.want)
		}
	}
}
