package webhook

import (
	"github.com/ipamguard/ipamguard/pkg/admit"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// SubnetPath is where the Subnet validator is served.
const SubnetPath = "/validate-kubeovn-io-v1-subnet"

// The Subnet webhook fails closed: Subnet changes are rare, made by
// operators, and an overlap or shrink let through while the webhook is down
// corrupts IP management silently; a refused change can simply be retried.
// +kubebuilder:webhook:path=/validate-kubeovn-io-v1-subnet,mutating=false,failurePolicy=fail,sideEffects=None,groups=kubeovn.io,resources=subnets,verbs=create;update;delete,versions=v1,name=vsubnet.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=5

// SubnetValidator admits Subnet creations, updates and deletions.
type SubnetValidator = ObjectValidator[kubeovnv1.Subnet, *kubeovnv1.Subnet]

// NewSubnetValidator returns the Subnet validator.
func NewSubnetValidator(d Deps) *SubnetValidator {
	return &SubnetValidator{Deps: d, Kind: subnetGK, Rules: Rules[kubeovnv1.Subnet]{
		Create: admit.SubnetCreate,
		Update: admit.SubnetUpdate,
		Delete: defaultsOnly(validate.SubnetDelete),
	}}
}
