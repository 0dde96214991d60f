// Package policy holds the rule catalogue: stable rule IDs with their default
// actions, and turns a validator's findings into an admission decision.
package policy

// RuleID is the stable identifier of a rule. IDs appear in messages, audit
// annotations, metrics and the config file; they never change meaning.
type RuleID string

// Action is what a rule does when it finds a problem.
type Action string

// Actions.
const (
	// Enforce denies the request.
	Enforce Action = "enforce"
	// Warn allows the request and returns a warning to the client.
	Warn Action = "warn"
	// Off ignores the finding.
	Off Action = "off"
)

// The rule catalogue. See docs/rules.md.
const (
	SubnetInvalid       RuleID = "subnet-invalid"
	SubnetOverlap       RuleID = "subnet-overlap"
	SubnetShrink        RuleID = "subnet-shrink"
	SubnetExcludeInUse  RuleID = "subnet-exclude-in-use"
	SubnetGatewayInUse  RuleID = "subnet-gateway-in-use"
	SubnetDeleteInUse   RuleID = "subnet-delete-in-use"
	SubnetExhaustion    RuleID = "subnet-exhaustion"
	PodIPInvalid        RuleID = "pod-ip-invalid"
	PodIPOutOfRange     RuleID = "pod-ip-out-of-range"
	PodIPReserved       RuleID = "pod-ip-reserved"
	PodIPExcluded       RuleID = "pod-ip-excluded"
	PodIPTaken          RuleID = "pod-ip-taken"
	PodSubnetExhausted  RuleID = "pod-subnet-exhausted"
	TenantSubnet        RuleID = "tenant-subnet"
	TenantIPPool        RuleID = "tenant-ippool"
	WorkloadStaticIP    RuleID = "workload-static-ip"
	WorkloadPoolSize    RuleID = "workload-pool-size"
	StatefulSetIPChange RuleID = "statefulset-ip-change"
	IPInvalid           RuleID = "ip-invalid"
	IPTaken             RuleID = "ip-taken"
	IPImmutable         RuleID = "ip-immutable"
	IPPoolInvalid       RuleID = "ippool-invalid"
	IPPoolOverlap       RuleID = "ippool-overlap"
)

// defaults maps every known rule to its default action.
var defaults = map[RuleID]Action{
	SubnetInvalid:       Enforce,
	SubnetOverlap:       Enforce,
	SubnetShrink:        Enforce,
	SubnetExcludeInUse:  Enforce,
	SubnetGatewayInUse:  Enforce,
	SubnetDeleteInUse:   Enforce,
	SubnetExhaustion:    Warn,
	PodIPInvalid:        Enforce,
	PodIPOutOfRange:     Enforce,
	PodIPReserved:       Enforce,
	PodIPExcluded:       Warn,
	PodIPTaken:          Enforce,
	PodSubnetExhausted:  Warn,
	TenantSubnet:        Enforce,
	TenantIPPool:        Enforce,
	WorkloadStaticIP:    Enforce,
	WorkloadPoolSize:    Warn,
	StatefulSetIPChange: Enforce,
	IPInvalid:           Enforce,
	IPTaken:             Enforce,
	IPImmutable:         Enforce,
	IPPoolInvalid:       Enforce,
	IPPoolOverlap:       Enforce,
}

// DefaultAction returns the default action of a rule and whether the rule
// is known.
func DefaultAction(id RuleID) (Action, bool) {
	a, ok := defaults[id]
	return a, ok
}

// Rules returns every known rule ID.
func Rules() []RuleID {
	out := make([]RuleID, 0, len(defaults))
	for id := range defaults {
		out = append(out, id)
	}
	return out
}
