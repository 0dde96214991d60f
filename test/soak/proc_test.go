package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/pkg/inventory"
)

const namespace = "ipamguard-system"

// buildWebhook builds cmd/webhook into dir and returns the binary's path.
func buildWebhook(t *testing.T, dir string) string {
	t.Helper()
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "ipamguard-webhook")
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	build := exec.CommandContext(t.Context(), goBin, "build", "-o", bin, "./cmd/webhook")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// replica is one webhook process and where it serves.
type replica struct {
	name                 string
	bin, kubeconfig, dir string
	extra                []string
	// env is added to the process's environment.
	env                                  []string
	webhookPort, healthPort, metricsPort int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
	log  string
	runs int
	// excused are spans of each log in which RBAC refusals are expected
	// (excuse).
	excused map[string][]devenvtest.Span
}

// url is the Pod validator's address.
func (r *replica) url() string {
	return fmt.Sprintf("https://127.0.0.1:%d/validate-v1-pod", r.webhookPort)
}

func (r *replica) metricsURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", r.metricsPort, path)
}

// start runs the process (again, after a kill) without waiting for it to
// be ready.
func (r *replica) start(t *testing.T, env *devenv.Env) {
	t.Helper()
	if err := r.launch(t, env); err != nil {
		t.Fatal(err)
	}
}

// launch is start, from any goroutine: it fails nothing and returns what
// went wrong.
func (r *replica) launch(t *testing.T, env *devenv.Env) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs++
	r.log = filepath.Join(r.dir, fmt.Sprintf("%s-%d.log", r.name, r.runs))
	f, err := os.Create(r.log)
	if err != nil {
		return err
	}
	args := []string{
		"--kubeconfig", r.kubeconfig,
		"--cert-dir", env.WebhookCertDir,
		"--client-ca-file", env.WebhookClientCAFile,
		"--client-cn", devenv.WebhookClientCommonName,
		"--webhook-host", "127.0.0.1",
		"--webhook-port", strconv.Itoa(r.webhookPort),
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", r.metricsPort),
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", r.healthPort),
		"--leader-election-namespace", namespace,
		"--audit-interval", "0",
		"--reservations", "api",
		"--inventory-digest",
	}
	cmd := exec.Command(r.bin, append(args, r.extra...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), r.env...)
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", r.name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); f.Close() }()
	r.cmd, r.done = cmd, done
	log := r.log
	t.Cleanup(func() {
		// Stopped first: a log is checked once nothing writes to it.
		r.kill(syscall.SIGTERM, 20*time.Second)
		r.mu.Lock()
		excused := r.excused[log]
		r.mu.Unlock()
		devenvtest.CheckGranted(t, r.name, log, excused...)
	})
	return nil
}

// excuseFrom lets the API server refuse r's requests (RBAC) in what its
// current log gains from now until excuseUntilNow(path) (to its end if
// that is never called): a restarting API server answers before its RBAC
// has caught up.
func (r *replica) excuseFrom() (path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var from int64
	if fi, err := os.Stat(r.log); err == nil {
		from = fi.Size()
	}
	if r.excused == nil {
		r.excused = map[string][]devenvtest.Span{}
	}
	r.excused[r.log] = append(r.excused[r.log], devenvtest.Span{From: from, To: -1})
	return r.log
}

// excuseUntilNow ends the span excuseFrom opened in the log at path.
func (r *replica) excuseUntilNow(path string) {
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if spans := r.excused[path]; len(spans) > 0 {
		spans[len(spans)-1].To = fi.Size()
	}
}

// pid is the running process's id.
func (r *replica) pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmd.Process.Pid
}

// kill sends sig and waits for the process to exit.
func (r *replica) kill(sig syscall.Signal, wait time.Duration) {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case err := <-done:
		done <- err
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		err := <-done
		done <- err
	}
}

// exited reports whether the process has exited.
func (r *replica) exited() (bool, error) {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	select {
	case err := <-done:
		done <- err
		return true, err
	default:
		return false, nil
	}
}

// ready reports whether /readyz answers 200.
func (r *replica) ready() error {
	if gone, err := r.exited(); gone {
		return fmt.Errorf("%s exited: %v (log %s)", r.name, err, r.log)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", r.healthPort))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s readyz %d: %s", r.name, resp.StatusCode, b)
	}
	return nil
}

