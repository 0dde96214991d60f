package reserve

// Leases keep the reservations in the API server, so that every replica of
// the webhook sees them: one coordination.k8s.io/v1 Lease per reserved
// address, in the webhook's own namespace.
//
// Why a Lease and not an own CRD: the Lease is built into every cluster
// (nothing to install before the webhook can start, no CRD upgrade path, no
// conversion), its schema already says what a reservation is — a holder
// (spec.holderIdentity), since when (spec.acquireTime, spec.renewTime) and
// for how long (spec.leaseDurationSeconds) — and the webhook already holds
// RBAC on Leases in its namespace for leader election, so only the delete
// verb is added. `kubectl get leases -n <ns> -l ipamguard.io/reservation`
// lists who holds what (HOLDER column). What an own CRD would add (printer
// columns for subnet and address, a status subresource) is in the name
// and the one annotation here (pkg/reservation). The price: the leader election Lease shares the
// namespace and the RBAC grant, told apart by the label.
//
// Atomicity comes from etcd: create fails with AlreadyExists for all but
// one creator of a name, and an expired Lease is taken over with an update
// that carries the resourceVersion read, which fails with Conflict for all
// but one writer. This is how Kubernetes reserves Service ClusterIPs
// (KEP-1880, one IPAddress object per address).
//
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=system,resources=leases,verbs=get;list;watch;create;update;delete

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/pkg/reservation"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// APITTL is the default lifetime of a reservation in the API server: as
// long as Kubernetes keeps an orphaned ClusterIP (KEP-1880's repair loop).
const APITTL = 60 * time.Second

// WriteTimeout bounds the reads and writes of one Judge when its context
// has no earlier deadline: below the Pod webhook's timeoutSeconds (3 s).
// The webhook's handler gives a request 1.5 s in all (its budget), which
// is the deadline that binds there; past it the request is refused with a
// Timeout.
const WriteTimeout = 2 * time.Second

// LabelReservation marks a Lease as an address reservation; its value is
// "true". The stored form is pkg/reservation's.
const LabelReservation = reservation.Label

// StateAdmitted is the state of a reservation written by an admission:
// the pod was admitted, Kube-OVN has not bound the address yet.
const StateAdmitted = "admitted"

// Events counted by Leases.Observe.
const (
	EventCreated   = "created"
	EventRefused   = "refused"
	EventTakenOver = "taken_over"
	EventExpired   = "expired"
	EventReleased  = "released"
	EventAPIError  = "api_error"
)

// Results of one Judge, passed to Leases.ObserveDuration.
const (
	ResultGranted = "granted"
	ResultRefused = "refused"
	ResultRead    = "read"
	ResultError   = "error"
)

// Leases is the API-backed reservation store. Its Judge has the contract
// of Table.Judge across any number of replicas sharing one API server.
type Leases struct {
	// Client reads and writes Leases; it must not be a cached client (a
	// cache is behind the API server and would let two holders through).
	Client client.Client
	// Namespace is where the Leases live: the webhook's own.
	Namespace string
	// TTL is how long a reservation whose pod has not shown up holds the
	// address; zero is APITTL.
	TTL time.Duration
	// Timeout bounds the API calls of one Judge; zero is WriteTimeout.
	Timeout time.Duration
	// Observe counts events (Event*); nil counts nothing.
	Observe func(event string)
	// ObserveDuration records the time one Judge spent in the API server
	// (its reads and writes, not the judgements), by result (Result*); nil
	// records nothing.
	ObserveDuration func(result string, d time.Duration)
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Confirm, when set, makes another owner's live reservation refuse a
	// request only once its holder is confirmed real (confirm.go): what
	// keeps reservations safe when callers are not verified. Nil trusts
	// every reservation until its TTL.
	Confirm *Confirm
	// Log receives the errors that do not fail a request (a read for a
	// request that writes nothing); the zero Logger discards them.
	Log logr.Logger
	// SweepRate paces a Sweep's deletes, per second (bursts of a tenth of
	// it); zero is DefaultSweepRate. RunCleanup goes faster when more are
	// due than that deletes in its interval: as fast as deletes them all
	// within it, up to MaxSweepRate. The sweep shares its client with the
	// admissions, whose client-side limit is a guard, not a pace: a sweep
	// of thousands of expired Leases must not take it all.
	SweepRate float64
}

