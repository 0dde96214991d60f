package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/metrics"
	"github.com/ipamguard/ipamguard/pkg/webhook"
)

// waitTimeout bounds every wait of the envtest tests: for the inventory to
// see a change, for the webhook to judge it.
const waitTimeout = 30 * time.Second

// suite is a real kube-apiserver + etcd with our CRDs and the generated
// webhook configuration, calling the webhook served in this process. The
// envtest tests of this package share one (shared); each takes it with
// useSuite, which deletes what the test created when it ends.
type suite struct {
	env *devenv.Env
	c   client.Client
	cs  kubernetes.Interface
	h   *webhook.Inventory
	// live is the webhook's configuration; tests swap it with setConfig,
	// which restores it when the test ends.
	live *config.Live
	// reg holds the webhook's metrics. The tests share it: compare a
	// counter with its value when the test began.
	reg *prometheus.Registry
}

// shared is started by the first envtest test and stopped by TestMain;
// unit tests never start it.
var shared = devenvtest.NewShared(devenv.Options{WebhookPaths: []string{webhookConfigDir()}}, setupSuite)

func TestMain(m *testing.M) { devenvtest.Main(m, shared) }

func webhookConfigDir() string {
	root, err := devenv.RepoRoot()
	if err != nil {
		// devenv.Start reports the missing directory.
		return filepath.Join("config", "webhook")
	}
	return filepath.Join(root, "config", "webhook")
}

// setupSuite runs the webhook on env as cmd/webhook does (same cache
// options, callers verified with the API server's client CA, so the
// in-flight reservations are on), waits for it to serve with a synced
// inventory and seeds the fresh-install objects.
func setupSuite(ctx context.Context, env *devenv.Env) (*suite, func() error, error) {
	srvOpts := ctrlwebhook.Options{Host: env.WebhookHost, Port: env.WebhookPort, CertDir: env.WebhookCertDir}
	auth := webhook.ClientAuth{CAFile: env.WebhookClientCAFile, CommonNames: []string{devenv.WebhookClientCommonName}}
	serving, err := auth.Apply(&srvOpts)
	if err != nil {
		return nil, nil, err
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		WebhookServer:          ctrlwebhook.NewServer(srvOpts),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  inventory.CacheOptions(),
	})
	if err != nil {
		return nil, nil, err
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return nil, nil, err
	}
	live := config.NewLive(config.Default())
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	h, err := webhook.Setup(runCtx, mgr, webhook.Options{Config: live, Metrics: m, CallersVerified: true, ServingCheck: serving})
	if err != nil {
		cancel()
		return nil, nil, err
	}
	m.SetSubnetSource(h.SubnetUsage)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(runCtx) }()
	stop := func() error {
		cancel()
		if err := <-done; err != nil {
			return fmt.Errorf("manager: %w", err)
		}
		return nil
	}
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, waitTimeout, true, func(context.Context) (bool, error) {
		return h.Feed.HasSynced() && serving(&http.Request{}) == nil, nil
	})
	if err != nil {
		err = fmt.Errorf("webhook serving and inventory synced: %w", err)
	} else if err = devenv.Seed(ctx, env.Client); err != nil {
		err = fmt.Errorf("seed: %w", err)
	}
	if err != nil {
		return nil, nil, errors.Join(err, stop())
	}
	return &suite{env: env, c: env.Client, cs: cs, h: h, live: live, reg: reg}, stop, nil
}

// useSuite returns the shared suite (skipping t without the control-plane
// binaries) and deletes, when t ends, every object of deleteRounds that t
// created, waiting until the inventory has forgotten them: the next test
// finds the cluster as this one did.
func useSuite(t *testing.T) *suite {
	t.Helper()
	s := shared.Get(t)
	before := map[types.UID]bool{}
	for _, kinds := range deleteRounds {
		for _, gvk := range kinds {
			for _, o := range s.listMeta(t, t.Context(), gvk) {
				before[o.UID] = true
			}
		}
	}
	t.Cleanup(func() {
		ctx := context.Background() // t.Context() has ended
		for _, kinds := range deleteRounds {
			s.deleteRound(t, ctx, before, kinds)
		}
	})
	return s
}

