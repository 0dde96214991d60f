package metrics

// ReservationsName is the counter of address reservation events.
const ReservationsName = "ipamguard_reservations_total"

// ReservationEvents are the event label values of ReservationsName, which
// exist from the start (reserve.Event* names the same values).
var ReservationEvents = []string{"created", "refused", "taken_over", "expired", "released", "api_error"}

// ObserveReservation counts one reservation event (one of
// ReservationEvents).
func (m *Metrics) ObserveReservation(event string) {
	if m == nil {
		return
	}
	m.reservations.WithLabelValues(event).Inc()
}