// DefaultSweepRate is Leases.SweepRate's default: a tenth of the
// reservations' client-side limit (webhook.ReservationQPS).
const DefaultSweepRate = 100

// MaxSweepRate bounds how fast RunCleanup catches up with a backlog (after
// a leader outage, say): half the reservations' client-side limit, so the
// admissions keep the other half. Its deletes are one at a time, so the
// round trip bounds it too (a few hundred per second).
const MaxSweepRate = 500

func (l *Leases) ttl() time.Duration {
	if l.TTL > 0 {
		return l.TTL
	}
	return APITTL
}

func (l *Leases) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Leases) observe(event string) {
	if l.Observe != nil {
		l.Observe(event)
	}
}

// Warm asks the API server once how it serves Leases (and, with Confirm,
// Pods), through the clients Judge uses, which otherwise discover it
// lazily: on the first admission after a start, inside its budget and,
// with Confirm, inside the grace given to the holders a call reads first.
// Clients without a RESTMapper are left as they are.
func (l *Leases) Warm() error {
	type target struct {
		c   any
		gvk schema.GroupVersionKind
	}
	targets := []target{{l.Client, coordinationv1.SchemeGroupVersion.WithKind("Lease")}}
	if l.Confirm != nil {
		targets = append(targets, target{l.Confirm.Pods, schema.GroupVersionKind{Version: "v1", Kind: "Pod"}})
	}
	for _, t := range targets {
		m, ok := t.c.(interface{ RESTMapper() meta.RESTMapper })
		if !ok {
			continue
		}
		if _, err := m.RESTMapper().RESTMapping(t.gvk.GroupKind(), t.gvk.Version); err != nil {
			return fmt.Errorf("discover how the API server serves %s: %w", t.gvk.Kind, err)
		}
	}
	return nil
}

// LeaseName is the name of the Lease reserving address a of subnet
// (reservation.Name).
func LeaseName(subnet string, a netip.Addr) string { return reservation.Name(subnet, a) }

// Reservation is one reservation as stored.
type Reservation struct {
	// Name is the Lease's.
	Name string
	// Fields are what the Lease says: address, requester, times.
	reservation.Fields
	uid             types.UID
	resourceVersion string
}

// reservationOf reads a Lease; ok is false for a Lease that is not a
// well-formed reservation.
func reservationOf(le *coordinationv1.Lease) (Reservation, bool) {
	f, ok := reservation.Read(le)
	if !ok {
		return Reservation{}, false
	}
	return Reservation{Name: le.Name, Fields: f, uid: le.UID, resourceVersion: le.ResourceVersion}, true
}

// unreadable is what is known of a Lease reservationOf cannot read, with
// c as its address: when it lapses (its times, but no later than this
// build's TTL after them: a Lease of another build cannot hold an address
// for longer than a reservation of this one), and nothing of its holder,
// so that it is nobody's: an empty namespace and owner equal no
// requester's (validate.InFlight refuses every request for the address
// and says why). Live only when labelled (Labelled).
func (l *Leases) unreadable(le *coordinationv1.Lease, c validate.Claim) Reservation {
	r := Reservation{Name: le.Name, uid: le.UID, resourceVersion: le.ResourceVersion}
	r.Subnet, r.Addr = c.Subnet, c.Addr
	r.Acquired, r.Renewed, r.Expires = reservation.Expiry(le)
	from := r.Renewed
	if from.IsZero() {
		from = r.Acquired
	}
	if limit := from.Add(l.ttl()); r.Expires.After(limit) {
		r.Expires = limit
	}
	return r
}

// heldUnreadable reports whether le is another build's live reservation:
// labelled, unreadable here, not lapsed (unreadable) at now.
func (l *Leases) heldUnreadable(le *coordinationv1.Lease, c validate.Claim, now time.Time) (Reservation, bool) {
	if !reservation.Labelled(le) {
		return Reservation{}, false
	}
	r := l.unreadable(le, c)
	return r, now.Before(r.Expires)
}

// Lease builds the Lease reserving c for g, taken at now (Judge writes
// it; tools and tests may write one too).
func (l *Leases) Lease(c validate.Claim, g Grant, now time.Time) *coordinationv1.Lease {
	le, _ := l.lease(c, g, now)
	return le
}

