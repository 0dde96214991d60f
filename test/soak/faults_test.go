// Package soak holds the long measurements of make soak: faults under
// churn (an API server restart, one replica's watches cut, a replica
// killed) against three real webhook processes, the startup memory of the
// real binary against a real API server holding a large inventory, and the
// cost of the API-backed reservations. They skip unless IPAMGUARD_SOAK=1.
package soak

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// DurationEnv is how long the churn of TestFaultsUnderChurn runs (default
// 4m); the three faults are spread over it.
const DurationEnv = "IPAMGUARD_SOAK_DURATION"

// heldAddr is held by an IP object that exists for the whole run: every
// admission of another pod asking for it must be refused, by every
// replica, at every moment, synced or not.
const heldAddr = "10.16.200.200"

// convergeTimeout bounds the time a replica's inventory may take to match
// a fresh list after a fault.
const convergeTimeout = 2 * time.Minute

// churn creates and deletes pods (half with a fixed address) and IP
// objects at a steady rate, keeping about window of each.
type churn struct {
	c      client.Client
	window int
	// gate: every write holds it for reading; pause takes it for writing,
	// so no write is in flight while the test compares digests.
	gate sync.RWMutex

	writes, errs atomic.Int64
	mu           sync.Mutex
	lastErrs     []string
}

func (ch *churn) pause()  { ch.gate.Lock() }
func (ch *churn) resume() { ch.gate.Unlock() }

func (ch *churn) note(err error) {
	ch.writes.Add(1)
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err) {
		return
	}
	ch.errs.Add(1)
	ch.mu.Lock()
	if len(ch.lastErrs) < 5 {
		ch.lastErrs = append(ch.lastErrs, err.Error())
	}
	ch.mu.Unlock()
}

func churnNS(i int) string { return fmt.Sprintf("churn-%d", i%3) }

func churnAddr(i int) string {
	// 10.16.32.0 - 10.16.95.255: room for 16k distinct addresses.
	j := i % 16_000
	return fmt.Sprintf("10.16.%d.%d", 32+j/250, 1+j%250)
}

// run does one step per tick until ctx ends: create pod i and IP object i,
// delete those of i-window.
func (ch *churn) run(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ch.gate.RLock()
		ch.step(ctx, i)
		ch.gate.RUnlock()
	}
}

func (ch *churn) step(ctx context.Context, i int) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: churnNS(i), Name: fmt.Sprintf("churn-%d", i)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}}}
	if i%2 == 0 {
		// Pending with a fixed address: held through the inventory.
		pod.Annotations = map[string]string{"ovn.kubernetes.io/ip_address": churnAddr(i + 8_000)}
	}
	ch.note(ch.c.Create(ctx, pod))
	name := fmt.Sprintf("churn-%d", i)
	ip := &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: name + "." + churnNS(i)},
		Spec: kubeovnv1.IPSpec{PodName: name, Namespace: churnNS(i), Subnet: "ovn-default", IPAddress: churnAddr(i), V4IPAddress: churnAddr(i),
			MacAddress: "00:00:00:00:00:01", NodeName: "node-1", PodType: ""}}
	ch.note(ch.c.Create(ctx, ip))
	if i%10 == 5 {
		// An update: the IP object of i-1 moves to another address.
		old := &kubeovnv1.IP{}
		j := i - 1
		if err := ch.c.Get(ctx, client.ObjectKey{Name: fmt.Sprintf("churn-%d.%s", j, churnNS(j))}, old); err == nil {
			old.Spec.IPAddress, old.Spec.V4IPAddress = churnAddr(j+4_000), churnAddr(j+4_000)
			ch.note(ch.c.Update(ctx, old))
		}
	}
	if j := i - ch.window; j >= 0 {
		ch.note(ch.c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: churnNS(j), Name: fmt.Sprintf("churn-%d", j)}},
			client.GracePeriodSeconds(0)))
		ch.note(ch.c.Delete(ctx, &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("churn-%d.%s", j, churnNS(j))}}))
	}
}

