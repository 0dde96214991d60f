package webhook_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ipamguard/ipamguard/pkg/webhook"
)

// testCA issues client certificates for the caller-verification tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// write stores the CA certificate as PEM at path.
func (ca *testCA) write(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue returns a client certificate for cn with the given extended usage.
func (ca *testCA) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsServer serves h over HTTPS on loopback with auth applied the way the
// webhook binary applies it, then opts. It returns the server and the
// readiness check Apply returned.
func tlsServer(t *testing.T, auth webhook.ClientAuth, h http.Handler, opts ...func(*tls.Config)) (*httptest.Server, healthz.Checker) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	// Refused handshakes are what these tests cause; keep them out of the
	// test output.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	o := ctrlwebhook.Options{Host: host}
	if o.Port, err = strconv.Atoi(port); err != nil {
		t.Fatal(err)
	}
	check, err := auth.Apply(&o)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	for _, opt := range append(o.TLSOpts, opts...) {
		opt(srv.TLS)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, check
}

// call POSTs body to path on srv with cert as client certificate (nil:
// none), over a fresh connection.
func call(t *testing.T, srv *httptest.Server, cert *tls.Certificate, path string, body []byte) (*http.Response, error) {
	t.Helper()
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Post(srv.URL+path, "application/json", bytes.NewReader(body))
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// TestClientAuth: with a client CA, only certificates that CA issued for
// client authentication, with an accepted common name, get a request
// through; everyone else is refused during the TLS handshake, before the
// handler sees anything.
func TestClientAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	ca := newTestCA(t, "webhook client CA")
	ca.write(t, caFile)
	other := newTestCA(t, "someone else's CA")

	var served atomic.Int32
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { served.Add(1) })
	srv, ready := tlsServer(t, webhook.ClientAuth{CAFile: caFile, CommonNames: []string{"kube-apiserver"}, Log: logr.Discard()}, ok)

	for _, tc := range []struct {
		name   string
		cert   *tls.Certificate
		refuse bool
	}{
		{"no client certificate", nil, true},
		{"issued by another CA", other.issue(t, "kube-apiserver", x509.ExtKeyUsageClientAuth), true},
		{"another common name", ca.issue(t, "system:node:n1", x509.ExtKeyUsageClientAuth), true},
		{"not for client authentication", ca.issue(t, "kube-apiserver", x509.ExtKeyUsageServerAuth), true},
		{"the API server's certificate", ca.issue(t, "kube-apiserver", x509.ExtKeyUsageClientAuth), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := served.Load()
			resp, err := call(t, srv, tc.cert, "/", nil)
			if !tc.refuse {
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted with status %d", resp.StatusCode)
			}
			if !strings.Contains(err.Error(), "tls:") {
				t.Errorf("refused with %v, want a TLS alert", err)
			}
			if served.Load() != before {
				t.Error("the handler was called")
			}
		})
	}

	t.Run("readiness check connects without being refused", func(t *testing.T) {
		if err := ready(&http.Request{}); err != nil {
			t.Errorf("readiness: %v", err)
		}
		// With TLS 1.3 a client's handshake ends before the server has
		// judged its certificate; with TLS 1.2 it waits for the verdict.
		tls12 := func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }
		_, ready12 := tlsServer(t, webhook.ClientAuth{CAFile: caFile, CommonNames: []string{"kube-apiserver"}}, ok, tls12)
		if err := ready12(&http.Request{}); err != nil {
			t.Errorf("readiness over TLS 1.2: %v", err)
		}
	})

	t.Run("a rotated CA file is read again; an unusable one keeps the last good CA", func(t *testing.T) {
		next := newTestCA(t, "rotated CA")
		next.write(t, caFile)
		// A distinct modification time, whatever the file system's
		// granularity.
		later := time.Now().Add(time.Minute)
		if err := os.Chtimes(caFile, later, later); err != nil {
			t.Fatal(err)
		}
		if _, err := call(t, srv, next.issue(t, "kube-apiserver", x509.ExtKeyUsageClientAuth), "/", nil); err != nil {
			t.Errorf("certificate of the new CA refused: %v", err)
		}
		if _, err := call(t, srv, ca.issue(t, "kube-apiserver", x509.ExtKeyUsageClientAuth), "/", nil); err == nil {
			t.Error("certificate of the replaced CA accepted")
		}
		if err := os.WriteFile(caFile, []byte("not a certificate"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(caFile, later.Add(time.Minute), later.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := call(t, srv, next.issue(t, "kube-apiserver", x509.ExtKeyUsageClientAuth), "/", nil); err != nil {
			t.Errorf("after an unusable CA file: %v", err)
		}
	})

	t.Run("no common names accepts any the CA issued", func(t *testing.T) {
		anyFile := filepath.Join(dir, "any.crt")
		ca.write(t, anyFile)
		srv, _ := tlsServer(t, webhook.ClientAuth{CAFile: anyFile}, ok)
		if _, err := call(t, srv, ca.issue(t, "anyone", x509.ExtKeyUsageClientAuth), "/", nil); err != nil {
			t.Errorf("refused: %v", err)
		}
		if _, err := call(t, srv, other.issue(t, "anyone", x509.ExtKeyUsageClientAuth), "/", nil); err == nil {
			t.Error("certificate of another CA accepted")
		}
	})
}

func TestClientAuthApply(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.crt")
	if err := os.WriteFile(garbage, []byte("-----BEGIN NOTHING-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, file string }{
		{"missing CA file", filepath.Join(dir, "missing.crt")},
		{"CA file without a certificate", garbage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o ctrlwebhook.Options
			if _, err := (webhook.ClientAuth{CAFile: tc.file}).Apply(&o); err == nil {
				t.Error("applied")
			}
		})
	}
	t.Run("without a CA file nothing changes", func(t *testing.T) {
		var o ctrlwebhook.Options
		check, err := webhook.ClientAuth{}.Apply(&o)
		if err != nil || check != nil || len(o.TLSOpts) != 0 {
			t.Errorf("check %v, err %v, %d TLS options", check != nil, err, len(o.TLSOpts))
		}
	})
}

// podAdmission is an AdmissionReview creating pod ns/name with a fixed
// address, as the API server sends it.
func podAdmission(t *testing.T, ns, name, addr string) []byte {
	t.Helper()
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"namespace": ns, "name": name, "annotations": map[string]string{ipKey: addr}},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "c", "image": "i"}}},
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("uid-" + ns + "-" + name),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: ns, Name: name, Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// admitted POSTs an AdmissionReview and reports the verdict.
func admitted(t *testing.T, srv *httptest.Server, cert *tls.Certificate, body []byte) (bool, string) {
	t.Helper()
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Post(srv.URL+webhook.PodPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("admission call: %v", err)
	}
	defer resp.Body.Close()
	var ar admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&ar); err != nil || ar.Response == nil {
		t.Fatalf("status %d, undecodable review: %v", resp.StatusCode, err)
	}
	msg := ""
	if ar.Response.Result != nil {
		msg = ar.Response.Result.Message
	}
	return ar.Response.Allowed, msg
}