// lease is Lease, and what it says but its times.
func (l *Leases) lease(c validate.Claim, g Grant, now time.Time) (*coordinationv1.Lease, reservation.Fields) {
	secs := int32((l.ttl() + time.Second - 1) / time.Second)
	t := metav1.NewMicroTime(now)
	holder := g.Namespace + "/" + g.Owner
	f := reservation.Fields{Subnet: c.Subnet, Addr: c.Addr, Namespace: g.Namespace, Owner: g.Owner,
		Pod: g.Pod, PodUID: g.PodUID, RequestUID: g.RequestUID, State: StateAdmitted}
	labels, ann := reservation.Meta(f)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: LeaseName(c.Subnet, c.Addr), Namespace: l.Namespace, Labels: labels, Annotations: ann},
		// No renew time: it is the acquire time until a renewal (one
		// field less for the API server to track on every admission).
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &t},
	}, f
}

// created is the reservation le says once written (created or updated):
// f (what lease built it from) with le's times as the API server stored
// them (the client decodes its answer into le): reservationOf without
// parsing back the annotation just marshalled. A mutating admission that
// rewrote the annotation on the way in would not be seen here; nothing
// of the install does.
func created(le *coordinationv1.Lease, f reservation.Fields) Reservation {
	f.Acquired, f.Renewed, f.Expires = reservation.Expiry(le)
	return Reservation{Name: le.Name, Fields: f, uid: le.UID, resourceVersion: le.ResourceVersion}
}

// Judge runs judge and writes what it grants, one Lease per claim. Of
// many concurrent calls for one address, on any number of replicas,
// exactly one creates its Lease; a call that finds another owner's live
// Lease runs judge again with that holder in view, so the request is
// refused (or, in warn and audit modes, admitted without the address being
// taken from the first holder). Leases written by a call whose second
// judgement denies are deleted again.
//
// The first judgement sees no reservations: the write is the check, so an
// admission that wins costs one API call. A judgement that grants nothing
// (a dry run, a request denied by other rules) writes nothing and reads
// the Leases of the addresses it asked about instead, so a dry run is
// answered as the real request would be; when that read fails, the first
// judgement stands (the error is logged). Any API error while writing, or
// ctx ending (also before or during the first judgement, which then grants
// nothing whatever the request is, or the read), is returned: the caller
// must then refuse the request, since an address it could not reserve may
// be another's.
//
// With Confirm, the holders of other owners' Leases are confirmed within
// one deadline for the whole call (confirm.go): its start plus the window,
// on this replica's clock, shared by every claim and every round.
func (l *Leases) Judge(ctx context.Context, judge func(held validate.Reservations) Grant) (err error) {
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = WriteTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	asked := &askedView{}
	g := judge(asked)
	// The time added is the API calls' (and the second judgement's, which
	// only runs when an address is held): the first judgement is what the
	// webhook does without reservations too.
	began := time.Now()
	result := ResultGranted
	defer func() {
		if l.ObserveDuration != nil && (len(g.Claims) > 0 || len(asked.keys) > 0) {
			if err != nil {
				result = ResultError
			}
			l.ObserveDuration(result, time.Since(began))
		}
	}()
	if len(g.Claims) == 0 {
		result = ResultRead
		if err := ctx.Err(); err != nil {
			// The budget ran out in (or before) the first judgement, which
			// then grants nothing whatever the request is: answering it
			// would admit a pod without its reservation. Fail closed.
			return fmt.Errorf("judge the reservations: %w", err)
		}
		l.rejudgeRead(ctx, judge, asked.keys)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read the reservations: %w", err)
		}
		return nil
	}
	run := &judgeRun{start: l.now(), seen: map[string]time.Time{}}
	if l.Confirm != nil {
		run.deadline = run.start.Add(l.Confirm.window())
	}
	mine, conflicts, err := l.acquireAll(ctx, run, g, judge)
	if err != nil {
		l.observe(EventAPIError)
		return errors.Join(err, l.release(mine))
	}
	if len(conflicts) == 0 {
		return nil
	}
	result = ResultRefused
	// Another owner holds an address: judge again with what the API
	// server holds.
	g = judge(fixedView(conflicts))
	keep := map[key]bool{}
	for _, c := range g.Claims {
		keep[key{c.Subnet, c.Addr}] = true
	}
	var drop []Reservation
	for _, r := range mine {
		if !keep[key{r.Subnet, r.Addr}] {
			drop = append(drop, r)
		}
	}
	return l.release(drop)
}

