package diagnose

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// Meta is what the doctor keeps of any object's metadata.
type Meta struct {
	Namespace         string                  `json:"namespace,omitempty"`
	Name              string                  `json:"name"`
	UID               string                  `json:"uid,omitempty"`
	ResourceVersion   string                  `json:"resourceVersion,omitempty"`
	CreationTimestamp metav1.Time             `json:"creationTimestamp"`
	DeletionTimestamp *metav1.Time            `json:"deletionTimestamp,omitempty"`
	Labels            map[string]string       `json:"labels,omitempty"`
	Annotations       map[string]string       `json:"annotations,omitempty"`
	OwnerReferences   []metav1.OwnerReference `json:"ownerReferences,omitempty"`
}

// jsonMeta is Meta as the decoders that go through encoding/json read it:
// the finalizers are read, and dropped, so that an object whose finalizers
// are not strings is refused here as by the fast decoders (decode.go) and
// the snapshot writer (snapshot.Strip keeps them).
type jsonMeta struct{ Meta }

// UnmarshalJSON implements json.Unmarshaler: Meta, then the finalizers'
// type. A method, not a field beside the embedded Meta, so that a decoding
// error names the field as the object spells it ("metadata.labels").
func (m *jsonMeta) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &m.Meta); err != nil {
		return err
	}
	var f struct {
		Finalizers []string `json:"finalizers"`
	}
	return json.Unmarshal(b, &f)
}

// Pod is what the doctor keeps of a pod: metadata (the annotations of
// podAnnotationKept, owners, labels), node, phase, IPs and why its
// containers wait. Maps in a State may be shared between objects (pods of
// one template share their labels): treat them as read-only.
type Pod struct {
	Meta
	NodeName string `json:"nodeName,omitempty"`
	// HostNetwork pods use the node's address: Kube-OVN allocates them
	// nothing.
	HostNetwork bool   `json:"hostNetwork,omitempty"`
	Phase       string `json:"phase,omitempty"`
	// PodIPs are status.podIPs.
	PodIPs []string `json:"podIPs,omitempty"`
	// Waiting is the reason a container waits (ContainerCreating), if any.
	Waiting string `json:"waiting,omitempty"`
}

// Node is a node's name and InternalIP addresses.
type Node struct {
	Meta
	InternalIPs []string `json:"internalIPs,omitempty"`
}

// StatefulSet is what the keep-IP checks need of a StatefulSet.
type StatefulSet struct {
	Meta
	// Replicas is spec.replicas (1 when unset, as Kubernetes defaults it).
	Replicas int32 `json:"replicas"`
	// Start is spec.ordinals.start (0 when unset).
	Start int32 `json:"start,omitempty"`
	// TemplateAnnotations are the pod template's annotations (fixed IPs).
	TemplateAnnotations map[string]string `json:"templateAnnotations,omitempty"`
}

