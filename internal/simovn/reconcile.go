package simovn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
)

// Annotations and labels the Kube-OVN controller writes (default provider).
const (
	AnnotationAllocated     = "ovn.kubernetes.io/allocated"
	AnnotationIPAddress     = "ovn.kubernetes.io/ip_address"
	AnnotationCIDR          = "ovn.kubernetes.io/cidr"
	AnnotationGateway       = "ovn.kubernetes.io/gateway"
	AnnotationLogicalSwitch = "ovn.kubernetes.io/logical_switch"
	LabelSubnet             = "ovn.kubernetes.io/subnet"
	LabelIPReserved         = "ovn.kubernetes.io/ip_reserved"
)

// storeWait bounds the wait for the inventory to show an IP object just
// created, so the next allocation does not hand out the same address.
const storeWait = 5 * time.Second

type reconciler struct {
	c             client.Client // cached reads
	api           client.Reader // live reads
	store         *inventory.Store
	feed          *inventory.Feed
	rec           recorder.EventRecorder
	defaultSubnet string
	retry         time.Duration
	log           logr.Logger

	mu sync.Mutex
	// pending holds the pods waiting for an address, with the last failure
	// recorded for each.
	pending map[types.NamespacedName]string
}

func ipObjectName(pod, namespace string) string { return pod + "." + namespace }

// Reconcile gives a pod its addresses, or releases them once it is gone.
// It runs one pod at a time, so two pods never race for one address.
func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	if !r.feed.HasSynced() {
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	log := r.log.WithValues("pod", req.String())
	var pod corev1.Pod
	err := r.c.Get(ctx, req.NamespacedName, &pod)
	if apierrors.IsNotFound(err) {
		// The cache may lag behind a pod created a moment ago: ask the
		// API server before releasing anything.
		err = r.api.Get(ctx, req.NamespacedName, &pod)
	}
	switch {
	case apierrors.IsNotFound(err):
		r.forget(req.NamespacedName)
		return ctrl.Result{}, r.release(ctx, log, req.NamespacedName)
	case err != nil:
		return ctrl.Result{}, err
	case pod.DeletionTimestamp != nil:
		r.forget(req.NamespacedName)
		return ctrl.Result{}, r.release(ctx, log, req.NamespacedName)
	case pod.Spec.HostNetwork:
		return ctrl.Result{}, nil
	}

	ipName := ipObjectName(pod.Name, pod.Namespace)
	var ip kubeovnv1.IP
	err = r.api.Get(ctx, client.ObjectKey{Name: ipName}, &ip)
	switch {
	case err == nil:
		if ip.Spec.PodName != pod.Name || ip.Spec.Namespace != pod.Namespace {
			return r.fail(ctx, log, &pod, failf("IP object %s belongs to pod %s/%s", ipName, ip.Spec.Namespace, ip.Spec.PodName))
		}
		// Allocated before (a restart, a keep-IP StatefulSet pod coming
		// back, or a reserved IP object): reuse it.
		return r.annotate(ctx, log, &pod, &ip)
	case !apierrors.IsNotFound(err):
		return ctrl.Result{}, err
	}

	info := podInfo{
		Namespace: pod.Namespace,
		Name:      pod.Name,
		Owner:     annotations.OwnerKey(pod.Name, annotations.LauncherVM(pod.OwnerReferences)),
		Ordinal:   -1,
		Req:       primaryRequest(pod.Annotations),
	}
	if statefulSetOwner(&pod) {
		info.Ordinal = statefulSetOrdinal(pod.Name)
	}
	var alloc allocation
	var aerr *allocError
	r.store.Read(func(rd inventory.Reader) { alloc, aerr = allocate(rd, r.defaultSubnet, info, ipName) })
	if aerr != nil {
		return r.fail(ctx, log, &pod, aerr)
	}

	ip = newIPObject(&pod, alloc)
	if err := r.c.Create(ctx, &ip); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
		}
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) {
			// Refused, e.g. by ipamguard's IP webhook.
			return r.fail(ctx, log, &pod, failf("create IP object %s: %v", ipName, err))
		}
		return ctrl.Result{}, fmt.Errorf("create IP object %s: %w", ipName, err)
	}
	r.waitForStore(ctx, log, alloc.Subnet.Name, ipName, alloc.Addrs[0])
	log.Info("allocated", "subnet", alloc.Subnet.Name, "ip", joinAddrs(alloc.Addrs), "ipObject", ipName)
	return r.annotate(ctx, log, &pod, &ip)
}

// statefulSetOwner reports whether a StatefulSet controls the pod.
func statefulSetOwner(pod *corev1.Pod) bool {
	ref := metav1.GetControllerOf(pod)
	return ref != nil && ref.Kind == "StatefulSet" && strings.HasPrefix(ref.APIVersion, "apps/")
}

// newIPObject builds the IP object the controller creates for a pod.
func newIPObject(pod *corev1.Pod, alloc allocation) kubeovnv1.IP {
	spec := kubeovnv1.IPSpec{
		PodName:       pod.Name,
		Namespace:     pod.Namespace,
		Subnet:        alloc.Subnet.Name,
		AttachSubnets: []string{},
		AttachIPs:     []string{},
		AttachMacs:    []string{},
		IPAddress:     joinAddrs(alloc.Addrs),
	}
	for _, a := range alloc.Addrs {
		if a.Is4() {
			spec.V4IPAddress = a.String()
		} else {
			spec.V6IPAddress = a.String()
		}
	}
	if statefulSetOwner(pod) {
		spec.PodType = kubeovnv1.PodTypeStatefulSet
	}
	return kubeovnv1.IP{
		ObjectMeta: metav1.ObjectMeta{
			Name: ipObjectName(pod.Name, pod.Namespace),
			Labels: map[string]string{
				LabelSubnet:    alloc.Subnet.Name,
				ManagedByLabel: ManagedByValue,
			},
		},
		Spec: spec,
	}
}

