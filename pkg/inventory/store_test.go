package inventory

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/ipam"
)

func sn(name, cidr, vpc, vlan string) *kubeovnv1.Subnet {
	return &kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kubeovnv1.SubnetSpec{CIDRBlock: cidr, Vpc: vpc, Vlan: vlan}}
}

func inUse(s *Store, subnet, from, to string) []string {
	var out []string
	s.Read(func(r Reader) {
		r.InUse(subnet, netip.MustParseAddr(from), netip.MustParseAddr(to), func(h Holder) bool {
			out = append(out, h.Addr.String()+"="+h.Owner())
			return true
		})
	})
	return out
}

func overlapping(s *Store, scope Scope, p string) []string {
	var out []string
	s.Read(func(r Reader) {
		r.OverlappingSubnets(scope, netip.MustParsePrefix(p), func(x *Subnet, _ netip.Prefix) bool {
			out = append(out, x.Name)
			return true
		})
	})
	slices.Sort(out)
	return out
}

func TestSubnetScopes(t *testing.T) {
	t.Parallel()
	s := New("ovn-cluster")
	s.UpsertSubnet(sn("a", "10.16.0.0/16", "", ""))
	s.UpsertSubnet(sn("b", "10.17.0.0/16", "ovn-cluster", ""))
	s.UpsertSubnet(sn("c", "10.16.0.0/16", "vpc1", ""))
	s.UpsertSubnet(sn("d", "10.16.0.0/24,fd00::/64", "", "vlan1"))

	def := Scope{VPC: "ovn-cluster"}
	if got := overlapping(s, def, "10.0.0.0/8"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("default vpc: %v", got)
	}
	if got := overlapping(s, Scope{}, "10.16.1.0/24"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("empty scope vpc means default: %v", got)
	}
	if got := overlapping(s, Scope{VPC: "vpc1"}, "10.16.1.0/24"); !slices.Equal(got, []string{"c"}) {
		t.Errorf("vpc1: %v", got)
	}
	if got := overlapping(s, Scope{VPC: "ovn-cluster", VLAN: "vlan1"}, "fd00::/16"); !slices.Equal(got, []string{"d"}) {
		t.Errorf("vlan1 v6: %v", got)
	}

	// Moving a subnet to another block or scope drops the old entry.
	s.UpsertSubnet(sn("a", "10.18.0.0/16", "vpc1", ""))
	if got := overlapping(s, def, "10.16.0.0/16"); len(got) != 0 {
		t.Errorf("old entry of a remains: %v", got)
	}
	if got := overlapping(s, Scope{VPC: "vpc1"}, "10.0.0.0/8"); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("vpc1 after move: %v", got)
	}
	s.DeleteSubnet("a")
	s.DeleteSubnet("missing")
	if got := overlapping(s, Scope{VPC: "vpc1"}, "10.0.0.0/8"); !slices.Equal(got, []string{"c"}) {
		t.Errorf("after delete: %v", got)
	}
}

