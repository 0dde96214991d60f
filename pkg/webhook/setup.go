package webhook

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// +kubebuilder:rbac:groups=kubeovn.io,resources=subnets;ips;vips;ippools;vpcs,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes;namespaces;pods,verbs=get;list;watch

// Options are what the handlers need, set by main.
type Options struct {
	Defaults validate.Defaults
	Policy   *policy.Policy
}

// Handlers is what Setup wired: the inventory and the feed keeping it
// current, for callers (tests, diagnostics) that want to inspect them.
type Handlers struct {
	Store *inventory.Store
	Feed  *inventory.Feed
}

// Setup builds the inventory on the manager's cache, registers the
// handlers on its webhook server and a readiness check gated on the
// inventory's initial sync.
func Setup(ctx context.Context, mgr manager.Manager, o Options) (*Handlers, error) {
	store := inventory.New(o.Defaults.VPC)
	feed, err := inventory.Watch(ctx, mgr.GetCache(), store)
	if err != nil {
		return nil, fmt.Errorf("watch inventory: %w", err)
	}
	if err := mgr.AddReadyzCheck("inventory", feed.ReadyCheck); err != nil {
		return nil, fmt.Errorf("add readiness check: %w", err)
	}
	deps := Deps{
		Store:    store,
		Synced:   feed.HasSynced,
		Defaults: o.Defaults,
		Policy:   o.Policy,
		Decoder:  admission.NewDecoder(mgr.GetScheme()),
	}
	srv := mgr.GetWebhookServer()
	for path, h := range handlers(deps) {
		srv.Register(path, &admission.Webhook{Handler: h})
	}
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return nil, fmt.Errorf("add webhook readiness check: %w", err)
	}
	return &Handlers{Store: store, Feed: feed}, nil
}

// handlers maps each served path to its handler.
func handlers(d Deps) map[string]admission.Handler {
	return map[string]admission.Handler{
		SubnetPath:   NewSubnetValidator(d),
		IPPath:       NewIPValidator(d),
		IPPoolPath:   NewIPPoolValidator(d),
		PodPath:      NewPodValidator(d, NewReservations(ReservationTTL)),
		WorkloadPath: NewWorkloadValidator(d),
	}
}
