// Package reservation is the stored form of the webhook's address
// reservations: one coordination.k8s.io Lease per reserved address, its
// label, its one annotation and its times. pkg/reserve writes and takes
// them over; the doctor (pkg/diagnose) and "kubectl ipam reservations"
// read them. One definition, for all.
//
// What a reservation says beyond the Lease's own holder and times (the
// subnet, the address, the requester, the admission request, the state)
// is one JSON annotation, not an annotation per field: the API server
// tracks every field of an object it writes (managedFields), and every
// fixed-address admission writes one Lease, so each field is paid for on
// the admission path. Measured on envtest's API server, eight annotations
// cost about 0.1-0.2 ms of its CPU per Lease more than one (docs/performance.md,
// "What a reservation costs").
package reservation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
)

// Label marks a Lease as an address reservation; its value is "true".
// Annotation holds the reservation's Record, as JSON: the same key, on
// the annotations.
const (
	Label      = "ipamguard.io/reservation"
	Annotation = Label
)

// Record is what a reservation's annotation holds.
type Record struct {
	Subnet  string `json:"subnet"`
	Address string `json:"address"`
	// Namespace, Owner, Pod and PodUID name the requester (Owner: the pod,
	// or its KubeVirt VM); RequestUID the admission request that took it;
	// State its state.
	Namespace  string `json:"namespace"`
	Owner      string `json:"owner"`
	Pod        string `json:"pod,omitempty"`
	PodUID     string `json:"podUID,omitempty"`
	RequestUID string `json:"requestUID,omitempty"`
	State      string `json:"state,omitempty"`
}

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

// Meta is the label and the annotation a Lease carries to say f (its
// times are the Lease's spec).
func Meta(f Fields) (labels, annotations map[string]string) {
	rec := Record{Subnet: f.Subnet, Address: f.Addr.String(), Namespace: f.Namespace, Owner: f.Owner,
		Pod: f.Pod, PodUID: f.PodUID, RequestUID: f.RequestUID, State: f.State}
	// A struct of strings always marshals.
	b, _ := json.Marshal(rec)
	return map[string]string{Label: "true"}, map[string]string{Annotation: string(b)}
}

// The annotations of the form before Annotation, one per field: read, so
// that Leases written by an earlier build stay reservations; never written.
const (
	legacySubnet     = "ipamguard.io/subnet"
	legacyAddress    = "ipamguard.io/address"
	legacyNamespace  = "ipamguard.io/namespace"
	legacyOwner      = "ipamguard.io/owner"
	legacyPod        = "ipamguard.io/pod"
	legacyPodUID     = "ipamguard.io/pod-uid"
	legacyRequestUID = "ipamguard.io/request-uid"
	legacyState      = "ipamguard.io/state"
)

// Read reads a Lease; ok is false for a Lease that is not a well-formed
// reservation: the leader election Lease shares the namespace, and a
// Lease without the label, without a readable annotation or without a
// valid address is not one this build can read (Labelled and Expiry say
// whether it may still be another build's).
func Read(le *coordinationv1.Lease) (f Fields, ok bool) {
	if !Labelled(le) {
		return Fields{}, false
	}
	var rec Record
	if raw, has := le.Annotations[Annotation]; has {
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return Fields{}, false
		}
	} else {
		ann := le.Annotations
		rec = Record{Subnet: ann[legacySubnet], Address: ann[legacyAddress], Namespace: ann[legacyNamespace], Owner: ann[legacyOwner],
			Pod: ann[legacyPod], PodUID: ann[legacyPodUID], RequestUID: ann[legacyRequestUID], State: ann[legacyState]}
	}
	a, err := netip.ParseAddr(rec.Address)
	if err != nil {
		return Fields{}, false
	}
	f = Fields{Subnet: rec.Subnet, Addr: a, Namespace: rec.Namespace, Owner: rec.Owner,
		Pod: rec.Pod, PodUID: rec.PodUID, RequestUID: rec.RequestUID, State: rec.State}
	f.Acquired, f.Renewed, f.Expires = Expiry(le)
	return f, true
}

// namePrefix starts the name of every reservation Lease.
const namePrefix = "ipr-"

// digestPrefix replaces the subnet in a name too long for it.
const digestPrefix = "s-"

// Name is the name of the Lease reserving address a of subnet: the
// address in hex (IPv6 has colons, which names may not), then the subnet;
// a subnet name too long to fit is replaced by a digest of it. Every
// version of the webhook must name a reservation alike: the name is what
// makes two writers of one address collide.
func Name(subnet string, a netip.Addr) string {
	name := namePrefix + hex.EncodeToString(a.Unmap().AsSlice()) + "." + subnet
	if len(name) > 253 {
		sum := sha256.Sum256([]byte(subnet))
		name = namePrefix + hex.EncodeToString(a.Unmap().AsSlice()) + "." + digestPrefix + hex.EncodeToString(sum[:16])
	}
	return name
}

// ParseName reads back the address and the subnet of a reservation
// Lease's name (for a subnet too long to fit, the digest Name put in its
// place); ok is false for a name Name cannot have written.
func ParseName(name string) (subnet string, a netip.Addr, ok bool) {
	rest, found := strings.CutPrefix(name, namePrefix)
	if !found {
		return "", netip.Addr{}, false
	}
	h, subnet, found := strings.Cut(rest, ".")
	if !found || subnet == "" {
		return "", netip.Addr{}, false
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return "", netip.Addr{}, false
	}
	a, ok = netip.AddrFromSlice(b)
	if !ok || a.Is4In6() {
		// Name writes an IPv4-mapped address as its IPv4 address.
		return "", netip.Addr{}, false
	}
	return subnet, a, true
}

// Of reads a Lease labelled as a reservation (ok false for any other):
// what it says, or, for one this version cannot read (another version's
// form; readable false), its times alone.
func Of(le *coordinationv1.Lease) (f Fields, readable, ok bool) {
	if f, ok := Read(le); ok {
		return f, true, true
	}
	if !Labelled(le) {
		return Fields{}, false, false
	}
	f.Acquired, f.Renewed, f.Expires = Expiry(le)
	return f, false, true
}

// Labelled reports whether le carries the reservation label.
func Labelled(le *coordinationv1.Lease) bool { return le.Labels[Label] == "true" }

// Expiry reads a Lease's times: when it was acquired and renewed (zero
// when the Lease says not) and when it lapses, renewed (or acquired) plus
// its duration. A Lease without either time lapsed at the zero time.
func Expiry(le *coordinationv1.Lease) (acquired, renewed, expires time.Time) {
	if le.Spec.AcquireTime != nil {
		acquired = le.Spec.AcquireTime.Time
	}
	renew := acquired
	if le.Spec.RenewTime != nil {
		renewed = le.Spec.RenewTime.Time
		renew = renewed
	}
	if renew.IsZero() {
		return acquired, renewed, time.Time{}
	}
	var d time.Duration
	if le.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*le.Spec.LeaseDurationSeconds) * time.Second
	}
	return acquired, renewed, renew.Add(d)
}
