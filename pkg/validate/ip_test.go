package validate

import (
	"net/netip"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

// ipFixture is fixture() plus an IPv6 subnet, a subnet with excludeIps,
// an attachment network and a few holders without a pod.
func ipFixture() *inventory.Store {
	s := fixture()
	s.UpsertSubnet(subnet("v6net", "fd00:60::/120"))
	s.UpsertSubnet(subnet("ex", "10.75.0.0/24", func(s *kubeovnv1.Subnet) {
		s.Spec.Gateway = "10.75.0.1"
		s.Spec.ExcludeIps = []string{"10.75.0.2..10.75.0.20"}
	}))
	s.UpsertSubnet(subnet("attach-net", "172.30.0.0/24,fd00:30::/64", func(s *kubeovnv1.Subnet) { s.Spec.Provider = "net1.default.ovn" }))
	// A reservation without a pod, and two objects that already share an
	// address (a duplicate the controller made before ipamguard).
	s.UpsertIP(reservedIP("res-1", "tenant-a", "10.70.0.30", ""))
	s.UpsertIP(ipObj("a", "ns1", "tenant-a", "10.70.0.77"))
	s.UpsertIP(ipObj("b", "ns2", "tenant-a", "10.70.0.77"))
	// web-2 holds an attachment address.
	s.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "web-2.default"}, Spec: kubeovnv1.IPSpec{
		PodName: "web-2", Namespace: "default", Subnet: "tenant-a", IPAddress: "10.70.0.12",
		AttachSubnets: []string{"attach-net"}, AttachIPs: []string{"172.30.0.12"},
	}})
	return s
}

// reservedIP is an IP object as users pre-create it: family fields only,
// the controller fills in ipAddress.
func reservedIP(name, subnetName, v4, v6 string, mutate ...func(*kubeovnv1.IP)) *kubeovnv1.IP {
	ip := &kubeovnv1.IP{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"ovn.kubernetes.io/ip_reserved": "true"}},
		Spec:       kubeovnv1.IPSpec{Subnet: subnetName, V4IPAddress: v4, V6IPAddress: v6},
	}
	for _, m := range mutate {
		m(ip)
	}
	return ip
}

// podIP is an IP object as the controller writes it for a pod.
func podIP(pod, ns, subnetName, v4, v6 string, mutate ...func(*kubeovnv1.IP)) *kubeovnv1.IP {
	ip := &kubeovnv1.IP{
		ObjectMeta: metav1.ObjectMeta{Name: pod + "." + ns},
		Spec: kubeovnv1.IPSpec{PodName: pod, Namespace: ns, Subnet: subnetName,
			IPAddress: joinNonEmptyT(v4, v6), V4IPAddress: v4, V6IPAddress: v6},
	}
	for _, m := range mutate {
		m(ip)
	}
	return ip
}

func joinNonEmptyT(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "," + b
}

