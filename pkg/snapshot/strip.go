package snapshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// Visit receives one object: its apiVersion, kind and JSON (with
// apiVersion and kind set). raw is valid only during the call.
// (*diagnose.State).Add is one.
type Visit func(apiVersion, kind string, raw []byte) error

// Stripped returns a Visit that strips each object (Strip) before it
// passes it on, and drops the objects Strip does not keep: a live read
// then builds the very state a snapshot of the same cluster holds.
func Stripped(next Visit) Visit {
	return func(apiVersion, kind string, raw []byte) error {
		out, keep, err := Strip(apiVersion, kind, raw)
		if err != nil || !keep {
			return err
		}
		return next(apiVersion, kind, out)
	}
}

// Multus' annotations: the attachments a pod asks for and what it got.
const (
	multusNetworks      = "k8s.v1.cni.cncf.io/networks"
	multusNetworkStatus = "k8s.v1.cni.cncf.io/network-status"
	// multusNetworksStatus is the name before Multus 3.7.
	multusNetworksStatus = "k8s.v1.cni.cncf.io/networks-status"
	// ownDomain holds ipamguard's own annotations.
	ownDomain = "ipamguard.io/"
)

// KeepAnnotation reports whether a snapshot keeps an annotation: Kube-OVN's
// (every "<provider>.kubernetes.io/<name>" key pkg/annotations parses, and
// any other key of an OVN provider: "ovn.kubernetes.io/cidr",
// "<nad>.<ns>.ovn.kubernetes.io/gateway"), Multus' attachments and network
// status, KubeVirt's migration job, and ipamguard's own. Everything else
// (kubectl.kubernetes.io/last-applied-configuration above all) goes.
func KeepAnnotation(key string) bool {
	if _, ok := annotations.ParseKey(key); ok {
		return true
	}
	switch key {
	case multusNetworks, multusNetworkStatus, multusNetworksStatus, annotations.MigrationJob:
		return true
	}
	if provider, _, ok := strings.Cut(key, annotations.Domain); ok && !strings.Contains(provider, "/") {
		if provider == annotations.DefaultProvider || strings.HasSuffix(provider, "."+annotations.DefaultProvider) {
			return true
		}
	}
	i := strings.IndexByte(key, '/')
	return i >= 0 && (key[:i+1] == ownDomain || strings.HasSuffix(key[:i+1], "."+ownDomain))
}

