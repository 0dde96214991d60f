package diagnose

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
)

// Annotations the duplicate check reads besides Kube-OVN's static-IP ones.
const (
	// networkStatusAnnotation is Multus' record of a pod's interfaces:
	// a JSON list of {name "ns/nad", interface, ips, default}.
	networkStatusAnnotation = "k8s.v1.cni.cncf.io/network-status"
	// oldNetworkStatusAnnotation is its Multus 3 spelling.
	oldNetworkStatusAnnotation = "k8s.v1.cni.cncf.io/networks-status"
	// vipAnnotation names the Vip whose address a pod takes as its own
	// (acquireAddress in Kube-OVN's pkg/controller/pod.go); the Vip is then
	// labelled ovn.kubernetes.io/ip_reserved=<pod port name>.
	vipAnnotation = "ovn.kubernetes.io/vip"
)

// holderKind is the kind of object that holds an address.
type holderKind uint8

const (
	holderIP holderKind = iota + 1
	holderVip
	holderPod
)

// holder is one object holding an address: an index into the state's IPs,
// Vips or Pods.
type holder struct {
	kind holderKind
	idx  int32
}

// heldAddr is one address a holder holds, without pointers, so that the
// two or three million of a large state cost the collector nothing to
// scan: the address as 16 bytes, its family, the subnet by number
// (holderWalk.names) and the holder.
type heldAddr struct {
	addr   [16]byte
	subnet int32
	idx    int32
	kind   holderKind
	v6     bool
}

// sameAddr reports whether two held addresses are one (subnet, address).
func (a *heldAddr) sameAddr(b *heldAddr) bool {
	return a.subnet == b.subnet && a.addr == b.addr && a.v6 == b.v6
}

func (a *heldAddr) holder() holder { return holder{a.kind, a.idx} }

// holderWalk visits every (subnet, address, holder) of the state, on
// several goroutines at once, each over a range of the holders.
type holderWalk struct {
	x *index
	// now judges terminating pods.
	now time.Time
	// known numbers the subnets of the state; read-only during a walk.
	known map[string]int32
	// names are the subnets by number: those of the state, then those
	// only holders name.
	names []string
}

func newHolderWalk(x *index, now time.Time) *holderWalk {
	w := &holderWalk{x: x, now: now, known: make(map[string]int32, len(x.s.Subnets)), names: make([]string, 0, len(x.s.Subnets))}
	for i := range x.s.Subnets {
		name := x.s.Subnets[i].Name
		if _, ok := w.known[name]; !ok {
			w.known[name] = int32(len(w.names))
			w.names = append(w.names, name)
		}
	}
	return w
}

// walkPart is one goroutine's share of a walk: the addresses it found and
// the subnets not in the state it met, numbered -1, -2, … in its
// addresses until the walk numbers them.
type walkPart struct {
	w       *holderWalk
	out     []heldAddr
	unknown map[string]int32
	names   []string
	// last is the subnet numbered last: holders in a row often share it.
	last   string
	lastID int32
}

func (p *walkPart) add(subnet string, a netip.Addr, h holder) {
	if subnet != p.last || p.last == "" {
		id, ok := p.w.known[subnet]
		if !ok {
			if id, ok = p.unknown[subnet]; !ok {
				if p.unknown == nil {
					p.unknown = map[string]int32{}
				}
				p.names = append(p.names, subnet)
				id = -int32(len(p.names))
				p.unknown[subnet] = id
			}
		}
		p.last, p.lastID = subnet, id
	}
	p.out = append(p.out, heldAddr{addr: a.As16(), subnet: p.lastID, idx: h.idx, kind: h.kind, v6: a.Is6()})
}

