package diagnose

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// latencyWindow bounds the pods whose allocation latency counts: only pods
// created within it before Options.Now. Latency is about how Kube-OVN
// allocates now; a controller restart or reinstall months ago (whose IP
// objects were all re-created at once, far from their pods' creation)
// must not decide today's p95. A day holds the rollouts and restarts an
// operator still remembers. Pods that never got an address count whatever
// their age: they are broken now.
const latencyWindow = 24 * time.Hour

// latencyAcc gathers one subnet's latencies.
type latencyAcc struct {
	lat     []time.Duration
	missing int
}

// checkLatency measures, per subnet, pod creation → IP object creation
// over pods created within latencyWindow whose IP object was created for
// them (not re-used: a StatefulSet's or VM's IP object that predates the
// pod is kept, not allocated), and reports pods that never got an IP
// object. Both timestamps have the API server's one-second resolution.
func checkLatency(x *index, opts *Options, r *Report) {
	sc := x.latency
	if sc == nil {
		sc = scanLatency(x, opts)
	}
	explained := explainedPods(r.Findings)
	for _, m := range sc.missing {
		p := &x.s.Pods[m.pod]
		r.Findings = append(r.Findings, missingFinding(p, m.subnet, opts.Now.Sub(p.CreationTimestamp.Time), explained[key(p.Namespace, p.Name)]))
	}
	names := make([]string, 0, len(sc.by))
	for name := range sc.by {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		a := sc.by[name]
		row := LatencyRow{Subnet: name, Pods: len(a.lat), Missing: a.missing}
		if len(a.lat) > 0 {
			slices.Sort(a.lat)
			row.P50, row.P95, row.Max = nearestRank(a.lat, 50), nearestRank(a.lat, 95), a.lat[len(a.lat)-1]
			if f, ok := slowFinding(x, row, opts); ok {
				r.Findings = append(r.Findings, f)
			}
		}
		r.Latency = append(r.Latency, row)
	}
}

// latencyScan is what the latency check reads of every pod: per subnet
// the latencies and the count of pods without an IP object, and those
// pods. Measured ahead of the check (measureLatency) when Run can: the
// walk over a million pods then runs beside the owner check instead of
// after everything else.
type latencyScan struct {
	by      map[string]*latencyAcc
	missing []missingPod
}

// missingPod is a pod past FailedAllocation without an IP object (an
// index into the state's pods), with its subnet.
type missingPod struct {
	pod    int32
	subnet string
}

// measureLatency walks the pods for checkLatency into the index; it adds
// nothing to the report. It reads only the index, so it runs in any stage
// before checkLatency's.
func measureLatency(x *index, opts *Options, _ *Report) { x.latency = scanLatency(x, opts) }

func scanLatency(x *index, opts *Options) *latencyScan {
	c := newPendingCtx(x)
	sc := &latencyScan{by: map[string]*latencyAcc{}}
	acc := func(subnet string) *latencyAcc {
		a := sc.by[subnet]
		if a == nil {
			a = &latencyAcc{}
			sc.by[subnet] = a
		}
		return a
	}
	// Without the IP objects every pod would look unallocated.
	skipMissing := incompleteFor(x.s, "ips")
	pods := x.s.Pods
	for i := range pods {
		p := &pods[i]
		if p.HostNetwork || p.CreationTimestamp.IsZero() {
			continue
		}
		created := p.CreationTimestamp.Time
		if j := x.firstPodIP(p); j >= 0 {
			if opts.Now.Sub(created) > latencyWindow {
				continue
			}
			var first *kubeovnv1.IP
			for ; j >= 0; j = x.nextIP[j] {
				ip := &x.s.IPs[j]
				if t := ip.CreationTimestamp; !t.IsZero() && (first == nil || t.Before(&first.CreationTimestamp)) {
					first = ip
				}
			}
			if first == nil || first.CreationTimestamp.Time.Before(created) {
				continue
			}
			subnet := p.Annotations[logicalSwitchKey]
			if subnet == "" {
				subnet = first.Spec.Subnet
			}
			if subnet == "" {
				continue
			}
			a := acc(subnet)
			a.lat = append(a.lat, first.CreationTimestamp.Time.Sub(created))
			continue
		}
		if skipMissing || !podLive(p) || p.NodeName == "" || opts.Now.Sub(created) <= opts.FailedAllocation {
			continue
		}
		subnets := c.podSubnets(p)
		if len(subnets) == 0 {
			// Not in a Kube-OVN subnet as far as the state tells.
			continue
		}
		acc(subnets[0]).missing++
		sc.missing = append(sc.missing, missingPod{pod: int32(i), subnet: subnets[0]})
	}
	return sc
}

