// Package replicas runs three ipamguard-webhook processes (the real
// binary) against one real API server and races fixed-address pods across
// them: the reservations in the API server (--reservations=api, Leases)
// must admit exactly one pod per address, whichever replicas the requests
// reach, and at most one when a replica is killed mid-run.
package replicas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/pkg/reserve"
)

const (
	namespace   = "ipamguard-system"
	waitTimeout = 60 * time.Second
)

// process is one running webhook replica.
type process struct {
	cmd  *exec.Cmd
	url  string
	log  string
	done chan error
}

func TestRaceAcrossThreeWebhookProcesses(t *testing.T) {
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

	// Replica 0 serves where the API server calls (it judges the seed
	// subnets); 1 and 2 only get the requests this test sends.
	ports := freePorts(t, 5)
	webhookPorts := []int{env.WebhookPort, ports[0], ports[1]}
	procs := make([]*process, 3)
	for i := range procs {
		procs[i] = start(t, bin, dir, i, kubeconfig, env, webhookPorts[i], ports[2+i])
	}
	if err := devenv.Seed(ctx, env.Client); err != nil {
		t.Fatalf("seed: %v", err)
	}
	hc := devenvtest.APIServerClient(t, env, 10*time.Second)
	// Every replica's inventory has the default subnet: a dry run on a
	// free address is admitted.
	for i, p := range procs {
		devenvtest.Eventually(t, fmt.Sprintf("replica %d's inventory", i), waitTimeout, func() error {
			if v := send(ctx, hc, p.url, "race-a", "probe", "10.16.9.1", true); !v.allowed {
				return fmt.Errorf("dry run on replica %d: %+v (log %s)", i, v, p.log)
			}
			return nil
		})
	}
	lease := func(addr string) error {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: reserve.LeaseName("ovn-default", netip.MustParseAddr(addr))},
			&coordinationv1.Lease{})
	}

	n, runs, killRuns := envInt(t, SizeEnv, 300), envInt(t, RunsEnv, 1), envInt(t, KillRunsEnv, 1)
	const senders = 48
	urls := []string{procs[0].url, procs[1].url, procs[2].url}
	var winner int
	for run := range runs {
		addr := "10.16.9.10"
		if run > 0 {
			addr = fmt.Sprintf("10.16.10.%d", run)
		}
		admitted, refused, failed, took := race(ctx, hc, urls, n, senders, addr, nil)
		t.Logf("run %d/%d: %d creates (%d at a time) over 3 processes in %v: admitted %v, %d refused, %d failed", run+1, runs, n, senders, took, admitted, refused, failed)
		if len(admitted) != 1 || refused != n-1 {
			t.Fatalf("run %d: admitted %v, %d refused, %d failed; want exactly 1 admitted and %d refused", run+1, admitted, refused, failed, n-1)
		}
		if run == 0 {
			winner = admitted[0]
		}
	}
	t.Run("the winner's retry is admitted by every process", func(t *testing.T) {
		for i, p := range procs {
			if v := send(ctx, hc, p.url, nsOf(winner), fmt.Sprintf("p-%d", winner), "10.16.9.10", false); !v.allowed {
				t.Errorf("retry on replica %d: %+v", i, v)
			}
		}
	})
	t.Run("a dry run writes nothing", func(t *testing.T) {
		if v := send(ctx, hc, procs[1].url, "race-a", "dry", "10.16.9.11", true); !v.allowed {
			t.Fatalf("dry run: %+v", v)
		}
		if err := lease("10.16.9.11"); !apierrors.IsNotFound(err) {
			t.Fatalf("dry run left a lease: %v", err)
		}
	})
	t.Run("at most one admitted while a process is killed mid-run", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))
		tally := map[int]int{}
		for run := range killRuns {
			if run > 0 {
				// The replica killed last time comes back on its ports.
				procs[2] = start(t, bin, dir, 2, kubeconfig, env, webhookPorts[2], ports[4])
			}
			killed := procs[2]
			// A random moment: after a random request, plus up to 20 ms.
			at, delay := n/10+rng.IntN(n*8/10), time.Duration(rng.IntN(20_000))*time.Microsecond
			kill := func(i int) {
				if i == at {
					time.AfterFunc(delay, func() {
						if err := killed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
							t.Errorf("kill: %v", err)
						}
					})
				}
			}
			addr := "10.16.9.12"
			if run > 0 {
				addr = fmt.Sprintf("10.16.11.%d", run)
			}
			admitted, refused, failed, took := race(ctx, hc, urls, n, senders, addr, kill)
			<-killed.done
			killed.done <- nil
			tally[len(admitted)]++
			t.Logf("kill run %d/%d: %d creates with replica 2 killed %v after request %d: admitted %v, %d refused, %d failed (connection refused by the dead replica: the API server's failurePolicy Fail) in %v",
				run+1, killRuns, n, delay, at, admitted, refused, failed, took)
			if len(admitted) > 1 {
				t.Fatalf("kill run %d: admitted %v: two pods with one address", run+1, admitted)
			}
			if refused+failed+len(admitted) != n || refused == 0 {
				t.Fatalf("kill run %d: admitted %v, %d refused, %d failed of %d", run+1, admitted, refused, failed, n)
			}
			if len(admitted) == 0 && lease(addr) == nil {
				// The winner's request was cut with the replica: its Lease
				// stands and its retry is admitted on a live replica.
				t.Logf("kill run %d: the winner was on the killed replica; its Lease stands until its TTL", run+1)
			}
		}
		t.Logf("kill runs by pods admitted: %v", tally)
	})
}