// Event is one IPAM-related event about a pod.
type Event struct {
	Meta
	// Object is the pod the event is about.
	Object ObjectRef `json:"object"`
	// Type is Warning or Normal (the live read and a snapshot keep only
	// warnings).
	Type    string `json:"type,omitempty"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Count   int32  `json:"count,omitempty"`
	// Last is when it was last seen.
	Last time.Time `json:"last"`
}

// State is the cluster state the doctor diagnoses. Build it with Add (one
// object at a time, as a list or a snapshot is decoded) or fill it
// directly.
type State struct {
	// ClusterID is the UID of the kube-system namespace; Time is when the
	// state was read.
	ClusterID string
	Time      time.Time

	Subnets []kubeovnv1.Subnet
	// IPs are the IP objects without what no check reads (their labels
	// but ovn.kubernetes.io/ip_reserved, MAC addresses, container ID).
	IPs        []kubeovnv1.IP
	IPPools    []kubeovnv1.IPPool
	Vpcs       []kubeovnv1.Vpc
	Vips       []kubeovnv1.Vip
	Namespaces []Meta
	Nodes      []Node
	Pods       []Pod
	// StatefulSets and VirtualMachines (KubeVirt VirtualMachine and
	// VirtualMachineInstance objects, as metadata) tell kept IP objects
	// from zombies.
	StatefulSets    []StatefulSet
	VirtualMachines []Meta
	// EIPs are the metadata of iptables and OVN EIPs (IptablesEIP,
	// OvnEip): kube-ovn-controller counts those labelled with a subnet in
	// its usingIPs.
	EIPs   []Meta
	Events []Event
	// Reservations are the webhook's address reservations (Leases
	// labelled ipamguard.io/reservation in its namespace), when read.
	Reservations []Reservation
	// ServiceCIDRs are the cluster's Service ranges, when known (the
	// networking.k8s.io ServiceCIDR objects, or --service-cidr).
	ServiceCIDRs []netip.Prefix

	// Incomplete lists what could not be read.
	Incomplete []Gap
}

// Add decodes one object (JSON with apiVersion and kind) into the state.
// Kinds the doctor does not use are ignored; a malformed object is an
// error naming it. Add is Decode then Apply; to decode on several cores,
// use one Decoder per goroutine and Apply in the objects' order.
func (s *State) Add(apiVersion, kind string, raw []byte) error {
	d := decoders.Get().(*Decoder)
	o, err := d.Decode(apiVersion, kind, raw)
	decoders.Put(d)
	if err != nil {
		return err
	}
	s.Apply(&o)
	return nil
}

// decoders serve Add: a Decoder's shared strings outlive one call (a
// State is built by many), and the pool drops them when the garbage
// collector runs.
var decoders = sync.Pool{New: func() any { return &Decoder{} }}

// Decoder decodes objects for a State without touching it, so that
// several can decode at once. The zero value is ready; a Decoder is not
// safe for concurrent use (one per goroutine).
type Decoder struct {
	in interner
}

// Object is one object decoded for a State (by Decoder.Decode), to be
// applied with State.Apply.
type Object struct {
	kind objectKind
	// checked is set when a fast decoder read the object: it then checked
	// the whole of its JSON (CheckedJSON).
	checked bool
	pod     Pod
	ip      kubeovnv1.IP
	// v holds the other kinds.
	v any
}

// CheckedJSON reports whether decoding checked that the object's JSON is
// one valid value (snapshot.Checked): the fast decoders of pods and IP
// objects read every byte and accept only valid JSON (FuzzFastDecode holds
// them to jsontext), so a reader need not check those items again.
// encoding/json, the slow path, accepts invalid UTF-8, and kinds the
// doctor ignores are not read: those are left to the reader.
func (o *Object) CheckedJSON() bool { return o.checked }

type objectKind uint8

const (
	objectNone objectKind = iota
	objectPod
	objectIP
	objectOther
)

// namespaceMeta, vmMeta and eipMeta tell Namespaces, VMs and EIPs apart
// in Object.v.
type (
	namespaceMeta Meta
	vmMeta        Meta
	eipMeta       Meta
	serviceCIDRs  []netip.Prefix
)

// Decode decodes one object (JSON with apiVersion and kind) as Add
// would add it, without adding it. Kinds the doctor does not use decode
// to an Object that Apply ignores.
func (d *Decoder) Decode(apiVersion, kind string, raw []byte) (Object, error) {
	var (
		o   Object
		err error
	)
	switch kind {
	case "Pod":
		if p, ok := fastPod(raw, &d.in); ok {
			return Object{kind: objectPod, checked: true, pod: p}, nil
		}
		o.pod, err = decodePod(raw)
		o.kind = objectPod
	case "IP":
		if ip, ok := fastIP(raw, &d.in); ok {
			return Object{kind: objectIP, checked: true, ip: ip}, nil
		}
		o.ip, err = decodeIP(raw)
		o.kind = objectIP
	case "Subnet":
		o.v, err = decode[kubeovnv1.Subnet](raw)
	case "IPPool":
		o.v, err = decode[kubeovnv1.IPPool](raw)
	case "Vpc":
		o.v, err = decode[kubeovnv1.Vpc](raw)
	case "Vip":
		o.v, err = decode[kubeovnv1.Vip](raw)
	case "Namespace":
		var v struct {
			Metadata jsonMeta `json:"metadata"`
		}
		err = json.Unmarshal(raw, &v)
		o.v = (*namespaceMeta)(&v.Metadata.Meta)
	case "Node":
		o.v, err = decodeNode(raw)
	case "StatefulSet":
		o.v, err = decodeStatefulSet(raw)
	case "VirtualMachine", "VirtualMachineInstance":
		var v struct {
			Metadata jsonMeta `json:"metadata"`
		}
		err = json.Unmarshal(raw, &v)
		o.v = (*vmMeta)(&v.Metadata.Meta)
	case "IptablesEIP", "OvnEip":
		var v struct {
			Metadata jsonMeta `json:"metadata"`
		}
		err = json.Unmarshal(raw, &v)
		o.v = (*eipMeta)(&v.Metadata.Meta)
	case "Event":
		o.v, err = decodeEvent(raw)
	case "ServiceCIDR":
		o.v, err = decodeServiceCIDR(raw)
	case "Lease":
		var r *Reservation
		r, err = decodeReservation(raw)
		if err == nil && r == nil {
			return Object{}, nil // not a reservation: ignored
		}
		o.v = r
	default:
		return Object{}, nil
	}
	if err != nil {
		return Object{}, fmt.Errorf("%s %s: %w", apiVersion, kind, err)
	}
	if o.kind == objectNone {
		o.kind = objectOther
	}
	return o, nil
}

// Apply adds a decoded object to the state.
func (s *State) Apply(o *Object) {
	switch o.kind {
	case objectPod:
		s.Pods = append(grow(s.Pods), o.pod)
	case objectIP:
		s.IPs = append(grow(s.IPs), o.ip)
	case objectOther:
		switch v := o.v.(type) {
		case *kubeovnv1.Subnet:
			s.Subnets = append(s.Subnets, *v)
		case *kubeovnv1.IPPool:
			s.IPPools = append(s.IPPools, *v)
		case *kubeovnv1.Vpc:
			s.Vpcs = append(s.Vpcs, *v)
		case *kubeovnv1.Vip:
			s.Vips = append(s.Vips, *v)
		case *namespaceMeta:
			s.Namespaces = append(s.Namespaces, Meta(*v))
			if v.Name == "kube-system" && s.ClusterID == "" {
				s.ClusterID = v.UID
			}
		case *Node:
			s.Nodes = append(s.Nodes, *v)
		case *StatefulSet:
			s.StatefulSets = append(s.StatefulSets, *v)
		case *vmMeta:
			s.VirtualMachines = append(s.VirtualMachines, Meta(*v))
		case *eipMeta:
			s.EIPs = append(s.EIPs, Meta(*v))
		case *Event:
			s.Events = append(s.Events, *v)
		case *Reservation:
			s.Reservations = append(s.Reservations, *v)
		case serviceCIDRs:
			s.ServiceCIDRs = append(s.ServiceCIDRs, v...)
		}
	}
}

// Reserve makes room for the pods and IP objects a snapshot says it holds
// (its item counts by kind, snapshot.TailCounts), so that reading them
// never grows (copies) the state's two largest slices. Counts that are
// wrong only cost that growth, or room Compact gives back.
func (s *State) Reserve(counts map[string]int) {
	s.Pods = slices.Grow(s.Pods, counts["Pod"])
	s.IPs = slices.Grow(s.IPs, counts["IP"])
}

// Compact shrinks the slices of pods and IP objects to their length once
// the state is read, and when it copied one, collects the garbage: growing
// them by doubling can leave up to half of a slice of a million unused (a
// hundred megabytes of pods) through the whole diagnosis, and what reading
// left behind would otherwise still be there when the checks allocate.
// For a one-shot diagnosis of a large state (the doctor's): at 10k
// subnets, 1M IP objects and 1M pods it lowers the peak heap from 2.0 to
// 1.8 GB for a collection of about half a second.
func (s *State) Compact() {
	var pods, ips bool
	s.Pods, pods = clip(s.Pods)
	s.IPs, ips = clip(s.IPs)
	if pods || ips {
		runtime.GC()
	}
}

// clip copies v to a slice of its length when more than a sixteenth of it
// is unused; copied says whether it did.
func clip[T any](v []T) (_ []T, copied bool) {
	if cap(v)-len(v) <= len(v)/16 {
		return v, false
	}
	return append(make([]T, 0, len(v)), v...), true
}

// grow doubles a full slice: append grows large slices by a quarter,
// which copies a million IP objects (half a gigabyte) many times over.
func grow[T any](v []T) []T {
	if len(v) == cap(v) && len(v) >= 1024 {
		return slices.Grow(v, len(v))
	}
	return v
}

// decodeIP is the slow path of IP objects, apart so that only it puts an
// IP on the heap (Decode's Object stays on the stack).
func decodeIP(raw []byte) (kubeovnv1.IP, error) {
	var ip kubeovnv1.IP
	err := json.Unmarshal(raw, &ip)
	keepIP(&ip)
	return ip, err
}

// keepIP drops what the doctor never reads of an IP object, so that a
// million of them fit in memory: the labels but ipReservedLabel (the only
// one a check reads; Kube-OVN's subnet and node labels repeat the spec),
// and the MAC addresses and container ID. The fast decoder skips the same
// members as it reads them.
func keepIP(ip *kubeovnv1.IP) {
	for k := range ip.Labels {
		if !ipLabelKept(k) {
			delete(ip.Labels, k)
		}
	}
	if len(ip.Labels) == 0 {
		ip.Labels = nil
	}
	ip.Spec.MacAddress, ip.Spec.AttachMacs, ip.Spec.ContainerID = "", nil, ""
}

// keptAnnotations drops the annotations of a pod that no check reads,
// in place; nil when none is left. Kube-OVN writes a dozen on every pod it
// allocates (cidr, gateway, logical_router, pod_nic_type, routed, ...);
// the doctor and the admission pipeline read only those of
// podAnnotationKept.
func keptAnnotations(ann map[string]string) map[string]string {
	for k := range ann {
		if !podAnnotationKept(k) {
			delete(ann, k)
		}
	}
	if len(ann) == 0 {
		return nil
	}
	return ann
}

// podAnnotationKept tells the annotations of pods a State keeps: the
// static-IP and allocation keys of every provider (annotations.ParseKey,
// what the admission pipeline reads), Multus' network status, the VIP a
// pod claims and KubeVirt's migration job.
func podAnnotationKept(key string) bool {
	switch key {
	case networkStatusAnnotation, oldNetworkStatusAnnotation, vipAnnotation, annotations.MigrationJob:
		return true
	}
	_, ok := annotations.ParseKey(key)
	return ok
}

// ipLabelKept tells the labels of IP objects that a State keeps.
func ipLabelKept(key string) bool { return key == ipReservedLabel }

func decode[T any](raw []byte) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, err
	}
	return v, nil
}

func decodeNode(raw []byte) (*Node, error) {
	var o struct {
		Metadata jsonMeta `json:"metadata"`
		Status   struct {
			Addresses []struct{ Type, Address string } `json:"addresses"`
		} `json:"status"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	n := &Node{Meta: o.Metadata.Meta}
	for _, a := range o.Status.Addresses {
		if a.Type == "InternalIP" {
			n.InternalIPs = append(n.InternalIPs, a.Address)
		}
	}
	return n, nil
}

