package validate

import (
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
	// Reservations are the addresses claimed by admissions in flight; nil
	// holds none.
	Reservations Reservations
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
