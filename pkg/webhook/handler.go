package webhook

import (
	"context"
	"errors"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/pkg/admit"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/metrics"
	"github.com/ipamguard/ipamguard/pkg/review"
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
	Workloads admit.WorkloadGetter
	// CallersVerified is true when the server refuses every caller but the
	// API server (ClientAuth). A reservation affects the requests that
	// follow, and a caller that is not the API server could reserve
	// addresses for pods that never exist: without verified callers the
	// Pod validator keeps only reservations that confirm their holders
	// (Reservations a reserve.Leases with Confirm set).
	CallersVerified bool
	// Reservations is where the Pod validator keeps its reservations: nil
	// is, when CallersVerified, an in-memory reserve.Table (one process);
	// Setup sets a reserve.Leases for --reservations=api, confirming
	// holders when callers are not verified.
	Reservations admit.Reservations
	// NoReservations keeps none (--reservations=off).
	NoReservations bool
}

// engine returns the pipeline over d, with reservations res (nil: none).
func (d Deps) engine(res admit.Reservations) *admit.Engine {
	return &admit.Engine{Store: d.Store, Config: d.Config.Get, Synced: d.Synced, Reservations: res, Workloads: d.Workloads}
}

// Handler serves one webhook: it turns an AdmissionRequest into a
// pipeline request for the webhook's stage, runs it, and encodes the
// outcome as the API server expects. It decides nothing itself.
type Handler struct {
	engine  *admit.Engine
	metrics *metrics.Metrics
	// stage is the pipeline stage this webhook runs.
	stage admit.Stage
	// gk names the kind in denials; a zero value takes the request's.
	gk schema.GroupKind
	// budget is the time a request may take; past it the handler answers
	// that it could not judge (504), before the API server times out.
	budget time.Duration
}

// Budget is the time a handler gives one request: the shortest
// timeoutSeconds of ipamguard's webhooks (2 s, vpodcapacity) minus 500 ms
// for the network and the response. Past it the pipeline stops at its
// next check and the handler answers 504, so the API server applies the
// webhook's failure policy to an answer rather than to a timeout. Every
// webhook's timeoutSeconds is at least Budget + 500 ms (a test reads
// config/webhook/manifests.yaml); admissions take microseconds to
// milliseconds (docs/performance.md), so only a request that went wrong
// ever meets it.
const Budget = 1500 * time.Millisecond

func newHandler(d Deps, res admit.Reservations, stage admit.Stage, gk schema.GroupKind) *Handler {
	return &Handler{engine: d.engine(res), metrics: d.Metrics, stage: stage, gk: gk, budget: Budget}
}

// Handle implements admission.Handler: a request that could not be judged
// is answered as admission.Errored with its HTTP status.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	resp, err := h.Judge(ctx, req)
	if err != nil {
		var u *review.Unjudged
		if errors.As(err, &u) {
			return admission.Errored(u.Code, err)
		}
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return resp
}

// Judge implements review.Judger: a request the pipeline could not judge
// comes back as a *review.Unjudged error with its HTTP status, so the API
// server applies the webhook's failure policy.
func (h *Handler) Judge(ctx context.Context, req admission.Request) (admission.Response, error) {
	start := time.Now()
	gk := h.gk
	if gk.Kind == "" {
		gk = schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}
	}
	ar := admit.Request{
		Kind:        gk.Kind,
		Resource:    req.Resource.Resource,
		SubResource: req.SubResource,
		Operation:   admit.Operation(req.Operation),
		Namespace:   req.Namespace,
		Name:        req.Name,
		Object:      req.Object.Raw,
		OldObject:   req.OldObject.Raw,
		User:        req.UserInfo.Username,
		Groups:      req.UserInfo.Groups,
		DryRun:      req.DryRun != nil && *req.DryRun,
		Stages:      h.stage,
		UID:         string(req.UID),
	}
	judging, cancel := context.WithTimeout(ctx, h.budget)
	out, err := h.engine.Review(judging, &ar)
	cancel()
	var resp admission.Response
	switch {
	case err != nil:
		err = &review.Unjudged{Code: statusOf(err), Err: err}
	case h.stage == admit.Default:
		resp = defaulted(ctx, req, gk, out)
	default:
		resp = respond(ctx, req, gk, out.Decision)
		if !ar.DryRun {
			for _, a := range out.Decision.Applied {
				h.metrics.ObserveDecision(string(a.Rule), a.Action, string(out.Decision.Mode))
			}
		}
	}
	h.observe(req, gk, start, resp, err)
	return resp, err
}

// observe records every answer, whichever way it was reached.
func (h *Handler) observe(req admission.Request, gk schema.GroupKind, start time.Time, resp admission.Response, err error) {
	if h.stage == admit.Default {
		result := metrics.DefaultUnchanged
		switch {
		case err != nil || !resp.Allowed:
			result = metrics.DefaultError
		case resp.Patch != nil:
			result = metrics.DefaultPatched
		case len(resp.Warnings) > 0:
			result = metrics.DefaultAudited
		}
		h.metrics.ObserveDefaulting(gk.Kind, string(req.Operation), result, time.Since(start))
		return
	}
	result := metrics.ResultAllowed
	switch {
	case err != nil:
		result = metrics.ResultError
	case !resp.Allowed:
		result = metrics.ResultDenied
	case len(resp.Warnings) > 0:
		result = metrics.ResultWarned
	}
	h.metrics.ObserveAdmission(gk.Kind, string(req.Operation), result, time.Since(start))
}

// statusOf is the HTTP status of a request the pipeline could not judge:
// the review handler answers it as an HTTP error, so the API server
// applies the webhook's failure policy.
func statusOf(err error) int32 {
	var e *admit.Error
	if errors.As(err, &e) {
		switch e.Reason {
		case admit.NotReady:
			return http.StatusServiceUnavailable
		case admit.BadObject:
			return http.StatusBadRequest
		case admit.Timeout:
			return http.StatusGatewayTimeout
		}
	}
	return http.StatusInternalServerError
}

var (
	_ admission.Handler = (*Handler)(nil)
	_ review.Judger     = (*Handler)(nil)
)
