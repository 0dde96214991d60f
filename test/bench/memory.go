package bench

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/test/bench/fixture"
)

// MemReport is the memory of a synced inventory.
type MemReport struct {
	Size string
	// Pods is how many running pods with Kube-OVN address annotations were
	// cached (besides the fixture's pending pods).
	Pods int
	// Informers is true when the objects went through client-go informers
	// with ipamguard's cache transforms (and stay in their indexers), false
	// when only the Store was fed.
	Informers bool
	// SyncTime is from starting the informers until every informer synced
	// and delivered its initial list to the Store.
	SyncTime time.Duration
	// HeapAlloc is the live heap after two forced GCs; HeapSys and RSS
	// what the process holds from the OS (VmRSS, VmHWM).
	HeapAlloc, HeapInuse, HeapSys uint64
	RSS, PeakRSS                  uint64
	// Objects counts what the caches hold, by kind.
	Objects map[string]int
}

// RunningPods returns the metadata of n running pods as the API server
// sends it (before cache transforms): one per fixture IP object (cycling),
// with the annotations Kube-OVN writes on every pod it addressed, a
// ReplicaSet owner and a managedFields entry.
func RunningPods(f *fixture.Fixture, n int) []metav1.PartialObjectMetadata {
	out := make([]metav1.PartialObjectMetadata, 0, n)
	fields := []byte(`{"f:metadata":{"f:annotations":{".":{},"f:ovn.kubernetes.io/allocated":{},"f:ovn.kubernetes.io/cidr":{},"f:ovn.kubernetes.io/gateway":{},"f:ovn.kubernetes.io/ip_address":{},"f:ovn.kubernetes.io/logical_router":{},"f:ovn.kubernetes.io/logical_switch":{},"f:ovn.kubernetes.io/mac_address":{},"f:ovn.kubernetes.io/pod_nic_type":{},"f:ovn.kubernetes.io/routed":{}}}}`)
	for i := range n {
		ip := f.IPs[i%len(f.IPs)]
		name := ip.Spec.PodName
		if i >= len(f.IPs) {
			name += "-" + strconv.Itoa(i/len(f.IPs))
		}
		out = append(out, metav1.PartialObjectMetadata{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: ip.Spec.Namespace, GenerateName: "web-7d9c6b5f8-",
				UID:             types.UID(fmt.Sprintf("3f1a6c1e-0000-4000-8000-%012d", i)),
				ResourceVersion: strconv.Itoa(2_000_000 + i),
				Labels:          map[string]string{"app": "web", "pod-template-hash": "7d9c6b5f8"},
				Annotations: map[string]string{
					"ovn.kubernetes.io/allocated":      "true",
					"ovn.kubernetes.io/cidr":           "10.128.0.0/24",
					"ovn.kubernetes.io/gateway":        "10.128.0.1",
					"ovn.kubernetes.io/ip_address":     ip.Spec.IPAddress,
					"ovn.kubernetes.io/logical_router": "ovn-cluster",
					"ovn.kubernetes.io/logical_switch": ip.Spec.Subnet,
					"ovn.kubernetes.io/mac_address":    ip.Spec.MacAddress,
					"ovn.kubernetes.io/pod_nic_type":   "veth-pair",
					"ovn.kubernetes.io/routed":         "true",
				},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9c6b5f8",
					UID: "5b7c1a52-3f4e-4a49-9d0b-1d2e3f4a5b6c"}},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-ovn-controller", Operation: metav1.ManagedFieldsOperationUpdate,
					APIVersion: "v1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: fields}}},
			},
		})
	}
	return out
}

