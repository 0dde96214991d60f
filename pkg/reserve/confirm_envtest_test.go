package reserve_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/internal/reservationtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/reserve"
	"github.com/ipamguard/ipamguard/pkg/validate"
	"github.com/ipamguard/ipamguard/pkg/webhook"
)

// The confirmation tests run against a real API server, with the webhook's
// Pod handlers served in this process WITHOUT caller verification (as the
// shipped install runs) and registered with the API server, so pods
// created through it are judged with confirmed API reservations.

const (
	leaseNS = "ipamguard-system"
	podNS   = "apps"
	subnet  = "ovn-default"
	ipKey   = "ovn.kubernetes.io/ip_address"
)

// confirmSuite is the shared control plane and the webhook served on it.
type confirmSuite struct {
	env  *devenv.Env
	deps webhook.Deps
	// events are the served webhook's reservation events.
	events *counter
}

var shared = devenvtest.NewShared(devenv.Options{WebhookPaths: []string{webhookConfigDir()}}, setupConfirmSuite)

func TestMain(m *testing.M) { devenvtest.Main(m, shared) }

func webhookConfigDir() string {
	root, err := devenv.RepoRoot()
	if err != nil {
		return filepath.Join("config", "webhook")
	}
	return filepath.Join(root, "config", "webhook")
}

// counter counts reservation events; safe for concurrent use.
type counter struct {
	mu sync.Mutex
	m  map[string]int
}

func newCounter() *counter { return &counter{m: map[string]int{}} }

func (c *counter) observe(ev string) {
	c.mu.Lock()
	c.m[ev]++
	c.mu.Unlock()
}

func (c *counter) get(ev string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[ev]
}

func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.m)
}

// setupConfirmSuite serves the webhook's handlers where the API server
// calls them, over TLS without client certificates, with API reservations
// that confirm their holders (the wiring Setup builds without
// --client-ca-file). The inventory is fed by hand: one subnet and the
// test namespaces; the race is in the reservations.
func setupConfirmSuite(ctx context.Context, env *devenv.Env) (*confirmSuite, func() error, error) {
	for _, ns := range []string{leaseNS, podNS} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return nil, nil, err
		}
	}
	store := inventory.New("ovn-cluster")
	store.UpsertSubnet(&kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: subnet},
		Spec: kubeovnv1.SubnetSpec{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Vpc: "ovn-cluster"}})
	store.UpsertNamespace(&metav1.ObjectMeta{Name: podNS})
	s := &confirmSuite{env: env, events: newCounter()}
	s.deps = webhook.Deps{Store: store, Synced: func() bool { return true }, Config: config.NewLive(config.Default())}
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		return nil, nil, err
	}
	s.deps.Reservations = &reserve.Leases{Client: c, Namespace: leaseNS, Observe: s.events.observe,
		Confirm: &reserve.Confirm{Requests: s.deps.PodRequestsAddress}}
	mux := http.NewServeMux()
	for path, h := range webhook.HTTPHandlers(webhook.HandlersByPath(s.deps), logr.Discard()) {
		mux.Handle(path, h)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(env.WebhookCertDir, "tls.crt"), filepath.Join(env.WebhookCertDir, "tls.key"))
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(env.WebhookHost, strconv.Itoa(env.WebhookPort)))
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	stop := func() error {
		if err := srv.Close(); err != nil {
			return err
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	return s, stop, nil
}

// useSuite returns the shared suite; when t ends, the pods and Leases it
// left are deleted, so the next test (or -count run) starts clean.
func useSuite(t *testing.T) *confirmSuite {
	t.Helper()
	s := shared.Get(t)
	t.Cleanup(func() {
		ctx := context.Background()
		// Pods bound to no node are deleted at once.
		if err := s.env.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(podNS)); err != nil {
			t.Errorf("delete pods: %v", err)
		}
		if err := s.env.Client.DeleteAllOf(ctx, &coordinationv1.Lease{}, client.InNamespace(leaseNS)); err != nil {
			t.Errorf("delete leases: %v", err)
		}
	})
	return s
}

