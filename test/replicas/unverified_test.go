package replicas

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/pkg/reserve"
)

// TestUnverifiedRaceThroughTheAPIServer runs three webhook processes as the
// shipped install does: no --client-ca-file (callers not verified),
// --reservations=api, so a reservation refuses another pod only once its
// holder is confirmed. The API server calls them through a round-robin
// TCP proxy (a Service's endpoints), and real pods with one fixed address
// are created at once through it: exactly one is created, every round.
// A forged admission request sent straight to a replica then delays the
// real pod asking for its address by at most the confirmation window.
func TestUnverifiedRaceThroughTheAPIServer(t *testing.T) {
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	env := devenvtest.Start(t, devenv.Options{WebhookPaths: []string{filepath.Join(root, "config", "webhook")}})
	ctx := t.Context()
	dir := t.TempDir()
	bin := filepath.Join(dir, "ipamguard-webhook")
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/webhook")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, ns := range []string{namespace, "race-a", "race-b"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	// The replicas run as the install's ServiceAccount, with its RBAC only.
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if id := devenvtest.InstallIdentity(t, env, kubeconfig); id.Namespace != namespace {
		t.Fatalf("the install's namespace is %s, this test's %s", id.Namespace, namespace)
	}

	ports := freePorts(t, 9)
	webhookPorts, healthPorts, metricsPorts := ports[0:3], ports[3:6], ports[6:9]
	proxy := startProxy(t, net.JoinHostPort(env.WebhookHost, strconv.Itoa(env.WebhookPort)), webhookPorts)
	procs := make([]*unverifiedProcess, 3)
	for i := range procs {
		procs[i] = startUnverified(t, bin, dir, i, kubeconfig, env, webhookPorts[i], healthPorts[i], metricsPorts[i])
	}
	for i, p := range procs {
		b, err := os.ReadFile(p.log)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"holders":"confirmed`) {
			t.Errorf("replica %d does not log that it confirms holders:\n%s", i, tail(b, 3000))
		}
	}
	if err := devenv.Seed(ctx, env.Client); err != nil {
		t.Fatalf("seed: %v", err)
	}
	hc := anyCallerClient(t, env)
	for i, p := range procs {
		devenvtest.Eventually(t, fmt.Sprintf("replica %d's inventory", i), waitTimeout, func() error {
			if v := send(ctx, hc, p.url, "race-a", "probe", "10.16.12.1", true); !v.allowed {
				return fmt.Errorf("dry run on replica %d: %+v (log %s)", i, v, p.log)
			}
			return nil
		})
	}

	n, runs := envInt(t, UnverifiedSizeEnv, 60), envInt(t, RunsEnv, 3)
	for run := range runs {
		addr := fmt.Sprintf("10.16.12.%d", 10+run)
		created, refused, failed, took := raceThroughAPIServer(ctx, t, env, run, n, addr)
		t.Logf("run %d/%d: %d pods with %s created at once through the API server: created %v, %d refused, %d failed, in %v",
			run+1, runs, n, addr, created, refused, failed, took)
		if len(created) != 1 || refused != n-1 {
			t.Fatalf("run %d: created %v, %d refused, %d failed; want exactly 1 created and %d refused", run+1, created, refused, failed, n-1)
		}
	}
	served := 0
	for i, p := range procs {
		m := scrapeReservations(t, p.metrics)
		t.Logf("replica %d: %d connections from the API server; reservations %v", i, proxy.conns[i].Load(), m)
		if m[reserve.EventCreated]+m[reserve.EventRefused] > 0 {
			served++
		}
	}
	if served < 2 {
		t.Errorf("only %d replica(s) judged the fixed-address pods: the race did not cross processes", served)
	}

	t.Run("a forged request delays the real pod by at most the window", func(t *testing.T) {
		const addr = "10.16.12.99"
		if v := send(ctx, hc, procs[1].url, "race-a", "ghost", addr, false); !v.allowed {
			t.Fatalf("forged request: %+v", v)
		}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: reserve.LeaseName("ovn-default", netip.MustParseAddr(addr))},
			&coordinationv1.Lease{}); err != nil {
			t.Fatalf("the forged request reserved nothing: %v", err)
		}
		began := time.Now()
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "race-a", Name: "after-ghost", Annotations: map[string]string{"ovn.kubernetes.io/ip_address": addr}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
		}
		if err := env.Client.Create(ctx, pod); err != nil {
			t.Fatalf("the real pod was refused after a forged request: %v", err)
		}
		took := time.Since(began)
		t.Logf("real pod created %v after a forged reservation", took)
		if took > reserve.ConfirmWindow+time.Second {
			t.Errorf("the real pod waited %v, more than the window %v and then some", took, reserve.ConfirmWindow)
		}
		takeovers := 0
		for _, p := range procs {
			takeovers += scrapeReservations(t, p.metrics)[reserve.EventUnconfirmedTakenOver]
		}
		if takeovers != 1 {
			t.Errorf("%d unconfirmed takeovers counted, want 1", takeovers)
		}
	})
}

