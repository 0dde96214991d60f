package webhook

import "github.com/ipamguard/ipamguard/pkg/admit"

// IPPoolPath is where the IPPool validator is served.
const IPPoolPath = "/validate-kubeovn-io-v1-ippool"

// The IPPool webhook fails closed, like the Subnet one: pools are operator
// objects changed rarely, and an overlapping pool let through while the
// webhook is down hands one address to two workloads; a refused change can
// simply be retried. Deletes are Kube-OVN's business and not judged.
// +kubebuilder:webhook:path=/validate-kubeovn-io-v1-ippool,mutating=false,failurePolicy=fail,sideEffects=None,groups=kubeovn.io,resources=ippools,verbs=create;update,versions=v1,name=vippool.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=5

// NewIPPoolValidator returns the IPPool validator.
func NewIPPoolValidator(d Deps) *Handler { return newHandler(d, nil, admit.Validate, ippoolGK) }
