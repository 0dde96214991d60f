// Package admit is what an admission of each kind runs, apart from how the
// object arrives: which parts of an object the rules read, which objects
// they judge, and which rules run for each operation. The webhook
// (pkg/webhook, objects from AdmissionReviews) and the offline check
// (pkg/check, objects from manifest files) both call it, so the two judge
// alike. No rule lives here: the rules are pkg/validate's.
package admit

import (
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// SubnetCreate judges a new Subnet; the exhaustion warning is only given to
// a subnet no other rule found fault with.
func SubnetCreate(r inventory.Reader, cfg *config.Config, obj *kubeovnv1.Subnet) []policy.Finding {
	fs := validate.SubnetCreate(r, cfg.Defaults, obj)
	if len(fs) == 0 {
		fs = validate.SubnetExhaustion(r, cfg.Defaults, cfg.Thresholds.Levels(), obj)
	}
	return fs
}

// SubnetUpdate judges a change to a Subnet, like SubnetCreate.
func SubnetUpdate(r inventory.Reader, cfg *config.Config, old, obj *kubeovnv1.Subnet) []policy.Finding {
	fs := validate.SubnetUpdate(r, cfg.Defaults, old, obj)
	if len(fs) == 0 {
		fs = validate.SubnetExhaustion(r, cfg.Defaults, cfg.Thresholds.Levels(), obj)
	}
	return fs
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

// Pod judges a new pod with static-IP annotations: the pod rules, then the
// capacity of a subnet it names without a fixed address. It returns the
// addresses the pod claims if admitted.
func Pod(r inventory.Reader, cfg *config.Config, in validate.PodInput, res validate.Reservations) ([]policy.Finding, []validate.Claim) {
	fs, claims := validate.PodCreate(r, cfg.Defaults, in, res)
	return append(fs, validate.PodCapacityNamed(r, cfg.Defaults, cfg.Thresholds.Levels(), in)...), claims
}

// PodCapacity judges a new pod without static-IP annotations: only whether
// the subnet it lands in runs out of addresses.
func PodCapacity(r inventory.Reader, cfg *config.Config, namespace string) []policy.Finding {
	return validate.PodCapacity(r, cfg.Defaults, cfg.Thresholds.Levels(), namespace)
}

// TemplateMeta is the metadata of a pod template; the pod spec is never
// decoded into types.
type TemplateMeta struct {
	Metadata struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
}

// Workload is the part of any workload kind (Deployment, ReplicaSet,
// StatefulSet, DaemonSet, Job, CronJob), or of a Scale, the rules read.
type Workload struct {
	Metadata struct {
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		Replicas          *int32       `json:"replicas"`
		Parallelism       *int32       `json:"parallelism"`
		ConcurrencyPolicy string       `json:"concurrencyPolicy"`
		Template          TemplateMeta `json:"template"`
		JobTemplate       struct {
			Spec struct {
				Parallelism *int32       `json:"parallelism"`
				Template    TemplateMeta `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
}

// Input turns the decoded object into the workload rules' input.
func (o *Workload) Input(kind, namespace, name string) validate.WorkloadInput {
	in := validate.WorkloadInput{Kind: kind, Namespace: namespace, Name: name}
	t := o.Spec.Template
	switch kind {
	case validate.KindJob:
		in.Replicas = o.Spec.Parallelism
	case validate.KindCronJob:
		in.Replicas = o.Spec.JobTemplate.Spec.Parallelism
		in.ConcurrencyPolicy = o.Spec.ConcurrencyPolicy
		t = o.Spec.JobTemplate.Spec.Template
	case validate.KindDaemonSet:
	default:
		in.Replicas = o.Spec.Replicas
	}
	in.Labels, in.Annotations = t.Metadata.Labels, t.Metadata.Annotations
	return in
}

// Derived reports whether the object was made by a controller from a
// workload the rules already judged (a Deployment's ReplicaSet, a
// CronJob's Job). Judging it again adds nothing, and refusing it would
// only stall the controller with errors the user never sees.
func (o *Workload) Derived(kind string) bool {
	for _, ref := range o.Metadata.OwnerReferences {
		if ref.Controller != nil && *ref.Controller && DerivedFrom(kind, ref.Kind) {
			return true
		}
	}
	return false
}

// DerivedFrom reports whether a workload of kind controlled by a
// controllerKind object is judged through its parent: a Deployment's
// ReplicaSet, a CronJob's Job. Workloads controlled by anything else (an
// operator's StatefulSet) are judged themselves.
func DerivedFrom(kind, controllerKind string) bool {
	switch kind {
	case validate.KindReplicaSet:
		return controllerKind == validate.KindDeployment
	case validate.KindJob:
		return controllerKind == validate.KindCronJob
	}
	return false
}

// Replicas returns spec.replicas. A missing value means 1 on a workload
// (the API default) but 0 on a Scale, whose field is omitempty.
func (o *Workload) Replicas(scale bool) int64 {
	switch {
	case o.Spec.Replicas != nil:
		return int64(*o.Spec.Replicas)
	case scale:
		return 0
	default:
		return 1
	}
}

// CapacityKind reports whether the workload capacity rule judges
// creations and scale-ups of kind: the apps/v1 kinds with spec.replicas.
func CapacityKind(kind string) bool {
	switch kind {
	case validate.KindDeployment, validate.KindStatefulSet, validate.KindReplicaSet:
		return true
	}
	return false
}

// CapacityJudged reports whether the capacity rule judges a created or
// scaled-up workload itself: not when a controller owns it (a
// Deployment's ReplicaSet is judged through the Deployment), not when its
// template has fixed addresses (the workload rules judge those).
func (o *Workload) CapacityJudged() bool {
	return len(o.Metadata.OwnerReferences) == 0 && !annotations.HasStatic(o.Spec.Template.Metadata.Annotations)
}

// WorkloadRules judges a workload's template and replicas: a creation when
// old is nil, else an update.
func WorkloadRules(r inventory.Reader, cfg *config.Config, old *validate.WorkloadInput, in validate.WorkloadInput) []policy.Finding {
	if old == nil {
		return validate.WorkloadCreate(r, cfg.Defaults, in)
	}
	return validate.WorkloadUpdate(r, cfg.Defaults, *old, in)
}

// WorkloadCapacity warns when added more pods (total in all) of a template
// with annotations ann leave the subnet they land in at or under a
// threshold. The finding is reported on spec.replicas.
func WorkloadCapacity(r inventory.Reader, cfg *config.Config, namespace string, ann map[string]string, added, total int64) []policy.Finding {
	return validate.WorkloadCapacity(r, cfg.Defaults, cfg.Thresholds.Levels(), namespace,
		ann[annotations.DefaultProvider+".kubernetes.io/"+annotations.LogicalSwitch], uint64(added), field.NewPath("spec", "replicas"), total)
}
