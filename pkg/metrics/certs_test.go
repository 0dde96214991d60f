package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/ipamguard/ipamguard/pkg/metrics"
)

func TestCertMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	c, err := metrics.NewCertMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetExpiry("serving", time.Unix(1800000000, 0))
	c.SetExpiry("ca", time.Unix(2000000000, 0))
	c.ObserveRotation("serving")
	c.ObserveRotation("serving")
	got := exposition(t, reg, metrics.CertExpiryName, metrics.CertRotationsName)
	want := `ipamguard_cert_expiry_timestamp_seconds{cert="ca"} 2e+09
ipamguard_cert_expiry_timestamp_seconds{cert="serving"} 1.8e+09
ipamguard_cert_rotations_total{cert="ca"} 0
ipamguard_cert_rotations_total{cert="serving"} 2
`
	if got != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", got, want)
	}
	var mfs []*dto.MetricFamily
	for _, mf := range gather(t, reg) {
		mfs = append(mfs, mf)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if _, err := metrics.NewCertMetrics(reg); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("second registration: %v", err)
	}
	var none *metrics.CertMetrics
	none.SetExpiry("serving", time.Now())
	none.ObserveRotation("ca")
}
