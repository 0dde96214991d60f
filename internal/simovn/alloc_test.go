package simovn

import (
	"net/netip"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
)

func subnet(name, cidr, gw string, excl []string, namespaces ...string) *kubeovnv1.Subnet {
	return &kubeovnv1.Subnet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       kubeovnv1.SubnetSpec{CIDRBlock: cidr, Gateway: gw, ExcludeIps: excl, Namespaces: namespaces, Provider: "ovn"},
	}
}

func ipObj(name, subnet, addrs string) *kubeovnv1.IP {
	pod, ns, _ := strings.Cut(name, ".")
	return &kubeovnv1.IP{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       kubeovnv1.IPSpec{PodName: pod, Namespace: ns, Subnet: subnet, IPAddress: addrs},
	}
}

func pod(ns, name string, ann map[string]string) podInfo {
	return podInfo{Namespace: ns, Name: name, Owner: name, Ordinal: statefulSetOrdinal(name), Req: primaryRequest(ann)}
}

func alloc(t *testing.T, s *inventory.Store, p podInfo) (allocation, *allocError) {
	t.Helper()
	var a allocation
	var err *allocError
	s.Read(func(r inventory.Reader) { a, err = allocate(r, DefaultSubnet, p, ipObjectName(p.Name, p.Namespace)) })
	return a, err
}

func TestFirstFreeSkipsHeldExcludedAndGateway(t *testing.T) {
	s := inventory.New(DefaultVPC)
	s.UpsertSubnet(subnet("ovn-default", "10.16.0.0/16", "10.16.0.1", nil))
	s.UpsertSubnet(subnet("small", "10.200.0.0/28", "", []string{"10.200.0.4..10.200.0.6", "10.200.0.9"}, "t"))
	// .2 .3 held, .4-.6 excluded, .7 held (twice: an IP and a Vip), .8 free.
	s.UpsertIP(ipObj("a.t", "small", "10.200.0.2"))
	s.UpsertIP(ipObj("b.t", "small", "10.200.0.3"))
	s.UpsertIP(ipObj("c.t", "small", "10.200.0.7"))
	s.UpsertVip(&kubeovnv1.Vip{ObjectMeta: metav1.ObjectMeta{Name: "v"}, Spec: kubeovnv1.VipSpec{Subnet: "small", V4ip: "10.200.0.7"}})

	want := []string{"10.200.0.8", "10.200.0.10", "10.200.0.11", "10.200.0.12", "10.200.0.13", "10.200.0.14"}
	for i, w := range want {
		p := pod("t", "p"+string(rune('a'+i)), nil)
		got, err := alloc(t, s, p)
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		if got.Subnet.Name != "small" || got.Addrs[0].String() != w {
			t.Fatalf("pod %d: got %s %v, want small %s", i, got.Subnet.Name, got.Addrs, w)
		}
		s.UpsertIP(ipObj(ipObjectName(p.Name, p.Namespace), "small", w))
	}
	_, err := alloc(t, s, pod("t", "full", nil))
	if err == nil || err.Reason != ReasonAcquireAddressFailed || !strings.Contains(err.Msg, "no available IP in subnet small (10.200.0.0/28)") {
		t.Fatalf("full subnet: got %v", err)
	}
	// Unbound namespaces land in the default subnet, after its gateway.
	got, err := alloc(t, s, pod("other", "x", nil))
	if err != nil || got.Subnet.Name != "ovn-default" || got.Addrs[0].String() != "10.16.0.2" {
		t.Fatalf("default subnet: got %v %v", got, err)
	}
}

