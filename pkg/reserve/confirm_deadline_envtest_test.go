package reserve_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/reservationtest"
	"github.com/ipamguard/ipamguard/pkg/reservation"
	"github.com/ipamguard/ipamguard/pkg/reserve"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// These tests pin down how long a request waits for the holders in its
// way, and what it may take over: one deadline per Judge on the local
// clock, Leases written before a wait stamped again after it, and holders
// that can never hold an address not confirming it.

// judgeAll runs one admission of r claiming every address of addrs through
// l: granted when no other owner holds any of them; holders lists whom it
// found holding which address.
func judgeAll(l *reserve.Leases, r requester, addrs ...string) (granted bool, holders map[string]string, err error) {
	var claims []validate.Claim
	for _, a := range addrs {
		claims = append(claims, validate.Claim{Subnet: subnet, Addr: netip.MustParseAddr(a)})
	}
	err = l.Judge(context.Background(), func(held validate.Reservations) reserve.Grant {
		granted, holders = true, map[string]string{}
		for _, c := range claims {
			if hns, howner, ok := held.Holder(c.Subnet, c.Addr); ok && (hns != podNS || howner != r.name) {
				holders[c.Addr.String()] = hns + "/" + howner
				granted = false
			}
		}
		if !granted {
			return reserve.Grant{}
		}
		return reserve.Grant{Claims: claims, Namespace: podNS, Owner: r.name, Pod: r.name, PodUID: r.uid, RequestUID: "req-" + r.uid}
	})
	return granted, holders, err
}

// forgeLease writes the Lease of a forged admission of pod name for addr,
// acquired at at.
func (s *confirmSuite) forgeLease(t *testing.T, l *reserve.Leases, name, addr string, at time.Time) {
	t.Helper()
	le := l.Lease(validate.Claim{Subnet: subnet, Addr: netip.MustParseAddr(addr)},
		reserve.Grant{Namespace: podNS, Owner: name, Pod: name, PodUID: "uid-" + name}, at)
	if err := s.env.Client.Create(context.Background(), le); err != nil {
		t.Fatalf("forge the lease of %s: %v", addr, err)
	}
}

// setAcquired rewrites the acquire and renew times of addr's Lease (as a
// writer with another clock would have written them), and its duration.
func (s *confirmSuite) setAcquired(t *testing.T, addr string, at time.Time, secs int32) {
	t.Helper()
	le := s.lease(t, addr)
	mt := metav1.NewMicroTime(at)
	le.Spec.AcquireTime, le.Spec.RenewTime, le.Spec.LeaseDurationSeconds = &mt, &mt, &secs
	if err := s.env.Client.Update(context.Background(), le); err != nil {
		t.Fatalf("rewrite the lease of %s: %v", addr, err)
	}
}

// Three addresses of one pod, each reserved by a forged admission (stamped
// a second ahead, as a forger may): the real pod waits for all holders
// within one window, not one window each.
func TestOneDeadlineForAllClaims(t *testing.T) {
	s := useSuite(t)
	const w = 400 * time.Millisecond
	l, ev := s.leases(t, w)
	addrs := []string{"10.16.8.1", "10.16.8.2", "10.16.8.3"}
	for _, a := range addrs {
		s.forgeLease(t, l, "ghost", a, time.Now().Add(time.Second))
	}
	began := time.Now()
	granted, holders, err := judgeAll(l, requester{name: "web", uid: "uid-web"}, addrs...)
	took := time.Since(began)
	if err != nil || !granted {
		t.Fatalf("real pod after forged reservations of its %d addresses: granted %v, holders %v, err %v", len(addrs), granted, holders, err)
	}
	if took < w-50*time.Millisecond || took > w+300*time.Millisecond {
		t.Errorf("the real pod with %d forged addresses was admitted after %v, want about one window %v", len(addrs), took, w)
	}
	if n := ev.get(reserve.EventUnconfirmedTakenOver); n != len(addrs) {
		t.Errorf("events %v: want %d unconfirmed_taken_over", ev, len(addrs))
	}
	t.Logf("%d forged addresses waited out in %v (window %v)", len(addrs), took, w)
}

// racingClient re-forges a Lease the moment its takeover is written: the
// forger wins the race at the deadline.
type racingClient struct {
	client.Client
	once  sync.Once
	race  func(ctx context.Context) error
	raced error
}

// Update implements client.Writer.
func (c *racingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if _, ok := obj.(*coordinationv1.Lease); ok {
		c.once.Do(func() { c.raced = c.race(ctx) })
	}
	return c.Client.Update(ctx, obj, opts...)
}

