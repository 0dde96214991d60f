package reserve

// Confirmation makes the Leases safe when the webhook cannot tell the API
// server from any other caller (no --client-ca-file, as in the shipped
// install). Anyone who reaches the webhook's port can then post an
// AdmissionReview of their own making and have a Lease written for a pod
// that never exists; trusted until its TTL, that Lease would refuse the
// real pod that asks for the address next. So a reservation refuses
// another pod only once its holder is confirmed real: the pod it names
// exists in the API server with the UID it records, is not being deleted
// and has not finished, was created no earlier than its admission could
// have written the Lease (maxCreationLead before the acquire time), is not
// pending past the pending-holder limit, and asks for the reserved
// address (by the same claims the Pod validator computes).
//
// A holder whose pod is not there yet may be in flight: the API server
// persists a pod right after every validating webhook has answered,
// typically within milliseconds. So each Judge has ONE deadline, its
// start plus the confirmation window W on this replica's clock, shared by
// all its claims and rounds; until then the holders of every contested
// claim are polled together. A holder not confirmed by then (no such
// pod, another UID, a pod that does not ask for the address as this
// replica's inventory reads it) is taken over, atomically
// (resourceVersion precondition), as an expired one is — provided this
// call has watched that version of its Lease for W: the Leases read in
// the call's first moments are polled up to watchGrace past the deadline
// to get their W, and an unconfirmed holder first read later (the call's
// own writes were slow, or a takeover was lost and the Lease rewritten)
// refuses the request (fail closed). Taken over at
// once, without waiting: a holder whose pod can never hold the address
// (deleting, finished, created before the Lease, pending too long), and a
// Lease older than W plus ClockSkewAllowance whose holder is not
// confirmed on the first read.
//
// What a forger can do: delay a real pod by at most W per request. A
// forger who re-forges one address without pause (re-takes the Lease the
// moment the real pod's takeover is due) makes that takeover fail, and a
// takeover lost past the deadline to a new unconfirmed holder refuses the
// request (fail closed: exactly one winner matters more); so such a
// forger can deny that one address to real pods for as long as it keeps
// going. And a forger timing two forged requests around a real pod with
// several addresses (one holding an address so the pod waits, the other
// watching the pod's own Lease of another address for W and taking it
// over just before the pod stamps it again, see restamp) can get that pod
// refused. Only caller verification (--client-ca-file) prevents these.
// Other addresses are delayed at most W. Of real pods racing for one
// address exactly one is admitted, provided the winner's pod is persisted
// within W of its Lease being written (at most restampAge before its
// admission ends: older Leases are stamped again at its end).

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/pkg/settings"
)

// ConfirmWindow is the default confirmation window W: how long a request
// waits for the holders of the reservations in its way to be confirmed.
const ConfirmWindow = time.Second

// Bounds of the confirmation window. Below MinConfirmWindow a pod
// persisted a little late (a loaded API server) would lose its address to
// a second pod; MaxConfirmWindow leaves the handler's 1.5 s budget 400 ms
// for the API calls around the wait (which may run watchGrace, 100 ms,
// past the window).
const (
	MinConfirmWindow = 100 * time.Millisecond
	MaxConfirmWindow = time.Second
)

// ClockSkewAllowance is how far the clocks of the webhook's replicas and
// the API server may disagree without harm. The wait for a holder is
// timed on the local clock alone; another replica's clock is read only
// where a Lease is older than the window plus this allowance (then its
// unconfirmed holder is taken over at once) and where a holder pod's
// creation is compared with its Lease's acquisition (maxCreationLead).
const ClockSkewAllowance = 2 * time.Second

// maxCreationLead is how long before its reservation's acquire time a
// holder's pod may have been created: the API server stamps a pod's
// creation before it calls the validating webhooks, whose answer it waits
// for at most the Pod webhook's timeoutSeconds (3 s); creationTimestamp is
// rounded down to the second; and the clocks may disagree by
// ClockSkewAllowance.
const maxCreationLead = 3*time.Second + time.Second + ClockSkewAllowance

