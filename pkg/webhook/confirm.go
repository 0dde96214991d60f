package webhook

import (
	"net/netip"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamguard/ipamguard/pkg/admit"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/reserve"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// PodRequestsAddress reports whether the pod with metadata m asks for
// address a of subnet: whether a is among the claims the Pod validator
// computes for it (its static-IP annotations, parsed and resolved to
// subnets by the pod rules against d's inventory), whoever holds the
// address now. It is how API reservations confirm their holders when
// callers are not verified (reserve.Confirm.Requests): a reservation
// naming a real pod that does not ask for the address is not confirmed by
// it (it is read again until the request's deadline: this replica's
// inventory, which resolves the pod's subnet, may lag behind the pod).
func (d Deps) PodRequestsAddress(m *metav1.ObjectMeta, subnet string, a netip.Addr) bool {
	if !admit.StaticPod(m.Annotations) {
		return false
	}
	cfg := d.Config.Get()
	rc := validate.Context{Defaults: cfg.Defaults, Thresholds: cfg.Thresholds, PendingHolderTimeout: cfg.PendingHolderTimeout}
	in := admit.PodInput(m.Namespace, m)
	found := false
	d.Store.Read(func(inv inventory.Reader) {
		// With every holder hidden, the rules claim each address the pod
		// asks for instead of reporting it taken: the holder may be this
		// very pod (its pending request, its IP object).
		rc.Inventory = unheld{inv}
		for _, c := range validate.PodCreate(rc, nil, &in).Claims {
			if c.Subnet == subnet && c.Addr == a.Unmap() {
				found = true
			}
		}
	})
	return found
}

// unheld is an inventory in which no address is held: the subnets, pools,
// namespaces and VPCs that resolve a pod's claims are the cluster's.
type unheld struct{ inventory.Reader }

// InUse implements inventory.Reader: nothing is in use.
func (unheld) InUse(string, netip.Addr, netip.Addr, func(inventory.Holder) bool) {}

// PodRequests implements inventory.Reader: no pod asks for anything.
func (unheld) PodRequests(netip.Addr, func(inventory.PodRequest) bool) {}

// confirmsHolders reports whether res confirms the holders of the
// reservations it finds (API reservations with reserve.Confirm), the
// only reservations kept when callers are not verified.
func confirmsHolders(res admit.Reservations) bool {
	l, ok := res.(*reserve.Leases)
	return ok && l != nil && l.Confirm != nil && l.Confirm.Requests != nil
}
