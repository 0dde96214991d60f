package reserve

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ipamguard/ipamguard/pkg/validate"
)

func TestJudgeReservesAtomically(t *testing.T) {
	tab := New(time.Minute)
	c := validate.Claim{Subnet: "ovn-default", Addr: netip.MustParseAddr("10.16.0.9")}
	var wg sync.WaitGroup
	granted := make(chan int, 50)
	for i := range 50 {
		wg.Go(func() {
			tab.Judge(context.Background(), func(held validate.Reservations) Grant {
				if _, _, ok := held.Holder(c.Subnet, c.Addr); ok {
					return Grant{}
				}
				granted <- i
				return Grant{Claims: []validate.Claim{c}, Namespace: "apps", Owner: "web"}
			})
		})
	}
	wg.Wait()
	close(granted)
	if n := len(granted); n != 1 {
		t.Fatalf("%d of 50 judgements granted the address, want exactly 1", n)
	}
	if tab.Len() != 1 {
		t.Errorf("Len() = %d, want 1", tab.Len())
	}
}

func TestExpiry(t *testing.T) {
	tab := New(30 * time.Second)
	now := time.Unix(1000, 0)
	tab.now = func() time.Time { return now }
	a := validate.Claim{Subnet: "s", Addr: netip.MustParseAddr("fd00::1")}
	tab.Judge(context.Background(), func(validate.Reservations) Grant {
		return Grant{Claims: []validate.Claim{a}, Namespace: "ns", Owner: "vm1"}
	})
	tab.Judge(context.Background(), func(held validate.Reservations) Grant {
		ns, owner, ok := held.Holder(a.Subnet, a.Addr)
		if !ok || ns != "ns" || owner != "vm1" {
			t.Errorf("Holder = %q %q %v, want ns vm1 true", ns, owner, ok)
		}
		return Grant{}
	})
	now = now.Add(30 * time.Second)
	if tab.Len() != 0 {
		t.Errorf("Len() after the TTL = %d, want 0", tab.Len())
	}
	// A later grant sweeps the expired entry.
	b := validate.Claim{Subnet: "s", Addr: netip.MustParseAddr("fd00::2")}
	tab.Judge(context.Background(), func(validate.Reservations) Grant { return Grant{Claims: []validate.Claim{b}} })
	if len(tab.m) != 1 {
		t.Errorf("%d entries after the sweep, want 1", len(tab.m))
	}
}

// A grant never replaces another owner's live claim (a conflict the
// policy only warned about): the first requester keeps the address.
func TestGrantKeepsAnotherOwnersClaim(t *testing.T) {
	tab := New(time.Minute)
	c := validate.Claim{Subnet: "s", Addr: netip.MustParseAddr("10.0.0.5")}
	tab.Judge(context.Background(), func(validate.Reservations) Grant {
		return Grant{Claims: []validate.Claim{c}, Namespace: "a", Owner: "first"}
	})
	tab.Judge(context.Background(), func(validate.Reservations) Grant {
		return Grant{Claims: []validate.Claim{c}, Namespace: "b", Owner: "second"}
	})
	tab.Judge(context.Background(), func(held validate.Reservations) Grant {
		if ns, owner, ok := held.Holder(c.Subnet, c.Addr); !ok || ns != "a" || owner != "first" {
			t.Errorf("holder = %s/%s %v, want a/first", ns, owner, ok)
		}
		return Grant{}
	})
}

// TestJudgeGivesUpWhenOutOfTime: a request whose deadline passes while
// another holds the lock gives up without judging or reserving.
func TestJudgeGivesUpWhenOutOfTime(t *testing.T) {
	t.Parallel()
	tab := New(time.Minute)
	a := validate.Claim{Subnet: "s", Addr: netip.MustParseAddr("10.0.0.9")}
	held, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = tab.Judge(context.Background(), func(validate.Reservations) Grant {
			close(held)
			<-release
			return Grant{}
		})
	}()
	<-held
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	judged := false
	err := tab.Judge(ctx, func(validate.Reservations) Grant {
		judged = true
		return Grant{Claims: []validate.Claim{a}, Namespace: "ns", Owner: "late"}
	})
	close(release)
	if err == nil || judged {
		t.Fatalf("Judge with an ended context: err %v, judged %v", err, judged)
	}
	if n := tab.Len(); n != 0 {
		t.Errorf("%d reservations after a request out of time", n)
	}
	if err := tab.Judge(ctx, func(validate.Reservations) Grant { judged = true; return Grant{} }); err == nil || judged {
		t.Errorf("Judge with an ended context and a free lock: err %v, judged %v", err, judged)
	}
}