// deleteRounds are the kinds the envtest tests create, in the order they
// are deleted: address holders (and workloads) first, then what they sit
// in, since the webhook refuses to delete a subnet in use.
var deleteRounds = [][]schema.GroupVersionKind{{
	corev1.SchemeGroupVersion.WithKind("Pod"),
	appsv1.SchemeGroupVersion.WithKind("Deployment"),
	appsv1.SchemeGroupVersion.WithKind("StatefulSet"),
	appsv1.SchemeGroupVersion.WithKind("ReplicaSet"),
	appsv1.SchemeGroupVersion.WithKind("DaemonSet"),
	batchv1.SchemeGroupVersion.WithKind("Job"),
	batchv1.SchemeGroupVersion.WithKind("CronJob"),
	kubeovnv1.GroupVersion.WithKind("IP"),
	kubeovnv1.GroupVersion.WithKind("Vip"),
	kubeovnv1.GroupVersion.WithKind("IPPool"),
}, {
	kubeovnv1.GroupVersion.WithKind("Subnet"),
	kubeovnv1.GroupVersion.WithKind("Vpc"),
	corev1.SchemeGroupVersion.WithKind("Node"),
	corev1.SchemeGroupVersion.WithKind("Namespace"),
}}

func (s *suite) listMeta(t *testing.T, ctx context.Context, gvk schema.GroupVersionKind) []metav1.PartialObjectMetadata {
	t.Helper()
	var l metav1.PartialObjectMetadataList
	l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := s.c.List(ctx, &l); err != nil {
		t.Fatalf("list %s: %v", gvk.Kind, err)
	}
	return l.Items
}

// deleteRound deletes the objects of kinds not in before and waits until
// they are gone from the API server and from the inventory.
func (s *suite) deleteRound(t *testing.T, ctx context.Context, before map[types.UID]bool, kinds []schema.GroupVersionKind) {
	t.Helper()
	type created struct {
		obj *metav1.PartialObjectMetadata
		// forgotten reports what the inventory still holds of the object.
		forgotten func(inventory.Reader) error
	}
	var objs []created
	for _, gvk := range kinds {
		for _, o := range s.listMeta(t, ctx, gvk) {
			if before[o.UID] {
				continue
			}
			obj := o.DeepCopy()
			obj.SetGroupVersionKind(gvk)
			objs = append(objs, created{obj, s.forgotten(t, ctx, obj)})
			s.deleteObject(t, ctx, obj)
		}
	}
	for _, o := range objs {
		what := fmt.Sprintf("%s %s to be deleted", o.obj.Kind, client.ObjectKeyFromObject(o.obj))
		devenvtest.Eventually(t, what, waitTimeout, func() error {
			var got metav1.PartialObjectMetadata
			got.SetGroupVersionKind(o.obj.GroupVersionKind())
			err := s.c.Get(ctx, client.ObjectKeyFromObject(o.obj), &got)
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return err
			case got.UID != o.obj.UID:
			default:
				return fmt.Errorf("still there (deletionTimestamp %v, finalizers %v)", got.DeletionTimestamp, got.Finalizers)
			}
			var held error
			s.h.Store.Read(func(r inventory.Reader) { held = o.forgotten(r) })
			return held
		})
	}
}

