package soak

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/test/bench"
	"github.com/ipamguard/ipamguard/test/bench/fixture"
)

// ShippedLimit is the memory limit of the shipped Deployment
// (config/manager, charts/ipamguard values).
const ShippedLimit = 512 << 20

// DefaultMemoryLimitRatio is cmd/webhook's --memory-limit-ratio default.
const DefaultMemoryLimitRatio = 0.7

// HoldEnv, set to a file's path, keeps the seeded API server running after
// the measurement until that file is removed (a kubeconfig is written
// next to it: the webhook's ServiceAccount's, with the install's RBAC, its
// token valid for a day), for profiling the webhook by hand.
const HoldEnv = "IPAMGUARD_SOAK_HOLD"

// RunningPodsEnv overrides the number of running pods seeded besides the
// fixture's pending ones (default 100,000: 110k pods in all).
const RunningPodsEnv = "IPAMGUARD_SOAK_PODS"

// seed creates objs through c, workers at a time; AlreadyExists is fine.
func seed(ctx context.Context, c client.Client, workers int, objs []client.Object) error {
	next := make(chan client.Object)
	var (
		wg    sync.WaitGroup
		first atomic.Pointer[error]
	)
	for range workers {
		wg.Go(func() {
			for o := range next {
				var err error
				for attempt := range 5 {
					err = c.Create(ctx, o)
					if err == nil || apierrors.IsAlreadyExists(err) {
						err = nil
						break
					}
					if !apierrors.IsTooManyRequests(err) && !apierrors.IsServerTimeout(err) && !apierrors.IsTimeout(err) {
						break
					}
					time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
				}
				if err != nil {
					err = fmt.Errorf("create %T %s/%s: %w", o, o.GetNamespace(), o.GetName(), err)
					first.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	for _, o := range objs {
		if first.Load() != nil {
			break
		}
		next <- o
	}
	close(next)
	wg.Wait()
	if e := first.Load(); e != nil {
		return *e
	}
	return nil
}

func clean(o client.Object) client.Object {
	o.SetResourceVersion("")
	o.SetUID("")
	o.SetManagedFields(nil)
	return o
}

// scaleObjects is the fixture of size sz as objects to create, in
// dependency order, with running running pods (metadata as Kube-OVN
// annotates them) besides the fixture's pending pods.
func scaleObjects(sz fixture.Size, running int) [][]client.Object {
	f := fixture.Generate(sz)
	podOf := func(m *metav1.PartialObjectMetadata) client.Object {
		p := &corev1.Pod{ObjectMeta: m.ObjectMeta,
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}}}
		p.OwnerReferences = nil // the ReplicaSet does not exist
		return clean(p)
	}
	var nss, nets, ips, pods []client.Object
	for _, ns := range f.Namespaces {
		nss = append(nss, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name, Labels: ns.Labels}})
	}
	for _, v := range f.VPCs {
		nets = append(nets, clean(v))
	}
	for _, s := range f.Subnets {
		nets = append(nets, clean(s))
	}
	for _, p := range f.IPPools {
		nets = append(nets, clean(p))
	}
	for _, n := range f.Nodes {
		nets = append(nets, clean(n))
	}
	for _, ip := range f.IPs {
		ips = append(ips, clean(ip))
	}
	for _, p := range f.Pods {
		pods = append(pods, podOf(p))
	}
	for _, p := range bench.RunningPods(f, running) {
		pods = append(pods, podOf(&p))
	}
	return [][]client.Object{nss, nets, ips, pods}
}

// TestStartupMemoryAtScale measures the real binary's resident memory
// while it syncs a large inventory from a real API server: the peak
// (VmHWM) must stay under 80% of the shipped limit.
func TestStartupMemoryAtScale(t *testing.T) {
	skipUnlessSoak(t)
	running := envInt(t, RunningPodsEnv, 100_000)
	sz := fixture.Size10k100k
	env := devenvtest.Start(t, devenv.Options{})
	ctx := t.Context()
	dir := t.TempDir()
	bin := buildWebhook(t, dir)
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		t.Fatal(err)
	}

	rc := rest.CopyConfig(env.Config)
	rc.QPS, rc.Burst = -1, 0 // no client-side limit: the API server's fairness protects it
	c, err := client.New(rc, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	total := 0
	for _, batch := range scaleObjects(sz, running) {
		if err := seed(ctx, c, 48, batch); err != nil {
			t.Fatal(err)
		}
		total += len(batch)
	}
	took := time.Since(began)
	t.Logf("seeded %d objects (%s: %d subnets, %d IP objects, %d pending + %d running pods) in %v (%.0f/s)",
		total, sz.Name, sz.Subnets, sz.IPs, sz.PendingPods, running, took.Round(time.Second), float64(total)/took.Seconds())

	kc := dir + "/kubeconfig"
	id := devenvtest.InstallIdentity(t, env, kc)
	if hold := os.Getenv(HoldEnv); hold != "" {
		// Keep the seeded API server for measuring by hand.
		kubeconfigVia(t, id, hold+".kubeconfig", "")
		t.Logf("seeded API server kept until %s is removed; kubeconfig %s.kubeconfig, webhook certificates %s, client CA %s",
			hold, hold, env.WebhookCertDir, env.WebhookClientCAFile)
		defer func() {
			for {
				if _, err := os.Stat(hold); err != nil || ctx.Err() != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
	}
	// As in the Deployment: the default --memory-limit-ratio of the 512 MiB
	// cgroup limit (the child has no cgroup limit, so the test sets what
	// the binary would derive from it).
	ratio := DefaultMemoryLimitRatio
	memLimit := fmt.Sprintf("GOMEMLIMIT=%d", int64(ratio*ShippedLimit))
	for _, run := range []struct {
		name  string
		env   []string
		extra []string
		// bound: the peak must stay under 80 % of the shipped limit.
		bound bool
	}{
		// The shipped flags: the audit on the leader every 5 min.
		{fmt.Sprintf("as the Deployment runs (GOMEMLIMIT %.1f x 512 MiB)", DefaultMemoryLimitRatio), []string{memLimit}, []string{"--audit-interval", "5m"}, true},
		{"without a Go memory limit (GOGC 100 only)", nil, []string{"--audit-interval", "5m"}, false},
	} {
		ports := freePorts(t, 3)
		r := &replica{name: "scale", bin: bin, kubeconfig: kc, dir: dir, env: run.env,
			webhookPort: ports[0], healthPort: ports[1], metricsPort: ports[2], extra: run.extra}
		start := time.Now()
		r.start(t, env)
		pid := r.pid()
		var peakDuringSync uint64
		var readyAfter time.Duration
		for {
			hwm, err := procStatus(pid, "VmHWM")
			if err != nil {
				t.Fatalf("%s: %v (log %s)", run.name, err, tail(r.log, 2000))
			}
			peakDuringSync = hwm
			if r.ready() == nil {
				readyAfter = time.Since(start)
				break
			}
			if time.Since(start) > 10*time.Minute {
				t.Fatalf("%s: not ready after 10 min: %s", run.name, tail(r.log, 2000))
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(30 * time.Second)
		hwm, _ := procStatus(pid, "VmHWM")
		rss, _ := procStatus(pid, "VmRSS")
		heap, _ := r.gauge(ctx, "go_memstats_heap_inuse_bytes")
		d, derr := r.digest(ctx)
		r.kill(syscall.SIGTERM, 20*time.Second)
		t.Logf("%s: ready after %v; peak RSS (VmHWM) %d MiB at ready, %d MiB 30 s later; RSS then %d MiB, heap in use %.0f MiB; inventory %+v (%v)",
			run.name, readyAfter.Round(time.Millisecond), peakDuringSync>>20, hwm>>20, rss>>20, heap/(1<<20), d.Digest, derr)
		if run.bound && float64(hwm) > 0.8*ShippedLimit {
			t.Errorf("%s: peak RSS %d MiB is over 80%% of the shipped limit (%d MiB)", run.name, hwm>>20, ShippedLimit>>20)
		}
	}
}
