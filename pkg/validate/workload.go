package validate

import (
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
	"github.com/ipamguard/ipamguard/pkg/policy"
)

// Workload kinds the workload rules judge (apps/v1 and batch/v1).
const (
	KindDeployment  = "Deployment"
	KindReplicaSet  = "ReplicaSet"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
	KindJob         = "Job"
	KindCronJob     = "CronJob"
)

// WorkloadInput is what the workload rules read of a workload: its pod
// template's metadata and how many pods of it may run at once. The pod
// spec is never needed.
type WorkloadInput struct {
	// Kind is one of the Kind* constants.
	Kind      string
	Namespace string
	Name      string
	// Replicas is spec.replicas of a Deployment, ReplicaSet or
	// StatefulSet, spec.parallelism of a Job, or
	// spec.jobTemplate.spec.parallelism of a CronJob; nil is the API
	// default, 1. A DaemonSet has none.
	Replicas *int32
	// ConcurrencyPolicy is a CronJob's spec.concurrencyPolicy; "" is the
	// API default, Allow.
	ConcurrencyPolicy string
	// Labels and Annotations are the pod template's.
	Labels, Annotations map[string]string
	// StartOrdinal is a StatefulSet's spec.ordinals.start (0 when unset):
	// its pods are named start … start+replicas-1, and Kube-OVN indexes
	// ip_pool entries by the number in the pod's name
	// (pkg/controller/pod.go acquireStaticAddressHelper).
	StartOrdinal int32
}

// IsWorkloadKind reports whether the workload rules know kind.
func IsWorkloadKind(kind string) bool {
	switch kind {
	case KindDeployment, KindReplicaSet, KindStatefulSet, KindDaemonSet, KindJob, KindCronJob:
		return true
	}
	return false
}

// TemplateMetaPath returns the path of the pod template's metadata in a
// workload of the kind.
func TemplateMetaPath(kind string) *field.Path {
	if kind == KindCronJob {
		return field.NewPath("spec", "jobTemplate", "spec", "template", "metadata")
	}
	return field.NewPath("spec", "template", "metadata")
}

// WorkloadCreate judges a new workload: its template's annotations like a
// pod's (without the "taken" checks, which belong to the pods), a fixed
// ip_address shared by pods that run at once, and an ip_pool smaller than
// the replicas.
func WorkloadCreate(c Context, _, obj *WorkloadInput) Result {
	r, in := c.Inventory, *obj
	var fs findings
	pin := in.podInput()
	fs.addAll(PodTemplate(c, nil, &pin).Findings)
	checkSharedStaticIP(&fs, nil, in)
	checkPoolSize(&fs, r, nil, in)
	return Result{Findings: fs.result()}
}

// WorkloadUpdate judges a change to a workload. It is ratcheted: the
// template is judged again only when its Kube-OVN annotations changed, and
// the replica rules only report problems the change introduces, so an
// already-invalid workload still takes unrelated edits (and a rollout
// restart). A StatefulSet that runs pods may not change its fixed
// addresses at all.
func WorkloadUpdate(c Context, oldObj, obj *WorkloadInput) Result {
	r, old, in := c.Inventory, *oldObj, *obj
	var fs findings
	if !maps.Equal(kubeOVNAnnotations(old.Annotations), kubeOVNAnnotations(in.Annotations)) {
		pin := in.podInput()
		fs.addAll(PodTemplate(c, nil, &pin).Findings)
	}
	checkSharedStaticIP(&fs, &old, in)
	checkPoolSize(&fs, r, &old, in)
	if in.Kind == KindStatefulSet {
		checkStatefulSetIPChange(&fs, old, in)
	}
	return Result{Findings: fs.result()}
}

func (in WorkloadInput) podInput() PodInput {
	return PodInput{
		Namespace:   in.Namespace,
		Labels:      in.Labels,
		Annotations: in.Annotations,
		Ordinal:     -1,
		Meta:        TemplateMetaPath(in.Kind),
	}
}

func (in WorkloadInput) annPath(key string) *field.Path {
	return TemplateMetaPath(in.Kind).Child("annotations").Key(key)
}

// kubeOVNAnnotations keeps the annotations the pod rules read, so that
// other template annotations (kubectl.kubernetes.io/restartedAt, checksums)
// never count as a change.
func kubeOVNAnnotations(ann map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range ann {
		if _, ok := annotations.ParseKey(k); ok {
			out[k] = v
		}
	}
	return out
}

// unbounded stands for "no fixed number": a DaemonSet runs a pod per node,
// and a CronJob that allows overlapping runs may run any number of jobs.
const unbounded = math.MaxInt

// concurrency is how many pods of the workload may run at once, the field
// that says so with its value, the phrase naming that count in messages,
// and the kind's own fix.
type concurrency struct {
	n      int
	path   *field.Path
	value  any
	phrase string
	fix    string
}

