package soak

import (
	"context"
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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
)

// listDigest computes the digest of a Store fed a fresh list of the
// cluster: what every replica's inventory must converge to.
func listDigest(ctx context.Context, c client.Client) (inventory.Digest, error) {
	cfg, err := config.LoadLive("")
	if err != nil {
		return inventory.Digest{}, err
	}
	s := inventory.New(cfg.Get().Defaults.VPC)
	var (
		subnets kubeovnv1.SubnetList
		ips     kubeovnv1.IPList
		vips    kubeovnv1.VipList
		vpcs    kubeovnv1.VpcList
		pools   kubeovnv1.IPPoolList
		nodes   corev1.NodeList
	)
	pods := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}}
	nss := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NamespaceList"}}
	for _, l := range []client.ObjectList{&subnets, &ips, &vips, &vpcs, &pools, &nodes, pods, nss} {
		if err := c.List(ctx, l); err != nil {
			return inventory.Digest{}, fmt.Errorf("list %T: %w", l, err)
		}
	}
	for i := range subnets.Items {
		s.UpsertSubnet(&subnets.Items[i])
	}
	for i := range ips.Items {
		s.UpsertIP(&ips.Items[i])
	}
	for i := range vips.Items {
		s.UpsertVip(&vips.Items[i])
	}
	for i := range vpcs.Items {
		s.UpsertVpc(&vpcs.Items[i])
	}
	for i := range pools.Items {
		s.UpsertIPPool(&pools.Items[i])
	}
	for i := range nodes.Items {
		s.UpsertNode(&nodes.Items[i])
	}
	for i := range pods.Items {
		s.UpsertPod(&pods.Items[i])
	}
	for i := range nss.Items {
		s.UpsertNamespace(&nss.Items[i])
	}
	return s.Digest(), nil
}

// proxy forwards TCP connections to target; Sever cuts every connection
// and refuses new ones until Restore, as a network partition between one
// replica and the API server would.
type proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	severed bool
	conns   map[net.Conn]struct{}
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.Sever() })
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.severed {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.pipe(c)
	}
}

func (p *proxy) pipe(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	if p.severed {
		p.mu.Unlock()
		up.Close()
		p.drop(c)
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	p.drop(c)
	p.drop(up)
}

func (p *proxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Sever closes every connection and refuses new ones.
func (p *proxy) Sever() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.severed = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore lets connections through again.
func (p *proxy) Restore() {
	p.mu.Lock()
	p.severed = false
	p.mu.Unlock()
}

// apiServerProc is the test's handle on the kube-apiserver process that
// envtest started, so it can be stopped and started again on the same
// etcd, port and certificates: the realistic API server restart (etcd
// keeps the data; clients see connection errors, then a new watch cache).
type apiServerProc struct {
	args    []string
	hostOf  string
	log     string
	cur     *exec.Cmd
	curDone chan error
}

// findAPIServer finds envtest's kube-apiserver among this process's
// children by the port it serves.
func findAPIServer(t *testing.T, cfg *rest.Config, dir string) *apiServerProc {
	t.Helper()
	host := strings.TrimSuffix(strings.TrimPrefix(cfg.Host, "https://"), "/")
	_, port, err := net.SplitHostPort(host)
	if err != nil {
		t.Fatalf("API server host %q: %v", cfg.Host, err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	me := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		rp := strings.LastIndexByte(s, ')')
		if rp < 0 || !strings.Contains(s[:rp], "(kube-apiserver") {
			continue
		}
		fields := strings.Fields(s[rp+1:])
		if len(fields) < 2 || fields[1] != strconv.Itoa(me) {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		for _, a := range args {
			if a == "--secure-port="+port {
				return &apiServerProc{args: args, hostOf: host, log: filepath.Join(dir, "kube-apiserver.log"), cur: nil}
			}
		}
	}
	t.Fatalf("no kube-apiserver child serving port %s", port)
	return nil
}

// stop terminates the running API server and waits until its port
// refuses connections.
func (a *apiServerProc) stop() error {
	if a.cur != nil {
		_ = a.cur.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.curDone:
		case <-time.After(30 * time.Second):
			_ = a.cur.Process.Kill()
			<-a.curDone
		}
		a.cur = nil
		return nil
	}
	// envtest's process: find it by port again and signal it.
	pid, err := a.pidByArgs()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop kube-apiserver %d: %w", pid, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", a.hostOf, 200*time.Millisecond)
		if err != nil {
			return nil
		}
		c.Close()
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	return errors.New("kube-apiserver still serving 30s after SIGTERM")
}

func (a *apiServerProc) pidByArgs() (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	want := strings.Join(a.args, "\x00")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.TrimRight(string(raw), "\x00") == want {
			return pid, nil
		}
	}
	return 0, errors.New("kube-apiserver process not found")
}

// start runs kube-apiserver again with the arguments envtest gave it and
// waits until it is ready.
func (a *apiServerProc) start(ctx context.Context, cfg *rest.Config) error {
	f, err := os.OpenFile(a.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(a.args[0], a.args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); f.Close() }()
	a.cur, a.curDone = cmd, done
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/readyz", nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("kube-apiserver exited: %v (log %s)", err, a.log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver not ready after 90s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// close stops a kube-apiserver this test started.
func (a *apiServerProc) close() {
	if a.cur != nil {
		_ = a.stop()
	}
}

// seedWebhookNamespace creates the namespaces the replicas and the churn
// use, and the seed subnets.
func seedBase(ctx context.Context, env *devenv.Env, namespaces ...string) error {
	for _, ns := range append([]string{namespace}, namespaces...) {
		// The webhook's own may be there already (devenvtest.InstallIdentity).
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !(ns == namespace && apierrors.IsAlreadyExists(err)) {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	return devenv.Seed(ctx, env.Client)
}
