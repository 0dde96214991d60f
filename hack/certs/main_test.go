package main

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipamguard/ipamguard/internal/selfcert"
)

func TestWritesVerifiableCertificates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	if err := run([]string{"-out", dir, "-namespace", "ns", "-extra-sans", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	read := func(f string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, k := range []string{"ca.key", "tls.key"} {
		if fi, _ := os.Stat(filepath.Join(dir, k)); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", k, fi.Mode().Perm())
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(read("ca.crt"))
	leaf, err := selfcert.ParseCerts(read("tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"ipamguard-webhook-service.ns.svc", "ipamguard-webhook-service.ns.svc.cluster.local", "127.0.0.1"} {
		if _, err := leaf[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if _, err := selfcert.ParseKey(read("tls.key")); err != nil {
		t.Error(err)
	}
	err = run([]string{"-out", dir})
	if err == nil || !strings.Contains(err.Error(), "-force") {
		t.Errorf("second run without -force: %v, want a refusal", err)
	}
	if err := run([]string{"-out", dir, "-force"}); err != nil {
		t.Errorf("-force: %v", err)
	}
	if err := run([]string{"-out", t.TempDir(), "-cert-validity", "1m"}); err == nil || !strings.Contains(err.Error(), "--cert-validity 1m0s") {
		t.Errorf("-cert-validity 1m: %v", err)
	}
}
