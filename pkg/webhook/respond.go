// Package webhook adapts admission requests to the validators: it decodes
// objects, runs the rules against the inventory, applies the policy and
// writes the response. No rule lives here.
package webhook

import (
	"context"
	"errors"
	"strings"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/policy"
)

var (
	subnetGK    = schema.GroupKind{Group: kubeovnv1.GroupVersion.Group, Kind: "Subnet"}
	errNotReady = errors.New("ipamguard is starting: its view of subnets and IP objects has not synced yet; retry shortly")
)

// respond turns a decision into an admission response: a denial is HTTP 422
// (Invalid, with one cause per field error) for creates and updates and 403
// (Forbidden) for deletes; warnings and audit annotations ride along either
// way.
func respond(ctx context.Context, req admission.Request, gk schema.GroupKind, d policy.Decision) admission.Response {
	// The request logger is built only when something is logged: most
	// requests are allowed silently, and WithValues allocates.
	log := func() logr.Logger {
		return logf.FromContext(ctx).WithValues("kind", gk.Kind, "name", req.Name, "operation", req.Operation, "user", req.UserInfo.Username)
	}
	var resp admission.Response
	if len(d.Deny) == 0 {
		resp = admission.Allowed("")
	} else {
		var status *apierrors.StatusError
		if req.Operation == admissionv1.Delete {
			msgs := make([]string, 0, len(d.Deny))
			for _, e := range d.Deny {
				msgs = append(msgs, e.Detail)
			}
			gr := schema.GroupResource{Group: req.Resource.Group, Resource: req.Resource.Resource}
			status = apierrors.NewForbidden(gr, req.Name, errors.New(strings.Join(msgs, "; ")))
		} else {
			status = apierrors.NewInvalid(gk, req.Name, d.Deny)
		}
		s := status.Status()
		resp = admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &s}}
		log().Info("denied", "reason", status.Error())
	}
	resp.Warnings = d.Warnings
	resp.AuditAnnotations = d.Audit
	if len(d.Warnings) > 0 {
		if l := logf.FromContext(ctx); l.V(1).Enabled() {
			log().V(1).Info("warned", "warnings", d.Warnings)
		}
	}
	return resp
}
