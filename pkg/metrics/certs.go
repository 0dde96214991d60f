package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Names of the self-managed certificate metrics (--cert-mode=self-managed).
const (
	CertExpiryName    = Namespace + "_cert_expiry_timestamp_seconds"
	CertRotationsName = Namespace + "_cert_rotations_total"
)

// CertKinds are the cert label values: the serving certificate this
// replica serves and the CA that signs new ones.
var CertKinds = []string{"serving", "ca"}

// CertMetrics are the self-managed certificates' metrics, registered only
// in that mode (a separate collector: a webhook using --cert-dir exports
// none of them).
type CertMetrics struct {
	expiry    *prometheus.GaugeVec
	rotations *prometheus.CounterVec
}

// NewCertMetrics creates the certificate metrics and, when reg is not
// nil, registers them on reg.
func NewCertMetrics(reg prometheus.Registerer) (*CertMetrics, error) {
	c := &CertMetrics{
		expiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: CertExpiryName,
			Help: "Unix time the certificate expires, by cert: serving (the one this replica serves, loaded from the Secret) and ca (the CA that signs new ones).",
		}, []string{"cert"}),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: CertRotationsName,
			Help: "Certificates the leader made and wrote to the Secret, by cert (serving, ca); first issue included.",
		}, []string{"cert"}),
	}
	for _, k := range CertKinds {
		c.rotations.WithLabelValues(k)
	}
	if reg != nil {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// SetExpiry records when cert (one of CertKinds) expires.
func (c *CertMetrics) SetExpiry(cert string, notAfter time.Time) {
	if c == nil {
		return
	}
	c.expiry.WithLabelValues(cert).Set(float64(notAfter.Unix()))
}

// ObserveRotation counts one certificate made.
func (c *CertMetrics) ObserveRotation(cert string) {
	if c == nil {
		return
	}
	c.rotations.WithLabelValues(cert).Inc()
}

// Describe implements prometheus.Collector.
func (c *CertMetrics) Describe(ch chan<- *prometheus.Desc) {
	c.expiry.Describe(ch)
	c.rotations.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *CertMetrics) Collect(ch chan<- prometheus.Metric) {
	c.expiry.Collect(ch)
	c.rotations.Collect(ch)
}
