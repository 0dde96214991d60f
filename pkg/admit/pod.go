package admit

import (
	"net/netip"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	"github.com/ipamguard/ipamguard/pkg/mutate"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// podMeta is the part of a Pod the rules read; the spec is never decoded.
type podMeta struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
}

// podKind: Pods are judged on creation only. Pods with static-IP
// annotations get the pod rules (vpod), and claim their fixed addresses;
// any other pod only the capacity rule (vpodcapacity).
var podKind = kind{
	prepare: func(_ *Engine, r *run) error {
		if r.req.Stages&Validate == 0 {
			return nil
		}
		var m podMeta
		if err := decode(r, false, &m); err != nil {
			return err
		}
		if m.Metadata.Namespace == "" {
			// A pod being created may not carry its namespace yet.
			m.Metadata.Namespace = r.req.Namespace
		}
		r.obj = &m.Metadata
		return nil
	},
	defaults: func(r *run) (mutate.Patch, []mutate.Change, error) {
		if r.req.Operation != Create {
			return nil, nil, nil
		}
		return mutate.PodPatch(r.req.Object, func(ir annotations.Request) []netip.Prefix {
			var blocks []netip.Prefix
			for _, sn := range validate.ResolveSubnets(r.rc, r.req.Namespace, ir) {
				blocks = append(blocks, sn.Spec.Blocks...)
			}
			return blocks
		})
	},
	validate: func(r *run) {
		meta, _ := r.obj.(*metav1.ObjectMeta)
		if meta == nil {
			return
		}
		r.out.Admitted = meta
		if r.req.Operation != Create {
			r.out.Note = "pod updates are not judged"
			return
		}
		if !StaticPod(meta.Annotations) {
			in := validate.PodInput{Namespace: r.req.Namespace}
			r.out.Findings = append(r.out.Findings, validate.PodCapacity(r.rc, nil, &in).Findings...)
			return
		}
		in := PodInput(r.req.Namespace, meta)
		if in.Name == "" {
			in.Name = r.req.Name
		}
		res := validate.PodCreate(r.rc, nil, &in)
		r.out.Findings = append(r.out.Findings, res.Findings...)
		r.out.Findings = append(r.out.Findings, validate.PodCapacityNamed(r.rc, nil, &in).Findings...)
		r.out.Claims = res.Claims
		r.claimant, r.claimantUID = &in, string(meta.UID)
	},
}

// StaticPod reports whether pod (or pod template) annotations carry what
// the static-IP rules read: a fixed address, an ip_pool or a logical
// switch, for any provider. Other pods only get the capacity rule. The
// webhook's matchConditions make the same split.
func StaticPod(ann map[string]string) bool {
	return annotations.HasStatic(ann) || HasLogicalSwitch(ann)
}

// HasLogicalSwitch reports whether annotations name a subnet for any
// provider.
func HasLogicalSwitch(ann map[string]string) bool {
	for k := range ann {
		if key, ok := annotations.ParseKey(k); ok && key.Name == annotations.LogicalSwitch {
			return true
		}
	}
	return false
}

// PodInput is what the pod rules read of a pod's metadata. namespace is
// the request's (a pod being created may not carry its own yet).
func PodInput(namespace string, m *metav1.ObjectMeta) validate.PodInput {
	return validate.PodInput{
		Namespace:   namespace,
		Name:        m.Name,
		Labels:      m.Labels,
		Annotations: m.Annotations,
		VM:          annotations.LauncherVM(m.OwnerReferences),
		Ordinal:     StatefulSetOrdinal(m),
		Meta:        field.NewPath("metadata"),
	}
}

// StatefulSetOrdinal returns the ordinal of a pod owned by a StatefulSet
// (the number after the last "-" of its name), or -1.
func StatefulSetOrdinal(m *metav1.ObjectMeta) int {
	owned := false
	for _, o := range m.OwnerReferences {
		if o.Kind == "StatefulSet" && o.Controller != nil && *o.Controller {
			owned = true
		}
	}
	i := strings.LastIndexByte(m.Name, '-')
	if !owned || i < 0 {
		return -1
	}
	n, err := strconv.Atoi(m.Name[i+1:])
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// defaultWarnings renders the defaulters' changes as the warnings they
// return; in audit mode nothing is rewritten, and the warnings say so.
func defaultWarnings(changes []mutate.Change, audit bool) []string {
	out := mutate.Warnings(changes)
	if audit {
		for i := range out {
			out[i] += " (audit mode: not applied)"
		}
	}
	return out
}
