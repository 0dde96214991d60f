package webhook

import (
	"context"
	"fmt"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

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

// replicated is the part of a workload (or a Scale) the capacity check
// reads.
type replicated struct {
	Metadata struct {
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		Replicas *int32 `json:"replicas"`
		Template struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		} `json:"template"`
	} `json:"spec"`
}

// replicas returns spec.replicas. A missing value means 1 on a workload
// (the API default) but 0 on a Scale, whose field is omitempty.
func (w *replicated) replicas(scale bool) int64 {
	switch {
	case w.Spec.Replicas != nil:
		return int64(*w.Spec.Replicas)
	case scale:
		return 0
	default:
		return 1
	}
}

// Handle implements admission.Handler.
func (v *CapacityValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	gk := schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return v.allow(req, gk, start)
	}
	var obj, old replicated
	if err := review.DecodeObject(req.Object, &obj); err != nil {
		return v.fail(req, gk, start, http.StatusBadRequest, fmt.Errorf("decode %s %s/%s: %w", gk.Kind, req.Namespace, req.Name, err))
	}
	if req.Operation == admissionv1.Update {
		if err := review.DecodeObject(req.OldObject, &old); err != nil {
			return v.fail(req, gk, start, http.StatusBadRequest, fmt.Errorf("decode old %s %s/%s: %w", gk.Kind, req.Namespace, req.Name, err))
		}
	}
	scale := req.SubResource == "scale"
	added := obj.replicas(scale)
	if req.Operation == admissionv1.Update {
		added -= old.replicas(scale)
	}
	// ReplicaSets of a Deployment are judged through the Deployment.
	owned := len(obj.Metadata.OwnerReferences) > 0 && !scale
	ann := obj.Spec.Template.Metadata.Annotations
	if added <= 0 || owned || annotations.HasStatic(ann) {
		return v.allow(req, gk, start)
	}
	p := field.NewPath("spec", "replicas")
	resp, _ := v.judge(ctx, req, gk, start, func(r inventory.Reader, cfg *config.Config) []policy.Finding {
		// A scale request carries no template; the pods land where the
		// namespace's pods land.
		fs := validate.WorkloadCapacity(r, cfg.Defaults, cfg.Thresholds.Levels(), req.Namespace,
			ann[annotations.DefaultProvider+".kubernetes.io/"+annotations.LogicalSwitch], uint64(added), p, obj.replicas(scale))
		if scale {
			// A Scale carries no template: the subnet is the namespace's,
			// which a logical_switch in the real template may override.
			// Never refuse on that guess.
			for i := range fs {
				fs[i].Advisory = true
			}
		}
		return fs
	})
	return resp
}
