package reserve

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/ipamguard/ipamguard/internal/reservationtest"
	"github.com/ipamguard/ipamguard/pkg/reservation"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

func TestLeaseNameIsValidAndDistinct(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("s", 250)
	seen := map[string]string{}
	for _, tc := range []struct{ subnet, addr string }{
		{"ovn-default", "10.16.0.9"},
		{"ovn-default", "10.16.0.10"},
		{"ovn-default", "fd00::9"},
		{"ovn-default", "::ffff:10.16.0.9"}, // the IPv4 address, unmapped
		{"net1.tenant-a", "fd00:16::1"},
		{long, "fd00::9"},
		{long + "x", "fd00::9"},
	} {
		name := LeaseName(tc.subnet, netip.MustParseAddr(tc.addr))
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("LeaseName(%s, %s) = %q: %v", tc.subnet, tc.addr, name, errs)
		}
		if prev, ok := seen[name]; ok && prev != tc.subnet+" 10.16.0.9" {
			t.Errorf("LeaseName(%s, %s) = %q, as for %s", tc.subnet, tc.addr, name, prev)
		}
		seen[name] = tc.subnet + " " + netip.MustParseAddr(tc.addr).Unmap().String()
	}
	if len(seen) != 6 {
		t.Errorf("%d distinct names for 6 distinct reservations: %v", len(seen), seen)
	}
}

// fixture is a Leases over a fake API client with a settable clock.
type fixture struct {
	l      *Leases
	c      client.Client
	now    time.Time
	events map[string]int
}

func newFixture(t *testing.T, funcs *interceptor.Funcs) *fixture {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme)
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	f := &fixture{c: b.Build(), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), events: map[string]int{}}
	f.l = &Leases{Client: f.c, Namespace: "ipamguard-system", TTL: time.Minute, Now: func() time.Time { return f.now },
		Observe: func(ev string) { f.events[ev]++ }}
	return f
}

var claim = validate.Claim{Subnet: "ovn-default", Addr: netip.MustParseAddr("10.16.0.9")}

// judgeAs judges like the engine: refuses when another owner holds the
// claim, grants it otherwise (unless dry), and reports the holders seen by
// the last call.
func (f *fixture) judgeAs(ns, owner string, dry bool) (granted bool, holder string, err error) {
	err = f.l.Judge(context.Background(), func(held validate.Reservations) Grant {
		holder, granted = "", false
		if hns, howner, ok := held.Holder(claim.Subnet, claim.Addr); ok && (hns != ns || howner != owner) {
			holder = hns + "/" + howner
			return Grant{}
		}
		if dry {
			return Grant{}
		}
		granted = true
		return Grant{Claims: []validate.Claim{claim}, Namespace: ns, Owner: owner, Pod: owner, PodUID: "uid-" + owner, RequestUID: "req"}
	})
	return granted, holder, err
}

func (f *fixture) lease(t *testing.T) *coordinationv1.Lease {
	t.Helper()
	le := &coordinationv1.Lease{}
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "ipamguard-system", Name: LeaseName(claim.Subnet, claim.Addr)}, le); err != nil {
		t.Fatal(err)
	}
	return le
}