// rejudgeRead reads the live reservations of keys and, if any is held,
// judges again with them in view; it writes nothing. A read that fails is
// logged and counted, and leaves the first judgement standing: the request
// writes nothing, so a denial on other grounds stays that denial, and a
// dry run is answered without the reservation it could not read.
func (l *Leases) rejudgeRead(ctx context.Context, judge func(held validate.Reservations) Grant, keys []key) {
	held := fixedView{}
	for _, k := range keys {
		le := &coordinationv1.Lease{}
		err := l.Client.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: LeaseName(k.subnet, k.addr)}, le)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			l.observe(EventAPIError)
			l.Log.Error(err, "read reservation for a request that writes nothing; answered without it", "subnet", k.subnet, "address", k.addr.String())
			return
		}
		r, ok := reservationOf(le)
		if !ok {
			// Another build's, unreadable here: held, as for a write.
			if r, live := l.heldUnreadable(le, validate.Claim{Subnet: k.subnet, Addr: k.addr}, l.now()); live {
				held[k] = r
			}
			continue
		}
		if l.now().Before(r.Expires) {
			if ok, err := l.heldForRead(ctx, r); err != nil {
				l.observe(EventAPIError)
				l.Log.Error(err, "confirm reservation holder for a request that writes nothing; answered without it", "subnet", k.subnet, "address", k.addr.String())
				return
			} else if ok {
				held[k] = r
			}
		}
	}
	if len(held) > 0 {
		judge(held)
	}
}

// judgeRun is the state of one Judge that writes.
type judgeRun struct {
	// start is when the call began, deadline when waiting for holders to
	// be confirmed ends (start plus the window; zero without Confirm), on
	// this replica's clock (Leases.Now).
	start, deadline time.Time
	// seen is when each version of another owner's Lease (name and
	// resourceVersion) was first read in this call: an unconfirmed holder
	// is taken over only once it has been watched for the window.
	seen map[string]time.Time
}

// see records that a's Lease was read at now, unless its version was
// read before, and returns when its version was first read.
func (run *judgeRun) see(a *attempt, now time.Time) time.Time {
	k := a.cur.Name + "@" + a.cur.ResourceVersion
	if t, ok := run.seen[k]; ok {
		return t
	}
	run.seen[k] = now
	return now
}

// seenAt returns when a's Lease version was first read (see).
func (run *judgeRun) seenAt(a *attempt) time.Time {
	return run.seen[a.cur.Name+"@"+a.cur.ResourceVersion]
}

// Two small fractions of the window, each at most 100 ms and at most a
// quarter of the window.
const (
	// watchGrace: the wait for holders may run past the call's deadline by
	// this much, so that the Leases read in the call's first moments
	// (after its own creates and reads) are watched for a whole window.
	// Holders first read later than that are not waited for again: not
	// confirmed at the deadline, they refuse the request (fail closed).
	watchGrace = 100 * time.Millisecond
	// restampAge: a Lease of this request older than this when the call
	// ends is stamped again (restamp), whatever made the call slow.
	restampAge = 100 * time.Millisecond
)

// fraction returns d, at most a quarter of the window.
func (c *Confirm) fraction(d time.Duration) time.Duration {
	return min(d, c.window()/4)
}

// step is what one attempt at a claim found.
type step int

const (
	// stepRetry: the Lease vanished between the create and the read.
	stepRetry step = iota
	// stepCreated: the Lease was created; the claim is this request's.
	stepCreated
	// stepGranted: the same owner holds it; nothing to write.
	stepGranted
	// stepHeld: another owner holds it; the request is refused.
	stepHeld
	// stepWrite: the Lease is to be rewritten (taken over or renewed).
	stepWrite
	// stepConfirm: its holder must be confirmed first (Confirm).
	stepConfirm
)

