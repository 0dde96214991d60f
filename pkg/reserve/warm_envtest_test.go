package reserve_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/pkg/reserve"
)

// TestWarm: a fresh replica's clients find out how the API server serves
// Leases and Pods on their first use, with discovery requests inside the
// first admission; after Warm the first admission sends none.
func TestWarm(t *testing.T) {
	s := useSuite(t)
	for _, warm := range []bool{false, true} {
		var discovery atomic.Int32
		cfg := rest.CopyConfig(s.env.Config)
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if p := r.URL.Path; p == "/api" || p == "/apis" || strings.HasPrefix(p, "/apis/coordination.k8s.io") && !strings.Contains(p, "/namespaces/") || p == "/api/v1" {
					discovery.Add(1)
				}
				return rt.RoundTrip(r)
			})
		})
		c, err := client.New(cfg, client.Options{Scheme: s.env.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		pods, err := client.New(cfg, client.Options{Scheme: s.env.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		l := &reserve.Leases{Client: c, Namespace: leaseNS,
			Confirm: &reserve.Confirm{Pods: pods, Requests: s.deps.PodRequestsAddress}}
		if warm {
			if err := l.Warm(); err != nil {
				t.Fatal(err)
			}
			if discovery.Load() == 0 {
				t.Fatal("Warm sent no discovery request")
			}
		}
		before := discovery.Load()
		addr := "10.16.9.1"
		if warm {
			addr = "10.16.9.2"
		}
		if granted, holders, err := judgeAll(l, requester{name: "web", uid: "uid-web"}, addr); err != nil || !granted {
			t.Fatalf("warm %v: granted %v, holders %v, err %v", warm, granted, holders, err)
		}
		if n := discovery.Load() - before; (n == 0) == !warm {
			t.Errorf("warm %v: the first admission sent %d discovery requests", warm, n)
		}
	}
}

// roundTripFunc is an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
