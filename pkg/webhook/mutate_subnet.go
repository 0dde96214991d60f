package webhook

import "github.com/ipamguard/ipamguard/pkg/admit"

// SubnetDefaulterPath is where the Subnet defaulter is served.
const SubnetDefaulterPath = "/mutate-kubeovn-io-v1-subnet"

// The Subnet defaulter fails closed like the Subnet validator: both are
// served by this process, so when one is unreachable so is the other, and
// failing open here would only let the validator refuse input this webhook
// would have fixed. Mutating webhooks run before validating ones, so
// vsubnet judges the canonical form.
// +kubebuilder:webhook:path=/mutate-kubeovn-io-v1-subnet,mutating=true,failurePolicy=fail,sideEffects=None,groups=kubeovn.io,resources=subnets,verbs=create;update,versions=v1,name=msubnet.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=5

// NewSubnetDefaulter returns the Subnet defaulter: it rewrites Subnet
// creations and updates into the canonical form (see
// mutate.DefaultSubnet), warning about every change. It reads no
// inventory, so it answers before the inventory has synced.
func NewSubnetDefaulter(d Deps) *Handler { return newHandler(d, nil, admit.Default, subnetGK) }