// waitForStore waits until the inventory holds the new IP object.
func (r *reconciler) waitForStore(ctx context.Context, log logr.Logger, subnet, ipName string, a netip.Addr) {
	deadline := time.Now().Add(storeWait)
	for {
		seen := false
		r.store.Read(func(rd inventory.Reader) {
			rd.InUse(subnet, a, a, func(h inventory.Holder) bool {
				seen = h.Kind == inventory.HolderIP && h.Name == ipName
				return !seen
			})
		})
		if seen {
			return
		}
		if time.Now().After(deadline) {
			log.Info("inventory has not seen the new IP object yet; continuing", "ipObject", ipName)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// annotate writes the controller's annotations for ip onto the pod, when
// they differ.
func (r *reconciler) annotate(ctx context.Context, log logr.Logger, pod *corev1.Pod, ip *kubeovnv1.IP) (ctrl.Result, error) {
	addr := ip.Spec.IPAddress
	if addr == "" {
		addr = joinNonEmpty(ip.Spec.V4IPAddress, ip.Spec.V6IPAddress)
	}
	want := map[string]string{
		AnnotationAllocated:     "true",
		AnnotationIPAddress:     addr,
		AnnotationLogicalSwitch: ip.Spec.Subnet,
	}
	r.store.Read(func(rd inventory.Reader) {
		if sn, ok := rd.Subnet(ip.Spec.Subnet); ok {
			want[AnnotationCIDR] = sn.CIDRBlock
			want[AnnotationGateway] = gateways(sn.Spec)
		}
	})
	patch := map[string]string{}
	for k, v := range want {
		if pod.Annotations[k] != v {
			patch[k] = v
		}
	}
	r.forget(client.ObjectKeyFromObject(pod))
	if len(patch) == 0 {
		return ctrl.Result{}, nil
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": patch}})
	if err != nil {
		return ctrl.Result{}, err
	}
	target := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}}
	if err := r.c.Patch(ctx, target, client.RawPatch(types.MergePatchType, body)); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.release(ctx, log, client.ObjectKeyFromObject(pod))
		}
		return ctrl.Result{}, fmt.Errorf("annotate pod: %w", err)
	}
	return ctrl.Result{}, nil
}

// gateways renders the gateway of each block, "v4,v6".
func gateways(s ipam.Subnet) string {
	parts := make([]string, 0, len(s.Gateways))
	for _, g := range s.Gateways {
		parts = append(parts, g.String())
	}
	return strings.Join(parts, ",")
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "," + b
}

// fail records the failure on the pod as the controller does, once per
// distinct message, and retries later.
func (r *reconciler) fail(_ context.Context, log logr.Logger, pod *corev1.Pod, e *allocError) (ctrl.Result, error) {
	msg := fmt.Sprintf("Failed to allocate IP for pod %s/%s: %s", pod.Namespace, pod.Name, e.Msg)
	if r.markPending(client.ObjectKeyFromObject(pod), msg) {
		log.Info("cannot allocate", "reason", e.Reason, "message", e.Msg)
		r.rec.Eventf(pod, nil, corev1.EventTypeWarning, e.Reason, "AllocateIP", "%s", msg)
	}
	return ctrl.Result{RequeueAfter: r.retry}, nil
}

// release deletes the IP object of a pod that is gone, unless it keeps its
// address (StatefulSet and VM pods), was reserved by a user, or was not
// created by simovn.
func (r *reconciler) release(ctx context.Context, log logr.Logger, key types.NamespacedName) error {
	ipName := ipObjectName(key.Name, key.Namespace)
	var ip kubeovnv1.IP
	if err := r.api.Get(ctx, client.ObjectKey{Name: ipName}, &ip); err != nil {
		return client.IgnoreNotFound(err)
	}
	switch {
	case ip.Spec.PodName != key.Name || ip.Spec.Namespace != key.Namespace,
		ip.Labels[ManagedByLabel] != ManagedByValue,
		ip.Labels[LabelIPReserved] == "true":
		return nil
	case ip.Spec.PodType == kubeovnv1.PodTypeStatefulSet || ip.Spec.PodType == kubeovnv1.PodTypeVirtualMachine:
		log.V(1).Info("pod gone; keeping its IP object (keep-IP)", "ipObject", ipName, "podType", ip.Spec.PodType)
		return nil
	}
	err := r.c.Delete(ctx, &ip, client.Preconditions{UID: &ip.UID, ResourceVersion: &ip.ResourceVersion})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		return fmt.Errorf("release IP object %s: changed meanwhile, retrying: %w", ipName, err)
	case err != nil:
		return fmt.Errorf("release IP object %s: %w", ipName, err)
	}
	log.Info("released", "subnet", ip.Spec.Subnet, "ip", ip.Spec.IPAddress, "ipObject", ipName)
	return nil
}
