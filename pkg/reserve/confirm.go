package reserve

// Confirmation makes the Leases safe when the webhook cannot tell the API
// server from any other caller (no --client-ca-file, as in the shipped
// install). Anyone who reaches the webhook's port can then post an
// AdmissionReview of their own making and have a Lease written for a pod
// that never exists; trusted until its TTL, that Lease would refuse the
// real pod that asks for the address next. So a reservation refuses
// another pod only once its holder is confirmed real: the pod it names
// exists in the API server with the UID it records and asks for the
// reserved address (by the same claims the Pod validator computes).
//
// A holder whose pod is not there yet may be in flight: the API server
// persists a pod right after every validating webhook has answered,
// typically within milliseconds. So a Lease younger than the confirmation
// window W is waited for (its pod polled) until it is W old; a Lease W old
// whose pod does not exist, has another UID or does not ask for the
// address is taken over at once, atomically (resourceVersion
// precondition), as an expired one is. A forger can therefore delay a
// real pod by at most W, never refuse it; of real pods racing for one
// address exactly one is admitted, provided the winner's pod is persisted
// within W of its admission.

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
)

// ConfirmWindow is the default confirmation window W: how long a
// reservation whose pod is not in the API server yet refuses others.
const ConfirmWindow = time.Second

// Bounds of the confirmation window. Below MinConfirmWindow a pod
// persisted a little late (a loaded API server) would lose its address to
// a second pod; MaxConfirmWindow leaves the handler's 1.5 s budget 500 ms
// for the API calls around the wait.
const (
	MinConfirmWindow = 100 * time.Millisecond
	MaxConfirmWindow = time.Second
)

// Events counted by Leases.Observe when holders are confirmed.
const (
	// EventConfirmed: another owner's reservation was confirmed (its pod
	// exists and asks for the address); the request is refused.
	EventConfirmed = "confirmed"
	// EventUnconfirmedTakenOver: another owner's live reservation was
	// taken over because its holder could not be confirmed within the
	// window (no such pod, another UID, or a pod that does not ask for the
	// address).
	EventUnconfirmedTakenOver = "unconfirmed_taken_over"
)

// confirmPollMax caps the interval between two reads of a holder's pod
// while its reservation is younger than the window; the first reads come
// sooner (10 ms, doubling), when an in-flight pod most likely appears.
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

// holderState is what one read of a reservation's holder found.
type holderState int

const (
	// holderAbsent: no pod of that name and UID, yet; it may be in flight.
	holderAbsent holderState = iota
	// holderConfirmed: the pod exists with the UID and asks for the
	// address.
	holderConfirmed
	// holderForged: the pod exists with the UID but does not ask for the
	// address; it never will (a pod's annotations are not its to change
	// back), so the reservation is not its.
	holderForged
)

// checkHolder reads r's pod once.
func (l *Leases) checkHolder(ctx context.Context, r Reservation) (holderState, error) {
	if r.Namespace == "" || r.Pod == "" || r.PodUID == "" {
		// Nothing to confirm it by: the API server always sends the pod's
		// name and final UID to validating webhooks.
		return holderAbsent, nil
	}
	if l.Confirm.Requests == nil {
		return holderAbsent, errors.New("holders cannot be confirmed: Confirm.Requests is nil")
	}
	pods := l.Confirm.Pods
	if pods == nil {
		pods = l.Client
	}
	// Metadata only: the annotations, UID and owners are what the claims
	// are computed from, and a pod's spec can be large.
	pod := &metav1.PartialObjectMetadata{}
	pod.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	err := pods.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Pod}, pod)
	switch {
	case apierrors.IsNotFound(err):
		return holderAbsent, nil
	case err != nil:
		return holderAbsent, fmt.Errorf("read pod %s/%s: %w", r.Namespace, r.Pod, err)
	case string(pod.UID) != r.PodUID:
		// Another pod of that name (an earlier one, not deleted yet): the
		// holder may still be in flight.
		return holderAbsent, nil
	case !l.Confirm.Requests(&pod.ObjectMeta, r.Subnet, r.Addr):
		return holderForged, nil
	}
	return holderConfirmed, nil
}

// confirmHolder decides whether r, a live reservation of another owner,
// refuses the request: true once its holder is confirmed; false when it
// may be taken over (its holder not confirmed within the window). It
// waits at most the window, counted from the reservation's acquisition
// but never longer than the window from now (a holder's clock ahead of
// this replica's delays no one by more than W).
func (l *Leases) confirmHolder(ctx context.Context, r Reservation) (bool, error) {
	w := l.Confirm.window()
	start := l.now()
	deadline := r.Acquired.Add(w)
	if limit := start.Add(w); deadline.After(limit) {
		deadline = limit
	}
	poll := confirmPollFirst
	for {
		st, err := l.checkHolder(ctx, r)
		if err != nil {
			return false, err
		}
		switch st {
		case holderConfirmed:
			return true, nil
		case holderForged:
			return false, nil
		}
		wait := deadline.Sub(l.now())
		if wait <= 0 {
			return false, nil
		}
		wait = min(wait, poll)
		poll = min(2*poll, confirmPollMax)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
	}
}

// heldForRead reports whether r, a live reservation, holds its address for
// a request that writes nothing (a dry run, a request denied on other
// grounds): as the real request would find it at this moment, without
// waiting. Confirmed, or unconfirmed but younger than the window (in
// flight), it holds; a holder that would be taken over does not.
func (l *Leases) heldForRead(ctx context.Context, r Reservation) (bool, error) {
	if l.Confirm == nil {
		return true, nil
	}
	st, err := l.checkHolder(ctx, r)
	if err != nil {
		return false, err
	}
	switch st {
	case holderConfirmed:
		return true, nil
	case holderForged:
		return false, nil
	}
	return l.now().Before(r.Acquired.Add(l.Confirm.window())), nil
}
