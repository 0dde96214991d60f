package admit_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/ipamguard/ipamguard/pkg/admit"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/reserve"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// raced is a Reservations that, like reserve.Leases losing a race, judges
// once with nothing held, then again with another pod holding every claim.
type raced struct {
	grants []reserve.Grant
}

type heldBy struct{ ns, owner string }

func (h heldBy) Holder(string, netip.Addr) (string, string, bool) { return h.ns, h.owner, h.ns != "" }

func (r *raced) Judge(_ context.Context, judge func(validate.Reservations) reserve.Grant) error {
	r.grants = append(r.grants, judge(heldBy{}), judge(heldBy{"apps", "winner"}))
	return nil
}

// failing is a Reservations whose store cannot be written.
type failing struct{ err error }

func (f failing) Judge(_ context.Context, judge func(validate.Reservations) reserve.Grant) error {
	judge(heldBy{})
	return f.err
}

// A second judgement replaces the first: the pod is refused once, with one
// finding, and the second grant reserves nothing.
func TestRejudgedReservationReplacesFindings(t *testing.T) {
	e := engine(t, "")
	res := &raced{}
	e.Reservations = res
	out := review(t, e, admit.Request{Kind: "Pod", Operation: admit.Create, Namespace: "apps", Name: "a", UID: "req-1",
		Object: pod("a", "10.16.0.20"), Stages: admit.Validate})
	if !out.Denied() || !hasRule(out, policy.PodIPTaken) {
		t.Fatalf("lost race admitted: %+v", out.Decision.Applied)
	}
	n := 0
	for _, f := range out.Findings {
		if f.Rule == policy.PodIPTaken {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d in-flight findings after two judgements, want 1: %v", n, out.Findings)
	}
	if len(res.grants) != 2 || len(res.grants[0].Claims) != 1 || len(res.grants[1].Claims) != 0 {
		t.Fatalf("grants %+v", res.grants)
	}
	if g := res.grants[0]; g.Pod != "a" || g.RequestUID != "req-1" || g.Namespace != "apps" || g.Owner != "a" {
		t.Fatalf("grant does not name the requester: %+v", g)
	}
}

// A reservation that cannot be written refuses the request (fail closed):
// Review returns an error, with Reason Timeout when the store ran out of
// time.
func TestUnwrittenReservationFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		err    error
		reason admit.Reason
	}{
		{errors.New("etcd unavailable"), admit.Internal},
		{context.DeadlineExceeded, admit.Timeout},
	} {
		e := engine(t, "")
		e.Reservations = failing{tc.err}
		out, err := e.Review(context.Background(), &admit.Request{Kind: "Pod", Operation: admit.Create, Namespace: "apps", Name: "a",
			Object: pod("a", "10.16.0.20"), Stages: admit.Validate})
		var ae *admit.Error
		if !errors.As(err, &ae) || ae.Reason != tc.reason || out != nil {
			t.Fatalf("store error %v: out %+v, err %v, want reason %v", tc.err, out, err, tc.reason)
		}
	}
}