func TestResolveOrder(t *testing.T) {
	s := inventory.New(DefaultVPC)
	s.UpsertSubnet(subnet("ovn-default", "10.16.0.0/16", "", nil))
	s.UpsertSubnet(subnet("b-full", "10.201.0.0/30", "", []string{"10.201.0.2"}, "t")) // gateway + excluded: full
	s.UpsertSubnet(subnet("c-bound", "10.202.0.0/24", "", nil, "t"))                   // next in name order
	s.UpsertSubnet(subnet("named", "10.203.0.0/24", "", nil))
	s.UpsertSubnet(subnet("vpcdef", "10.204.0.0/24", "", nil))
	s.UpsertSubnet(subnet("pooled", "10.205.0.0/24", "", nil))
	s.UpsertVpc(&kubeovnv1.Vpc{ObjectMeta: metav1.ObjectMeta{Name: "v1"}, Spec: kubeovnv1.VpcSpec{Namespaces: []string{"invpc"}, DefaultSubnet: "vpcdef"}})
	s.UpsertIPPool(&kubeovnv1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "pool"}, Spec: kubeovnv1.IPPoolSpec{Subnet: "pooled", IPs: []string{"10.205.0.50..10.205.0.52"}}})
	s.UpsertIP(ipObj("held.x", "pooled", "10.205.0.50"))

	ls := annotations.Key{Provider: "ovn", Name: annotations.LogicalSwitch}.String()
	ipp := annotations.Key{Provider: "ovn", Name: annotations.IPPool}.String()
	ipa := annotations.Key{Provider: "ovn", Name: annotations.IPAddress}.String()
	for _, tc := range []struct {
		name   string
		p      podInfo
		subnet string
		addr   string
		errHas string
	}{
		{"bound, skipping the full one", pod("t", "a", nil), "c-bound", "10.202.0.2", ""},
		{"logical_switch wins", pod("t", "a", map[string]string{ls: "named"}), "named", "10.203.0.2", ""},
		{"logical_switch missing", pod("t", "a", map[string]string{ls: "nope"}), "", "", "subnet nope"},
		{"VPC default subnet", pod("invpc", "a", nil), "vpcdef", "10.204.0.2", ""},
		{"IPPool name", pod("x", "a", map[string]string{ipp: "pool"}), "pooled", "10.205.0.51", ""},
		{"ip_pool list", pod("x", "a", map[string]string{ipp: "10.16.9.9,10.16.9.8"}), "ovn-default", "10.16.9.8", ""},
		{"StatefulSet group", pod("x", "web-1", map[string]string{ipp: "10.16.3.1;10.16.3.2"}), "ovn-default", "10.16.3.2", ""},
		{"static", pod("t", "a", map[string]string{ipa: "10.202.0.77"}), "c-bound", "10.202.0.77", ""},
		{"static taken", pod("y", "a", map[string]string{ipa: "10.205.0.50", ls: "pooled"}), "", "", "already held by pod x/held"},
		{"static gateway", pod("t", "a", map[string]string{ipa: "10.202.0.1"}), "", "", "gateway"},
		{"static outside", pod("t", "a", map[string]string{ipa: "10.99.0.1"}), "", "", "outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := alloc(t, s, tc.p)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Msg, tc.errHas) {
					t.Fatalf("got %v %v, want error with %q", got, err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Subnet.Name != tc.subnet || joinAddrs(got.Addrs) != tc.addr {
				t.Fatalf("got %s %s, want %s %s", got.Subnet.Name, joinAddrs(got.Addrs), tc.subnet, tc.addr)
			}
		})
	}
}

func TestDualStackAndPendingStaticRequests(t *testing.T) {
	s := inventory.New(DefaultVPC)
	s.UpsertSubnet(subnet("ovn-default", "10.16.0.0/24,fd00:10:16::/120", "", nil))
	s.UpsertIP(ipObj("a.t", "ovn-default", "10.16.0.2,fd00:10:16::2"))
	// A pending pod asked for .3 and ::3; nobody else gets them.
	s.UpsertPod(&metav1.ObjectMeta{Namespace: "t", Name: "static", Annotations: map[string]string{
		"ovn.kubernetes.io/ip_address": "10.16.0.3,fd00:10:16::3",
	}})
	got, err := alloc(t, s, pod("t", "b", nil))
	if err != nil || joinAddrs(got.Addrs) != "10.16.0.4,fd00:10:16::4" {
		t.Fatalf("got %v %v", got.Addrs, err)
	}
	got, err = alloc(t, s, pod("t", "static", map[string]string{"ovn.kubernetes.io/ip_address": "fd00:10:16::3,10.16.0.3"}))
	if err != nil || joinAddrs(got.Addrs) != "10.16.0.3,fd00:10:16::3" {
		t.Fatalf("static: got %v %v", got.Addrs, err)
	}
	got, err = alloc(t, s, pod("t", "c", map[string]string{"ovn.kubernetes.io/ip_family": "ipv6"}))
	if err != nil || joinAddrs(got.Addrs) != "fd00:10:16::4" {
		t.Fatalf("ip_family: got %v %v", got.Addrs, err)
	}
}

func TestFirstFreeLastAddress(t *testing.T) {
	s := inventory.New(DefaultVPC)
	s.UpsertSubnet(subnet("ovn-default", "10.16.0.0/30", "", []string{"10.16.0.2"}))
	s.UpsertSubnet(subnet("p2p", "10.17.0.0/31", "10.17.0.0", nil, "t"))
	_, err := alloc(t, s, pod("x", "a", nil))
	if err == nil {
		t.Fatal("a /30 with its gateway and its other address excluded has no free address")
	}
	got, err := alloc(t, s, pod("t", "a", nil))
	if err != nil || got.Addrs[0] != netip.MustParseAddr("10.17.0.1") {
		t.Fatalf("/31: got %v %v", got.Addrs, err)
	}
}
