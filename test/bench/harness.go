// Package bench measures ipamguard's admission path at scale: handler
// benchmarks from raw AdmissionReview bytes to response bytes (bench_test.go),
// per-request latency percentiles (Percentiles), and memory with the
// informer caches (MeasureMemory). Every measurement runs ipamguard and the
// list-and-scan BASELINE (package baseline) on the same generated fixture.
//
// Nothing here runs in `make test` beyond a quick agreement test: the
// benchmarks only run with -bench, the heavy measurements only with
// IPAMGUARD_BENCH=1. `go run ./hack/bench` (make bench) runs them all.
package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/metrics"
	ipamwebhook "github.com/ipamguard/ipamguard/pkg/webhook"
	"github.com/ipamguard/ipamguard/test/bench/baseline"
	"github.com/ipamguard/ipamguard/test/bench/fixture"
)

// Implementation names, used as the benchmarks' impl= key so benchstat can
// put them side by side (-col /impl).
const (
	ImplIpamguard = "ipamguard"
	ImplBaseline  = "baseline"
)

// Target is a set of webhook endpoints served in-process by the HTTP
// handlers the server runs: ipamguard's through package review (as
// cmd/webhook serves them), the baseline's through controller-runtime's
// admission.Webhook (as Kube-OVN's webhook is served). Each decodes the
// AdmissionReview, calls the handler and encodes the response exactly as
// in the server.
type Target struct {
	Name  string
	paths map[string]http.Handler
}

// NewScheme returns the scheme the webhook binary uses.
func NewScheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := kubeovnv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// IpamguardHandlers returns ipamguard's production HTTP handlers (the
// wiring of Setup) over a store the caller fed, with metrics recorded into
// reg (nil: a private registry), always synced.
func IpamguardHandlers(store *inventory.Store, reg prometheus.Registerer) map[string]http.Handler {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := metrics.New(reg)
	if err != nil {
		panic(err)
	}
	hs := ipamwebhook.HandlersByPath(ipamwebhook.Deps{
		Store:   store,
		Synced:  func() bool { return true },
		Config:  config.NewLive(config.Default()),
		Metrics: m,
		// As deployed with --client-ca-file (docs/operations.md): the
		// measurements include the in-flight reservations.
		CallersVerified: true,
	})
	return ipamwebhook.HTTPHandlers(hs, ctrllog.Log)
}

// WebhookHandlers serves handlers through controller-runtime's
// admission.Webhook, as Kube-OVN's own webhook is served.
func WebhookHandlers(hs map[string]admission.Handler) map[string]http.Handler {
	out := make(map[string]http.Handler, len(hs))
	for p, h := range hs {
		out[p] = &admission.Webhook{Handler: h}
	}
	return out
}

// NewTarget serves the HTTP handlers by path.
func NewTarget(name string, hs map[string]http.Handler) *Target {
	return &Target{Name: name, paths: hs}
}

var jsonHeader = http.Header{"Content-Type": []string{"application/json"}}

// Serve sends one request and leaves the response in w.
func (t *Target) Serve(r fixture.Request, w *Recorder) {
	w.reset()
	h := t.paths[r.Case.Path]
	if h == nil {
		w.code = http.StatusNotFound
		return
	}
	req := &http.Request{
		Method: http.MethodPost, URL: &url.URL{Path: r.Case.Path}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: jsonHeader, Body: io.NopCloser(bytes.NewReader(r.Body)), ContentLength: int64(len(r.Body)),
	}
	h.ServeHTTP(w, req)
}

// Recorder is a reusable http.ResponseWriter.
type Recorder struct {
	header http.Header
	code   int
	Body   bytes.Buffer
}

func (w *Recorder) reset() {
	w.code = 0
	w.Body.Reset()
	if w.header == nil {
		w.header = http.Header{}
	} else {
		clear(w.header)
	}
}

// Header implements http.ResponseWriter.
func (w *Recorder) Header() http.Header { return w.header }

// Write implements http.ResponseWriter.
func (w *Recorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.Body.Write(b)
}

// WriteHeader implements http.ResponseWriter.
func (w *Recorder) WriteHeader(code int) { w.code = code }

// Outcome classifies an AdmissionReview response for uid: "allowed",
// "warned", "denied" or "error" (with the reason).
func Outcome(body []byte, uid string) (string, error) {
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &ar); err != nil {
		return "error", fmt.Errorf("decode response: %w", err)
	}
	r := ar.Response
	switch {
	case r == nil:
		return "error", fmt.Errorf("no response")
	case string(r.UID) != uid:
		return "error", fmt.Errorf("response uid %q, want %q", r.UID, uid)
	case !r.Allowed && r.Result != nil && (r.Result.Code >= 500 || r.Result.Code == 400):
		return "error", fmt.Errorf("code %d: %s", r.Result.Code, r.Result.Message)
	case !r.Allowed:
		return "denied", nil
	case len(r.Warnings) > 0:
		return "warned", nil
	}
	return "allowed", nil
}