// The race's size and repetitions: make test runs it once with 300
// creates; make soak sets these (test/soak's Makefile target).
const (
	// SizeEnv is the number of concurrent creates per race (default 300).
	SizeEnv = "IPAMGUARD_RACE_SIZE"
	// RunsEnv is the number of races in a row, each on its own address
	// (default 1).
	RunsEnv = "IPAMGUARD_RACE_RUNS"
	// KillRunsEnv is the number of races with one replica killed at a
	// random moment, which is restarted before the next (default 1).
	KillRunsEnv = "IPAMGUARD_RACE_KILL_RUNS"
)

// envInt reads a positive integer from the environment variable name, or
// returns def when it is unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100_000 {
		t.Fatalf("$%s=%q: want an integer from 1 to 100000", name, v)
	}
	return n
}

// race sends n creations of distinct pods with one address, senders at a
// time, round-robin over urls; before sending request i it calls hook(i).
func race(ctx context.Context, hc *http.Client, urls []string, n, senders int, addr string, hook func(int)) (admitted []int, refused, failed int, took time.Duration) {
	results := make([]verdict, n)
	next := make(chan int)
	var wg sync.WaitGroup
	began := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = send(ctx, hc, urls[i%len(urls)], nsOf(i), fmt.Sprintf("p-%d", i), addr, false)
			}
		}()
	}
	for i := range n {
		if hook != nil {
			hook(i)
		}
		next <- i
	}
	close(next)
	wg.Wait()
	took = time.Since(began)
	for i, v := range results {
		switch {
		case v.allowed:
			admitted = append(admitted, i)
		case strings.Contains(v.message, "admitted moments ago"):
			refused++
		default:
			failed++
		}
	}
	return admitted, refused, failed, took
}

func nsOf(i int) string { return []string{"race-a", "race-b"}[i%2] }

type verdict struct {
	allowed bool
	message string
}

// send posts the AdmissionReview of a pod's creation, as the API server
// does; a transport error or an HTTP error is a verdict that admits
// nothing (the Pod webhook fails closed).
func send(ctx context.Context, hc *http.Client, url, ns, name, addr string, dryRun bool) verdict {
	uid := types.UID(fmt.Sprintf("%s-%s-%d", ns, name, time.Now().UnixNano()))
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: uid, Annotations: map[string]string{"ovn.kubernetes.io/ip_address": addr}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		return verdict{message: err.Error()}
	}
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "req-" + uid, Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: ns, Name: name,
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}, DryRun: ptr.To(dryRun),
			UserInfo: authenticationv1.UserInfo{Username: "alice"},
		},
	})
	if err != nil {
		return verdict{message: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return verdict{message: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return verdict{message: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return verdict{message: err.Error()}
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &out); err != nil || out.Response == nil {
		return verdict{message: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, b)}
	}
	v := verdict{allowed: out.Response.Allowed}
	if out.Response.Result != nil {
		v.message = out.Response.Result.Message
	}
	return v
}

// start runs replica i and waits until it is ready; it is stopped when the
// test ends.
func start(t *testing.T, bin, dir string, i int, kubeconfig string, env *devenv.Env, port, healthPort int) *process {
	t.Helper()
	return launch(t, bin, filepath.Join(dir, fmt.Sprintf("webhook-%d.log", i)), i, port, healthPort,
		"--kubeconfig", kubeconfig,
		"--cert-dir", env.WebhookCertDir,
		"--client-ca-file", env.WebhookClientCAFile,
		"--client-cn", devenv.WebhookClientCommonName,
		"--metrics-bind-address", "0",
		"--leader-election-namespace", namespace,
		"--audit-interval", "0",
		"--reservations", "api",
	)
}

// launch runs replica i of bin serving on port with the flags args, its
// output in logPath (shown when the test fails), and waits until it is
// ready on healthPort; it is stopped when the test ends.
func launch(t *testing.T, bin, logPath string, i, port, healthPort int, args ...string) *process {
	t.Helper()
	// A replica started again (after a kill) logs to a file of its own:
	// each log is checked when its process is stopped.
	for n, base := 2, logPath; ; n++ {
		if _, err := os.Stat(logPath); errors.Is(err, fs.ErrNotExist) {
			break
		}
		logPath = fmt.Sprintf("%s.%d", base, n)
	}
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	health := fmt.Sprintf("127.0.0.1:%d", healthPort)
	cmd := exec.Command(bin, append([]string{"--webhook-host", "127.0.0.1", "--webhook-port", fmt.Sprint(port),
		"--health-probe-bind-address", health}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, url: fmt.Sprintf("https://127.0.0.1:%d/validate-v1-pod", port), log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		devenvtest.CheckGranted(t, fmt.Sprintf("replica %d", i), logPath)
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("replica %d log (tail):\n%s", i, tail(b, 3000))
			}
		}
	})
	devenvtest.Eventually(t, fmt.Sprintf("replica %d ready", i), waitTimeout, func() error {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("replica %d exited: %v", i, err)
		default:
		}
		resp, err := http.Get("http://" + health + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
	return p
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// freePorts returns n distinct free loopback ports (released before use:
// racy, good enough on a test machine).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}
