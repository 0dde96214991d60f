package selfcert

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Default lifetimes and overlap.
const (
	// DefaultCAValidity is the CA's lifetime: ten years, rotated (with an
	// overlap) when a third is left.
	DefaultCAValidity = 10 * 365 * 24 * time.Hour
	// DefaultServingValidity is the serving certificate's lifetime: one
	// year, renewed when a third is left.
	DefaultServingValidity = 365 * 24 * time.Hour
	// DefaultOverlap is how long a new CA is trusted (in every caBundle)
	// before a certificate it signed is served, and how long the CA it
	// replaced stays trusted after that: the time the API servers take to
	// see a changed caBundle and the replicas to load a new Secret.
	DefaultOverlap = time.Minute
)

// Policy is how long certificates live and overlap.
type Policy struct {
	CAValidity      time.Duration
	ServingValidity time.Duration
	Overlap         time.Duration
	// CommonName of the CA; default "ipamguard-webhook-ca".
	CommonName string
}

// DefaultPolicy returns the default lifetimes.
func DefaultPolicy() Policy {
	return Policy{CAValidity: DefaultCAValidity, ServingValidity: DefaultServingValidity, Overlap: DefaultOverlap}
}

// Bounds of the flags.
const (
	MinValidity = 10 * time.Minute
	MaxValidity = 20 * 365 * 24 * time.Hour
	MinOverlap  = 5 * time.Second
	MaxOverlap  = time.Hour
)

// Validate checks p against the bounds the flags allow, naming the flags.
func (p Policy) Validate() error {
	var errs []error
	if p.CAValidity < MinValidity || p.CAValidity > MaxValidity {
		errs = append(errs, fmt.Errorf("--cert-ca-validity %s: must be between %s and %s", p.CAValidity, MinValidity, MaxValidity))
	}
	servingOK := p.ServingValidity >= MinValidity && p.ServingValidity <= p.CAValidity
	if !servingOK {
		errs = append(errs, fmt.Errorf("--cert-validity %s: must be between %s and --cert-ca-validity (%s)", p.ServingValidity, MinValidity, p.CAValidity))
	}
	if p.Overlap < MinOverlap || p.Overlap > MaxOverlap {
		errs = append(errs, fmt.Errorf("--cert-overlap %s: must be between %s and %s", p.Overlap, MinOverlap, MaxOverlap))
	} else if servingOK && p.Overlap > p.ServingValidity/3 {
		errs = append(errs, fmt.Errorf("--cert-overlap %s: must be at most a third of --cert-validity (%s)", p.Overlap, p.ServingValidity))
	}
	return errors.Join(errs...)
}

func (p Policy) commonName() string {
	if p.CommonName != "" {
		return p.CommonName
	}
	return "ipamguard-webhook-ca"
}

// Plan is what the Secret should become.
type Plan struct {
	// Data is the Secret's new data; nil when it is right as it is.
	Data map[string][]byte
	// Reasons say why Data changed, for logs.
	Reasons []string
	// NewCA and NewServing say what was made.
	NewCA, NewServing bool
	// Next is when to plan again at the latest (a renewal, the end of an
	// overlap).
	Next time.Time
}

