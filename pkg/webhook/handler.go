package webhook

import (
	"context"
	"fmt"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/metrics"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/review"
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
	// Config is the configuration in force (defaults, thresholds,
	// policy); read once per request.
	Config *config.Live
	// Metrics records requests and decisions; nil records nothing.
	Metrics *metrics.Metrics
	// Workloads reads the pod template of a scaled workload; nil judges
	// scale requests without it (advisory capacity warnings only).
	Workloads WorkloadGetter
}

// judge runs the rules in fn against one consistent view of the inventory
// and the configuration in force, decides, records metrics and writes the
// response. It also returns the decision.
func (d Deps) judge(ctx context.Context, req admission.Request, gk schema.GroupKind, start time.Time,
	fn func(r inventory.Reader, cfg *config.Config) []policy.Finding) (admission.Response, policy.Decision) {
	if d.Synced != nil && !d.Synced() {
		return d.fail(req, gk, start, http.StatusServiceUnavailable, errNotReady), policy.Decision{}
	}
	cfg := d.Config.Get()
	var fs []policy.Finding
	var sub policy.Subject
	d.Store.Read(func(r inventory.Reader) {
		sub = subject(r, req)
		if cfg.Policy.Exempted(sub) || cfg.Policy.ModeFor(sub) == policy.ModeOff {
			return
		}
		fs = fn(r, cfg)
	})
	dec := cfg.Policy.Decide(sub, fs)
	if req.DryRun != nil && *req.DryRun {
		// Judged the same, but a dry run leaves no trace beyond the
		// response: no audit annotations, no decision counts.
		dec.Audit = nil
	} else {
		for _, a := range dec.Applied {
			d.Metrics.ObserveDecision(string(a.Rule), a.Action, string(dec.Mode))
		}
	}
	result := metrics.ResultAllowed
	switch {
	case len(dec.Deny) > 0:
		result = metrics.ResultDenied
	case len(dec.Warnings) > 0:
		result = metrics.ResultWarned
	}
	d.Metrics.ObserveAdmission(gk.Kind, string(req.Operation), result, time.Since(start))
	return respond(ctx, req, gk, dec), dec
}

// fail answers a request that could not be judged.
func (d Deps) fail(req admission.Request, gk schema.GroupKind, start time.Time, code int32, err error) admission.Response {
	d.Metrics.ObserveAdmission(gk.Kind, string(req.Operation), metrics.ResultError, time.Since(start))
	return admission.Errored(code, err)
}

// allow answers a request the rules do not look at.
func (d Deps) allow(req admission.Request, gk schema.GroupKind, start time.Time) admission.Response {
	d.Metrics.ObserveAdmission(gk.Kind, string(req.Operation), metrics.ResultAllowed, time.Since(start))
	return admission.Allowed("")
}

// Rules are the pure rule functions of one kind. A nil function allows
// that operation.
type Rules[T any] struct {
	Create func(r inventory.Reader, cfg *config.Config, obj *T) []policy.Finding
	Update func(r inventory.Reader, cfg *config.Config, old, obj *T) []policy.Finding
	Delete func(r inventory.Reader, cfg *config.Config, old *T) []policy.Finding
}

// defaultsOnly adapts a rule that reads only the Kube-OVN defaults.
func defaultsOnly[F any](f func(inventory.Reader, validate.Defaults, F) []policy.Finding) func(inventory.Reader, *config.Config, F) []policy.Finding {
	return func(r inventory.Reader, cfg *config.Config, obj F) []policy.Finding { return f(r, cfg.Defaults, obj) }
}

// defaultsOnly2 is defaultsOnly for update rules.
func defaultsOnly2[F any](f func(inventory.Reader, validate.Defaults, F, F) []policy.Finding) func(inventory.Reader, *config.Config, F, F) []policy.Finding {
	return func(r inventory.Reader, cfg *config.Config, old, obj F) []policy.Finding {
		return f(r, cfg.Defaults, old, obj)
	}
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
	start := time.Now()
	var obj, old T
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
		if err := review.DecodeObject(req.Object, PT(&obj)); err != nil {
			return v.fail(req, v.Kind, start, http.StatusBadRequest, fmt.Errorf("decode %s %s: %w", v.Kind.Kind, req.Name, err))
		}
	}
	switch req.Operation {
	case admissionv1.Update, admissionv1.Delete:
		if err := review.DecodeObject(req.OldObject, PT(&old)); err != nil {
			return v.fail(req, v.Kind, start, http.StatusBadRequest, fmt.Errorf("decode old %s %s: %w", v.Kind.Kind, req.Name, err))
		}
	}
	resp, _ := v.judge(ctx, req, v.Kind, start, func(r inventory.Reader, cfg *config.Config) []policy.Finding {
		switch {
		case req.Operation == admissionv1.Create && v.Rules.Create != nil:
			return v.Rules.Create(r, cfg, &obj)
		case req.Operation == admissionv1.Update && v.Rules.Update != nil:
			return v.Rules.Update(r, cfg, &old, &obj)
		case req.Operation == admissionv1.Delete && v.Rules.Delete != nil:
			return v.Rules.Delete(r, cfg, &old)
		}
		return nil
	})
	return resp
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
