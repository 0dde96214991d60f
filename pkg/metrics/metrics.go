// Package metrics defines ipamguard's Prometheus metrics: admission requests
// and their latency, rule decisions, configuration reloads, and per-subnet
// address usage computed at scrape time.
//
// Everything hangs off one *Metrics value; the package has no registered
// globals, so tests use their own registry and main registers on
// controller-runtime's (sigs.k8s.io/controller-runtime/pkg/metrics.Registry),
// which the manager serves on /metrics.
package metrics

import (
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipamguard/ipamguard/internal/version"
)

// Namespace is the prefix of every metric name.
const Namespace = "ipamguard"

// Metric names, as exposed. Dashboards and alerting rules (config/prometheus)
// refer to these; a test checks they do not refer to anything else.
const (
	AdmissionRequestsName       = Namespace + "_admission_requests_total"
	AdmissionDurationName       = Namespace + "_admission_duration_seconds"
	DecisionsName               = Namespace + "_decisions_total"
	ConfigReloadsName           = Namespace + "_config_reloads_total"
	ConfigLastReloadSuccessName = Namespace + "_config_last_reload_success_timestamp_seconds"
	SubnetAddressesName         = Namespace + "_subnet_addresses"
	SubnetThresholdStateName    = Namespace + "_subnet_threshold_state"
	DefaultingRequestsName      = Namespace + "_defaulting_requests_total"
	DefaultingDurationName      = Namespace + "_defaulting_duration_seconds"
	ThresholdAddressesName      = Namespace + "_threshold_addresses"
	LeaderName                  = Namespace + "_leader"
	FindingsName                = Namespace + "_findings"
	AuditRunsName               = Namespace + "_audit_runs_total"
	AuditLastRunName            = Namespace + "_audit_last_run_timestamp_seconds"
	AuditDurationName           = Namespace + "_audit_duration_seconds"
	AuditIncompleteName         = Namespace + "_audit_incomplete"
	BuildInfoName               = Namespace + "_build_info"
)

// Values of the result label of ipamguard_audit_runs_total.
const (
	AuditComplete   = "complete"
	AuditIncomplete = "incomplete"
	AuditError      = "error"
)

// Values of the level label of ipamguard_threshold_addresses.
const (
	ThresholdWarning  = "warning"
	ThresholdCritical = "critical"
)

// Values of the result label of ipamguard_defaulting_requests_total.
const (
	// DefaultPatched: the object was changed (a JSON patch was returned).
	DefaultPatched = "patched"
	// DefaultUnchanged: nothing to change, or the request is exempted or
	// in mode off.
	DefaultUnchanged = "unchanged"
	// DefaultAudited: changes were due but only reported (audit mode).
	DefaultAudited = "audited"
	// DefaultError: the request could not be defaulted (bad payload,
	// inventory not synced).
	DefaultError = "error"
)

// Values of the result label of ipamguard_admission_requests_total.
const (
	// ResultAllowed: allowed without warnings.
	ResultAllowed = "allowed"
	// ResultDenied: refused by an enforced rule.
	ResultDenied = "denied"
	// ResultWarned: allowed with at least one warning.
	ResultWarned = "warned"
	// ResultError: the webhook could not judge the request (bad payload,
	// inventory not synced, internal failure).
	ResultError = "error"
)

// Values of the result label of ipamguard_config_reloads_total.
const (
	ReloadSuccess = "success"
	ReloadError   = "error"
)

// Values of the state label of ipamguard_subnet_addresses.
const (
	StateTotal     = "total"
	StateUsing     = "using"
	StateAvailable = "available"
)

// Values of ipamguard_subnet_threshold_state (SubnetUsage.Level).
const (
	LevelOK        = 0
	LevelWarning   = 1
	LevelCritical  = 2
	LevelExhausted = 3
)

// DurationBuckets are the bucket bounds of
// ipamguard_admission_duration_seconds, in seconds. A request is judged from
// in-memory indexes, so most take tens to hundreds of microseconds; the
// upper buckets show lock contention or a slow decode long before the API
// server's webhook timeout. 0.05 is a bound so the 50ms latency alert is
// exact rather than interpolated.
var DurationBuckets = []float64{
	50e-6, 100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3,
	100e-3, 250e-3, 500e-3, 1,
}

