package diagnose

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

// Pod is what the doctor keeps of a pod: metadata (IPAM annotations,
// owners, labels), node, phase, IPs and why its containers wait.
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
	Object  ObjectRef `json:"object"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Count   int32     `json:"count,omitempty"`
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

	Subnets    []kubeovnv1.Subnet
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
	Events          []Event
	// ServiceCIDRs are the cluster's Service ranges, when known (the
	// networking.k8s.io ServiceCIDR objects, or --service-cidr).
	ServiceCIDRs []netip.Prefix

	// Incomplete lists what could not be read.
	Incomplete []Gap
}

// Add decodes one object (JSON with apiVersion and kind) into the state.
// Kinds the doctor does not use are ignored; a malformed object is an
// error naming it.
func (s *State) Add(apiVersion, kind string, raw []byte) error {
	var err error
	switch kind {
	case "Subnet":
		err = add(&s.Subnets, raw)
	case "IP":
		err = add(&s.IPs, raw)
	case "IPPool":
		err = add(&s.IPPools, raw)
	case "Vpc":
		err = add(&s.Vpcs, raw)
	case "Vip":
		err = add(&s.Vips, raw)
	case "Namespace":
		var o struct {
			Metadata Meta `json:"metadata"`
		}
		if err = json.Unmarshal(raw, &o); err == nil {
			s.Namespaces = append(s.Namespaces, o.Metadata)
			if o.Metadata.Name == "kube-system" && s.ClusterID == "" {
				s.ClusterID = o.Metadata.UID
			}
		}
	case "Node":
		err = s.addNode(raw)
	case "Pod":
		err = s.addPod(raw)
	case "StatefulSet":
		err = s.addStatefulSet(raw)
	case "VirtualMachine", "VirtualMachineInstance":
		var o struct {
			Metadata Meta `json:"metadata"`
		}
		if err = json.Unmarshal(raw, &o); err == nil {
			s.VirtualMachines = append(s.VirtualMachines, o.Metadata)
		}
	case "Event":
		err = s.addEvent(raw)
	case "ServiceCIDR":
		err = s.addServiceCIDR(raw)
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", apiVersion, kind, err)
	}
	return nil
}

func add[T any](to *[]T, raw []byte) error {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	*to = append(*to, v)
	return nil
}

func (s *State) addNode(raw []byte) error {
	var o struct {
		Metadata Meta `json:"metadata"`
		Status   struct {
			Addresses []struct{ Type, Address string } `json:"addresses"`
		} `json:"status"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return err
	}
	n := Node{Meta: o.Metadata}
	for _, a := range o.Status.Addresses {
		if a.Type == "InternalIP" {
			n.InternalIPs = append(n.InternalIPs, a.Address)
		}
	}
	s.Nodes = append(s.Nodes, n)
	return nil
}

type waitingState struct {
	State struct {
		Waiting *struct {
			Reason string `json:"reason"`
		} `json:"waiting"`
	} `json:"state"`
}

func (s *State) addPod(raw []byte) error {
	var o struct {
		Metadata Meta `json:"metadata"`
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
		return err
	}
	p := Pod{Meta: o.Metadata, NodeName: o.Spec.NodeName, HostNetwork: o.Spec.HostNetwork, Phase: o.Status.Phase}
	for _, ip := range o.Status.PodIPs {
		p.PodIPs = append(p.PodIPs, ip.IP)
	}
	for _, c := range o.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil && w.Reason != "" {
			p.Waiting = w.Reason
			break
		}
	}
	s.Pods = append(s.Pods, p)
	return nil
}

func (s *State) addStatefulSet(raw []byte) error {
	var o struct {
		Metadata Meta `json:"metadata"`
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
		return err
	}
	st := StatefulSet{Meta: o.Metadata, Replicas: 1, TemplateAnnotations: o.Spec.Template.Metadata.Annotations}
	if o.Spec.Replicas != nil {
		st.Replicas = *o.Spec.Replicas
	}
	if o.Spec.Ordinals != nil {
		st.Start = o.Spec.Ordinals.Start
	}
	s.StatefulSets = append(s.StatefulSets, st)
	return nil
}

func (s *State) addEvent(raw []byte) error {
	var o struct {
		Metadata       Meta             `json:"metadata"`
		InvolvedObject ObjectRef        `json:"involvedObject"`
		Reason         string           `json:"reason"`
		Message        string           `json:"message"`
		Count          int32            `json:"count"`
		LastTimestamp  metav1.Time      `json:"lastTimestamp"`
		EventTime      metav1.MicroTime `json:"eventTime"`
		Series         *struct {
			Count            int32            `json:"count"`
			LastObservedTime metav1.MicroTime `json:"lastObservedTime"`
		} `json:"series"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return err
	}
	e := Event{Meta: o.Metadata, Object: o.InvolvedObject, Reason: o.Reason, Message: o.Message, Count: o.Count, Last: o.LastTimestamp.Time}
	if o.Series != nil {
		e.Count, e.Last = o.Series.Count, o.Series.LastObservedTime.Time
	}
	if e.Last.IsZero() {
		e.Last = o.EventTime.Time
	}
	if e.Last.IsZero() {
		e.Last = o.Metadata.CreationTimestamp.Time
	}
	s.Events = append(s.Events, e)
	return nil
}

func (s *State) addServiceCIDR(raw []byte) error {
	var o struct {
		Spec struct {
			CIDRs []string `json:"cidrs"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return err
	}
	for _, c := range o.Spec.CIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return fmt.Errorf("spec.cidrs: %q: %w", c, err)
		}
		s.ServiceCIDRs = append(s.ServiceCIDRs, p.Masked())
	}
	return nil
}
