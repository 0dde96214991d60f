// Package hostile builds the hostile inputs of issue 12 ("one small pod
// costs seconds and hundreds of MB"): objects under the API server's own
// size limits (256 KiB of annotations, 1.5 MiB per object) whose shape
// made ipamguard's work grow with the square of their size. Each Shape is
// one such input, sized by a count n (the elements that hurt), ready to be
// sent through the pipeline (admit.Request) or through the webhook's HTTP
// handlers (an AdmissionReview), with the verdict it must get.
//
// The shapes are shared by the hostile suite (pkg/admit, test/bench) and
// by `make bench` (BenchmarkHostile), so the same inputs are asserted and
// timed.
package hostile

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamguard/ipamguard/pkg/admit"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
)

// Webhook paths (pkg/webhook's; repeated here so that this package does
// not import the transport).
const (
	SubnetPath          = "/validate-kubeovn-io-v1-subnet"
	SubnetDefaulterPath = "/mutate-kubeovn-io-v1-subnet"
	IPPath              = "/validate-kubeovn-io-v1-ip"
	IPPoolPath          = "/validate-kubeovn-io-v1-ippool"
	PodPath             = "/validate-v1-pod"
	PodDefaulterPath    = "/mutate-v1-pod"
	WorkloadPath        = "/validate-workloads"
)

// Namespace is the namespace of the namespaced shapes.
const Namespace = "apps"

// Shape is one hostile input.
type Shape struct {
	// Name is the benchmark's sub-name.
	Name string
	// Path is the webhook path that serves it, Stage the stage that
	// webhook runs.
	Path  string
	Stage admit.Stage
	// N is the count the issue measured (or more).
	N int
	// Max is about the largest count whose object stays under the API
	// server's own limits: 256 KiB of annotations for a Pod or workload
	// template, 1.5 MiB for any object (TestMaxSizes keeps it honest).
	Max int
	// Want is the verdict: "allowed", "warned" or "denied" (a defaulter
	// that rewrites the object answers "warned": its warnings say what
	// changed).
	Want string
	// Rule, when set, is a rule the decision must apply.
	Rule policy.RuleID
	// object returns the request's kind, operation, name, object and old
	// object for size n.
	object func(n int) object
}

type object struct {
	kind, resource, group string
	op                    admit.Operation
	namespace, name       string
	obj, old              any
}

// Limit is the API server's limit Max is measured against: 256 KiB of
// annotations for a Pod or a workload's template (whose object is its
// annotation, nearly), 1.5 MiB for any other object.
func (s Shape) Limit() int {
	switch s.Path {
	case PodPath, PodDefaulterPath, WorkloadPath:
		return 256 << 10
	}
	return 1536 << 10
}

// Request returns the pipeline request of size n.
func (s Shape) Request(n int) admit.Request {
	o := s.object(n)
	req := admit.Request{Kind: o.kind, Resource: o.resource, Operation: o.op, Namespace: o.namespace, Name: o.name,
		Object: mustJSON(o.obj), User: "tenant", Groups: []string{"system:authenticated"}, Stages: s.Stage}
	if o.old != nil {
		req.OldObject = mustJSON(o.old)
	}
	return req
}

// Review returns the AdmissionReview of size n, as the API server sends it.
func (s Shape) Review(n int, uid string) []byte {
	o := s.object(n)
	version := "v1"
	r := map[string]any{
		"uid":       uid,
		"kind":      map[string]string{"group": o.group, "version": version, "kind": o.kind},
		"resource":  map[string]string{"group": o.group, "version": version, "resource": o.resource},
		"name":      o.name,
		"namespace": o.namespace,
		"operation": string(o.op),
		"userInfo":  map[string]any{"username": "tenant", "groups": []string{"system:authenticated"}},
		"object":    json.RawMessage(mustJSON(o.obj)),
		"dryRun":    false,
	}
	if o.old != nil {
		r["oldObject"] = json.RawMessage(mustJSON(o.old))
	}
	return mustJSON(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": r})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Subnets and pools of the inventory.
const (
	// DefaultSubnet is ovn-default, 10.16.0.0/16.
	DefaultSubnet = "ovn-default"
	// WideSubnet is 10.64.0.0/10 with WideExcludes excluded addresses.
	WideSubnet = "wide"
	// PoolSubnet is 10.200.0.0/16, split into Pools IPPools of 64
	// addresses.
	PoolSubnet = "pools"
	// Pools is the number of IPPools of PoolSubnet.
	Pools = 1000
	// Namespaces is the number of namespaces besides Namespace.
	Namespaces = 1000
	// HeldAddresses is the number of addresses of ovn-default held by IP
	// objects (10.16.1.0 and up).
	HeldAddresses = 500
)

// NewStore returns the inventory the shapes are judged against: a
// fresh-install cluster with a wide subnet, a subnet split into 1,000
// IPPools, 500 IP objects and 1,000 namespaces.
func NewStore() *inventory.Store {
	s := inventory.New("ovn-cluster")
	s.UpsertSubnet(subnet("join", "100.64.0.0/16", nil))
	s.UpsertSubnet(subnet(DefaultSubnet, "10.16.0.0/16", nil))
	s.UpsertSubnet(subnet(WideSubnet, "10.64.0.0/10", excludes(1000)))
	s.UpsertSubnet(subnet(PoolSubnet, "10.200.0.0/16", nil))
	for i := range Pools {
		s.UpsertIPPool(&kubeovnv1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pool-%04d", i)},
			Spec: kubeovnv1.IPPoolSpec{Subnet: PoolSubnet, IPs: []string{poolBlock(i).String()}}})
	}
	a := netip.MustParseAddr("10.16.1.0")
	for i := range HeldAddresses {
		s.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("db-%d.other", i)},
			Spec: kubeovnv1.IPSpec{PodName: fmt.Sprintf("db-%d", i), Namespace: "other", Subnet: DefaultSubnet, IPAddress: a.String()}})
		a = a.Next()
	}
	s.UpsertNamespace(&metav1.ObjectMeta{Name: Namespace, Labels: map[string]string{"kubernetes.io/metadata.name": Namespace}})
	for i := range Namespaces {
		name := fmt.Sprintf("ns-%04d", i)
		s.UpsertNamespace(&metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/metadata.name": name, "team": strconv.Itoa(i % 50)}})
	}
	return s
}

