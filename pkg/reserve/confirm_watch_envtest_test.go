package reserve_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/reservationtest"
	"github.com/ipamguard/ipamguard/pkg/reserve"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// These tests pin down what a request may take over when it is slow, and
// what it leaves behind: a holder is taken over only after it was watched
// for the window, a request's aged Leases are stamped again whether or not
// it waited, a failed restamp releases every Lease, a refused request
// takes nothing over, and a request whose budget ran out is refused.

// hooked runs hooks before the Lease writes of the client it wraps.
type hooked struct {
	client.Client
	// beforeCreate runs before each Lease create; nil runs nothing.
	beforeCreate func(le *coordinationv1.Lease)
	// update, when set, answers each Lease update instead of the API
	// server when it returns an error.
	update func(le *coordinationv1.Lease) error
}

// Create implements client.Writer.
func (h *hooked) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if le, ok := obj.(*coordinationv1.Lease); ok && h.beforeCreate != nil {
		h.beforeCreate(le)
	}
	return h.Client.Create(ctx, obj, opts...)
}

// Update implements client.Writer.
func (h *hooked) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if le, ok := obj.(*coordinationv1.Lease); ok && h.update != nil {
		if err := h.update(le); err != nil {
			return err
		}
	}
	return h.Client.Update(ctx, obj, opts...)
}

// leaseGone reports whether addr has no Lease.
func (s *confirmSuite) leaseGone(t *testing.T, addr string) bool {
	t.Helper()
	err := s.env.Client.Get(context.Background(), client.ObjectKey{Namespace: leaseNS, Name: reserve.LeaseName(subnet, netip.MustParseAddr(addr))}, &coordinationv1.Lease{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("lease of %s: %v", addr, err)
	}
	return apierrors.IsNotFound(err)
}

// Pod B's own create is slow (a window and more); meanwhile pod C reserves
// the address. B reads C's brand-new Lease once its deadline has passed:
// C was not watched for a window, so B is refused rather than taking it
// over (both would be admitted).
func TestHolderReadLateIsNotTakenOver(t *testing.T) {
	s := useSuite(t)
	const w = 400 * time.Millisecond
	lb, evb := s.leases(t, w)
	lc, _ := s.leases(t, w)
	const addr = "10.16.20.1"
	var once sync.Once
	var cGranted bool
	var cErr error
	lb.Client = &hooked{Client: lb.Client, beforeCreate: func(*coordinationv1.Lease) {
		once.Do(func() {
			time.Sleep(w + 100*time.Millisecond)
			cGranted, _, cErr = judge(lc, requester{name: "pod-c", uid: "uid-c"}, addr)
		})
	}}
	granted, holder, err := judge(lb, requester{name: "pod-b", uid: "uid-b"}, addr)
	if cErr != nil || !cGranted {
		t.Fatalf("pod C during B's slow create: granted %v, err %v", cGranted, cErr)
	}
	if err != nil || granted || holder != podNS+"/pod-c" {
		t.Fatalf("pod B after C's lease appeared past B's deadline: granted %v, holder %q, err %v: want refused by pod-c", granted, holder, err)
	}
	if got := reservationtest.Fields(t, s.lease(t, addr)).Pod; got != "pod-c" {
		t.Errorf("the lease names %q, want pod-c", got)
	}
	if evb.get(reserve.EventUnconfirmedTakenOver) != 0 || evb.get(reserve.EventRefused) != 1 {
		t.Errorf("B's events %v: want one refused, no takeover", evb)
	}
}

// Pod A asks for two addresses; its create of the second is slow (longer
// than the window), without any wait for a holder. Pod B asks for A's
// first address meanwhile, watches A's Lease for a window (A is not
// persisted) and takes it over. A stamps its aged first Lease again at
// the end, finds it taken and is refused: exactly one is admitted.
func TestSlowRequestStampsItsLeasesAgain(t *testing.T) {
	s := useSuite(t)
	const w = 400 * time.Millisecond
	la, _ := s.leases(t, w)
	lb, _ := s.leases(t, w)
	const first, second = "10.16.21.1", "10.16.21.2"
	second4 := netip.MustParseAddr(second)
	la.Client = &hooked{Client: la.Client, beforeCreate: func(le *coordinationv1.Lease) {
		if le.Name == reserve.LeaseName(subnet, second4) {
			time.Sleep(w + 300*time.Millisecond)
		}
	}}
	type result struct {
		granted bool
		holders map[string]string
		err     error
	}
	var ra, rb result
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		ra.granted, ra.holders, ra.err = judgeAll(la, requester{name: "pod-a", uid: "uid-a"}, first, second)
	}()
	go func() {
		defer wg.Done()
		time.Sleep(50 * time.Millisecond)
		rb.granted, rb.holders, rb.err = judgeAll(lb, requester{name: "pod-b", uid: "uid-b"}, first)
	}()
	wg.Wait()
	if ra.err != nil || rb.err != nil {
		t.Fatalf("errors: A %v, B %v", ra.err, rb.err)
	}
	if ra.granted || !rb.granted || ra.holders[first] != podNS+"/pod-b" {
		t.Fatalf("A granted %v (holders %v), B granted %v (holders %v): want B alone, A refused by B", ra.granted, ra.holders, rb.granted, rb.holders)
	}
	if got := reservationtest.Fields(t, s.lease(t, first)).Pod; got != "pod-b" {
		t.Errorf("the lease of %s names %q, want pod-b", first, got)
	}
	if !s.leaseGone(t, second) {
		t.Errorf("refused pod A left its lease of %s", second)
	}
}