// leases returns Leases confirming holders within window, reading and
// writing through a client of their own, counting into a new counter.
func (s *confirmSuite) leases(t *testing.T, window time.Duration) (*reserve.Leases, *counter) {
	t.Helper()
	c, err := client.New(s.env.Config, client.Options{Scheme: s.env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ev := newCounter()
	l := &reserve.Leases{Client: c, Namespace: leaseNS, Observe: ev.observe,
		Confirm: &reserve.Confirm{Requests: s.deps.PodRequestsAddress, Window: window}}
	// As the webhook does at its start: the windows these tests time
	// must not hold the client's discovery of Leases.
	if err := l.Warm(); err != nil {
		t.Fatal(err)
	}
	return l, ev
}

// requester is one admission as the engine judges it: refused when
// another owner holds the claim, granted otherwise (unless dry).
type requester struct {
	name, uid string
	dry       bool
}

// judge runs one admission of r for addr through l and reports whether it
// was granted and whom it found holding the address.
func judge(l *reserve.Leases, r requester, addr string) (granted bool, holder string, err error) {
	c := validate.Claim{Subnet: subnet, Addr: netip.MustParseAddr(addr)}
	err = l.Judge(context.Background(), func(held validate.Reservations) reserve.Grant {
		holder, granted = "", false
		if hns, howner, ok := held.Holder(c.Subnet, c.Addr); ok && (hns != podNS || howner != r.name) {
			holder = hns + "/" + howner
			return reserve.Grant{}
		}
		if r.dry {
			return reserve.Grant{}
		}
		granted = true
		return reserve.Grant{Claims: []validate.Claim{c}, Namespace: podNS, Owner: r.name, Pod: r.name, PodUID: r.uid, RequestUID: "req-" + r.uid}
	})
	return granted, holder, err
}

func (s *confirmSuite) lease(t *testing.T, addr string) *coordinationv1.Lease {
	t.Helper()
	le := &coordinationv1.Lease{}
	err := s.env.Client.Get(context.Background(), client.ObjectKey{Namespace: leaseNS, Name: reserve.LeaseName(subnet, netip.MustParseAddr(addr))}, le)
	if err != nil {
		t.Fatalf("lease of %s: %v", addr, err)
	}
	return le
}

// createPod creates a pod through the API server (the webhook judges the
// pods with a fixed address, and reserves it for them) and returns its
// UID.
func (s *confirmSuite) createPod(t *testing.T, name string, ann map[string]string) types.UID {
	t.Helper()
	p := newPod(name, ann)
	if err := s.env.Client.Create(context.Background(), p); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	return p.UID
}

func newPod(name string, ann map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: podNS, Name: name, Annotations: ann},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
	}
}

