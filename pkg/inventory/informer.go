package inventory

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// Feed keeps a Store in step with a controller-runtime cache. Create it with
// Watch; its Ready check reports not-ready until every informer has synced
// and delivered its initial list to the Store.
type Feed struct {
	regs   []toolscache.ResourceEventHandlerRegistration
	synced atomic.Bool
}

// PodMetadata is the metadata-only Pod type the inventory watches: the rules
// read pod annotations and labels, never specs.
func PodMetadata() *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
}

// NamespaceMetadata is the metadata-only Namespace type the inventory watches.
func NamespaceMetadata() *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}}
}

// StripPod is a cache transform for pod metadata that keeps only what the
// inventory reads: name, namespace, and for pods still pending a fixed
// address the Kube-OVN static-IP annotations, the KubeVirt VM label and the
// creationTimestamp (a pending pod holds its address for a bounded time
// after creation), plus the resourceVersion the informer compares to tell
// updates from resyncs. Most pods have none and shrink to a name. The UID
// goes too: nothing reads it, and with one entry per pod its 36 bytes add
// up.
func StripPod(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	out := &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: m.Name, Namespace: names.intern(m.Namespace), ResourceVersion: m.ResourceVersion,
	}}
	if len(PodRequestsOf(m)) == 0 {
		// Nothing pending: pods without fixed addresses, and pods the
		// controller has allocated (their IP objects hold the addresses).
		return out, nil
	}
	out.CreationTimestamp = m.CreationTimestamp
	for k, v := range m.Annotations {
		if _, ok := annotations.ParseKey(k); ok {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[k] = v
		}
	}
	for _, o := range m.OwnerReferences {
		// The VM a virt-launcher pod runs (annotations.LauncherVM): the
		// owner of its pending addresses.
		if annotations.LauncherVM([]metav1.OwnerReference{o}) != "" {
			out.OwnerReferences = []metav1.OwnerReference{{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, Controller: o.Controller}}
			break
		}
	}
	return out, nil
}

// Watch registers event handlers on the cache's informers for Subnets, IPs,
// Vips, Vpcs, IPPools, Nodes, and the metadata of Pods and Namespaces, that
// keep s up to date. It does not block; the cache must be
// started (the manager does that).
func Watch(ctx context.Context, c cache.Cache, s *Store) (*Feed, error) {
	f := &Feed{}
	type kind struct {
		obj    client.Object
		upsert func(client.Object)
		remove func(client.Object)
		// statusSubresource kinds bump metadata.generation only on spec
		// changes; status-only updates (Kube-OVN writes subnet status on
		// every allocation) are skipped.
		statusSubresource bool
	}
	kinds := []kind{
		{&kubeovnv1.Subnet{},
			func(o client.Object) { s.UpsertSubnet(o.(*kubeovnv1.Subnet)) },
			func(o client.Object) { s.DeleteSubnet(o.GetName()) }, true},
		{&kubeovnv1.IP{},
			func(o client.Object) { s.UpsertIP(o.(*kubeovnv1.IP)) },
			func(o client.Object) { s.DeleteIP(o.GetName()) }, false},
		{&kubeovnv1.Vip{},
			func(o client.Object) { s.UpsertVip(o.(*kubeovnv1.Vip)) },
			func(o client.Object) { s.DeleteVip(o.GetName()) }, false},
		{&corev1.Node{},
			func(o client.Object) { s.UpsertNode(o.(*corev1.Node)) },
			func(o client.Object) { s.DeleteNode(o.GetName()) }, false},
		{&kubeovnv1.Vpc{},
			func(o client.Object) { s.UpsertVpc(o.(*kubeovnv1.Vpc)) },
			func(o client.Object) { s.DeleteVpc(o.GetName()) }, true},
		{&kubeovnv1.IPPool{},
			func(o client.Object) { s.UpsertIPPool(o.(*kubeovnv1.IPPool)) },
			func(o client.Object) { s.DeleteIPPool(o.GetName()) }, true},
		{PodMetadata(),
			func(o client.Object) { s.UpsertPod(o) },
			func(o client.Object) { s.DeletePod(o.GetNamespace(), o.GetName()) }, false},
		{NamespaceMetadata(),
			func(o client.Object) { s.UpsertNamespace(o) },
			func(o client.Object) { s.DeleteNamespace(o.GetName()) }, false},
	}
	for _, k := range kinds {
		inf, err := c.GetInformer(ctx, k.obj)
		if err != nil {
			return nil, fmt.Errorf("get informer for %T: %w", k.obj, err)
		}
		reg, err := inf.AddEventHandler(handler(k.upsert, k.remove, k.statusSubresource))
		if err != nil {
			return nil, fmt.Errorf("add event handler for %T: %w", k.obj, err)
		}
		f.regs = append(f.regs, reg)
	}
	return f, nil
}

