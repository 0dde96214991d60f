package bench

import "time"

// ReservationCost is what test/soak's TestReservationCost measured: what
// the API-backed reservations (--reservations=api) cost a pod creation
// through a real API server, against --reservations=off. It writes one as
// JSON when IPAMGUARD_SOAK_COST_OUT names a file; make bench (hack/bench)
// reads it into docs/perf/summary.md.
type ReservationCost struct {
	// Rounds is how many times each mode ran, alternating; OneAtATime how
	// many fixed-address pods (each followed by one without) each created
	// one at a time, Concurrent how many fixed-address pods Workers
	// clients then created at once.
	Rounds, OneAtATime, Concurrent, Workers int
	// AddedP50 and AddedP99 are the percentiles of a fixed-address pod's
	// creation, one at a time, with reservations minus without, over all
	// rounds' creations.
	AddedP50, AddedP99 time.Duration
	// PlainP50 and PlainP99 are a pod without a fixed address's, by mode
	// ("off", "api").
	PlainP50, PlainP99 map[string]time.Duration
	// Rate is the rate of fixed-address creations by the workers, per
	// second, by mode, over all rounds; RatioPerRound is the rate with
	// reservations over the rate without, round by round (each mode ran
	// minutes apart at most), and RatioMedian their median.
	Rate          map[string]float64
	RatioPerRound []float64
	RatioMedian   float64
	// CPUPerCreation is the CPU time per concurrent creation, in
	// milliseconds, by mode and by process (client, webhook,
	// kube-apiserver, etcd, all).
	CPUPerCreation map[string]map[string]float64
	// DeleteCPU is the CPU time (API server, etcd, the client) per
	// reservation deleted as the leader's sweep deletes it, and ListCPU a
	// reservation's share of the sweep's lists over its TTL (six), in
	// milliseconds; SteadyRatio is CPUPerCreation["off"]["all"] over the
	// same with reservations plus DeleteCPU and ListCPU: the ratio of
	// rates when every reservation is also swept, if CPU is what binds.
	DeleteCPU, ListCPU, SteadyRatio float64
	// Within5ms is the fraction of granted admissions whose reservation
	// calls took at most 5 ms (the webhook's
	// ipamguard_reservation_duration_seconds histogram), all phases.
	Within5ms float64
}
