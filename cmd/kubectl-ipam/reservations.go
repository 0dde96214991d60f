package main

import (
	"github.com/spf13/pflag"

	"github.com/ipamguard/ipamguard/pkg/clusterstate"
)

// defaultWebhookNamespace is where the shipped install runs the webhook
// and keeps its address reservations.
const defaultWebhookNamespace = "ipamguard-system"

// bindWebhookNamespace adds --webhook-namespace, shared by doctor,
// snapshot and reservations.
func bindWebhookNamespace(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "webhook-namespace", defaultWebhookNamespace, "the `NAMESPACE` of the ipamguard webhook, whose address reservations (Leases) are read for the reservation-stale check (empty: not read)")
}

// reservationResources lists the webhook's reservations in namespace,
// none when it is empty.
func reservationResources(namespace string) []clusterstate.Resource {
	if namespace == "" {
		return nil
	}
	return []clusterstate.Resource{clusterstate.ReservationLeases(namespace)}
}
