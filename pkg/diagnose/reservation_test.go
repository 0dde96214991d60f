package diagnose

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipamguard/ipamguard/pkg/reservation"
	"github.com/ipamguard/ipamguard/pkg/reserve"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// TestStaleReservation: a reservation Lease written as the webhook writes
// it is stale once it is past its expiry by more than staleAfter; a fresh
// one, one just expired and the leader election Lease beside them are not
// findings. The fix deletes the very Lease seen.
func TestStaleReservation(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	leases := &reserve.Leases{Namespace: "ipamguard-system", TTL: time.Minute}
	lease := func(addr string, taken time.Time, uid string) []byte {
		c := validate.Claim{Subnet: "tenant", Addr: netip.MustParseAddr(addr)}
		g := reserve.Grant{Namespace: "app", Owner: "p/web-" + addr, Pod: "web-" + addr, PodUID: "u-" + addr, RequestUID: "r"}
		le := leases.Lease(c, g, taken)
		le.UID, le.ResourceVersion = types.UID(uid), "42"
		le.APIVersion, le.Kind = "coordination.k8s.io/v1", "Lease"
		raw, err := json.Marshal(le)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	holder := "webhook-0"
	secs := int32(15)
	election, err := json.Marshal(&coordinationv1.Lease{
		TypeMeta:   metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
		ObjectMeta: metav1.ObjectMeta{Name: "ipamguard-leader", Namespace: "ipamguard-system"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &metav1.MicroTime{Time: now.Add(-time.Hour)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A reservation-labelled Lease without times (not the webhook's
	// writing) has no expiry to judge.
	untimed := &coordinationv1.Lease{}
	if err := json.Unmarshal(lease("10.1.0.13", now, "untimed"), untimed); err != nil {
		t.Fatal(err)
	}
	untimed.Spec.AcquireTime, untimed.Spec.RenewTime = nil, nil
	untimedRaw, err := json.Marshal(untimed)
	if err != nil {
		t.Fatal(err)
	}
	// Another version's, in a form this one cannot read: judged by its
	// times alone.
	unread := &coordinationv1.Lease{}
	if err := json.Unmarshal(lease("10.1.0.14", now.Add(-time.Hour), "unread"), unread); err != nil {
		t.Fatal(err)
	}
	unread.Annotations[reservation.Annotation] = `{"v":2}`
	unreadRaw, err := json.Marshal(unread)
	if err != nil {
		t.Fatal(err)
	}
	s := &State{Time: now}
	for _, raw := range [][]byte{
		untimedRaw, unreadRaw,
		lease("10.1.0.10", now.Add(-10*time.Second), "fresh"),
		lease("10.1.0.11", now.Add(-90*time.Second), "just-expired"), // expired 30 s ago
		lease("10.1.0.12", now.Add(-time.Hour), "stale"),
		election,
	} {
		if err := s.Add("coordination.k8s.io/v1", "Lease", raw); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.Reservations) != 5 {
		t.Fatalf("reservations read: %d, want 5 (the leader election Lease is not one)", len(s.Reservations))
	}
	r := Run(s, DefaultOptions(now))
	var got []Finding
	for _, f := range r.Findings {
		if f.Check == CheckStaleReservation {
			got = append(got, f)
		}
	}
	if len(got) != 2 {
		t.Fatalf("stale reservations: %+v, want the one of 10.1.0.12 and the unreadable one", got)
	}
	if got[1].Objects[0].UID == "unread" {
		got[0], got[1] = got[1], got[0]
	}
	if u := got[0]; !strings.Contains(u.Message, "reservation "+unread.Name+", in a form this version cannot read") ||
		!strings.Contains(u.Message, "expired 59m0s ago") || len(u.Fix) != 1 || !strings.Contains(u.Fix[0], `"uid":"unread"`) {
		t.Errorf("unreadable stale reservation: %+v", u)
	}
	f := got[1]
	if f.Severity != Warning || f.Subnet != "tenant" || !strings.Contains(f.Message, "10.1.0.12") || !strings.Contains(f.Message, "pod app/web-10.1.0.12") ||
		!strings.Contains(f.Message, "expired 59m0s ago") {
		t.Errorf("finding: %+v", f)
	}
	want := "/apis/coordination.k8s.io/v1/namespaces/ipamguard-system/leases/" + reserve.LeaseName("tenant", netip.MustParseAddr("10.1.0.12"))
	if len(f.Fix) != 1 || !strings.Contains(f.Fix[0], want) || !strings.Contains(f.Fix[0], `"uid":"stale"`) || !strings.Contains(f.Fix[0], `"resourceVersion":"42"`) {
		t.Errorf("fix %q: want a guarded delete of %s", f.Fix, want)
	}
	if r.ExitCode() != 1 {
		t.Errorf("exit code %d, want 1 (warnings only)", r.ExitCode())
	}
}