// attempt is one claim's progress in one round of acquireAll.
type attempt struct {
	c    validate.Claim
	step step
	// cur is the Lease read, r its reservation, want what is to be
	// written over it (stepWrite).
	cur  *coordinationv1.Lease
	r    Reservation
	want *coordinationv1.Lease
	// fields are what want says but its times (lease).
	fields reservation.Fields
	// same: the Lease is the same owner's (with another pod, when it is to
	// be confirmed). renew: the rewrite keeps it that owner's, not this
	// request's to release. unconfirmed: taken over from a holder not
	// confirmed.
	same, renew, unconfirmed bool
	// confirmed and resolved are set by confirmAll.
	confirmed, resolved bool
}

// maxRounds bounds the rounds of acquireAll: each lost round means another
// writer won, and the next read sees its Lease.
const maxRounds = 4

// acquireAll reserves g's claims: it returns the reservations written
// (this request's to release) and the live reservations of other owners
// in the way. Each round creates (or reads) every claim's Lease first,
// then confirms the holders found, all within run's one deadline, then
// writes the takeovers; a claim whose takeover was lost goes to the next
// round. Once another owner holds a claim, judge runs again before the
// takeovers are written, and only the claims it still grants are written:
// a request to be refused takes nothing from in-flight holders. Leases
// this request wrote that have aged meanwhile are stamped again at the end
// (see restamp).
func (l *Leases) acquireAll(ctx context.Context, run *judgeRun, g Grant, judge func(held validate.Reservations) Grant) (mine []Reservation, conflicts map[key]Reservation, err error) {
	conflicts = map[key]Reservation{}
	todo := g.Claims
	for round := 0; len(todo) > 0; round++ {
		if round == maxRounds {
			return mine, nil, fmt.Errorf("reserve %s in subnet %s: lease %s: too many concurrent writers", todo[0].Addr, todo[0].Subnet, LeaseName(todo[0].Subnet, todo[0].Addr))
		}
		var writes, checks []*attempt
		var retry []validate.Claim
		for _, c := range todo {
			a, err := l.try(ctx, c, g)
			if err != nil {
				return mine, nil, fmt.Errorf("reserve %s in subnet %s: %w", c.Addr, c.Subnet, err)
			}
			switch a.step {
			case stepRetry:
				retry = append(retry, c)
			case stepCreated:
				mine = append(mine, a.r)
			case stepHeld:
				l.observe(EventRefused)
				conflicts[key{c.Subnet, c.Addr}] = a.r
			case stepWrite:
				writes = append(writes, a)
			case stepConfirm:
				run.see(a, l.now())
				checks = append(checks, a)
			}
		}
		if len(checks) > 0 {
			if err := l.confirmAll(ctx, run, checks); err != nil {
				return mine, nil, err
			}
			now := l.now()
			for _, a := range checks {
				k := key{a.c.Subnet, a.c.Addr}
				switch {
				case a.confirmed && a.same:
					// The owner's real pod holds it: granted, not relabelled.
				case a.confirmed:
					l.observe(EventConfirmed)
					l.observe(EventRefused)
					conflicts[k] = a.r
				case !a.resolved && now.Sub(run.seenAt(a)) < l.Confirm.window() && a.same:
					// Not watched for the window (first read late: a slow
					// call, or a takeover lost near the deadline), a
					// writer of the same owner: granted, left as written.
				case !a.resolved && now.Sub(run.seenAt(a)) < l.Confirm.window():
					// An unconfirmed holder first read too late to be
					// watched for the window before the deadline (its
					// Lease may be moments old): fail closed, as another
					// wait would time the request out. A forger re-forging
					// one address without pause (re-taking it whenever a
					// takeover is due) can deny it so (docs/operations.md).
					l.observe(EventRefused)
					conflicts[k] = a.r
				default:
					// Watched for the window and not confirmed (or at once:
					// its pod can never hold it, or the Lease is older than
					// the window and the clock-skew allowance): taken over,
					// stamped with the time of the takeover.
					a.step, a.unconfirmed, a.renew = stepWrite, !a.same, a.same
					a.want = l.Lease(a.c, g, l.now())
					writes = append(writes, a)
				}
			}
		}
		todo = retry
		if len(conflicts) > 0 && len(writes) > 0 {
			// The request is refused, or (warn and audit modes) admitted
			// without the addresses held: write only what the judgement
			// with those holders still grants. Taking over (and then
			// deleting) another in-flight holder's Lease would make its
			// own request fail, or leave its address unreserved.
			still := map[key]bool{}
			for _, c := range judge(fixedView(conflicts)).Claims {
				still[key{c.Subnet, c.Addr}] = true
			}
			kept := writes[:0]
			for _, a := range writes {
				if still[key{a.c.Subnet, a.c.Addr}] {
					kept = append(kept, a)
				}
			}
			writes = kept
		}
		for _, a := range writes {
			r, lost, err := l.write(ctx, a)
			switch {
			case err != nil:
				return mine, nil, fmt.Errorf("reserve %s in subnet %s: %w", a.c.Addr, a.c.Subnet, err)
			case lost:
				todo = append(todo, a.c)
			case r != nil:
				mine = append(mine, *r)
			}
		}
	}
	mine, err = l.restamp(ctx, g, mine, conflicts)
	return mine, conflicts, err
}