// SubnetUsage is the address usage of one address family of one subnet. A
// dual-stack subnet is reported as two values, one per family.
type SubnetUsage struct {
	Subnet, VPC string
	// Family is "IPv4" or "IPv6" (ipam.Family's String).
	Family string
	// Total, Using and Available count addresses. They are exported as
	// float64, which is exact up to 2^53; larger IPv6 counts are rounded.
	Total, Using, Available uint64
	// Level is the exhaustion level, LevelOK .. LevelExhausted. The subnet's
	// ipamguard_subnet_threshold_state is the highest Level of its families.
	Level int
}

// Metrics records ipamguard's metrics. Its methods are safe for concurrent
// use. The zero value is not usable; call New. A nil *Metrics records
// nothing, so callers need no "metrics enabled" checks.
type Metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	defaulting *prometheus.CounterVec
	defaultDur *prometheus.HistogramVec
	thresholds *prometheus.GaugeVec
	decisions  *prometheus.CounterVec
	reloads    *prometheus.CounterVec
	lastReload prometheus.Gauge
	leader     prometheus.Gauge
	subnets    *subnetCollector

	// The continuous audit (pkg/audit): findings of its last run, and how
	// its runs went.
	findings        *prometheus.GaugeVec
	auditRuns       *prometheus.CounterVec
	auditLast       prometheus.Gauge
	auditDuration   prometheus.Gauge
	auditIncomplete prometheus.Gauge

	// buildInfo is the constant ipamguard_build_info series: 1, labelled
	// with the binary's stamped version and commit (internal/version).
	buildInfo prometheus.Metric

	reloadOK, reloadErr prometheus.Counter

	// reservations counts the API-backed address reservations' events.
	reservations *prometheus.CounterVec
	// reservationDur is the time the reservations add to an admission.
	reservationDur *prometheus.HistogramVec

	// The label children of the hot path, cached by their label values:
	// WithLabelValues hashes the values and allocates its variadic slice on
	// every call, a map lookup with a struct key does neither.
	admission childCache[admissionKey, admissionChildren]
	defaulted childCache[admissionKey, admissionChildren]
	decided   childCache[decisionKey, prometheus.Counter]
}

type admissionKey struct{ kind, operation, result string }

type admissionChildren struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// childrenOf returns the children of a request counter and its duration
// histogram for one key.
func childrenOf(requests *prometheus.CounterVec, duration *prometheus.HistogramVec) func(admissionKey) admissionChildren {
	return func(k admissionKey) admissionChildren {
		return admissionChildren{
			requests: requests.WithLabelValues(k.kind, k.operation, k.result),
			duration: duration.WithLabelValues(k.kind, k.operation),
		}
	}
}

type decisionKey struct{ rule, action, mode string }