func TestLeasesJudge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)

	// A dry run reads and writes nothing.
	if granted, holder, err := f.judgeAs("apps", "web", true); err != nil || granted || holder != "" {
		t.Fatalf("dry run: granted %v, holder %q, err %v", granted, holder, err)
	}
	var list coordinationv1.LeaseList
	if err := f.c.List(context.Background(), &list); err != nil || len(list.Items) != 0 {
		t.Fatalf("dry run wrote %d leases (%v)", len(list.Items), err)
	}

	if granted, _, err := f.judgeAs("apps", "web", false); err != nil || !granted {
		t.Fatalf("first: granted %v, err %v", granted, err)
	}
	le := f.lease(t)
	if *le.Spec.HolderIdentity != "apps/web" || reservationtest.Fields(t, le).PodUID != "uid-web" || reservationtest.Fields(t, le).Addr.String() != "10.16.0.9" ||
		le.Labels[LabelReservation] != "true" || *le.Spec.LeaseDurationSeconds != 60 {
		t.Fatalf("lease: %+v", le)
	}
	// The same owner again: granted, nothing written.
	rv := le.ResourceVersion
	if granted, _, err := f.judgeAs("apps", "web", false); err != nil || !granted || f.lease(t).ResourceVersion != rv {
		t.Fatalf("retry: granted %v, err %v", granted, err)
	}
	// Another owner: refused by the second judgement, lease untouched; a
	// dry run of it sees the holder too.
	for _, dry := range []bool{false, true} {
		if _, holder, err := f.judgeAs("other", "db", dry); err != nil || holder != "apps/web" {
			t.Fatalf("other owner (dry %v): holder %q, err %v", dry, holder, err)
		}
	}
	if f.lease(t).ResourceVersion != rv {
		t.Fatal("a refused request changed the lease")
	}
	// Past the TTL, another owner takes it over.
	f.now = f.now.Add(61 * time.Second)
	if granted, _, err := f.judgeAs("other", "db", false); err != nil || !granted {
		t.Fatalf("take-over: granted %v, err %v", granted, err)
	}
	if le := f.lease(t); *le.Spec.HolderIdentity != "other/db" || !le.Spec.AcquireTime.Time.Equal(f.now) {
		t.Fatalf("after take-over: %+v", le.Spec)
	}
	// The same owner past the TTL renews it: another owner is refused again.
	f.now = f.now.Add(61 * time.Second)
	if granted, _, err := f.judgeAs("other", "db", false); err != nil || !granted {
		t.Fatalf("renewal: granted %v, err %v", granted, err)
	}
	if _, holder, err := f.judgeAs("apps", "web", false); err != nil || holder != "other/db" {
		t.Fatalf("after renewal: holder %q, err %v", holder, err)
	}
	if f.events[EventCreated] != 1 || f.events[EventRefused] != 2 || f.events[EventTakenOver] != 2 {
		t.Fatalf("events %v", f.events)
	}
	// The same owner with less than half its TTL left renews it: covered
	// for a whole TTL again (another replica may grant the address on the
	// old expiry otherwise).
	f.now = f.now.Add(40 * time.Second)
	if granted, _, err := f.judgeAs("other", "db", false); err != nil || !granted {
		t.Fatalf("late retry: granted %v, err %v", granted, err)
	}
	// Renewed: the renew time moves, the acquire time stays (the same pod
	// has held it since; confirmation compares its creation with it).
	if le := f.lease(t); !le.Spec.RenewTime.Time.Equal(f.now) || !le.Spec.AcquireTime.Time.Equal(f.now.Add(-40*time.Second)) {
		t.Fatalf("late retry did not renew, or moved the acquire time: %+v", le.Spec)
	}
	f.now = f.now.Add(30 * time.Second) // 70 s after the renewal above, 30 s after this one
	if _, holder, err := f.judgeAs("apps", "web", false); err != nil || holder != "other/db" {
		t.Fatalf("after the late renewal: holder %q, err %v", holder, err)
	}
}

// An API error refuses: Judge returns it (the engine fails closed), and
// counts it.
func TestLeasesJudgeFailsClosed(t *testing.T) {
	t.Parallel()
	down := errors.New("etcdserver: request timed out")
	f := newFixture(t, &interceptor.Funcs{Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error { return down }})
	if _, _, err := f.judgeAs("apps", "web", false); !errors.Is(err, down) {
		t.Fatalf("err %v, want %v", err, down)
	}
	if f.events[EventAPIError] == 0 {
		t.Fatalf("events %v", f.events)
	}
}

// Losing the take-over (Conflict: another writer updated first) means
// reading again and finding the winner.
func TestLeasesTakeOverConflict(t *testing.T) {
	t.Parallel()
	var f *fixture
	f = newFixture(t, &interceptor.Funcs{Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
		// Another replica takes it over first.
		rival := f.l.Lease(claim, Grant{Namespace: "rival", Owner: "r"}, f.now)
		rival.ResourceVersion = obj.GetResourceVersion()
		if err := c.Update(ctx, rival); err != nil {
			return err
		}
		return c.Update(ctx, obj, opts...)
	}})
	if _, _, err := f.judgeAs("apps", "web", false); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(2 * time.Minute)
	granted, holder, err := f.judgeAs("other", "db", false)
	if err != nil || granted || holder != "rival/r" {
		t.Fatalf("lost take-over: granted %v, holder %q, err %v", granted, holder, err)
	}
}

