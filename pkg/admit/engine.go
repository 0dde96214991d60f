package admit

import (
	"context"
	"errors"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/reserve"
	"github.com/ipamguard/ipamguard/pkg/review"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// Engine runs requests through the pipeline against one inventory.
type Engine struct {
	// Store is the inventory the rules read.
	Store *inventory.Store
	// Config returns the configuration in force; it is read once per
	// request.
	Config func() *config.Config
	// Synced reports whether Store holds the cluster's state; until it
	// does, requests that read the inventory fail with NotReady, so the
	// webhook's failure policy applies instead of a judgement made from
	// an empty view. Nil means always synced (offline).
	Synced func() bool
	// Reservations hold the fixed addresses of admissions in flight; nil
	// keeps none (offline: a pod admitted earlier in the manifests is
	// stored as a pending pod instead).
	Reservations Reservations
	// Workloads reads the pod template of a scaled workload; nil judges
	// scale requests without it (advisory capacity warnings only).
	Workloads WorkloadGetter
}

// Reservations check and reserve the fixed addresses of admissions in
// flight: reserve.Table in one process (kubectl ipam check, tests, a
// single replica), reserve.Leases in the API server across replicas.
// Judge runs judge with a view of the addresses held and reserves what the
// last call of judge grants, checking and reserving as one step; it may
// call judge more than once. An error means nothing could be reserved and
// the request must not be admitted.
type Reservations interface {
	Judge(ctx context.Context, judge func(held validate.Reservations) reserve.Grant) error
}

// run is one request going through the pipeline. The outcome and the
// request's copy live in it, so a request costs one allocation here.
type run struct {
	ctx context.Context
	req *Request
	cfg *config.Config
	out *Outcome
	// rc is the rules' context; its Inventory is set under the read lock.
	rc validate.Context
	// obj and old are the decoded objects, typed per kind.
	obj, old any
	// labels are the request's namespace's labels.
	labels map[string]string
	// claimant is the pod whose claims are reserved, nil for requests
	// that claim nothing.
	claimant *validate.PodInput
	// claimantUID is the claimant pod's UID (final in validating
	// webhooks), "" when unknown.
	claimantUID string
	// scale is the template of a scaled workload, read by prepare.
	scale *scaleTarget
	// err is the error judging met, if any.
	err error
	// judged is the number of findings before the in-flight check, which
	// may run more than once (Reservations.Judge).
	judged int

	outcome Outcome
	// request is the caller's request, copied: the pipeline replaces
	// Object with its defaulted form.
	request Request
}

// Review runs req through the stages it names and returns the outcome, or
// an *Error when the request cannot be judged. ctx bounds the I/O some
// requests need (reading a scaled workload's template) and the request
// as a whole: once it is done, Review stops at the next stage boundary
// (and the rules at the next stretch of a long value) and returns an
// *Error with Reason Timeout, so the caller's failure policy applies.
func (e *Engine) Review(ctx context.Context, req *Request) (*Outcome, error) {
	r := &run{ctx: ctx, request: *req}
	r.req, r.out = &r.request, &r.outcome
	k, ok := kinds[r.req.Kind]
	if !ok {
		r.out.Note = "kind " + r.req.Kind + " is not judged"
		return r.out, nil
	}
	r.cfg = e.Config()
	r.rc = validate.Context{Defaults: r.cfg.Defaults, Thresholds: r.cfg.Thresholds, PendingHolderTimeout: r.cfg.PendingHolderTimeout, CrossNamespaceNames: r.cfg.Messages.CrossNamespaceNames}
	r.rc.Ctx = ctx
	// Exemptions of users, groups and namespaces, and a cluster-wide mode
	// off for cluster-scoped objects, need no inventory: they are decided
	// before anything can fail, so an exempt request (the Kube-OVN
	// controller's) is never refused because ipamguard is starting or
	// cannot read the object.
	if early := subjectOf(r.req, nil); r.cfg.Policy.Exempted(early) {
		r.out.Mode, r.out.Exempt, r.out.Note = r.cfg.Policy.ModeFor(early), true, "exempt in the configuration: not judged"
		return r.out, nil
	} else if r.req.Namespace == "" && r.cfg.Policy.ModeFor(early) == policy.ModeOff {
		r.out.Mode, r.out.Note = policy.ModeOff, "mode off: not judged"
		return r.out, nil
	}
	if k.needsInventory(r.req) && e.Synced != nil && !e.Synced() {
		return nil, &Error{Reason: NotReady, Err: ErrNotReady}
	}
	if err := k.prepare(e, r); err != nil {
		return nil, err
	}
	if err := r.timedOut("decode"); err != nil {
		return nil, err
	}
	e.decide(k, r)
	if r.err != nil {
		return nil, r.err
	}
	if err := r.timedOut("decide"); err != nil {
		return nil, err
	}
	if e.Reservations != nil && r.claimant != nil && len(r.out.Claims) > 0 {
		// Only the claims meet the reservations, under their lock: a
		// slow request never holds up another's.
		ctx := r.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		r.judged = len(r.out.Findings)
		// Reserved (no error): the answer goes out even if the budget ran
		// out meanwhile. Refusing then would leave the address reserved
		// for a pod that is never created (until the TTL); a caller that
		// has given up retries as the same owner and is granted.
		if err := e.Reservations.Judge(ctx, func(held validate.Reservations) reserve.Grant { return e.reserve(r, held) }); err != nil {
			if t := r.timedOut("decide"); t != nil {
				return nil, t
			}
			// Fail closed: an address that could not be reserved may be
			// another's.
			reason := Internal
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				reason = Timeout
			}
			return nil, &Error{Reason: reason, Err: fmt.Errorf("reserve the addresses of %s/%s: %w", r.req.Namespace, r.claimant.Name, err)}
		}
	}
	return r.out, nil
}