func TestHolders(t *testing.T) {
	t.Parallel()
	s := New("ovn-cluster")
	s.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "web-0.default"}, Spec: kubeovnv1.IPSpec{
		PodName: "web-0", Namespace: "default", Subnet: "a", V4IPAddress: "10.16.0.5", V6IPAddress: "fd00::5",
		AttachSubnets: []string{"att"}, AttachIPs: []string{"192.168.0.5"},
	}})
	s.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "node-n1"}, Spec: kubeovnv1.IPSpec{NodeName: "n1", Subnet: "join", IPAddress: "100.64.0.2"}})
	s.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "vm1.default"}, Spec: kubeovnv1.IPSpec{
		PodName: "vm1", Namespace: "default", Subnet: "a", IPAddress: "10.16.0.7", PodType: kubeovnv1.PodTypeVirtualMachine}})
	s.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "broken"}, Spec: kubeovnv1.IPSpec{Subnet: "a", IPAddress: "not-an-ip"}})
	s.UpsertVip(&kubeovnv1.Vip{ObjectMeta: metav1.ObjectMeta{Name: "v"}, Spec: kubeovnv1.VipSpec{Subnet: "a", V4ip: "10.16.0.6"}, Status: kubeovnv1.VipStatus{V4ip: "10.16.0.6"}})

	if got, want := inUse(s, "a", "0.0.0.0", "255.255.255.255"), []string{
		"10.16.0.5=pod default/web-0", "10.16.0.6=vip v", "10.16.0.7=vm default/vm1",
	}; !slices.Equal(got, want) {
		t.Errorf("v4 in a = %v, want %v", got, want)
	}
	if got := inUse(s, "a", "::", "ffff::"); !slices.Equal(got, []string{"fd00::5=pod default/web-0"}) {
		t.Errorf("v6 in a = %v", got)
	}
	if got := inUse(s, "att", "0.0.0.0", "255.255.255.255"); !slices.Equal(got, []string{"192.168.0.5=pod default/web-0"}) {
		t.Errorf("attachment = %v", got)
	}
	if got := inUse(s, "join", "100.64.0.0", "100.64.255.255"); !slices.Equal(got, []string{"100.64.0.2=node n1"}) {
		t.Errorf("join = %v", got)
	}
	if got := inUse(s, "a", "10.16.0.6", "10.16.0.6"); !slices.Equal(got, []string{"10.16.0.6=vip v"}) {
		t.Errorf("point query = %v", got)
	}
	count := func(subnet string, f ipam.Family) (n int) {
		s.Read(func(r Reader) { n = r.InUseCount(subnet, f) })
		return n
	}
	if count("a", ipam.IPv4) != 3 || count("a", ipam.IPv6) != 1 {
		t.Errorf("counts a = %d/%d", count("a", ipam.IPv4), count("a", ipam.IPv6))
	}

	// An update replaces exactly what the object held.
	s.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "web-0.default"}, Spec: kubeovnv1.IPSpec{
		PodName: "web-0", Namespace: "default", Subnet: "a", IPAddress: "10.16.0.50"}})
	if got := inUse(s, "a", "10.16.0.0", "10.16.0.255"); !slices.Equal(got, []string{
		"10.16.0.6=vip v", "10.16.0.7=vm default/vm1", "10.16.0.50=pod default/web-0"}) {
		t.Errorf("after update = %v", got)
	}
	if count("a", ipam.IPv6) != 0 || count("att", ipam.IPv4) != 0 {
		t.Errorf("stale counts after update")
	}
	s.DeleteIP("web-0.default")
	s.DeleteIP("vm1.default")
	s.DeleteVip("v")
	s.DeleteIP("never-existed")
	if got := inUse(s, "a", "0.0.0.0", "255.255.255.255"); len(got) != 0 {
		t.Errorf("after deletes = %v", got)
	}
	if count("a", ipam.IPv4) != 0 {
		t.Errorf("count after deletes = %d", count("a", ipam.IPv4))
	}
}

func TestTwoObjectsOneAddress(t *testing.T) {
	t.Parallel()
	s := New("ovn-cluster")
	for _, n := range []string{"x", "y"} {
		s.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: n}, Spec: kubeovnv1.IPSpec{Subnet: "a", IPAddress: "10.0.0.9"}})
	}
	if got := inUse(s, "a", "10.0.0.9", "10.0.0.9"); len(got) != 2 {
		t.Errorf("both holders must be visible: %v", got)
	}
	s.DeleteIP("x")
	if got := inUse(s, "a", "10.0.0.9", "10.0.0.9"); !slices.Equal(got, []string{"10.0.0.9=IP object y"}) {
		t.Errorf("after delete = %v", got)
	}
}