// try creates c's Lease for g or, when it exists, reads it and says what
// is to be done with it.
func (l *Leases) try(ctx context.Context, c validate.Claim, g Grant) (*attempt, error) {
	now := l.now()
	want, f := l.lease(c, g, now)
	a := &attempt{c: c}
	err := l.Client.Create(ctx, want)
	if err == nil {
		l.observe(EventCreated)
		a.step = stepCreated
		a.r = created(want, f)
		return a, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create lease %s: %w", want.Name, err)
	}
	cur := &coordinationv1.Lease{}
	if err := l.Client.Get(ctx, client.ObjectKeyFromObject(want), cur); apierrors.IsNotFound(err) {
		a.step = stepRetry
		return a, nil
	} else if err != nil {
		return nil, fmt.Errorf("read lease %s: %w", want.Name, err)
	}
	r, ok := reservationOf(cur)
	live := ok && now.Before(r.Expires)
	if !ok {
		r, live = l.heldUnreadable(cur, c, now)
	}
	a.cur, a.r, a.want, a.fields = cur, r, want, f
	sameOwner := live && ok && r.Namespace == g.Namespace && r.Owner == g.Owner
	switch {
	case !live:
		// Expired, or not a reservation: taken over.
		a.step = stepWrite
	case !ok:
		// A live reservation this build cannot read (another build's,
		// during a rolling upgrade): held until it lapses, whoever asks
		// (it names nobody); it cannot have come from a forged request.
		a.step = stepHeld
	case sameOwner && l.Confirm != nil && r.PodUID != g.PodUID:
		// The same owner with another pod, and callers unverified: a
		// forger naming the holder's owner must not relabel a real
		// holder's reservation, in flight or persisted (another pod would
		// then fail to confirm it). Granted either way; rewritten only
		// when the holder is not confirmed within the deadline.
		a.step, a.same = stepConfirm, true
	case sameOwner:
		// The same owner again: a retry, a reinvocation, the same
		// StatefulSet ordinal or VM. Granted; renewed when less than half
		// its TTL is left, so the new pod is covered for a whole TTL as
		// the first one was (another replica could otherwise take the
		// address over moments after granting it here).
		if r.Expires.Sub(now) > l.ttl()/2 {
			a.step = stepGranted
			return a, nil
		}
		a.step, a.renew = stepWrite, true
		if r.PodUID == g.PodUID && cur.Spec.AcquireTime != nil {
			// The same pod: it has held the address since it was
			// acquired (what confirmation compares the pod's creation
			// with); only the renew time moves, and with it the expiry.
			a.want.Spec.RenewTime = a.want.Spec.AcquireTime
			a.want.Spec.AcquireTime = cur.Spec.AcquireTime.DeepCopy()
		}
	case l.Confirm != nil:
		a.step = stepConfirm
	default:
		a.step = stepHeld
	}
	return a, nil
}

// write rewrites a's Lease with a.want, atomically (the resourceVersion
// read): it returns the reservation written when it is this request's,
// or lost when another writer changed the Lease first.
func (l *Leases) write(ctx context.Context, a *attempt) (r *Reservation, lost bool, err error) {
	a.want.ResourceVersion = a.cur.ResourceVersion
	err = l.Client.Update(ctx, a.want)
	switch {
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		return nil, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("take over lease %s: %w", a.want.Name, err)
	case a.renew:
		// Still the owner's; not this request's to release.
		return nil, false, nil
	case a.unconfirmed:
		l.observe(EventUnconfirmedTakenOver)
	default:
		l.observe(EventTakenOver)
	}
	got := created(a.want, a.fields)
	return &got, false, nil
}

