package webhook

import (
	"context"
	"fmt"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/pkg/admit"
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

// Handle implements admission.Handler.
func (v *WorkloadValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	kind := req.Kind.Kind
	gk := schema.GroupKind{Group: req.Kind.Group, Kind: kind}
	if !validate.IsWorkloadKind(kind) || (req.Operation != admissionv1.Create && req.Operation != admissionv1.Update) {
		return admission.Allowed("")
	}
	var obj, old admit.Workload
	if err := review.DecodeObject(req.Object, &obj); err != nil {
		return v.fail(req, gk, start, http.StatusBadRequest, fmt.Errorf("decode %s %s/%s: %w", kind, req.Namespace, req.Name, err))
	}
	if obj.Derived(kind) {
		return admission.Allowed("")
	}
	in := obj.Input(kind, req.Namespace, req.Name)
	var oldIn validate.WorkloadInput
	if req.Operation == admissionv1.Update {
		if err := review.DecodeObject(req.OldObject, &old); err != nil {
			return v.fail(req, gk, start, http.StatusBadRequest, fmt.Errorf("decode old %s %s/%s: %w", kind, req.Namespace, req.Name, err))
		}
		oldIn = old.Input(kind, req.Namespace, req.Name)
	}
	if !admit.StaticPod(in.Annotations) && !admit.StaticPod(oldIn.Annotations) {
		return admission.Allowed("")
	}
	resp, _ := v.judge(ctx, req, gk, start, func(r inventory.Reader, cfg *config.Config) []policy.Finding {
		if req.Operation == admissionv1.Create {
			return admit.WorkloadRules(r, cfg, nil, in)
		}
		return admit.WorkloadRules(r, cfg, &oldIn, in)
	})
	return resp
}