// Plan decides what the Secret with data should hold at now for a serving
// certificate with names. trusted are CA certificates callers may trust
// today besides the Secret's (those in the webhook configurations'
// caBundle): when the Secret is lost and a new CA is made, they stay in
// ca.crt for the overlap, so replicas still serving the old certificate are
// not refused.
//
// The steps, one per call (the caller writes the Secret, puts ca.crt into
// the caBundle and calls again):
//   - no usable CA (missing, corrupt, key not matching, expired): a new CA
//     and a serving certificate from it; still-valid trusted CAs are kept;
//   - the CA has a third of its life left: a new CA is added in front of
//     ca.crt; the serving certificate stays until the new CA has been
//     trusted for the overlap, then one from the new CA is issued;
//   - the serving certificate is missing, corrupt, for other names, not
//     from a trusted CA or has a third of its life left: a new one;
//   - the serving certificate has been from the current CA for the overlap:
//     the other CAs leave ca.crt (expired ones leave at once).
func (p Policy) Plan(now time.Time, data map[string][]byte, names Names, trusted []*x509.Certificate) (Plan, error) {
	var pl Plan
	bundle, bundleErr := ParseCerts(data[CACertKey])
	ca, caProblem := currentCA(now, data, bundle, bundleErr)
	if caProblem != "" {
		newCA, err := NewCA(now, p.CAValidity, p.commonName())
		if err != nil {
			return pl, err
		}
		keep := validCAs(now, append(slices.Clone(bundle), trusted...))
		return p.issue(now, &pl, newCA, append([]*x509.Certificate{newCA.Cert}, keep...), names, true, "CA: "+caProblem)
	}
	bundle = validCAs(now, bundle)
	// The current CA first.
	bundle = append([]*x509.Certificate{ca.Cert}, slices.DeleteFunc(bundle, func(c *x509.Certificate) bool { return c.Equal(ca.Cert) })...)

	serving, servingProblem, fromOldCA := checkServing(now, data, names, ca, bundle)
	if !now.Before(renewAt(ca.Cert)) {
		// A serving certificate merely due is kept (it is still valid)
		// until the new CA has been trusted for the overlap.
		newCA, err := NewCA(now, p.CAValidity, p.commonName())
		if err != nil {
			return pl, err
		}
		bundle = append([]*x509.Certificate{newCA.Cert}, bundle...)
		if servingProblem == "" {
			// Keep serving what every caller trusts; the next steps issue
			// from the new CA once it has been trusted for the overlap.
			pl.Data = secretData(newCA, bundle, data[CertKey], data[KeyKey])
			pl.NewCA = true
			pl.Reasons = append(pl.Reasons, fmt.Sprintf("CA expires %s: new CA added", ca.Cert.NotAfter.UTC().Format(time.RFC3339)))
			pl.Next = now.Add(p.Overlap)
			return pl, pl.encodeErr()
		}
		return p.issue(now, &pl, newCA, bundle, names, true, "CA renewal; serving certificate: "+servingProblem)
	}
	switch {
	case servingProblem == "" && !fromOldCA && !now.Before(renewAt(serving)):
		return p.issue(now, &pl, ca, bundle, names, false, "serving certificate: expires "+serving.NotAfter.UTC().Format(time.RFC3339))
	case servingProblem == "" && fromOldCA:
		if trustedAt := issuedAt(ca.Cert).Add(p.Overlap); now.Before(trustedAt) {
			pl.Next = trustedAt
			return pl, nil
		}
		return p.issue(now, &pl, ca, bundle, names, false, "serving certificate is from the previous CA")
	case servingProblem != "":
		return p.issue(now, &pl, ca, bundle, names, false, "serving certificate: "+servingProblem)
	}
	pl.Next = earliest(renewAt(ca.Cert), renewAt(serving))
	old, _ := ParseCerts(data[CACertKey])
	retire := len(bundle) > 1 && !now.Before(issuedAt(serving).Add(p.Overlap))
	if retire {
		bundle = bundle[:1]
	} else if len(bundle) > 1 {
		pl.Next = earliest(pl.Next, issuedAt(serving).Add(p.Overlap))
	}
	if !slices.EqualFunc(old, bundle, (*x509.Certificate).Equal) {
		pl.Data = cloneData(data)
		pl.Data[CACertKey] = EncodeCerts(bundle)
		pl.Reasons = append(pl.Reasons, "trusted CAs: previous or expired CAs removed")
	}
	return pl, nil
}

