package simovn_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/internal/simovn"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

const waitFor = 20 * time.Second

// startSim runs a simulator until the returned stop is called (or the test
// ends) and waits for it to sync.
func startSim(t *testing.T, env *devenv.Env) (stop func()) {
	t.Helper()
	sim, err := simovn.New(env.Config, simovn.Options{
		Log:           testr.NewWithOptions(t, testr.Options{LogTimestamp: true}).WithName("simovn"),
		RetryInterval: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Start(ctx) }()
	syncCtx, syncCancel := context.WithTimeout(ctx, waitFor)
	defer syncCancel()
	if !sim.WaitSynced(syncCtx) {
		cancel()
		t.Fatalf("simulator did not sync: %v", <-done)
	}
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("simulator: %v", err)
			}
		case <-time.After(waitFor):
			t.Errorf("simulator did not stop within %s", waitFor)
		}
	}
	t.Cleanup(stop)
	return stop
}

func newPod(ns, name string, ann map[string]string, owner *metav1.OwnerReference) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
	}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return p
}

// waitAllocated waits for the pod's IP object and annotations and returns
// the address.
func waitAllocated(t *testing.T, c client.Client, ns, name string) string {
	t.Helper()
	var addr string
	devenvtest.Eventually(t, "allocate "+ns+"/"+name, waitFor, func() error {
		var pod corev1.Pod
		if err := c.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: name}, &pod); err != nil {
			return err
		}
		if pod.Annotations[simovn.AnnotationAllocated] != "true" {
			return errors.New("pod not annotated allocated=true yet")
		}
		var ip kubeovnv1.IP
		if err := c.Get(t.Context(), client.ObjectKey{Name: name + "." + ns}, &ip); err != nil {
			return err
		}
		if got := pod.Annotations[simovn.AnnotationIPAddress]; got != ip.Spec.IPAddress {
			return fmt.Errorf("pod ip_address %q, IP object %q", got, ip.Spec.IPAddress)
		}
		addr = ip.Spec.IPAddress
		return nil
	})
	return addr
}