func TestLeasesSweep(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	mk := func(addr string, owner string, at time.Time) {
		c := validate.Claim{Subnet: "ovn-default", Addr: netip.MustParseAddr(addr)}
		if err := f.c.Create(ctx, f.l.Lease(c, Grant{Namespace: "apps", Owner: owner}, at)); err != nil {
			t.Fatal(err)
		}
	}
	mk("10.16.0.1", "old", f.now.Add(-2*time.Minute))
	mk("10.16.0.2", "bound", f.now)
	mk("10.16.0.3", "live", f.now)
	// Not a reservation: the leader election Lease stays.
	other := &coordinationv1.Lease{}
	other.Name, other.Namespace = "ipamguard-leader", "ipamguard-system"
	if err := f.c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	n, err := f.l.Sweep(ctx, func(r Reservation) Verdict {
		if r.Owner == "bound" {
			return Release
		}
		return Keep
	})
	if err != nil || n != 2 {
		t.Fatalf("Sweep: %d deleted, err %v", n, err)
	}
	var list coordinationv1.LeaseList
	if err := f.c.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, le := range list.Items {
		left = append(left, le.Name)
	}
	if len(left) != 2 || !strings.Contains(strings.Join(left, " "), "ipamguard-leader") ||
		!strings.Contains(strings.Join(left, " "), LeaseName("ovn-default", netip.MustParseAddr("10.16.0.3"))) {
		t.Fatalf("left %v", left)
	}
	if f.events[EventExpired] != 1 || f.events[EventReleased] != 1 {
		t.Fatalf("events %v", f.events)
	}
}

// expired writes n Leases that lapsed a minute ago, for 10.16.<third>.0
// and on.
func (f *fixture) expired(t *testing.T, n int, third byte) {
	t.Helper()
	for i := range n {
		c := validate.Claim{Subnet: "ovn-default", Addr: netip.AddrFrom4([4]byte{10, 16, third, byte(i)})}
		if err := f.c.Create(context.Background(), f.l.Lease(c, Grant{Namespace: "apps", Owner: fmt.Sprint("p", third, "-", i)}, f.now.Add(-2*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
}

// A sweep paces its deletes (SweepRate, bursts of a tenth): 60 expired
// Leases at 200/s take at least (60-20)/200 s, and all go.
func TestLeasesSweepPaced(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.l.SweepRate = 200
	ctx := context.Background()
	f.expired(t, 60, 1)
	began := time.Now()
	n, err := f.l.Sweep(ctx, nil)
	if took := time.Since(began); err != nil || n != 60 || took < 190*time.Millisecond {
		t.Fatalf("Sweep: %d deleted in %v, err %v; want 60 in at least 200 ms", n, took, err)
	}
	// A sweep whose context ends stops, with what it deleted.
	f.expired(t, 60, 2)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if n, err := f.l.Sweep(short, nil); err == nil || n >= 60 {
		t.Fatalf("Sweep with a 50 ms context: %d deleted, err %v; want fewer than 60 and an error", n, err)
	}
}

// More due than SweepRate deletes within the cleanup's interval: the
// sweep goes as fast as deletes them all within it (60 at 10/s would take
// 6 s; within 1 s, at 60/s in bursts of 6, they take 0.9 s), so a
// sustained rate of admissions above SweepRate does not grow the Leases.
func TestLeasesSweepKeepsUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.l.SweepRate = 10
	ctx := context.Background()
	f.expired(t, 60, 3)
	began := time.Now()
	n, err := f.l.sweep(ctx, nil, time.Second)
	// Paced at 10/s it would take 5.9 s; unpaced, no time at all.
	if took := time.Since(began); err != nil || n != 60 || took < 800*time.Millisecond || took > 5*time.Second {
		t.Fatalf("sweep within 1 s: %d deleted in %v, err %v; want 60 in about 0.9 s", n, took, err)
	}
}

func TestSweepPace(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		configured float64
		due        int
		within     time.Duration
		want       float64
	}{
		{0, 10, 0, DefaultSweepRate},
		{0, 10, 10 * time.Second, DefaultSweepRate},
		{10, 60, time.Second, 60},
		{10, 5, time.Second, 10},
		{10, 60, 0, 10},
		{100, 5000, 10 * time.Second, MaxSweepRate},
		{100, 100000, time.Second, MaxSweepRate},
		{100, 3000, 10 * time.Second, 300},
	} {
		if got := sweepPace(c.configured, c.due, c.within); got != c.want {
			t.Errorf("sweepPace(%v, %d, %v) = %v, want %v", c.configured, c.due, c.within, got, c.want)
		}
	}
}

// Every Judge that touches the API server records its time once, by
// result; a judgement that asks about no address records nothing.
func TestLeasesJudgeObservesDuration(t *testing.T) {
	t.Parallel()
	down := false
	f := newFixture(t, &interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if down {
			return errors.New("etcdserver: request timed out")
		}
		return c.Create(ctx, obj, opts...)
	}})
	got := map[string]int{}
	f.l.ObserveDuration = func(result string, d time.Duration) {
		if d < 0 {
			t.Errorf("%s: negative duration %v", result, d)
		}
		got[result]++
	}
	if err := f.l.Judge(context.Background(), func(validate.Reservations) Grant { return Grant{} }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("a judgement without addresses recorded %v", got)
	}
	steps := []struct {
		owner       string
		dry, failed bool
		want        string
	}{
		{"web", true, false, ResultRead},
		{"web", false, false, ResultGranted},
		{"db", false, false, ResultRefused},
		{"web", false, false, ResultGranted}, // the retry
	}
	for i, s := range steps {
		if _, _, err := f.judgeAs("apps", s.owner, s.dry); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	down = true
	f.now = f.now.Add(time.Hour)
	if _, _, err := f.judgeAs("apps", "x", false); err == nil {
		t.Fatal("a failed create was not returned")
	}
	want := map[string]int{ResultRead: 1, ResultGranted: 2, ResultRefused: 1, ResultError: 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s recorded %d times, want %d (all %v)", k, got[k], v, got)
		}
	}
}