// Events counted by Leases.Observe when holders are confirmed.
const (
	// EventConfirmed: another owner's reservation was confirmed (its pod
	// exists and asks for the address); the request is refused.
	EventConfirmed = "confirmed"
	// EventUnconfirmedTakenOver: another owner's live reservation was
	// taken over because its holder could not be confirmed within the
	// window (no such pod, another UID, a pod that does not ask for the
	// address or can no longer hold it).
	EventUnconfirmedTakenOver = "unconfirmed_taken_over"
)

// confirmPollMax caps the interval between two reads of the holders'
// pods; the first reads come sooner (10 ms, doubling), when an in-flight
// pod most likely appears.
const (
	confirmPollFirst = 10 * time.Millisecond
	confirmPollMax   = 100 * time.Millisecond
)

// Confirm is how Leases confirm the holders of reservations (Leases.Confirm).
type Confirm struct {
	// Pods reads the holders' pods. It must read the API server, not a
	// cache: a pod persisted a moment ago is in the API server first. Nil
	// is Leases.Client.
	Pods client.Reader
	// Requests reports whether the pod with metadata m asks for address a
	// of subnet: the claims the Pod validator would reserve for it. It
	// must not be nil.
	Requests func(m *metav1.ObjectMeta, subnet string, a netip.Addr) bool
	// PendingLimit is how long after its creation a pending pod may hold
	// an address (the pending-holder limit, which may change while the
	// webhook runs); nil, or a result of zero or less, is
	// settings.DefaultPendingHolderTimeout.
	PendingLimit func() time.Duration
	// Window is W; zero is ConfirmWindow.
	Window time.Duration
}

// CheckWindow returns an error naming the flag value unless w is a
// usable confirmation window.
func CheckWindow(w time.Duration) error {
	if w < MinConfirmWindow || w > MaxConfirmWindow {
		return fmt.Errorf("confirmation window %s: must be between %s and %s (the wait must fit the handler's 1.5 s budget)", w, MinConfirmWindow, MaxConfirmWindow)
	}
	return nil
}

func (c *Confirm) window() time.Duration {
	if c.Window > 0 {
		return c.Window
	}
	return ConfirmWindow
}

func (c *Confirm) pendingLimit() time.Duration {
	if c.PendingLimit != nil {
		if d := c.PendingLimit(); d > 0 {
			return d
		}
	}
	return settings.DefaultPendingHolderTimeout
}

// holderState is what one read of a reservation's holder found.
type holderState int

const (
	// holderUnknown: not confirmed yet. No pod of that name and UID (it
	// may be in flight), or one that does not ask for the address as this
	// replica reads it (its inventory may lag): worth reading again until
	// the deadline.
	holderUnknown holderState = iota
	// holderConfirmed: the pod exists with the UID, can hold an address
	// and asks for this one.
	holderConfirmed
	// holderGone: the pod exists with the UID but can never confirm the
	// reservation: it is being deleted or has finished (both final), was
	// created before the reservation was acquired (its creation does not
	// move), or has been pending past the pending-holder limit (it only
	// gets older).
	holderGone
)