type waitingState struct {
	State struct {
		Waiting *struct {
			Reason string `json:"reason"`
		} `json:"waiting"`
	} `json:"state"`
}

func decodePod(raw []byte) (Pod, error) {
	var o struct {
		Metadata jsonMeta `json:"metadata"`
		Spec     struct {
			NodeName    string `json:"nodeName"`
			HostNetwork bool   `json:"hostNetwork"`
		} `json:"spec"`
		Status struct {
			Phase  string `json:"phase"`
			PodIPs []struct {
				IP string `json:"ip"`
			} `json:"podIPs"`
			ContainerStatuses []waitingState `json:"containerStatuses"`
		} `json:"status"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return Pod{}, err
	}
	p := Pod{Meta: o.Metadata.Meta, NodeName: o.Spec.NodeName, HostNetwork: o.Spec.HostNetwork, Phase: o.Status.Phase}
	p.Annotations = keptAnnotations(p.Annotations)
	for _, ip := range o.Status.PodIPs {
		p.PodIPs = append(p.PodIPs, ip.IP)
	}
	for _, c := range o.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil && w.Reason != "" {
			p.Waiting = w.Reason
			break
		}
	}
	return p, nil
}

func decodeStatefulSet(raw []byte) (*StatefulSet, error) {
	var o struct {
		Metadata jsonMeta `json:"metadata"`
		Spec     struct {
			Replicas *int32 `json:"replicas"`
			Ordinals *struct {
				Start int32 `json:"start"`
			} `json:"ordinals"`
			Template struct {
				Metadata struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	st := &StatefulSet{Meta: o.Metadata.Meta, Replicas: 1, TemplateAnnotations: o.Spec.Template.Metadata.Annotations}
	if o.Spec.Replicas != nil {
		st.Replicas = *o.Spec.Replicas
	}
	if o.Spec.Ordinals != nil {
		st.Start = o.Spec.Ordinals.Start
	}
	return st, nil
}

func decodeEvent(raw []byte) (*Event, error) {
	var o struct {
		Metadata       jsonMeta  `json:"metadata"`
		InvolvedObject ObjectRef `json:"involvedObject"`
		Type           string    `json:"type"`
		Reason         string    `json:"reason"`
		// Read only to refuse what the snapshot writer refuses.
		ReportingComponent string           `json:"reportingComponent"`
		Message            string           `json:"message"`
		Count              int32            `json:"count"`
		LastTimestamp      metav1.Time      `json:"lastTimestamp"`
		EventTime          metav1.MicroTime `json:"eventTime"`
		Series             *struct {
			Count            int32            `json:"count"`
			LastObservedTime metav1.MicroTime `json:"lastObservedTime"`
		} `json:"series"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	e := &Event{Meta: o.Metadata.Meta, Object: o.InvolvedObject, Type: o.Type, Reason: o.Reason, Message: o.Message, Count: o.Count, Last: o.LastTimestamp.Time}
	if o.Series != nil {
		e.Count, e.Last = o.Series.Count, o.Series.LastObservedTime.Time
	}
	if e.Last.IsZero() {
		e.Last = o.EventTime.Time
	}
	if e.Last.IsZero() {
		e.Last = o.Metadata.CreationTimestamp.Time
	}
	return e, nil
}

func decodeServiceCIDR(raw []byte) (serviceCIDRs, error) {
	var o struct {
		Spec struct {
			CIDRs []string `json:"cidrs"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	out := serviceCIDRs{}
	for _, c := range o.Spec.CIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("spec.cidrs: %q: %w", c, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