// decide judges the request against the inventory and applies the
// policy.
func (e *Engine) decide(k kind, r *run) {
	e.Store.Read(func(inv inventory.Reader) { r.err = e.judge(k, r, inv) })
	if r.err != nil {
		return
	}
	r.out.Decision = r.cfg.Policy.Decide(subjectOf(r.req, r.labels), r.out.Findings)
	if r.req.DryRun {
		// Judged the same, but a dry run leaves no trace beyond the
		// response: no audit annotations, no reservations.
		r.out.Decision.Audit = nil
	}
}

// reserve runs under the reservations' lock: it judges the request's
// claims against the admissions in flight (held) and returns what to
// reserve, nothing for a denied request or a dry run.
func (e *Engine) reserve(r *run, held validate.Reservations) reserve.Grant {
	rc := r.rc
	rc.Reservations = held
	// A later call replaces what an earlier one found.
	r.out.Findings = r.out.Findings[:r.judged]
	r.out.Decision = r.cfg.Policy.Decide(subjectOf(r.req, r.labels), r.out.Findings)
	if r.req.DryRun {
		r.out.Decision.Audit = nil
	}
	if fs := validate.InFlight(rc, r.claimant, r.out.Claims); len(fs) > 0 {
		r.out.Findings = append(r.out.Findings, fs...)
		r.out.Decision = r.cfg.Policy.Decide(subjectOf(r.req, r.labels), r.out.Findings)
		if r.req.DryRun {
			r.out.Decision.Audit = nil
		}
	}
	if r.out.Denied() || r.req.DryRun || r.ctx != nil && r.ctx.Err() != nil {
		// A request whose caller has given up is answered with an
		// error (the failure policy applies): it reserves nothing.
		return reserve.Grant{}
	}
	return reserve.Grant{Claims: r.out.Claims, Namespace: r.claimant.Namespace, Owner: r.claimant.Owner(),
		Pod: r.claimant.Name, PodUID: r.claimantUID, RequestUID: r.req.UID}
}