func handler(upsert, remove func(client.Object), statusSubresource bool) toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(client.Object); ok {
				upsert(o)
			}
		},
		UpdateFunc: func(oldObj, obj any) {
			o, ok := obj.(client.Object)
			if !ok {
				return
			}
			if old, ok := oldObj.(client.Object); ok && statusSubresource &&
				o.GetGeneration() != 0 && o.GetGeneration() == old.GetGeneration() {
				return
			}
			upsert(o)
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if o, ok := obj.(client.Object); ok {
				remove(o)
			}
		},
	}
}

// HasSynced reports whether every informer has delivered its initial list.
// Once true it stays true.
func (f *Feed) HasSynced() bool {
	if f.synced.Load() {
		return true
	}
	for _, r := range f.regs {
		if !r.HasSynced() {
			return false
		}
	}
	f.synced.Store(true)
	return true
}

// errNotSynced is returned by the readiness check before the initial sync.
var errNotSynced = errors.New("inventory caches have not synced yet")

// ReadyCheck is a healthz.Checker: not ready until the Store holds the
// cluster's initial state, so the webhook never judges from an empty view.
func (f *Feed) ReadyCheck(_ *http.Request) error {
	if !f.HasSynced() {
		return errNotSynced
	}
	return nil
}

// StripNode is a cache transform that keeps only what the inventory reads
// of a Node (name and addresses): node objects carry images, conditions and
// capacity that would otherwise sit in memory for nothing.
func StripNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	return &corev1.Node{
		TypeMeta: n.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:            n.Name,
			UID:             n.UID,
			ResourceVersion: n.ResourceVersion,
		},
		Status: corev1.NodeStatus{Addresses: n.Status.Addresses},
	}, nil
}

// StripIP is a cache transform for IP objects that keeps only what
// IPHolders reads (owner, subnets, addresses, pod type), plus the name and
// resourceVersion the informer needs. MACs, container IDs, labels,
// annotations and the UID are most of an IP object's bytes, and there is
// one IP object per pod. What is kept shares memory where it can: the pod
// name is usually a prefix of the object's name ("pod.namespace"), the
// per-family addresses are parts of ipAddress ("v4,v6"), and namespace,
// subnet and node names repeat across thousands of objects.
func StripIP(obj any) (any, error) {
	ip, ok := obj.(*kubeovnv1.IP)
	if !ok {
		return obj, nil
	}
	spec := &ip.Spec
	return &kubeovnv1.IP{
		TypeMeta: ip.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: ip.Name, ResourceVersion: ip.ResourceVersion, Generation: ip.Generation,
		},
		Spec: kubeovnv1.IPSpec{
			PodName:       shareWith(ip.Name, spec.PodName),
			Namespace:     names.intern(spec.Namespace),
			Subnet:        names.intern(spec.Subnet),
			AttachSubnets: spec.AttachSubnets,
			NodeName:      names.intern(spec.NodeName),
			IPAddress:     spec.IPAddress,
			V4IPAddress:   shareWith(spec.IPAddress, spec.V4IPAddress),
			V6IPAddress:   shareWith(spec.IPAddress, spec.V6IPAddress),
			AttachIPs:     spec.AttachIPs,
			PodType:       names.intern(spec.PodType),
		},
	}, nil
}

// shareWith returns part, sharing whole's bytes when whole begins or ends
// with it (whole is kept anyway; part then costs no allocation of its own).
func shareWith(whole, part string) string {
	switch {
	case part == "":
		return ""
	case strings.HasPrefix(whole, part):
		return whole[:len(part)]
	case strings.HasSuffix(whole, part):
		return whole[len(whole)-len(part):]
	default:
		return part
	}
}

// names interns the low-cardinality names (namespaces, subnets, nodes) that
// the transforms keep once per object: decoding gives every object its own
// copy of each.
var names = &interner{m: map[string]string{}}

// maxInterned bounds the interner: past it, the table starts afresh, so
// names of deleted objects cannot accumulate. Strings handed out before
// stay valid; only later copies stop sharing with them.
const maxInterned = 1 << 16

// interner maps a string to one shared copy of it. It is safe for
// concurrent use: each informer runs its transform in its own goroutine.
type interner struct {
	mu sync.Mutex
	m  map[string]string
}

func (in *interner) intern(s string) string {
	if s == "" {
		return ""
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.m[s]; ok {
		return v
	}
	if len(in.m) >= maxInterned {
		clear(in.m)
	}
	in.m[s] = s
	return s
}
