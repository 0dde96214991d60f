package webhook

import (
	"context"
	"fmt"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/review"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// WorkloadPath is where the workload validator is served.
const WorkloadPath = "/validate-workloads"

// The workload webhook judges the pod templates of Deployments,
// ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs, so a bad static
// IP is refused when the workload is applied rather than surfacing later as
// ReplicaSet events. It fails open (Ignore): it sits on the application
// deploy path, and a webhook outage must never block rollouts; the Pod
// webhook still judges each pod. The API server only calls it for
// templates (new or old) carrying Kube-OVN static-IP or subnet annotations
// (matchConditions, added by hack/webhookgen).
// +kubebuilder:webhook:path=/validate-workloads,mutating=false,failurePolicy=ignore,sideEffects=None,groups=apps;batch,resources=deployments;replicasets;statefulsets;daemonsets;jobs;cronjobs,verbs=create;update,versions=v1,name=vworkload.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=3

// WorkloadValidator admits creations and updates of workloads.
type WorkloadValidator struct {
	Deps
}

// NewWorkloadValidator returns the workload validator.
func NewWorkloadValidator(d Deps) *WorkloadValidator { return &WorkloadValidator{Deps: d} }

// templateMeta is the metadata of a pod template; the pod spec is never
// decoded into types.
type templateMeta struct {
	Metadata struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
}

// workloadObject is the part of any workload kind the rules read.
type workloadObject struct {
	Metadata struct {
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		Replicas          *int32       `json:"replicas"`
		Parallelism       *int32       `json:"parallelism"`
		ConcurrencyPolicy string       `json:"concurrencyPolicy"`
		Template          templateMeta `json:"template"`
		JobTemplate       struct {
			Spec struct {
				Parallelism *int32       `json:"parallelism"`
				Template    templateMeta `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
}

// input turns the decoded object into the rules' input.
func (o *workloadObject) input(kind, namespace, name string) validate.WorkloadInput {
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

// derived reports whether the object was made by a controller from a
// workload this webhook already judged (a Deployment's ReplicaSet, a
// CronJob's Job). Judging it again adds nothing, and refusing it would
// only stall the controller with errors the user never sees.
func (o *workloadObject) derived(kind string) bool {
	for _, ref := range o.Metadata.OwnerReferences {
		if ref.Controller != nil && *ref.Controller && derivedFrom(kind, ref.Kind) {
			return true
		}
	}
	return false
}

// derivedFrom reports whether a workload of kind controlled by a
// controllerKind object is one this webhook judges through its parent: a
// Deployment's ReplicaSet, a CronJob's Job. Workloads controlled by
// anything else (an operator's StatefulSet) are judged themselves.
func derivedFrom(kind, controllerKind string) bool {
	switch kind {
	case validate.KindReplicaSet:
		return controllerKind == validate.KindDeployment
	case validate.KindJob:
		return controllerKind == validate.KindCronJob
	}
	return false
}

// Handle implements admission.Handler.
func (v *WorkloadValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	kind := req.Kind.Kind
	gk := schema.GroupKind{Group: req.Kind.Group, Kind: kind}
	if !validate.IsWorkloadKind(kind) || (req.Operation != admissionv1.Create && req.Operation != admissionv1.Update) {
		return admission.Allowed("")
	}
	var obj, old workloadObject
	if err := review.DecodeObject(req.Object, &obj); err != nil {
		return v.fail(req, gk, start, http.StatusBadRequest, fmt.Errorf("decode %s %s/%s: %w", kind, req.Namespace, req.Name, err))
	}
	if obj.derived(kind) {
		return admission.Allowed("")
	}
	in := obj.input(kind, req.Namespace, req.Name)
	var oldIn validate.WorkloadInput
	if req.Operation == admissionv1.Update {
		if err := review.DecodeObject(req.OldObject, &old); err != nil {
			return v.fail(req, gk, start, http.StatusBadRequest, fmt.Errorf("decode old %s %s/%s: %w", kind, req.Namespace, req.Name, err))
		}
		oldIn = old.input(kind, req.Namespace, req.Name)
	}
	if !judged(in.Annotations) && !judged(oldIn.Annotations) {
		return admission.Allowed("")
	}
	resp, _ := v.judge(ctx, req, gk, start, func(r inventory.Reader, cfg *config.Config) []policy.Finding {
		if req.Operation == admissionv1.Create {
			return validate.WorkloadCreate(r, cfg.Defaults, in)
		}
		return validate.WorkloadUpdate(r, cfg.Defaults, oldIn, in)
	})
	return resp
}

// judged reports whether a template carries annotations the rules read.
func judged(ann map[string]string) bool {
	return annotations.HasStatic(ann) || hasLogicalSwitch(ann)
}