// New creates the metrics and, when reg is not nil, registers them on reg.
// The error is reg's, for example a prometheus.AlreadyRegisteredError when
// another collector uses one of the names; nothing is registered then.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: AdmissionRequestsName,
			Help: "Admission requests judged, by object kind, operation and result (allowed, denied, warned, error).",
		}, []string{"kind", "operation", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    AdmissionDurationName,
			Help:    "Time to judge an admission request, from decoded request to response, by object kind and operation.",
			Buckets: DurationBuckets,
		}, []string{"kind", "operation"}),
		defaulting: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: DefaultingRequestsName,
			Help: "Requests seen by the defaulting (mutating) webhooks, by object kind, operation and result (patched, unchanged, audited, error).",
		}, []string{"kind", "operation", "result"}),
		defaultDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    DefaultingDurationName,
			Help:    "Time to default a request, from decoded request to response, by object kind and operation.",
			Buckets: DurationBuckets,
		}, []string{"kind", "operation"}),
		thresholds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: ThresholdAddressesName,
			Help: "The exhaustion thresholds in force (config thresholds.warning and thresholds.critical), in available addresses, by level; the subnet alerts compare with these.",
		}, []string{"level"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: DecisionsName,
			Help: "Rule findings acted on, by rule ID, the action taken (enforce, warn, audit) and the request's mode (enforce, audit, off).",
		}, []string{"rule", "action", "mode"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ConfigReloadsName,
			Help: "Configuration file loads, by result (success, error).",
		}, []string{"result"}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: ConfigLastReloadSuccessName,
			Help: "Unix time of the last successful configuration load; 0 before the first.",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: LeaderName,
			Help: "1 while this replica holds the leader election Lease and runs the single-writer work, else 0; the webhooks serve on every replica.",
		}),
		subnets: newSubnetCollector(),
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: FindingsName,
			Help: "Findings of the continuous audit's last run (the doctor's checks on the cluster), by check ID and severity (critical, warning, info). Exported by the leader replica only.",
		}, []string{"check", "severity"}),
		auditRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: AuditRunsName,
			Help: "Continuous audit runs, by result: complete, incomplete (a list was forbidden or timed out; the findings may miss some), error.",
		}, []string{"result"}),
		auditLast: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: AuditLastRunName,
			Help: "Unix time the continuous audit's last run finished; 0 before the first.",
		}),
		auditDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: AuditDurationName,
			Help: "Seconds the continuous audit's last run took: reading the cluster and running the checks.",
		}),
		auditIncomplete: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: AuditIncompleteName,
			Help: "1 when the continuous audit's last run could not read everything (see the logs), else 0.",
		}),
	}
	info := version.Get()
	buildInfo, err := prometheus.NewConstMetric(prometheus.NewDesc(BuildInfoName,
		"Always 1; the labels name the running binary's version, source commit and Go version (as --version prints them).",
		[]string{"version", "commit", "goversion"}, nil),
		prometheus.GaugeValue, 1, info.Version, info.Commit, info.GoVersion)
	if err != nil {
		return nil, fmt.Errorf("metric %s: %w", BuildInfoName, err)
	}
	m.buildInfo = buildInfo
	m.reservations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: ReservationsName,
		Help: "Address reservations in the API server (Leases), by event: created, refused (another owner holds it), taken_over (expired, taken atomically), expired and released (deleted by the leader's cleanup), api_error; without verified callers, confirmed (the holder's pod exists and asks for the address) and unconfirmed_taken_over (taken atomically from a holder not confirmed within the window).",
	}, []string{"event"})
	for _, ev := range ReservationEvents {
		m.reservations.WithLabelValues(ev)
	}
	m.reservationDur = newReservationDuration()
	for _, r := range []string{AuditComplete, AuditIncomplete, AuditError} {
		m.auditRuns.WithLabelValues(r)
	}
	// Both reload results exist from the start, so increase(...{result="error"})
	// has a series to compare against before the first failure.
	m.reloadOK = m.reloads.WithLabelValues(ReloadSuccess)
	m.reloadErr = m.reloads.WithLabelValues(ReloadError)
	m.admission.create = childrenOf(m.requests, m.duration)
	m.defaulted.create = childrenOf(m.defaulting, m.defaultDur)
	m.decided.create = func(k decisionKey) prometheus.Counter {
		return m.decisions.WithLabelValues(k.rule, k.action, k.mode)
	}
	if reg != nil {
		if err := m.Register(reg); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Register registers every metric on reg as one collector: either all are
// registered or, with the error, none.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	return reg.Register(m)
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.duration.Describe(ch)
	m.defaulting.Describe(ch)
	m.defaultDur.Describe(ch)
	m.thresholds.Describe(ch)
	m.decisions.Describe(ch)
	m.reloads.Describe(ch)
	m.lastReload.Describe(ch)
	m.leader.Describe(ch)
	m.subnets.Describe(ch)
	m.findings.Describe(ch)
	m.auditRuns.Describe(ch)
	m.auditLast.Describe(ch)
	m.auditDuration.Describe(ch)
	m.auditIncomplete.Describe(ch)
	m.reservations.Describe(ch)
	m.reservationDur.Describe(ch)
	ch <- m.buildInfo.Desc()
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.duration.Collect(ch)
	m.defaulting.Collect(ch)
	m.defaultDur.Collect(ch)
	m.thresholds.Collect(ch)
	m.decisions.Collect(ch)
	m.reloads.Collect(ch)
	m.lastReload.Collect(ch)
	m.leader.Collect(ch)
	m.subnets.Collect(ch)
	m.findings.Collect(ch)
	m.auditRuns.Collect(ch)
	m.auditLast.Collect(ch)
	m.auditDuration.Collect(ch)
	m.auditIncomplete.Collect(ch)
	m.reservations.Collect(ch)
	m.reservationDur.Collect(ch)
	ch <- m.buildInfo
}

