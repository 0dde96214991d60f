package webhook

import (
	"context"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// Deps are what every handler needs, set once by Setup (or by tests).
type Deps struct {
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

// Rules are the pure rule functions of one kind. A nil function allows
// that operation.
type Rules[T any] struct {
	Create func(r inventory.Reader, d validate.Defaults, obj *T) []policy.Finding
	Update func(r inventory.Reader, d validate.Defaults, old, obj *T) []policy.Finding
	Delete func(r inventory.Reader, d validate.Defaults, old *T) []policy.Finding
}

// ObjectValidator admits creations, updates and deletions of one kind by
// decoding the objects and running its Rules against the inventory.
type ObjectValidator[T any, PT interface {
	*T
	runtime.Object
}] struct {
	Deps
	// Kind names the kind in denials ("Subnet.kubeovn.io \"x\" is invalid").
	Kind schema.GroupKind
	// Rules are the kind's rules.
	Rules Rules[T]
}

// Handle implements admission.Handler.
func (v *ObjectValidator[T, PT]) Handle(ctx context.Context, req admission.Request) admission.Response {
	if v.Synced != nil && !v.Synced() {
		return admission.Errored(http.StatusServiceUnavailable, errNotReady)
	}
	var obj, old T
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
		if err := v.Decoder.DecodeRaw(req.Object, PT(&obj)); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode %s %s: %w", v.Kind.Kind, req.Name, err))
		}
	}
	switch req.Operation {
	case admissionv1.Update, admissionv1.Delete:
		if err := v.Decoder.DecodeRaw(req.OldObject, PT(&old)); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode old %s %s: %w", v.Kind.Kind, req.Name, err))
		}
	}
	var fs []policy.Finding
	var sub policy.Subject
	v.Store.Read(func(r inventory.Reader) {
		sub = subject(r, req)
		switch {
		case req.Operation == admissionv1.Create && v.Rules.Create != nil:
			fs = v.Rules.Create(r, v.Defaults, &obj)
		case req.Operation == admissionv1.Update && v.Rules.Update != nil:
			fs = v.Rules.Update(r, v.Defaults, &old, &obj)
		case req.Operation == admissionv1.Delete && v.Rules.Delete != nil:
			fs = v.Rules.Delete(r, v.Defaults, &old)
		}
	})
	return respond(ctx, req, v.Kind, v.Policy.Decide(sub, fs))
}

// subject describes the request for the policy: user, groups and, for
// namespaced objects, the namespace and its labels (for the mode label).
func subject(r inventory.Reader, req admission.Request) policy.Subject {
	s := policy.Subject{Namespace: req.Namespace, User: req.UserInfo.Username, Groups: req.UserInfo.Groups}
	if req.Namespace != "" {
		s.NamespaceLabels, _ = r.Namespace(req.Namespace)
	}
	return s
}