// TestReplaceRemovesExactlyTheObjectsEntries: the Store keeps, per object,
// only the keys of its B-tree entries; an update or delete must remove
// exactly those, not another object's entry at the same address.
func TestReplaceRemovesExactlyTheObjectsEntries(t *testing.T) {
	t.Parallel()
	s := New("ovn-cluster")
	ip := func(name string, spec kubeovnv1.IPSpec) *kubeovnv1.IP {
		return &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	}
	count := func(subnet string, f ipam.Family) (n int) {
		s.Read(func(r Reader) { n = r.InUseCount(subnet, f) })
		return n
	}
	s.UpsertIP(ip("x", kubeovnv1.IPSpec{Subnet: "a", IPAddress: "10.0.0.5"}))
	s.UpsertIP(ip("y", kubeovnv1.IPSpec{Subnet: "a", IPAddress: "10.0.0.5", PodName: "y", Namespace: "ns"}))
	s.UpsertVip(&kubeovnv1.Vip{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: kubeovnv1.VipSpec{Subnet: "a", V4ip: "10.0.0.5"}})
	if got, want := inUse(s, "a", "10.0.0.0", "10.0.0.255"), []string{
		"10.0.0.5=IP object x", "10.0.0.5=pod ns/y", "10.0.0.5=vip x"}; !slices.Equal(got, want) {
		t.Fatalf("three holders of one address = %v, want %v (by kind, then name)", got, want)
	}

	// Replacing x with other addresses (another family, an attachment)
	// leaves y and the Vip named x alone.
	s.UpsertIP(ip("x", kubeovnv1.IPSpec{Subnet: "a", V4IPAddress: "10.0.0.6", V6IPAddress: "fd00::6",
		AttachSubnets: []string{"b"}, AttachIPs: []string{"192.168.0.1"}}))
	if got, want := inUse(s, "a", "10.0.0.0", "10.0.0.255"), []string{
		"10.0.0.5=pod ns/y", "10.0.0.5=vip x", "10.0.0.6=IP object x"}; !slices.Equal(got, want) {
		t.Errorf("after replacing x = %v, want %v", got, want)
	}
	if got := inUse(s, "b", "192.168.0.0", "192.168.0.255"); !slices.Equal(got, []string{"192.168.0.1=IP object x"}) {
		t.Errorf("attachment of x = %v", got)
	}
	// The same object again changes nothing.
	s.UpsertIP(ip("x", kubeovnv1.IPSpec{Subnet: "a", V4IPAddress: "10.0.0.6", V6IPAddress: "fd00::6",
		AttachSubnets: []string{"b"}, AttachIPs: []string{"192.168.0.1"}}))
	if count("a", ipam.IPv4) != 3 || count("a", ipam.IPv6) != 1 || count("b", ipam.IPv4) != 1 || s.holders.Len() != 5 {
		t.Errorf("counts a %d/%d, b %d, entries %d; want 3/1, 1, 5",
			count("a", ipam.IPv4), count("a", ipam.IPv6), count("b", ipam.IPv4), s.holders.Len())
	}

	s.DeleteIP("x")
	if got, want := inUse(s, "a", "10.0.0.0", "10.0.0.255"), []string{"10.0.0.5=pod ns/y", "10.0.0.5=vip x"}; !slices.Equal(got, want) {
		t.Errorf("after deleting IP x = %v, want %v", got, want)
	}
	if count("a", ipam.IPv6) != 0 || count("b", ipam.IPv4) != 0 || s.holders.Len() != 2 {
		t.Errorf("stale entries after deleting IP x: %d entries", s.holders.Len())
	}
	// An object whose addresses do not parse holds nothing and is not kept.
	s.UpsertIP(ip("y", kubeovnv1.IPSpec{Subnet: "a", IPAddress: "not-an-ip"}))
	s.DeleteVip("x")
	if s.holders.Len() != 0 || len(s.counts) != 0 || len(s.byIP) != 0 || len(s.byVip) != 0 {
		t.Errorf("left behind: %d entries, counts %v, %d IP and %d Vip records",
			s.holders.Len(), s.counts, len(s.byIP), len(s.byVip))
	}
}

func TestNodes(t *testing.T) {
	t.Parallel()
	s := New("ovn-cluster")
	node := func(name string, addrs ...string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		for _, a := range addrs {
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a})
		}
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "1.2.3.4"})
		return n
	}
	s.UpsertNode(node("n1", "172.18.0.2", "fc00::2"))
	s.UpsertNode(node("n2", "172.18.0.3"))
	nodes := func(p string) (out []string) {
		s.Read(func(r Reader) {
			r.NodeAddresses(netip.MustParsePrefix(p), func(n string, a netip.Addr) bool {
				out = append(out, n+"="+a.String())
				return true
			})
		})
		return out
	}
	if got := nodes("172.18.0.0/24"); !slices.Equal(got, []string{"n1=172.18.0.2", "n2=172.18.0.3"}) {
		t.Errorf("nodes = %v", got)
	}
	if got := nodes("1.2.3.0/24"); len(got) != 0 {
		t.Errorf("external IPs must not count: %v", got)
	}
	if got := nodes("172.18.0.3/32"); !slices.Equal(got, []string{"n2=172.18.0.3"}) {
		t.Errorf("exact = %v", got)
	}
	s.UpsertNode(node("n1", "172.19.0.2"))
	s.DeleteNode("n2")
	if got := nodes("172.16.0.0/12"); !slices.Equal(got, []string{"n1=172.19.0.2"}) {
		t.Errorf("after changes = %v", got)
	}
	stripped, _ := StripNode(node("n3", "10.0.0.1"))
	if n := stripped.(*corev1.Node); n.Name != "n3" || len(n.Status.Addresses) != 2 {
		t.Errorf("StripNode lost what the inventory reads: %+v", n)
	}
}

