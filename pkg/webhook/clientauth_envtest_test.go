package webhook_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/webhook"
)

// TestDirectCallOnRealAPIServer: the suite's webhook verifies its callers
// as a cluster's should (the API server presents devenv's client
// certificate, which every envtest here relies on). A direct HTTPS call
// without a client certificate is refused during the TLS handshake, so the
// address it asked for is free for the real pod that asks next.
func TestDirectCallOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	if err := s.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "direct"}}); err != nil {
		t.Fatal(err)
	}
	devenvtest.Eventually(t, "namespace direct in the inventory", waitTimeout, func() error {
		var known bool
		s.h.Store.Read(func(r inventory.Reader) { _, known = r.Namespace("direct") })
		if !known {
			return errors.New("not seen yet")
		}
		return nil
	})

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.env.WebhookCAData) {
		t.Fatal("no serving CA")
	}
	hc := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, DisableKeepAlives: true},
		Timeout:   10 * time.Second,
	}
	url := "https://" + net.JoinHostPort(s.env.WebhookHost, strconv.Itoa(s.env.WebhookPort)) + webhook.PodPath
	resp, err := hc.Post(url, "application/json", bytes.NewReader(podAdmission(t, "kube-system", "ghost", "10.16.0.60")))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("direct call without a client certificate answered with status %d", resp.StatusCode)
	}
	if !strings.Contains(err.Error(), "tls:") {
		t.Errorf("direct call refused with %v, want a TLS alert", err)
	}

	if err := s.c.Create(ctx, newPod("direct", "web", map[string]string{ipKey: "10.16.0.60"})); err != nil {
		t.Errorf("the real pod was refused after a direct call: %v", err)
	}
}
