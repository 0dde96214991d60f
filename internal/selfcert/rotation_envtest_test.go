package selfcert_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/internal/selfcert"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

const (
	testNamespace = "ipamguard-system"
	testSecret    = "ipamguard-webhook-server-cert"
)

// allowAll answers every AdmissionReview with allowed and counts them.
type allowAll struct{ calls atomic.Int64 }

func (a *allowAll) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rev admissionv1.AdmissionReview
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &rev); err != nil || rev.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	a.calls.Add(1)
	rev.Response = &admissionv1.AdmissionResponse{UID: rev.Request.UID, Allowed: true}
	rev.Request = nil
	_ = json.NewEncoder(w).Encode(&rev)
}

// serve runs an HTTPS server on addr with m's certificate until ctx ends.
func serve(t *testing.T, ctx context.Context, addr string, m *selfcert.Manager, h http.Handler) {
	t.Helper()
	ln, err := tls.Listen("tcp", addr, &tls.Config{GetCertificate: m.GetCertificate, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: nil}
	go func() { _ = srv.Serve(ln) }()
	context.AfterFunc(ctx, func() { _ = srv.Close() })
}

// served returns the certificate a TLS handshake with addr presents.
func served(addr string) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reading the served certificate only
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// TestRotationUnderLoad runs the self-managed certificates on the real API
// server with lifetimes of seconds: a leader replica (Serve and Lead) and a
// second replica (Serve only), which is the one the API server calls.
// Admissions (server-side dry-run creates of a Subnet, which the
// validating and mutating webhooks see) flow from concurrent clients while
// the serving certificate is renewed several times and the CA once, and
// the Secret is deleted once (a new CA, made while the old one is still
// served). Not one admission may fail, the second replica must serve each
// new certificate without a restart, and the caBundles must end holding
// the current CA.
func TestRotationUnderLoad(t *testing.T) {
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	env := devenvtest.Start(t, devenv.Options{WebhookPaths: []string{filepath.Join(root, "config", "webhook")}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}); err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	// The CA is renewed 16 s after it was made, serving certificates every
	// 6 s; the Secret is deleted about 25 s in.
	policy := selfcert.Policy{CAValidity: 24 * time.Second, ServingValidity: 9 * time.Second, Overlap: 2 * time.Second}
	opts := func(name string) selfcert.Options {
		return selfcert.Options{
			Client: cs, Namespace: testNamespace, SecretName: testSecret,
			Names:              selfcert.ServiceNames("ipamguard-webhook-service", testNamespace, []string{env.WebhookHost, "localhost"}),
			ValidatingWebhooks: []string{devenv.ValidatingWebhookConfiguration},
			MutatingWebhooks:   []string{devenv.MutatingWebhookConfiguration},
			Policy:             policy, Settle: 500 * time.Millisecond, Resync: 5 * time.Second,
			Log: testr.NewWithOptions(t, testr.Options{LogTimestamp: true}).WithName(name),
		}
	}
	leader, err := selfcert.New(opts("leader"))
	if err != nil {
		t.Fatal(err)
	}
	follower, err := selfcert.New(opts("follower"))
	if err != nil {
		t.Fatal(err)
	}
	// The API server calls the follower (env.WebhookPort); the leader
	// serves on a port of its own.
	h := &allowAll{}
	followerAddr := net.JoinHostPort(env.WebhookHost, strconv.Itoa(env.WebhookPort))
	leaderLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	leaderAddr := leaderLn.Addr().String()
	leaderLn.Close()
	serve(t, ctx, followerAddr, follower, h)
	serve(t, ctx, leaderAddr, leader, h)
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{leader.Serve, leader.Lead, follower.Serve} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ctx) }()
	}
	t.Cleanup(wg.Wait)
	t.Cleanup(cancel)

	devenvtest.Eventually(t, "the follower is ready", 30*time.Second, func() error { return follower.ReadyCheck(nil) })
	devenvtest.Eventually(t, "an admission succeeds", 30*time.Second, func() error { return dryRunSubnet(ctx, env.Client, "probe") })
	first, err := served(followerAddr)
	if err != nil {
		t.Fatal(err)
	}
	firstCA := currentCA(t, ctx, env.Client)

	// Load: four clients, back to back, for the whole test.
	var ok, failed atomic.Int64
	var failMu sync.Mutex
	var failures []error
	loadCtx, stopLoad := context.WithCancel(ctx)
	var load sync.WaitGroup
	for i := range 4 {
		load.Add(1)
		go func() {
			defer load.Done()
			for n := 0; loadCtx.Err() == nil; n++ {
				err := dryRunSubnet(loadCtx, env.Client, fmt.Sprintf("load-%d-%d", i, n))
				switch {
				case err == nil:
					ok.Add(1)
				case loadCtx.Err() != nil:
				default:
					failed.Add(1)
					failMu.Lock()
					failures = append(failures, fmt.Errorf("%s: %w", time.Now().Format("15:04:05.000"), err))
					failMu.Unlock()
				}
			}
		}()
	}

	// Watch what the follower serves: every new serial.
	serials := map[string]bool{first.SerialNumber.String(): true}
	issuers := map[string]bool{first.Issuer.CommonName: true}
	deadline := time.Now().Add(30 * time.Second)
	deleted := false
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		c, err := served(followerAddr)
		if err != nil {
			t.Errorf("handshake with the follower: %v", err)
			continue
		}
		serials[c.SerialNumber.String()], issuers[c.Issuer.CommonName] = true, true
		if !deleted && time.Until(deadline) < 6*time.Second {
			// The Secret is lost: a new CA while the old is still served.
			if err := cs.CoreV1().Secrets(testNamespace).Delete(ctx, testSecret, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Logf("Secret deleted")
			deleted = true
		}
	}
	// A last admission after the load.
	time.Sleep(3 * time.Second)
	stopLoad()
	load.Wait()
	if err := dryRunSubnet(ctx, env.Client, "after"); err != nil {
		t.Errorf("admission after the rotations: %v", err)
	}

	t.Logf("admissions: %d succeeded, %d failed; webhook calls %d; serving certificates seen %d, CAs seen %d", ok.Load(), failed.Load(), h.calls.Load(), len(serials), len(issuers))
	for i, err := range failures {
		if i == 10 {
			break
		}
		t.Errorf("admission failed: %v", err)
	}
	if ok.Load() < 100 {
		t.Errorf("only %d admissions succeeded: no load", ok.Load())
	}
	if len(serials) < 4 {
		t.Errorf("the follower served %d serving certificates in 30 s of 9 s certificates, want at least 4", len(serials))
	}
	if len(issuers) < 3 {
		t.Errorf("the follower served certificates of %d CAs, want at least 3 (first, renewed at 16 s, made after the Secret's deletion)", len(issuers))
	}
	// The caBundles hold the current CA, and both replicas serve the same
	// certificate, which chains to it.
	ca := currentCA(t, ctx, env.Client)
	if ca.Equal(firstCA) {
		t.Error("the CA never changed")
	}
	sec, err := cs.CoreV1().Secrets(testNamespace).Get(ctx, testSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bundleCA, err := selfcert.ParseCerts(sec.Data[selfcert.CACertKey])
	if err != nil || !bundleCA[0].Equal(ca) {
		t.Errorf("the caBundles' first CA is not the Secret's current CA (%v)", err)
	}
	devenvtest.Eventually(t, "both replicas serve the Secret's certificate", 10*time.Second, func() error {
		want, err := selfcert.ParseCerts(sec.Data[selfcert.CertKey])
		if err != nil {
			return err
		}
		for _, addr := range []string{followerAddr, leaderAddr} {
			c, err := served(addr)
			if err != nil {
				return err
			}
			if !c.Equal(want[0]) {
				sec, _ = cs.CoreV1().Secrets(testNamespace).Get(ctx, testSecret, metav1.GetOptions{})
				return fmt.Errorf("%s serves serial %s, the Secret holds %s", addr, c.SerialNumber, want[0].SerialNumber)
			}
		}
		return nil
	})
}

