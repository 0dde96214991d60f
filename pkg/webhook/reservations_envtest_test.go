package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
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
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/internal/reservationtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/reserve"
	"github.com/ipamguard/ipamguard/pkg/validate"
	"github.com/ipamguard/ipamguard/pkg/webhook"
)

// replicas are webhook replicas served in this process, each with its own
// HTTP server, handlers and API client, sharing only the API server (and,
// for speed, the suite's inventory: the race is in the reservations).
type replicas struct {
	urls   []string
	http   *http.Client
	mu     sync.Mutex
	events map[string]int
}

func (r *replicas) observe(ev string) {
	r.mu.Lock()
	r.events[ev]++
	r.mu.Unlock()
}

func (r *replicas) count(ev string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[ev]
}

func startReplicas(t *testing.T, s *suite, n int, namespace string) *replicas {
	t.Helper()
	r := &replicas{events: map[string]int{}, http: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}}
	for range n {
		rc := rest.CopyConfig(s.env.Config)
		rc.QPS, rc.Burst = webhook.ReservationQPS, 2*webhook.ReservationQPS
		c, err := client.New(rc, client.Options{Scheme: s.env.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		d := webhook.Deps{Store: s.h.Store, Synced: s.h.Feed.HasSynced, Config: s.live, CallersVerified: true,
			Reservations: &reserve.Leases{Client: c, Namespace: namespace, Observe: r.observe}}
		mux := http.NewServeMux()
		for path, h := range webhook.HTTPHandlers(webhook.HandlersByPath(d), logr.Discard()) {
			mux.Handle(path, h)
		}
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		r.urls = append(r.urls, srv.URL+webhook.PodPath)
	}
	return r
}

// verdict is one answer of a replica.
type verdict struct {
	allowed bool
	message string
	err     error
	// timedOut is a refusal because the request ran out of its budget
	// (504): fail closed, as a webhook under more load than two shared
	// cores can take answers some requests.
	timedOut bool
}

// create sends the AdmissionReview of a pod's creation to replica i, as
// the API server would.
func (r *replicas) create(ctx context.Context, i int, ns, name, addr string, dryRun bool) verdict {
	uid := types.UID(fmt.Sprintf("%s-%s-%d", ns, name, time.Now().UnixNano()))
	pod := newPod(ns, name, map[string]string{ipKey: addr})
	pod.UID = uid
	pod.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	raw, err := json.Marshal(pod)
	if err != nil {
		return verdict{err: err}
	}
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID("req-" + string(uid)), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: ns, Name: name,
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}, DryRun: ptr.To(dryRun),
			UserInfo: authenticationv1.UserInfo{Username: "alice"},
		},
	})
	if err != nil {
		return verdict{err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.urls[i%len(r.urls)], bytes.NewReader(body))
	if err != nil {
		return verdict{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.http.Do(req)
	if err != nil {
		return verdict{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return verdict{err: err}
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &out); err != nil || out.Response == nil {
		return verdict{err: fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)}
	}
	v := verdict{allowed: out.Response.Allowed}
	if out.Response.Result != nil {
		v.message = out.Response.Result.Message
		switch code := out.Response.Result.Code; {
		case v.allowed, code == http.StatusUnprocessableEntity, code == http.StatusForbidden:
		case code == http.StatusGatewayTimeout:
			v.timedOut = true
		default:
			v.err = fmt.Errorf("HTTP %d: %s", code, v.message)
		}
	}
	return v
}

// TestReservationsAcrossReplicasOnRealAPIServer: three replicas, each
// with API-backed reservations, judge pods created at the same moment with
// one fixed address, spread round-robin: exactly one is admitted, on
// whichever replica; its retry succeeds anywhere; a dry run writes
// nothing; an expired reservation is taken over by exactly one of many;
// the leader's cleanup deletes what is expired or bound.
func TestReservationsAcrossReplicasOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	const leaseNS = "ipamguard-reservations"
	for _, ns := range []string{leaseNS, "race-a", "race-b"} {
		if err := s.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if err := s.c.DeleteAllOf(context.Background(), &coordinationv1.Lease{}, client.InNamespace(leaseNS)); err != nil {
			t.Errorf("delete leases: %v", err)
		}
	})
	r := startReplicas(t, s, 3, leaseNS)
	lease := func(addr string) (*coordinationv1.Lease, error) {
		le := &coordinationv1.Lease{}
		err := s.c.Get(ctx, client.ObjectKey{Namespace: leaseNS, Name: reserve.LeaseName("ovn-default", mustAddr(t, addr))}, le)
		return le, err
	}

	// Each replica has served a request before (its connections are
	// open), as a running webhook has.
	for i := range 3 {
		if v := r.create(ctx, i, "race-a", "warm", "10.16.7.9", true); !v.allowed || v.err != nil {
			t.Fatalf("warm-up on replica %d: %+v", i, v)
		}
	}
	// n creates, sent by senders at once, round-robin over the replicas:
	// the first wave races to create the one Lease, the rest find it.
	// (senders bounds the load on a shared test machine; every request
	// still reads and writes the API server.)
	const n, senders, addr = 300, 48, "10.16.7.10"
	results := make([]verdict, n)
	next := make(chan int)
	var wg sync.WaitGroup
	began := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ns := []string{"race-a", "race-b"}[i%2]
				results[i] = r.create(ctx, i, ns, fmt.Sprintf("p-%d", i), addr, false)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	took := time.Since(began)
	winner, refused, timedOut := -1, 0, 0
	for i, v := range results {
		switch {
		case v.err != nil:
			t.Errorf("pod %d: %v", i, v.err)
		case v.timedOut:
			timedOut++
			t.Logf("pod %d: refused, out of time: %s", i, v.message)
		case v.allowed:
			if winner >= 0 {
				t.Errorf("pods %d and %d both admitted with %s", winner, i, addr)
			}
			winner = i
		case strings.Contains(v.message, addr+" in subnet ovn-default is requested by") && strings.Contains(v.message, "admitted moments ago"):
			refused++
		default:
			t.Errorf("pod %d refused for another reason: %s", i, v.message)
		}
	}
	t.Logf("%d creates (%d at a time) over 3 replicas in %v: winner %d, %d refused, %d out of time; events %v", n, senders, took, winner, refused, timedOut, r.events)
	// Out of time is a refusal too (fail closed); a few are tolerated on a
	// loaded machine, more would mean the reservations are too slow.
	if winner < 0 || refused+timedOut != n-1 || timedOut > n/20 {
		t.Fatalf("want exactly 1 admitted and %d refused (at most %d out of time), got winner %d, %d refused, %d out of time", n-1, n/20, winner, refused, timedOut)
	}
	winnerNS, winnerName := []string{"race-a", "race-b"}[winner%2], fmt.Sprintf("p-%d", winner)
	le, err := lease(addr)
	if err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(le.Spec.HolderIdentity, ""); got != winnerNS+"/"+winnerName || reservationtest.Fields(t, le).PodUID == "" ||
		reservationtest.Fields(t, le).RequestUID == "" || reservationtest.Fields(t, le).State != reserve.StateAdmitted {
		t.Fatalf("lease of %s: holder %q, annotations %v", addr, got, le.Annotations)
	}
	if r.count(reserve.EventCreated) != 1 || r.count(reserve.EventRefused) < 1 {
		t.Errorf("events %v: want 1 created", r.events)
	}
	// The winner is named to its own namespace only.
	for i, v := range results {
		want := "requested by pod " + winnerNS + "/" + winnerName + ", admitted moments ago"
		if i%2 != winner%2 {
			want = "requested by a pod in another namespace, admitted moments ago"
		}
		if i != winner && !strings.Contains(v.message, want) {
			t.Errorf("pod %d: message %q does not say %q", i, v.message, want)
		}
	}

	t.Run("the winner's retry is admitted on every replica", func(t *testing.T) {
		for i := range 3 {
			if v := r.create(ctx, i, winnerNS, winnerName, addr, false); !v.allowed || v.err != nil {
				t.Errorf("retry on replica %d: %+v", i, v)
			}
		}
	})

	t.Run("dry runs leave nothing", func(t *testing.T) {
		before := r.count(reserve.EventCreated)
		if v := r.create(ctx, 1, "race-a", "dry", "10.16.7.11", true); !v.allowed || v.err != nil {
			t.Fatalf("dry run: %+v", v)
		}
		if _, err := lease("10.16.7.11"); !apierrors.IsNotFound(err) {
			t.Fatalf("dry run left a lease: %v", err)
		}
		// A dry run on the reserved address is judged like the real thing.
		if v := r.create(ctx, 2, winnerNS, "dry-2", addr, true); v.allowed || !strings.Contains(v.message, "admitted moments ago") {
			t.Fatalf("dry run on a reserved address: %+v", v)
		}
		if r.count(reserve.EventCreated) != before {
			t.Fatalf("dry runs wrote %d leases", r.count(reserve.EventCreated)-before)
		}
	})

	const expiredAddr = "10.16.7.12"
	t.Run("an expired reservation is taken over by exactly one", func(t *testing.T) {
		stale := (&reserve.Leases{Namespace: leaseNS}).Lease(validate.Claim{Subnet: "ovn-default", Addr: mustAddr(t, expiredAddr)},
			reserve.Grant{Namespace: "race-b", Owner: "ghost", Pod: "ghost"}, time.Now().Add(-2*reserve.APITTL))
		if err := s.c.Create(ctx, stale); err != nil {
			t.Fatal(err)
		}
		const m = 60
		out := make([]verdict, m)
		var wg sync.WaitGroup
		for i := range m {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i] = r.create(ctx, i, "race-a", fmt.Sprintf("t-%d", i), expiredAddr, false)
			}()
		}
		wg.Wait()
		admitted := 0
		for i, v := range out {
			if v.err != nil {
				t.Errorf("pod t-%d: %v", i, v.err)
			}
			if v.allowed {
				admitted++
			}
		}
		if admitted != 1 || r.count(reserve.EventTakenOver) != 1 {
			t.Fatalf("%d of %d admitted on an expired reservation, %d take-overs (want 1, 1)", admitted, m, r.count(reserve.EventTakenOver))
		}
		le, err := lease(expiredAddr)
		if err != nil || !strings.HasPrefix(ptr.Deref(le.Spec.HolderIdentity, ""), "race-a/t-") {
			t.Fatalf("taken-over lease: %v %v", le.Spec.HolderIdentity, err)
		}
	})

	t.Run("cleanup deletes expired reservations and keeps bound live ones", func(t *testing.T) {
		old := (&reserve.Leases{Namespace: leaseNS}).Lease(validate.Claim{Subnet: "ovn-default", Addr: mustAddr(t, "10.16.7.13")},
			reserve.Grant{Namespace: "race-b", Owner: "gone", Pod: "gone"}, time.Now().Add(-2*reserve.APITTL))
		if err := s.c.Create(ctx, old); err != nil {
			t.Fatal(err)
		}
		// Kube-OVN binds the winner's address.
		ip := &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: winnerName + "." + winnerNS}, Spec: kubeovnv1.IPSpec{
			PodName: winnerName, Namespace: winnerNS, Subnet: "ovn-default", IPAddress: addr}}
		if err := s.c.Create(ctx, ip); err != nil {
			t.Fatal(err)
		}
		c, err := client.New(s.env.Config, client.Options{Scheme: s.env.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		inv := *s.h
		inv.Leases = &reserve.Leases{Client: c, Namespace: leaseNS, Observe: r.observe}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- inv.CleanReservations(cctx, 50*time.Millisecond, logr.Discard()) }()
		devenvtest.Eventually(t, "cleanup", waitTimeout, func() error {
			if _, err := lease("10.16.7.13"); !apierrors.IsNotFound(err) {
				return fmt.Errorf("expired lease still there: %v", err)
			}
			return nil
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Live reservations stay until their TTL, bound or not: another
		// replica's informer may not have seen the IP object yet.
		for _, a := range []string{addr, expiredAddr} {
			if _, err := lease(a); err != nil {
				t.Fatalf("cleanup deleted the live reservation of %s: %v", a, err)
			}
		}
		if r.count(reserve.EventReleased) != 0 || r.count(reserve.EventExpired) < 1 {
			t.Fatalf("events %v: want expired only", r.events)
		}
	})
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