// FindingCount is the number of findings of one check and severity.
type FindingCount struct {
	Check, Severity string
	N               int
}

// ObserveAudit records one run of the continuous audit: the finding counts
// replace the last run's (a check with no findings now has no series);
// incomplete says a list failed; err that the run failed (the counts are
// then kept from the last good run).
func (m *Metrics) ObserveAudit(counts []FindingCount, d time.Duration, finished time.Time, incomplete bool, err error) {
	if m == nil {
		return
	}
	switch {
	case err != nil:
		m.auditRuns.WithLabelValues(AuditError).Inc()
		return
	case incomplete:
		m.auditRuns.WithLabelValues(AuditIncomplete).Inc()
		m.auditIncomplete.Set(1)
	default:
		m.auditRuns.WithLabelValues(AuditComplete).Inc()
		m.auditIncomplete.Set(0)
	}
	m.findings.Reset()
	for _, c := range counts {
		m.findings.WithLabelValues(c.Check, c.Severity).Add(float64(c.N))
	}
	m.auditLast.Set(float64(finished.Unix()))
	m.auditDuration.Set(d.Seconds())
}

// ClearAudit drops the audit's finding series and its incomplete flag,
// for a replica that stops being the leader: only the leader exports them.
func (m *Metrics) ClearAudit() {
	if m == nil {
		return
	}
	m.findings.Reset()
	m.auditIncomplete.Set(0)
}

// ObserveAdmission records one judged request: kind is the object kind
// ("Subnet"), operation the admission operation ("CREATE") and result one
// of ResultAllowed, ResultDenied, ResultWarned, ResultError. d is the time
// spent judging it.
func (m *Metrics) ObserveAdmission(kind, operation, result string, d time.Duration) {
	if m == nil {
		return
	}
	c := m.admission.get(admissionKey{kind, operation, result})
	c.requests.Inc()
	c.duration.Observe(d.Seconds())
}

// ObserveDefaulting records one request seen by a defaulting webhook:
// result is one of DefaultPatched, DefaultUnchanged, DefaultAudited,
// DefaultError; d is the time spent on it.
func (m *Metrics) ObserveDefaulting(kind, operation, result string, d time.Duration) {
	if m == nil {
		return
	}
	c := m.defaulted.get(admissionKey{kind, operation, result})
	c.requests.Inc()
	c.duration.Observe(d.Seconds())
}

// SetThresholds publishes the exhaustion thresholds in force, so that
// alerts follow the configuration instead of repeating its numbers. Call it
// on every successful configuration load.
func (m *Metrics) SetThresholds(warning, critical uint64) {
	if m == nil {
		return
	}
	m.thresholds.WithLabelValues(ThresholdWarning).Set(float64(warning))
	m.thresholds.WithLabelValues(ThresholdCritical).Set(float64(critical))
}

// ObserveDecision records one finding acted on: rule is the rule ID, action
// what was done ("enforce", "warn", "audit") and mode the request's mode
// ("enforce", "audit", "off"). Findings of rules that are off are not
// decisions; do not record them.
func (m *Metrics) ObserveDecision(rule, action, mode string) {
	if m == nil {
		return
	}
	m.decided.get(decisionKey{rule, action, mode}).Inc()
}

// ObserveReload records a configuration load, the initial one included. A
// successful load at time at sets
// ipamguard_config_last_reload_success_timestamp_seconds.
func (m *Metrics) ObserveReload(ok bool, at time.Time) {
	if m == nil {
		return
	}
	if !ok {
		m.reloadErr.Inc()
		return
	}
	m.reloadOK.Inc()
	m.lastReload.Set(float64(at.UnixNano()) / 1e9)
}