// checkHolder reads r's pod once; now is this replica's clock.
func (l *Leases) checkHolder(ctx context.Context, r Reservation, now time.Time) (holderState, error) {
	if r.Namespace == "" || r.Pod == "" || r.PodUID == "" {
		// Nothing to confirm it by: the API server always sends the pod's
		// name and final UID to validating webhooks.
		return holderUnknown, nil
	}
	if l.Confirm.Requests == nil {
		return holderUnknown, errors.New("holders cannot be confirmed: Confirm.Requests is nil")
	}
	pods := l.Confirm.Pods
	if pods == nil {
		pods = l.Client
	}
	// The whole pod: its phase is in its status. Read only for contested
	// addresses, a few times within the window.
	pod := &corev1.Pod{}
	err := pods.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Pod}, pod)
	switch {
	case apierrors.IsNotFound(err):
		return holderUnknown, nil
	case err != nil:
		return holderUnknown, fmt.Errorf("read pod %s/%s: %w", r.Namespace, r.Pod, err)
	case string(pod.UID) != r.PodUID:
		// Another pod of that name (an earlier one, not deleted yet): the
		// holder may still be in flight.
		return holderUnknown, nil
	case pod.DeletionTimestamp != nil, pod.Status.Phase == corev1.PodSucceeded, pod.Status.Phase == corev1.PodFailed:
		return holderGone, nil
	case !r.Acquired.IsZero() && pod.CreationTimestamp.Time.Before(r.Acquired.Add(-maxCreationLead)):
		// A reservation is written while its pod is admitted: after the
		// API server stamps the pod's creation, before it stores the pod;
		// renewals keep the acquire time. One acquired more than
		// maxCreationLead after the pod's creation was written for a pod
		// that already existed: not by its admission.
		return holderGone, nil
	case (pod.Status.Phase == corev1.PodPending || pod.Status.Phase == "") && now.Sub(pod.CreationTimestamp.Time) > l.Confirm.pendingLimit():
		return holderGone, nil
	case !l.Confirm.Requests(&pod.ObjectMeta, r.Subnet, r.Addr):
		// A pod's annotations can change (an update the webhook allowed),
		// and this replica reads subnets and pools from its own cache,
		// which may lag: read again until the deadline.
		return holderUnknown, nil
	}
	return holderConfirmed, nil
}

// stale reports whether r was acquired more than the window plus
// ClockSkewAllowance before now: then whoever wrote it has long had its
// answer, and a holder not confirmed on the first read will not be.
func (l *Leases) stale(r Reservation, now time.Time) bool {
	return r.Acquired.Before(now.Add(-l.Confirm.window() - ClockSkewAllowance))
}

// confirmAll confirms the holders of the reservations of as, reading all
// of them in each poll, until each is resolved — confirmed, or decided
// without waiting (its pod can never hold it, or its Lease is stale) — or
// run's deadline passes (extended by at most watchGrace for holders first
// read just after the call began, so they are watched for a whole
// window); past it each is read once. It sets confirmed and resolved on
// each.
func (l *Leases) confirmAll(ctx context.Context, run *judgeRun, as []*attempt) error {
	poll := confirmPollFirst
	for {
		pending := 0
		now := l.now()
		for _, a := range as {
			if a.resolved {
				continue
			}
			st, err := l.checkHolder(ctx, a.r, now)
			if err != nil {
				return fmt.Errorf("confirm the holder of lease %s: %w", a.r.Name, err)
			}
			switch {
			case st == holderConfirmed:
				a.confirmed, a.resolved = true, true
			case st == holderGone, l.stale(a.r, now):
				a.resolved = true
			default:
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		// The deadline, or later for holders first read in the call's
		// first moments (watchGrace), so each is watched for the window.
		until := run.deadline
		latest := run.deadline.Add(l.Confirm.fraction(watchGrace))
		for _, a := range as {
			if t := run.seenAt(a).Add(l.Confirm.window()); !a.resolved && t.After(until) && !t.After(latest) {
				until = t
			}
		}
		wait := until.Sub(l.now())
		if wait <= 0 {
			return nil
		}
		wait = min(wait, poll)
		poll = min(2*poll, confirmPollMax)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for the holders of %d reservation(s) to be confirmed: %w", pending, ctx.Err())
		case <-t.C:
		}
	}
}

// heldForRead reports whether r, a live reservation, holds its address for
// a request that writes nothing (a dry run, a request denied on other
// grounds): as the real request would find it at this moment, without
// waiting. Confirmed, or not confirmed yet but not stale (in flight, or
// read from a lagging cache), it holds; a holder that would be taken over
// at once does not.
func (l *Leases) heldForRead(ctx context.Context, r Reservation) (bool, error) {
	if l.Confirm == nil {
		return true, nil
	}
	now := l.now()
	st, err := l.checkHolder(ctx, r, now)
	if err != nil {
		return false, err
	}
	switch st {
	case holderConfirmed:
		return true, nil
	case holderGone:
		return false, nil
	}
	return !l.stale(r, now), nil
}