// probeStats counts the answers one replica gave to admissions of a pod
// asking for heldAddr.
type probeStats struct {
	refused, errors, admitted atomic.Int64
	mu                        sync.Mutex
	messages                  map[string]int
}

func (p *probeStats) record(v verdict) {
	switch {
	case v.allowed:
		p.admitted.Add(1)
	case !v.transport && strings.Contains(v.message, heldAddr):
		p.refused.Add(1)
		return
	default:
		p.errors.Add(1)
	}
	msg := v.message
	if len(msg) > 120 {
		msg = msg[:120]
	}
	p.mu.Lock()
	p.messages[msg]++
	p.mu.Unlock()
}

func (p *probeStats) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var msgs []string
	for m, n := range p.messages {
		msgs = append(msgs, fmt.Sprintf("%dx %q", n, m))
	}
	sort.Strings(msgs)
	if len(msgs) > 6 {
		msgs = msgs[:6]
	}
	return fmt.Sprintf("%d refused (held), %d errors, %d ADMITTED; other answers: %s",
		p.refused.Load(), p.errors.Load(), p.admitted.Load(), strings.Join(msgs, "; "))
}

// heapSample is go_memstats_heap_inuse_bytes of one replica process.
type heapSample struct {
	at   time.Duration
	run  int
	heap float64
}

