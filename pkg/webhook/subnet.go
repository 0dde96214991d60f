package webhook

import (
	"context"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// SubnetPath is where the Subnet validator is served.
const SubnetPath = "/validate-kubeovn-io-v1-subnet"

// The Subnet webhook fails closed: Subnet changes are rare, made by
// operators, and an overlap or shrink let through while the webhook is down
// corrupts IP management silently; a refused change can simply be retried.
// +kubebuilder:webhook:path=/validate-kubeovn-io-v1-subnet,mutating=false,failurePolicy=fail,sideEffects=None,groups=kubeovn.io,resources=subnets,verbs=create;update;delete,versions=v1,name=vsubnet.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=5

// SubnetValidator admits Subnet creations, updates and deletions.
type SubnetValidator struct {
	// Store is the inventory the rules read.
	Store *inventory.Store
	// Synced reports whether Store holds the cluster's state; until it does,
	// requests are answered with an error so the failure policy applies
	// instead of a judgement made from an empty view.
	Synced func() bool
	// Defaults are the Kube-OVN settings the rules agree with.
	Defaults validate.Defaults
	// Policy turns findings into decisions.
	Policy *policy.Policy
	// Decoder decodes objects from requests.
	Decoder admission.Decoder
}

var _ admission.Handler = (*SubnetValidator)(nil)

// Handle implements admission.Handler.
func (v *SubnetValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	if v.Synced != nil && !v.Synced() {
		return admission.Errored(http.StatusServiceUnavailable, errNotReady)
	}
	var obj, old kubeovnv1.Subnet
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
		if err := v.Decoder.DecodeRaw(req.Object, &obj); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode Subnet %s: %w", req.Name, err))
		}
	}
	switch req.Operation {
	case admissionv1.Update, admissionv1.Delete:
		if err := v.Decoder.DecodeRaw(req.OldObject, &old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode old Subnet %s: %w", req.Name, err))
		}
	}

	var fs []policy.Finding
	v.Store.Read(func(r inventory.Reader) {
		switch req.Operation {
		case admissionv1.Create:
			fs = validate.SubnetCreate(r, v.Defaults, &obj)
		case admissionv1.Update:
			fs = validate.SubnetUpdate(r, v.Defaults, &old, &obj)
		case admissionv1.Delete:
			fs = validate.SubnetDelete(r, v.Defaults, &old)
		}
	})
	return respond(ctx, req, subnetGK, v.Policy.Decide(fs))
}
