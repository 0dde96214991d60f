package validate

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

// Context is what every rule reads besides the objects under judgement.
type Context struct {
	// Inventory is the cluster as the rules see it.
	Inventory inventory.Reader
	// Defaults are the Kube-OVN controller's defaults.
	Defaults settings.Defaults
	// Thresholds are the exhaustion levels.
	Thresholds settings.Thresholds
	// PendingHolderTimeout is how long after its creation a pod without an
	// allocation holds the fixed address it asked for; zero means
	// settings.DefaultPendingHolderTimeout.
	PendingHolderTimeout time.Duration
	// Now is the time the request is judged at; zero means the wall clock
	// (tests set it).
	Now time.Time
	// CrossNamespaceNames lets messages of namespaced requests name holders
	// in other namespaces ("held by pod tenant-b/db"); without it they say
	// "held by a pod in another namespace".
	CrossNamespaceNames bool
	// Reservations are the addresses claimed by admissions in flight; nil
	// holds none.
	Reservations Reservations
	// Ctx is the request's context. Rules that loop over user-sized input
	// stop early once it is done; the pipeline then answers that the
	// request could not be judged in time. Nil never stops.
	Ctx context.Context
}

// stopped reports, on every 256th iteration i of a loop over user-sized
// input, whether ctx is done: a rule then returns what it has, and the
// pipeline discards it.
func stopped(ctx context.Context, i int) bool {
	return i&255 == 255 && ctx != nil && ctx.Err() != nil
}

// Result is what every rule returns.
type Result struct {
	// Findings are the problems found, in the order found.
	Findings []policy.Finding
	// Claims are the fixed addresses an admitted pod takes (the pod rule
	// only).
	Claims []Claim
}

// Rule is the one shape of every rule: it judges obj (nil on delete)
// against old (nil on create) in context c. Rules are pure: no I/O, no
// state beyond what c holds.
type Rule[T any] func(c Context, old, obj *T) Result

// CapacityInput is what the workload capacity rule reads: pods added to
// the subnet a namespace (or a logical switch) sends them to.
type CapacityInput struct {
	Namespace string
	// LogicalSwitch is the subnet the template names, "" for none.
	LogicalSwitch string
	// Need is the number of pods added.
	Need uint64
	// Replicas is the total after the change, the value reported.
	Replicas int64
	// Path is the field the finding is reported on.
	Path *field.Path
}
