package webhook

import (
	"context"
	"fmt"
	"net/http"

	"github.com/go-logr/logr"

	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

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
	// server (ClientAuth applied to it); it turns on the in-flight
	// reservations of the Pod validator (Deps.CallersVerified).
	CallersVerified bool
	// ServingCheck is the readiness check of the webhook server, the one
	// ClientAuth.Apply returned; nil is the server's StartedChecker.
	ServingCheck healthz.Checker
}

// Inventory is what Setup wired: the inventory and the feed keeping it
// current, for callers (tests, diagnostics, the metrics collector) that
// read them.
type Inventory struct {
	Store  *inventory.Store
	Feed   *inventory.Feed
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
	return &Inventory{Store: store, Feed: feed, config: o.Config}, nil
}

// HTTPHandlers serves each admission handler over HTTP (package review:
// one decode per AdmissionReview), with log, named after the path, as the
// handlers' logger.
func HTTPHandlers(hs map[string]admission.Handler, log logr.Logger) map[string]http.Handler {
	out := make(map[string]http.Handler, len(hs))
	for path, h := range hs {
		out[path] = review.NewHandler(h, log.WithValues("webhook", path))
	}
	return out
}

// HandlersByPath returns the handler of each served path, built on d: the
// wiring Setup registers, which the benchmarks, the load test's fixture
// server and the memory measurement (test/bench, cmd/ipamguard-load) serve
// from an inventory they feed themselves. The Pod validator keeps in-flight
// reservations only when d.CallersVerified: without them, pods created at
// the same moment with one address are told apart only once the first is
// in the inventory as a pending pod.
func HandlersByPath(d Deps) map[string]admission.Handler {
	var res *reserve.Table
	if d.CallersVerified {
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
