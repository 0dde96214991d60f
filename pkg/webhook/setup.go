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
// +kubebuilder:rbac:groups="",resources=nodes;namespaces,verbs=get;list;watch

// Options are what the handlers need, set by main.
type Options struct {
	Defaults validate.Defaults
	Policy   *policy.Policy
}

// Setup builds the inventory on the manager's cache, registers the
// handlers on its webhook server and a readiness check gated on the
// inventory's initial sync. It returns the Store for callers that want to
// inspect it.
func Setup(ctx context.Context, mgr manager.Manager, o Options) (*inventory.Store, error) {
	store := inventory.New(o.Defaults.VPC)
	feed, err := inventory.Watch(ctx, mgr.GetCache(), store)
	if err != nil {
		return nil, fmt.Errorf("watch inventory: %w", err)
	}
	if err := mgr.AddReadyzCheck("inventory", feed.ReadyCheck); err != nil {
		return nil, fmt.Errorf("add readiness check: %w", err)
	}
	decoder := admission.NewDecoder(mgr.GetScheme())
	srv := mgr.GetWebhookServer()
	srv.Register(SubnetPath, &admission.Webhook{Handler: &SubnetValidator{
		Store:    store,
		Synced:   feed.HasSynced,
		Defaults: o.Defaults,
		Policy:   o.Policy,
		Decoder:  decoder,
	}})
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return nil, fmt.Errorf("add webhook readiness check: %w", err)
	}
	return store, nil
}