// Env is one size's fixture with both implementations ready to serve.
type Env struct {
	Size fixture.Size
	// Fixture is nil in an OursOnly environment.
	Fixture  *fixture.Fixture
	Store    *inventory.Store
	Ours     *Target
	Baseline *Target
	// Requests are Variants distinct requests per case.
	Requests map[string][]fixture.Request
}

// Variants is how many distinct requests of each case are cycled through.
const Variants = 64

var (
	envMu sync.Mutex
	envs  = map[string]*Env{}
)

// SetLogger installs the logger cmd/webhook uses (zap, production
// settings) writing to io.Discard, so that denials pay for their log line
// as in the binary, without terminal I/O.
func SetLogger() {
	loggerOnce.Do(func() { ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard))) })
}

var loggerOnce sync.Once

// OursOnly builds ipamguard's environment alone and drops the fixture's
// typed objects, so that the live heap is what the webhook process holds
// (the Store), not the baseline's cache: the garbage collector's work, and
// with it tail latency, then matches production. Baseline is nil.
func OursOnly(sz fixture.Size) *Env {
	SetLogger()
	f := fixture.Generate(sz)
	store := f.NewStore()
	e := &Env{Size: sz, Store: store, Ours: NewTarget(ImplIpamguard, IpamguardHandlers(store, nil)), Requests: map[string][]fixture.Request{}}
	for _, c := range fixture.Cases() {
		e.Requests[c.Name] = f.Requests(c, Variants)
	}
	runtime.GC()
	return e
}

// EnvFor builds (once per process) the environment of a size.
func EnvFor(sz fixture.Size) *Env {
	SetLogger()
	envMu.Lock()
	defer envMu.Unlock()
	if e := envs[sz.Name]; e != nil {
		return e
	}
	f := fixture.Generate(sz)
	store := f.NewStore()
	e := &Env{
		Size:     sz,
		Fixture:  f,
		Store:    store,
		Ours:     NewTarget(ImplIpamguard, IpamguardHandlers(store, nil)),
		Baseline: NewTarget(ImplBaseline, WebhookHandlers(baseline.Handlers(baseline.NewCache(f)))),
		Requests: map[string][]fixture.Request{},
	}
	for _, c := range fixture.Cases() {
		e.Requests[c.Name] = f.Requests(c, Variants)
	}
	envs[sz.Name] = e
	runtime.GC()
	return e
}

// Target returns the implementation by name.
func (e *Env) Target(impl string) *Target {
	if impl == ImplBaseline {
		return e.Baseline
	}
	return e.Ours
}

// Stats are per-request latencies of one case.
type Stats struct {
	Size, Case, Impl string
	N                int
	Mean, P50, P99   time.Duration
	P999, Max        time.Duration
	AllocsPerOp      float64
	BytesPerOp       float64
	Outcomes         map[string]int
}

// Percentiles times ops individually: warmup ops first, then up to maxOps
// (at least minOps) or until budget is spent.
func Percentiles(e *Env, impl string, c fixture.Case, warmup, minOps, maxOps int, budget time.Duration) Stats {
	t := e.Target(impl)
	reqs := e.Requests[c.Name]
	var w Recorder
	for i := range warmup {
		t.Serve(reqs[i%len(reqs)], &w)
	}
	runtime.GC()
	d := make([]time.Duration, 0, maxOps)
	st := Stats{Size: e.Size.Name, Case: c.Name, Impl: impl, Outcomes: map[string]int{}}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	begin := time.Now()
	for i := 0; i < maxOps && (i < minOps || time.Since(begin) < budget); i++ {
		r := reqs[i%len(reqs)]
		t0 := time.Now()
		t.Serve(r, &w)
		d = append(d, time.Since(t0))
		if i < len(reqs) {
			o, _ := Outcome(w.Body.Bytes(), r.UID)
			st.Outcomes[o]++
		}
	}
	runtime.ReadMemStats(&m1)
	st.N = len(d)
	st.AllocsPerOp = float64(m1.Mallocs-m0.Mallocs) / float64(st.N)
	st.BytesPerOp = float64(m1.TotalAlloc-m0.TotalAlloc) / float64(st.N)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	st.Mean = sum / time.Duration(st.N)
	slices.Sort(d)
	st.P50, st.P99, st.P999, st.Max = Quantile(d, 0.50), Quantile(d, 0.99), Quantile(d, 0.999), d[len(d)-1]
	return st
}

// Quantile returns the q-quantile of sorted durations (nearest rank).
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