func TestFaultsUnderChurn(t *testing.T) {
	skipUnlessSoak(t)
	duration := envDuration(t, DurationEnv, 4*time.Minute)
	env := devenvtest.Start(t, devenv.Options{})
	ctx := t.Context()
	dir := t.TempDir()
	bin := buildWebhook(t, dir)
	if env.WebhookCertDir == "" {
		t.Fatal("devenv gave no webhook serving certificate")
	}
	if err := seedBase(ctx, env, churnNS(0), churnNS(1), churnNS(2)); err != nil {
		t.Fatal(err)
	}
	held := &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "holder.churn-0"},
		Spec: kubeovnv1.IPSpec{PodName: "holder", Namespace: "churn-0", Subnet: "ovn-default", IPAddress: heldAddr, V4IPAddress: heldAddr}}
	if err := env.Client.Create(ctx, held); err != nil {
		t.Fatal(err)
	}
	apiServer := findAPIServer(t, env.Config, dir)
	t.Cleanup(apiServer.close)

	// Replica 2 reaches the API server through a proxy the test can cut,
	// and leads: cutting it takes the leader-only work (the reservations'
	// sweep) away from it too, and it exits, by design, once it cannot
	// renew the leader Lease for 10 s; it is started again (below), and
	// another replica takes over.
	host := strings.TrimSuffix(strings.TrimPrefix(env.Config.Host, "https://"), "/")
	px := newProxy(t, host)
	direct, viaProxy := dir+"/kubeconfig", dir+"/kubeconfig-proxy"
	id := devenvtest.InstallIdentity(t, env, direct)
	kubeconfigVia(t, id, viaProxy, "https://"+px.addr())

	ports := freePorts(t, 9)
	reps := make([]*replica, 3)
	for i := range reps {
		kc := direct
		if i == 2 {
			kc = viaProxy
		}
		reps[i] = &replica{name: fmt.Sprintf("replica-%d", i), bin: bin, kubeconfig: kc, dir: dir,
			webhookPort: ports[3*i], healthPort: ports[3*i+1], metricsPort: ports[3*i+2]}
	}
	reps[2].start(t, env)
	devenvtest.Eventually(t, "replica-2 leads", time.Minute, func() error {
		if v, err := reps[2].gauge(ctx, "ipamguard_leader"); err != nil || v != 1 {
			return fmt.Errorf("ipamguard_leader %v (%v)", v, err)
		}
		return nil
	})
	reps[0].start(t, env)
	reps[1].start(t, env)
	t.Cleanup(func() {
		for _, r := range reps {
			r.kill(syscall.SIGTERM, 20*time.Second)
			if t.Failed() {
				t.Logf("%s log (tail):\n%s", r.name, tail(r.log, 3000))
			}
		}
		if t.Failed() {
			keepLogs(t, dir)
		}
	})
	for _, r := range reps {
		if err := r.waitReady(time.Minute); err != nil {
			t.Fatal(err)
		}
	}

	began := time.Now()
	ch := &churn{c: env.Client, window: 300}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() { ch.run(runCtx, 50*time.Millisecond) })

	hc := devenvtest.APIServerClient(t, env, 5*time.Second)
	stats := make([]*probeStats, len(reps))
	for i, r := range reps {
		stats[i] = &probeStats{messages: map[string]int{}}
		n := 0
		wg.Go(func() {
			every(runCtx, 100*time.Millisecond, func() bool {
				stats[i].record(send(runCtx, hc, r.url(), "churn-1", fmt.Sprintf("intruder-%d", n), heldAddr, n%2 == 0))
				n++
				return true
			})
		})
	}
	var heapMu sync.Mutex
	heaps := make([][]heapSample, len(reps))
	wg.Go(func() {
		every(runCtx, 5*time.Second, func() bool {
			for i, r := range reps {
				if v, err := r.gauge(runCtx, "go_memstats_heap_inuse_bytes"); err == nil {
					r.mu.Lock()
					run := r.runs
					r.mu.Unlock()
					heapMu.Lock()
					heaps[i] = append(heaps[i], heapSample{at: time.Since(began), run: run, heap: v})
					heapMu.Unlock()
				}
			}
			return true
		})
	})

	// As the kubelet restarts a container that exits: a replica exits by
	// design when it leads and cannot renew the leader Lease for 10 s
	// (docs/operations.md), as the proxied replica does when its
	// connections are cut while it leads. manual marks a replica the test
	// itself stops and starts.
	var (
		restartMu sync.Mutex
		restarts  []string
	)
	manual := make([]atomic.Bool, len(reps))
	wg.Go(func() {
		every(runCtx, 200*time.Millisecond, func() bool {
			for i, r := range reps {
				exited, exitErr := r.exited()
				if !exited || manual[i].Load() {
					continue
				}
				last := lastLine(r.log)
				if err := r.launch(t, env); err != nil {
					t.Errorf("restart %s: %v", r.name, err)
					return false
				}
				restartMu.Lock()
				restarts = append(restarts, fmt.Sprintf("%s at %v (%v: %s)", r.name, time.Since(began).Round(time.Second), exitErr, last))
				restartMu.Unlock()
			}
			return true
		})
	})
	defer func() {
		restartMu.Lock()
		defer restartMu.Unlock()
		t.Logf("replicas that exited and were started again, as the kubelet would: %d %v", len(restarts), restarts)
	}()

	// converge pauses the churn and measures, for each replica, the time
	// from since until its inventory matches a fresh list.
	type convergence struct {
		fault string
		took  []time.Duration
	}
	var results []convergence
	converge := func(fault string, since time.Time) {
		t.Helper()
		ch.pause()
		defer ch.resume()
		listed := time.Now()
		want, err := listDigest(ctx, env.Client)
		if err != nil {
			t.Fatalf("%s: fresh list: %v", fault, err)
		}
		listTook := time.Since(listed)
		res := convergence{fault: fault, took: make([]time.Duration, len(reps))}
		last := make([]string, len(reps))
		deadline := time.Now().Add(convergeTimeout)
		for left := len(reps); left > 0; {
			for i, r := range reps {
				if res.took[i] != 0 {
					continue
				}
				got, err := r.digest(ctx)
				if err == nil && got.Synced && got.Digest == want {
					res.took[i] = time.Since(since)
					left--
					continue
				}
				last[i] = fmt.Sprintf("%+v (err %v)", got, err)
			}
			if left == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: inventories did not converge in %v: replicas have %v, a fresh list gives %+v", fault, convergeTimeout, last, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%s: converged to a fresh list (%d subnets, %d IPs, %d holders, %d pending pods, %d namespaces) after %v (the list and its digest took %v of it)",
			fault, want.Subnets, want.IPs, want.Holders, want.PendingPods, want.Namespaces, res.took, listTook.Round(time.Millisecond))
		results = append(results, res)
	}

	slot := duration / 5
	wait := func(until time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(began.Add(until))):
		}
	}

	wait(slot)
	converge("steady churn (no fault)", time.Now())

	// Fault 1: the API server restarts; etcd keeps the data.
	wait(2 * slot)
	excused := make([]string, len(reps))
	for i, r := range reps {
		excused[i] = r.excuseFrom()
	}
	if err := apiServer.stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := apiServer.start(ctx, env.Config); err != nil {
		t.Fatal(err)
	}
	converge("API server restarted (down 3 s)", time.Now())
	for i, r := range reps {
		r.excuseUntilNow(excused[i])
	}

	// Fault 2: replica 2's connections to the API server are cut for 10 s.
	wait(3 * slot)
	px.Sever()
	time.Sleep(10 * time.Second)
	px.Restore()
	converge("replica-2's watches cut for 10 s", time.Now())
	devenvtest.Eventually(t, "one leader after the cut", time.Minute, func() error {
		var leaders []string
		for _, r := range reps {
			if v, err := r.gauge(ctx, "ipamguard_leader"); err == nil && v == 1 {
				leaders = append(leaders, r.name)
			}
		}
		if len(leaders) != 1 {
			return fmt.Errorf("leaders %v", leaders)
		}
		t.Logf("after the cut, %s leads", leaders[0])
		return nil
	})

	// Fault 3: replica 1 is killed and started again.
	wait(4 * slot)
	manual[1].Store(true)
	reps[1].kill(syscall.SIGKILL, 5*time.Second)
	time.Sleep(2 * time.Second)
	restarted := time.Now()
	reps[1].start(t, env)
	manual[1].Store(false)
	if err := reps[1].waitReady(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("replica-1 ready %v after its restart", time.Since(restarted))
	converge("replica-1 killed (down 2 s) and restarted", restarted)

	wait(duration)
	converge("end of run", time.Now())
	stop()
	wg.Wait()

	t.Logf("churn: %d writes in %v (%.0f/s), %d errors %v", ch.writes.Load(), time.Since(began).Round(time.Second),
		float64(ch.writes.Load())/time.Since(began).Seconds(), ch.errs.Load(), ch.lastErrs)
	for i, r := range reps {
		t.Logf("%s, admissions of a pod asking for the held address: %s", r.name, stats[i])
		if stats[i].admitted.Load() > 0 {
			t.Errorf("%s admitted a pod asking for an address an IP object holds", r.name)
		}
		if stats[i].refused.Load() == 0 {
			t.Errorf("%s never refused the held address", r.name)
		}
	}
	for i, r := range reps {
		var line []string
		for _, s := range heaps[i] {
			line = append(line, fmt.Sprintf("%v:%.1f", s.at.Round(time.Second), s.heap/(1<<20)))
		}
		t.Logf("%s heap in use (MiB) over time: %s", r.name, strings.Join(line, " "))
		// Flat: the last samples of the first run of each process are
		// within 50% (plus 8 MiB) of those a minute into it.
		var first []float64
		for _, s := range heaps[i] {
			if s.run == 1 {
				first = append(first, s.heap)
			}
		}
		if len(first) >= 24 {
			early, late := median(first[10:14]), median(first[len(first)-4:])
			t.Logf("%s heap: median %.1f MiB at ~1 min, %.1f MiB at the end of its first run", r.name, early/(1<<20), late/(1<<20))
			if late > 1.5*early+8<<20 {
				t.Errorf("%s heap grew from %.1f to %.1f MiB under steady churn", r.name, early/(1<<20), late/(1<<20))
			}
		}
	}
	for _, res := range results {
		t.Logf("time to converge, %s: %v", res.fault, res.took)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