// A forged admission (a pod that never exists) reserves an address; a real
// pod asking for it next waits until the reservation is one window old,
// then takes it over, counted as unconfirmed_taken_over. A forged
// reservation already older than the window is taken over at once.
func TestForgedReservationDelaysByAtMostTheWindow(t *testing.T) {
	s := useSuite(t)
	const w = 400 * time.Millisecond
	l, ev := s.leases(t, w)
	const addr = "10.16.1.1"
	if granted, _, err := judge(l, requester{name: "ghost", uid: "uid-ghost"}, addr); err != nil || !granted {
		t.Fatalf("forged admission: granted %v, err %v", granted, err)
	}
	began := time.Now()
	granted, holder, err := judge(l, requester{name: "web", uid: "uid-web"}, addr)
	took := time.Since(began)
	if err != nil || !granted || holder != "" {
		t.Fatalf("real pod after a forged reservation: granted %v, holder %q, err %v", granted, holder, err)
	}
	if took < w-50*time.Millisecond || took > w+500*time.Millisecond {
		t.Errorf("the real pod was admitted after %v, want about the window %v", took, w)
	}
	if le := s.lease(t, addr); reservationtest.Fields(t, le).Pod != "web" || reservationtest.Fields(t, le).PodUID != "uid-web" {
		t.Errorf("lease after takeover: %v", le.Annotations)
	}
	if ev.get(reserve.EventUnconfirmedTakenOver) != 1 || ev.get(reserve.EventConfirmed) != 0 || ev.get(reserve.EventRefused) != 0 {
		t.Errorf("events %v: want one unconfirmed_taken_over, nothing confirmed or refused", ev)
	}
	t.Logf("admitted %v after the forged reservation (window %v)", took, w)

	// Older than the window and the clock-skew allowance: taken over at
	// once.
	const oldAddr = "10.16.1.2"
	old := l.Lease(validate.Claim{Subnet: subnet, Addr: netip.MustParseAddr(oldAddr)},
		reserve.Grant{Namespace: podNS, Owner: "ghost", Pod: "ghost", PodUID: "uid-ghost"}, time.Now().Add(-w-reserve.ClockSkewAllowance-time.Second))
	if err := s.env.Client.Create(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	if granted, _, err := judge(l, requester{name: "web", uid: "uid-web"}, oldAddr); err != nil || !granted {
		t.Fatalf("real pod after an old forged reservation: granted %v, err %v", granted, err)
	}
	if took := time.Since(began); took > w/2 {
		t.Errorf("an old forged reservation delayed the real pod by %v", took)
	}
	if ev.get(reserve.EventUnconfirmedTakenOver) != 2 {
		t.Errorf("events %v: want two unconfirmed_taken_over", ev)
	}
}

// A forged reservation naming a real pod (its name and UID) that does not
// ask for the address is not confirmed: the next pod takes it over once
// the window has passed (not at once: the reading replica's inventory may
// lag behind the pod's). One naming a real pod that asks for the address
// is that pod's: confirmed, the next pod is refused at once.
func TestReservationConfirmedOnlyByAPodAskingForTheAddress(t *testing.T) {
	s := useSuite(t)
	const w = 800 * time.Millisecond
	l, ev := s.leases(t, w)
	const addr = "10.16.2.1"

	other := s.createPod(t, "db", map[string]string{"app": "db"})
	if granted, _, err := judge(l, requester{name: "db", uid: string(other)}, addr); err != nil || !granted {
		t.Fatalf("forged admission naming pod db: granted %v, err %v", granted, err)
	}
	began := time.Now()
	if granted, holder, err := judge(l, requester{name: "web", uid: "uid-web"}, addr); err != nil || !granted {
		t.Fatalf("real pod after a reservation naming pod db: granted %v, holder %q, err %v", granted, holder, err)
	}
	if took := time.Since(began); took < w-50*time.Millisecond || took > w+500*time.Millisecond {
		t.Errorf("a reservation naming a pod that does not ask for the address delayed the next by %v, want about the window %v", took, w)
	}
	if ev.get(reserve.EventUnconfirmedTakenOver) != 1 {
		t.Errorf("events %v: want one unconfirmed_taken_over", ev)
	}

	// Another address of the same subnet is not the reserved one either.
	const addr2 = "10.16.2.2"
	elsewhere := s.createPod(t, "cache", map[string]string{ipKey: "10.16.2.3"})
	if granted, _, err := judge(l, requester{name: "cache", uid: string(elsewhere)}, addr2); err != nil || !granted {
		t.Fatal(granted, err)
	}
	if granted, _, err := judge(l, requester{name: "web-2", uid: "uid-web-2"}, addr2); err != nil || !granted {
		t.Fatalf("real pod after a reservation naming a pod asking for another address: granted %v, err %v", granted, err)
	}

	// The pod that asks for it holds it.
	const addr3 = "10.16.2.4"
	holder := s.createPod(t, "api", map[string]string{ipKey: addr3})
	if granted, _, err := judge(l, requester{name: "api", uid: string(holder)}, addr3); err != nil || !granted {
		t.Fatal(granted, err)
	}
	began = time.Now()
	granted, by, err := judge(l, requester{name: "web-3", uid: "uid-web-3"}, addr3)
	if err != nil || granted || by != podNS+"/api" {
		t.Fatalf("pod after a confirmed reservation: granted %v, holder %q, err %v", granted, by, err)
	}
	if took := time.Since(began); took > w/2 {
		t.Errorf("the refusal took %v: a confirmed holder needs no wait", took)
	}
	if ev.get(reserve.EventConfirmed) != 1 || ev.get(reserve.EventRefused) != 1 {
		t.Errorf("events %v: want one confirmed, one refused", ev)
	}
}

// The race the confirmation must keep: pod A is admitted (its reservation
// written) and persisted a moment later, within the window; pod B, judged
// in between, waits for A's pod and is refused once it appears. A is
// created through the API server (the webhook reserves its address with
// its final UID); B's reads of it find nothing for its first 200 ms, as if
// A were still in flight.
func TestInFlightHolderIsWaitedFor(t *testing.T) {
	s := useSuite(t)
	const w, inFlight = time.Second, 200 * time.Millisecond
	l, ev := s.leases(t, w)
	const addr = "10.16.3.1"
	a := newPod("racer-a", map[string]string{ipKey: addr})
	if err := s.env.Client.Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got := reservationtest.Fields(t, s.lease(t, addr)).PodUID; got != string(a.UID) {
		t.Fatalf("pod A's reservation records UID %q, want %q", got, a.UID)
	}
	began := time.Now()
	l.Confirm.Pods = hidden{Reader: l.Client, name: a.Name, until: began.Add(inFlight)}
	granted, holder, err := judge(l, requester{name: "racer-b", uid: "uid-b"}, addr)
	took := time.Since(began)
	if err != nil || granted || holder != podNS+"/racer-a" {
		t.Fatalf("pod B while A was in flight: granted %v, holder %q, err %v (after %v)", granted, holder, err, took)
	}
	if took < inFlight || took > w {
		t.Errorf("pod B refused after %v: want once A appeared (%v), within the window %v", took, inFlight, w)
	}
	if ev.get(reserve.EventConfirmed) != 1 || ev.get(reserve.EventUnconfirmedTakenOver) != 0 {
		t.Errorf("events %v: want one confirmed, no takeover", ev)
	}
}

// hidden reads through Reader, except that pod name does not exist until
// the time until: a pod still in flight.
type hidden struct {
	client.Reader
	name  string
	until time.Time
}

// Get implements client.Reader.
func (h hidden) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if key.Name == h.name && time.Now().Before(h.until) {
		return apierrors.NewNotFound(corev1.Resource("pods"), key.Name)
	}
	return h.Reader.Get(ctx, key, obj, opts...)
}