// meta is the metadata a snapshot keeps of every object.
type meta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	CreationTimestamp json.RawMessage   `json:"creationTimestamp,omitempty"`
	DeletionTimestamp json.RawMessage   `json:"deletionTimestamp,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	OwnerReferences   json.RawMessage   `json:"ownerReferences,omitempty"`
	// Finalizers tell why an object being deleted is still there.
	Finalizers []string `json:"finalizers,omitempty"`
}

// strip drops the annotations KeepAnnotation does not keep, and JSON
// nulls.
func (m *meta) strip() {
	m.Annotations = keepAnnotations(m.Annotations)
	m.CreationTimestamp = dropNull(m.CreationTimestamp)
	m.DeletionTimestamp = dropNull(m.DeletionTimestamp)
	m.OwnerReferences = dropNull(m.OwnerReferences)
}

func keepAnnotations(in map[string]string) map[string]string {
	var out map[string]string
	for k, v := range in {
		if KeepAnnotation(k) {
			if out == nil {
				out = make(map[string]string, len(in))
			}
			out[k] = v
		}
	}
	return out
}

func dropNull(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}

// head starts every stripped object, so a reader finds apiVersion and
// kind first.
type head struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   meta   `json:"metadata"`
}

// Strip returns what the doctor and `kubectl ipam check` read of an object,
// as compact JSON with apiVersion and kind first; keep is false for an
// object a snapshot leaves out (an event that is not a Warning about a
// pod). Of every object it keeps the metadata of meta (annotations as
// KeepAnnotation says); then, by kind:
//
//   - Subnet, IP, IPPool, Vpc, Vip (kubeovn.io): spec and status whole;
//   - Namespace, VirtualMachine, VirtualMachineInstance: nothing more;
//   - Node: its InternalIP addresses;
//   - Pod: spec.nodeName, spec.hostNetwork, status.phase, status.podIPs
//     and the waiting reason of its containers;
//   - StatefulSet: spec.replicas, spec.ordinals and the pod template's
//     labels and (kept) annotations;
//   - Event: what it is about, reason, message, type, source, counts and
//     times;
//   - ServiceCIDR: spec.cidrs.
//
// Any other kind is kept whole: nothing says what its reader needs.
func Strip(apiVersion, kind string, raw []byte) (out []byte, keep bool, err error) {
	var v any
	switch kind {
	case "Subnet", "IP", "IPPool", "Vpc", "Vip":
		if groupOf(apiVersion) != kubeovnv1.GroupVersion.Group {
			return whole(raw)
		}
		var o struct {
			head
			Spec   json.RawMessage `json:"spec,omitempty"`
			Status json.RawMessage `json:"status,omitempty"`
		}
		err = json.Unmarshal(raw, &o)
		o.Spec, o.Status = dropNull(o.Spec), dropNull(o.Status)
		v = &o
	case "Namespace", "VirtualMachine", "VirtualMachineInstance":
		var o head
		err = json.Unmarshal(raw, &o)
		v = &o
	case "Node":
		v, err = stripNode(raw)
	case "Pod":
		v, err = stripPod(raw)
	case "StatefulSet":
		v, err = stripStatefulSet(raw)
	case "Event":
		var o *event
		o, err = stripEvent(raw)
		if err == nil && !o.kept() {
			return nil, false, nil
		}
		v = o
	case "ServiceCIDR":
		var o struct {
			head
			Spec struct {
				CIDRs []string `json:"cidrs,omitempty"`
			} `json:"spec"`
		}
		err = json.Unmarshal(raw, &o)
		v = &o
	default:
		return whole(raw)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s %s: %s", apiVersion, kind, Describe(err))
	}
	h := headOf(v)
	h.APIVersion, h.Kind = apiVersion, kind
	h.Metadata.strip()
	out, err = json.Marshal(v)
	if err != nil {
		return nil, false, fmt.Errorf("%s %s %s: %w", apiVersion, kind, h.Metadata.Name, err)
	}
	return out, true, nil
}

// headOf returns the head every stripped type embeds.
func headOf(v any) *head {
	type header interface{ getHead() *head }
	return v.(header).getHead()
}

func (h *head) getHead() *head { return h }

// whole keeps an object as it is, compacted.
func whole(raw []byte) ([]byte, bool, error) {
	var b bytes.Buffer
	b.Grow(len(raw))
	if err := json.Compact(&b, raw); err != nil {
		return nil, false, errors.New(Describe(err))
	}
	return b.Bytes(), true, nil
}

func groupOf(apiVersion string) string {
	group, _, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return ""
	}
	return group
}

type node struct {
	head
	Status struct {
		Addresses []address `json:"addresses,omitempty"`
	} `json:"status"`
}

type address struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

func stripNode(raw []byte) (*node, error) {
	var o node
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	kept := o.Status.Addresses[:0]
	for _, a := range o.Status.Addresses {
		if a.Type == "InternalIP" {
			kept = append(kept, a)
		}
	}
	o.Status.Addresses = kept
	return &o, nil
}

type pod struct {
	head
	Spec struct {
		NodeName    string `json:"nodeName,omitempty"`
		HostNetwork bool   `json:"hostNetwork,omitempty"`
	} `json:"spec"`
	Status struct {
		Phase  string `json:"phase,omitempty"`
		PodIPs []struct {
			IP string `json:"ip"`
		} `json:"podIPs,omitempty"`
		ContainerStatuses []containerStatus `json:"containerStatuses,omitempty"`
	} `json:"status"`
}

type containerStatus struct {
	State struct {
		Waiting *struct {
			Reason string `json:"reason,omitempty"`
		} `json:"waiting,omitempty"`
	} `json:"state"`
}

func stripPod(raw []byte) (*pod, error) {
	var o pod
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	// Only the containers that wait say something (why a pod is stuck
	// creating).
	waiting := o.Status.ContainerStatuses[:0]
	for _, c := range o.Status.ContainerStatuses {
		if c.State.Waiting != nil && c.State.Waiting.Reason != "" {
			waiting = append(waiting, c)
		}
	}
	o.Status.ContainerStatuses = waiting
	return &o, nil
}

type statefulSet struct {
	head
	Spec struct {
		Replicas *int32          `json:"replicas,omitempty"`
		Ordinals json.RawMessage `json:"ordinals,omitempty"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `json:"labels,omitempty"`
				Annotations map[string]string `json:"annotations,omitempty"`
			} `json:"metadata"`
		} `json:"template"`
	} `json:"spec"`
}

func stripStatefulSet(raw []byte) (*statefulSet, error) {
	var o statefulSet
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	o.Spec.Ordinals = dropNull(o.Spec.Ordinals)
	o.Spec.Template.Metadata.Annotations = keepAnnotations(o.Spec.Template.Metadata.Annotations)
	return &o, nil
}

type event struct {
	head
	InvolvedObject struct {
		APIVersion      string `json:"apiVersion,omitempty"`
		Kind            string `json:"kind,omitempty"`
		Namespace       string `json:"namespace,omitempty"`
		Name            string `json:"name,omitempty"`
		UID             string `json:"uid,omitempty"`
		ResourceVersion string `json:"resourceVersion,omitempty"`
	} `json:"involvedObject"`
	Reason             string          `json:"reason,omitempty"`
	Message            string          `json:"message,omitempty"`
	Type               string          `json:"type,omitempty"`
	Source             json.RawMessage `json:"source,omitempty"`
	ReportingComponent string          `json:"reportingComponent,omitempty"`
	Count              int32           `json:"count,omitempty"`
	FirstTimestamp     json.RawMessage `json:"firstTimestamp,omitempty"`
	LastTimestamp      json.RawMessage `json:"lastTimestamp,omitempty"`
	EventTime          json.RawMessage `json:"eventTime,omitempty"`
	Series             json.RawMessage `json:"series,omitempty"`
}

// EventType is the type of the events a snapshot keeps: the IPAM
// failures (FailedCreatePodSandBox, Kube-OVN's AcquireAddressFailed, ...)
// are all warnings. The doctor classifies them.
const EventType = "Warning"

// kept reports whether a snapshot keeps the event: a warning about a pod.
func (e *event) kept() bool { return e.Type == EventType && e.InvolvedObject.Kind == "Pod" }

func stripEvent(raw []byte) (*event, error) {
	var o event
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	for _, r := range []*json.RawMessage{&o.Source, &o.FirstTimestamp, &o.LastTimestamp, &o.EventTime, &o.Series} {
		*r = dropNull(*r)
	}
	return &o, nil
}

// Describe renders a JSON decoding error with the field it is about:
// "field metadata.labels: a JSON string where map[string]string is
// expected".
func Describe(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "(the object)"
		}
		return fmt.Sprintf("field %s: a JSON %s where %s is expected", field, te.Value, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	return err.Error()
}