// MeasureMemory builds the inventory of size sz plus pods running pods and
// reports the memory once it is synced. With informers, every object goes
// through a client-go SharedIndexInformer (reflector, DeltaFIFO, indexer)
// with the transforms cmd/webhook configures (inventory.CacheOptions:
// managed fields stripped, inventory.StripNode, inventory.StripPod on
// metadata-only pods, inventory.StripIP), and event
// handlers feed the Store as inventory.Watch does; the lists come from
// memory instead of an API server, so SyncTime leaves out the network and
// JSON decoding. Without informers, only the Store is fed (and the fixture
// dropped), which isolates the Store's own share.
func MeasureMemory(sz fixture.Size, pods int, informers bool) MemReport {
	rep := MemReport{Size: sz.Name, Pods: pods, Informers: informers, Objects: map[string]int{}}
	if os.Getenv("IPAMGUARD_HEAP_PROFILE") != "" {
		// Sample every 4 KiB rather than every 512 KiB: the profile then
		// attributes the heap to within a few percent instead of ±5 MB per
		// line. Profile buckets live outside the heap, so HeapAlloc is the
		// same either way.
		runtime.MemProfileRate = 4096
	}
	f := fixture.Generate(sz)
	store := inventory.New(f.Defaults.VPC)
	var keep []toolscache.SharedIndexInformer
	if !informers {
		f.Feed(store)
		for _, p := range RunningPods(f, pods) {
			p2, _ := inventory.StripPod(&p)
			store.UpsertPod(p2.(*metav1.PartialObjectMetadata))
		}
		rep.Objects["subnets"], rep.Objects["ips"], rep.Objects["pods"] = len(f.Subnets), len(f.IPs), len(f.Pods)+pods
	} else {
		type kind struct {
			name    string
			list    k8sruntime.Object
			example client.Object
			upsert  func(client.Object)
		}
		podList := &metav1.PartialObjectMetadataList{Items: RunningPods(f, pods)}
		for _, p := range f.Pods {
			podList.Items = append(podList.Items, *p)
		}
		nsList := &metav1.PartialObjectMetadataList{}
		for _, ns := range f.Namespaces {
			nsList.Items = append(nsList.Items, *ns)
		}
		kinds := []kind{
			{"subnets", &kubeovnv1.SubnetList{Items: derefs(f.Subnets)}, &kubeovnv1.Subnet{},
				func(o client.Object) { store.UpsertSubnet(o.(*kubeovnv1.Subnet)) }},
			{"ips", &kubeovnv1.IPList{Items: derefs(f.IPs)}, &kubeovnv1.IP{},
				func(o client.Object) { store.UpsertIP(o.(*kubeovnv1.IP)) }},
			{"vips", &kubeovnv1.VipList{}, &kubeovnv1.Vip{},
				func(o client.Object) { store.UpsertVip(o.(*kubeovnv1.Vip)) }},
			{"vpcs", &kubeovnv1.VpcList{Items: derefs(f.VPCs)}, &kubeovnv1.Vpc{},
				func(o client.Object) { store.UpsertVpc(o.(*kubeovnv1.Vpc)) }},
			{"ippools", &kubeovnv1.IPPoolList{Items: derefs(f.IPPools)}, &kubeovnv1.IPPool{},
				func(o client.Object) { store.UpsertIPPool(o.(*kubeovnv1.IPPool)) }},
			{"nodes", &corev1.NodeList{Items: derefs(f.Nodes)}, &corev1.Node{},
				func(o client.Object) { store.UpsertNode(o.(*corev1.Node)) }},
			{"pods", podList, inventory.PodMetadata(),
				func(o client.Object) { store.UpsertPod(o) }},
			{"namespaces", nsList, inventory.NamespaceMetadata(),
				func(o client.Object) { store.UpsertNamespace(o) }},
		}
		f = nil
		cacheOpts := inventory.CacheOptions()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var regs []toolscache.ResourceEventHandlerRegistration
		start := time.Now()
		for i := range kinds {
			k := &kinds[i]
			list := k.list
			lw := &toolscache.ListWatch{
				ListWithContextFunc: func(context.Context, metav1.ListOptions) (k8sruntime.Object, error) {
					l := list
					list = nil // hand the items to the informer only
					if l == nil {
						return nil, fmt.Errorf("listed twice")
					}
					return l, nil
				},
				WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
					return watch.NewFake(), nil
				},
			}
			k.list = nil
			inf := toolscache.NewSharedIndexInformer(listOnly{lw}, k.example, 0, toolscache.Indexers{})
			if err := inf.SetTransform(transformFor(cacheOpts, k.example)); err != nil {
				panic(err)
			}
			upsert := k.upsert
			reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
				AddFunc:    func(obj any) { upsert(obj.(client.Object)) },
				UpdateFunc: func(_, obj any) { upsert(obj.(client.Object)) },
			})
			if err != nil {
				panic(err)
			}
			regs = append(regs, reg)
			keep = append(keep, inf)
			go inf.RunWithContext(ctx)
		}
		for _, r := range regs {
			for !r.HasSynced() {
				time.Sleep(5 * time.Millisecond)
			}
		}
		rep.SyncTime = time.Since(start)
		for i, inf := range keep {
			rep.Objects[kinds[i].name] = len(inf.GetStore().ListKeys())
		}
	}
	f = nil
	runtime.GC()
	debug.FreeOSMemory()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.HeapAlloc, rep.HeapInuse, rep.HeapSys = ms.HeapAlloc, ms.HeapInuse, ms.HeapSys
	rep.RSS, rep.PeakRSS = procStatus("VmRSS"), procStatus("VmHWM")
	if path := os.Getenv("IPAMGUARD_HEAP_PROFILE"); path != "" {
		if fh, err := os.Create(path); err == nil {
			_ = pprof.WriteHeapProfile(fh)
			_ = fh.Close()
		}
	}
	runtime.KeepAlive(store)
	runtime.KeepAlive(keep)
	return rep
}

// transformFor returns the transform the webhook's cache
// (inventory.CacheOptions) applies to objects like example: its ByObject
// entry, else the default.
func transformFor(opts cache.Options, example client.Object) toolscache.TransformFunc {
	for obj, by := range opts.ByObject {
		if by.Transform != nil && sameKind(obj, example) {
			return by.Transform
		}
	}
	return opts.DefaultTransform
}

// sameKind reports whether a and b are the same Go type and, for
// metadata-only objects, the same kind.
func sameKind(a, b client.Object) bool {
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	pa, ok := a.(*metav1.PartialObjectMetadata)
	return !ok || pa.GroupVersionKind() == b.(*metav1.PartialObjectMetadata).GroupVersionKind()
}

func derefs[T any](in []*T) []T {
	out := make([]T, len(in))
	for i, p := range in {
		out[i] = *p
	}
	return out
}

// procStatus reads a "kB" field of /proc/self/status, in bytes.
func procStatus(key string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
	}
	return 0
}

// listOnly makes the reflector list then watch, rather than stream the
// initial state over a watch (WatchList), which the in-memory source does
// not implement.
type listOnly struct{ *toolscache.ListWatch }

// IsWatchListSemanticsUnSupported tells client-go's reflector to list.
func (listOnly) IsWatchListSemanticsUnSupported() bool { return true }
