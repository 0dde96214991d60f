package webhook

import "github.com/ipamguard/ipamguard/pkg/admit"

// SubnetPath is where the Subnet validator is served.
const SubnetPath = "/validate-kubeovn-io-v1-subnet"

// The Subnet webhook fails closed: Subnet changes are rare, made by
// operators, and an overlap or shrink let through while the webhook is down
// corrupts IP management silently; a refused change can simply be retried.
// +kubebuilder:webhook:path=/validate-kubeovn-io-v1-subnet,mutating=false,failurePolicy=fail,sideEffects=None,groups=kubeovn.io,resources=subnets,verbs=create;update;delete,versions=v1,name=vsubnet.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=5

// NewSubnetValidator returns the Subnet validator.
func NewSubnetValidator(d Deps) *Handler { return newHandler(d, nil, admit.Validate, subnetGK) }
