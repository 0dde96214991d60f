// Package reserve remembers the fixed addresses of admissions still in
// flight: a pod admitted a moment ago is not in the inventory yet, and a
// second pod asking for its address must be refused all the same.
//
// The table lives in one process: with several replicas, each protects the
// requests it serves (docs/operations.md). Leases keeps the same
// reservations in the API server instead, shared by every replica. Its lock is its own: callers
// judge and reserve through Table.Judge, never by locking it.
package reserve

import (
	"context"
	"net/netip"
	"time"

	"github.com/ipamguard/ipamguard/pkg/validate"
)

// TTL is how long an admitted pod's claim on its addresses lasts by
// default: long enough for the pod to reach the informer cache, where it
// is seen as a pending pod.
const TTL = 30 * time.Second

// Table holds the addresses claimed by pods admitted in the last TTL,
// until the pods show up in the inventory.
type Table struct {
	// lock is a one-slot semaphore rather than a sync.Mutex, so that a
	// request whose deadline passes while it waits gives up (Judge).
	lock      chan struct{}
	m         map[key]entry
	ttl       time.Duration
	now       func() time.Time
	lastSweep time.Time
}

// key is what a reservation is of: one address of one subnet.
type key struct {
	subnet string
	addr   netip.Addr
}

type entry struct {
	namespace, owner string
	expires          time.Time
}

// New returns an empty table whose claims last ttl.
func New(ttl time.Duration) *Table {
	return &Table{lock: make(chan struct{}, 1), m: map[key]entry{}, ttl: ttl, now: time.Now}
}

// Grant is what a judgement asks to reserve. Leases.Judge may call its
// judge function more than once (when a write finds another holder): the
// last call's Grant counts, so a judge function must not accumulate across
// calls.
type Grant struct {
	// Claims are the addresses to reserve; none reserves nothing.
	Claims []validate.Claim
	// Namespace and Owner identify the requester (the pod, or its
	// KubeVirt VM), so that the same owner asking again is not refused.
	Namespace, Owner string
	// Pod, PodUID and RequestUID say which pod and which admission request
	// took the reservation, for whoever reads it (Leases stores them).
	Pod, PodUID, RequestUID string
}

// Judge runs judge with the table locked, handing it a view of the live
// claims, and reserves what it grants: checking and reserving are one
// step, so of many requests for one address exactly one is granted. The
// lock is the table's only one and judge should be a few lookups: every
// fixed-IP admission waits for it. If ctx ends while Judge waits for the
// lock, judge is not run, nothing is reserved, and ctx's error is
// returned.
func (t *Table) Judge(ctx context.Context, judge func(held validate.Reservations) Grant) error {
	select {
	case t.lock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-t.lock }()
	if err := ctx.Err(); err != nil {
		// Both were ready: a request out of time reserves nothing.
		return err
	}
	g := judge(view{t})
	if len(g.Claims) == 0 {
		return nil
	}
	now := t.now()
	// Expired entries are swept at most once a second, keeping the work
	// per admission constant under load.
	if now.Sub(t.lastSweep) >= time.Second {
		t.lastSweep = now
		for c, e := range t.m {
			if !now.Before(e.expires) {
				delete(t.m, c)
			}
		}
	}
	for _, c := range g.Claims {
		k := key{c.Subnet, c.Addr}
		if e, ok := t.m[k]; ok && now.Before(e.expires) && (e.namespace != g.Namespace || e.owner != g.Owner) {
			// Another owner's live claim (a conflict the policy only
			// warned about) is kept: the first requester keeps it.
			continue
		}
		t.m[k] = entry{namespace: g.Namespace, owner: g.Owner, expires: now.Add(t.ttl)}
	}
	return nil
}

// view reads the table while Judge holds its lock.
type view struct{ t *Table }

// Holder implements validate.Reservations.
func (v view) Holder(subnet string, a netip.Addr) (string, string, bool) {
	e, ok := v.t.m[key{subnet, a}]
	if !ok || !v.t.now().Before(e.expires) {
		return "", "", false
	}
	return e.namespace, e.owner, true
}

// Len returns the number of live reservations.
func (t *Table) Len() int {
	t.lock <- struct{}{}
	defer func() { <-t.lock }()
	n := 0
	for _, e := range t.m {
		if t.now().Before(e.expires) {
			n++
		}
	}
	return n
}