// nearestRank is the nearest-rank p-th percentile of sorted, non-empty
// values.
func nearestRank(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// slowFinding reports a subnet whose p95 is above the thresholds.
func slowFinding(x *index, row LatencyRow, opts *Options) (Finding, bool) {
	var sev Severity
	var limit time.Duration
	switch {
	case row.P95 > opts.FailedAllocation:
		sev, limit = Critical, opts.FailedAllocation
	case row.P95 > opts.SlowAllocation:
		sev, limit = Warning, opts.SlowAllocation
	default:
		return Finding{}, false
	}
	f := Finding{
		Check:    CheckSlowAllocation,
		Severity: sev,
		Subnet:   row.Subnet,
		Message: fmt.Sprintf("pods of subnet %s waited for their IP object: p95 %s above %s over %d pods created in the last %dh (p50 %s, max %s)",
			row.Subnet, row.P95, limit, row.Pods, int(latencyWindow.Hours()), row.P50, row.Max),
		Objects: []ObjectRef{},
		Hint: "Kube-OVN allocates in its controller: check kube-ovn-controller's restarts, CPU and logs (\"take N ms to handle add or update pod\"), " +
			"and the OVN northbound database's latency; after a controller restart, IPAM initialisation on a large cluster holds allocation for minutes",
	}
	if sn := x.subnets[row.Subnet]; sn != nil {
		f.Objects = append(f.Objects, RefSubnet(sn))
	}
	return f, true
}

// explainedPods maps pod keys to the stuck-pod and refused-annotation
// findings about them.
func explainedPods(fs []Finding) map[objKey][]string {
	out := map[objKey][]string{}
	for i := range fs {
		f := &fs[i]
		if (f.Check != CheckStuckPod && f.Check != CheckRefusedAnnotation) || len(f.Objects) == 0 || f.Objects[0].Kind != "Pod" {
			continue
		}
		k := key(f.Objects[0].Namespace, f.Objects[0].Name)
		out[k] = append(out[k], idOf(f))
	}
	for _, ids := range out {
		// Stuck first: it names the event that says why.
		slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(b, a) })
	}
	return out
}

// missingFinding reports a scheduled pod past FailedAllocation without an
// IP object.
func missingFinding(p *Pod, subnet string, waited time.Duration, related []string) Finding {
	f := Finding{
		Check:    CheckNoAllocation,
		Severity: Critical,
		Subnet:   subnet,
		Objects:  []ObjectRef{RefPod(p)},
		Related:  related,
	}
	waited = waited.Truncate(time.Second)
	switch {
	case readPodIPAM(p.Annotations).allocated || len(p.PodIPs) > 0:
		// Allocated once, but the IP object is gone: Kube-OVN rebuilds its
		// IPAM from IP objects when it restarts (pkg/controller/init.go),
		// so the address is free to be handed out again.
		f.Message = fmt.Sprintf("pod %s/%s (subnet %s, created %s ago) has an address but no IP object: after a controller restart Kube-OVN no longer knows the address is in use and can hand it to another pod",
			p.Namespace, p.Name, subnet, waited)
		if owner := podController(p); owner != nil {
			f.Fix = []string{DeleteCommand(RefPod(p))}
			f.Hint = "deleting the pod lets its " + owner.Kind + " recreate it, and Kube-OVN allocates the new pod an address with an IP object"
		} else {
			f.Hint = "the pod has no controller: recreate it (delete and create it again) so Kube-OVN allocates it an address with an IP object"
		}
	default:
		f.Message = fmt.Sprintf("pod %s/%s (subnet %s) was created %s ago and scheduled to node %s, and Kube-OVN has not allocated it an address",
			p.Namespace, p.Name, subnet, waited, p.NodeName)
		if len(related) > 0 {
			f.Hint = "the related findings say why"
		} else {
			f.Hint = "no event says why: check that kube-ovn-controller is running and read its logs for the pod; the pod's AcquireAddressFailed events name the cause"
		}
	}
	return f
}