// A forger who re-takes its Lease just before the real pod's takeover at
// the deadline gets the real pod refused (fail closed), not a second
// window: the request is answered within the window, never timed out.
func TestTakeoverLostPastTheDeadlineRefuses(t *testing.T) {
	s := useSuite(t)
	const w = 400 * time.Millisecond
	l, ev := s.leases(t, w)
	const addr = "10.16.9.1"
	s.forgeLease(t, l, "ghost", addr, time.Now())
	rc := &racingClient{Client: l.Client, race: func(ctx context.Context) error {
		le := s.lease(t, addr)
		f, _ := reservation.Read(le)
		f.Pod, f.Owner, f.PodUID = "ghost-2", "ghost-2", "uid-ghost-2"
		le.Labels, le.Annotations = reservation.Meta(f)
		mt := metav1.NewMicroTime(time.Now())
		le.Spec.AcquireTime, le.Spec.RenewTime = &mt, &mt
		return s.env.Client.Update(ctx, le)
	}}
	l.Client = rc
	began := time.Now()
	granted, holder, err := judge(l, requester{name: "web", uid: "uid-web"}, addr)
	took := time.Since(began)
	if rc.raced != nil {
		t.Fatalf("the forger's re-take: %v", rc.raced)
	}
	if err != nil || granted || holder != podNS+"/ghost-2" {
		t.Fatalf("real pod whose takeover the forger beat: granted %v, holder %q, err %v (after %v)", granted, holder, err, took)
	}
	if took > w+300*time.Millisecond {
		t.Errorf("the refusal came after %v: more than one window %v", took, w)
	}
	if got := reservationtest.Fields(t, s.lease(t, addr)).Pod; got != "ghost-2" {
		t.Errorf("the lease names %q, want the forger's ghost-2", got)
	}
	if ev.get(reserve.EventRefused) != 1 || ev.get(reserve.EventUnconfirmedTakenOver) != 0 {
		t.Errorf("events %v: want one refused, no takeover", ev)
	}
	t.Logf("refused after %v (window %v)", took, w)
}

// Pod A asks for two addresses: one free, one reserved by a forged
// admission. While A waits out the forged holder, pod B asks for A's
// first address and finds A's Lease unconfirmed (A is not persisted yet).
// A stamps its first Lease again after its wait, so B's takeover of it
// fails and B is refused: exactly one of them is admitted.
func TestLeasesWrittenBeforeAWaitAreStampedAgain(t *testing.T) {
	s := useSuite(t)
	const w = 400 * time.Millisecond
	la, _ := s.leases(t, w)
	lb, evb := s.leases(t, w)
	const first, second = "10.16.10.1", "10.16.10.2"
	s.forgeLease(t, la, "ghost", second, time.Now())
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
		time.Sleep(200 * time.Millisecond)
		rb.granted, rb.holders, rb.err = judgeAll(lb, requester{name: "pod-b", uid: "uid-b"}, first)
	}()
	wg.Wait()
	if ra.err != nil || rb.err != nil {
		t.Fatalf("errors: A %v, B %v", ra.err, rb.err)
	}
	if !ra.granted || rb.granted || rb.holders[first] != podNS+"/pod-a" {
		t.Fatalf("A granted %v (holders %v), B granted %v (holders %v): want A alone, B refused by A", ra.granted, ra.holders, rb.granted, rb.holders)
	}
	if got := reservationtest.Fields(t, s.lease(t, first)).Pod; got != "pod-a" {
		t.Errorf("the lease of %s names %q, want pod-a", first, got)
	}
	if evb.get(reserve.EventUnconfirmedTakenOver) != 0 {
		t.Errorf("B's events %v: B took a lease over", evb)
	}
}

// The wait is timed on this replica's clock: a Lease whose acquire time
// is already more than the window old by the reader's clock (its writer's
// clock is behind), but less than the window and the clock-skew
// allowance, is waited for; its pod appears and refuses the next.
func TestWindowTimedOnTheLocalClock(t *testing.T) {
	s := useSuite(t)
	const w, inFlight = 400 * time.Millisecond, 200 * time.Millisecond
	l, ev := s.leases(t, w)
	const addr = "10.16.11.1"
	a := newPod("skewed", map[string]string{ipKey: addr})
	if err := s.env.Client.Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	s.setAcquired(t, addr, time.Now().Add(-w*3/2), 60)
	began := time.Now()
	l.Confirm.Pods = hidden{Reader: l.Client, name: a.Name, until: began.Add(inFlight)}
	granted, holder, err := judge(l, requester{name: "next", uid: "uid-next"}, addr)
	took := time.Since(began)
	if err != nil || granted || holder != podNS+"/skewed" {
		t.Fatalf("pod after a lease from a clock %v behind: granted %v, holder %q, err %v (after %v)", w*3/2, granted, holder, err, took)
	}
	if took < inFlight {
		t.Errorf("refused after %v, before the holder appeared (%v)", took, inFlight)
	}
	if ev.get(reserve.EventConfirmed) != 1 {
		t.Errorf("events %v: want one confirmed", ev)
	}
}

