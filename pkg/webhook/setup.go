package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/pkg/admit"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/metrics"
	"github.com/ipamguard/ipamguard/pkg/reserve"
	"github.com/ipamguard/ipamguard/pkg/review"
)

// +kubebuilder:rbac:groups=kubeovn.io,resources=subnets;ips;vips;ippools;vpcs,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes;namespaces;pods,verbs=get;list;watch

// Options are what the handlers need, set by main.
type Options struct {
	// Config is the configuration in force.
	Config *config.Live
	// Metrics records requests and decisions; nil records nothing.
	Metrics *metrics.Metrics
	// CallersVerified is true when the webhook server only accepts the API
	// server (ClientAuth applied to it): API reservations are then trusted
	// until their TTL, and memory reservations are on. Without it, only
	// API reservations are kept, and another owner's reservation refuses
	// a pod only once its holder is confirmed (reserve.Confirm).
	CallersVerified bool
	// ServingCheck is the readiness check of the webhook server, the one
	// ClientAuth.Apply returned; nil is the server's StartedChecker.
	ServingCheck healthz.Checker
	// Reservations is where the Pod validator keeps the reservations of
	// admissions in flight: ReservationsMemory (the zero value: one
	// process's table, as tests and single replicas use; only when
	// CallersVerified, since it cannot confirm holders), ReservationsAPI
	// (Leases in ReservationNamespace, shared by every replica; holders
	// confirmed unless CallersVerified) or ReservationsOff.
	Reservations ReservationMode
	// ReservationNamespace is the webhook's own namespace, where
	// ReservationsAPI keeps its Leases.
	ReservationNamespace string
	// ReservationTTL is how long an API reservation whose pod has not
	// appeared holds its address; zero is reserve.APITTL.
	ReservationTTL time.Duration
	// ConfirmWindow is how long, without CallersVerified, a request waits
	// for the holders of the API reservations in its way to be confirmed
	// (reserve.Confirm.Window, one wait per request); zero is
	// reserve.ConfirmWindow.
	ConfirmWindow time.Duration
}

// ReservationQPS is the client-side rate limit of the reservations'
// API client, in requests per second (burst twice that). It is a guard
// against a runaway loop, not a throttle: every request it carries is made
// by an admission the API server is waiting for (or the leader's sweep),
// so the admissions' rate is already bounded by the API server's own
// limits (priority and fairness, max in-flight requests), and a lower
// limit only queues fixed-address admissions inside the webhook, adding
// latency and, past the handler's budget, refusing pods. At 200/s it was
// the bottleneck of 16 clients creating fixed-address pods through a local
// API server (271/s: the burst, then 200/s; docs/operations.md).
const ReservationQPS = 1000

// ConfirmQPS is the client-side rate limit of the reads of reservation
// holders' pods (without CallersVerified), apart from ReservationQPS: a
// contested address is read a dozen times within the window at most.
const ConfirmQPS = 100

// ReservationMode says where the Pod validator keeps its reservations
// (--reservations).
type ReservationMode string

// Reservation modes.
const (
	ReservationsMemory ReservationMode = "memory"
	ReservationsAPI    ReservationMode = "api"
	ReservationsOff    ReservationMode = "off"
)

// ParseReservationMode reads a --reservations value.
func ParseReservationMode(s string) (ReservationMode, error) {
	switch m := ReservationMode(s); m {
	case ReservationsMemory, ReservationsAPI, ReservationsOff:
		return m, nil
	}
	return "", fmt.Errorf("%q is not one of api, memory, off", s)
}

// Inventory is what Setup wired: the inventory and the feed keeping it
// current, for callers (tests, diagnostics, the metrics collector) that
// read them.
type Inventory struct {
	Store *inventory.Store
	Feed  *inventory.Feed
	// Leases are the API-backed reservations, nil unless
	// Options.Reservations is ReservationsAPI; main runs their cleanup on
	// the leader (CleanReservations).
	Leases *reserve.Leases
	config *config.Live
}