func TestIPCreate(t *testing.T) {
	t.Parallel()
	store := ipFixture()
	d := settings.FreshInstall()
	attach := func(subnets, ips []string) func(*kubeovnv1.IP) {
		return func(ip *kubeovnv1.IP) { ip.Spec.AttachSubnets, ip.Spec.AttachIPs = subnets, ips }
	}
	cases := []struct {
		name string
		obj  *kubeovnv1.IP
		want []want
	}{
		// Valid objects.
		{name: "reserved ipv4, family field only", obj: reservedIP("r", "tenant-a", "10.70.0.50", "")},
		{name: "reserved, no address (controller picks one)", obj: reservedIP("r", "tenant-a", "", "")},
		{name: "pod ipv4 as the controller writes it", obj: podIP("p", "ns", "tenant-a", "10.70.0.51", "")},
		{name: "ipAddress only", obj: &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Spec: kubeovnv1.IPSpec{Subnet: "tenant-a", IPAddress: "10.70.0.52"}}},
		{name: "dual stack", obj: podIP("p", "ns", "dual", "10.80.0.6", "fd00:80::6")},
		{name: "dual stack ipAddress with ipv6 first", obj: podIP("p", "ns", "dual", "10.80.0.6", "fd00:80::6", func(ip *kubeovnv1.IP) { ip.Spec.IPAddress = "fd00:80::6,10.80.0.6" })},
		{name: "ipv6 only", obj: podIP("p", "ns", "v6net", "", "fd00:60::10")},
		{name: "excluded address is allowed for a static ip", obj: reservedIP("r", "ex", "10.75.0.5", "")},
		{name: "same address in another subnet", obj: podIP("p", "ns", "vpc1-net", "10.16.0.9", "")},
		{name: "recreated keep-ip object of the same name", obj: podIP("web-0", "default", "tenant-a", "10.70.0.10", "")},
		{name: "attachment", obj: podIP("p", "ns", "tenant-a", "10.70.0.53", "", attach([]string{"attach-net"}, []string{"172.30.0.5,fd00:30::5"}))},

		// ip-invalid.
		{name: "no subnet", obj: reservedIP("r", "", "10.70.0.50", ""),
			want: []want{{policy.IPInvalid, "spec.subnet", []string{"Required", "needs the subnet"}}}},
		{name: "unknown subnet", obj: reservedIP("r", "tenant-z", "10.70.0.50", ""),
			want: []want{{policy.IPInvalid, "spec.subnet", []string{`"tenant-z"`, "subnet tenant-z does not exist"}}}},
		{name: "cidr in v4IpAddress", obj: reservedIP("r", "tenant-a", "10.70.0.50/24", ""),
			want: []want{{policy.IPInvalid, "spec.v4IpAddress", []string{"is a CIDR"}}}},
		{name: "range in v4IpAddress", obj: reservedIP("r", "tenant-a", "10.70.0.50..10.70.0.60", ""),
			want: []want{{policy.IPInvalid, "spec.v4IpAddress", []string{"is a range"}}}},
		{name: "garbage", obj: reservedIP("r", "tenant-a", "10.70.0.500", ""),
			want: []want{{policy.IPInvalid, "spec.v4IpAddress", []string{"not a valid IP address"}}}},
		{name: "ipv6 in v4IpAddress", obj: reservedIP("r", "dual", "fd00:80::7", ""),
			want: []want{{policy.IPInvalid, "spec.v4IpAddress", []string{"is an IPv6 address; spec.v4IpAddress takes an IPv4 address"}}}},
		{name: "two ipv4 in ipAddress", obj: &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Spec: kubeovnv1.IPSpec{Subnet: "tenant-a", IPAddress: "10.70.0.52,10.70.0.53"}},
			want: []want{{policy.IPInvalid, "spec.ipAddress", []string{"two IPv4 addresses"}}}},
		{name: "three in ipAddress", obj: &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Spec: kubeovnv1.IPSpec{Subnet: "dual", IPAddress: "10.80.0.7,fd00:80::7,10.80.0.8"}},
			want: []want{{policy.IPInvalid, "spec.ipAddress", []string{"3 addresses given"}}}},
		{name: "ipAddress disagrees with v4IpAddress", obj: podIP("p", "ns", "tenant-a", "10.70.0.54", "", func(ip *kubeovnv1.IP) { ip.Spec.IPAddress = "10.70.0.55" }),
			want: []want{{policy.IPInvalid, "spec.ipAddress", []string{`does not match v4IpAddress "10.70.0.54"`, `set it to "10.70.0.54"`}}}},
		{name: "ipAddress misses the ipv6 address", obj: podIP("p", "ns", "dual", "10.80.0.6", "fd00:80::6", func(ip *kubeovnv1.IP) { ip.Spec.IPAddress = "10.80.0.6" }),
			want: []want{{policy.IPInvalid, "spec.ipAddress", []string{`does not match v4IpAddress "10.80.0.6" and v6IpAddress "fd00:80::6"`, `set it to "10.80.0.6,fd00:80::6"`}}}},
		{name: "ipAddress disagrees and names the gateway", obj: podIP("p", "ns", "tenant-a", "10.70.0.54", "", func(ip *kubeovnv1.IP) { ip.Spec.IPAddress = "10.70.0.1" }),
			want: []want{
				{policy.IPInvalid, "spec.ipAddress", []string{`Invalid value: "10.70.0.1": does not match v4IpAddress "10.70.0.54";`, "both count as held"}},
				{policy.IPInvalid, "spec.ipAddress", []string{"is the gateway of subnet tenant-a"}},
			}},
		{name: "outside the block", obj: reservedIP("r", "tenant-a", "10.71.0.5", ""),
			want: []want{{policy.IPInvalid, "spec.v4IpAddress", []string{`"10.71.0.5"`, "is outside subnet tenant-a (10.70.0.0/24)"}}}},
		{name: "network address", obj: reservedIP("r", "tenant-a", "10.70.0.0", ""),
			want: []want{{policy.IPInvalid, "spec.v4IpAddress", []string{"the network address of 10.70.0.0/24"}}}},
		{name: "broadcast address", obj: reservedIP("r", "tenant-a", "10.70.0.255", ""),
			want: []want{{policy.IPInvalid, "spec.v4IpAddress", []string{"the broadcast address of 10.70.0.0/24"}}}},
		{name: "gateway (default, first address)", obj: reservedIP("r", "tenant-a", "10.70.0.1", ""),
			want: []want{{policy.IPInvalid, "spec.v4IpAddress", []string{"is the gateway of subnet tenant-a"}}}},
		{name: "explicit gateway inside excludeIps", obj: reservedIP("r", "ex", "10.75.0.1", ""),
			want: []want{{policy.IPInvalid, "spec.v4IpAddress", []string{"is the gateway of subnet ex"}}}},
		{name: "ipv6 on an ipv4 subnet", obj: reservedIP("r", "tenant-a", "", "fd00:70::5"),
			want: []want{{policy.IPInvalid, "spec.v6IpAddress", []string{"subnet tenant-a (10.70.0.0/24) has no IPv6 block"}}}},
		{name: "dual stack, ipv6 outside", obj: podIP("p", "ns", "dual", "10.80.0.6", "fd00:81::6"),
			want: []want{{policy.IPInvalid, "spec.v6IpAddress", []string{"outside subnet dual (fd00:80::/64)"}}}},
		{name: "ipv6 subnet-router anycast (network) address", obj: podIP("p", "ns", "v6net", "", "fd00:60::"),
			want: []want{{policy.IPInvalid, "spec.v6IpAddress", []string{"network address of fd00:60::/120"}}}},
		{name: "ipAddress only, outside", obj: &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Spec: kubeovnv1.IPSpec{Subnet: "tenant-a", IPAddress: "10.70.1.52"}},
			want: []want{{policy.IPInvalid, "spec.ipAddress", []string{"outside"}}}},
		{name: "attachments of different lengths", obj: podIP("p", "ns", "tenant-a", "10.70.0.53", "", attach([]string{"attach-net", "tenant-b"}, []string{"172.30.0.5"})),
			want: []want{{policy.IPInvalid, "spec.attachIps", []string{"has 1 entries but attachSubnets has 2"}}}},
		{name: "attachment subnet missing", obj: podIP("p", "ns", "tenant-a", "10.70.0.53", "", attach([]string{"attach-net", "nope"}, []string{"172.30.0.5", "10.1.0.1"})),
			want: []want{{policy.IPInvalid, "spec.attachSubnets[1]", []string{"subnet nope does not exist"}}}},
		{name: "attachment address outside its subnet", obj: podIP("p", "ns", "tenant-a", "10.70.0.53", "", attach([]string{"tenant-b", "attach-net"}, []string{"10.70.2.5", "172.31.0.5"})),
			want: []want{{policy.IPInvalid, "spec.attachIps[1]", []string{"outside subnet attach-net (172.30.0.0/24)"}}}},
		{name: "attachment address is a cidr", obj: podIP("p", "ns", "tenant-a", "10.70.0.53", "", attach([]string{"attach-net"}, []string{"172.30.0.5/24"})),
			want: []want{{policy.IPInvalid, "spec.attachIps[0]", []string{"is a CIDR"}}}},
		{name: "several problems at once", obj: podIP("p", "ns", "dual", "10.81.0.6", "10.80.0.7"),
			want: []want{
				{policy.IPInvalid, "spec.v6IpAddress", []string{"is an IPv4 address"}},
				{policy.IPInvalid, "spec.ipAddress", []string{"gives two IPv4 addresses"}},
				{policy.IPInvalid, "spec.v4IpAddress", []string{"outside subnet dual (10.80.0.0/24)"}},
			}},

		// Kube-OVN reads these as text (pkg/controller/ip.go
		// handleAddReservedIP, pkg/webhook/static_ip.go checkIPConflict).
		{name: "podType Deployment", obj: reservedIP("r", "tenant-a", "10.70.0.50", "", func(ip *kubeovnv1.IP) { ip.Spec.PodType = "Deployment" }),
			want: []want{{policy.IPInvalid, "spec.podType", []string{`"Deployment"`, "podType Deployment is not supported"}}}},
		{name: "podType StatefulSet and VirtualMachine", obj: reservedIP("r", "tenant-a", "10.70.0.50", "", func(ip *kubeovnv1.IP) { ip.Spec.PodType = "VirtualMachine" })},
		{name: "upper-case ipv6", obj: podIP("p", "ns", "v6net", "", "FD00:60::10"),
			want: []want{
				{policy.IPInvalid, "spec.ipAddress", []string{"contains upper case", "Kube-OVN's webhook", "write fd00:60::10"}},
				{policy.IPInvalid, "spec.v6IpAddress", []string{"contains upper case", "controller refuses to allocate it", "write fd00:60::10"}},
			}},
		{name: "zero-padded ipv6 in v6IpAddress only", obj: podIP("p", "ns", "dual", "10.80.0.6", "fd00:80::6", func(ip *kubeovnv1.IP) { ip.Spec.V6IPAddress = "fd00:80:0:0:0:0:0:6" }),
			want: []want{{policy.IPInvalid, "spec.v6IpAddress", []string{"not in canonical form", "conflict checks would miss", "write fd00:80::6"}}}},

		// ip-taken.
		{name: "taken by a pod", obj: reservedIP("r", "tenant-a", "10.70.0.10", ""),
			want: []want{{policy.IPTaken, "spec.v4IpAddress", []string{"10.70.0.10 is already held by pod default/web-0 (IP object web-0.default) in subnet tenant-a"}}}},
		{name: "taken by a vip", obj: reservedIP("r", "tenant-a", "10.70.0.100", ""),
			want: []want{{policy.IPTaken, "spec.v4IpAddress", []string{"held by vip vip1 in subnet tenant-a"}}}},
		{name: "taken by a reservation", obj: podIP("p", "ns", "tenant-a", "10.70.0.30", ""),
			want: []want{{policy.IPTaken, "spec.v4IpAddress", []string{"held by IP object res-1 in subnet tenant-a"}}}},
		{name: "taken twice already", obj: podIP("p", "ns", "tenant-a", "10.70.0.77", ""),
			want: []want{{policy.IPTaken, "spec.v4IpAddress", []string{"held by pod ns1/a (IP object a.ns1), pod ns2/b (IP object b.ns2)"}}}},
		{name: "dual stack, ipv6 taken", obj: podIP("p", "ns", "dual", "10.80.0.9", "fd00:80::5"),
			want: []want{{policy.IPTaken, "spec.v6IpAddress", []string{"fd00:80::5 is already held by pod prod/db-0"}}}},
		// A disagreeing object holds both addresses (inventory.IPAddrs), so
		// both are checked, whichever field names the taken one.
		{name: "disagreeing ipAddress is taken", obj: podIP("p", "ns", "tenant-a", "10.70.0.54", "", func(ip *kubeovnv1.IP) { ip.Spec.IPAddress = "10.70.0.10" }),
			want: []want{
				{policy.IPInvalid, "spec.ipAddress", []string{`does not match v4IpAddress "10.70.0.54"`}},
				{policy.IPTaken, "spec.ipAddress", []string{"10.70.0.10 is already held by pod default/web-0 (IP object web-0.default) in subnet tenant-a"}},
			}},
		{name: "disagreeing v4IpAddress is taken", obj: podIP("p", "ns", "tenant-a", "10.70.0.10", "", func(ip *kubeovnv1.IP) { ip.Spec.IPAddress = "10.70.0.54" }),
			want: []want{
				{policy.IPInvalid, "spec.ipAddress", []string{`does not match v4IpAddress "10.70.0.10"`}},
				{policy.IPTaken, "spec.v4IpAddress", []string{"10.70.0.10 is already held by pod default/web-0"}},
			}},
		{name: "ipAddress only, taken", obj: &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Spec: kubeovnv1.IPSpec{Subnet: "tenant-a", IPAddress: "10.70.0.10"}},
			want: []want{{policy.IPTaken, "spec.ipAddress", []string{"pod default/web-0"}}}},
		{name: "same owner under another name is still a conflict", obj: reservedIP("web-0-reserved", "tenant-a", "10.70.0.10", "", func(ip *kubeovnv1.IP) {
			ip.Spec.PodName, ip.Spec.Namespace = "web-0", "default"
		}),
			want: []want{{policy.IPTaken, "spec.v4IpAddress", []string{"pod default/web-0"}}}},
		{name: "attachment address taken", obj: podIP("p", "ns", "tenant-a", "10.70.0.53", "", attach([]string{"attach-net"}, []string{"172.30.0.12"})),
			want: []want{{policy.IPTaken, "spec.attachIps[0]", []string{"held by pod default/web-2 (IP object web-2.default) in subnet attach-net"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []policy.Finding
			store.Read(func(r inventory.Reader) { got = IPCreate(cx(r, d), nil, tc.obj).Findings })
			check(t, got, tc.want)
		})
	}
}

