package selfcert

import (
	"bytes"
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func newFakeManager(t *testing.T, now *time.Time) (*Manager, *fake.Clientset) {
	t.Helper()
	hook := func(name string) admissionv1.WebhookClientConfig {
		return admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Name: "svc", Namespace: "ns"}}
	}
	cs := fake.NewClientset(
		&admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "v"},
			Webhooks: []admissionv1.ValidatingWebhook{{Name: "a.x", ClientConfig: hook("a")}, {Name: "b.x", ClientConfig: hook("b")}}},
		&admissionv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "m"},
			Webhooks: []admissionv1.MutatingWebhook{{Name: "c.x", ClientConfig: hook("c")}}},
	)
	m, err := New(Options{Client: cs, Namespace: "ns", SecretName: "cert", Names: ServiceNames("svc", "ns", nil),
		ValidatingWebhooks: []string{"v"}, MutatingWebhooks: []string{"m"}, Policy: short, Settle: time.Millisecond,
		Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return m, cs
}

// bundles returns the caBundle of every webhook.
func bundles(t *testing.T, cs *fake.Clientset) [][]byte {
	t.Helper()
	ctx := context.Background()
	v, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "v", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mu, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "m", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, w := range v.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	for _, w := range mu.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	return out
}

func TestReconcileWritesSecretAndCABundles(t *testing.T) {
	now := time.Now()
	m, cs := newFakeManager(t, &now)
	ctx := context.Background()
	if err := m.ReadyCheck(nil); err == nil {
		t.Error("ready before any certificate")
	}
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{}); err == nil || !strings.Contains(err.Error(), "ns/cert") {
		t.Errorf("GetCertificate before the Secret: %v", err)
	}
	next, err := m.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := next.Sub(now); d <= 0 || d > short.ServingValidity {
		t.Errorf("next in %s", d)
	}
	sec, err := cs.CoreV1().Secrets("ns").Get(ctx, "cert", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type %s", sec.Type)
	}
	for i, b := range bundles(t, cs) {
		if !bytes.Equal(b, sec.Data[CACertKey]) {
			t.Errorf("webhook %d: caBundle is not the Secret's ca.crt", i)
		}
	}
	m.load(sec, false)
	if err := m.ReadyCheck(nil); err != nil {
		t.Errorf("not ready with a certificate: %v", err)
	}
	if got, _ := m.GetCertificate(nil); got == nil || !bytes.Equal(got.Certificate[0], m.Serving().Raw) {
		t.Error("GetCertificate does not serve the loaded certificate")
	}

	// Someone wipes a caBundle: the next step puts it back, and leaves
	// the Secret alone.
	v, _ := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "v", metav1.GetOptions{})
	v.Webhooks[1].ClientConfig.CABundle = nil
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := cs.CoreV1().Secrets("ns").Get(ctx, "cert", metav1.GetOptions{})
	if !bytes.Equal(after.Data[CertKey], sec.Data[CertKey]) {
		t.Error("the Secret was rewritten")
	}
	for i, b := range bundles(t, cs) {
		if !bytes.Equal(b, sec.Data[CACertKey]) {
			t.Errorf("webhook %d: caBundle not restored", i)
		}
	}

	// A corrupt Secret is not loaded: the last good certificate stays.
	bad := after.DeepCopy()
	bad.Data[CertKey] = []byte("garbage")
	m.load(bad, false)
	if err := m.ReadyCheck(nil); err != nil {
		t.Errorf("a corrupt Secret made the replica unready: %v", err)
	}
	// Expiry of the loaded certificate makes the replica unready.
	now = now.Add(short.ServingValidity + time.Minute)
	if err := m.ReadyCheck(nil); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("ready with an expired certificate: %v", err)
	}
}

func TestReconcileMissingConfiguration(t *testing.T) {
	now := time.Now()
	m, cs := newFakeManager(t, &now)
	if err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), "m", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Reconcile(context.Background()); err == nil || !strings.Contains(err.Error(), "MutatingWebhookConfiguration m") {
		t.Errorf("missing configuration: %v", err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	_, err := New(Options{SecretName: "Bad_Name"})
	for _, want := range []string{"no API client", "no namespace", `--cert-secret "Bad_Name"`, "no names", "no webhook configuration"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// TestPollLoadsWithoutWatch: a replica whose watch delivers nothing still
// serves the Secret's certificate, and the next one after a rotation,
// through its periodic read.
func TestPollLoadsWithoutWatch(t *testing.T) {
	now := time.Now()
	m, cs := newFakeManager(t, &now)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	go m.poll(ctx, 10*time.Millisecond)
	waitServing := func(not string) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if c := m.Serving(); c != nil && c.SerialNumber.String() != not {
				return c.SerialNumber.String()
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("no serving certificate other than %q loaded by polling", not)
		return ""
	}
	first := waitServing("")
	// The Secret is lost; the leader writes a new one.
	if err := cs.CoreV1().Secrets("ns").Delete(ctx, "cert", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	sec, err := cs.CoreV1().Secrets("ns").Get(ctx, "cert", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ParseCerts(sec.Data[CertKey])
	if err != nil {
		t.Fatal(err)
	}
	if got := waitServing(first); got != certs[0].SerialNumber.String() {
		t.Errorf("serving serial %s, want the Secret's %s", got, certs[0].SerialNumber)
	}
}

// TestPolledOlderCertificateDoesNotReplace: the periodic read may return
// the Secret as it was just before the watch delivered its successor; the
// older certificate it read does not replace the newer one served.
func TestPolledOlderCertificateDoesNotReplace(t *testing.T) {
	now := time.Now()
	m, cs := newFakeManager(t, &now)
	ctx := context.Background()
	read := func() *corev1.Secret {
		t.Helper()
		if _, err := m.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		sec, err := cs.CoreV1().Secrets("ns").Get(ctx, "cert", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return sec
	}
	older := read()
	if err := cs.CoreV1().Secrets("ns").Delete(ctx, "cert", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute) // the next certificate is issued later
	newer := read()
	m.load(newer, false)
	served := m.Serving().SerialNumber.String()
	m.load(older, true)
	if got := m.Serving().SerialNumber.String(); got != served {
		t.Errorf("a polled older certificate replaced the newer one: serving %s, want %s", got, served)
	}
	m.load(older, false) // the watch delivers in order: it may
	if got := m.Serving().SerialNumber.String(); got == served {
		t.Error("the watch's certificate was not loaded")
	}
}