// restamp writes the acquire time of the Leases in mine again
// when they are more than restampAge (at most a quarter of the window)
// old at the end of the call, whether it waited for holders or was slow
// otherwise (throttled reads, slow writes): such a Lease looks that much
// older to other replicas while this request's pod is not even persisted
// yet, and another request may have watched it for a window and taken it
// over. The rewrite carries the resourceVersion written, so a Lease
// another request took over meanwhile (it saw it unconfirmed) is not
// overwritten: that address goes to conflicts and the request is refused
// (fail closed), or, taken over by the same owner, is left to it. It also
// changes the resourceVersion, so a takeover another request is about to
// write fails. Without Confirm nothing is taken over before its TTL, and
// nothing is stamped again.
func (l *Leases) restamp(ctx context.Context, g Grant, mine []Reservation, conflicts map[key]Reservation) ([]Reservation, error) {
	if l.Confirm == nil {
		return mine, nil
	}
	age := l.Confirm.fraction(restampAge)
	kept := mine[:0:0]
	for i, r := range mine {
		if l.now().Sub(r.Acquired) <= age {
			kept = append(kept, r)
			continue
		}
		want, f := l.lease(validate.Claim{Subnet: r.Subnet, Addr: r.Addr}, g, l.now())
		want.ResourceVersion = r.resourceVersion
		err := l.Client.Update(ctx, want)
		if err == nil {
			kept = append(kept, created(want, f))
			continue
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			// Returned all, this one and those not reached yet: the
			// caller releases them.
			return append(append(kept, r), mine[i+1:]...), fmt.Errorf("stamp lease %s again: %w", r.Name, err)
		}
		cur := &coordinationv1.Lease{}
		if err := l.Client.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: r.Name}, cur); err != nil {
			// This one is another's now; those not reached yet are
			// this request's to release.
			return append(kept, mine[i+1:]...), fmt.Errorf("lease %s was changed by another writer; read it: %w", r.Name, err)
		}
		now, ok := reservationOf(cur)
		live := false
		if !ok {
			now, live = l.heldUnreadable(cur, validate.Claim{Subnet: r.Subnet, Addr: r.Addr}, l.now())
		}
		if ok && now.Namespace == g.Namespace && now.Owner == g.Owner || !ok && !live {
			// The same owner's (or not a live reservation any more): not
			// this request's to release, nor in its way. Another build's
			// live one, unreadable here, is in its way.
			continue
		}
		l.observe(EventRefused)
		conflicts[key{r.Subnet, r.Addr}] = now
	}
	return kept, nil
}

// ReleaseTimeout bounds the deletes of a release, all at once: it runs
// after the request's own deadline may have passed (the request was
// refused or failed), and must not hold its answer much longer. A Lease
// left behind lapses at its TTL.
const ReleaseTimeout = 2 * time.Second

// release deletes reservations this process wrote, unless someone else has
// taken them over since: all at once, within ReleaseTimeout.
func (l *Leases) release(rs []Reservation) error {
	if len(rs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), ReleaseTimeout)
	defer cancel()
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() { errs[i] = l.delete(ctx, r) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// delete removes r if it is still the object read (UID and
// resourceVersion preconditions).
func (l *Leases) delete(ctx context.Context, r Reservation) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	le := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: l.Namespace}}
	pre := metav1.Preconditions{}
	if r.uid != "" {
		pre.UID = &r.uid
	}
	if r.resourceVersion != "" {
		pre.ResourceVersion = &r.resourceVersion
	}
	err := l.Client.Delete(ctx, le, client.Preconditions(pre))
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		l.observe(EventAPIError)
		return fmt.Errorf("delete lease %s: %w", r.Name, err)
	}
	return nil
}

// Verdict is what the cleanup does with one reservation.
type Verdict int

// Verdicts of a Sweep.
const (
	// Keep leaves the reservation.
	Keep Verdict = iota
	// Release deletes it: the address is bound (Kube-OVN's IP object holds
	// it) or its pod is gone.
	Release
)

