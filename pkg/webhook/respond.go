// Package webhook is ipamguard's transport: it serves each admission
// webhook by handing the request to the pipeline (pkg/admit) for the
// webhook's stage and encoding the outcome, records metrics, and wires the
// inventory to a controller-runtime manager. No rule and no decision lives
// here.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/pkg/admit"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/policy"
)

var (
	subnetGK = schema.GroupKind{Group: kubeovnv1.GroupVersion.Group, Kind: "Subnet"}
	ipGK     = schema.GroupKind{Group: kubeovnv1.GroupVersion.Group, Kind: "IP"}
	ippoolGK = schema.GroupKind{Group: kubeovnv1.GroupVersion.Group, Kind: "IPPool"}
	podGK    = schema.GroupKind{Kind: "Pod"}
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
			status = invalid(gk, req.Name, d.Deny)
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

// defaulted answers a defaulting request: the patch, and the changes as
// warnings. In audit mode the pipeline changes nothing, and the warnings
// say so.
func defaulted(ctx context.Context, req admission.Request, gk schema.GroupKind, out *admit.Outcome) admission.Response {
	resp := admission.Allowed("")
	if len(out.Defaulted) == 0 {
		return resp
	}
	resp.Warnings = out.Defaulted
	log := logf.FromContext(ctx).WithValues("kind", gk.Kind, "name", req.Name, "namespace", req.Namespace,
		"operation", req.Operation, "user", req.UserInfo.Username)
	if len(out.Patch) == 0 {
		log.V(1).Info("would default", "changes", resp.Warnings)
		return resp
	}
	b, err := out.Patch.JSON()
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode patch: %w", err))
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = b, &pt
	log.V(1).Info("defaulted", "changes", resp.Warnings)
	return resp
}

// invalid is apierrors.NewInvalid built in linear time: the same 422
// Status, one cause per field error and the same message
// (`<Kind.group> "name" is invalid: [a, b]`, repeated messages once), but
// written into one builder where apimachinery's error aggregation
// concatenates strings pairwise.
func invalid(gk schema.GroupKind, name string, errs field.ErrorList) *apierrors.StatusError {
	causes := make([]metav1.StatusCause, 0, len(errs))
	seen := make(map[string]struct{}, len(errs))
	var b strings.Builder
	n := 0
	for _, e := range errs {
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseType(e.Type), Message: e.ErrorBody(), Field: e.Field})
		msg := e.Error()
		if _, dup := seen[msg]; dup {
			continue
		}
		seen[msg] = struct{}{}
		if n > 0 {
			b.WriteString(", ")
		}
		b.WriteString(msg)
		n++
	}
	msg := fmt.Sprintf("%s %q is invalid", gk.String(), name)
	switch {
	case n == 1:
		msg += ": " + b.String()
	case n > 1:
		msg += ": [" + b.String() + "]"
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure,
		Code:   http.StatusUnprocessableEntity,
		Reason: metav1.StatusReasonInvalid,
		Details: &metav1.StatusDetails{
			Group:  gk.Group,
			Kind:   gk.Kind,
			Name:   name,
			Causes: causes,
		},
		Message: msg,
	}}
}