// TestDirectCallsLeaveNothingBehind: a caller that is not the API server
// cannot reserve an address for a pod that does not exist. With callers
// verified it is refused during the TLS handshake; without, it is judged
// but reserves nothing, so the real pod that asks for the address next is
// admitted. The production wiring (HandlersByPath, HTTPHandlers) serves.
func TestDirectCallsLeaveNothingBehind(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	ca := newTestCA(t, "webhook client CA")
	ca.write(t, caFile)
	apiServer := ca.issue(t, "kube-apiserver", x509.ExtKeyUsageClientAuth)

	serve := func(t *testing.T, auth webhook.ClientAuth) *httptest.Server {
		d := mutateDeps(t, true, "")
		d.Store.UpsertNamespace(&metav1.ObjectMeta{Name: "kube-system"})
		d.CallersVerified = auth.Enabled()
		mux := http.NewServeMux()
		for path, h := range webhook.HTTPHandlers(webhook.HandlersByPath(d), logr.Discard()) {
			mux.Handle(path, h)
		}
		srv, _ := tlsServer(t, auth, mux)
		return srv
	}
	ghost := podAdmission(t, "kube-system", "ghost", "10.16.0.50")
	real := podAdmission(t, "apps", "web", "10.16.0.50")

	t.Run("callers verified: the direct call is refused at TLS", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, webhook.ClientAuth{CAFile: caFile, CommonNames: []string{"kube-apiserver"}})
		if _, err := call(t, srv, nil, webhook.PodPath, ghost); err == nil || !strings.Contains(err.Error(), "tls:") {
			t.Fatalf("direct call without a client certificate: %v, want a TLS refusal", err)
		}
		if ok, msg := admitted(t, srv, apiServer, real); !ok {
			t.Errorf("the real pod was denied: %s", msg)
		}
		// The API server's own calls do reserve: a second pod for the
		// address, a moment later, is refused.
		if ok, _ := admitted(t, srv, apiServer, podAdmission(t, "apps", "web-2", "10.16.0.50")); ok {
			t.Error("a second pod with the address was admitted: verified callers get no reservations")
		}
	})

	t.Run("callers not verified: the direct call reserves nothing", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, webhook.ClientAuth{})
		if ok, msg := admitted(t, srv, nil, ghost); !ok {
			t.Fatalf("ghost pod denied: %s", msg)
		}
		if ok, msg := admitted(t, srv, nil, real); !ok {
			t.Errorf("the real pod was denied after a direct call: %s", msg)
		}
	})
}