// TestConcurrentReadersAndWriters runs under -race: readers see a
// consistent store while informer events arrive.
func TestConcurrentReadersAndWriters(t *testing.T) {
	t.Parallel()
	s := New("ovn-cluster")
	s.UpsertSubnet(sn("a", "10.0.0.0/16", "", ""))
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 2000 {
			name := fmt.Sprintf("p%d", i%200)
			s.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kubeovnv1.IPSpec{Subnet: "a", IPAddress: fmt.Sprintf("10.0.%d.%d", i%200, i%250+1)}})
			if i%3 == 0 {
				s.DeleteIP(name)
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 500 {
				s.Read(func(r Reader) {
					n := 0
					r.InUse("a", netip.MustParseAddr("10.0.0.0"), netip.MustParseAddr("10.0.255.255"), func(Holder) bool { n++; return true })
					if c := r.InUseCount("a", ipam.IPv4); c != n {
						t.Errorf("count %d != visited %d inside one read", c, n)
					}
				})
			}
		})
	}
	wg.Wait()
}

// TestAllocatedPodsAreNotPending: a finished pod keeps its annotations but
// Kube-OVN released its address; only unallocated pods are pending.
func TestAllocatedPodsAreNotPending(t *testing.T) {
	t.Parallel()
	s := New("ovn-cluster")
	s.UpsertPod(&metav1.ObjectMeta{Namespace: "a", Name: "job-1", Annotations: map[string]string{"ovn.kubernetes.io/ip_address": "10.16.0.9"}})
	count := func() (n int) {
		s.Read(func(r Reader) {
			r.PodRequests(netip.MustParseAddr("10.16.0.9"), func(PodRequest) bool { n++; return true })
		})
		return n
	}
	if count() != 1 {
		t.Fatalf("pending pod not indexed")
	}
	s.UpsertPod(&metav1.ObjectMeta{Namespace: "a", Name: "job-1", Annotations: map[string]string{
		"ovn.kubernetes.io/ip_address": "10.16.0.9", "ovn.kubernetes.io/allocated": "true"}})
	if count() != 0 {
		t.Errorf("allocated pod still pending")
	}
	stripped, _ := StripPod(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: map[string]string{
		"ovn.kubernetes.io/allocated": "true", "ovn.kubernetes.io/ip_address": "10.16.0.9", "unrelated": "x"}}})
	if a := stripped.(*metav1.PartialObjectMetadata).Annotations; len(a) != 0 {
		t.Errorf("StripPod kept %v of an allocated pod", a)
	}
	pending, _ := StripPod(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: map[string]string{
		"ovn.kubernetes.io/ip_address": "10.16.0.9", "unrelated": "x"}}})
	if a := pending.(*metav1.PartialObjectMetadata).Annotations; len(a) != 1 || a["ovn.kubernetes.io/ip_address"] != "10.16.0.9" {
		t.Errorf("StripPod kept %v of a pending pod", a)
	}
}

func TestStripIPKeepsWhatHoldersRead(t *testing.T) {
	t.Parallel()
	ip := &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "web-0.default", Labels: map[string]string{"a": "b"}}, Spec: kubeovnv1.IPSpec{
		PodName: "web-0", Namespace: "default", Subnet: "a", IPAddress: "10.16.0.5,fd00::5", V4IPAddress: "10.16.0.5", V6IPAddress: "fd00::5",
		AttachSubnets: []string{"att"}, AttachIPs: []string{"192.168.0.5"}, MacAddress: "00:00:00:00:00:01", ContainerID: "abc", PodType: "StatefulSet"}}
	out, _ := StripIP(ip)
	stripped := out.(*kubeovnv1.IP)
	if !slices.Equal(IPHolders(ip), IPHolders(stripped)) {
		t.Errorf("holders differ: %v vs %v", IPHolders(ip), IPHolders(stripped))
	}
	if stripped.Spec.MacAddress != "" || stripped.Spec.ContainerID != "" || stripped.Labels != nil || stripped.UID != "" {
		t.Errorf("kept bytes the rules never read: %+v", stripped)
	}
	// What is kept is equal to the original, shared or not.
	want := ip.Spec
	want.MacAddress, want.ContainerID, want.AttachMacs = "", "", nil
	if !reflect.DeepEqual(stripped.Spec, want) || stripped.Name != ip.Name || stripped.ResourceVersion != ip.ResourceVersion {
		t.Errorf("stripped = %+v, want spec %+v", stripped, want)
	}
}

