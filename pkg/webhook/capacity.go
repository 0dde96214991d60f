package webhook

import (
	"context"
	"fmt"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/pkg/admit"
	"github.com/ipamguard/ipamguard/pkg/annotations"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/review"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// WorkloadCapacityPath serves creations and scale-ups of Deployments,
// StatefulSets and ReplicaSets (including their scale subresource, which
// kubectl scale and autoscalers use), warning when the pods they add need
// more addresses than their subnet has left. Fails open: it only warns,
// unless pod-subnet-exhausted is set to enforce.
const WorkloadCapacityPath = "/validate-workload-capacity"

// +kubebuilder:webhook:path=/validate-workload-capacity,mutating=false,failurePolicy=ignore,sideEffects=None,groups=apps,resources=deployments;statefulsets;replicasets;deployments/scale;statefulsets/scale;replicasets/scale,verbs=create;update,versions=v1,name=vworkloadcapacity.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=2

// CapacityValidator warns about workloads that will run their subnet dry.
type CapacityValidator struct {
	Deps
}

// NewCapacityValidator returns the workload capacity validator.
func NewCapacityValidator(d Deps) *CapacityValidator { return &CapacityValidator{Deps: d} }

// Handle implements admission.Handler.
func (v *CapacityValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	gk := schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return v.allow(req, gk, start)
	}
	var obj, old admit.Workload
	if err := review.DecodeObject(req.Object, &obj); err != nil {
		return v.fail(req, gk, start, http.StatusBadRequest, fmt.Errorf("decode %s %s/%s: %w", gk.Kind, req.Namespace, req.Name, err))
	}
	if req.Operation == admissionv1.Update {
		if err := review.DecodeObject(req.OldObject, &old); err != nil {
			return v.fail(req, gk, start, http.StatusBadRequest, fmt.Errorf("decode old %s %s/%s: %w", gk.Kind, req.Namespace, req.Name, err))
		}
	}
	scale := req.SubResource == "scale"
	added := obj.Replicas(scale)
	if req.Operation == admissionv1.Update {
		added -= old.Replicas(scale)
	}
	if added <= 0 {
		return v.allow(req, gk, start)
	}
	if scale {
		return v.scale(ctx, req, gk, start, obj.Replicas(true), old.Replicas(true))
	}
	// ReplicaSets of a Deployment are judged through the Deployment.
	if !obj.CapacityJudged() {
		return v.allow(req, gk, start)
	}
	return v.capacity(ctx, req, gk, start, obj.Spec.Template.Metadata.Annotations, added, obj.Replicas(false), false)
}

// capacity warns when added more pods (total in all) leave the subnet the
// template's pods land in at or under a threshold. advisory findings
// never deny.
func (v *CapacityValidator) capacity(ctx context.Context, req admission.Request, gk schema.GroupKind, start time.Time,
	ann map[string]string, added, total int64, advisory bool) admission.Response {
	resp, _ := v.judge(ctx, req, gk, start, func(r inventory.Reader, cfg *config.Config) []policy.Finding {
		fs := admit.WorkloadCapacity(r, cfg, req.Namespace, ann, added, total)
		for i := range fs {
			fs[i].Advisory = fs[i].Advisory || advisory
		}
		return fs
	})
	return resp
}

// scaleLookupTimeout bounds the read of a scaled workload's template, well
// inside the webhook's 2 s timeout.
const scaleLookupTimeout = time.Second

// scale judges a scale-up through the scale subresource. The Scale has no
// template, so the workload's is read: a template with a fixed address or
// an ip_pool is judged by the workload rules for the new replica count
// (workload-static-ip, workload-pool-size), any other by the capacity
// rule for its subnet. When the template cannot be read, the capacity of
// the namespace's subnet is reported, advisory only: the real template's
// logical_switch may send the pods elsewhere, and a guess never refuses.
func (v *CapacityValidator) scale(ctx context.Context, req admission.Request, gk schema.GroupKind, start time.Time, replicas, oldReplicas int64) admission.Response {
	if v.Workloads == nil {
		return v.capacity(ctx, req, gk, start, nil, replicas-oldReplicas, replicas, true)
	}
	lookup, cancel := context.WithTimeout(ctx, scaleLookupTimeout)
	defer cancel()
	t, err := v.Workloads.WorkloadTemplate(lookup, req.Resource.Resource, req.Namespace, req.Name)
	switch {
	case err != nil:
		logf.FromContext(ctx).V(1).Info("scale judged without the workload's template", "namespace", req.Namespace, "name", req.Name, "error", err.Error())
		return v.capacity(ctx, req, gk, start, nil, replicas-oldReplicas, replicas, true)
	case admit.DerivedFrom(t.Kind, t.Controller):
		// A Deployment's ReplicaSet: judged through the Deployment.
		return v.allow(req, gk, start)
	case !annotations.HasStatic(t.Annotations):
		return v.capacity(ctx, req, gk, start, t.Annotations, replicas-oldReplicas, replicas, false)
	}
	n, o := int32(replicas), int32(oldReplicas)
	in := validate.WorkloadInput{Kind: t.Kind, Namespace: req.Namespace, Name: req.Name, Replicas: &n, Labels: t.Labels, Annotations: t.Annotations}
	old := in
	old.Replicas = &o
	resp, _ := v.judge(ctx, req, gk, start, func(r inventory.Reader, cfg *config.Config) []policy.Finding {
		// The template is unchanged, so only the replica rules speak.
		return admit.WorkloadRules(r, cfg, &old, in)
	})
	return resp
}
