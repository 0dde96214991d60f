package validate

import (
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

// PodCapacity warns when a pod without a fixed address lands in a subnet
// at or below the thresholds. The landing subnet is chosen like the
// controller: the namespace's bound subnets in order, skipping full ones,
// then the VPC default and the default subnet.
//
// The finding is reported on metadata.namespace: the namespace decides
// the subnet.
func PodCapacity(c Context, _, in *PodInput) Result {
	if fs := namespacePoolsExhausted(c, in.Namespace); len(fs) > 0 {
		return Result{Findings: fs}
	}
	sn := landingSubnet(c.Inventory, c.Defaults, in.Namespace, "")
	if sn == nil {
		return Result{}
	}
	return Result{Findings: PodExhaustion(c, sn, 1, field.NewPath("metadata", "namespace"), in.Namespace)}
}

// namespacePoolsExhausted reports a pod without annotations in a
// namespace bound to IPPools (spec.namespaces; the controller writes them
// into the namespace's ip_pool annotation, pkg/controller/namespace.go)
// when every such pool of the namespace's subnets has no free address:
// the controller then takes no address from the subnet either
// (pkg/controller/pod.go acquireAddress, "no available ippool",
// NoAvailableAddress). Only the pools of the namespace's subnets are
// visited.
func namespacePoolsExhausted(c Context, ns string) []policy.Finding {
	r := c.Inventory
	var first []policy.Finding
	bound := false
	for _, sn := range resolveDefault(r, c.Defaults, ns, annotations.DefaultProvider) {
		free := false
		r.IPPoolsOfSubnet(sn.Name, func(pool *inventory.IPPool) bool {
			if !slices.Contains(pool.Namespaces, ns) {
				return true
			}
			bound = true
			fs := PoolExhaustion(c, pool, sn, 1, field.NewPath("metadata", "namespace"), ns)
			if len(fs) == 0 {
				free = true
				return false
			}
			if first == nil {
				first = fs
			}
			return true
		})
		if free {
			return nil
		}
	}
	if !bound {
		return nil
	}
	return first
}

// PodCapacityNamed warns like PodCapacity for a pod without a fixed
// address that names its subnet with logical_switch or a named IPPool
// (the static-IP webhook judges those pods). The finding is reported on
// the naming annotation.
func PodCapacityNamed(c Context, _, in *PodInput) Result {
	r := c.Inventory
	for _, req := range annotations.Requests(in.Annotations) {
		if req.Provider != annotations.DefaultProvider || req.IPAddress != "" {
			continue
		}
		key, value, subnet := req.LogicalSwitchKey, req.LogicalSwitch, req.LogicalSwitch
		if req.IPPool != "" {
			if !annotations.IsPoolName(req.IPPool) {
				continue // fixed addresses from a list
			}
			pool, ok := r.IPPool(req.IPPool)
			if !ok {
				continue // reported by the static-IP rules
			}
			// The pod takes an address of the pool: a pool with none
			// free leaves it waiting whatever the subnet has left.
			if sn, ok := r.Subnet(pool.Subnet); ok {
				if fs := PoolExhaustion(c, pool, sn, 1, in.Meta.Child("annotations").Key(req.IPPoolKey), req.IPPool); len(fs) > 0 {
					return Result{Findings: fs}
				}
			}
			key, value, subnet = req.IPPoolKey, req.IPPool, pool.Subnet
		}
		if subnet == "" {
			continue
		}
		sn, ok := r.Subnet(subnet)
		if !ok {
			continue
		}
		return Result{Findings: PodExhaustion(c, sn, 1, in.Meta.Child("annotations").Key(key), value)}
	}
	return Result{}
}

// landingSubnet picks the subnet pods without a fixed address land in: the
// named logical switch, else the namespace's bound subnets in order,
// skipping full ones (as the controller does), then the VPC default and the
// default subnet.
func landingSubnet(r inventory.Reader, d settings.Defaults, namespace, logicalSwitch string) *inventory.Subnet {
	if logicalSwitch != "" {
		sn, _ := r.Subnet(logicalSwitch)
		return sn
	}
	cands := resolveDefault(r, d, namespace, annotations.DefaultProvider)
	if len(cands) == 0 {
		return nil
	}
	for _, sn := range cands {
		if avail, _ := Available(Usage(r, sn)); avail > 0 {
			return sn
		}
	}
	return cands[0]
}

// WorkloadCapacity warns when a workload created or scaled up needs more
// addresses (need: the added replicas) than its subnet has left, or leaves
// it at or below the thresholds.
//
// The finding is reported on p with value replicas.
func WorkloadCapacity(c Context, _, in *CapacityInput) Result {
	sn := landingSubnet(c.Inventory, c.Defaults, in.Namespace, in.LogicalSwitch)
	if sn == nil {
		return Result{}
	}
	return Result{Findings: PodExhaustion(c, sn, in.Need, in.Path, in.Replicas)}
}