// collect returns every address held: IP objects' (spec.subnet with the
// family fields and ipAddress, attachSubnets with attachIps, as
// inventory.IPAddrs reads them), Vips' (spec and status), and those of
// running pods not on the host network and not past their deletion time:
// status.podIPs in the subnet of their ovn.kubernetes.io/logical_switch
// annotation, and the attachment addresses of their Multus network-status
// in the subnet of the attachment's logical_switch annotation. They come
// grouped by subnet, in the order of w.names; within a subnet in state
// order (IP objects, Vips, pods). Parsing the addresses is most of the
// work: it runs on every core.
func (w *holderWalk) collect() []heldAddr {
	s := w.x.s
	nIP, nVip := len(s.IPs), len(s.Vips)
	total := nIP + nVip + len(s.Pods)
	workers := max(1, min(runtime.GOMAXPROCS(0), total/4096))
	parts := make([]walkPart, workers)
	var wg sync.WaitGroup
	for i := range parts {
		p := &parts[i]
		p.w = w
		from, to := total*i/workers, total*(i+1)/workers
		wg.Go(func() {
			p.out = make([]heldAddr, 0, (to-from)+(to-from)/8)
			for j := from; j < to; j++ {
				switch {
				case j < nIP:
					w.ipAddrs(p, int32(j))
				case j < nIP+nVip:
					w.vipAddrs(p, int32(j-nIP))
				default:
					w.podAddrs(p, int32(j-nIP-nVip))
				}
			}
		})
	}
	wg.Wait()
	// Number the subnets only holders name, in the parts' order, and
	// count the addresses of each subnet.
	all := map[string]int32{}
	n := 0
	for i := range parts {
		p := &parts[i]
		n += len(p.out)
		if len(p.names) == 0 {
			continue
		}
		ids := make([]int32, len(p.names))
		for k, name := range p.names {
			id, ok := all[name]
			if !ok {
				id = int32(len(w.names))
				all[name] = id
				w.names = append(w.names, name)
			}
			ids[k] = id
		}
		for k := range p.out {
			if a := &p.out[k]; a.subnet < 0 {
				a.subnet = ids[-a.subnet-1]
			}
		}
	}
	// A counting sort by subnet: stable, so state order holds within each.
	start := make([]int, len(w.names)+1)
	for i := range parts {
		for k := range parts[i].out {
			start[parts[i].out[k].subnet+1]++
		}
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	out := make([]heldAddr, n)
	for i := range parts {
		for _, a := range parts[i].out {
			out[start[a.subnet]] = a
			start[a.subnet]++
		}
		parts[i].out = nil // let it go before the next is copied
	}
	return out
}

func (w *holderWalk) ipAddrs(p *walkPart, i int32) {
	h := holder{holderIP, i}
	for a := range inventory.IPAddrSeq(&w.x.s.IPs[i].Spec) {
		p.add(a.Subnet, a.Addr, h)
	}
}

func (w *holderWalk) vipAddrs(p *walkPart, i int32) {
	v := &w.x.s.Vips[i]
	if v.Spec.Subnet == "" {
		return
	}
	h := holder{holderVip, i}
	var seen [4]netip.Addr
	n := 0
	for _, text := range [...]string{v.Spec.V4ip, v.Spec.V6ip, v.Status.V4ip, v.Status.V6ip} {
		a, ok := ipam.ParseIP(strings.TrimSpace(text))
		if !ok || slices.Contains(seen[:n], a) {
			continue
		}
		seen[n] = a
		n++
		p.add(v.Spec.Subnet, a, h)
	}
}

func (w *holderWalk) podAddrs(p *walkPart, i int32) {
	pod := &w.x.s.Pods[i]
	if pod.HostNetwork || pod.Phase != "Running" || pod.DeletionTimestamp != nil && pod.DeletionTimestamp.Time.Before(w.now) {
		// A pod past its deletion time (its grace period is over, as on
		// a lost node) is no longer alive to Kube-OVN, which releases
		// its address (isPodAlive, enqueueUpdatePod in
		// pkg/controller/pod.go), though the API still shows it Running.
		return
	}
	h := holder{holderPod, i}
	if subnet := pod.Annotations[annotations.DefaultProvider+annotations.Domain+annotations.LogicalSwitch]; subnet != "" {
		for _, text := range pod.PodIPs {
			if a, ok := ipam.ParseIP(strings.TrimSpace(text)); ok {
				p.add(subnet, a, h)
			}
		}
	}
	for _, att := range attachments(pod) {
		for _, a := range att.addrs {
			p.add(att.subnet, a, h)
		}
	}
}

// attachment is one Multus attachment of a pod in a Kube-OVN subnet.
type attachment struct {
	subnet string
	addrs  []netip.Addr
}

// networkStatus is one entry of Multus' network-status annotation.
type networkStatus struct {
	Name      string   `json:"name"`
	Interface string   `json:"interface"`
	IPs       []string `json:"ips"`
	Default   bool     `json:"default"`
}

// attachments reads a pod's Multus network-status: each non-default
// interface whose network Kube-OVN serves, in the subnet Kube-OVN wrote in
// the pod's "<provider>.kubernetes.io/logical_switch" annotation. The
// provider of NAD ns/nad is "<nad>.<ns>.ovn" for an OVN network,
// "<nad>.<ns>.ovn.<ifname>" when the NAD is attached twice, "<nad>.<ns>" for
// an IPAM-only one (getPodKubeovnNets in pkg/controller/pod.go); an
// interface with none of them is not Kube-OVN's. A malformed annotation
// holds nothing.
func attachments(p *Pod) []attachment {
	raw := p.Annotations[networkStatusAnnotation]
	if raw == "" {
		raw = p.Annotations[oldNetworkStatusAnnotation]
	}
	if raw == "" {
		return nil
	}
	var list []networkStatus
	if json.Unmarshal([]byte(raw), &list) != nil {
		return nil
	}
	var out []attachment
	for _, e := range list {
		if e.Default || len(e.IPs) == 0 || e.Name == "" {
			continue
		}
		ns, nad, ok := strings.Cut(e.Name, "/")
		if !ok {
			ns, nad = p.Namespace, e.Name
		}
		base := nad + "." + ns
		var subnet string
		for _, provider := range [...]string{base + "." + annotations.DefaultProvider + "." + e.Interface, base + "." + annotations.DefaultProvider, base} {
			if e.Interface == "" && strings.HasSuffix(provider, ".") {
				continue
			}
			if subnet = p.Annotations[provider+annotations.Domain+annotations.LogicalSwitch]; subnet != "" {
				break
			}
		}
		if subnet == "" {
			continue
		}
		att := attachment{subnet: subnet}
		for _, text := range e.IPs {
			// network-status writes addresses, some tools prefixes.
			text, _, _ = strings.Cut(strings.TrimSpace(text), "/")
			if a, ok := ipam.ParseIP(text); ok && !slices.Contains(att.addrs, a) {
				att.addrs = append(att.addrs, a)
			}
		}
		out = append(out, att)
	}
	return out
}

// owner identifies who an address belongs to: holders with the same owner
// are one (a pod and its IP objects, a VM's launcher pods and its IP
// objects, a Vip and the pod that took its address).
type owner struct {
	// tag: 'p' pod-like (namespace/name), 'm' a KubeVirt VM (its IP
	// objects of podType VirtualMachine and its launcher pods; kept apart
	// from a plain pod of the same name, as admission keeps them),
	// 'i' an IP object owning itself, 'v' a Vip owning itself.
	tag      byte
	ns, name string
	// alias is the pod's own name when name is its VM's.
	alias string
	// vip is the Vip the holder is or uses.
	vip string
}

func (x *index) ownerOf(h holder) owner {
	switch h.kind {
	case holderIP:
		ip := &x.s.IPs[h.idx]
		if ip.Spec.PodName != "" {
			tag := byte('p')
			if ip.Spec.PodType == kubeovnv1.PodTypeVirtualMachine {
				tag = 'm'
			}
			return owner{tag: tag, ns: ip.Spec.Namespace, name: ip.Spec.PodName}
		}
		return owner{tag: 'i', name: ip.Name}
	case holderVip:
		v := &x.s.Vips[h.idx]
		// The label is the pod's port name "<pod>.<ns>[.<provider>]"; Kube-OVN
		// reads it the same way (gcVip, pkg/controller/gc.go).
		if parts := strings.SplitN(v.Labels[ipReservedLabel], ".", 3); len(parts) >= 2 && parts[0] != "" && parts[1] != "" {
			return owner{tag: 'p', ns: parts[1], name: parts[0], vip: v.Name}
		}
		return owner{tag: 'v', name: v.Name, vip: v.Name}
	}
	p := &x.s.Pods[h.idx]
	if vm := annotations.LauncherVM(p.OwnerReferences); vm != "" {
		return owner{tag: 'm', ns: p.Namespace, name: vm, alias: p.Name, vip: p.Annotations[vipAnnotation]}
	}
	return owner{tag: 'p', ns: p.Namespace, name: p.Name, vip: p.Annotations[vipAnnotation]}
}

// sameOwner reports whether two holders are one owner: the same pod (by
// name or, for a KubeVirt launcher, by VM, which also makes a live
// migration's source and target one), or a Vip and the pod using it.
func (x *index) sameOwner(a, b holder) bool {
	if a == b {
		return true
	}
	oa, ob := x.ownerOf(a), x.ownerOf(b)
	if oa.vip != "" && oa.vip == ob.vip {
		return true
	}
	if oa.tag != ob.tag || oa.ns != ob.ns {
		return false
	}
	if oa.name == ob.name {
		return true
	}
	return oa.tag == 'm' && (oa.alias != "" && (oa.alias == ob.name || oa.alias == ob.alias) || ob.alias != "" && ob.alias == oa.name)
}

// groupOwners splits holders into owners (sameOwner, closed transitively),
// in the order owners first appear, in time linear in the holders: each
// holder is joined to the first holder seen with any of its keys (its
// owner's name, its pod's own name under a VM, the Vip it is or uses).
func (x *index) groupOwners(hs []holder) [][]holder {
	parent := make([]int, len(hs))
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	first := make(map[string]int, 2*len(hs))
	join := func(i int, k string) {
		if j, ok := first[k]; ok {
			if a, b := find(i), find(j); a != b {
				parent[max(a, b)] = min(a, b)
			}
			return
		}
		first[k] = i
	}
	for i, h := range hs {
		parent[i] = i
		o := x.ownerOf(h)
		join(i, "n\x00"+string(o.tag)+o.ns+"\x00"+o.name)
		if o.alias != "" {
			// A launcher pod is also the pod of its own name: an IP object
			// named after it is its own, whatever its podType.
			join(i, "n\x00"+string(o.tag)+o.ns+"\x00"+o.alias)
			join(i, "n\x00p"+o.ns+"\x00"+o.alias)
		}
		if o.vip != "" {
			join(i, "v\x00"+o.vip)
		}
	}
	idx := map[int]int{}
	var out [][]holder
	for i, h := range hs {
		r := find(i)
		j, ok := idx[r]
		if !ok {
			j = len(out)
			idx[r] = j
			out = append(out, nil)
		}
		out[j] = append(out[j], h)
	}
	return out
}

// dupGroup is one address held by more than one owner.
type dupGroup struct {
	subnet  string
	addr    netip.Addr
	holders []holder
}

// checkDuplicates finds every address held by more than one owner in one
// subnet, one finding each. It collects every held address grouped by
// subnet (holderWalk.collect), sorts each subnet's by address, and judges
// the runs of one address: the subnets are small, so each sort runs in
// the processor's cache, and they are judged on every core. Linear in the
// state but for the sorts of subnets' own addresses.
//
// Kube-OVN's own reports of this state follow controller restarts and
// released keep-IP addresses (kube-ovn#4304, #1809, #2486): the IPAM then
// hands an address to a pod while an older object still names it.
func checkDuplicates(x *index, opts *Options, r *Report) {
	w := newHolderWalk(x, opts.Now)
	held := w.collect()
	// Subnet boundaries, then the subnets split among the goroutines by
	// their addresses.
	var bounds []int
	for i := range held {
		if i == 0 || held[i].subnet != held[i-1].subnet {
			bounds = append(bounds, i)
		}
	}
	bounds = append(bounds, len(held))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(held)/4096))
	found := make([][]*dupGroup, workers)
	var wg sync.WaitGroup
	next := 0
	for i := range workers {
		// Subnets [from, to) of bounds, about len(held)/workers addresses.
		from, to := next, next
		for to < len(bounds)-1 && (i == workers-1 || bounds[to] < len(held)*(i+1)/workers) {
			to++
		}
		next = to
		wg.Go(func() {
			for b := from; b < to; b++ {
				found[i] = x.duplicatesIn(w, held[bounds[b]:bounds[b+1]], found[i])
			}
		})
	}
	wg.Wait()
	o := newOwners(x, opts.Now)
	for _, gs := range found {
		for _, g := range gs {
			if f, ok := o.duplicateFinding(g); ok {
				r.Findings = append(r.Findings, f)
			}
		}
	}
}