// Setup builds the inventory on the manager's cache, registers the
// handlers on its webhook server and a readiness check gated on the
// inventory's initial sync.
func Setup(ctx context.Context, mgr manager.Manager, o Options) (*Inventory, error) {
	store := inventory.New(o.Config.Get().Defaults.VPC)
	feed, err := inventory.Watch(ctx, mgr.GetCache(), store)
	if err != nil {
		return nil, fmt.Errorf("watch inventory: %w", err)
	}
	if err := mgr.AddReadyzCheck("inventory", feed.ReadyCheck); err != nil {
		return nil, fmt.Errorf("add readiness check: %w", err)
	}
	deps := Deps{
		Store:   store,
		Synced:  feed.HasSynced,
		Config:  o.Config,
		Metrics: o.Metrics,
		// The API reader, not the cache: reading one workload must not
		// start an informer on every Deployment, StatefulSet and ReplicaSet.
		Workloads:       APIWorkloads{Reader: mgr.GetAPIReader()},
		CallersVerified: o.CallersVerified,
		NoReservations:  o.Reservations == ReservationsOff,
	}
	var leases *reserve.Leases
	if o.Reservations == ReservationsAPI {
		if o.ReservationNamespace == "" {
			return nil, errors.New("reservations in the API server need the webhook's namespace")
		}
		// Not the manager's client: its reads come from a cache, which is
		// behind the API server, and would watch every Lease. Its own
		// client-side rate limit (ReservationQPS), far above
		// controller-runtime's default (20/s), since every fixed-IP
		// admission writes once: the API server's priority and fairness
		// protects the server.
		rc := rest.CopyConfig(mgr.GetConfig())
		rc.QPS, rc.Burst = ReservationQPS, 2*ReservationQPS
		c, err := client.New(rc, client.Options{Scheme: mgr.GetScheme()})
		if err != nil {
			return nil, fmt.Errorf("reservations client: %w", err)
		}
		leases = &reserve.Leases{Client: c, Namespace: o.ReservationNamespace, TTL: o.ReservationTTL, Observe: o.Metrics.ObserveReservation,
			Log: mgr.GetLogger().WithName("reservations")}
		if !o.CallersVerified {
			if o.ConfirmWindow != 0 {
				if err := reserve.CheckWindow(o.ConfirmWindow); err != nil {
					return nil, err
				}
			}
			// Holders' pods are read uncached (a pod persisted a moment
			// ago is in the API server first), through a client with a
			// rate limit of its own: polling the holders of contested
			// addresses must not hold back the Lease writes of others.
			pc := rest.CopyConfig(mgr.GetConfig())
			pc.QPS, pc.Burst = ConfirmQPS, 2*ConfirmQPS
			pods, err := client.New(pc, client.Options{Scheme: mgr.GetScheme()})
			if err != nil {
				return nil, fmt.Errorf("reservation holders client: %w", err)
			}
			cfg := o.Config
			leases.Confirm = &reserve.Confirm{Pods: pods, Requests: deps.PodRequestsAddress, Window: o.ConfirmWindow,
				PendingLimit: func() time.Duration { return cfg.Get().PendingHolderTimeout }}
		}
		deps.Reservations = leases
	}
	srv := mgr.GetWebhookServer()
	for path, h := range HTTPHandlers(HandlersByPath(deps), mgr.GetLogger()) {
		srv.Register(path, h)
	}
	serving := o.ServingCheck
	if serving == nil {
		serving = srv.StartedChecker()
	}
	if err := mgr.AddReadyzCheck("webhook", serving); err != nil {
		return nil, fmt.Errorf("add webhook readiness check: %w", err)
	}
	return &Inventory{Store: store, Feed: feed, Leases: leases, config: o.Config}, nil
}

// HTTPHandlers serves each admission handler over HTTP (package review:
// one decode per AdmissionReview), with log, named after the path, as the
// handlers' logger. The handlers share one review.ErrorLog: an outage that
// fails every request logs one line a second, whichever paths fail.
func HTTPHandlers(hs map[string]admission.Handler, log logr.Logger) map[string]http.Handler {
	out := make(map[string]http.Handler, len(hs))
	errLog := review.NewErrorLog(review.ErrorLogInterval)
	for path, h := range hs {
		out[path] = review.NewHandler(h, log.WithValues("webhook", path), errLog)
	}
	return out
}

// HandlersByPath returns the handler of each served path, built on d: the
// wiring Setup registers, which the benchmarks, the load test's fixture
// server and the memory measurement (test/bench, cmd/ipamguard-load) serve
// from an inventory they feed themselves. The Pod validator keeps in-flight
// reservations (unless d.NoReservations) in d.Reservations when callers are
// verified or those confirm their holders (reserve.Leases with Confirm),
// else, with callers verified, in a table of this process. Without them,
// pods created at the same moment with one address are told apart only
// once the first is in the inventory as a pending pod.
func HandlersByPath(d Deps) map[string]admission.Handler {
	var res admit.Reservations
	switch {
	case d.NoReservations:
	case d.Reservations != nil && (d.CallersVerified || confirmsHolders(d.Reservations)):
		res = d.Reservations
	case d.CallersVerified && d.Reservations == nil:
		res = reserve.New(reserve.TTL)
	}
	pods := NewPodValidator(d, res)
	return map[string]admission.Handler{
		SubnetPath:           NewSubnetValidator(d),
		IPPath:               NewIPValidator(d),
		IPPoolPath:           NewIPPoolValidator(d),
		PodPath:              pods,
		PodCapacityPath:      pods,
		WorkloadPath:         NewWorkloadValidator(d),
		WorkloadCapacityPath: NewCapacityValidator(d),
		SubnetDefaulterPath:  NewSubnetDefaulter(d),
		PodDefaulterPath:     NewPodDefaulter(d),
	}
}

// CleanupInterval is how often the leader sweeps the API reservations.
const CleanupInterval = 10 * time.Second

// CleanReservations sweeps the API reservations every interval until ctx
// ends, on the replica main runs it on (the leader): it deletes those that
// expired (by then the pod's IP object, or the pending pod in every
// replica's inventory, holds the address; or the pod never appeared). It
// returns at once without API reservations.
func (i *Inventory) CleanReservations(ctx context.Context, interval time.Duration, log logr.Logger) error {
	if i.Leases == nil {
		return nil
	}
	return i.Leases.RunCleanup(ctx, interval, i.reservationVerdict, func(err error) { log.Error(err, "clean reservations") })
}

// reservationVerdict keeps every live reservation until its TTL: the
// leader's inventory seeing the address held (by the reservation's IP
// object or anyone's) says nothing of the other replicas' informers, which
// may not have seen that holder yet; releasing early would let one of them
// admit a second pod for the address. Expired reservations are deleted by
// the sweep itself.
func (i *Inventory) reservationVerdict(reserve.Reservation) reserve.Verdict {
	return reserve.Keep
}
