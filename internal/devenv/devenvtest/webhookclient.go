package devenvtest

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/ipamguard/ipamguard/internal/devenv"
)

// APIServerClient calls webhooks as env's API server does: with its
// client certificate (devenv's AdmissionConfiguration), trusting the
// webhooks' serving CA, each request bounded by timeout.
func APIServerClient(t *testing.T, env *devenv.Env, timeout time.Duration) *http.Client {
	t.Helper()
	kc, err := clientcmd.LoadFromFile(filepath.Join(filepath.Dir(env.WebhookClientCAFile), "webhook-client.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	ai := kc.AuthInfos["*"]
	if ai == nil {
		t.Fatal("no client certificate in devenv's webhook client kubeconfig")
	}
	cert, err := tls.X509KeyPair(ai.ClientCertificateData, ai.ClientKeyData)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(env.WebhookCAData) {
		t.Fatal("webhook CA does not parse")
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 64,
	}}
}