// issue fills pl with a new serving certificate from ca.
func (p Policy) issue(now time.Time, pl *Plan, ca Pair, bundle []*x509.Certificate, names Names, newCA bool, reason string) (Plan, error) {
	s, err := IssueServing(now, p.ServingValidity, ca, names)
	if err != nil {
		return *pl, err
	}
	key, err := s.KeyPEM()
	if err != nil {
		return *pl, err
	}
	pl.Data = secretData(ca, bundle, s.CertPEM(), key)
	pl.NewCA, pl.NewServing = newCA, true
	pl.Reasons = append(pl.Reasons, reason)
	pl.Next = earliest(renewAt(s.Cert), renewAt(ca.Cert))
	if len(bundle) > 1 {
		pl.Next = earliest(pl.Next, now.Add(p.Overlap))
	}
	return *pl, pl.encodeErr()
}

// encodeErr reports a CA key that could not be encoded.
func (pl *Plan) encodeErr() error {
	if pl.Data != nil && pl.Data[CAKeyKey] == nil {
		return errors.New("encode CA key")
	}
	return nil
}

func secretData(ca Pair, bundle []*x509.Certificate, cert, key []byte) map[string][]byte {
	caKey, err := ca.KeyPEM()
	if err != nil {
		caKey = nil
	}
	return map[string][]byte{
		CACertKey: EncodeCerts(bundle),
		CAKeyKey:  caKey,
		CertKey:   bytes.Clone(cert),
		KeyKey:    bytes.Clone(key),
	}
}

// currentCA returns the CA whose key is ca.key, or what is wrong.
func currentCA(now time.Time, data map[string][]byte, bundle []*x509.Certificate, bundleErr error) (Pair, string) {
	if len(data) == 0 {
		return Pair{}, "the Secret is missing or empty"
	}
	if bundleErr != nil {
		return Pair{}, CACertKey + ": " + bundleErr.Error()
	}
	key, err := ParseKey(data[CAKeyKey])
	if err != nil {
		return Pair{}, CAKeyKey + ": " + err.Error()
	}
	for _, c := range bundle {
		if c.IsCA && matches(c, key) {
			if !now.Before(c.NotAfter) {
				return Pair{}, "expired " + c.NotAfter.UTC().Format(time.RFC3339)
			}
			return Pair{Cert: c, Key: key}, ""
		}
	}
	return Pair{}, "no CA certificate in " + CACertKey + " matches " + CAKeyKey
}

// checkServing returns the serving certificate and what is wrong with it;
// fromOldCA is true when it is fine but signed by a CA of bundle other than
// ca.
func checkServing(now time.Time, data map[string][]byte, names Names, ca Pair, bundle []*x509.Certificate) (*x509.Certificate, string, bool) {
	certs, err := ParseCerts(data[CertKey])
	if err != nil {
		return nil, CertKey + ": " + err.Error(), false
	}
	key, err := ParseKey(data[KeyKey])
	if err != nil {
		return nil, KeyKey + ": " + err.Error(), false
	}
	c := certs[0]
	switch {
	case !matches(c, key):
		return nil, KeyKey + " does not match " + CertKey, false
	case !now.Before(c.NotAfter):
		return nil, "expired " + c.NotAfter.UTC().Format(time.RFC3339), false
	case !names.equal(c):
		return nil, fmt.Sprintf("names %s, want %s", Names{DNS: c.DNSNames, IPs: c.IPAddresses}.normal(), names.normal()), false
	}
	if c.CheckSignatureFrom(ca.Cert) == nil {
		return c, "", false
	}
	for _, o := range bundle {
		if c.CheckSignatureFrom(o) == nil {
			return c, "", true
		}
	}
	return nil, "not signed by a CA in " + CACertKey, false
}

// validCAs returns the unexpired CA certificates of certs, without
// duplicates, in order.
func validCAs(now time.Time, certs []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		if c.IsCA && now.Before(c.NotAfter) && !slices.ContainsFunc(out, c.Equal) {
			out = append(out, c)
		}
	}
	return out
}

func cloneData(d map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(d))
	for k, v := range d {
		out[k] = bytes.Clone(v)
	}
	return out
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
