package webhook

import (
	"context"
	"fmt"
	"net/http"

	"github.com/go-logr/logr"

	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/metrics"
	"github.com/ipamguard/ipamguard/pkg/review"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// +kubebuilder:rbac:groups=kubeovn.io,resources=subnets;ips;vips;ippools;vpcs,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes;namespaces;pods,verbs=get;list;watch

// Options are what the handlers need, set by main.
type Options struct {
	// Config is the configuration in force.
	Config *config.Live
	// Metrics records requests and decisions; nil records nothing.
	Metrics *metrics.Metrics
}

// Handlers is what Setup wired: the inventory and the feed keeping it
// current, for callers (tests, diagnostics) that want to inspect them.
type Handlers struct {
	Store  *inventory.Store
	Feed   *inventory.Feed
	config *config.Live
}

// SubnetUsage yields every subnet's usage per family, computed from the
// inventory with the thresholds in force; nothing before the first sync.
// It is the metrics collector's source, called once per scrape.
func (h *Handlers) SubnetUsage(yield func(metrics.SubnetUsage) bool) {
	if !h.Feed.HasSynced() {
		return
	}
	cfg := h.config.Get()
	t := cfg.Thresholds.Levels()
	// Take the subnet list under one short read, then compute each usage
	// under its own: a scrape never holds the lock for a pass over the
	// whole cluster, so informer writes (and the admissions queued behind
	// them) never wait for it.
	var subnets []*inventory.Subnet
	h.Store.Read(func(r inventory.Reader) {
		r.Subnets(func(sn *inventory.Subnet) bool {
			subnets = append(subnets, sn)
			return true
		})
	})
	var us []validate.FamilyUsage
	for _, sn := range subnets {
		h.Store.Read(func(r inventory.Reader) { us = validate.Usage(r, sn) })
		for _, u := range us {
			if !yield(metrics.SubnetUsage{
				Subnet: sn.Name, VPC: sn.VPC, Family: u.Family.String(),
				Total: u.Total, Using: u.Using, Available: u.Available,
				Level: levelNumber(t.Level(u.Available)),
			}) {
				return
			}
		}
	}
}

func levelNumber(level string) int {
	switch level {
	case validate.LevelWarning:
		return metrics.LevelWarning
	case validate.LevelCritical:
		return metrics.LevelCritical
	case validate.LevelExhausted:
		return metrics.LevelExhausted
	}
	return metrics.LevelOK
}

// Setup builds the inventory on the manager's cache, registers the
// handlers on its webhook server and a readiness check gated on the
// inventory's initial sync.
func Setup(ctx context.Context, mgr manager.Manager, o Options) (*Handlers, error) {
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
		Workloads: APIWorkloads{Reader: mgr.GetAPIReader()},
	}
	srv := mgr.GetWebhookServer()
	for path, h := range HTTPHandlers(handlers(deps), mgr.GetLogger()) {
		srv.Register(path, h)
	}
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return nil, fmt.Errorf("add webhook readiness check: %w", err)
	}
	return &Handlers{Store: store, Feed: feed, config: o.Config}, nil
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

// handlers maps each served path to its handler.
func handlers(d Deps) map[string]admission.Handler {
	pods := NewPodValidator(d, NewReservations(ReservationTTL))
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
