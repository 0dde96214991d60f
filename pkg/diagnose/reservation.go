package diagnose

import (
	"encoding/json"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"

	"github.com/ipamguard/ipamguard/pkg/reservation"
)

// Reservation is one of the webhook's address reservations: a Lease that
// holds a fixed address for a pod it admitted until Kube-OVN's IP object
// appears (pkg/reserve writes them).
type Reservation struct {
	Meta
	reservation.Fields
	// Unreadable is set for a Lease labelled as a reservation that this
	// version cannot read (another version's form): only its times are
	// known.
	Unreadable bool `json:"unreadable,omitempty"`
}

// decodeReservation reads a Lease; nil when it is not labelled as a
// reservation (the leader election Lease shares the namespace).
func decodeReservation(raw []byte) (*Reservation, error) {
	var le coordinationv1.Lease
	if err := json.Unmarshal(raw, &le); err != nil {
		return nil, err
	}
	r, readable, ok := reservation.Of(&le)
	if !ok {
		return nil, nil
	}
	m := Meta{Namespace: le.Namespace, Name: le.Name, UID: string(le.UID), ResourceVersion: le.ResourceVersion,
		CreationTimestamp: le.CreationTimestamp, DeletionTimestamp: le.DeletionTimestamp}
	return &Reservation{Meta: m, Fields: r, Unreadable: !readable}, nil
}

// staleAfter is how long past its expiry a reservation may still be there
// before the doctor calls it stale: the leader's cleanup deletes expired
// ones every 10 seconds (webhook.CleanupInterval), so a minute means no
// replica is cleaning up.
const staleAfter = time.Minute

// checkReservations reports reservations that outlived their lifetime by
// more than staleAfter. An expired reservation blocks nobody (the next
// admission of its address takes it over), so it is a warning: it says
// that the webhook's cleanup is not running (no leader, the webhook down,
// or its RBAC without delete on Leases), and each one left costs an object
// in etcd.
func checkReservations(x *index, opts *Options, r *Report) {
	for i := range x.s.Reservations {
		res := &x.s.Reservations[i]
		// Without an acquire or renew time (not written by the webhook)
		// there is no expiry to judge.
		if res.Acquired.IsZero() && res.Renewed.IsZero() || res.DeletionTimestamp != nil {
			continue
		}
		late := opts.Now.Sub(res.Expires)
		if late <= staleAfter {
			continue
		}
		ref := ObjectRef{APIVersion: "coordination.k8s.io/v1", Kind: "Lease", Namespace: res.Meta.Namespace, Name: res.Meta.Name,
			UID: res.UID, ResourceVersion: res.ResourceVersion}
		holder := res.Owner
		if res.Pod != "" {
			holder = "pod " + res.Fields.Namespace + "/" + res.Pod
		}
		what := fmt.Sprintf("reservation of %s in subnet %s for %s", res.Addr, res.Subnet, holder)
		if res.Unreadable {
			what = "reservation " + res.Meta.Name + ", in a form this version cannot read (another version's),"
		}
		r.Findings = append(r.Findings, Finding{
			Check:    CheckStaleReservation,
			Severity: Warning,
			Subnet:   res.Subnet,
			Message: fmt.Sprintf("%s expired %s ago and is still there: the webhook's cleanup (on its leader replica, every 10 s) is not running; "+
				"an expired reservation blocks no pod (the next admission of the address takes it over)", what, late.Truncate(time.Second)),
			Objects: []ObjectRef{ref},
			Fix:     []string{DeleteCommand(ref)},
			Hint:    "check that a webhook replica holds the leader Lease and that its Role allows deleting Leases in its namespace (kubectl auth can-i delete leases --as system:serviceaccount:<namespace>:<service account> -n <namespace>)",
		})
	}
}
