package devenv_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// webhookManifest has the shape controller-gen writes to
// config/webhook/manifests.yaml.
const webhookManifest = `---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: validating-webhook-configuration
webhooks:
- admissionReviewVersions:
  - v1
  clientConfig:
    service:
      name: webhook-service
      namespace: system
      path: /validate-kubeovn-io-v1-subnet
  failurePolicy: Fail
  name: vsubnet.ipamguard.io
  rules:
  - apiGroups:
    - kubeovn.io
    apiVersions:
    - v1
    operations:
    - CREATE
    - UPDATE
    resources:
    - subnets
  sideEffects: None
`

// TestStartSeedStop runs the whole life of an Env: start with a webhook
// configuration, serve that webhook from the test with the generated
// certificates, accepting only the API server's client certificate, seed
// through it, read back, and stop.
func TestStartSeedStop(t *testing.T) {
	t.Parallel()
	hooks := t.TempDir()
	if err := os.WriteFile(filepath.Join(hooks, "manifests.yaml"), []byte(webhookManifest), 0o644); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	env := devenvtest.Start(t, devenv.Options{WebhookPaths: []string{hooks}})
	t.Logf("control plane started in %s", time.Since(began).Round(time.Millisecond))

	if env.WebhookHost != "127.0.0.1" || env.WebhookPort == 0 {
		t.Fatalf("webhook endpoint %s:%d, want 127.0.0.1 and a picked port", env.WebhookHost, env.WebhookPort)
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		if _, err := os.Stat(filepath.Join(env.WebhookCertDir, f)); err != nil {
			t.Fatalf("webhook certificate: %v", err)
		}
	}

	// Installed under the install's name, pointing at the local endpoint.
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := env.Client.Get(t.Context(), types.NamespacedName{Name: devenv.ValidatingWebhookConfiguration}, &vwc); err != nil {
		t.Fatalf("the webhook configuration under the install's name: %v", err)
	}
	if u := vwc.Webhooks[0].ClientConfig.URL; u == nil || !strings.HasPrefix(*u, fmt.Sprintf("https://%s:%d/", env.WebhookHost, env.WebhookPort)) {
		t.Errorf("the installed webhook calls %v, want the local endpoint", u)
	}

	reviewed := serveAllowingWebhook(t, env)

	ctx := t.Context()
	if err := devenv.Seed(ctx, env.Client); err != nil {
		t.Fatalf("Seed: %v", err)
	}
	if err := devenv.Seed(ctx, env.Client); err != nil {
		t.Fatalf("Seed is not idempotent: %v", err)
	}

	var vpc kubeovnv1.Vpc
	if err := env.Client.Get(ctx, types.NamespacedName{Name: devenv.DefaultVpc}, &vpc); err != nil {
		t.Fatalf("get vpc: %v", err)
	}
	var subnets kubeovnv1.SubnetList
	if err := env.Client.List(ctx, &subnets); err != nil {
		t.Fatalf("list subnets: %v", err)
	}
	got := map[string]kubeovnv1.SubnetSpec{}
	for _, s := range subnets.Items {
		got[s.Name] = s.Spec
	}
	want := map[string]kubeovnv1.SubnetSpec{
		devenv.DefaultSubnet: {CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Vpc: "ovn-cluster", Default: true, Provider: "ovn", Protocol: "IPv4"},
		devenv.JoinSubnet:    {CIDRBlock: "100.64.0.0/16", Gateway: "100.64.0.1", Vpc: "ovn-cluster", Provider: "ovn", Protocol: "IPv4"},
	}
	if len(got) != len(want) {
		t.Errorf("subnets %v, want %v", got, want)
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g.CIDRBlock != w.CIDRBlock || g.Gateway != w.Gateway || g.Vpc != w.Vpc ||
			g.Default != w.Default || g.Provider != w.Provider || g.Protocol != w.Protocol {
			t.Errorf("subnet %s = %+v, want %+v", name, g, w)
		}
	}
	if n := reviewed(); n < 2 {
		t.Errorf("webhook reviewed %d subnet creations, want the 2 seeded subnets to pass through it", n)
	}

	// The kubeconfig must reach the same server with the same identity.
	kc := filepath.Join(t.TempDir(), "run", "kubeconfig")
	if err := env.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(kc); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig mode: %v %v, want 0600", fi.Mode(), err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatalf("load written kubeconfig: %v", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	var s kubeovnv1.Subnet
	if err := c.Get(ctx, types.NamespacedName{Name: devenv.JoinSubnet}, &s); err != nil {
		t.Fatalf("get subnet with written kubeconfig: %v", err)
	}

	apiHost := env.Config.Host
	if err := env.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := env.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	for _, p := range []string{env.WebhookCertDir, filepath.Dir(env.WebhookClientCAFile)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("certificate directory %s still exists after Stop (%v)", p, err)
		}
	}
	u, err := url.Parse(apiHost)
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		conn.Close()
		t.Errorf("kube-apiserver still listening on %s after Stop", u.Host)
	}
}

// serveAllowingWebhook serves the subnet webhook path with env's certificates,
// allowing everything, and returns a counter of reviews. Like a webhook
// verifying its callers, it requires a client certificate issued by
// env.WebhookClientCAFile for WebhookClientCommonName: only the API server
// configured by devenv gets through.
func serveAllowingWebhook(t *testing.T, env *devenv.Env) func() int {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(env.WebhookCertDir, "tls.crt"), filepath.Join(env.WebhookCertDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(env.WebhookClientCAFile)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	if !clientCAs.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", env.WebhookClientCAFile)
	}
	ln, err := tls.Listen("tcp", net.JoinHostPort(env.WebhookHost, strconv.Itoa(env.WebhookPort)), &tls.Config{
		Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs,
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	mux := http.NewServeMux()
	mux.HandleFunc("/validate-kubeovn-io-v1-subnet", func(w http.ResponseWriter, r *http.Request) {
		if cn := r.TLS.PeerCertificates[0].Subject.CommonName; cn != devenv.WebhookClientCommonName {
			http.Error(w, "caller "+cn, http.StatusForbidden)
			return
		}
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		mu.Lock()
		n++
		mu.Unlock()
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		review.Request = nil
		_ = json.NewEncoder(w).Encode(&review)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}