// judge runs the stages under the inventory's read lock.
func (e *Engine) judge(k kind, r *run, inv inventory.Reader) error {
	r.rc.Inventory = inv
	req, out, pol := r.req, r.out, r.cfg.Policy
	if req.Namespace != "" {
		r.labels, _ = inv.Namespace(req.Namespace)
	}
	sub := subjectOf(req, r.labels)
	out.Mode, out.Exempt = pol.ModeFor(sub), pol.Exempted(sub)
	switch {
	case out.Exempt:
		out.Note = "exempt in the configuration: not judged"
		return nil
	case out.Mode == policy.ModeOff:
		out.Note = "mode off: not judged"
		return nil
	}
	if req.Stages&Default != 0 && k.defaults != nil {
		if err := e.defaults(k, r); err != nil {
			return err
		}
		if err := r.timedOut("default"); err != nil {
			return err
		}
	}
	if req.Stages&Validate != 0 && k.validate != nil {
		k.validate(r)
		if err := r.timedOut("validate"); err != nil {
			return err
		}
	}
	if req.Stages&Capacity != 0 && k.capacity != nil {
		k.capacity(r)
		if err := r.timedOut("capacity"); err != nil {
			return err
		}
	}
	return nil
}

// timedOut returns a Timeout *Error once the request's context is done.
// The pipeline asks between stages, the rules within long values
// (validate.Context.Ctx): work a caller has given up on stops there, and
// the webhook answers within its deadline instead of past the API
// server's timeout.
func (r *run) timedOut(stage string) error {
	if r.ctx == nil || r.ctx.Err() == nil {
		return nil
	}
	name := r.req.Name
	if r.req.Namespace != "" {
		name = r.req.Namespace + "/" + name
	}
	return &Error{Reason: Timeout, Err: fmt.Errorf("%s %s was not judged in time (stopped after the %s stage): %w",
		r.req.Kind, name, stage, r.ctx.Err())}
}

// defaults runs the kind's defaulter and, when later stages follow,
// applies its patch so they judge the canonical form, as the API server
// hands validating webhooks the mutated object. In audit mode nothing is
// rewritten and the warnings say so.
func (e *Engine) defaults(k kind, r *run) error {
	p, changes, err := k.defaults(r)
	if err != nil {
		return &Error{Reason: BadObject, Err: &DecodeError{Kind: r.req.Kind, Namespace: r.req.Namespace, Name: r.req.Name, Err: err}}
	}
	if len(changes) == 0 {
		return nil
	}
	audit := r.out.Mode == policy.ModeAudit
	r.out.Defaulted = defaultWarnings(changes, audit)
	if audit {
		return nil
	}
	r.out.Patch = p
	if r.req.Stages&^Default == 0 || len(p) == 0 {
		return nil
	}
	b, err := p.JSON()
	if err != nil {
		return &Error{Reason: Internal, Err: fmt.Errorf("encode patch: %w", err)}
	}
	jp, err := jsonpatch.DecodePatch(b)
	if err != nil {
		return &Error{Reason: Internal, Err: fmt.Errorf("decode patch: %w", err)}
	}
	obj, err := jp.Apply(r.req.Object)
	if err != nil {
		return &Error{Reason: Internal, Err: fmt.Errorf("apply patch: %w", err)}
	}
	r.req.Object = obj
	return k.prepare(e, r)
}

// decode reads one object of the request into v, which must be a
// pointer.
func decode(r *run, old bool, v any) error {
	raw := r.req.Object
	if old {
		raw = r.req.OldObject
	}
	var err error
	if len(raw) == 0 {
		err = errNoContent
	} else {
		err = review.Unmarshal(raw, v)
	}
	if err != nil {
		return &Error{Reason: BadObject, Err: &DecodeError{Old: old, Kind: r.req.Kind, Namespace: r.req.Namespace, Name: r.req.Name, Err: err}}
	}
	return nil
}

// subjectOf describes the request for the policy: user, groups and, for
// namespaced objects, the namespace and its labels (for the mode label).
func subjectOf(req *Request, labels map[string]string) policy.Subject {
	return policy.Subject{Namespace: req.Namespace, NamespaceLabels: labels, User: req.User, Groups: req.Groups}
}
