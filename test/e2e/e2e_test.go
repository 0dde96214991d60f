// Package e2e drives the built ipamguard-dev and webhook binaries with the
// pinned kubectl, as a user would after `make run`.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
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

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
)

const (
	readyLine      = "ipamguard-dev: ready" // printed by cmd/ipamguard-dev
	readyTimeout   = 120 * time.Second
	kubectlTimeout = 30 * time.Second
	exitTimeout    = 30 * time.Second
)

// kubectlCase is one kubectl invocation against the running environment.
// Cases run in order and may depend on earlier ones.
type kubectlCase struct {
	name  string
	args  []string // after "kubectl"
	stdin string   // piped to kubectl, e.g. for "apply -f -"
	// wantErr expects a non-zero exit status.
	wantErr bool
	// wantStdout and wantStderr list substrings the output must contain.
	wantStdout []string
	wantStderr []string
}

// subnet renders a cluster-scoped Subnet manifest; spec is YAML indented by
// two spaces.
func subnet(name, spec string) string {
	return fmt.Sprintf("apiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata:\n  name: %s\nspec:\n%s", name, spec)
}

var kubectlCases = []kubectlCase{
	{
		name:       "seeded subnets are listed",
		args:       []string{"get", "subnets", "-o", "name"},
		wantStdout: []string{"subnet.kubeovn.io/ovn-default", "subnet.kubeovn.io/join"},
	},
	{
		name:       "valid subnet is accepted",
		args:       []string{"apply", "-f", "-"},
		stdin:      subnet("tenant-a", "  protocol: IPv4\n  cidrBlock: 10.70.0.0/24\n  gateway: 10.70.0.1\n"),
		wantStdout: []string{"subnet.kubeovn.io/tenant-a created"},
	},
	{
		name:       "dual-stack subnet is accepted",
		args:       []string{"apply", "-f", "-"},
		stdin:      subnet("dual", "  protocol: Dual\n  cidrBlock: 10.80.0.0/24,fd00:80::/64\n  gateway: 10.80.0.1,fd00:80::1\n"),
		wantStdout: []string{"subnet.kubeovn.io/dual created"},
	},
	{
		name:       "subnet overlapping ovn-default is refused",
		args:       []string{"apply", "-f", "-"},
		stdin:      subnet("dup", "  cidrBlock: 10.16.5.0/24\n"),
		wantErr:    true,
		wantStderr: []string{"spec.cidrBlock", "ovn-default", "10.16.0.0/16", "overlap"},
	},
	{
		name:       "refused subnet was not stored",
		args:       []string{"get", "subnet", "dup"},
		wantErr:    true,
		wantStderr: []string{"NotFound"},
	},
	{
		name:       "expanding a subnet is accepted",
		args:       []string{"apply", "-f", "-"},
		stdin:      subnet("tenant-a", "  protocol: IPv4\n  cidrBlock: 10.70.0.0/23\n  gateway: 10.70.0.1\n"),
		wantStdout: []string{"subnet.kubeovn.io/tenant-a configured"},
	},
	{
		name:       "expansion is stored",
		args:       []string{"get", "subnet", "tenant-a", "-o", "jsonpath={.spec.cidrBlock}"},
		wantStdout: []string{"10.70.0.0/23"},
	},
}