// The holder's retries are granted; a forged request naming the holder's
// owner with another UID is granted (it is the owner's name) but does not
// relabel the confirmed holder's reservation, so others stay refused.
func TestSameOwnerRetry(t *testing.T) {
	s := useSuite(t)
	l, _ := s.leases(t, time.Second)
	const addr = "10.16.4.1"
	uid := s.createPod(t, "keeper", map[string]string{ipKey: addr})
	for i := range 2 {
		if granted, _, err := judge(l, requester{name: "keeper", uid: string(uid)}, addr); err != nil || !granted {
			t.Fatalf("attempt %d: granted %v, err %v", i, granted, err)
		}
	}
	if granted, _, err := judge(l, requester{name: "keeper", uid: "forged"}, addr); err != nil || !granted {
		t.Fatalf("same owner, another UID: granted %v, err %v", granted, err)
	}
	if got := reservationtest.Fields(t, s.lease(t, addr)).PodUID; got != string(uid) {
		t.Fatalf("the confirmed holder's reservation was relabelled to UID %q", got)
	}
	if granted, holder, err := judge(l, requester{name: "other", uid: "uid-other"}, addr); err != nil || granted || holder != podNS+"/keeper" {
		t.Fatalf("another pod: granted %v, holder %q, err %v", granted, holder, err)
	}
}

