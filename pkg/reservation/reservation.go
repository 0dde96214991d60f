// Package reservation is the stored form of the webhook's address
// reservations: one coordination.k8s.io Lease per reserved address, its
// label, annotations and times. pkg/reserve writes and takes them over;
// the doctor (pkg/diagnose) reads them. One definition, for both.
package reservation

import (
	"net/netip"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
)

// Label and annotation keys of a reservation Lease.
const (
	// Label marks a Lease as an address reservation; its value is "true".
	Label         = "ipamguard.io/reservation"
	AnnSubnet     = "ipamguard.io/subnet"
	AnnAddress    = "ipamguard.io/address"
	AnnNamespace  = "ipamguard.io/namespace"
	AnnOwner      = "ipamguard.io/owner"
	AnnPod        = "ipamguard.io/pod"
	AnnPodUID     = "ipamguard.io/pod-uid"
	AnnRequestUID = "ipamguard.io/request-uid"
	AnnState      = "ipamguard.io/state"
)

// Fields are what a reservation Lease says.
type Fields struct {
	Subnet string
	Addr   netip.Addr
	// Namespace, Owner, Pod and PodUID name the requester; RequestUID the
	// admission request that took it; State its state.
	Namespace, Owner, Pod string
	PodUID, RequestUID    string
	State                 string
	// Acquired is when the current holder took it and Renewed when it
	// last renewed it (zero when the Lease says not), Expires when it
	// lapses: renewed (or acquired) plus the Lease's duration.
	Acquired, Renewed, Expires time.Time
}

// Read reads a Lease; ok is false for a Lease that is not a well-formed
// reservation (the leader election Lease shares the namespace).
func Read(le *coordinationv1.Lease) (f Fields, ok bool) {
	ann := le.Annotations
	a, err := netip.ParseAddr(ann[AnnAddress])
	if err != nil || le.Labels[Label] != "true" {
		return Fields{}, false
	}
	f = Fields{Subnet: ann[AnnSubnet], Addr: a, Namespace: ann[AnnNamespace], Owner: ann[AnnOwner],
		Pod: ann[AnnPod], PodUID: ann[AnnPodUID], RequestUID: ann[AnnRequestUID], State: ann[AnnState]}
	if le.Spec.AcquireTime != nil {
		f.Acquired = le.Spec.AcquireTime.Time
	}
	renew := f.Acquired
	if le.Spec.RenewTime != nil {
		f.Renewed = le.Spec.RenewTime.Time
		renew = f.Renewed
	}
	var d time.Duration
	if le.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*le.Spec.LeaseDurationSeconds) * time.Second
	}
	f.Expires = renew.Add(d)
	return f, true
}