// deleteObject deletes obj: finalizers first, since no controller runs to
// remove them, and for a namespace the "kubernetes" finalizer too, which
// the namespace controller would clear once the namespace is empty.
func (s *suite) deleteObject(t *testing.T, ctx context.Context, obj *metav1.PartialObjectMetadata) {
	t.Helper()
	if len(obj.Finalizers) > 0 {
		err := s.c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("remove finalizers of %s %s: %v", obj.Kind, obj.Name, err)
		}
	}
	// A subnet is refused while the inventory still sees addresses in it;
	// the round before waited for them to go, but retry the refusal anyway.
	devenvtest.Eventually(t, fmt.Sprintf("delete %s %s", obj.Kind, client.ObjectKeyFromObject(obj)), waitTimeout, func() error {
		err := s.c.Delete(ctx, obj, client.GracePeriodSeconds(0), client.PropagationPolicy(metav1.DeletePropagationBackground))
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	if obj.Kind != "Namespace" {
		return
	}
	ns, err := s.cs.CoreV1().Namespaces().Get(ctx, obj.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	if err == nil {
		ns.Spec.Finalizers = nil
		_, err = s.cs.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("finalize namespace %s: %v", obj.Name, err)
	}
}

// forgotten returns a check that the inventory no longer holds obj, read
// before obj is deleted (IP objects, Vips and nodes are judged by their
// addresses, which the metadata does not carry).
func (s *suite) forgotten(t *testing.T, ctx context.Context, obj *metav1.PartialObjectMetadata) func(inventory.Reader) error {
	t.Helper()
	name := obj.Name
	get := func(into client.Object) bool {
		if err := s.c.Get(ctx, client.ObjectKeyFromObject(obj), into); err != nil {
			if !apierrors.IsNotFound(err) {
				t.Errorf("get %s %s: %v", obj.Kind, name, err)
			}
			return false
		}
		return true
	}
	holdersGone := func(kind inventory.HolderKind, hs []inventory.Holder) func(inventory.Reader) error {
		return func(r inventory.Reader) error {
			var err error
			for _, h := range hs {
				r.InUse(h.Subnet, h.Addr, h.Addr, func(x inventory.Holder) bool {
					if x.Kind == kind && x.Name == name {
						err = fmt.Errorf("the inventory still has %s in subnet %s held by %s", x.Addr, x.Subnet, x.Owner())
					}
					return err == nil
				})
			}
			return err
		}
	}
	notFound := func(found bool) error {
		if found {
			return fmt.Errorf("the inventory still has %s %s", obj.Kind, name)
		}
		return nil
	}
	switch obj.Kind {
	case "Pod":
		reqs := inventory.PodRequestsOf(obj)
		return func(r inventory.Reader) error {
			var err error
			for _, rq := range reqs {
				r.PodRequests(rq.Addr, func(p inventory.PodRequest) bool {
					if p.Namespace == obj.Namespace && p.Pod == name {
						err = fmt.Errorf("the inventory still has pod %s/%s asking for %s", p.Namespace, p.Pod, p.Addr)
					}
					return err == nil
				})
			}
			return err
		}
	case "IP":
		var ip kubeovnv1.IP
		if get(&ip) {
			return holdersGone(inventory.HolderIP, inventory.IPHolders(&ip))
		}
	case "Vip":
		var vip kubeovnv1.Vip
		if get(&vip) {
			return holdersGone(inventory.HolderVip, inventory.VipHolders(&vip))
		}
	case "Node":
		var node corev1.Node
		if !get(&node) {
			break
		}
		var addrs []netip.Addr
		for _, a := range node.Status.Addresses {
			if ip, err := netip.ParseAddr(a.Address); err == nil && a.Type == corev1.NodeInternalIP {
				addrs = append(addrs, ip)
			}
		}
		return func(r inventory.Reader) error {
			var err error
			for _, a := range addrs {
				r.NodeAddresses(netip.PrefixFrom(a, a.BitLen()), func(n string, _ netip.Addr) bool {
					if n == name {
						err = fmt.Errorf("the inventory still has node %s at %s", n, a)
					}
					return err == nil
				})
			}
			return err
		}
	case "IPPool":
		return func(r inventory.Reader) error { _, ok := r.IPPool(name); return notFound(ok) }
	case "Subnet":
		return func(r inventory.Reader) error { _, ok := r.Subnet(name); return notFound(ok) }
	case "Vpc":
		return func(r inventory.Reader) error { _, ok := r.VPC(name); return notFound(ok) }
	case "Namespace":
		return func(r inventory.Reader) error { _, ok := r.Namespace(name); return notFound(ok) }
	}
	// Workloads are read from the API server, never cached.
	return func(inventory.Reader) error { return nil }
}

// setConfig swaps the webhook's configuration, as a reload would, and
// restores the one in force before when the test ends.
func (s *suite) setConfig(t *testing.T, yaml string) {
	t.Helper()
	c, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	prev := s.live.Get()
	s.live.Set(c)
	t.Cleanup(func() { s.live.Set(prev) })
}
