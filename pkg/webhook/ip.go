package webhook

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// IPPath is where the IP object validator is served.
const IPPath = "/validate-kubeovn-io-v1-ip"

var ipGK = schema.GroupKind{Group: kubeovnv1.GroupVersion.Group, Kind: "IP"}

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

// IPValidator admits IP object creations and updates.
type IPValidator = ObjectValidator[kubeovnv1.IP, *kubeovnv1.IP]

// NewIPValidator returns the IP object validator.
func NewIPValidator(d Deps) *IPValidator {
	return &IPValidator{Deps: d, Kind: ipGK, Rules: Rules[kubeovnv1.IP]{
		Create: defaultsOnly(validate.IPCreate),
		Update: defaultsOnly2(validate.IPUpdate),
	}}
}