// TestKubectl starts ipamguard-dev from freshly built binaries, runs
// kubectlCases, then interrupts it and checks that it exits cleanly and
// leaves no process behind.
func TestKubectl(t *testing.T) {
	assets := devenvtest.Assets(t)
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	binDir := t.TempDir()
	buildBinaries(t, root, binDir)

	dev := startDev(t, root, assets, binDir)
	kubectl := filepath.Join(assets, devenv.KubectlBinary)

	for _, tc := range kubectlCases {
		ok := t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runKubectl(t, kubectl, dev.kubeconfig, dev.runDir, tc)
			if tc.wantErr != (err != nil) {
				t.Fatalf("kubectl %s: err = %v, wantErr %v\nstdout:\n%s\nstderr:\n%s",
					strings.Join(tc.args, " "), err, tc.wantErr, stdout, stderr)
			}
			for _, want := range tc.wantStdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout does not contain %q:\n%s", want, stdout)
				}
			}
			for _, want := range tc.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr)
				}
			}
		})
		if !ok {
			// Later cases build on earlier ones.
			dev.dumpLogs(t)
			break
		}
	}

	// The webhook is elected leader in the namespace ipamguard-dev gives it
	// (internal/leader); a missing namespace or lease would only be logged.
	leaseArgs := []string{"-n", "ipamguard-system", "get", "lease", "ipamguard-leader", "-o", "jsonpath={.spec.holderIdentity}"}
	devenvtest.Eventually(t, "the webhook to hold its leader election Lease", readyTimeout, func() error {
		stdout, stderr, err := runKubectl(t, kubectl, dev.kubeconfig, dev.runDir, kubectlCase{args: leaseArgs})
		switch {
		case err != nil:
			return fmt.Errorf("kubectl %s: %v: %s", strings.Join(leaseArgs, " "), err, stderr)
		case strings.TrimSpace(stdout) == "":
			return errors.New("the Lease has no holder")
		}
		return nil
	})

	// The webhook runs as the install's ServiceAccount, not as the admin
	// whose kubeconfig the kubectl cases use.
	t.Run("webhook runs as the install's ServiceAccount", func(t *testing.T) {
		args := []string{"--kubeconfig", filepath.Join(dev.runDir, "webhook.kubeconfig"), "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"}
		stdout, stderr, err := runKubectl(t, kubectl, dev.kubeconfig, dev.runDir, kubectlCase{args: args})
		if err != nil {
			t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, stderr)
		}
		if want := "system:serviceaccount:ipamguard-system:ipamguard-webhook"; strings.TrimSpace(stdout) != want {
			t.Errorf("the webhook's kubeconfig authenticates as %q, want %q", stdout, want)
		}
	})

	// Only the API server may call the webhook: ipamguard-dev gives it a
	// client certificate and the webhook --client-ca-file. Every kubectl
	// case above went through; a direct call without a certificate is
	// refused during the TLS handshake.
	t.Run("direct call without a client certificate is refused", func(t *testing.T) {
		hc := &http.Client{
			Transport: &http.Transport{
				// Only the client side of the handshake is under test.
				TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // see above
				DisableKeepAlives: true,
			},
			Timeout: kubectlTimeout,
		}
		url := fmt.Sprintf("https://127.0.0.1:%d/validate-v1-pod", dev.webhookPort)
		resp, err := hc.Post(url, "application/json", strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("POST %s without a client certificate answered with status %d", url, resp.StatusCode)
		}
		if !strings.Contains(err.Error(), "tls:") {
			t.Errorf("POST %s refused with %v, want a TLS alert", url, err)
		}
	})

	dev.interruptAndCheck(t)
	// The install's RBAC granted all the webhook asked for in the run,
	// the self-managed certificates' writes included.
	devenvtest.CheckGranted(t, "the webhook", filepath.Join(dev.runDir, "webhook.log"))
}

// buildBinaries builds the webhook and ipamguard-dev into dir, so the test
// does not depend on `make build` having run.
func buildBinaries(t *testing.T, root, dir string) {
	t.Helper()
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	for pkg, out := range map[string]string{"./cmd/webhook": "ipamguard-webhook", "./cmd/ipamguard-dev": "ipamguard-dev"} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, goBin, "build", "-o", filepath.Join(dir, out), pkg)
		cmd.Dir = root
		b, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
}

// devProcess is a running ipamguard-dev.
type devProcess struct {
	cmd         *exec.Cmd
	runDir      string
	binDir      string
	kubeconfig  string
	webhookPort int
	stdout      *lockedBuffer
	exited      chan struct{} // closed when Wait returned
	waitErr     error
}