func (in WorkloadInput) concurrency() concurrency {
	replicas := int32(1)
	if in.Replicas != nil {
		replicas = *in.Replicas
	}
	switch in.Kind {
	case KindDaemonSet:
		return concurrency{n: unbounded, phrase: "a DaemonSet runs one pod on every node", fix: "use ip_pool with one address per node"}
	case KindJob:
		return concurrency{n: int(replicas), path: field.NewPath("spec", "parallelism"), value: replicas,
			phrase: fmt.Sprintf("parallelism %d runs %d pods at once", replicas, replicas)}
	case KindCronJob:
		if in.ConcurrencyPolicy == "" || in.ConcurrencyPolicy == "Allow" {
			return concurrency{n: unbounded, path: field.NewPath("spec", "concurrencyPolicy"), value: "Allow",
				phrase: "concurrencyPolicy Allow (the default) lets runs overlap, each with its own pod",
				fix:    sharedIPFix + ", or set concurrencyPolicy: Forbid"}
		}
		return concurrency{n: int(replicas), path: field.NewPath("spec", "jobTemplate", "spec", "parallelism"), value: replicas,
			phrase: fmt.Sprintf("parallelism %d runs %d pods at once", replicas, replicas)}
	}
	return concurrency{n: int(replicas), path: field.NewPath("spec", "replicas"), value: replicas,
		phrase: plural(int(replicas), "replica runs", "replicas run") + " at once"}
}

// sharedIPFix is how to give each of several pods its own address.
const sharedIPFix = "use ip_pool with one address per replica, or ';'-separated groups for a StatefulSet"

// others names the pods that cannot get a shared address.
func (c concurrency) others() string {
	switch c.n {
	case unbounded:
		return "the others"
	case 2:
		return "the other pod"
	}
	return fmt.Sprintf("the other %d", c.n-1)
}

// staticKeys returns the ip_address and ip_pool annotations of every
// interface.
func staticKeys(ann map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range ann {
		if key, ok := annotations.ParseKey(k); ok && (key.Name == annotations.IPAddress || key.Name == annotations.IPPool) {
			out[k] = v
		}
	}
	return out
}

// checkSharedStaticIP refuses a fixed ip_address in a template of which
// several pods run at once: one pod gets the address, the others wait for
// it forever. On update (old set) it reports only what the change
// introduced: new addresses on the annotation, a raised count on the
// count's field.
func checkSharedStaticIP(fs *findings, old *WorkloadInput, in WorkloadInput) {
	c := in.concurrency()
	if c.n <= 1 {
		return
	}
	var oldC concurrency
	if old != nil {
		oldC = old.concurrency()
	}
	for _, req := range annotations.Requests(in.Annotations) {
		if req.IPAddress == "" || addressCount(req.IPAddress) > MaxAnnotationAddresses {
			// Over the limit: the template check's one finding says so.
			continue
		}
		var p *field.Path
		var value any
		what := "the fixed address"
		switch {
		case old == nil || old.Annotations[req.IPAddressKey] != req.IPAddress:
			p, value = in.annPath(req.IPAddressKey), req.IPAddress
		case oldC.n > 1:
			continue // already shared before this change: ratcheted
		default:
			p, value = c.path, c.value
			what = fmt.Sprintf("the fixed address %s of template annotation %s", req.IPAddress, req.IPAddressKey)
		}
		fix := c.fix
		if fix == "" {
			fix = sharedIPFix
		}
		fs.add(policy.WorkloadStaticIP, field.Invalid(p, value, fmt.Sprintf(
			"%s, but only one pod can hold %s; %s would wait for it forever; %s",
			c.phrase, what, c.others(), fix)))
	}
}

// checkPoolSize warns about an ip_pool with fewer addresses than pods that
// run at once: the pods beyond the pool's size wait for an address. A
// StatefulSet's ";"-separated groups count one per pod; a flat address
// list and a named IPPool count per family. Like checkSharedStaticIP it
// is ratcheted on update.
func checkPoolSize(fs *findings, r inventory.Reader, old *WorkloadInput, in WorkloadInput) {
	c := in.concurrency()
	if c.n <= 1 || c.n == unbounded {
		return
	}
	for _, req := range annotations.Requests(in.Annotations) {
		if req.IPPool == "" || addressCount(req.IPPool) > MaxAnnotationAddresses {
			// Over the limit: the template check's one finding says so.
			continue
		}
		short := poolShortfall(r, in.Kind, req.IPPool, c.n, int(in.StartOrdinal))
		if short == "" {
			continue
		}
		var p *field.Path
		var value any = req.IPPool
		if old == nil || old.Annotations[req.IPPoolKey] != req.IPPool {
			p = in.annPath(req.IPPoolKey)
		} else {
			oc := old.concurrency()
			if oc.n == c.n || (oc.n > 1 && oc.n != unbounded && poolShortfall(r, old.Kind, req.IPPool, oc.n, int(old.StartOrdinal)) != "") {
				continue // the pool was already short: ratcheted
			}
			p, value = c.path, c.value
		}
		fs.add(policy.WorkloadPoolSize, field.Invalid(p, value, short))
	}
}