// TestStripPodKeepsIdentity: the informer compares resourceVersions to
// tell updates from resyncs, and keys pods by namespace and name; the UID
// is read by nobody.
func TestStripPodKeepsIdentity(t *testing.T) {
	t.Parallel()
	for _, ann := range []map[string]string{nil, {"ovn.kubernetes.io/ip_address": "10.16.0.9"}} {
		in := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u-1",
			ResourceVersion: "42", Annotations: ann}}
		out, _ := StripPod(in)
		m := out.(*metav1.PartialObjectMetadata)
		if m.Namespace != "ns" || m.Name != "p" || m.ResourceVersion != "42" || m.UID != "" {
			t.Errorf("StripPod(%v) = %+v", ann, m.ObjectMeta)
		}
	}
}

// TestPodRequestsReplaceExactly: a pod's record is only its addresses;
// deleting or updating it removes its requests, not another pod's at the
// same address.
func TestPodRequestsReplaceExactly(t *testing.T) {
	t.Parallel()
	s := New("ovn-cluster")
	pod := func(name, addrs string) *metav1.ObjectMeta {
		return &metav1.ObjectMeta{Namespace: "a", Name: name, Annotations: map[string]string{"ovn.kubernetes.io/ip_address": addrs}}
	}
	pending := func(addr string) (out []string) {
		s.Read(func(r Reader) {
			r.PodRequests(netip.MustParseAddr(addr), func(p PodRequest) bool { out = append(out, p.Pod); return true })
		})
		return out
	}
	s.UpsertPod(pod("p", "10.16.0.9,fd00::9"))
	s.UpsertPod(pod("q", "10.16.0.9"))
	if got := pending("10.16.0.9"); !slices.Equal(got, []string{"p", "q"}) {
		t.Fatalf("requests for 10.16.0.9 = %v", got)
	}
	s.UpsertPod(pod("p", "10.16.0.10"))
	if got := pending("10.16.0.9"); !slices.Equal(got, []string{"q"}) || len(pending("fd00::9")) != 0 ||
		!slices.Equal(pending("10.16.0.10"), []string{"p"}) {
		t.Errorf("after moving p: .9 %v, fd00::9 %v, .10 %v", got, pending("fd00::9"), pending("10.16.0.10"))
	}
	s.DeletePod("a", "p")
	s.DeletePod("a", "q")
	if len(s.podRequests) != 0 || len(s.podsByAddr) != 0 {
		t.Errorf("left behind: %v, %v", s.podRequests, s.podsByAddr)
	}
}

// TestStripPodKeepsVMOwner: a pending virt-launcher pod keeps what makes
// it its VM's (the controller reference to the VMI), so its requests are
// the VM's after stripping as before.
func TestStripPodKeepsVMOwner(t *testing.T) {
	t.Parallel()
	yes := true
	in := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "vms", Name: "virt-launcher-vm1-abcde",
		Annotations: map[string]string{"ovn.kubernetes.io/ip_address": "10.16.0.9"},
		Labels:      map[string]string{"other": "label"},
		OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs"},
			{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachineInstance", Name: "vm1", UID: "u", Controller: &yes},
		}}}
	out, _ := StripPod(in)
	m := out.(*metav1.PartialObjectMetadata)
	want := PodRequestsOf(in)
	got := PodRequestsOf(m)
	if len(want) != 1 || len(got) != 1 || got[0].Owner != want[0].Owner || got[0].Owner != "vm/vm1" {
		t.Errorf("requests after stripping %+v, before %+v", got, want)
	}
}