func subnet(name, cidr string, exclude []string) *kubeovnv1.Subnet {
	return &kubeovnv1.Subnet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "kubeovn.io/v1", Kind: "Subnet"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       kubeovnv1.SubnetSpec{CIDRBlock: cidr, Vpc: "ovn-cluster", Protocol: "IPv4", ExcludeIps: exclude},
	}
}

// poolBlock is the /26 of pool i.
func poolBlock(i int) netip.Prefix {
	base := netip.MustParseAddr("10.200.0.0").As4()
	v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(i*64)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 26)
}

// addrs returns n consecutive addresses from start.
func addrs(start string, n int) []string {
	a := netip.MustParseAddr(start)
	out := make([]string, n)
	for i := range out {
		out[i] = a.String()
		a = a.Next()
	}
	return out
}

// excludes returns n distinct single addresses of the wide subnet (every
// other address from 10.64.0.10), sorted as Kube-OVN stores them.
func excludes(n int) []string {
	a := netip.MustParseAddr("10.64.0.10")
	out := make([]string, n)
	for i := range out {
		out[i] = a.String()
		a = a.Next().Next()
	}
	// Stored form: sorted as strings (the defaulter's canonical order).
	slices.Sort(out)
	return out
}

func pod(name string, ann map[string]string) map[string]any {
	return map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": Namespace, "annotations": ann},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": "registry.example.com/app:1"}}},
	}
}

func podObject(ann map[string]string) object {
	return object{kind: "Pod", resource: "pods", op: admit.Create, namespace: Namespace, name: "web-0", obj: pod("web-0", ann)}
}

func workload(kind string, replicas int, ann map[string]string) object {
	resource := strings.ToLower(kind) + "s"
	obj := map[string]any{
		"apiVersion": "apps/v1", "kind": kind,
		"metadata": map[string]any{"name": "web", "namespace": Namespace},
		"spec": map[string]any{
			"replicas": replicas,
			"selector": map[string]any{"matchLabels": map[string]string{"app": "web"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]string{"app": "web"}, "annotations": ann},
				"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": "registry.example.com/app:1"}}},
			},
		},
	}
	return object{kind: kind, resource: resource, group: "apps", op: admit.Create, namespace: Namespace, name: "web", obj: obj}
}

func subnetObject(op admit.Operation, obj, old *kubeovnv1.Subnet) object {
	o := object{kind: "Subnet", resource: "subnets", group: "kubeovn.io", op: op, name: obj.Name, obj: obj}
	if old != nil {
		o.old = old
	}
	return o
}

const (
	ipAddressKey = "ovn.kubernetes.io/ip_address"
	ipPoolKey    = "ovn.kubernetes.io/ip_pool"
)

// badEntries is an ip_pool of n entries that are no address: "z,z,...".
func badEntries(n int) string { return strings.TrimSuffix(strings.Repeat("z,", n), ",") }

// outOfRange is n addresses outside every subnet (10.99.0.0 and up).
func outOfRange(n int, sep string) string { return strings.Join(addrs("10.99.0.0", n), sep) }

