package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ReservationsName is the counter of address reservation events.
const ReservationsName = "ipamguard_reservations_total"

// ReservationDurationName is the histogram of the time the API-backed
// reservations add to one admission request.
const ReservationDurationName = "ipamguard_reservation_duration_seconds"

// ReservationEvents are the event label values of ReservationsName, which
// exist from the start (reserve.Event* names the same values).
var ReservationEvents = []string{"created", "refused", "taken_over", "expired", "released", "api_error", "confirmed", "unconfirmed_taken_over"}

// ReservationResults are the result label values of
// ReservationDurationName, which exist from the start (reserve.Result*
// names the same values): granted (every address reserved, or already the
// requester's), refused (another owner holds one), read (nothing to
// reserve: a dry run or a request denied on other grounds reads the
// reservations only) and error (the API server failed or the time ran
// out; the request is refused).
var ReservationResults = []string{"granted", "refused", "read", "error"}

// ReservationDurationBuckets are the bucket bounds of
// ReservationDurationName, in seconds: one create in the API server takes a
// few milliseconds; 5 ms is a bound so the p99 target of the reservations
// (at most 5 ms added) is read exactly; the top buckets reach the 2 s
// write timeout.
var ReservationDurationBuckets = []float64{
	500e-6, 1e-3, 2e-3, 3e-3, 5e-3, 7.5e-3, 10e-3, 25e-3, 50e-3,
	100e-3, 250e-3, 500e-3, 1, 2,
}

func newReservationDuration() *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    ReservationDurationName,
		Help:    "Time the address reservations in the API server (Leases) add to one fixed-address admission: the creates, reads and takeovers of its Leases, by result (granted, refused, read, error).",
		Buckets: ReservationDurationBuckets,
	}, []string{"result"})
	for _, r := range ReservationResults {
		h.WithLabelValues(r)
	}
	return h
}

// ObserveReservation counts one reservation event (one of
// ReservationEvents).
func (m *Metrics) ObserveReservation(event string) {
	if m == nil {
		return
	}
	m.reservations.WithLabelValues(event).Inc()
}

// ObserveReservationDuration records the time the reservations added to
// one admission, by result (one of ReservationResults).
func (m *Metrics) ObserveReservationDuration(result string, d time.Duration) {
	if m == nil {
		return
	}
	m.reservationDur.WithLabelValues(result).Observe(d.Seconds())
}
