package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/pkg/reservation"
	"github.com/ipamguard/ipamguard/test/bench"
)

// costSample is what one mode measured.
type costSample struct {
	mode                string
	seqFixed, seqPlain  []time.Duration
	concFixed           time.Duration
	concN               int
	reservationCount    float64
	reservationUnder5ms float64
	// concCPU is the CPU time each process (cpuProcs) spent on the
	// concurrent creations.
	concCPU map[string]time.Duration
	// deletes reservations were deleted after the mode's run, at a cost of
	// deleteCPU (the API server's and etcd's CPU time).
	deletes            int
	listCPU, deleteCPU time.Duration
}

// deleteReservations lists the reservation Leases and deletes them, as
// the leader's sweep does (the list unpaginated, by label; each delete
// with the UID and resourceVersion preconditions), by 16 workers, and
// returns how many it deleted and the CPU time the API server, etcd and
// this process (in the sweep's place) spent on the list and on the
// deletes.
func deleteReservations(t *testing.T, c client.Client) (n int, list, del time.Duration) {
	t.Helper()
	ctx := t.Context()
	// The webhook has exited: cpuNow reads this process in its place,
	// and spent counts it once.
	spent := func(a, b map[string]time.Duration) time.Duration {
		return b["kube-apiserver"] - a["kube-apiserver"] + b["etcd"] - a["etcd"] + b["client"] - a["client"]
	}
	cpu0 := cpuNow(t, os.Getpid())
	var leases coordinationv1.LeaseList
	if err := c.List(ctx, &leases, client.InNamespace(namespace), client.MatchingLabels{reservation.Label: "true"}); err != nil {
		t.Fatal(err)
	}
	cpu1 := cpuNow(t, os.Getpid())
	items := make(chan *coordinationv1.Lease, len(leases.Items))
	for i := range leases.Items {
		items <- &leases.Items[i]
	}
	close(items)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 16 {
		wg.Go(func() {
			for le := range items {
				if err := c.Delete(ctx, le, client.Preconditions{UID: &le.UID, ResourceVersion: &le.ResourceVersion}); err != nil {
					failed.Add(1)
					t.Errorf("delete lease %s: %v", le.Name, err)
				}
			}
		})
	}
	wg.Wait()
	cpu2 := cpuNow(t, os.Getpid())
	return len(leases.Items) - int(failed.Load()), spent(cpu0, cpu1), spent(cpu1, cpu2)
}

// cpuProcs are the processes whose CPU time the concurrent phase reports:
// the test itself (the client), the webhook, the API server and etcd.
var cpuProcs = []string{"client", "webhook", "kube-apiserver", "etcd"}

// cpuTime is the user and system CPU time of process pid so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// pid (comm) state ppid ... utime stime: fields 14 and 15.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after comm", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	// USER_HZ is 100 on every Linux the tests run on.
	return time.Duration(u+k) * 10 * time.Millisecond, nil
}

// childByComm is the pid of this process's child named comm.
func childByComm(comm string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	me := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		rp := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[rp+1:])
		if rp < 0 || len(f) < 2 || s[strings.IndexByte(s, '(')+1:rp] != comm || f[1] != me {
			continue
		}
		return pid, nil
	}
	return 0, fmt.Errorf("no child process %q", comm)
}

// cpuNow reads the CPU time of each of cpuProcs.
func cpuNow(t *testing.T, webhookPID int) map[string]time.Duration {
	t.Helper()
	out := map[string]time.Duration{}
	for _, name := range cpuProcs {
		pid := os.Getpid()
		switch name {
		case "webhook":
			pid = webhookPID
		case "kube-apiserver", "etcd":
			var err error
			if pid, err = childByComm(name); err != nil {
				t.Fatal(err)
			}
		}
		d, err := cpuTime(pid)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = d
	}
	return out
}

// cpuSum is the CPU time of all of cpuProcs, in nanoseconds.
func cpuSum(cpu map[string]time.Duration) float64 {
	var sum time.Duration
	for _, d := range cpu {
		sum += d
	}
	return float64(sum)
}