// Another build's Leases, in a rolling upgrade: one in the form of eight
// annotations is read as a reservation; one this build cannot read at all
// (a later form) holds its address, whoever asks, until its times say it
// lapsed, and the sweep leaves it until then.
func TestLeasesOfAnotherBuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	secs := int32(60)
	write := func(f *fixture, ann map[string]string) {
		at := metav1.NewMicroTime(f.now.Add(-10 * time.Second))
		holder := "apps/web"
		le := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: LeaseName(claim.Subnet, claim.Addr), Namespace: "ipamguard-system",
			Labels: map[string]string{LabelReservation: "true"}, Annotations: ann},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, AcquireTime: &at, LeaseDurationSeconds: &secs}}
		if err := f.c.Create(ctx, le); err != nil {
			t.Fatal(err)
		}
	}
	legacy := map[string]string{"ipamguard.io/subnet": claim.Subnet, "ipamguard.io/address": claim.Addr.String(),
		"ipamguard.io/namespace": "apps", "ipamguard.io/owner": "web", "ipamguard.io/pod": "web",
		"ipamguard.io/pod-uid": "uid-web", "ipamguard.io/request-uid": "req", "ipamguard.io/state": "admitted"}
	later := map[string]string{reservation.Annotation: `{"v":2,"fields":["unknown"]}`}
	for name, ann := range map[string]map[string]string{"eight annotations": legacy, "unreadable": later} {
		f := newFixture(t, nil)
		write(f, ann)
		if name == "eight annotations" {
			got := reservationtest.Fields(t, f.lease(t))
			if got.Owner != "web" || got.PodUID != "uid-web" || got.Addr != claim.Addr || !got.Expires.Equal(f.now.Add(50*time.Second)) {
				t.Errorf("%s: read as %+v", name, got)
			}
		}
		// Another owner is refused, and nothing is written; a Lease this
		// build cannot read names nobody, so its holderIdentity's owner
		// is refused too, and so is a dry run.
		rv := f.lease(t).ResourceVersion
		want := "apps/web"
		if name == "unreadable" {
			want = "/"
			if granted, holder, err := f.judgeAs("apps", "web", false); err != nil || granted || holder != want {
				t.Errorf("%s: the owner its holderIdentity names: granted %v, holder %q, err %v", name, granted, holder, err)
			}
		}
		if granted, holder, err := f.judgeAs("apps", "db", false); err != nil || granted || holder != want {
			t.Errorf("%s: another owner: granted %v, holder %q, err %v", name, granted, holder, err)
		}
		if granted, holder, err := f.judgeAs("apps", "db", true); err != nil || granted || holder != want {
			t.Errorf("%s: another owner's dry run: granted %v, holder %q, err %v", name, granted, holder, err)
		}
		if f.lease(t).ResourceVersion != rv {
			t.Errorf("%s: the holder's lease was rewritten", name)
		}
		// Live: a verdict cannot release another build's Lease.
		if name == "unreadable" {
			if n, err := f.l.Sweep(ctx, func(Reservation) Verdict { return Release }); err != nil || n != 0 {
				t.Errorf("%s: a releasing verdict deleted %d (err %v)", name, n, err)
			}
		}
		// Live: the sweep leaves it.
		if n, err := f.l.Sweep(ctx, nil); err != nil || n != 0 {
			t.Errorf("%s: live sweep deleted %d (err %v)", name, n, err)
		}
		// Lapsed: taken over by the next request, or swept.
		f.now = f.now.Add(51 * time.Second)
		if n, err := f.l.Sweep(ctx, nil); err != nil || n != 1 {
			t.Errorf("%s: lapsed sweep deleted %d (err %v)", name, n, err)
		}
		write(f, ann)
		f.now = f.now.Add(51 * time.Second)
		if granted, _, err := f.judgeAs("apps", "db", false); err != nil || !granted {
			t.Errorf("%s: lapsed, another owner: granted %v, err %v", name, granted, err)
		}
		if got := reservationtest.Fields(t, f.lease(t)); got.Owner != "db" {
			t.Errorf("%s: after the takeover the lease says %+v", name, got)
		}
	}
	// Another build's Lease cannot hold an address longer than this
	// build's TTL after its times, whatever duration it says.
	f := newFixture(t, nil)
	secs = 1 << 30
	write(f, later)
	if granted, _, err := f.judgeAs("apps", "db", false); err != nil || granted {
		t.Errorf("a fresh unreadable lease of a long duration: granted %v, err %v", granted, err)
	}
	f.now = f.now.Add(51 * time.Second)
	if granted, _, err := f.judgeAs("apps", "db", false); err != nil || !granted {
		t.Errorf("an unreadable lease of a long duration, past this build's TTL: granted %v, err %v", granted, err)
	}
}

