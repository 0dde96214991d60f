package webhook

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// IPPoolPath is where the IPPool validator is served.
const IPPoolPath = "/validate-kubeovn-io-v1-ippool"

var ippoolGK = schema.GroupKind{Group: kubeovnv1.GroupVersion.Group, Kind: "IPPool"}

// The IPPool webhook fails closed, like the Subnet one: pools are operator
// objects changed rarely, and an overlapping pool let through while the
// webhook is down hands one address to two workloads; a refused change can
// simply be retried. Deletes are Kube-OVN's business and not judged.
// +kubebuilder:webhook:path=/validate-kubeovn-io-v1-ippool,mutating=false,failurePolicy=fail,sideEffects=None,groups=kubeovn.io,resources=ippools,verbs=create;update,versions=v1,name=vippool.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=5

// IPPoolValidator admits IPPool creations and updates.
type IPPoolValidator = ObjectValidator[kubeovnv1.IPPool, *kubeovnv1.IPPool]

// NewIPPoolValidator returns the IPPool validator.
func NewIPPoolValidator(d Deps) *IPPoolValidator {
	return &IPPoolValidator{Deps: d, Kind: ippoolGK, Rules: Rules[kubeovnv1.IPPool]{
		Create: defaultsOnly(validate.IPPoolCreate),
		Update: defaultsOnly2(validate.IPPoolUpdate),
	}}
}
