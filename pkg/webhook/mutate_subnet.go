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

	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/metrics"
	"github.com/ipamguard/ipamguard/pkg/mutate"
	"github.com/ipamguard/ipamguard/pkg/policy"
)

// SubnetDefaulterPath is where the Subnet defaulter is served.
const SubnetDefaulterPath = "/mutate-kubeovn-io-v1-subnet"

// The Subnet defaulter fails closed like the Subnet validator: both are
// served by this process, so when one is unreachable so is the other, and
// failing open here would only let the validator refuse input this webhook
// would have fixed. Mutating webhooks run before validating ones, so
// vsubnet judges the canonical form.
// +kubebuilder:webhook:path=/mutate-kubeovn-io-v1-subnet,mutating=true,failurePolicy=fail,sideEffects=None,groups=kubeovn.io,resources=subnets,verbs=create;update,versions=v1,name=msubnet.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=5

// SubnetDefaulter rewrites Subnet creations and updates into the canonical
// form (see mutate.DefaultSubnet), warning about every change.
type SubnetDefaulter struct {
	Deps
}

// NewSubnetDefaulter returns the Subnet defaulter.
func NewSubnetDefaulter(d Deps) *SubnetDefaulter {
	return &SubnetDefaulter{Deps: d}
}

// Handle implements admission.Handler. It reads no inventory, so it answers
// before the inventory has synced.
func (m *SubnetDefaulter) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	return m.observeDefaulting(req, subnetGK, start, m.handle(ctx, req))
}

func (m *SubnetDefaulter) handle(ctx context.Context, req admission.Request) admission.Response {
	var old []byte
	switch req.Operation {
	case admissionv1.Create:
	case admissionv1.Update:
		old = req.OldObject.Raw
	default:
		return admission.Allowed("")
	}
	cfg := m.Config.Get()
	sub := subject(nil, req) // Subnets are cluster-scoped: no namespace labels to read
	if skipDefaulting(cfg, sub) {
		return admission.Allowed("")
	}
	patch, changes, err := mutate.SubnetPatch(req.Object.Raw, old)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode Subnet %s: %w", req.Name, err))
	}
	return defaulted(ctx, req, subnetGK, cfg.Policy.ModeFor(sub), patch, changes)
}

// observeDefaulting records a defaulting webhook's answer in the metrics
// and returns it.
func (d Deps) observeDefaulting(req admission.Request, gk schema.GroupKind, start time.Time, resp admission.Response) admission.Response {
	result := metrics.DefaultUnchanged
	switch {
	case !resp.Allowed:
		result = metrics.DefaultError
	case resp.Patch != nil:
		result = metrics.DefaultPatched
	case len(resp.Warnings) > 0:
		result = metrics.DefaultAudited
	}
	d.Metrics.ObserveDefaulting(gk.Kind, string(req.Operation), result, time.Since(start))
	return resp
}

// skipDefaulting reports whether a request is left alone: exempted
// subjects and mode off get neither judgement nor defaulting.
func skipDefaulting(cfg *config.Config, sub policy.Subject) bool {
	return cfg.Policy.Exempted(sub) || cfg.Policy.ModeFor(sub) == policy.ModeOff
}

// defaulted answers a defaulting request: the patch, and the changes as
// warnings. In audit mode nothing is changed, and the warnings say so.
func defaulted(ctx context.Context, req admission.Request, gk schema.GroupKind, mode policy.Mode,
	patch mutate.Patch, changes []mutate.Change) admission.Response {
	resp := admission.Allowed("")
	if len(changes) == 0 {
		return resp
	}
	resp.Warnings = mutate.Warnings(changes)
	log := logf.FromContext(ctx).WithValues("kind", gk.Kind, "name", req.Name, "namespace", req.Namespace,
		"operation", req.Operation, "user", req.UserInfo.Username)
	if mode == policy.ModeAudit {
		for i := range resp.Warnings {
			resp.Warnings[i] += " (audit mode: not applied)"
		}
		log.V(1).Info("would default", "changes", resp.Warnings)
		return resp
	}
	b, err := patch.JSON()
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode patch: %w", err))
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = b, &pt
	log.V(1).Info("defaulted", "changes", resp.Warnings)
	return resp
}