// A holder's pod that can never hold the address does not confirm its
// reservation: the next pod takes it over at once.
func TestHolderThatCannotHoldIsTakenOver(t *testing.T) {
	s := useSuite(t)
	const w = 800 * time.Millisecond
	ctx := context.Background()
	takeover := func(t *testing.T, l *reserve.Leases, addr, why string) {
		t.Helper()
		began := time.Now()
		granted, holder, err := judge(l, requester{name: "next", uid: "uid-next"}, addr)
		took := time.Since(began)
		if err != nil || !granted {
			t.Fatalf("pod after a reservation of a pod %s: granted %v, holder %q, err %v", why, granted, holder, err)
		}
		if took > w/2 {
			t.Errorf("a reservation of a pod %s delayed the next by %v", why, took)
		}
	}
	t.Run("deleting", func(t *testing.T) {
		l, _ := s.leases(t, w)
		const addr = "10.16.13.1"
		p := newPod("leaving", map[string]string{ipKey: addr})
		p.Finalizers = []string{"ipamguard.io/test-keep"}
		if err := s.env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cur := &corev1.Pod{}
			if err := s.env.Client.Get(ctx, client.ObjectKeyFromObject(p), cur); err == nil {
				cur.Finalizers = nil
				if err := s.env.Client.Update(ctx, cur); err != nil {
					t.Errorf("drop the finalizer: %v", err)
				}
			}
		})
		if err := s.env.Client.Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
		takeover(t, l, addr, "being deleted")
	})
	t.Run("finished", func(t *testing.T) {
		l, _ := s.leases(t, w)
		const addr = "10.16.13.2"
		p := newPod("done", map[string]string{ipKey: addr})
		if err := s.env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodSucceeded
		if err := s.env.Client.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
		takeover(t, l, addr, "that has finished")
	})
	t.Run("created before the reservation", func(t *testing.T) {
		// A forged admission naming a pod that existed seconds before:
		// this replica's clock (and the Lease's) is 10 s past the pod's
		// creation (more than the webhook timeout, the rounding of
		// creationTimestamp and the clock-skew allowance).
		l, _ := s.leases(t, w)
		const addr = "10.16.13.3"
		if err := s.env.Client.Create(ctx, newPod("earlier", map[string]string{ipKey: addr})); err != nil {
			t.Fatal(err)
		}
		const later = 10 * time.Second
		l.Now = func() time.Time { return time.Now().Add(later) }
		s.setAcquired(t, addr, l.Now(), 60)
		takeover(t, l, addr, "created before it")
	})
	t.Run("pending past the limit", func(t *testing.T) {
		// This replica's clock is 10 minutes on (the Lease renewed for an
		// hour): the pod is pending twice the default limit.
		l, _ := s.leases(t, w)
		const addr = "10.16.13.4"
		if err := s.env.Client.Create(ctx, newPod("stuck", map[string]string{ipKey: addr})); err != nil {
			t.Fatal(err)
		}
		s.setAcquired(t, addr, time.Now(), 3600)
		l.Now = func() time.Time { return time.Now().Add(10 * time.Minute) }
		takeover(t, l, addr, "pending for 10m")
		// Within a longer limit it still holds.
		const addr2 = "10.16.13.5"
		if err := s.env.Client.Create(ctx, newPod("stuck-2", map[string]string{ipKey: addr2})); err != nil {
			t.Fatal(err)
		}
		s.setAcquired(t, addr2, time.Now(), 3600)
		l.Confirm.PendingLimit = func() time.Duration { return 15 * time.Minute }
		if granted, holder, err := judge(l, requester{name: "next-2", uid: "uid-next-2"}, addr2); err != nil || granted || holder != podNS+"/stuck-2" {
			t.Fatalf("pod after a pod pending within a 15m limit: granted %v, holder %q, err %v", granted, holder, err)
		}
	})
}