// perPod renders CPU times per creation, by process.
func perPod(cpu map[string]time.Duration, n int) string {
	var b strings.Builder
	var sum time.Duration
	for _, name := range cpuProcs {
		sum += cpu[name]
		fmt.Fprintf(&b, "%s %.2f ms, ", name, float64(cpu[name])/float64(n)/1e6)
	}
	fmt.Fprintf(&b, "all %.2f ms", float64(sum)/float64(n)/1e6)
	return b.String()
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(p * float64(len(s)-1))
	return s[i]
}

// TestReservationCost measures, through the real API server, what the
// API-backed reservations (--reservations=api) cost a pod creation
// against --reservations=off: the latency of one fixed-address pod
// creation at a time (p50, p99), of a pod without a fixed address, and the
// rate of fixed-address creations with many in flight.
func TestReservationCost(t *testing.T) {
	skipUnlessSoak(t)
	seqN, concN, workers := envInt(t, "IPAMGUARD_SOAK_COST_SEQ", 600), envInt(t, "IPAMGUARD_SOAK_COST_CONC", 1500), 16
	// More rounds narrow the medians on a machine shared with other work.
	rounds := envInt(t, "IPAMGUARD_SOAK_COST_ROUNDS", 2)
	// IPAMGUARD_SOAK_COST_BASE_BIN=<webhook binary>: also measure
	// --reservations=api with that binary (mode "api-base"), in every
	// round beside the binary built here, so that two versions are
	// compared under the same load of the machine.
	baseBin := os.Getenv("IPAMGUARD_SOAK_COST_BASE_BIN")
	modes := []string{"off", "api"}
	if baseBin != "" {
		modes = append(modes, "api-base")
	}
	if pods := rounds * len(modes) * (20 + seqN + concN); pods > 127*250 {
		t.Fatalf("%d fixed addresses needed, 10.16.128.0/17 has %d", pods, 127*250)
	}
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	env := devenvtest.Start(t, devenv.Options{WebhookPaths: []string{filepath.Join(root, "config", "webhook")}})
	ctx := t.Context()
	dir := t.TempDir()
	// IPAMGUARD_SOAK_COST_BIN=<webhook binary>: measure that binary
	// instead of building this tree's.
	bin := os.Getenv("IPAMGUARD_SOAK_COST_BIN")
	if bin == "" {
		bin = buildWebhook(t, dir)
	}
	kc := dir + "/kubeconfig"
	devenvtest.InstallIdentity(t, env, kc)
	rc := rest.CopyConfig(env.Config)
	rc.QPS, rc.Burst = -1, 0
	c, err := client.New(rc, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	r := &replica{name: "cost", bin: bin, kubeconfig: kc, dir: dir, webhookPort: env.WebhookPort, healthPort: ports[0], metricsPort: ports[1]}
	// IPAMGUARD_SOAK_COST_PROFILE=<dir>: CPU profiles of the webhook and
	// the API server in round 1, one for the creations one at a time and
	// one for the concurrent ones, written to <dir>/<mode>-<phase>-<process>.pprof.
	profDir := os.Getenv("IPAMGUARD_SOAK_COST_PROFILE")
	// IPAMGUARD_SOAK_COST_OUT=<file>: the figures as JSON
	// (bench.ReservationCost), for make bench.
	pprofPort := ports[2]
	profile := func(round int, mode, phase string, secs int) (wait func()) {
		if profDir == "" || round != 0 {
			return func() {}
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			saveProfile(ctx, t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", pprofPort, secs),
				filepath.Join(profDir, mode+"-"+phase+"-webhook.pprof"))
		})
		wg.Go(func() {
			hc, err := rest.HTTPClientFor(env.Config)
			if err != nil {
				t.Error(err)
				return
			}
			saveProfile(ctx, t, hc, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimSuffix(env.Config.Host, "/"), secs),
				filepath.Join(profDir, mode+"-"+phase+"-apiserver.pprof"))
		})
		return wg.Wait
	}
	t.Cleanup(func() { r.kill(syscall.SIGTERM, 20*time.Second) })

	next := 0
	addr := func() string {
		// 10.16.128.1 - 10.16.255.250: distinct for every pod of the run.
		next++
		return fmt.Sprintf("10.16.%d.%d", 128+next/250, 1+next%250)
	}
	var seq atomic.Int64
	create := func(fixed string) (time.Duration, error) {
		// A name of its own, not generateName: a request the client
		// retries (the API server answered 429 or 5xx with Retry-After)
		// is then the same pod, which its own reservation admits.
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "cost", Name: fmt.Sprintf("p-%d", seq.Add(1))},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}}}
		if fixed != "" {
			p.Annotations = map[string]string{"ovn.kubernetes.io/ip_address": fixed}
		}
		began := time.Now()
		err := c.Create(ctx, p)
		return time.Since(began), err
	}
	var samples []*costSample
	for round := range rounds {
		// The modes take turns at going first: the one after another
		// finds more pods in the caches (nothing deletes them) and a
		// warmer machine.
		order := slices.Clone(modes)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, mode := range order {
			r.bin = bin
			if mode == "api-base" {
				r.bin = baseBin
			}
			r.extra = []string{"--reservations", strings.TrimSuffix(mode, "-base")}
			if profDir != "" {
				r.extra = append(r.extra, "--pprof-bind-address", fmt.Sprintf("127.0.0.1:%d", pprofPort))
			}
			r.start(t, env)
			if err := r.waitReady(time.Minute); err != nil {
				t.Fatal(err)
			}
			if len(samples) == 0 {
				// The Subnet webhooks judge the seed: the replica first.
				if err := seedBase(ctx, env, "cost"); err != nil {
					t.Fatal(err)
				}
			}
			s := &costSample{mode: mode, concN: concN}
			// Warm up connections and caches.
			for range 20 {
				if _, err := create(addr()); err != nil {
					t.Fatalf("%s: warm-up: %v", mode, err)
				}
			}
			var seqFails []error
			waitProfile := profile(round, mode, "seq", 5)
			for range seqN {
				d, err := create(addr())
				if err != nil {
					seqFails = append(seqFails, err)
				} else {
					s.seqFixed = append(s.seqFixed, d)
				}
				d, err = create("")
				if err != nil {
					seqFails = append(seqFails, err)
				} else {
					s.seqPlain = append(s.seqPlain, d)
				}
			}
			waitProfile()
			if mode != "off" {
				// The time of the Lease calls as the webhook measures
				// it, for the creations one at a time (and the
				// warm-up) only: the process started with this mode.
				t.Logf("round %d, %s, one at a time: ipamguard_reservation_duration_seconds{result=granted}: %s",
					round+1, mode, bucketSummary(ctx, t, r, "ipamguard_reservation_duration_seconds", `result="granted"`))
			}
			if len(seqFails) > 0 {
				t.Errorf("%s: %d of %d creations one at a time failed, first: %v", mode, len(seqFails), 2*seqN, seqFails[0])
			}
			addrs := make(chan string, concN)
			for range concN {
				addrs <- addr()
			}
			close(addrs)
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				fails []error
			)
			waitProfile = profile(round, mode, "conc", 3)
			cpu0 := cpuNow(t, r.pid())
			began := time.Now()
			for range workers {
				wg.Go(func() {
					for a := range addrs {
						if _, err := create(a); err != nil {
							mu.Lock()
							fails = append(fails, err)
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			s.concFixed = time.Since(began)
			s.concCPU = cpuNow(t, r.pid())
			for name, d := range cpu0 {
				s.concCPU[name] -= d
			}
			waitProfile()
			if len(fails) > 0 {
				t.Errorf("%s: %d of %d concurrent creations failed, first: %v", mode, len(fails), concN, fails[0])
			}
			if mode != "off" {
				s.reservationCount, s.reservationUnder5ms = histogram(ctx, t, r, "ipamguard_reservation_duration_seconds", `result="granted"`, "0.005")
			}
			r.kill(syscall.SIGTERM, 20*time.Second)
			if mode != "off" {
				// Every reservation lapses at its TTL and the leader's
				// sweep deletes it: done here, at once, so that the next
				// mode does not pay for this one's deletes in its window.
				// What a delete costs is measured: it is part of a
				// reservation's cost in a steady state.
				s.deletes, s.listCPU, s.deleteCPU = deleteReservations(t, c)
			}
			samples = append(samples, s)
			t.Logf("round %d, --reservations=%s: fixed-address pod one at a time p50 %v p99 %v; pod without one p50 %v p99 %v; %d fixed-address pods by %d workers in %v (%.0f/s)",
				round+1, mode, pct(s.seqFixed, .5), pct(s.seqFixed, .99), pct(s.seqPlain, .5), pct(s.seqPlain, .99),
				concN, workers, s.concFixed.Round(time.Millisecond), float64(concN)/s.concFixed.Seconds())
			t.Logf("round %d, --reservations=%s: CPU per concurrent creation: %s", round+1, mode, perPod(s.concCPU, concN))
			if mode != "off" {
				t.Logf("round %d, %s: ipamguard_reservation_duration_seconds{result=granted}: %.0f admissions, %.1f%% within 5 ms",
					round+1, mode, s.reservationCount, 100*s.reservationUnder5ms/max(s.reservationCount, 1))
			}
		}
	}
	merged := map[string]*costSample{}
	for _, s := range samples {
		m := merged[s.mode]
		if m == nil {
			m = &costSample{mode: s.mode}
			merged[s.mode] = m
		}
		m.seqFixed = append(m.seqFixed, s.seqFixed...)
		m.seqPlain = append(m.seqPlain, s.seqPlain...)
		m.concFixed += s.concFixed
		m.deletes += s.deletes
		m.deleteCPU += s.deleteCPU
		m.listCPU += s.listCPU
		if m.concCPU == nil {
			m.concCPU = map[string]time.Duration{}
		}
		for name, d := range s.concCPU {
			m.concCPU[name] += d
		}
		m.concN += s.concN
		m.reservationCount += s.reservationCount
		m.reservationUnder5ms += s.reservationUnder5ms
	}
	off, api := merged["off"], merged["api"]
	rateOff, rateAPI := float64(off.concN)/off.concFixed.Seconds(), float64(api.concN)/api.concFixed.Seconds()
	rep := bench.ReservationCost{Rounds: rounds, OneAtATime: seqN, Concurrent: concN, Workers: workers,
		AddedP50: pct(api.seqFixed, .5) - pct(off.seqFixed, .5), AddedP99: pct(api.seqFixed, .99) - pct(off.seqFixed, .99),
		PlainP50:       map[string]time.Duration{"off": pct(off.seqPlain, .5), "api": pct(api.seqPlain, .5)},
		PlainP99:       map[string]time.Duration{"off": pct(off.seqPlain, .99), "api": pct(api.seqPlain, .99)},
		Rate:           map[string]float64{"off": rateOff, "api": rateAPI},
		CPUPerCreation: map[string]map[string]float64{},
		Within5ms:      api.reservationUnder5ms / max(api.reservationCount, 1)}
	for _, m := range []*costSample{off, api} {
		per := map[string]float64{"all": cpuSum(m.concCPU) / float64(m.concN) / 1e6}
		for name, d := range m.concCPU {
			per[name] = float64(d) / float64(m.concN) / 1e6
		}
		rep.CPUPerCreation[m.mode] = per
	}
	t.Logf("added latency of a fixed-address pod creation (api - off): p50 %v, p99 %v; a pod without a fixed address: p50 %v vs %v, p99 %v vs %v",
		pct(api.seqFixed, .5)-pct(off.seqFixed, .5), pct(api.seqFixed, .99)-pct(off.seqFixed, .99),
		pct(api.seqPlain, .5), pct(off.seqPlain, .5), pct(api.seqPlain, .99), pct(off.seqPlain, .99))
	t.Logf("rate of fixed-address pod creations, all rounds together: %.0f/s with reservations, %.0f/s without: %.0f%%", rateAPI, rateOff, 100*rateAPI/rateOff)
	// The machine's speed drifts between rounds (two shared cores): each
	// round's modes ran minutes apart at most, so the ratio within a round
	// is the paired figure, and the median over rounds the one reported.
	for _, mode := range modes[1:] {
		var ratios []float64
		for i := 0; i+len(modes) <= len(samples); i += len(modes) {
			var o, a *costSample
			for _, s := range samples[i : i+len(modes)] {
				switch s.mode {
				case "off":
					o = s
				case mode:
					a = s
				}
			}
			ratios = append(ratios, o.concFixed.Seconds()/a.concFixed.Seconds()*float64(a.concN)/float64(o.concN))
		}
		var b strings.Builder
		for _, r := range ratios {
			fmt.Fprintf(&b, " %.0f%%", 100*r)
		}
		t.Logf("rate with reservations (%s) against without, per round:%s; median %.0f%%", mode, b.String(), 100*median(ratios))
		if mode == "api" {
			rep.RatioPerRound, rep.RatioMedian = ratios, median(ratios)
		}
	}
	for _, m := range []*costSample{off, api, merged["api-base"]} {
		if m != nil {
			t.Logf("CPU per concurrent creation, %s: %s", m.mode, perPod(m.concCPU, m.concN))
		}
	}
	if api.deletes > 0 {
		// In a steady state every reservation is deleted once: its cost
		// is the creation's and the delete's.
		// The sweep lists every live Lease each CleanupInterval (10 s)
		// for its TTL (60 s): six times.
		const lists = 6
		del := float64(api.deleteCPU) / float64(api.deletes) / 1e6
		list := float64(api.listCPU) / float64(api.deletes) / 1e6
		offAll, apiAll := cpuSum(off.concCPU)/float64(off.concN)/1e6, cpuSum(api.concCPU)/float64(api.concN)/1e6
		t.Logf("a reservation's delete by the leader's sweep: %.2f ms of CPU (API server, etcd, client; %d deletes), its place in the sweep's lists %d x %.3f ms; "+
			"CPU per fixed-address pod with both %.2f ms against %.2f ms without reservations: %.0f%%",
			del, api.deletes, lists, list, apiAll+del+lists*list, offAll, 100*offAll/(apiAll+del+lists*list))
		rep.DeleteCPU, rep.ListCPU, rep.SteadyRatio = del, lists*list, offAll/(apiAll+del+lists*list)
	}
	if out := os.Getenv("IPAMGUARD_SOAK_COST_OUT"); out != "" {
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("reservation time (histogram, granted): %.0f admissions, %.1f%% within 5 ms", api.reservationCount, 100*api.reservationUnder5ms/max(api.reservationCount, 1))
	if base := merged["api-base"]; base != nil {
		rateBase := float64(base.concN) / base.concFixed.Seconds()
		t.Logf("with %s (api-base): added latency p50 %v, p99 %v; a pod without a fixed address p50 %v, p99 %v; rate %.0f/s: %.0f%%; reservation time %.1f%% within 5 ms",
			baseBin, pct(base.seqFixed, .5)-pct(off.seqFixed, .5), pct(base.seqFixed, .99)-pct(off.seqFixed, .99),
			pct(base.seqPlain, .5), pct(base.seqPlain, .99), rateBase, 100*rateBase/rateOff, 100*base.reservationUnder5ms/max(base.reservationCount, 1))
	}
}

// saveProfile fetches a profile from url with hc into path.
func saveProfile(ctx context.Context, t *testing.T, hc *http.Client, url, path string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Error(err)
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Errorf("profile %s: %v", url, err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("profile %s: %v %s", url, err, resp.Status)
		return
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Error(err)
	}
}

// bucketSummary describes one series of a histogram from r's /metrics:
// its count and the share of it within each bucket bound up to 10 ms.
func bucketSummary(ctx context.Context, t *testing.T, r *replica, name, labels string) string {
	t.Helper()
	count, err := r.gauge(ctx, name+"_count{"+labels+"}")
	if err != nil {
		t.Error(err)
		return err.Error()
	}
	out := fmt.Sprintf("%.0f admissions", count)
	for _, le := range []string{"0.001", "0.002", "0.003", "0.005", "0.0075", "0.01"} {
		under, err := r.gauge(ctx, name+"_bucket{"+labels+`,le="`+le+`"}`)
		if err != nil {
			continue
		}
		out += fmt.Sprintf(", %.1f%% <= %s s", 100*under/max(count, 1), le)
	}
	return out
}

// histogram reads the count and the cumulative count at bucket le of one
// series of a histogram from r's /metrics.
func histogram(ctx context.Context, t *testing.T, r *replica, name, labels, le string) (count, under float64) {
	t.Helper()
	var err error
	count, err = r.gauge(ctx, name+"_count{"+labels+"}")
	if err != nil {
		t.Fatal(err)
	}
	under, err = r.gauge(ctx, name+"_bucket{"+labels+`,le="`+le+`"}`)
	if err != nil && !strings.Contains(err.Error(), "not in") {
		t.Fatal(err)
	}
	return count, under
}