func TestSimulatorFillsSubnet(t *testing.T) {
	env := devenvtest.Start(t, devenv.Options{})
	ctx, c := t.Context(), env.Client
	if err := devenv.Seed(ctx, c); err != nil {
		t.Fatal(err)
	}
	const ns = "tenant"
	for _, n := range []string{ns, "plain"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	// A /28: 16 addresses minus network, broadcast and gateway = 13.
	small := &kubeovnv1.Subnet{
		ObjectMeta: metav1.ObjectMeta{Name: "small"},
		Spec: kubeovnv1.SubnetSpec{
			CIDRBlock: "10.200.0.0/28", Gateway: "10.200.0.1", Vpc: devenv.DefaultVpc,
			Provider: "ovn", Protocol: kubeovnv1.ProtocolIPv4, Namespaces: []string{ns},
		},
	}
	if err := c.Create(ctx, small); err != nil {
		t.Fatal(err)
	}
	stop := startSim(t, env)

	// A static address in the middle: the others flow around it.
	if err := c.Create(ctx, newPod(ns, "static", map[string]string{"ovn.kubernetes.io/ip_address": "10.200.0.9"}, nil)); err != nil {
		t.Fatal(err)
	}
	if got := waitAllocated(t, c, ns, "static"); got != "10.200.0.9" {
		t.Fatalf("static pod got %s, want 10.200.0.9", got)
	}
	var ip kubeovnv1.IP
	if err := c.Get(ctx, client.ObjectKey{Name: "static." + ns}, &ip); err != nil {
		t.Fatal(err)
	}
	if ip.Spec.Subnet != "small" || ip.Spec.V4IPAddress != "10.200.0.9" || ip.Spec.NodeName != "" || ip.Spec.PodType != "" ||
		ip.Labels[simovn.LabelSubnet] != "small" {
		t.Fatalf("IP object: %+v labels %v", ip.Spec, ip.Labels)
	}
	var pod corev1.Pod
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "static"}, &pod); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		simovn.AnnotationCIDR: "10.200.0.0/28", simovn.AnnotationGateway: "10.200.0.1", simovn.AnnotationLogicalSwitch: "small",
	} {
		if pod.Annotations[k] != want {
			t.Errorf("annotation %s = %q, want %q", k, pod.Annotations[k], want)
		}
	}

	// Twelve more fill it, each taking the lowest free address.
	want := []string{"10.200.0.2", "10.200.0.3", "10.200.0.4", "10.200.0.5", "10.200.0.6", "10.200.0.7",
		"10.200.0.8", "10.200.0.10", "10.200.0.11", "10.200.0.12", "10.200.0.13", "10.200.0.14"}
	for i, w := range want {
		name := fmt.Sprintf("p%d", i)
		if err := c.Create(ctx, newPod(ns, name, nil, nil)); err != nil {
			t.Fatal(err)
		}
		if got := waitAllocated(t, c, ns, name); got != w {
			t.Fatalf("%s got %s, want %s", name, got, w)
		}
	}

	// The 14th finds the subnet full: a Warning event, no IP object.
	if err := c.Create(ctx, newPod(ns, "overflow", nil, nil)); err != nil {
		t.Fatal(err)
	}
	devenvtest.Eventually(t, "failure event", waitFor, func() error {
		var evs corev1.EventList
		if err := c.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "overflow" && e.Type == corev1.EventTypeWarning && e.Reason == simovn.ReasonAcquireAddressFailed &&
				strings.Contains(e.Message, "no available IP in subnet small (10.200.0.0/28)") {
				t.Logf("event: %s %s: %s", e.Type, e.Reason, e.Message)
				return nil
			}
		}
		return fmt.Errorf("no AcquireAddressFailed event for overflow among %d events", len(evs.Items))
	})
	if err := c.Get(ctx, client.ObjectKey{Name: "overflow." + ns}, &ip); !apierrors.IsNotFound(err) {
		t.Fatalf("overflow has an IP object: %v %+v", err, ip.Spec)
	}

	// Deleting a pod frees its address, and the waiting pod takes it.
	if err := c.Delete(ctx, newPod(ns, "p3", nil, nil)); err != nil {
		t.Fatal(err)
	}
	devenvtest.Eventually(t, "release p3", waitFor, func() error {
		err := c.Get(ctx, client.ObjectKey{Name: "p3." + ns}, &ip)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("IP object p3.%s still there (%v)", ns, err)
	})
	if got := waitAllocated(t, c, ns, "overflow"); got != "10.200.0.5" {
		t.Fatalf("overflow got %s, want p3's 10.200.0.5", got)
	}

	// A StatefulSet pod keeps its IP object, and its successor of the same
	// name gets the same address. Unbound namespaces land in ovn-default.
	sts := &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "0b3a6a8e-0000-4000-8000-000000000001", Controller: new(true)}
	if err := c.Create(ctx, newPod("plain", "web-0", nil, sts)); err != nil {
		t.Fatal(err)
	}
	if got := waitAllocated(t, c, "plain", "web-0"); got != "10.16.0.2" {
		t.Fatalf("web-0 got %s, want 10.16.0.2", got)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "web-0.plain"}, &ip); err != nil || ip.Spec.PodType != kubeovnv1.PodTypeStatefulSet {
		t.Fatalf("web-0 IP object: %v %+v", err, ip.Spec)
	}
	if err := c.Delete(ctx, newPod("plain", "web-0", nil, nil)); err != nil {
		t.Fatal(err)
	}
	// An ordinary pod created after the deletion must not take web-0's address.
	if err := c.Create(ctx, newPod("plain", "other", nil, nil)); err != nil {
		t.Fatal(err)
	}
	if got := waitAllocated(t, c, "plain", "other"); got != "10.16.0.3" {
		t.Fatalf("other got %s, want 10.16.0.3", got)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "web-0.plain"}, &ip); err != nil {
		t.Fatalf("web-0's IP object is gone after the pod was deleted: %v", err)
	}

	// A restart: the new simulator reuses what exists and allocates on.
	stop()
	if err := c.Create(ctx, newPod("plain", "web-0", nil, sts)); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, newPod("plain", "other", nil, nil)); err != nil { // while nobody watches
		t.Fatal(err)
	}
	startSim(t, env)
	if got := waitAllocated(t, c, "plain", "web-0"); got != "10.16.0.2" {
		t.Fatalf("recreated web-0 got %s, want its old 10.16.0.2", got)
	}
	devenvtest.Eventually(t, "release other after restart", waitFor, func() error {
		err := c.Get(ctx, client.ObjectKey{Name: "other.plain"}, &ip)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("IP object other.plain still there (%v)", err)
	})
	if err := c.Create(ctx, newPod("plain", "late", nil, nil)); err != nil {
		t.Fatal(err)
	}
	if got := waitAllocated(t, c, "plain", "late"); got != "10.16.0.3" {
		t.Fatalf("late got %s, want the freed 10.16.0.3", got)
	}
	var ips kubeovnv1.IPList
	if err := c.List(ctx, &ips); err != nil {
		t.Fatal(err)
	}
	if len(ips.Items) != 13+2 {
		names := make([]string, len(ips.Items))
		for i, x := range ips.Items {
			names[i] = x.Name
		}
		t.Fatalf("%d IP objects, want 15: %v", len(ips.Items), names)
	}
}