// Sweep lists the reservations and deletes those that expired (their pod
// never appeared, or appeared and Kube-OVN has not bound it in the TTL: a
// pending pod then holds the address through the inventory) and those
// verdict releases. It returns how many were deleted. Run it on one
// replica (the leader).
func (l *Leases) Sweep(ctx context.Context, verdict func(Reservation) Verdict) (int, error) {
	return l.sweep(ctx, verdict, 0)
}

// sweep is Sweep, paced at SweepRate or, when more are due than that
// rate deletes within the given time (RunCleanup's interval), at the rate
// that deletes them all in it, up to MaxSweepRate: the sweep keeps up with
// sustained admissions up to that rate (and what one delete at a time
// allows), and spreads a backlog over the interval rather than deleting
// it at once.
func (l *Leases) sweep(ctx context.Context, verdict func(Reservation) Verdict, within time.Duration) (int, error) {
	var list coordinationv1.LeaseList
	if err := l.Client.List(ctx, &list, client.InNamespace(l.Namespace), client.MatchingLabels{LabelReservation: "true"}); err != nil {
		l.observe(EventAPIError)
		return 0, fmt.Errorf("list reservations: %w", err)
	}
	now := l.now()
	type dueRes struct {
		r     Reservation
		event string
	}
	var due []dueRes
	for i := range list.Items {
		r, ok := reservationOf(&list.Items[i])
		if !ok {
			// Another build's, unreadable here: deleted once it lapsed,
			// never on a verdict (it names no pod or address to judge).
			if r, live := l.heldUnreadable(&list.Items[i], validate.Claim{}, now); !live {
				due = append(due, dueRes{r, EventExpired})
			}
			continue
		}
		switch {
		case !now.Before(r.Expires):
			due = append(due, dueRes{r, EventExpired})
		case verdict != nil && verdict(r) == Release:
			due = append(due, dueRes{r, EventReleased})
		}
	}
	pace := sweepPace(l.SweepRate, len(due), within)
	limit := rate.NewLimiter(rate.Limit(pace), max(1, int(pace/10)))
	n := 0
	var errs []error
	for _, d := range due {
		if err := limit.Wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sweep: %w", err))
			break
		}
		if err := l.delete(ctx, d.r); err != nil {
			errs = append(errs, err)
			continue
		}
		l.observe(d.event)
		n++
	}
	return n, errors.Join(errs...)
}

// sweepPace is the rate, per second, at which a sweep deletes due
// Leases: configured (zero is DefaultSweepRate) or, when that would not
// delete them all within the given time (zero: no bound), as fast as
// deletes them all within it, up to MaxSweepRate.
func sweepPace(configured float64, due int, within time.Duration) float64 {
	pace := configured
	if pace <= 0 {
		pace = DefaultSweepRate
	}
	if within > 0 {
		pace = min(max(pace, float64(due)/within.Seconds()), MaxSweepRate)
	}
	return pace
}

// RunCleanup sweeps every interval until ctx ends; errors go to logf. It
// is what the leader runs (leader.Add).
func (l *Leases) RunCleanup(ctx context.Context, interval time.Duration, verdict func(Reservation) Verdict, logf func(err error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := l.sweep(ctx, verdict, interval); err != nil && ctx.Err() == nil && logf != nil {
			logf(err)
		}
	}
}

// askedView holds nothing and records what the judgement asked about.
type askedView struct{ keys []key }

// Holder implements validate.Reservations.
func (v *askedView) Holder(subnet string, a netip.Addr) (string, string, bool) {
	v.keys = append(v.keys, key{subnet, a})
	return "", "", false
}

// fixedView holds the reservations a Judge found in its way.
type fixedView map[key]Reservation

// Holder implements validate.Reservations.
func (f fixedView) Holder(subnet string, a netip.Addr) (string, string, bool) {
	r, ok := f[key{subnet, a}]
	return r.Namespace, r.Owner, ok
}

// String describes r for logs.
func (r Reservation) String() string {
	return r.Addr.String() + " in subnet " + r.Subnet + " for " + r.Namespace + "/" + r.Owner + " until " + r.Expires.Format(time.RFC3339) + " (" + strconv.Quote(r.State) + ")"
}
