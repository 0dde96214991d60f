package validate

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	"github.com/ipamguard/ipamguard/pkg/inventory"
)

// ResolveSubnets returns the subnets one interface of a pod in namespace ns
// may land in, resolved exactly as the pod rules resolve them (the
// controller's order: logical_switch, the named IPPool's subnet, subnets
// bound to the namespace, the namespace VPC's default subnet, the default
// subnet). It returns nil when the interface names a subnet or IPPool that
// does not exist; the pod rules report that, so it judges nothing itself.
func ResolveSubnets(ctx Context, ns string, req annotations.Request) []*inventory.Subnet {
	c := podCheck{r: ctx.Inventory, d: ctx.Defaults, in: PodInput{Namespace: ns, Ordinal: -1, Meta: field.NewPath("metadata")}}
	cands, ok := c.resolve(req)
	if !ok {
		return nil
	}
	return cands
}