// Dry runs write nothing, and are answered as the real request would be
// at that moment: refused by a confirmed holder or a reservation still in
// its window, admitted past a holder that would be taken over.
func TestDryRunWritesNothing(t *testing.T) {
	s := useSuite(t)
	const w = 500 * time.Millisecond
	l, ev := s.leases(t, w)
	const free, young, old = "10.16.5.1", "10.16.5.2", "10.16.5.3"
	dry := requester{name: "dry", uid: "uid-dry", dry: true}
	if granted, holder, err := judge(l, dry, free); err != nil || holder != "" {
		t.Fatalf("dry run on a free address: granted %v, holder %q, err %v", granted, holder, err)
	}
	if err := s.env.Client.Get(context.Background(), client.ObjectKey{Namespace: leaseNS, Name: reserve.LeaseName(subnet, netip.MustParseAddr(free))},
		&coordinationv1.Lease{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a dry run left a lease: %v", err)
	}
	if _, _, err := judge(l, requester{name: "ghost", uid: "uid-ghost"}, young); err != nil {
		t.Fatal(err)
	}
	if _, holder, err := judge(l, dry, young); err != nil || holder != podNS+"/ghost" {
		t.Fatalf("dry run on a reservation in its window: holder %q, err %v", holder, err)
	}
	stale := l.Lease(validate.Claim{Subnet: subnet, Addr: netip.MustParseAddr(old)},
		reserve.Grant{Namespace: podNS, Owner: "ghost", Pod: "ghost", PodUID: "uid-ghost"}, time.Now().Add(-w-reserve.ClockSkewAllowance-time.Second))
	if err := s.env.Client.Create(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	if _, holder, err := judge(l, dry, old); err != nil || holder != "" {
		t.Fatalf("dry run on an unconfirmed reservation past its window: holder %q, err %v", holder, err)
	}
	if got := s.lease(t, old); got.ResourceVersion != stale.ResourceVersion {
		t.Fatalf("a dry run rewrote the reservation of %s", old)
	}
	if ev.get(reserve.EventCreated) != 1 || ev.get(reserve.EventUnconfirmedTakenOver) != 0 {
		t.Fatalf("events %v: the dry runs wrote", ev)
	}
}

// Real pods with one fixed address created at once through the API
// server, which calls the webhook (callers not verified, reservations
// confirmed): exactly one is persisted, every round. Then a forged
// admission request sent straight to the webhook reserves an address; the
// real pod asking for it is created all the same, at most a window later.
func TestConcurrentCreatesThroughTheAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	const rounds, perRound = 10, 10
	for round := range rounds {
		addr := fmt.Sprintf("10.16.6.%d", round+1)
		errs := make([]error, perRound)
		var wg sync.WaitGroup
		for i := range perRound {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.env.Client.Create(ctx, newPod(fmt.Sprintf("r%d-p%d", round, i), map[string]string{ipKey: addr}))
			}()
		}
		wg.Wait()
		created := 0
		for i, err := range errs {
			switch {
			case err == nil:
				created++
			case apierrors.IsInvalid(err) && strings.Contains(err.Error(), "admitted moments ago"):
			default:
				t.Errorf("round %d pod %d: %v", round, i, err)
			}
		}
		if created != 1 {
			t.Fatalf("round %d: %d of %d pods with %s created, want exactly 1 (events %v)", round, created, perRound, addr, s.events)
		}
	}
	if s.events.get(reserve.EventConfirmed) == 0 {
		t.Errorf("events %v: no holder was confirmed", s.events)
	}
	t.Logf("%d rounds of %d concurrent creates: one pod each; events %v", rounds, perRound, s.events)

	t.Run("one forged request delays the real pod, never refuses it", func(t *testing.T) {
		const addr = "10.16.6.100"
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a forger does not check
		url := fmt.Sprintf("https://%s%s", net.JoinHostPort(s.env.WebhookHost, strconv.Itoa(s.env.WebhookPort)), webhook.PodPath)
		if ok, msg := forge(t, hc, url, "ghost", addr); !ok {
			t.Fatalf("forged request: %s", msg)
		}
		_ = s.lease(t, addr) // it did reserve
		began := time.Now()
		if err := s.env.Client.Create(ctx, newPod("real", map[string]string{ipKey: addr})); err != nil {
			t.Fatalf("the real pod was refused after a forged request: %v", err)
		}
		took := time.Since(began)
		if took > reserve.ConfirmWindow+500*time.Millisecond {
			t.Errorf("the real pod was created after %v, more than the window %v", took, reserve.ConfirmWindow)
		}
		t.Logf("real pod created %v after a forged reservation", took)
	})
}

// Without verified callers, API reservations that do not confirm their
// holders are not used at all: a forged request through them reserves
// nothing.
func TestUnverifiedIgnoresTrustingReservations(t *testing.T) {
	s := useSuite(t)
	l, ev := s.leases(t, time.Second)
	l.Confirm = nil
	d := s.deps
	d.Reservations = l
	mux := http.NewServeMux()
	for path, h := range webhook.HTTPHandlers(webhook.HandlersByPath(d), logr.Discard()) {
		mux.Handle(path, h)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	const addr = "10.16.7.1"
	if ok, msg := forge(t, srv.Client(), srv.URL+webhook.PodPath, "ghost", addr); !ok {
		t.Fatalf("forged request: %s", msg)
	}
	err := s.env.Client.Get(context.Background(), client.ObjectKey{Namespace: leaseNS, Name: reserve.LeaseName(subnet, netip.MustParseAddr(addr))}, &coordinationv1.Lease{})
	if !apierrors.IsNotFound(err) || ev.get(reserve.EventCreated) != 0 {
		t.Fatalf("trusting reservations were used without verified callers: lease %v, events %v", err, ev)
	}
}

// forge posts the AdmissionReview of a pod that is never created straight
// to the webhook, as anyone reaching its port can when callers are not
// verified; it reports whether it was admitted.
func forge(t *testing.T, hc *http.Client, url, name, addr string) (bool, string) {
	t.Helper()
	pod := newPod(name, map[string]string{ipKey: addr})
	pod.UID = types.UID("forged-" + name)
	pod.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "req-forged-" + types.UID(name), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: podNS, Name: name,
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
			UserInfo: authenticationv1.UserInfo{Username: "mallory"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("forged request: %v", err)
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil {
		t.Fatalf("forged request: HTTP %d, undecodable answer: %v", resp.StatusCode, err)
	}
	msg := ""
	if out.Response.Result != nil {
		msg = out.Response.Result.Message
	}
	return out.Response.Allowed, msg
}
