package admit

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// templateMetadata is the metadata of a pod template; the pod spec is
// never decoded into types.
type templateMetadata struct {
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
		Replicas          *int32 `json:"replicas"`
		Parallelism       *int32 `json:"parallelism"`
		ConcurrencyPolicy string `json:"concurrencyPolicy"`
		Ordinals          struct {
			Start int32 `json:"start"`
		} `json:"ordinals"`
		Template    templateMetadata `json:"template"`
		JobTemplate struct {
			Spec struct {
				Parallelism *int32           `json:"parallelism"`
				Template    templateMetadata `json:"template"`
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
	case validate.KindStatefulSet:
		in.Replicas = o.Spec.Replicas
		in.StartOrdinal = o.Spec.Ordinals.Start
	default:
		in.Replicas = o.Spec.Replicas
	}
	in.Labels, in.Annotations = t.Metadata.Labels, t.Metadata.Annotations
	return in
}

// derived reports whether the object was made by a controller from a
// workload the rules already judged (a Deployment's ReplicaSet, a
// CronJob's Job). Judging it again adds nothing, and refusing it would
// only stall the controller with errors the user never sees.
func (o *Workload) derived(kind string) bool {
	for _, ref := range o.Metadata.OwnerReferences {
		if ref.Controller != nil && *ref.Controller && derivedFrom(kind, ref.Kind) {
			return true
		}
	}
	return false
}

// derivedFrom reports whether a workload of kind controlled by a
// controllerKind object is judged through its parent: a Deployment's
// ReplicaSet, a CronJob's Job. Workloads controlled by anything else (an
// operator's StatefulSet) are judged themselves.
func derivedFrom(kind, controllerKind string) bool {
	switch kind {
	case validate.KindReplicaSet:
		return controllerKind == validate.KindDeployment
	case validate.KindJob:
		return controllerKind == validate.KindCronJob
	}
	return false
}

// replicas returns spec.replicas. A missing value means 1 on a workload
// (the API default) but 0 on a Scale, whose field is omitempty.
func (o *Workload) replicas(scale bool) int64 {
	switch {
	case o.Spec.Replicas != nil:
		return int64(*o.Spec.Replicas)
	case scale:
		return 0
	default:
		return 1
	}
}

// capacityKind reports whether the workload capacity rule judges
// creations and scale-ups of kind: the apps/v1 kinds with spec.replicas.
func capacityKind(kind string) bool {
	switch kind {
	case validate.KindDeployment, validate.KindStatefulSet, validate.KindReplicaSet:
		return true
	}
	return false
}

// capacityJudged reports whether the capacity rule judges a created or
// scaled-up workload itself: not when a controller owns it (a
// Deployment's ReplicaSet is judged through the Deployment), not when its
// template has fixed addresses (the workload rules judge those).
func (o *Workload) capacityJudged() bool {
	return len(o.Metadata.OwnerReferences) == 0 && !annotations.HasStatic(o.Spec.Template.Metadata.Annotations)
}

// decodeWorkloads decodes the request's object and, on update, the old
// one, as workloads (or Scales).
func decodeWorkloads(r *run) (obj, old *Workload, err error) {
	obj, old = &Workload{}, &Workload{}
	if err := decode(r, false, obj); err != nil {
		return nil, nil, err
	}
	if r.req.Operation == Update {
		if err := decode(r, true, old); err != nil {
			return nil, nil, err
		}
	}
	return obj, old, nil
}

// workloadKind: the workload rules judge templates with Kube-OVN
// annotations, new or old (vworkload); the capacity rule judges creations
// and scale-ups (vworkloadcapacity).
var workloadKind = kind{
	prepare: func(_ *Engine, r *run) error {
		if r.req.Stages&(Validate|Capacity) == 0 || (r.req.Operation != Create && r.req.Operation != Update) {
			return nil
		}
		obj, old, err := decodeWorkloads(r)
		if err != nil {
			return err
		}
		r.obj, r.old = obj, old
		return nil
	},
	validate: func(r *run) {
		obj, _ := r.obj.(*Workload)
		if obj == nil || obj.derived(r.req.Kind) {
			return
		}
		in := obj.Input(r.req.Kind, r.req.Namespace, r.req.Name)
		var oldIn *validate.WorkloadInput
		if r.req.Operation == Update {
			x := r.old.(*Workload).Input(r.req.Kind, r.req.Namespace, r.req.Name)
			oldIn = &x
		}
		if !StaticPod(in.Annotations) && (oldIn == nil || !StaticPod(oldIn.Annotations)) {
			return
		}
		r.out.Findings = append(r.out.Findings, workloadRules(r, oldIn, &in)...)
	},
	capacity: func(r *run) {
		obj, _ := r.obj.(*Workload)
		if obj == nil || !capacityKind(r.req.Kind) || !obj.capacityJudged() {
			return
		}
		added := obj.replicas(false)
		if r.req.Operation == Update {
			added -= r.old.(*Workload).replicas(false)
		}
		if added <= 0 {
			return
		}
		workloadCapacity(r, obj.Spec.Template.Metadata.Annotations, added, obj.replicas(false), false)
	},
}

// workloadRules judges a workload's template and replicas: a creation
// when old is nil, else an update.
func workloadRules(r *run, old, in *validate.WorkloadInput) []policy.Finding {
	if old == nil {
		return validate.WorkloadCreate(r.rc, nil, in).Findings
	}
	return validate.WorkloadUpdate(r.rc, old, in).Findings
}

// workloadCapacity warns when added more pods (total in all) of a template
// with annotations ann leave the subnet they land in at or under a
// threshold; advisory findings never deny. The finding is reported on
// spec.replicas.
func workloadCapacity(r *run, ann map[string]string, added, total int64, advisory bool) {
	in := validate.CapacityInput{
		Namespace:     r.req.Namespace,
		LogicalSwitch: ann[annotations.DefaultProvider+".kubernetes.io/"+annotations.LogicalSwitch],
		Need:          uint64(added),
		Replicas:      total,
		Path:          field.NewPath("spec", "replicas"),
	}
	fs := validate.WorkloadCapacity(r.rc, nil, &in).Findings
	for i := range fs {
		fs[i].Advisory = fs[i].Advisory || advisory
	}
	r.out.Findings = append(r.out.Findings, fs...)
}

// A Scale (the scale subresource kubectl scale and autoscalers write)
// carries a replica count but no pod template, so the template's Kube-OVN
// annotations, which decide both the subnet and whether the pods share a
// fixed address or a small ip_pool, are read from the workload.

// WorkloadTemplate is what the scale rules need of a workload.
type WorkloadTemplate struct {
	// Kind is validate.KindDeployment, KindStatefulSet or KindReplicaSet.
	Kind string
	// Labels and Annotations are the pod template's.
	Labels, Annotations map[string]string
	// Controller is the kind of the workload's controller owner, "" for
	// none. A Deployment's ReplicaSet is judged through the Deployment.
	Controller string
}

// WorkloadGetter reads the pod template of the workload a Scale belongs
// to. resource is the request's resource ("deployments", "statefulsets",
// "replicasets").
type WorkloadGetter interface {
	WorkloadTemplate(ctx context.Context, resource, namespace, name string) (WorkloadTemplate, error)
}

// scaleLookupTimeout bounds the read of a scaled workload's template, well
// inside the webhook's 2 s timeout.
const scaleLookupTimeout = time.Second

// scaleTarget is what prepare learnt of a scale request.
type scaleTarget struct {
	replicas, oldReplicas int64
	// template is nil when the workload's template could not be read.
	template *WorkloadTemplate
}

// scaleKind judges scale-ups through the scale subresource. A template
// with a fixed address or an ip_pool is judged by the workload rules for
// the new replica count (workload-static-ip, workload-pool-size), any
// other by the capacity rule for its subnet. When the template cannot be
// read, the capacity of the namespace's subnet is reported, advisory only:
// the real template's logical_switch may send the pods elsewhere, and a
// guess never refuses.
var scaleKind = kind{
	prepare: func(e *Engine, r *run) error {
		if r.req.Stages&Capacity == 0 || (r.req.Operation != Create && r.req.Operation != Update) {
			return nil
		}
		obj, old, err := decodeWorkloads(r)
		if err != nil {
			return err
		}
		s := &scaleTarget{replicas: obj.replicas(true)}
		if r.req.Operation == Update {
			s.oldReplicas = old.replicas(true)
		}
		if s.replicas <= s.oldReplicas {
			return nil
		}
		r.scale = s
		if e.Workloads == nil {
			return nil
		}
		lookup, cancel := context.WithTimeout(r.ctx, scaleLookupTimeout)
		defer cancel()
		t, err := e.Workloads.WorkloadTemplate(lookup, r.req.Resource, r.req.Namespace, r.req.Name)
		if err != nil {
			logr.FromContextOrDiscard(r.ctx).V(1).Info("scale judged without the workload's template",
				"namespace", r.req.Namespace, "name", r.req.Name, "error", err.Error())
			return nil
		}
		s.template = &t
		return nil
	},
	capacity: func(r *run) {
		s := r.scale
		if s == nil {
			return
		}
		added := s.replicas - s.oldReplicas
		t := s.template
		switch {
		case t == nil:
			workloadCapacity(r, nil, added, s.replicas, true)
			return
		case derivedFrom(t.Kind, t.Controller):
			return // a Deployment's ReplicaSet: judged through the Deployment
		case !annotations.HasStatic(t.Annotations):
			workloadCapacity(r, t.Annotations, added, s.replicas, false)
			return
		}
		n, o := int32(s.replicas), int32(s.oldReplicas)
		in := validate.WorkloadInput{Kind: t.Kind, Namespace: r.req.Namespace, Name: r.req.Name, Replicas: &n, Labels: t.Labels, Annotations: t.Annotations}
		old := in
		old.Replicas = &o
		// The template is unchanged, so only the replica rules speak.
		r.out.Findings = append(r.out.Findings, workloadRules(r, &old, &in)...)
	},
}