// Shapes returns every hostile shape, in report order.
func Shapes() []Shape {
	return []Shape{
		{Name: "pod-ippool-bad-entries", Path: PodPath, Stage: admit.Validate, N: 2000, Max: 130000, Want: "denied", Rule: policy.PodIPInvalid,
			object: func(n int) object { return podObject(map[string]string{ipPoolKey: badEntries(n)}) }},
		{Name: "pod-ipaddress-many", Path: PodPath, Stage: admit.Validate, N: 1200, Max: 21000, Want: "denied", Rule: policy.PodIPInvalid,
			object: func(n int) object {
				return podObject(map[string]string{ipAddressKey: strings.Join(addrs("10.16.2.1", n), ",")})
			}},
		{Name: "pod-ippool-out-of-range", Path: PodPath, Stage: admit.Validate, N: 20000, Max: 20900, Want: "denied",
			object: func(n int) object { return podObject(map[string]string{ipPoolKey: outOfRange(n, ",")}) }},
		{Name: "pod-ippool-held", Path: PodPath, Stage: admit.Validate, N: HeldAddresses, Max: 21000, Want: "denied", Rule: policy.PodIPTaken,
			object: func(n int) object {
				return podObject(map[string]string{ipPoolKey: strings.Join(addrs("10.16.1.0", n), ",")})
			}},
		{Name: "pod-default-ippool", Path: PodDefaulterPath, Stage: admit.Default, N: 2000, Max: 18000, Want: "warned",
			object: func(n int) object {
				return podObject(map[string]string{ipPoolKey: " " + strings.Join(addrs("10.16.64.1", n), ", ")})
			}},
		{Name: "deployment-ippool-bad-entries", Path: WorkloadPath, Stage: admit.Validate, N: 2000, Max: 130000, Want: "denied", Rule: policy.PodIPInvalid,
			object: func(n int) object { return workload("Deployment", 3, map[string]string{ipPoolKey: badEntries(n)}) }},
		{Name: "deployment-ipaddress-many", Path: WorkloadPath, Stage: admit.Validate, N: 1200, Max: 20700, Want: "denied",
			object: func(n int) object {
				return workload("Deployment", 3, map[string]string{ipAddressKey: strings.Join(addrs("10.16.2.1", n), ",")})
			}},
		{Name: "statefulset-ippool-groups-out-of-range", Path: WorkloadPath, Stage: admit.Validate, N: 20000, Max: 20900, Want: "denied",
			object: func(n int) object {
				return workload("StatefulSet", 3, map[string]string{ipPoolKey: outOfRange(n, ";")})
			}},
		{Name: "subnet-cidr-commas", Path: SubnetPath, Stage: admit.Validate, N: 20000, Max: 1560000, Want: "denied", Rule: policy.SubnetInvalid,
			object: func(n int) object {
				return subnetObject(admit.Create, subnet("commas", "10.50.0.0/16"+strings.Repeat(",", n), nil), nil)
			}},
		{Name: "subnet-default-cidr-commas", Path: SubnetDefaulterPath, Stage: admit.Default, N: 20000, Max: 1560000, Want: "allowed",
			object: func(n int) object {
				return subnetObject(admit.Create, subnet("commas", "10.50.0.0/16"+strings.Repeat(",", n), nil), nil)
			}},
		{Name: "subnet-exclude-invalid", Path: SubnetPath, Stage: admit.Validate, N: 20000, Max: 167000, Want: "denied", Rule: policy.SubnetInvalid,
			object: func(n int) object {
				ex := make([]string, n)
				for i := range ex {
					ex[i] = "z" + strconv.Itoa(i)
				}
				return subnetObject(admit.Create, subnet("bad-excludes", "10.50.0.0/16", ex), nil)
			}},
		{Name: "subnet-update-unchanged-excludes", Path: SubnetPath, Stage: admit.Validate, N: 100000, Max: 103000, Want: "allowed",
			object: func(n int) object {
				old := subnet(WideSubnet, "10.64.0.0/10", excludes(n))
				obj := *old
				obj.Labels = map[string]string{"touched": "true"}
				return subnetObject(admit.Update, &obj, old)
			}},
		{Name: "subnet-default-update-unchanged-excludes", Path: SubnetDefaulterPath, Stage: admit.Default, N: 100000, Max: 103000, Want: "allowed",
			object: func(n int) object {
				old := subnet(WideSubnet, "10.64.0.0/10", excludes(n))
				obj := *old
				obj.Labels = map[string]string{"touched": "true"}
				return subnetObject(admit.Update, &obj, old)
			}},
		{Name: "subnet-default-excludes", Path: SubnetDefaulterPath, Stage: admit.Default, N: 100000, Max: 103000, Want: "warned",
			object: func(n int) object {
				ex := excludes(n)
				// Reversed: the defaulter sorts them.
				for i, j := 0, len(ex)-1; i < j; i, j = i+1, j-1 {
					ex[i], ex[j] = ex[j], ex[i]
				}
				return subnetObject(admit.Create, subnet("wide2", "10.128.0.0/10", ex), nil)
			}},
		{Name: "subnet-many-selectors", Path: SubnetPath, Stage: admit.Validate, N: 20000, Max: 21200, Want: "allowed",
			object: func(n int) object {
				sn := subnet("selected", "10.51.0.0/16", nil)
				sn.Spec.NamespaceSelectors = selectors(n)
				return subnetObject(admit.Create, sn, nil)
			}},
		{Name: "ippool-many-entries", Path: IPPoolPath, Stage: admit.Validate, N: 20000, Max: 97000, Want: "denied", Rule: policy.IPPoolOverlap,
			object: func(n int) object {
				return ippoolObject(admit.Create, ippool("big", addrs("10.200.0.1", n)), nil)
			}},
		{Name: "ippool-update-unchanged-entries", Path: IPPoolPath, Stage: admit.Validate, N: 20000, Max: 97000, Want: "allowed",
			object: func(n int) object {
				old := ippool("big", addrs("10.200.0.1", n))
				obj := *old
				obj.Labels = map[string]string{"touched": "true"}
				return ippoolObject(admit.Update, &obj, old)
			}},
		{Name: "ippool-invalid-entries", Path: IPPoolPath, Stage: admit.Validate, N: 20000, Max: 167000, Want: "denied", Rule: policy.IPPoolInvalid,
			object: func(n int) object {
				ex := make([]string, n)
				for i := range ex {
					ex[i] = "z" + strconv.Itoa(i)
				}
				return ippoolObject(admit.Create, ippool("bad", ex), nil)
			}},
		{Name: "ip-many-addresses", Path: IPPath, Stage: admit.Validate, N: 60000, Max: 118000, Want: "denied", Rule: policy.IPInvalid,
			object: func(n int) object {
				return ipObject(&kubeovnv1.IP{
					TypeMeta:   metav1.TypeMeta{APIVersion: "kubeovn.io/v1", Kind: "IP"},
					ObjectMeta: metav1.ObjectMeta{Name: "many.apps"},
					Spec: kubeovnv1.IPSpec{PodName: "many", Namespace: Namespace, Subnet: DefaultSubnet,
						IPAddress: strings.Join(addrs("10.16.4.0", n), ",")},
				})
			}},
		{Name: "ip-many-attachments", Path: IPPath, Stage: admit.Validate, N: 30000, Max: 53400, Want: "denied", Rule: policy.IPTaken,
			object: func(n int) object {
				subnets := make([]string, n)
				for i := range subnets {
					subnets[i] = DefaultSubnet
				}
				return ipObject(&kubeovnv1.IP{
					TypeMeta:   metav1.TypeMeta{APIVersion: "kubeovn.io/v1", Kind: "IP"},
					ObjectMeta: metav1.ObjectMeta{Name: "attached.apps"},
					Spec: kubeovnv1.IPSpec{PodName: "attached", Namespace: Namespace, Subnet: DefaultSubnet,
						AttachSubnets: subnets, AttachIPs: addrs("10.16.1.0", n)},
				})
			}},
	}
}

