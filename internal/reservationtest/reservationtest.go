// Package reservationtest holds a test helper for reading reservation
// Leases, shared by the tests of pkg/reserve and pkg/webhook.
package reservationtest

import (
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"

	"github.com/ipamguard/ipamguard/pkg/reservation"
)

// Fields reads le as a reservation, failing t when it is not one.
func Fields(t testing.TB, le *coordinationv1.Lease) reservation.Fields {
	t.Helper()
	f, ok := reservation.Read(le)
	if !ok {
		t.Fatalf("lease %s is not a reservation: %v", le.Name, le.Annotations)
	}
	return f
}