// A holder this replica reads as not asking for the address (its
// inventory lagging behind the pod's) is waited for like one not there
// yet: once the inventory catches up it is confirmed and refuses.
func TestHolderNotAskingYetIsWaitedFor(t *testing.T) {
	s := useSuite(t)
	const w, lag = 800 * time.Millisecond, 200 * time.Millisecond
	l, ev := s.leases(t, w)
	const addr = "10.16.14.1"
	if err := s.env.Client.Create(context.Background(), newPod("lagged", map[string]string{ipKey: addr})); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	requests := l.Confirm.Requests
	l.Confirm.Requests = func(m *metav1.ObjectMeta, sub string, a netip.Addr) bool {
		return time.Since(began) >= lag && requests(m, sub, a)
	}
	granted, holder, err := judge(l, requester{name: "next", uid: "uid-next"}, addr)
	took := time.Since(began)
	if err != nil || granted || holder != podNS+"/lagged" {
		t.Fatalf("pod while the inventory lagged: granted %v, holder %q, err %v (after %v)", granted, holder, err, took)
	}
	if took < lag {
		t.Errorf("refused after %v, before the inventory caught up (%v)", took, lag)
	}
	if ev.get(reserve.EventConfirmed) != 1 || ev.get(reserve.EventUnconfirmedTakenOver) != 0 {
		t.Errorf("events %v: want one confirmed, no takeover", ev)
	}
}

// A forged request naming an in-flight holder's owner with another UID
// waits for the holder like any other: it is granted (the owner's name)
// and does not relabel the holder's reservation.
func TestSameOwnerForgeryWaitsForTheHolder(t *testing.T) {
	s := useSuite(t)
	const w, inFlight = time.Second, 200 * time.Millisecond
	l, _ := s.leases(t, w)
	const addr = "10.16.15.1"
	p := newPod("owner", map[string]string{ipKey: addr})
	if err := s.env.Client.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	l.Confirm.Pods = hidden{Reader: l.Client, name: p.Name, until: time.Now().Add(inFlight)}
	if granted, _, err := judge(l, requester{name: "owner", uid: "forged"}, addr); err != nil || !granted {
		t.Fatalf("same owner, another UID: granted %v, err %v", granted, err)
	}
	if got := reservationtest.Fields(t, s.lease(t, addr)).PodUID; got != string(p.UID) {
		t.Fatalf("the in-flight holder's reservation was relabelled to UID %q", got)
	}
}

// failingGets fails every read of a Lease.
type failingGets struct{ client.Client }

// Get implements client.Reader.
func (f failingGets) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*coordinationv1.Lease); ok {
		return errors.New("injected read failure")
	}
	return f.Client.Get(ctx, key, obj, opts...)
}

// A request that writes nothing keeps its first judgement when the
// reservations cannot be read: no error, counted as an API error.
func TestReadFailureKeepsTheFirstJudgement(t *testing.T) {
	s := useSuite(t)
	l, ev := s.leases(t, time.Second)
	l.Client = failingGets{l.Client}
	if _, holder, err := judge(l, requester{name: "dry", uid: "uid-dry", dry: true}, "10.16.16.1"); err != nil || holder != "" {
		t.Fatalf("dry run with unreadable reservations: holder %q, err %v", holder, err)
	}
	if ev.get(reserve.EventAPIError) != 1 {
		t.Errorf("events %v: want one api_error", ev)
	}
}

// A pod recreated under the same owner (deleted, then created again with
// the name, as a StatefulSet ordinal is) is admitted once the old pod's
// reservation is not confirmed, and relabels it: stamped at the new pod's
// admission, before its creation, so the new pod confirms it and refuses
// another pod at once.
func TestRecreatedPodRelabelsAndConfirms(t *testing.T) {
	s := useSuite(t)
	ctx := context.Background()
	const addr = "10.16.17.1"
	old := newPod("ordinal-0", map[string]string{ipKey: addr})
	if err := s.env.Client.Create(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := s.env.Client.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	again := newPod("ordinal-0", map[string]string{ipKey: addr})
	if err := s.env.Client.Create(ctx, again); err != nil {
		t.Fatalf("the recreated pod was refused: %v", err)
	}
	took := time.Since(began)
	le := s.lease(t, addr)
	if got := reservationtest.Fields(t, le).PodUID; got != string(again.UID) {
		t.Fatalf("the lease records UID %q, want the recreated pod's %q", got, again.UID)
	}
	// The API server stamps the creation before it calls the webhook,
	// which waited out the old pod's reservation: the creation precedes
	// the acquisition by about the window.
	t.Logf("recreated pod admitted after %v (its old pod's reservation waited out); created %v, lease acquired %v",
		took, again.CreationTimestamp.Time, le.Spec.AcquireTime.Time)
	l, _ := s.leases(t, time.Second)
	began = time.Now()
	if granted, holder, err := judge(l, requester{name: "intruder", uid: "uid-intruder"}, addr); err != nil || granted || holder != podNS+"/ordinal-0" {
		t.Fatalf("another pod after the recreated one: granted %v, holder %q, err %v", granted, holder, err)
	}
	if took := time.Since(began); took > 500*time.Millisecond {
		t.Errorf("refusing another pod took %v: the recreated pod should confirm at once", took)
	}
}