func TestIPUpdate(t *testing.T) {
	t.Parallel()
	store := ipFixture()
	d := settings.FreshInstall()
	res := reservedIP("r", "tenant-a", "10.70.0.50", "", func(ip *kubeovnv1.IP) { ip.Spec.PodName, ip.Spec.Namespace = "db-9", "prod" })
	web0 := podIP("web-0", "default", "tenant-a", "10.70.0.10", "", func(ip *kubeovnv1.IP) { ip.Spec.PodType = kubeovnv1.PodTypeStatefulSet })
	dupA := ipObj("a", "ns1", "tenant-a", "10.70.0.77")
	legacy := reservedIP("legacy", "gone", "10.99.0.5", "")
	cases := []struct {
		name     string
		old, obj *kubeovnv1.IP
		want     []want
	}{
		{name: "controller fills in a reservation", old: res, obj: reservedIP("r", "tenant-a", "10.70.0.50", "", func(ip *kubeovnv1.IP) {
			ip.Spec.PodName, ip.Spec.Namespace = "db-9", "prod"
			ip.Spec.IPAddress, ip.Spec.MacAddress = "10.70.0.50", "00:00:00:4D:B4:36"
			ip.Finalizers = []string{"kube-ovn-controller"}
		})},
		{name: "keep-ip pod moves to another node", old: web0, obj: podIP("web-0", "default", "tenant-a", "10.70.0.10", "", func(ip *kubeovnv1.IP) {
			ip.Spec.PodType, ip.Spec.NodeName, ip.Spec.ContainerID = kubeovnv1.PodTypeStatefulSet, "node2", "abc"
		})},
		{name: "an existing duplicate still takes label edits", old: dupA, obj: ipObj("a", "ns1", "tenant-a", "10.70.0.77")},
		{name: "an object in a deleted subnet still takes label edits", old: legacy, obj: reservedIP("legacy", "gone", "10.99.0.5", "", func(ip *kubeovnv1.IP) {
			ip.Labels["x"] = "y"
		})},
		{name: "setting an ipv6 address on a dual stack reservation", old: reservedIP("r", "dual", "10.80.0.50", ""), obj: reservedIP("r", "dual", "10.80.0.50", "fd00:80::50")},
		{name: "setting a taken ipv6 address", old: reservedIP("r", "dual", "10.80.0.50", ""), obj: reservedIP("r", "dual", "10.80.0.50", "fd00:80::5"),
			want: []want{{policy.IPTaken, "spec.v6IpAddress", []string{"pod prod/db-0"}}}},
		{name: "changing the address", old: podIP("p", "ns", "tenant-a", "10.70.0.50", ""), obj: podIP("p", "ns", "tenant-a", "10.70.0.51", ""),
			want: []want{
				{policy.IPImmutable, "spec.ipAddress", []string{`Invalid value: "10.70.0.51"`, `is immutable once set (was "10.70.0.50"); delete and recreate the IP object to move it`}},
				{policy.IPImmutable, "spec.v4IpAddress", []string{`(was "10.70.0.50")`}},
			}},
		{name: "moving to another subnet", old: res, obj: reservedIP("r", "tenant-b", "10.70.2.50", "", func(ip *kubeovnv1.IP) { ip.Spec.PodName, ip.Spec.Namespace = "db-9", "prod" }),
			want: []want{
				{policy.IPImmutable, "spec.subnet", []string{`(was "tenant-a")`}},
				{policy.IPImmutable, "spec.v4IpAddress", []string{`(was "10.70.0.50")`}},
			}},
		{name: "changing owner and type", old: web0, obj: podIP("web-1", "prod", "tenant-a", "10.70.0.10", ""),
			want: []want{
				{policy.IPImmutable, "spec.podName", []string{`(was "web-0")`}},
				{policy.IPImmutable, "spec.namespace", []string{`(was "default")`}},
				{policy.IPImmutable, "spec.podType", []string{`(was "StatefulSet")`}},
			}},
		{name: "changing attachments", old: podIP("p", "ns", "tenant-a", "10.70.0.50", "", func(ip *kubeovnv1.IP) {
			ip.Spec.AttachSubnets, ip.Spec.AttachIPs = []string{"attach-net"}, []string{"172.30.0.50"}
		}), obj: podIP("p", "ns", "tenant-a", "10.70.0.50", "", func(ip *kubeovnv1.IP) {
			ip.Spec.AttachSubnets, ip.Spec.AttachIPs = []string{"attach-net"}, []string{"172.30.0.12"}
		}),
			want: []want{
				{policy.IPImmutable, "spec.attachIps", []string{`(was ["172.30.0.50"])`}},
				{policy.IPTaken, "spec.attachIps[0]", []string{"pod default/web-2"}},
			}},
		{name: "a disagreeing object still takes label edits", old: podIP("odd", "ns", "tenant-a", "10.70.0.60", "", func(ip *kubeovnv1.IP) { ip.Spec.IPAddress = "10.70.0.77" }),
			obj: podIP("odd", "ns", "tenant-a", "10.70.0.60", "", func(ip *kubeovnv1.IP) {
				ip.Spec.IPAddress = "10.70.0.77"
				ip.Labels = map[string]string{"x": "y"}
			})},
		{name: "making ipAddress agree", old: podIP("odd", "ns", "tenant-a", "10.70.0.60", "", func(ip *kubeovnv1.IP) { ip.Spec.IPAddress = "10.70.0.61" }),
			obj:  podIP("odd", "ns", "tenant-a", "10.70.0.60", ""),
			want: []want{{policy.IPImmutable, "spec.ipAddress", []string{`(was "10.70.0.61")`}}}},
		{name: "a new disagreement is reported", old: reservedIP("r", "tenant-a", "10.70.0.60", ""), obj: reservedIP("r", "tenant-a", "10.70.0.60", "", func(ip *kubeovnv1.IP) {
			ip.Spec.IPAddress = "10.70.0.10"
		}),
			want: []want{
				{policy.IPInvalid, "spec.ipAddress", []string{`does not match v4IpAddress "10.70.0.60"`}},
				{policy.IPTaken, "spec.ipAddress", []string{"pod default/web-0"}},
			}},
		{name: "adding attachments", old: podIP("p", "ns", "tenant-a", "10.70.0.50", ""), obj: podIP("p", "ns", "tenant-a", "10.70.0.50", "", func(ip *kubeovnv1.IP) {
			ip.Spec.AttachSubnets, ip.Spec.AttachIPs = []string{"attach-net"}, []string{"172.30.0.50"}
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []policy.Finding
			store.Read(func(r inventory.Reader) { got = IPUpdate(cx(r, d), tc.old, tc.obj).Findings })
			check(t, got, tc.want)
		})
	}
}

// TestDisagreeingIPObjectHeldAndChecked: an IP object whose ipAddress
// disagrees with v4IpAddress holds both addresses in the Store, and the
// IP object and pod rules refuse each of them to anyone else; the
// validator checks exactly the addresses the Store records.
func TestDisagreeingIPObjectHeldAndChecked(t *testing.T) {
	t.Parallel()
	store := podFixture()
	odd := podIP("odd", "apps", "ovn-default", "10.16.0.6", "", func(ip *kubeovnv1.IP) { ip.Spec.IPAddress = "10.16.0.5" })
	store.UpsertIP(odd)
	d := settings.FreshInstall()

	var checked []string
	for _, a := range ipAddrs(odd) {
		checked = append(checked, a.Subnet+"/"+a.Addr.String()+"@"+ipAddrPath(a).String())
	}
	if want := []string{"ovn-default/10.16.0.6@spec.v4IpAddress", "ovn-default/10.16.0.5@spec.ipAddress"}; !slices.Equal(checked, want) {
		t.Errorf("validator checks %v, want %v", checked, want)
	}
	var recorded []string
	store.Read(func(r inventory.Reader) {
		r.InUse("ovn-default", netip.MustParseAddr("10.16.0.0"), netip.MustParseAddr("10.16.255.255"), func(h inventory.Holder) bool {
			if h.Name == odd.Name {
				recorded = append(recorded, h.Subnet+"/"+h.Addr.String())
			}
			return true
		})
	})
	if want := []string{"ovn-default/10.16.0.5", "ovn-default/10.16.0.6"}; !slices.Equal(recorded, want) {
		t.Errorf("Store records %v, want %v", recorded, want)
	}

	for _, addr := range []string{"10.16.0.5", "10.16.0.6"} {
		held := []string{addr + " is already held by pod apps/odd (IP object odd.apps) in subnet ovn-default"}
		store.Read(func(r inventory.Reader) {
			check(t, IPCreate(cx(r, d), nil, reservedIP("r", "ovn-default", addr, "")).Findings,
				[]want{{policy.IPTaken, "spec.v4IpAddress", held}})
			check(t, IPCreate(cx(r, d), nil, ipObj("other", "ns", "ovn-default", addr)).Findings,
				[]want{{policy.IPTaken, "spec.ipAddress", held}})
			got, _ := podCreate(r, d, pod("apps", "web", map[string]string{ipKey: addr}), fakeReservations{})
			check(t, got, []want{{policy.PodIPTaken, annPath(ipKey), []string{addr + " in subnet ovn-default is held by pod apps/odd"}}})
			// The same object again (a recreated keep-IP object) is its own holder.
			check(t, IPCreate(cx(r, d), nil, odd).Findings, []want{{policy.IPInvalid, "spec.ipAddress", []string{`does not match v4IpAddress "10.16.0.6"`}}})
		})
	}
}

// FuzzIPAndIPPoolRules feeds arbitrary address fields to the IP and IPPool
// rules: bad input must never panic, and every finding must name a field
// and a known rule.
func FuzzIPAndIPPoolRules(f *testing.F) {
	f.Add("tenant-a", "10.70.0.10", "10.70.0.10", "", "172.30.0.5", "10.70.0.20..10.70.0.40")
	f.Add("dual", "fd00:80::5,10.80.0.5", "10.80.0.5", "fd00:80::5", "fd00:30::1,172.30.0.1", "fd00:80::/120")
	f.Add("v6net", ",", "::ffff:10.0.0.1", "fe80::1%eth0", "1..2", "10.70.0.5/24")
	f.Add("", "10.70.0.1/24,,", "x", "10.70.0.0..10.70.0.9", "", "10.70.0.9..10.70.0.1")
	store := poolFixture()
	d := settings.FreshInstall()
	f.Fuzz(func(t *testing.T, subnetName, ipAddress, v4, v6, attachIP, poolEntry string) {
		old := podIP("p", "ns", subnetName, v4, v6, func(ip *kubeovnv1.IP) { ip.Spec.IPAddress = ipAddress })
		obj := podIP("p", "ns", subnetName, v6, v4, func(ip *kubeovnv1.IP) {
			ip.Spec.AttachSubnets, ip.Spec.AttachIPs = []string{"attach-net", subnetName}, []string{attachIP}
		})
		oldPool := pool("pool-a", subnetName, poolEntry)
		newPool := pool("pool-a", "tenant-a", poolEntry, ipAddress, v4)
		store.Read(func(r inventory.Reader) {
			for _, fs := range [][]policy.Finding{
				IPCreate(cx(r, d), nil, old).Findings,
				IPCreate(cx(r, d), nil, obj).Findings,
				IPUpdate(cx(r, d), old, obj).Findings,
				IPPoolCreate(cx(r, d), nil, oldPool).Findings,
				IPPoolUpdate(cx(r, d), oldPool, newPool).Findings,
			} {
				for _, x := range fs {
					if _, ok := policy.DefaultAction(x.Rule); !ok || x.Err == nil || x.Err.Field == "" {
						t.Fatalf("malformed finding %+v", x)
					}
				}
			}
		})
	})
}