// UnverifiedSizeEnv is the number of pods created at once per race of
// TestUnverifiedRaceThroughTheAPIServer (default 60); RunsEnv sets the
// number of races (default 3 here).
const UnverifiedSizeEnv = "IPAMGUARD_UNVERIFIED_RACE_SIZE"

// raceThroughAPIServer creates n pods with addr at once through the API
// server and sorts the answers: created, refused because another holds
// the address, or failed otherwise.
func raceThroughAPIServer(ctx context.Context, t *testing.T, env *devenv.Env, run, n int, addr string) (created []int, refused, failed int, took time.Duration) {
	t.Helper()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: nsOf(i), Name: fmt.Sprintf("u%d-p%d", run, i), Annotations: map[string]string{"ovn.kubernetes.io/ip_address": addr}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
			}
			<-start
			errs[i] = env.Client.Create(ctx, pod)
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took = time.Since(began)
	for i, err := range errs {
		switch {
		case err == nil:
			created = append(created, i)
		case apierrors.IsInvalid(err) && strings.Contains(err.Error(), "[pod-ip-taken]"):
			// By a reservation ("admitted moments ago") or, once a
			// replica's informer has the winner, by the pending pod.
			refused++
		default:
			failed++
			t.Logf("pod %d: %v", i, err)
		}
	}
	return created, refused, failed, took
}

// anyCallerClient calls the webhooks as anyone may when they do not verify
// callers: no client certificate, trusting the serving CA.
func anyCallerClient(t *testing.T, env *devenv.Env) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(env.WebhookCAData) {
		t.Fatal("webhook CA does not parse")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 16,
	}}
}

// proxy forwards each TCP connection to the next of its backends in turn,
// as kube-proxy spreads a Service's connections; TLS passes through.
type proxy struct {
	conns []atomic.Int64
}

func startProxy(t *testing.T, listen string, backends []int) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &proxy{conns: make([]atomic.Int64, len(backends))}
	var wg sync.WaitGroup
	var next atomic.Uint64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			i := int(next.Add(1)-1) % len(backends)
			p.conns[i].Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				b, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(backends[i])))
				if err != nil {
					return
				}
				defer b.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
	})
	return p
}

// unverifiedProcess is a replica started by startUnverified, with the
// address of its metrics.
type unverifiedProcess struct {
	*process
	metrics string
}

// startUnverified runs replica i as the shipped install does (no client
// CA, API reservations, leader election in namespace) with its metrics
// served on metricsPort, and waits until it is ready.
func startUnverified(t *testing.T, bin, dir string, i int, kubeconfig string, env *devenv.Env, port, healthPort, metricsPort int) *unverifiedProcess {
	t.Helper()
	metrics := fmt.Sprintf("127.0.0.1:%d", metricsPort)
	p := launch(t, bin, filepath.Join(dir, fmt.Sprintf("unverified-webhook-%d.log", i)), i, port, healthPort,
		"--kubeconfig", kubeconfig,
		"--cert-dir", env.WebhookCertDir,
		"--metrics-bind-address", metrics,
		"--leader-election-namespace", namespace,
		"--audit-interval", "0",
		"--reservations", "api",
	)
	return &unverifiedProcess{process: p, metrics: "http://" + metrics + "/metrics"}
}

// scrapeReservations reads ipamguard_reservations_total by event from a
// replica's metrics endpoint.
func scrapeReservations(t *testing.T, url string) map[string]int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	const prefix = `ipamguard_reservations_total{event="`
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		ev, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Fatalf("scrape %s: %q: %v", url, line, err)
		}
		out[ev] = int(v)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return out
}