// duplicatesIn appends to out the addresses of one subnet's held (which
// it sorts) held by more than one owner: a run of one address whose
// holders are not all the first one's owner (sameOwner), with its holders
// in state order.
func (x *index) duplicatesIn(w *holderWalk, held []heldAddr, out []*dupGroup) []*dupGroup {
	slices.SortFunc(held, func(a, b heldAddr) int {
		return cmp.Or(bytes.Compare(a.addr[:], b.addr[:]), compareBool(a.v6, b.v6), cmp.Compare(a.kind, b.kind), cmp.Compare(a.idx, b.idx))
	})
	for i := 0; i < len(held); {
		j := i + 1
		for j < len(held) && held[j].sameAddr(&held[i]) {
			j++
		}
		run := held[i:j]
		i = j
		if len(run) < 2 {
			continue
		}
		first := run[0].holder()
		if !slices.ContainsFunc(run[1:], func(a heldAddr) bool { return !x.sameOwner(first, a.holder()) }) {
			continue
		}
		a := netip.AddrFrom16(run[0].addr)
		if !run[0].v6 {
			a = a.Unmap()
		}
		g := &dupGroup{subnet: w.names[run[0].subnet], addr: a, holders: make([]holder, len(run))}
		for k := range run {
			g.holders[k] = run[k].holder()
		}
		out = append(out, g)
	}
	return out
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// party is one owner of a duplicated address, with its holders.
type party struct {
	ips  []*kubeovnv1.IP
	vips []*kubeovnv1.Vip
	pods []*Pod
	// pod is the pod that uses the address: a running holder, or the pod
	// (or VM launcher) of its IP objects.
	pod *Pod
	// since is when it got the address: its IP objects' creation, else its
	// pod's, else its Vip's.
	since time.Time
	// stale is set when it is only IP objects that nothing keeps
	// (zombies, or kept for a reason that looks gone).
	stale bool
	// kept is set when it is only IP objects kept on purpose.
	kept bool
	// why is the owner check's reason for a stale or kept party.
	why string
}

func (p *party) name() string {
	switch {
	case len(p.pods) > 0:
		return "pod " + p.pods[0].Namespace + "/" + p.pods[0].Name
	case p.pod != nil:
		return "pod " + p.pod.Namespace + "/" + p.pod.Name
	case len(p.vips) > 0:
		return "Vip " + p.vips[0].Name
	case len(p.ips) > 0:
		return "IP object " + p.ips[0].Name
	}
	return "?"
}

func (p *party) describe() string {
	var b strings.Builder
	b.WriteString(p.name())
	var extra []string
	for _, ip := range p.ips {
		if len(p.pods) > 0 || p.pod != nil || len(p.vips) > 0 || ip != p.ips[0] {
			extra = append(extra, "IP object "+ip.Name)
		}
	}
	for _, v := range p.vips {
		if len(p.pods) > 0 || p.pod != nil || v != p.vips[0] {
			extra = append(extra, "Vip "+v.Name)
		}
	}
	if len(extra) > 0 {
		b.WriteString(" (" + strings.Join(extra, ", ") + ")")
	}
	switch {
	case p.stale || p.kept:
		b.WriteString(": " + p.why)
	case len(p.pods) == 0 && p.pod != nil:
		b.WriteString(", not running")
	}
	if !p.since.IsZero() {
		b.WriteString(", since " + p.since.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// parties splits a duplicated address's holders by owner, each holder
// once, earliest owner first.
func (o *owners) parties(g *dupGroup) []*party {
	hs := slices.Clone(g.holders)
	slices.SortFunc(hs, func(a, b holder) int { return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.idx, b.idx)) })
	hs = slices.Compact(hs)
	byOwner := o.x.groupOwners(hs)
	out := make([]*party, 0, len(byOwner))
	s := o.x.s
	for _, hs := range byOwner {
		p := &party{}
		for _, h := range hs {
			switch h.kind {
			case holderIP:
				p.ips = append(p.ips, &s.IPs[h.idx])
			case holderVip:
				p.vips = append(p.vips, &s.Vips[h.idx])
			case holderPod:
				p.pods = append(p.pods, &s.Pods[h.idx])
			}
		}
		switch {
		case len(p.pods) > 0:
			p.pod = p.pods[0]
		case len(p.ips) > 0:
			for _, ip := range p.ips {
				if p.pod = o.podOf(ip); p.pod != nil {
					break
				}
			}
		}
		for _, ip := range p.ips {
			if t := ip.CreationTimestamp.Time; !t.IsZero() && (p.since.IsZero() || t.Before(p.since)) {
				p.since = t
			}
		}
		if p.since.IsZero() {
			for _, pod := range p.pods {
				if t := pod.CreationTimestamp.Time; !t.IsZero() && (p.since.IsZero() || t.Before(p.since)) {
					p.since = t
				}
			}
			for _, v := range p.vips {
				if t := v.CreationTimestamp.Time; !t.IsZero() && (p.since.IsZero() || t.Before(p.since)) {
					p.since = t
				}
			}
		}
		if p.pod == nil && len(p.vips) == 0 && len(p.ips) > 0 {
			p.stale, p.kept = true, true
			for _, ip := range p.ips {
				v := o.classify(ip)
				switch v.class {
				case classZombie, classSuspicious:
					p.kept = false
				case classKept:
					p.stale = false
				default:
					// owned by a node or subnet, or not judged: neither
					p.stale, p.kept = false, false
				}
				if p.why == "" || v.class == classZombie {
					p.why = v.reason
				}
			}
			if !p.stale && !p.kept {
				p.why = ""
			}
		}
		out = append(out, p)
	}
	// Earliest holder first: messages read in the order the address was
	// taken, and the last live party is the one to act on.
	slices.SortStableFunc(out, func(a, b *party) int { return cmp.Or(a.since.Compare(b.since), cmp.Compare(a.name(), b.name())) })
	return out
}

// duplicateFinding judges one duplicated address: which owner is wrong,
// and the commands that clear it.
//
//   - IP objects nothing keeps (their pod gone) are wrong whatever their
//     age: deleting them releases only their own entry in Kube-OVN's IPAM
//     (ReleaseAddressByNic by their pod and port), never the other
//     holder's.
//   - Of the owners left, the one that got the address last is wrong: a
//     pod is restarted (deleted, so that its workload re-creates it and
//     Kube-OVN allocates afresh); a StatefulSet or VM pod keeps its IP
//     object across restarts, so that object is deleted first. Deleting a
//     running pod's IP object alone would remove its logical switch port
//     and cut it off, so the check never prints that without the pod's
//     restart.
//   - A Vip, a node's or a subnet's port needs a human: the hint says so.
func (o *owners) duplicateFinding(g *dupGroup) (Finding, bool) {
	ps := o.parties(g)
	if len(ps) < 2 {
		return Finding{}, false
	}
	addr := g.addr.String()
	f := Finding{Check: CheckDuplicate, Severity: Critical, Subnet: g.subnet, ID: CheckDuplicate + "/" + g.subnet + "/" + addr}
	var act []ObjectRef
	var live []*party
	for _, p := range ps {
		if !p.stale {
			live = append(live, p)
			continue
		}
		for _, ip := range p.ips {
			ref := RefIP(ip)
			act = append(act, ref)
			f.Fix = append(f.Fix, DeleteCommand(ref))
		}
	}
	var hints []string
	for _, p := range ps {
		if p.stale {
			hints = append(hints, "IP objects nothing keeps go first, as they are leftovers: "+releaseNote(p.ips[0])+"; only their own claim is released, never the other holder's")
			break
		}
	}
	if len(live) >= 2 {
		last, prev := live[len(live)-1], live[len(live)-2]
		if last.since.Equal(prev.since) {
			hints = append(hints, fmt.Sprintf("%s and %s got %s at the same time; the doctor picked %s by name order, check which one should keep it", last.name(), prev.name(), addr, last.name()))
		}
		refs, cmds, hint := o.restart(last, prev, g, addr)
		act = append(act, refs...)
		f.Fix = append(f.Fix, cmds...)
		if hint != "" {
			hints = append(hints, hint)
		}
	}
	// Objects: what to act on first, then every other holder.
	seen := make(map[ObjectRef]bool, len(act))
	for _, ref := range act {
		if !seen[ref] {
			seen[ref] = true
			f.Objects = append(f.Objects, ref)
		}
	}
	for _, p := range ps {
		for _, ref := range p.refs() {
			if !seen[ref] {
				seen[ref] = true
				f.Objects = append(f.Objects, ref)
			}
		}
	}
	descs := make([]string, 0, len(ps))
	for i, p := range ps {
		if i == maxListed {
			descs = append(descs, fmt.Sprintf("… and %d more", len(ps)-maxListed))
			break
		}
		descs = append(descs, p.describe())
	}
	f.Message = fmt.Sprintf("%s is held by %d owners in subnet %s: %s", addr, len(ps), g.subnet, strings.Join(descs, "; "))
	f.Hint = strings.Join(hints, "; ")
	return f, true
}

// maxListed caps the owners a message names.
const maxListed = 5

func (p *party) refs() []ObjectRef {
	out := make([]ObjectRef, 0, len(p.pods)+len(p.ips)+len(p.vips))
	for _, pod := range p.pods {
		out = append(out, RefPod(pod))
	}
	for _, ip := range p.ips {
		out = append(out, RefIP(ip))
	}
	for _, v := range p.vips {
		out = append(out, RefVip(v))
	}
	return out
}

// restart returns what clears the later owner last of an address prev
// held first: the objects to act on, the commands, and a hint.
func (o *owners) restart(last, prev *party, g *dupGroup, addr string) ([]ObjectRef, []string, string) {
	switch {
	case last.pod != nil:
		pod := last.pod
		var refs []ObjectRef
		var cmds []string
		keeps := ""
		if isKeepIPPod(pod) {
			// Kube-OVN keeps a StatefulSet or VM pod's IP object when the
			// pod is deleted, and the re-created pod reuses it: the object
			// goes first.
			for _, ip := range last.ips {
				ref := RefIP(ip)
				refs = append(refs, ref)
				cmds = append(cmds, DeleteCommand(ref))
			}
			keeps = "; it is a StatefulSet or VM pod, whose IP object Kube-OVN keeps across restarts, so its IP object is deleted first (that cuts the pod off until it restarts)"
		}
		ref := RefPod(pod)
		refs = append(refs, ref)
		cmds = append(cmds, DeleteCommand(ref))
		hint := fmt.Sprintf("%s got %s after %s, so it is restarted%s", last.name(), addr, prev.name(), keeps)
		refused := fmt.Sprintf("ipamguard's webhook refuses that request while %s holds %s (pod-ip-taken): %s is the one it would have refused", prev.name(), addr, last.name())
		if where, ok := o.asksFixed(pod, g.addr); ok {
			hint += fmt.Sprintf("; it asks for %s as a fixed address (%s), so it will collide again: change that first. %s", addr, where, refused)
		} else {
			hint += fmt.Sprintf("; if it or its workload's pod template asks for %s as a fixed address (ip_address or ip_pool; kube-ovn-controller also writes ip_address on every pod it allocates, so look at the template), it will collide again: change that first. %s", addr, refused)
		}
		return refs, cmds, hint
	case last.kept:
		var refs []ObjectRef
		var cmds []string
		for _, ip := range last.ips {
			ref := RefIP(ip)
			refs = append(refs, ref)
			cmds = append(cmds, DeleteCommand(ref))
		}
		return refs, cmds, fmt.Sprintf("%s was kept for its pod's return (%s) but got %s after %s: deleting it lets the returning pod be allocated afresh", last.name(), last.why, addr, prev.name())
	case len(last.vips) > 0:
		return nil, nil, fmt.Sprintf("%s got %s after %s: decide which keeps it; deleting or re-addressing the Vip releases it", last.name(), addr, prev.name())
	}
	return nil, nil, fmt.Sprintf("%s got %s after %s and has no pod to restart: decide which keeps it", last.name(), addr, prev.name())
}

// isKeepIPPod reports whether Kube-OVN keeps a pod's IP object when the
// pod is deleted: StatefulSet pods (isStatefulSetPod) and KubeVirt
// launcher pods (isVMPod, with keep-vm-ip on by default).
func isKeepIPPod(p *Pod) bool {
	for _, ref := range p.OwnerReferences {
		if ref.Kind == "StatefulSet" && strings.HasPrefix(ref.APIVersion, "apps/") && strings.HasPrefix(p.Name, ref.Name) {
			return true
		}
	}
	return annotations.LauncherVM(p.OwnerReferences) != ""
}

// asksFixed reports where a pod asks for addr as a fixed address: an
// ip_pool annotation listing it (kube-ovn-controller never writes ip_pool),
// or its StatefulSet's pod template. A pod's own ip_address annotation
// proves nothing: the controller writes it on every pod it allocates
// (pkg/controller/pod.go).
func (o *owners) asksFixed(p *Pod, addr netip.Addr) (string, bool) {
	if key, ok := fixedKey(p.Annotations, addr, false); ok {
		return "annotation " + key, true
	}
	for _, ref := range p.OwnerReferences {
		if ref.Kind != "StatefulSet" || !strings.HasPrefix(ref.APIVersion, "apps/") {
			continue
		}
		if st := o.x.statefulSets[key(p.Namespace, ref.Name)]; st != nil {
			if k, ok := fixedKey(st.TemplateAnnotations, addr, true); ok {
				return "StatefulSet " + ref.Name + "'s pod template annotation " + k, true
			}
		}
	}
	return "", false
}

// fixedKey returns the annotation of ann that lists addr as a fixed
// address: an ip_pool listing addresses, and ip_address too when
// withAddress is set.
func fixedKey(ann map[string]string, addr netip.Addr, withAddress bool) (string, bool) {
	for _, req := range annotations.Requests(ann) {
		for _, v := range [...]struct{ key, value string }{{req.IPPoolKey, req.IPPool}, {req.IPAddressKey, req.IPAddress}} {
			if v.value == "" || annotations.IsPoolName(v.value) || (v.key == req.IPAddressKey && !withAddress) {
				continue
			}
			for _, part := range strings.FieldsFunc(v.value, func(r rune) bool { return r == ',' || r == ';' }) {
				if a, ok := ipam.ParseIP(strings.TrimSpace(part)); ok && a == addr {
					return v.key, true
				}
			}
		}
	}
	return "", false
}