// startDev starts ipamguard-dev on free loopback ports and waits for its
// ready line. A cleanup stops it if the test ends early.
func startDev(t *testing.T, root, assets, binDir string) *devProcess {
	t.Helper()
	runDir := t.TempDir()
	ports := freePorts(t, 3)
	cmd := exec.Command(filepath.Join(binDir, "ipamguard-dev"),
		"--assets", assets,
		"--webhook-binary", filepath.Join(binDir, "ipamguard-webhook"),
		"--run-dir", runDir,
		"--webhook-port", strconv.Itoa(ports[0]),
		"--metrics-port", strconv.Itoa(ports[1]),
		"--health-port", strconv.Itoa(ports[2]),
	)
	cmd.Dir = root
	// A developer's KUBECONFIG must not leak into the webhook: it gets --kubeconfig.
	cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent")
	stderr, err := os.Create(filepath.Join(runDir, "ipamguard-dev.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stderr.Close() })
	cmd.Stderr = stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}

	d := &devProcess{
		cmd:         cmd,
		runDir:      runDir,
		binDir:      binDir,
		kubeconfig:  filepath.Join(runDir, "kubeconfig"),
		webhookPort: ports[0],
		stdout:      &lockedBuffer{},
		exited:      make(chan struct{}),
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ipamguard-dev: %v", err)
	}
	ready := make(chan struct{})
	readyC := ready // the goroutine clears ready after closing it
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			d.stdout.WriteLine(line)
			if line == readyLine && ready != nil {
				close(ready)
				ready = nil
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() { d.kill(t) })

	select {
	case <-readyC:
		t.Logf("ipamguard-dev ready in %s", time.Since(began).Round(time.Millisecond))
	case <-d.exited:
		d.dumpLogs(t)
		t.Fatalf("ipamguard-dev exited before it was ready: %v", d.waitErr)
	case <-time.After(readyTimeout):
		d.dumpLogs(t)
		t.Fatalf("ipamguard-dev not ready within %s", readyTimeout)
	case <-t.Context().Done():
		t.Fatal("test cancelled")
	}
	return d
}

// interruptAndCheck sends SIGINT and checks the exit status and that every
// process ipamguard-dev started is gone.
func (d *devProcess) interruptAndCheck(t *testing.T) {
	t.Helper()
	children, err := descendants(d.cmd.Process.Pid)
	if err != nil {
		t.Logf("cannot check for leaked processes: %v", err)
	} else {
		assertStarted(t, children, devenv.EtcdBinary, devenv.APIServerBinary, "ipamguard-webhook")
	}

	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("interrupt ipamguard-dev: %v", err)
	}
	select {
	case <-d.exited:
	case <-time.After(exitTimeout):
		d.dumpLogs(t)
		t.Fatalf("ipamguard-dev did not exit within %s of SIGINT", exitTimeout)
	}
	if d.waitErr != nil {
		d.dumpLogs(t)
		t.Errorf("ipamguard-dev exited with %v after SIGINT, want status 0", d.waitErr)
	}

	if err != nil {
		return
	}
	// The cert and data dirs of envtest are random temp dirs, but every
	// child's command line names one of these.
	left, err := survivors(children, d.runDir, d.binDir)
	if err != nil {
		t.Fatalf("check for leaked processes: %v", err)
	}
	for _, p := range left {
		t.Errorf("process left behind after ipamguard-dev exited: %v", p)
	}
}

// assertStarted checks that the process tree contains each named binary, so
// the leak check is known to watch the right processes.
func assertStarted(t *testing.T, procs []procInfo, names ...string) {
	t.Helper()
	for _, name := range names {
		found := false
		for _, p := range procs {
			fields := strings.Fields(p.cmdline)
			if len(fields) > 0 && filepath.Base(fields[0]) == name {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no %s among the processes of ipamguard-dev: %v", name, procs)
		}
	}
}

// kill stops ipamguard-dev if a test ended before interruptAndCheck: SIGINT
// first so it can tear down its children, SIGKILL as a last resort.
func (d *devProcess) kill(t *testing.T) {
	select {
	case <-d.exited:
		return
	default:
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.exited:
	case <-time.After(exitTimeout):
		t.Errorf("ipamguard-dev ignored SIGINT; killing it (its children may be left behind)")
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.exited
	}
}

// dumpLogs logs what ipamguard-dev and the webhook printed.
func (d *devProcess) dumpLogs(t *testing.T) {
	t.Helper()
	t.Logf("ipamguard-dev stdout:\n%s", d.stdout.String())
	for _, name := range []string{"ipamguard-dev.stderr", "webhook.log", "controlplane.log"} {
		b, err := os.ReadFile(filepath.Join(d.runDir, name))
		if err != nil {
			continue
		}
		if len(b) > 8000 {
			b = append([]byte("…"), b[len(b)-8000:]...)
		}
		t.Logf("%s:\n%s", name, b)
	}
}

// runKubectl runs one case with the pinned kubectl.
func runKubectl(t *testing.T, kubectl, kubeconfig, runDir string, tc kubectlCase) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), kubectlTimeout)
	defer cancel()
	args := append([]string{"--cache-dir", filepath.Join(runDir, "kubectl-cache")}, tc.args...)
	cmd := exec.CommandContext(ctx, kubectl, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdin = strings.NewReader(tc.stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("kubectl %s timed out after %s", strings.Join(tc.args, " "), kubectlTimeout)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run kubectl: %v", err)
	}
	return out.String(), errOut.String(), err
}

// freePorts returns n distinct free loopback ports. They are released before
// use, which is racy but good enough on a test machine.
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

// lockedBuffer collects lines written by one goroutine and read by another.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

// WriteLine appends line and a newline.
func (b *lockedBuffer) WriteLine(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(line)
	b.buf.WriteByte('\n')
}

// String returns everything written so far.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
