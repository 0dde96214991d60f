package webhook

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
)

// DefaultClientCommonName is the common name the API server's client
// certificate is expected to carry unless told otherwise, as Gatekeeper's
// --client-cn-name expects.
const DefaultClientCommonName = "kube-apiserver"

// ClientAuth says who may call the webhook: only a caller presenting a
// client certificate issued by the CA in CAFile, for client
// authentication, whose subject common name is one of CommonNames. The API
// server presents one when its admission configuration names it
// (docs/operations.md). Anyone else is refused during the TLS handshake,
// before a request is read.
//
// The CA file is read at start and again whenever it changes (a mounted
// Secret being rotated); a file that no longer parses is logged and the
// last good CA stays in force.
type ClientAuth struct {
	// CAFile holds the PEM CA certificates that issue callers'
	// certificates; empty verifies no one.
	CAFile string
	// CommonNames are the subject common names accepted; none accepts any
	// certificate the CA issued (only right for a CA that issues nothing
	// but the API server's certificate).
	CommonNames []string
	// Log receives CA reloads and their failures.
	Log logr.Logger
}

// Enabled reports whether callers are verified.
func (a ClientAuth) Enabled() bool { return a.CAFile != "" }

// Apply makes the webhook server o require and verify callers'
// certificates; without a CAFile it changes nothing and returns a nil
// check. It fails when the CA file cannot be read or holds no
// certificate, so a misconfigured webhook does not start serving anyone.
//
// The check it returns replaces the server's StartedChecker as readiness
// check: that one connects without a client certificate, which would now
// be refused, and logged, at every probe. This one presents a certificate
// made for the purpose, whose key never leaves this process.
func (a ClientAuth) Apply(o *ctrlwebhook.Options) (healthz.Checker, error) {
	if !a.Enabled() {
		return nil, nil
	}
	probe, err := selfProbeCertificate()
	if err != nil {
		return nil, err
	}
	v := &callerVerifier{ca: &caFile{path: a.CAFile, log: a.Log}, names: slices.Clone(a.CommonNames), probe: probe.Certificate[0]}
	if _, err := v.ca.pool(); err != nil {
		return nil, err
	}
	o.TLSOpts = append(o.TLSOpts, func(c *tls.Config) {
		// Go's own verification checks against a CA pool fixed when the
		// listener starts; VerifyPeerCertificate, which does the same
		// checks, reads the CA as it is now. No ClientCAs are advertised:
		// clients then send their certificate whatever CA issued it.
		c.ClientAuth = tls.RequireAnyClientCert
		c.VerifyPeerCertificate = v.verify
		// A resumed session skips VerifyPeerCertificate: without tickets
		// every connection presents its certificate again, so a rotated
		// CA or a changed --client-cn applies to every caller at once.
		c.SessionTicketsDisabled = true
	})
	addr := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	cfg := &tls.Config{
		// Only whether the server completes a handshake matters here.
		InsecureSkipVerify: true, //nolint:gosec // a probe of our own listener, no data exchanged
		Certificates:       []tls.Certificate{probe},
		MinVersion:         tls.VersionTLS12,
	}
	return func(*http.Request) error {
		d := &net.Dialer{Timeout: probeTimeout}
		conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
		if err != nil {
			return fmt.Errorf("webhook server is not reachable: %w", err)
		}
		return conn.Close()
	}, nil
}

// probeTimeout bounds one readiness probe of the webhook server.
const probeTimeout = 5 * time.Second

// selfProbeCertificate returns a fresh self-signed client certificate for
// the readiness probe. Its key lives only in this process's memory, and
// the verifier accepts exactly this certificate besides the CA's.
func selfProbeCertificate() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("readiness probe key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("readiness probe serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "ipamguard readiness probe"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(100, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("readiness probe certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// callerVerifier checks a caller's certificate chain.
type callerVerifier struct {
	ca    *caFile
	names []string
	// probe is the DER of the readiness probe's certificate: TLS has
	// proved the peer holds its key, which only this process has.
	probe []byte
}

// verify is a tls.Config VerifyPeerCertificate: the leaf must chain to the
// CA (intermediates taken from the peer), be valid now, allow client
// authentication, and carry an accepted common name.
func (v *callerVerifier) verify(raw [][]byte, _ [][]*x509.Certificate) error {
	if len(raw) == 0 {
		return errors.New("no client certificate; only the API server may call this webhook")
	}
	if len(raw) == 1 && bytes.Equal(raw[0], v.probe) {
		return nil
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return fmt.Errorf("client certificate: %w", err)
		}
		certs[i] = c
	}
	roots, err := v.ca.pool()
	if err != nil {
		return err
	}
	opts := x509.VerifyOptions{
		Roots:         roots,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	leaf := certs[0]
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("client certificate %q: %w", leaf.Subject.CommonName, err)
	}
	if len(v.names) > 0 && !slices.Contains(v.names, leaf.Subject.CommonName) {
		return fmt.Errorf("client certificate %q: common name not accepted (want one of %q)", leaf.Subject.CommonName, v.names)
	}
	return nil
}

// caFile is a PEM CA file, re-read when its size or modification time
// changes (kubelet swaps a mounted Secret's files when it is updated).
type caFile struct {
	path string
	log  logr.Logger

	mu      sync.Mutex
	size    int64
	modTime time.Time
	roots   *x509.CertPool
}

// pool returns the CA certificates in force: the file's, or the last good
// ones when the file has changed into something unreadable.
func (f *caFile) pool() (*x509.CertPool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err == nil && f.roots != nil && fi.Size() == f.size && fi.ModTime().Equal(f.modTime) {
		return f.roots, nil
	}
	var roots *x509.CertPool
	if err == nil {
		roots, err = readCAs(f.path)
	}
	switch {
	case err == nil:
		if f.roots != nil {
			f.log.Info("client CA file changed; reloaded", "file", f.path)
		}
		f.roots, f.size, f.modTime = roots, fi.Size(), fi.ModTime()
	case f.roots == nil:
		return nil, fmt.Errorf("client CA: %w", err)
	default:
		// Remember the broken version so it is not re-read on every
		// handshake; the next change is read again.
		if fi != nil {
			f.size, f.modTime = fi.Size(), fi.ModTime()
		}
		f.log.Error(err, "client CA file unusable; the previous CA stays in force", "file", f.path)
	}
	return f.roots, nil
}

// readCAs parses every PEM certificate in path.
func readCAs(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return roots, nil
}
