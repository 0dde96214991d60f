// Package admit is the admission pipeline: a request (kind, operation,
// namespace, objects, subject, dry run) goes through default -> validate
// -> decide and comes back as one Outcome. Its callers only decode and
// encode around it: the webhook (pkg/webhook, requests from
// AdmissionReviews), the offline check (pkg/check, requests from manifest
// files) and, to come, the doctor. Every decision about what runs for a
// request is made here, once; the rules themselves are pkg/validate's and
// the defaulters pkg/mutate's.
package admit

import (
	"errors"
	"fmt"

	"github.com/ipamguard/ipamguard/pkg/mutate"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// Operation is what the request does to the object.
type Operation string

// Operations, spelled as in AdmissionRequests.
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// Stage is one step of the pipeline; a request names the stages it runs.
// The webhook runs one stage per webhook configuration (a mutating webhook
// defaults, a validating one validates); the offline check runs them all
// in order, as the API server would call the webhooks.
type Stage uint8

// Stages.
const (
	// Default rewrites the object into its canonical form (msubnet, mpod).
	Default Stage = 1 << iota
	// Validate runs the kind's rules (vsubnet, vip, vippool, vpod,
	// vpodcapacity, vworkload).
	Validate
	// Capacity runs the workload capacity rules: creations and scale-ups
	// of Deployments, StatefulSets and ReplicaSets (vworkloadcapacity).
	Capacity
	// AllStages runs everything, in order.
	AllStages = Default | Validate | Capacity
)

// Request is one admission as the pipeline sees it.
type Request struct {
	// Kind is the object's kind: Subnet, IP, IPPool, Pod, a workload kind
	// (validate.KindDeployment...), or Scale for the scale subresource.
	Kind string
	// Resource is the resource's plural name (deployments); only Scale
	// requests need it, to find the workload.
	Resource string
	// SubResource is "scale" for scale requests.
	SubResource string
	Operation   Operation
	// Namespace is the request's namespace, "" for cluster-scoped kinds.
	Namespace string
	Name      string
	// Object is the object's JSON (create, update), OldObject the stored
	// one (update, delete).
	Object, OldObject []byte
	// User and Groups are the requester's, for exemptions.
	User   string
	Groups []string
	// DryRun requests are judged alike but leave no trace: no
	// reservations, no audit annotations.
	DryRun bool
	// Stages are the stages to run.
	Stages Stage
	// UID is the admission request's UID, recorded with reservations; ""
	// offline.
	UID string
}

// Outcome is what the pipeline made of a request.
type Outcome struct {
	// Mode is the mode the request was judged in.
	Mode policy.Mode
	// Exempt is true when the configuration exempts the request.
	Exempt bool
	// Patch is the defaulters' JSON patch; empty when nothing changes and
	// in audit mode, where nothing is rewritten.
	Patch mutate.Patch
	// Defaulted lists the defaulters' changes as the warnings they return
	// (in audit mode ending " (audit mode: not applied)").
	Defaulted []string
	// Findings are what the rules found, before the policy.
	Findings []policy.Finding
	// Decision is what the policy made of the findings: denial, warnings,
	// audit annotations (none for dry runs), actions applied.
	Decision policy.Decision
	// Claims are the fixed addresses the request asks for; they are
	// reserved only when the request is admitted and not a dry run.
	Claims []validate.Claim
	// Admitted is the object as the rules judged it, after defaulting:
	// *kubeovnv1.Subnet, *kubeovnv1.IP, *kubeovnv1.IPPool, or
	// *metav1.ObjectMeta for a Pod; nil for other kinds or when nothing
	// was decoded.
	Admitted any
	// Note says why no rule ran, when none did.
	Note string
}

// Denied reports whether the request is refused.
func (o *Outcome) Denied() bool { return len(o.Decision.Deny) > 0 }

// Reason says why a request could not be judged.
type Reason int

// Reasons.
const (
	// NotReady: the inventory has not synced yet; retry shortly.
	NotReady Reason = iota + 1
	// BadObject: an object of the request cannot be read as its kind.
	BadObject
	// Internal: the pipeline itself failed.
	Internal
	// Timeout: the request's context ended (the webhook's deadline, just
	// under its timeoutSeconds, or a caller that gave up) before it was
	// judged.
	Timeout
)

// Error is a request the pipeline could not judge. Callers turn it into
// their own kind of failure (the webhook into an HTTP status, so that the
// API server applies the failure policy; the check into an input error).
type Error struct {
	Reason Reason
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrNotReady is the cause of a NotReady error.
var ErrNotReady = errors.New("ipamguard is starting: its view of subnets and IP objects has not synced yet; retry shortly")

// DecodeError is the cause of a BadObject error.
type DecodeError struct {
	// Old is true for the request's OldObject.
	Old             bool
	Kind            string
	Namespace, Name string
	Err             error
}

func (e *DecodeError) Error() string {
	which := ""
	if e.Old {
		which = "old "
	}
	name := e.Name
	if e.Namespace != "" {
		name = e.Namespace + "/" + e.Name
	}
	return fmt.Sprintf("decode %s%s %s: %v", which, e.Kind, name, e.Err)
}

// Unwrap returns the decoder's error.
func (e *DecodeError) Unwrap() error { return e.Err }