// currentCA returns the first CA of the validating configuration's first
// webhook, after checking every webhook of both configurations has the
// same bundle.
func currentCA(t *testing.T, ctx context.Context, c client.Client) *x509.Certificate {
	t.Helper()
	var v admissionregistrationList
	if err := v.read(ctx, c); err != nil {
		t.Fatal(err)
	}
	var first []byte
	for i, b := range v.bundles {
		if i == 0 {
			first = b
		} else if string(b) != string(first) {
			t.Fatalf("webhook %d has another caBundle than the first", i)
		}
	}
	certs, err := selfcert.ParseCerts(first)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

// dryRunSubnet creates a Subnet with server-side dry run: it passes the
// mutating and validating webhooks and is not stored.
func dryRunSubnet(ctx context.Context, c client.Client, name string) error {
	s := &kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kubeovnv1.SubnetSpec{CIDRBlock: "10.80.0.0/24", Protocol: "IPv4"}}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := c.Create(ctx, s, client.DryRunAll); err != nil {
		return err
	}
	return nil
}

// errNotYet is a condition not met yet.
var errNotYet = errors.New("not yet")

// clientKey is the key of a cluster-scoped object.
func clientKey(name string) client.ObjectKey { return client.ObjectKey{Name: name} }

// admissionregistrationList holds the caBundle of every webhook of the
// two configurations devenv installed.
type admissionregistrationList struct{ bundles [][]byte }

func (l *admissionregistrationList) read(ctx context.Context, c client.Client) error {
	var v admissionregv1.ValidatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: devenv.ValidatingWebhookConfiguration}, &v); err != nil {
		return err
	}
	var m admissionregv1.MutatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: devenv.MutatingWebhookConfiguration}, &m); err != nil {
		return err
	}
	for _, w := range v.Webhooks {
		l.bundles = append(l.bundles, w.ClientConfig.CABundle)
	}
	for _, w := range m.Webhooks {
		l.bundles = append(l.bundles, w.ClientConfig.CABundle)
	}
	if len(l.bundles) == 0 {
		return errors.New("no webhooks")
	}
	return nil
}
