// Package simovn is a small stand-in for the Kube-OVN controller's IP
// allocation, for local demos (`make run`) and end-to-end tests only. It is
// not a reimplementation of Kube-OVN and must never run next to a real
// Kube-OVN controller: there is no OVN, no logical switch ports, no MAC
// addresses, no node or gateway handling, no attachment networks, no
// subnet status, no KubeVirt flows and no keep-IP release when a
// StatefulSet scales down.
//
// What it does, on a control plane without a Kube-OVN controller (and
// without a scheduler: it does not wait for spec.nodeName):
//
//   - for each new pod it picks a subnet in the controller's order
//     (logical_switch annotation, the IPPool named by ip_pool, the subnets
//     bound to the namespace, the VPC's default subnet, the default subnet)
//     and takes the pod's ip_address when given and free, else the lowest
//     free allocatable address of each family;
//   - it creates the IP object "<pod>.<namespace>" and writes the pod
//     annotations the controller writes (allocated, ip_address, cidr,
//     gateway, logical_switch);
//   - when the subnet is full it records the Warning Event users see from
//     Kube-OVN (reason AcquireAddressFailed, "... no available IP in
//     subnet X") and retries later;
//   - when a pod goes away it deletes the pod's IP object, except for
//     StatefulSet pods, which keep their address for the next pod of the
//     same name.
//
// It reads the cluster through an inventory.Store fed by inventory.Watch,
// like the webhook, and finds free addresses with ordered range scans of
// the addresses in use.
package simovn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
)

// Defaults of the Kube-OVN controller flags.
const (
	DefaultVPC    = "ovn-cluster"
	DefaultSubnet = "ovn-default"
)

// EventSource is the reporting controller of the Events simovn records.
const EventSource = "simovn"

// ManagedByLabel marks the IP objects simovn created; it only ever deletes
// those.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "simovn"
)

// Options configures New. The zero value uses the Kube-OVN defaults.
type Options struct {
	// DefaultVPC is what an empty spec.vpc means. Default "ovn-cluster".
	DefaultVPC string
	// DefaultSubnet is the subnet of pods that no other rule places.
	// Default "ovn-default".
	DefaultSubnet string
	// RetryInterval is how often a pod without an address is retried
	// (besides retries when an address is freed or a subnet changes).
	// Default 5s.
	RetryInterval time.Duration
	// Log receives what simovn does. The zero value discards it.
	Log logr.Logger
}

// Simulator allocates addresses to pods. Create it with New and run it
// with Start.
type Simulator struct {
	mgr  manager.Manager
	feed *inventory.Feed
	log  logr.Logger
}

// New builds a Simulator talking to the API server of cfg. Nothing runs
// until Start.
func New(cfg *rest.Config, o Options) (*Simulator, error) {
	if o.DefaultVPC == "" {
		o.DefaultVPC = DefaultVPC
	}
	if o.DefaultSubnet == "" {
		o.DefaultSubnet = DefaultSubnet
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 5 * time.Second
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("simovn: build scheme: %w", err)
	}
	if err := kubeovnv1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("simovn: build scheme: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 o.Log,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Several simulators may run in one test process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Cache: cache.Options{
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Node{}: {Transform: inventory.StripNode},
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("simovn: create manager: %w", err)
	}
	store := inventory.New(o.DefaultVPC)
	// Watch only looks the informers up; they start with the manager.
	feed, err := inventory.Watch(context.Background(), mgr.GetCache(), store)
	if err != nil {
		return nil, fmt.Errorf("simovn: watch inventory: %w", err)
	}
	r := &reconciler{
		c:             mgr.GetClient(),
		api:           mgr.GetAPIReader(),
		store:         store,
		feed:          feed,
		rec:           mgr.GetEventRecorder(EventSource),
		defaultSubnet: o.DefaultSubnet,
		retry:         o.RetryInterval,
		log:           o.Log,
		pending:       map[types.NamespacedName]string{},
	}
	err = ctrl.NewControllerManagedBy(mgr).
		Named("simovn").
		For(&corev1.Pod{}).
		Watches(&kubeovnv1.IP{}, r.ipEvents()).
		Watches(&kubeovnv1.Subnet{}, r.kickOn(true)).
		Watches(&kubeovnv1.Vip{}, r.kickOn(false)).
		Watches(&kubeovnv1.IPPool{}, r.kickOn(true)).
		WithOptions(controller.Options{MaxConcurrentReconciles: 1}).
		Complete(r)
	if err != nil {
		return nil, fmt.Errorf("simovn: create controller: %w", err)
	}
	return &Simulator{mgr: mgr, feed: feed, log: o.Log}, nil
}

// Start runs the simulator until ctx ends. It returns nil after a clean
// stop.
func (s *Simulator) Start(ctx context.Context) error {
	s.log.Info("simulating Kube-OVN IP allocation (demo only: no OVN, no real Kube-OVN controller)")
	if err := s.mgr.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("simovn: %w", err)
	}
	return nil
}

// WaitSynced blocks until the simulator's caches and inventory hold the
// cluster's state, or ctx ends; it reports whether they synced. Start must
// be running.
func (s *Simulator) WaitSynced(ctx context.Context) bool {
	if !s.mgr.GetCache().WaitForCacheSync(ctx) {
		return false
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !s.feed.HasSynced() {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// ipEvents maps IP objects to their pods: a pod whose IP object appears
// (also at startup) is checked, which deletes IP objects of pods that
// went away while simovn was not running. A deleted IP object frees an
// address, so waiting pods are retried.
func (r *reconciler) ipEvents() handler.Funcs {
	owner := func(o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		ip, ok := o.(*kubeovnv1.IP)
		if !ok || ip.Spec.PodName == "" || ip.Spec.Namespace == "" || ip.Name != ipObjectName(ip.Spec.PodName, ip.Spec.Namespace) {
			return
		}
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ip.Spec.Namespace, Name: ip.Spec.PodName}})
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			owner(e.Object, q)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			owner(e.Object, q)
			r.kickPending(q)
		},
	}
}

// kickOn retries waiting pods when an object that decides about free
// addresses changes (updates too when onUpdate) or goes away.
func (r *reconciler) kickOn(onUpdate bool) handler.Funcs {
	f := handler.Funcs{
		CreateFunc: func(_ context.Context, _ event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.kickPending(q)
		},
		DeleteFunc: func(_ context.Context, _ event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.kickPending(q)
		},
	}
	if onUpdate {
		f.UpdateFunc = func(_ context.Context, _ event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.kickPending(q)
		}
	}
	return f
}

// kickDelay gives the inventory's own handler on the same informer time to
// apply the change before a waiting pod is retried.
const kickDelay = 200 * time.Millisecond

func (r *reconciler) kickPending(q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.pending {
		q.AddAfter(reconcile.Request{NamespacedName: k}, kickDelay)
	}
}

// markPending remembers a pod waiting for an address and reports whether
// msg differs from the last failure recorded for it.
func (r *reconciler) markPending(k types.NamespacedName, msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	last, seen := r.pending[k]
	r.pending[k] = msg
	return !seen || last != msg
}

func (r *reconciler) forget(k types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pending, k)
}