// waitReady polls ready until it holds or timeout passes.
func (r *replica) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := r.ready()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		if gone, _ := r.exited(); gone {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// digest fetches /debug/inventory-digest.
func (r *replica) digest(ctx context.Context) (inventory.DigestResponse, error) {
	var out inventory.DigestResponse
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.metricsURL("/debug/inventory-digest"), nil)
	if err != nil {
		return out, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("inventory digest: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("decode inventory digest: %w", err)
	}
	return out, nil
}

// gauge reads one unlabelled sample from /metrics.
func (r *replica) gauge(ctx context.Context, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.metricsURL("/metrics"), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s not in /metrics of %s (%v)", name, r.name, sc.Err())
}

// procStatus reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status, in
// bytes.
func procStatus(pid int, field string) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// kubeconfigVia writes the kubeconfig id authenticates with (the
// install's ServiceAccount) with the server replaced by server (empty:
// unchanged).
func kubeconfigVia(t *testing.T, id *devenv.Identity, path, server string) {
	t.Helper()
	kc, err := clientcmd.Load(id.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if server != "" {
		for _, c := range kc.Clusters {
			c.Server = server
		}
	}
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
}

type verdict struct {
	allowed bool
	// transport is set when no AdmissionReview came back.
	transport bool
	message   string
}

// send posts the AdmissionReview of a pod's creation, as the API server
// does.
func send(ctx context.Context, hc *http.Client, url, ns, name, addr string, dryRun bool) verdict {
	uid := types.UID(fmt.Sprintf("%s-%s-%d", ns, name, time.Now().UnixNano()))
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: uid, Annotations: map[string]string{"ovn.kubernetes.io/ip_address": addr}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		return verdict{transport: true, message: err.Error()}
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
		return verdict{transport: true, message: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return verdict{transport: true, message: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return verdict{transport: true, message: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return verdict{transport: true, message: err.Error()}
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &out); err != nil || out.Response == nil {
		return verdict{transport: true, message: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, b)}
	}
	v := verdict{allowed: out.Response.Allowed}
	if out.Response.Result != nil {
		v.message = out.Response.Result.Message
	}
	return v
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

// keepLogs copies the processes' logs in dir (every run of every
// replica) to a directory that outlives the test, and says where.
func keepLogs(t *testing.T, dir string) {
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		return
	}
	keep, err := os.MkdirTemp("", "ipamguard-soak-logs-")
	if err != nil {
		t.Log(err)
		return
	}
	for _, l := range logs {
		if b, err := os.ReadFile(l); err == nil {
			_ = os.WriteFile(filepath.Join(keep, filepath.Base(l)), b, 0o644)
		}
	}
	t.Logf("the processes' logs are kept in %s", keep)
}

// every calls fn every d until ctx ends or fn returns false.
func every(ctx context.Context, d time.Duration, fn func() bool) {
	tk := time.NewTicker(d)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		if !fn() {
			return
		}
	}
}

// lastLine is the last line of the log at path (a process's last word).
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	b = bytes.TrimRight(b, "\n")
	return string(b[bytes.LastIndexByte(b, '\n')+1:])
}

// tail is the last n bytes of the log at path, after its first error lines.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	// What went wrong may be far from the end: the first error lines too.
	var errs []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, `"level":"error"`) && len(errs) < 10 {
			errs = append(errs, strings.TrimRight(line, "\n"))
		}
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	if len(errs) == 0 {
		return string(b)
	}
	return "first error lines:\n" + strings.Join(errs, "\n") + "\nlast lines:\n" + string(b)
}

// envDuration reads a duration from the environment, or def.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("$%s=%q: want a positive duration such as 5m", name, v)
	}
	return d
}

// envInt reads a non-negative integer from the environment, or def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("$%s=%q: want a non-negative integer", name, v)
	}
	return n
}

// skipUnlessSoak skips the long measurements unless make soak (or the
// caller) asked for them.
func skipUnlessSoak(t *testing.T) {
	t.Helper()
	if os.Getenv(SoakEnv) != "1" {
		t.Skipf("a long measurement: set %s=1 (make soak) to run it", SoakEnv)
	}
}

// SoakEnv turns the tests of this package on (make soak sets it): they
// take minutes and most of the machine.
const SoakEnv = "IPAMGUARD_SOAK"
