package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/mutate"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// PodDefaulterPath is where the Pod defaulter is served.
const PodDefaulterPath = "/mutate-v1-pod"

// The Pod defaulter fails open (Ignore) like the Pod validator: it sits on
// the path of pod creations and must never stop a cluster from starting
// pods. The API server only calls it for pods carrying Kube-OVN static-IP
// or subnet annotations (the matchConditions of vpod, added by
// hack/webhookgen), outside ipamguard's own namespace.
// +kubebuilder:webhook:path=/mutate-v1-pod,mutating=true,failurePolicy=ignore,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=mpod.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=3

// PodDefaulter rewrites the static-IP annotations of new pods into the
// canonical form (see mutate.DefaultPodAnnotations), warning about every
// change.
type PodDefaulter struct {
	Deps
}

// NewPodDefaulter returns the Pod defaulter.
func NewPodDefaulter(d Deps) *PodDefaulter {
	return &PodDefaulter{Deps: d}
}

// Handle implements admission.Handler. Until the inventory has synced it
// answers with an error, which the failure policy turns into "admit
// unchanged": a prefix length is only dropped when the subnet confirms it.
func (m *PodDefaulter) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	return m.observeDefaulting(req, podGK, start, m.handle(ctx, req))
}

func (m *PodDefaulter) handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("")
	}
	if m.Synced != nil && !m.Synced() {
		return admission.Errored(http.StatusServiceUnavailable, errNotReady)
	}
	cfg := m.Config.Get()
	var (
		patch   mutate.Patch
		changes []mutate.Change
		mode    policy.Mode
		skip    bool
		err     error
	)
	m.Store.Read(func(r inventory.Reader) {
		sub := subject(r, req)
		if skip = skipDefaulting(cfg, sub); skip {
			return
		}
		mode = cfg.Policy.ModeFor(sub)
		patch, changes, err = mutate.PodPatch(req.Object.Raw, func(ir annotations.Request) []netip.Prefix {
			var blocks []netip.Prefix
			for _, sn := range validate.ResolveSubnets(r, cfg.Defaults, req.Namespace, ir) {
				blocks = append(blocks, sn.Spec.Blocks...)
			}
			return blocks
		})
	})
	switch {
	case skip:
		return admission.Allowed("")
	case err != nil:
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode Pod %s/%s: %w", req.Namespace, req.Name, err))
	}
	return defaulted(ctx, req, podGK, mode, patch, changes)
}