// poolShortfall says how an ip_pool value falls short of n pods, or ""
// when it has an address (or group) for each. start is a StatefulSet's
// first ordinal: its pod N takes group N, so groups below start are never
// used.
func poolShortfall(r inventory.Reader, kind, value string, n, start int) string {
	pods := func(n int) string {
		if kind == KindJob || kind == KindCronJob {
			return plural(n, "parallel pod", "parallel pods")
		}
		return plural(n, "replica", "replicas")
	}
	if kind == KindStatefulSet && strings.Contains(value, ";") {
		groups := len(strings.Split(value, ";"))
		if groups >= start+n {
			return ""
		}
		if start > 0 {
			return fmt.Sprintf("ip_pool has %s for ordinals %d to %d (ordinals.start %d); pod N takes group N, so %s",
				plural(groups, "group", "groups"), start, start+n-1, start, waiting(max(groups-start, 0), n))
		}
		return fmt.Sprintf("ip_pool has %s for %s; %s", plural(groups, "group", "groups"), pods(n), waiting(groups, n))
	}
	var counts [2]uint64 // IPv4, IPv6
	what := "ip_pool"
	if annotations.IsPoolName(value) {
		pool, ok := r.IPPool(strings.TrimSpace(value))
		if !ok || pool.Set == nil {
			return "" // reported by the template check when it changed
		}
		counts = ipam.SetSize(pool.Set)
		what = "IPPool " + pool.Name
	} else {
		seen := map[netip.Addr]bool{}
		for part := range strings.SplitSeq(strings.ReplaceAll(value, ";", ","), ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(part))
			if err != nil || seen[a] {
				continue
			}
			seen[a] = true
			counts[ipam.FamilyOf(a).Index()]++
		}
	}
	both := counts[0] > 0 && counts[1] > 0
	for i, f := range []ipam.Family{ipam.IPv4, ipam.IPv6} {
		have := counts[i]
		if have == 0 || have >= uint64(n) {
			continue
		}
		noun := "addresses"
		if have == 1 {
			noun = "address"
		}
		if both {
			noun = f.String() + " " + noun
		}
		return fmt.Sprintf("%s has %d %s for %s; %s", what, have, noun, pods(n), waiting(int(have), n))
	}
	return ""
}

// waiting names the pods that will wait for an address.
func waiting(have, n int) string {
	if n-have == 1 {
		return "the " + ordinal(n) + " pod will wait for an address"
	}
	return fmt.Sprintf("%d pods will wait for an address", n-have)
}

func ordinal(n int) string {
	words := []string{"first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"}
	if n >= 1 && n <= len(words) {
		return words[n-1]
	}
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// checkStatefulSetIPChange refuses changing the fixed addresses of a
// StatefulSet that runs pods: Kube-OVN keeps each pod's IP object across
// recreation, so the recreated pods ask for new addresses while their old
// ones stay held, and conflict (kube-ovn#5259). With no replicas nothing
// holds an address and the change is safe.
func checkStatefulSetIPChange(fs *findings, old, in WorkloadInput) {
	if old.Replicas != nil && *old.Replicas == 0 {
		return
	}
	replicas := 1
	if old.Replicas != nil {
		replicas = int(*old.Replicas)
	}
	before, after := staticKeys(old.Annotations), staticKeys(in.Annotations)
	keys := slices.Sorted(maps.Keys(before))
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		b, hadB := before[k]
		a, hasA := after[k]
		key, _ := annotations.ParseKey(k)
		name := key.Name
		if key.Interface != "" {
			name += "." + key.Interface
		}
		var change string
		switch {
		case hadB && hasA && a == b:
			continue
		case hadB && hasA && key.Name == annotations.IPPool && sameHeldGroups(b, a, replicas):
			continue // groups added or changed beyond the running ordinals only
		case hadB && hasA:
			change = fmt.Sprintf("changing %s from %q to %q", name, policy.Shorten(b), policy.Shorten(a))
		case hasA:
			change = fmt.Sprintf("adding %s %q", name, policy.Shorten(a))
		default:
			change = fmt.Sprintf("removing %s %q", name, policy.Shorten(b))
		}
		fs.add(policy.StatefulSetIPChange, field.Forbidden(in.annPath(k), fmt.Sprintf(
			"%s of a StatefulSet with %s: Kube-OVN keeps the IP objects of its existing pods, so recreated pods would conflict with their old addresses (kube-ovn#5259); "+
				"delete and recreate the StatefulSet, or scale it to 0 first", change, plural(replicas, "replica", "replicas"))))
	}
}

// sameHeldGroups reports whether two ";"-separated ip_pool values give the
// pods with ordinals below replicas the same group: appending a group for
// a scale-up, or for a pod that waits because the pool was short, changes
// nobody's address.
func sameHeldGroups(before, after string, replicas int) bool {
	if !strings.Contains(before, ";") || !strings.Contains(after, ";") {
		return false
	}
	b, a := strings.Split(before, ";"), strings.Split(after, ";")
	held := min(replicas, len(b))
	if len(a) < held {
		return false
	}
	for i := range held {
		if normalizeGroup(b[i]) != normalizeGroup(a[i]) {
			return false
		}
	}
	return true
}

// normalizeGroup drops the spaces Kube-OVN trims from a group.
func normalizeGroup(g string) string {
	parts := strings.Split(g, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return strings.Join(parts, ",")
}
