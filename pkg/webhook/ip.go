package webhook

import "github.com/ipamguard/ipamguard/pkg/admit"

// IPPath is where the IP object validator is served.
const IPPath = "/validate-kubeovn-io-v1-ip"

// The IP webhook fails open, unlike the Subnet one: the Kube-OVN controller
// creates and updates an IP object for every pod it wires, so a webhook that
// is down (or not yet synced, which answers 503) must not stop pod
// networking cluster-wide. The short timeout bounds the stall on that path.
// Deletes are not judged: the controller releases addresses by deleting.
//
// ip-immutable cannot see who asks; the controller rewrites IP objects of
// keep-IP StatefulSet pods and VMs, so operators exempt its service account
// with exempt.users in the config file.
// +kubebuilder:webhook:path=/validate-kubeovn-io-v1-ip,mutating=false,failurePolicy=ignore,sideEffects=None,groups=kubeovn.io,resources=ips,verbs=create;update,versions=v1,name=vipaddress.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=3

// NewIPValidator returns the IP object validator.
func NewIPValidator(d Deps) *Handler { return newHandler(d, nil, admit.Validate, ipGK) }
