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
	SubnetInvalid:      Enforce,
	SubnetOverlap:      Enforce,
	SubnetShrink:       Enforce,
	SubnetExcludeInUse: Warn,
	SubnetGatewayInUse: Enforce,
	SubnetDeleteInUse:  Enforce,
	SubnetExhaustion:   Warn,
	PodIPInvalid:       Enforce,
	PodIPOutOfRange:    Enforce,
	PodIPReserved:      Enforce,
	PodIPExcluded:      Warn,
	PodIPTaken:         Enforce,
	PodSubnetExhausted: Warn,
	// Kube-OVN lets a pod use any subnet or IPPool it names (issue 13 false
	// alarm 5): namespace binding is a wall only under the multi-tenant
	// profile (Profile).
	TenantSubnet:        Warn,
	TenantIPPool:        Warn,
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

// Profile is a named set of default actions, chosen in the config file
// ("profile: multi-tenant") or per namespace with ProfileLabel.
type Profile string

// Profiles.
const (
	// ProfileDefault denies only what Kube-OVN rejects or what would fail
	// allocation, duplicate an address or break routing.
	ProfileDefault Profile = "default"
	// ProfileMultiTenant makes namespace binding a wall: the tenancy
	// rules (tenant-subnet, tenant-ippool) enforce instead of warn.
	ProfileMultiTenant Profile = "multi-tenant"
)

// ProfileLabel on a namespace selects the profile for the objects in it
// ("ipamguard.io/profile: multi-tenant"), whatever the cluster's profile.
const ProfileLabel = "ipamguard.io/profile"

// ParseProfile validates a profile name; empty is the default profile.
func ParseProfile(s string) (Profile, bool) {
	switch p := Profile(s); p {
	case "", ProfileDefault:
		return ProfileDefault, true
	case ProfileMultiTenant:
		return p, true
	}
	return "", false
}

// profileDefaults are the default actions a profile changes.
var profileDefaults = map[Profile]map[RuleID]Action{
	ProfileMultiTenant: {TenantSubnet: Enforce, TenantIPPool: Enforce},
}

// ProfileAction returns the default action of a rule under a profile.
func ProfileAction(p Profile, id RuleID) (Action, bool) {
	if a, ok := profileDefaults[p][id]; ok {
		return a, true
	}
	return DefaultAction(id)
}
