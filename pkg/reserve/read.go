package reserve

import coordinationv1 "k8s.io/api/coordination/v1"

// FromLease reads a reservation Lease as the webhook does (the doctor's
// stale-reservation check reads them so); ok is false for a Lease that is
// not a well-formed reservation.
func FromLease(le *coordinationv1.Lease) (r Reservation, ok bool) {
	return reservationOf(le)
}