// A created Lease's reservation is built from what was written, not read
// back from it: it must equal what reading the stored Lease gives.
func TestCreatedIsWhatIsRead(t *testing.T) {
	t.Parallel()
	// The API server keeps microseconds and answers the create with the
	// stored object, which the client decodes into the Lease it sent; the
	// fake client stores it but does not answer it: read back here.
	f := newFixture(t, &interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if err := c.Create(ctx, obj, opts...); err != nil {
			return err
		}
		return c.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	}})
	f.now = f.now.Add(1234567 * time.Nanosecond)
	g := Grant{Claims: []validate.Claim{claim}, Namespace: "ns", Owner: "o", Pod: "p", PodUID: "uid", RequestUID: "req"}
	a, err := f.l.try(context.Background(), claim, g)
	if err != nil {
		t.Fatal(err)
	}
	if a.step != stepCreated {
		t.Fatalf("step %v, want created", a.step)
	}
	stored, ok := reservationOf(f.lease(t))
	if !ok {
		t.Fatal("the stored Lease is not a reservation")
	}
	// Times compare by instant: the stored ones come back in time.Local.
	same := func(x, y time.Time) bool { return x.Equal(y) }
	got, want := a.r, stored
	if !same(got.Acquired, want.Acquired) || !same(got.Renewed, want.Renewed) || !same(got.Expires, want.Expires) {
		t.Fatalf("created times %v %v %v, stored %v %v %v", got.Acquired, got.Renewed, got.Expires, want.Acquired, want.Renewed, want.Expires)
	}
	got.Acquired, got.Renewed, got.Expires = want.Acquired, want.Renewed, want.Expires
	if got != want {
		t.Fatalf("created\n%#v\nstored\n%#v", got, want)
	}
	if a.r.Acquired.IsZero() || a.r.Expires.Sub(a.r.Acquired) != time.Minute {
		t.Fatalf("times %v to %v, want a TTL of 1m", a.r.Acquired, a.r.Expires)
	}
}
