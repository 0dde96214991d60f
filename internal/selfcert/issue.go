// Package selfcert lets the webhook manage its own serving certificate
// without cert-manager, the pattern Gatekeeper and Kyverno use: the leader
// replica keeps a CA and a serving certificate for the Service's DNS names
// in one Secret, puts the CA into the caBundle of the webhook's own
// configurations and rotates both before they expire; every replica reads
// the Secret and serves its certificate from memory (GetCertificate), so a
// rotation needs no restart and no file.
//
// The Secret holds tls.crt and tls.key (the serving certificate and key),
// ca.crt (every CA the callers must trust: the current one first, then the
// one it replaced while the two overlap) and ca.key (the current CA's key).
// The CA key lives in that Secret because whichever replica leads next must
// be able to sign the next serving certificate, and every replica runs as
// the same ServiceAccount: a second Secret would protect nothing (the
// layout of Gatekeeper's cert-controller).
//
// Keys are ECDSA P-256, certificates are made with crypto/x509.
package selfcert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"
)

// Keys of the Secret's data.
const (
	CertKey   = "tls.crt"
	KeyKey    = "tls.key"
	CACertKey = "ca.crt"
	CAKeyKey  = "ca.key"
)

// backdate is how far before its issue a certificate's NotBefore lies, for
// callers whose clock runs behind. Issue times are read back from
// NotBefore with it added.
const backdate = time.Minute

// Names are the subject alternative names of the serving certificate.
type Names struct {
	DNS []string
	IPs []net.IP
}

// ServiceNames returns the names the API server uses to call service in
// namespace (<service>.<namespace>.svc and its cluster.local form), plus
// extra: IP addresses become IP SANs, anything else a DNS SAN. Duplicates
// are dropped; the order is sorted.
func ServiceNames(service, namespace string, extra []string) Names {
	var n Names
	if service != "" && namespace != "" {
		n.DNS = append(n.DNS, service+"."+namespace+".svc", service+"."+namespace+".svc.cluster.local")
	}
	for _, e := range extra {
		if ip := net.ParseIP(e); ip != nil {
			n.IPs = append(n.IPs, ip)
		} else if e != "" {
			n.DNS = append(n.DNS, e)
		}
	}
	return n.normal()
}

// normal sorts and deduplicates n.
func (n Names) normal() Names {
	dns := slices.Clone(n.DNS)
	slices.Sort(dns)
	dns = slices.Compact(dns)
	ips := make([]string, 0, len(n.IPs))
	for _, ip := range n.IPs {
		ips = append(ips, ip.String())
	}
	slices.Sort(ips)
	ips = slices.Compact(ips)
	out := Names{DNS: dns}
	for _, s := range ips {
		out.IPs = append(out.IPs, net.ParseIP(s))
	}
	return out
}

// String lists the names, for logs and errors.
func (n Names) String() string {
	s := slices.Clone(n.DNS)
	for _, ip := range n.IPs {
		s = append(s, ip.String())
	}
	return strings.Join(s, ",")
}

// equal reports whether cert carries exactly the names n.
func (n Names) equal(cert *x509.Certificate) bool {
	have := Names{DNS: cert.DNSNames, IPs: cert.IPAddresses}.normal()
	want := n.normal()
	return slices.Equal(have.DNS, want.DNS) && slices.EqualFunc(have.IPs, want.IPs, net.IP.Equal)
}

// Pair is a certificate with its key.
type Pair struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// CertPEM encodes the certificate.
func (p Pair) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Cert.Raw})
}

// KeyPEM encodes the key as PKCS #8.
func (p Pair) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(p.Key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// NewCA makes a self-signed CA valid from now for validity.
func NewCA(now time.Time, validity time.Duration, commonName string) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return Pair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// The serial in the name tells successive CAs apart in tools that
		// show subjects only.
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s %x", commonName, serial.Bytes()[:4])},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return Pair{}, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, fmt.Errorf("parse CA certificate: %w", err)
	}
	return Pair{Cert: cert, Key: key}, nil
}

// IssueServing makes a serving certificate for names signed by ca, valid
// from now for validity but never beyond the CA.
func IssueServing(now time.Time, validity time.Duration, ca Pair, names Names) (Pair, error) {
	if len(names.DNS) == 0 && len(names.IPs) == 0 {
		return Pair{}, errors.New("serving certificate: no names")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("serving key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return Pair{}, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	cn := "ipamguard-webhook"
	if len(names.DNS) > 0 {
		cn = names.DNS[0]
	}
	n := names.normal()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     n.DNS,
		IPAddresses:  n.IPs,
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return Pair{}, fmt.Errorf("create serving certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, fmt.Errorf("parse serving certificate: %w", err)
	}
	return Pair{Cert: cert, Key: key}, nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	// At least four bytes, for the CA's name.
	return s.SetBit(s, 126, 1), nil
}

// ParseCerts reads every CERTIFICATE block of data.
func ParseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

// ParseKey reads the first private key (PKCS #8, EC or PKCS #1) of data.
func ParseKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM private key")
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", strings.ToLower(b.Type), err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("private key of type %T cannot sign", k)
		}
		return s, nil
	}
}

// matches reports whether key is the private key of cert.
func matches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// EncodeCerts PEM-encodes certs in order.
func EncodeCerts(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// issuedAt is when a certificate this package made was issued, at the
// latest (certificate times are whole seconds).
func issuedAt(c *x509.Certificate) time.Time { return c.NotBefore.Add(backdate + time.Second) }

// renewAt is when a certificate has a third of its lifetime left.
func renewAt(c *x509.Certificate) time.Time {
	life := c.NotAfter.Sub(issuedAt(c))
	return c.NotAfter.Add(-life / 3)
}