// ShapeByName returns the shape with the name.
func ShapeByName(name string) (Shape, bool) {
	for _, s := range Shapes() {
		if s.Name == name {
			return s, true
		}
	}
	return Shape{}, false
}

// selectors returns n distinct namespaceSelectors ("team In (i)").
func selectors(n int) []metav1.LabelSelector {
	out := make([]metav1.LabelSelector, n)
	for i := range out {
		out[i] = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{"t" + strconv.Itoa(i)}}}}
	}
	return out
}

// SelectorSubnet is a Subnet with n namespaceSelectors, for measuring the
// inventory's update of its selector index.
func SelectorSubnet(n int) *kubeovnv1.Subnet {
	sn := subnet("selected", "10.51.0.0/16", nil)
	sn.Spec.NamespaceSelectors = selectors(n)
	return sn
}

func ippool(name string, ips []string) *kubeovnv1.IPPool {
	return &kubeovnv1.IPPool{
		TypeMeta:   metav1.TypeMeta{APIVersion: "kubeovn.io/v1", Kind: "IPPool"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       kubeovnv1.IPPoolSpec{Subnet: PoolSubnet, IPs: ips},
	}
}

func ippoolObject(op admit.Operation, obj, old *kubeovnv1.IPPool) object {
	o := object{kind: "IPPool", resource: "ippools", group: "kubeovn.io", op: op, name: obj.Name, obj: obj}
	if old != nil {
		o.old = old
	}
	return o
}

func ipObject(obj *kubeovnv1.IP) object {
	return object{kind: "IP", resource: "ips", group: "kubeovn.io", op: admit.Create, name: obj.Name, obj: obj}
}
