package metrics_test

import (
	"bytes"
	"errors"
	"iter"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/ipamguard/ipamguard/internal/version"
	"github.com/ipamguard/ipamguard/pkg/metrics"
)

// The root testutil package would need github.com/kylelemons/godebug in
// go.mod; gather and exposition below do what its CollectAndCompare does.

// newMetrics registers fresh metrics on a pedantic registry, which also
// checks that what is collected matches what is described.
func newMetrics(t *testing.T) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, reg
}

// gather returns the families reg exposes, by name.
func gather(t *testing.T, reg prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// exposition renders the named families in the text format, HELP and TYPE
// lines dropped so tests compare samples only.
func exposition(t *testing.T, reg prometheus.Gatherer, names ...string) string {
	t.Helper()
	fams := gather(t, reg)
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, n := range names {
		if mf, ok := fams[n]; ok {
			if err := enc.Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	var lines []string
	for l := range strings.Lines(buf.String()) {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "")
}

func compare(t *testing.T, reg prometheus.Gatherer, want string, names ...string) {
	t.Helper()
	got := exposition(t, reg, names...)
	want = strings.TrimLeft(dedent(want), "\n")
	if got != want {
		t.Errorf("exposition of %v:\n--- got\n%s--- want\n%s", names, got, want)
	}
}

func dedent(s string) string {
	var b strings.Builder
	for l := range strings.Lines(s) {
		b.WriteString(strings.TrimLeft(l, "\t"))
	}
	return b.String()
}

func seq(us ...metrics.SubnetUsage) iter.Seq[metrics.SubnetUsage] {
	return slices.Values(us)
}

func TestNamesAndLint(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	m.ObserveAdmission("Subnet", "CREATE", metrics.ResultAllowed, time.Millisecond)
	m.ObserveDecision("subnet-overlap", "enforce", "enforce")
	m.ObserveReload(true, time.Unix(1700000000, 0))
	m.SetSubnetSource(seq(metrics.SubnetUsage{Subnet: "a", VPC: "v", Family: "IPv4", Total: 253, Using: 3, Available: 250}))
	m.ObserveAudit([]metrics.FindingCount{{Check: "zombie-ip", Severity: "warning", N: 2}}, time.Second, time.Unix(1700000000, 0), false, nil)

	fams := gather(t, reg)
	var got []string
	for n := range fams {
		got = append(got, n)
	}
	slices.Sort(got)
	want := []string{
		metrics.AdmissionDurationName, metrics.AdmissionRequestsName,
		metrics.ConfigLastReloadSuccessName, metrics.ConfigReloadsName,
		metrics.DecisionsName, metrics.SubnetAddressesName, metrics.SubnetThresholdStateName,
		metrics.LeaderName, metrics.FindingsName, metrics.AuditRunsName, metrics.AuditLastRunName,
		metrics.AuditDurationName, metrics.AuditIncompleteName, metrics.BuildInfoName,
		metrics.ReservationsName, metrics.ReservationDurationName,
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("exposed families %v, want %v", got, want)
	}
	for _, n := range got {
		if !strings.HasPrefix(n, metrics.Namespace+"_") {
			t.Errorf("%s lacks the %s_ prefix", n, metrics.Namespace)
		}
	}

	var mfs []*dto.MetricFamily
	for _, n := range got {
		mfs = append(mfs, fams[n])
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestRegisterTwiceIsAnError(t *testing.T) {
	t.Parallel()
	_, reg := newMetrics(t)
	m, err := metrics.New(reg)
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) || m != nil {
		t.Fatalf("second New on one registry: %v, %v; want nil, AlreadyRegisteredError", m, err)
	}
	// A registry that already has one of the names (a clash with another
	// component) is refused as a whole.
	reg2 := prometheus.NewRegistry()
	reg2.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: metrics.DecisionsName, Help: "other"}))
	if _, err := metrics.New(reg2); err == nil {
		t.Fatal("New on a registry with a clashing name succeeded")
	}
	if fams := gather(t, reg2); len(fams) != 1 {
		t.Errorf("a failed New left %d families registered, want only the clashing one", len(fams))
	}
}

func TestNewWithoutRegistry(t *testing.T) {
	t.Parallel()
	m, err := metrics.New(nil)
	if err != nil || m == nil {
		t.Fatalf("New(nil) = %v, %v", m, err)
	}
	m.ObserveAdmission("Subnet", "CREATE", metrics.ResultAllowed, 0)
	reg := prometheus.NewPedanticRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	compare(t, reg, `
		ipamguard_admission_requests_total{kind="Subnet",operation="CREATE",result="allowed"} 1
	`, metrics.AdmissionRequestsName)
}

func TestNilMetricsRecordNothing(t *testing.T) {
	t.Parallel()
	var m *metrics.Metrics
	m.ObserveAdmission("Subnet", "CREATE", metrics.ResultAllowed, time.Millisecond)
	m.ObserveDecision("subnet-overlap", "enforce", "enforce")
	m.ObserveReload(true, time.Now())
	m.SetLeader(true)
	m.SetSubnetSource(nil)
}

func TestObserveAdmission(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	m.ObserveAdmission("Subnet", "CREATE", metrics.ResultAllowed, 80*time.Microsecond)
	m.ObserveAdmission("Subnet", "CREATE", metrics.ResultDenied, 3*time.Millisecond)
	m.ObserveAdmission("Subnet", "CREATE", metrics.ResultDenied, 50*time.Millisecond)
	m.ObserveAdmission("Subnet", "DELETE", metrics.ResultError, 2*time.Second)
	compare(t, reg, `
		ipamguard_admission_requests_total{kind="Subnet",operation="CREATE",result="allowed"} 1
		ipamguard_admission_requests_total{kind="Subnet",operation="CREATE",result="denied"} 2
		ipamguard_admission_requests_total{kind="Subnet",operation="DELETE",result="error"} 1
	`, metrics.AdmissionRequestsName)

	fams := gather(t, reg)
	for _, mt := range fams[metrics.AdmissionDurationName].GetMetric() {
		labels := map[string]string{}
		for _, lp := range mt.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		if _, ok := labels["result"]; ok {
			t.Errorf("the duration histogram has a result label: %v", labels)
		}
		h := mt.GetHistogram()
		cum := map[float64]uint64{}
		for _, b := range h.GetBucket() {
			cum[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		switch labels["operation"] {
		case "CREATE":
			// 80µs, 3ms and exactly 50ms (bounds are inclusive).
			if h.GetSampleCount() != 3 || cum[50e-6] != 0 || cum[100e-6] != 1 || cum[2.5e-3] != 1 || cum[5e-3] != 2 || cum[25e-3] != 2 || cum[50e-3] != 3 {
				t.Errorf("CREATE histogram: count %d, cumulative buckets %v", h.GetSampleCount(), cum)
			}
		case "DELETE":
			// 2s is beyond the last bound: only +Inf (the sample count) has it.
			if h.GetSampleCount() != 1 || cum[1] != 0 {
				t.Errorf("DELETE histogram: count %d, cumulative buckets %v", h.GetSampleCount(), cum)
			}
		default:
			t.Errorf("unexpected series %v", labels)
		}
	}
	if b := fams[metrics.AdmissionDurationName].GetMetric()[0].GetHistogram().GetBucket(); len(b) != len(metrics.DurationBuckets) || b[0].GetUpperBound() != 50e-6 || b[len(b)-1].GetUpperBound() != 1 {
		t.Errorf("buckets %v, want 50µs .. 1s", b)
	}
}

func TestObserveDecision(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	m.ObserveDecision("subnet-overlap", "enforce", "enforce")
	m.ObserveDecision("subnet-overlap", "enforce", "enforce")
	m.ObserveDecision("subnet-overlap", "audit", "audit")
	m.ObserveDecision("subnet-gateway-in-use", "warn", "enforce")
	compare(t, reg, `
		ipamguard_decisions_total{action="audit",mode="audit",rule="subnet-overlap"} 1
		ipamguard_decisions_total{action="enforce",mode="enforce",rule="subnet-overlap"} 2
		ipamguard_decisions_total{action="warn",mode="enforce",rule="subnet-gateway-in-use"} 1
	`, metrics.DecisionsName)
}

func TestSetThresholds(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	m.SetThresholds(10, 5)
	m.SetThresholds(20, 3) // a reload replaces them
	compare(t, reg, `
		ipamguard_threshold_addresses{level="critical"} 3
		ipamguard_threshold_addresses{level="warning"} 20
	`, metrics.ThresholdAddressesName)
}

func TestSetLeader(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	compare(t, reg, `
		ipamguard_leader 0
	`, metrics.LeaderName)
	m.SetLeader(true)
	compare(t, reg, `
		ipamguard_leader 1
	`, metrics.LeaderName)
	m.SetLeader(false)
	compare(t, reg, `
		ipamguard_leader 0
	`, metrics.LeaderName)
}

func TestObserveDefaulting(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	m.ObserveDefaulting("Pod", "CREATE", metrics.DefaultPatched, time.Millisecond)
	m.ObserveDefaulting("Pod", "CREATE", metrics.DefaultPatched, time.Millisecond)
	m.ObserveDefaulting("Subnet", "UPDATE", metrics.DefaultUnchanged, time.Millisecond)
	compare(t, reg, `
		ipamguard_defaulting_requests_total{kind="Pod",operation="CREATE",result="patched"} 2
		ipamguard_defaulting_requests_total{kind="Subnet",operation="UPDATE",result="unchanged"} 1
	`, metrics.DefaultingRequestsName)
}

func TestObserveReload(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	names := []string{metrics.ConfigLastReloadSuccessName, metrics.ConfigReloadsName}
	compare(t, reg, `
		ipamguard_config_last_reload_success_timestamp_seconds 0
		ipamguard_config_reloads_total{result="error"} 0
		ipamguard_config_reloads_total{result="success"} 0
	`, names...)

	m.ObserveReload(true, time.Unix(1700000000, 500_000_000))
	m.ObserveReload(false, time.Unix(1700000100, 0))
	compare(t, reg, `
		ipamguard_config_last_reload_success_timestamp_seconds 1.7000000005e+09
		ipamguard_config_reloads_total{result="error"} 1
		ipamguard_config_reloads_total{result="success"} 1
	`, names...)
}

func TestSubnetCollector(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	names := []string{metrics.SubnetAddressesName, metrics.SubnetThresholdStateName}

	// No source: no series, and no error.
	compare(t, reg, "", names...)

	m.SetSubnetSource(seq(
		metrics.SubnetUsage{Subnet: "ds", VPC: "ovn-cluster", Family: "IPv4", Total: 253, Using: 250, Available: 3, Level: metrics.LevelCritical},
		metrics.SubnetUsage{Subnet: "ds", VPC: "ovn-cluster", Family: "IPv6", Total: 1 << 60, Using: 250, Available: 1<<60 - 250, Level: metrics.LevelOK},
		// A second report of a family is dropped rather than failing the scrape.
		metrics.SubnetUsage{Subnet: "ds", VPC: "ovn-cluster", Family: "IPv4", Total: 1, Level: metrics.LevelExhausted},
		// The same subnet name in another VPC is another subnet.
		metrics.SubnetUsage{Subnet: "a", VPC: "vpc1", Family: "IPv4", Total: 13, Using: 13, Available: 0, Level: metrics.LevelExhausted},
	))
	compare(t, reg, `
		ipamguard_subnet_addresses{family="IPv4",state="available",subnet="a",vpc="vpc1"} 0
		ipamguard_subnet_addresses{family="IPv4",state="available",subnet="ds",vpc="ovn-cluster"} 3
		ipamguard_subnet_addresses{family="IPv4",state="total",subnet="a",vpc="vpc1"} 13
		ipamguard_subnet_addresses{family="IPv4",state="total",subnet="ds",vpc="ovn-cluster"} 253
		ipamguard_subnet_addresses{family="IPv4",state="using",subnet="a",vpc="vpc1"} 13
		ipamguard_subnet_addresses{family="IPv4",state="using",subnet="ds",vpc="ovn-cluster"} 250
		ipamguard_subnet_addresses{family="IPv6",state="available",subnet="ds",vpc="ovn-cluster"} 1.1529215046068467e+18
		ipamguard_subnet_addresses{family="IPv6",state="total",subnet="ds",vpc="ovn-cluster"} 1.152921504606847e+18
		ipamguard_subnet_addresses{family="IPv6",state="using",subnet="ds",vpc="ovn-cluster"} 250
		ipamguard_subnet_threshold_state{subnet="a",vpc="vpc1"} 3
		ipamguard_subnet_threshold_state{subnet="ds",vpc="ovn-cluster"} 2
	`, names...)

	// The source is read at every scrape: a deleted subnet leaves no series.
	m.SetSubnetSource(seq(metrics.SubnetUsage{Subnet: "a", VPC: "vpc1", Family: "IPv4", Total: 13, Using: 1, Available: 12}))
	compare(t, reg, `
		ipamguard_subnet_addresses{family="IPv4",state="available",subnet="a",vpc="vpc1"} 12
		ipamguard_subnet_addresses{family="IPv4",state="total",subnet="a",vpc="vpc1"} 13
		ipamguard_subnet_addresses{family="IPv4",state="using",subnet="a",vpc="vpc1"} 1
		ipamguard_subnet_threshold_state{subnet="a",vpc="vpc1"} 0
	`, names...)

	m.SetSubnetSource(nil)
	compare(t, reg, "", names...)
}

func TestSubnetSourceStopsEarly(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	// A source that ignores yield's false would panic in a range-over-func
	// loop; the collector must keep yielding true.
	m.SetSubnetSource(func(yield func(metrics.SubnetUsage) bool) {
		for _, s := range []string{"a", "b"} {
			if !yield(metrics.SubnetUsage{Subnet: s, VPC: "v", Family: "IPv4"}) {
				t.Error("the collector stopped the source early")
				return
			}
		}
	})
	if n := len(gather(t, reg)[metrics.SubnetThresholdStateName].GetMetric()); n != 2 {
		t.Errorf("%d threshold series, want 2", n)
	}
}

func TestSubnetSourcePanicIsAScrapeError(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	m.ObserveDecision("subnet-overlap", "enforce", "enforce")
	m.SetSubnetSource(func(func(metrics.SubnetUsage) bool) { panic("inventory broken") })
	_, err := reg.Gather()
	if err == nil || !strings.Contains(err.Error(), "inventory broken") {
		t.Fatalf("gather with a panicking source: %v, want an error naming the panic", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	m.SetSubnetSource(seq(metrics.SubnetUsage{Subnet: "a", VPC: "v", Family: "IPv4", Total: 10}))
	ops := []string{"CREATE", "UPDATE", "DELETE"}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				m.ObserveAdmission("Subnet", ops[(i+j)%len(ops)], metrics.ResultAllowed, time.Microsecond)
				m.ObserveDecision("subnet-overlap", "enforce", ops[j%len(ops)])
				if j%50 == 0 {
					m.ObserveReload(j%100 == 0, time.Now())
					if _, err := reg.Gather(); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	var total float64
	for _, mt := range gather(t, reg)[metrics.AdmissionRequestsName].GetMetric() {
		total += mt.GetCounter().GetValue()
	}
	if total != 8*200 {
		t.Errorf("%v requests counted, want %d", total, 8*200)
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	m, _ := newMetrics(t)
	m.ObserveAdmission("Subnet", "UPDATE", metrics.ResultDenied, time.Millisecond)
	m.ObserveDecision("subnet-shrink", "enforce", "enforce")
	if n := testing.AllocsPerRun(100, func() {
		m.ObserveAdmission("Subnet", "UPDATE", metrics.ResultDenied, time.Millisecond)
		m.ObserveDecision("subnet-shrink", "enforce", "enforce")
	}); n != 0 {
		t.Errorf("%v allocations per observation of known labels, want 0", n)
	}
}

func BenchmarkObserveAdmission(b *testing.B) {
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveAdmission("Subnet", "UPDATE", metrics.ResultAllowed, 100*time.Microsecond)
		}
	})
}

// TestObserveAudit: each run replaces the findings of the last; a failed
// run keeps them; incomplete runs are counted and flagged.
func TestObserveAudit(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	m.ObserveAudit([]metrics.FindingCount{{"zombie-ip", "warning", 2}, {"duplicate-address", "critical", 1}}, time.Second, time.Unix(100, 0), false, nil)
	m.ObserveAudit([]metrics.FindingCount{{"zombie-ip", "warning", 1}}, 2*time.Second, time.Unix(200, 0), true, nil)
	m.ObserveAudit(nil, time.Second, time.Unix(300, 0), false, errors.New("boom"))
	fams := gather(t, reg)
	got := map[string]float64{}
	for _, mt := range fams[metrics.FindingsName].GetMetric() {
		var check, sev string
		for _, l := range mt.GetLabel() {
			switch l.GetName() {
			case "check":
				check = l.GetValue()
			case "severity":
				sev = l.GetValue()
			}
		}
		got[check+"/"+sev] = mt.GetGauge().GetValue()
	}
	if len(got) != 1 || got["zombie-ip/warning"] != 1 {
		t.Errorf("findings = %v, want only zombie-ip/warning 1", got)
	}
	if v := fams[metrics.AuditIncompleteName].GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("incomplete = %v", v)
	}
	if v := fams[metrics.AuditLastRunName].GetMetric()[0].GetGauge().GetValue(); v != 200 {
		t.Errorf("last run = %v, want 200 (the failed run does not count)", v)
	}
	runs := map[string]float64{}
	for _, mt := range fams[metrics.AuditRunsName].GetMetric() {
		runs[mt.GetLabel()[0].GetValue()] = mt.GetCounter().GetValue()
	}
	if runs[metrics.AuditComplete] != 1 || runs[metrics.AuditIncomplete] != 1 || runs[metrics.AuditError] != 1 {
		t.Errorf("runs = %v", runs)
	}
	m.ClearAudit()
	if n := len(gather(t, reg)[metrics.FindingsName].GetMetric()); n != 0 {
		t.Errorf("%d finding series after ClearAudit", n)
	}
}

// TestBuildInfo: one series, value 1, labelled with what internal/version
// reports (the test binary is not stamped, so the defaults).
func TestBuildInfo(t *testing.T) {
	t.Parallel()
	_, reg := newMetrics(t)
	info := version.Get()
	compare(t, reg, `
		ipamguard_build_info{commit="`+info.Commit+`",goversion="`+info.GoVersion+`",version="`+info.Version+`"} 1
	`, metrics.BuildInfoName)
}

func TestObserveReservation(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	m.ObserveReservation("created")
	m.ObserveReservation("created")
	m.ObserveReservation("refused")
	compare(t, reg, `
		ipamguard_reservations_total{event="api_error"} 0
		ipamguard_reservations_total{event="confirmed"} 0
		ipamguard_reservations_total{event="created"} 2
		ipamguard_reservations_total{event="expired"} 0
		ipamguard_reservations_total{event="refused"} 1
		ipamguard_reservations_total{event="released"} 0
		ipamguard_reservations_total{event="taken_over"} 0
		ipamguard_reservations_total{event="unconfirmed_taken_over"} 0
	`, metrics.ReservationsName)

	m.ObserveReservationDuration("granted", 4*time.Millisecond)
	m.ObserveReservationDuration("granted", 5*time.Millisecond)
	m.ObserveReservationDuration("error", 3*time.Second)
	fams := gather(t, reg)
	seen := map[string]bool{}
	for _, mt := range fams[metrics.ReservationDurationName].GetMetric() {
		result := mt.GetLabel()[0].GetValue()
		seen[result] = true
		h := mt.GetHistogram()
		cum := map[float64]uint64{}
		for _, b := range h.GetBucket() {
			cum[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		switch result {
		case "granted":
			// 4 ms and exactly 5 ms: the 5 ms bound (the target) holds both.
			if h.GetSampleCount() != 2 || cum[3e-3] != 0 || cum[5e-3] != 2 {
				t.Errorf("granted: count %d, cumulative buckets %v", h.GetSampleCount(), cum)
			}
		case "error":
			if h.GetSampleCount() != 1 || cum[2] != 0 {
				t.Errorf("error: count %d, cumulative buckets %v", h.GetSampleCount(), cum)
			}
		default:
			if h.GetSampleCount() != 0 {
				t.Errorf("%s: count %d", result, h.GetSampleCount())
			}
		}
	}
	for _, r := range metrics.ReservationResults {
		if !seen[r] {
			t.Errorf("no %s series before its first observation", r)
		}
	}
}