// A restamp that fails leaves no Lease behind: the one it failed on and
// the ones it had not reached yet are all released.
func TestFailedRestampReleasesEveryLease(t *testing.T) {
	s := useSuite(t)
	const w = 400 * time.Millisecond
	l, _ := s.leases(t, w)
	addrs := []string{"10.16.22.1", "10.16.22.2", "10.16.22.3"}
	last := reserve.LeaseName(subnet, netip.MustParseAddr(addrs[2]))
	l.Client = &hooked{Client: l.Client,
		beforeCreate: func(le *coordinationv1.Lease) {
			if le.Name == last {
				time.Sleep(300 * time.Millisecond) // the first two age
			}
		},
		update: func(*coordinationv1.Lease) error { return errors.New("injected update failure") },
	}
	if _, _, err := judgeAll(l, requester{name: "pod-a", uid: "uid-a"}, addrs...); err == nil {
		t.Fatal("a request whose restamp failed was answered without an error")
	}
	for _, a := range addrs {
		if !s.leaseGone(t, a) {
			t.Errorf("the failed request left its lease of %s", a)
		}
	}
}

// A request refused by a confirmed holder of one address does not take
// over (and then delete) the in-flight holder's Lease of its other address.
func TestRefusedRequestTakesNothingOver(t *testing.T) {
	s := useSuite(t)
	const w = 300 * time.Millisecond
	l, ev := s.leases(t, w)
	const held, inFlight = "10.16.23.1", "10.16.23.2"
	s.createPod(t, "holder", map[string]string{ipKey: held})
	s.forgeLease(t, l, "flying", inFlight, time.Now())
	before := s.lease(t, inFlight).ResourceVersion
	granted, holders, err := judgeAll(l, requester{name: "pod-a", uid: "uid-a"}, held, inFlight)
	if err != nil || granted || holders[held] != podNS+"/holder" {
		t.Fatalf("pod A after a confirmed holder: granted %v, holders %v, err %v: want refused by holder", granted, holders, err)
	}
	if le := s.lease(t, inFlight); le.ResourceVersion != before || reservationtest.Fields(t, le).Pod != "flying" {
		t.Errorf("the in-flight holder's lease of %s was rewritten: pod %q, resourceVersion %s (was %s)", inFlight, reservationtest.Fields(t, le).Pod, le.ResourceVersion, before)
	}
	if ev.get(reserve.EventUnconfirmedTakenOver) != 0 {
		t.Errorf("events %v: a refused request took a lease over", ev)
	}
}

// A request whose budget ran out before or in the first judgement (which
// then grants nothing) is answered with an error, never admitted without
// its reservation.
func TestBudgetSpentInTheFirstJudgementFails(t *testing.T) {
	s := useSuite(t)
	l, _ := s.leases(t, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := netip.MustParseAddr("10.16.24.1")
	err := l.Judge(ctx, func(held validate.Reservations) reserve.Grant {
		held.Holder(subnet, a)
		return reserve.Grant{}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Judge after the budget ran out: %v, want context.Canceled", err)
	}
}