// SetLeader records whether this replica leads (holds the leader election
// Lease); ipamguard_leader is 0 until the first call.
func (m *Metrics) SetLeader(leading bool) {
	if m == nil {
		return
	}
	v := 0.0
	if leading {
		v = 1
	}
	m.leader.Set(v)
}

// SetSubnetSource sets the function that yields the usage of every subnet
// family at scrape time (nil: none). It runs on the scrape goroutine once per
// scrape and must not block; it should yield nothing until the inventory has
// synced, since an empty view would read as every subnet gone.
func (m *Metrics) SetSubnetSource(src iter.Seq[SubnetUsage]) {
	if m == nil {
		return
	}
	m.subnets.setSource(src)
}

// childCache maps label values to a metric child, creating it on first use.
// After that a lookup takes a read lock and does not allocate.
type childCache[K comparable, V any] struct {
	create func(K) V

	mu sync.RWMutex
	m  map[K]V
}

func (c *childCache[K, V]) get(k K) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[k]; ok {
		return v
	}
	if c.m == nil {
		c.m = map[K]V{}
	}
	v = c.create(k)
	c.m[k] = v
	return v
}

// subnetCollector exports the usage its source yields at scrape time, so the
// numbers are never older than the inventory and no per-subnet series is left
// behind when a subnet is deleted.
type subnetCollector struct {
	addresses *prometheus.Desc
	threshold *prometheus.Desc
	source    atomic.Pointer[iter.Seq[SubnetUsage]]
}

func newSubnetCollector() *subnetCollector {
	return &subnetCollector{
		addresses: prometheus.NewDesc(SubnetAddressesName,
			"Addresses of a subnet's address family: total usable, using (held by pods, IPs and Vips) and available.",
			[]string{"subnet", "vpc", "family", "state"}, nil),
		threshold: prometheus.NewDesc(SubnetThresholdStateName,
			"Exhaustion level of a subnet, the worst of its families: 0 ok, 1 warning, 2 critical, 3 exhausted.",
			[]string{"subnet", "vpc"}, nil),
	}
}

func (c *subnetCollector) setSource(src iter.Seq[SubnetUsage]) {
	if src == nil {
		c.source.Store(nil)
		return
	}
	c.source.Store(&src)
}

func (c *subnetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.addresses
	ch <- c.threshold
}

type subnetKey struct{ subnet, vpc string }

type familyKey struct {
	subnetKey
	family string
}

func (c *subnetCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.source.Load()
	if src == nil {
		return
	}
	// A panicking source must not take the process down with the scrape: it
	// becomes a scrape error instead.
	defer func() {
		if r := recover(); r != nil {
			ch <- prometheus.NewInvalidMetric(c.addresses, fmt.Errorf("subnet source panicked: %v", r))
		}
	}()
	// The registry rejects a scrape with two samples of one series, so a
	// family reported twice keeps its first value, and a subnet's threshold
	// state (one series per subnet) is the worst level of its families,
	// emitted after the source is done.
	seen := map[familyKey]struct{}{}
	levels := map[subnetKey]int{}
	var order []subnetKey
	for u := range *src {
		fk := familyKey{subnetKey{u.Subnet, u.VPC}, u.Family}
		if _, dup := seen[fk]; dup {
			continue
		}
		seen[fk] = struct{}{}
		for _, s := range [...]struct {
			state string
			n     uint64
		}{{StateTotal, u.Total}, {StateUsing, u.Using}, {StateAvailable, u.Available}} {
			ch <- prometheus.MustNewConstMetric(c.addresses, prometheus.GaugeValue, float64(s.n), u.Subnet, u.VPC, u.Family, s.state)
		}
		if l, ok := levels[fk.subnetKey]; !ok {
			order = append(order, fk.subnetKey)
			levels[fk.subnetKey] = u.Level
		} else if u.Level > l {
			levels[fk.subnetKey] = u.Level
		}
	}
	for _, k := range order {
		ch <- prometheus.MustNewConstMetric(c.threshold, prometheus.GaugeValue, float64(levels[k]), k.subnet, k.vpc)
	}
}
