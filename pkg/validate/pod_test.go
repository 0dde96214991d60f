package validate

import (
	"net/netip"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

const (
	ipKey   = "ovn.kubernetes.io/ip_address"
	poolKey = "ovn.kubernetes.io/ip_pool"
	lsKey   = "ovn.kubernetes.io/logical_switch"
	attKey  = "net1.default.ovn.kubernetes.io/ip_address"
	// ifKey is the per-interface form of net1's ip_address (Kube-OVN
	// v1.16: no ".ovn" segment, the interface name after the name).
	ifKey = "net1.default.kubernetes.io/ip_address.eth1"
)

func annPath(key string) string {
	return field.NewPath("metadata").Child("annotations").Key(key).String()
}

// podFixture extends fixture() with tenancy, pools, attachments and pods.
func podFixture() *inventory.Store {
	s := fixture()
	s.UpsertSubnet(subnet("team-a", "10.60.0.0/24", func(s *kubeovnv1.Subnet) {
		s.Spec.Namespaces = []string{"team-a"}
		s.Spec.ExcludeIps = []string{"10.60.0.200..10.60.0.210"}
	}))
	s.UpsertSubnet(subnet("team-a-2", "10.61.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Namespaces = []string{"team-a"} }))
	s.UpsertSubnet(subnet("labelled", "10.62.0.0/24", func(s *kubeovnv1.Subnet) {
		s.Spec.NamespaceSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "gold"}}}
	}))
	s.UpsertSubnet(subnet("att", "192.168.50.0/24,fd00:50::/64", func(s *kubeovnv1.Subnet) { s.Spec.Provider = "net1.default.ovn" }))
	s.UpsertSubnet(subnet("v6only", "fd00:66::/64"))
	s.UpsertNamespace(&metav1.ObjectMeta{Name: "gold-ns", Labels: map[string]string{"tier": "gold"}})
	s.UpsertNamespace(&metav1.ObjectMeta{Name: "default"})
	s.UpsertVpc(&kubeovnv1.Vpc{ObjectMeta: metav1.ObjectMeta{Name: "vpc1"}, Spec: kubeovnv1.VpcSpec{Namespaces: []string{"vpc1-ns"}, DefaultSubnet: "vpc1-net"}})
	s.UpsertIPPool(&kubeovnv1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "pool-a"}, Spec: kubeovnv1.IPPoolSpec{Subnet: "tenant-a", IPs: []string{"10.70.0.50..10.70.0.60"}, Namespaces: []string{"apps"}}})
	s.UpsertIPPool(&kubeovnv1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "team-pool"}, Spec: kubeovnv1.IPPoolSpec{Subnet: "team-a", IPs: []string{"10.60.0.50..10.60.0.60"}}})
	s.UpsertIPPool(&kubeovnv1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "open-pool"}, Spec: kubeovnv1.IPPoolSpec{Subnet: "tenant-a", IPs: []string{"10.70.0.70..10.70.0.80"}}})
	// A StatefulSet pod's IP object (keep-IP) and a KubeVirt VM's.
	s.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "db-1.apps"}, Spec: kubeovnv1.IPSpec{PodName: "db-1", Namespace: "apps", Subnet: "ovn-default", IPAddress: "10.16.0.21", PodType: kubeovnv1.PodTypeStatefulSet}})
	s.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "vm1.vms"}, Spec: kubeovnv1.IPSpec{PodName: "vm1", Namespace: "vms", Subnet: "ovn-default", IPAddress: "10.16.0.31", PodType: kubeovnv1.PodTypeVirtualMachine}})
	// A pod admitted with a fixed address that has no IP object yet.
	s.UpsertPod(&metav1.ObjectMeta{Name: "early", Namespace: "apps", Annotations: map[string]string{ipKey: "10.16.0.41"}})
	return s
}

type fakeReservations map[Claim][2]string

func (f fakeReservations) Holder(subnet string, a netip.Addr) (string, string, bool) {
	h, ok := f[Claim{Subnet: subnet, Addr: a}]
	return h[0], h[1], ok
}

func pod(ns, name string, ann map[string]string, mutate ...func(*PodInput)) PodInput {
	in := PodInput{Namespace: ns, Name: name, Annotations: ann, Ordinal: -1, Meta: field.NewPath("metadata")}
	for _, m := range mutate {
		m(&in)
	}
	return in
}

func TestPodCreate(t *testing.T) {
	t.Parallel()
	store := podFixture()
	d := settings.FreshInstall()
	res := fakeReservations{{Subnet: "ovn-default", Addr: netip.MustParseAddr("10.16.0.51")}: {"apps", "racer"}}
	vm := func(in *PodInput) { in.VM = "vm1" }
	cases := []struct {
		name   string
		in     PodInput
		want   []want
		claims int
	}{
		{name: "valid default subnet", in: pod("apps", "web", map[string]string{ipKey: "10.16.0.5"}), claims: 1},
		{name: "valid dual stack on an explicit subnet", in: pod("prod", "x", map[string]string{lsKey: "dual", ipKey: "10.80.0.9,fd00:80::9"}), claims: 2},
		{name: "valid on a namespace-bound subnet, second of two", in: pod("team-a", "x", map[string]string{ipKey: "10.61.0.9"}), claims: 1},
		{name: "valid on the vpc default subnet", in: pod("vpc1-ns", "x", map[string]string{ipKey: "10.16.0.5"}), claims: 1},
		{name: "valid on an attachment network", in: pod("default", "x", map[string]string{attKey: "192.168.50.9"}), claims: 1},
		{name: "valid attachment with an interface suffix", in: pod("default", "x", map[string]string{ifKey: "fd00:50::9"}), claims: 1},
		{name: "logical_switch alone passes tenancy", in: pod("apps", "x", map[string]string{lsKey: "tenant-a"})},
		{name: "unparseable", in: pod("apps", "x", map[string]string{ipKey: "10.16.0.300"}),
			want: []want{{policy.PodIPInvalid, annPath(ipKey), []string{`"10.16.0.300" is not an IP address`}}}},
		{name: "two ipv4", in: pod("apps", "x", map[string]string{ipKey: "10.16.0.5,10.16.0.6"}),
			want: []want{{policy.PodIPInvalid, annPath(ipKey), []string{"more than one IPv4"}}}},
		{name: "a cidr", in: pod("apps", "x", map[string]string{ipKey: "10.16.0.5/16"}),
			want: []want{{policy.PodIPInvalid, annPath(ipKey), []string{"CIDR", "10.16.0.5 alone"}}}},
		{name: "family the subnet lacks", in: pod("apps", "x", map[string]string{ipKey: "fd00::5"}),
			want: []want{{policy.PodIPInvalid, annPath(ipKey), []string{"IPv6 but subnet ovn-default (10.16.0.0/16) has no IPv6 block"}}}},
		{name: "out of range names subnet and cidr", in: pod("apps", "x", map[string]string{ipKey: "10.17.0.5"}),
			want: []want{{policy.PodIPOutOfRange, annPath(ipKey), []string{"10.17.0.5 is not inside subnet ovn-default (10.16.0.0/16)"}}}},
		{name: "out of range of every bound subnet", in: pod("team-a", "x", map[string]string{ipKey: "10.16.0.5"}),
			want: []want{{policy.PodIPOutOfRange, annPath(ipKey), []string{"any subnet bound to namespace team-a: team-a 10.60.0.0/24, team-a-2 10.61.0.0/24"}}}},
		{name: "gateway", in: pod("apps", "x", map[string]string{ipKey: "10.16.0.1"}),
			want: []want{{policy.PodIPReserved, annPath(ipKey), []string{"the gateway of subnet ovn-default"}}}},
		{name: "network address", in: pod("apps", "x", map[string]string{lsKey: "tenant-a", ipKey: "10.70.0.0"}),
			want: []want{{policy.PodIPReserved, annPath(ipKey), []string{"network address", "tenant-a"}}}},
		{name: "broadcast", in: pod("apps", "x", map[string]string{lsKey: "tenant-a", ipKey: "10.70.0.255"}),
			want: []want{{policy.PodIPReserved, annPath(ipKey), []string{"broadcast"}}}},
		{name: "excluded is a finding of the warn rule", in: pod("team-a", "x", map[string]string{ipKey: "10.60.0.205"}), claims: 1,
			want: []want{{policy.PodIPExcluded, annPath(ipKey), []string{"excludeIps of subnet team-a"}}}},
		{name: "missing logical switch", in: pod("apps", "x", map[string]string{lsKey: "nope", ipKey: "10.16.0.5"}),
			want: []want{{policy.PodIPInvalid, annPath(lsKey), []string{"nope"}}}},
		{name: "tenancy: naming another tenant's subnet", in: pod("apps", "x", map[string]string{lsKey: "team-a"}),
			want: []want{{policy.TenantSubnet, annPath(lsKey), []string{"subnet team-a is bound to team-a, not to namespace apps; Kube-OVN places the pod there anyway"}}}},
		{name: "tenancy: selector-bound subnet from a matching namespace", in: pod("gold-ns", "x", map[string]string{ipKey: "10.62.0.5"}), claims: 1},
		{name: "tenancy: selector-bound subnet from another namespace", in: pod("default", "x", map[string]string{lsKey: "labelled", ipKey: "10.62.0.5"}),
			want: []want{
				{policy.TenantSubnet, annPath(lsKey), []string{"namespaceSelectors"}},
				{policy.TenantSubnet, annPath(ipKey), []string{"labelled"}},
			}, claims: 1},
		{name: "taken by an IP object of the namespace names the pod", in: pod("apps", "other", map[string]string{ipKey: "10.16.0.21"}),
			want: []want{{policy.PodIPTaken, annPath(ipKey), []string{"10.16.0.21 in subnet ovn-default is held by pod apps/db-1"}}}},
		{name: "taken by an IP object of another namespace does not name it", in: pod("web", "other", map[string]string{ipKey: "10.16.0.21"}),
			want: []want{{policy.PodIPTaken, annPath(ipKey), []string{"10.16.0.21 in subnet ovn-default is held by a pod in another namespace"}}}},
		{name: "statefulset pod recreated keeps its IP", in: pod("apps", "db-1", map[string]string{ipKey: "10.16.0.21"}), claims: 1},
		{name: "same pod name in another namespace is another owner", in: pod("other", "db-1", map[string]string{ipKey: "10.16.0.21"}),
			want: []want{{policy.PodIPTaken, annPath(ipKey), []string{"held by a pod in another namespace"}}}},
		{name: "kubevirt vm pod owns its vm's IP", in: pod("vms", "virt-launcher-vm1-abcde", map[string]string{ipKey: "10.16.0.31"}, vm), claims: 1},
		{name: "kubevirt migration target shares its vm's address", in: pod("vms", "virt-launcher-vm1-x7k2p", map[string]string{ipKey: "10.16.0.31", "kubevirt.io/migrationJobName": "m1"}, vm), claims: 1},
		{name: "kubevirt migration annotation does not share another's address", in: pod("vms", "virt-launcher-vm1-x7k2p", map[string]string{ipKey: "10.16.0.21", "kubevirt.io/migrationJobName": "m1"}),
			want: []want{{policy.PodIPTaken, annPath(ipKey), []string{"held by a pod in another namespace"}}}},
		{name: "taken by a vip", in: pod("apps", "x", map[string]string{lsKey: "tenant-a", ipKey: "10.70.0.100"}),
			want: []want{{policy.PodIPTaken, annPath(ipKey), []string{"held by vip vip1"}}}},
		{name: "taken by a pending pod", in: pod("apps", "x", map[string]string{ipKey: "10.16.0.41"}),
			want: []want{{policy.PodIPTaken, annPath(ipKey), []string{"requested by pending pod apps/early"}}}},
		{name: "taken by a pending pod of another namespace", in: pod("apps2", "x", map[string]string{ipKey: "10.16.0.41"}),
			want: []want{{policy.PodIPTaken, annPath(ipKey), []string{"requested by a pending pod in another namespace"}}}},
		{name: "pending pod's own re-admission", in: pod("apps", "early", map[string]string{ipKey: "10.16.0.41"}), claims: 1},
		{name: "pending pod in another subnet is no conflict", in: pod("vpc1-ns", "x", map[string]string{ipKey: "10.16.0.41"}), claims: 1},
		{name: "taken by an admission in flight", in: pod("apps", "x", map[string]string{ipKey: "10.16.0.51"}),
			want: []want{{policy.PodIPTaken, annPath(ipKey), []string{"requested by pod apps/racer"}}}},
		{name: "ippool name must exist", in: pod("apps", "x", map[string]string{poolKey: "nope"}),
			want: []want{{policy.PodIPInvalid, annPath(poolKey), []string{"IPPool that does not exist"}}}},
		{name: "ippool tenancy", in: pod("default", "x", map[string]string{poolKey: "pool-a", lsKey: "tenant-a"}),
			want: []want{{policy.TenantIPPool, annPath(poolKey), []string{"IPPool pool-a is reserved for namespaces apps"}}}},
		{name: "ippool of the right tenant", in: pod("apps", "x", map[string]string{poolKey: "pool-a", lsKey: "tenant-a"})},
		{name: "ip_address resolved through a named ippool", in: pod("other", "x", map[string]string{poolKey: "open-pool", lsKey: "tenant-a", ipKey: "10.70.0.71"}), claims: 1},
		{name: "flat pool list with one free address", in: pod("web", "x", map[string]string{poolKey: "10.16.0.21,10.16.0.22"})},
		{name: "flat pool list fully taken", in: pod("web", "x", map[string]string{poolKey: "10.16.0.21,10.16.0.31"}),
			want: []want{{policy.PodIPTaken, annPath(poolKey), []string{"every IPv4 address of the pool"}}}},
		{name: "open pool in another tenant's subnet", in: pod("apps", "x", map[string]string{poolKey: "team-pool"}),
			want: []want{{policy.TenantSubnet, annPath(poolKey), []string{"subnet team-a is bound to team-a"}},
				{policy.PodIPInvalid, annPath(poolKey), []string{"namespace apps is not bound to it", "ovn.kubernetes.io/logical_switch: team-a"}}}},
		{name: "named ippool of a subnet the namespace is not bound to", in: pod("default", "x", map[string]string{poolKey: "open-pool"}),
			want: []want{{policy.PodIPInvalid, annPath(poolKey), []string{"attach the pod to subnet ovn-default", "add the annotation ovn.kubernetes.io/logical_switch: tenant-a"}}}},
		{name: "logical_switch cannot bypass the pool's tenancy", in: pod("default", "x", map[string]string{lsKey: "tenant-a", poolKey: "pool-a"}),
			want: []want{{policy.TenantIPPool, annPath(poolKey), []string{"IPPool pool-a is reserved for namespaces apps"}}}},
		{name: "logical_switch and a pool of another subnet", in: pod("apps", "x", map[string]string{lsKey: "dual", poolKey: "pool-a"}),
			want: []want{{policy.PodIPInvalid, annPath(poolKey), []string{"belongs to subnet tenant-a but logical_switch names subnet dual"}}}},
		{name: "missing logical switch explains itself", in: pod("apps", "x", map[string]string{lsKey: "gone"}),
			want: []want{{policy.PodIPInvalid, annPath(lsKey), []string{"names a subnet that does not exist"}}}},
		{name: "flat dual-stack pool with every ipv6 address held", in: pod("web", "x", map[string]string{lsKey: "dual", poolKey: "10.80.0.30,10.80.0.31,fd00:80::5"}),
			want: []want{{policy.PodIPTaken, annPath(poolKey), []string{"every IPv6 address of the pool"}}}},
		{name: "statefulset ; groups take the ordinal's group", in: pod("apps", "db-2", map[string]string{lsKey: "dual", poolKey: "10.80.0.10,fd00:80::10;10.80.0.11,fd00:80::11;10.80.0.12,fd00:80::12"}, func(in *PodInput) { in.Ordinal = 2 }), claims: 2},
		{name: "statefulset ; groups: other groups may be taken", in: pod("apps", "db-0", map[string]string{poolKey: "10.16.0.60;10.16.0.21"}, func(in *PodInput) { in.Ordinal = 0 }), claims: 1},
		{name: "statefulset ; groups: own group taken", in: pod("apps", "db-0", map[string]string{poolKey: "10.16.0.21;10.16.0.60"}, func(in *PodInput) { in.Ordinal = 0 }),
			want: []want{{policy.PodIPTaken, annPath(poolKey), []string{"held by pod apps/db-1"}}}},
		{name: "statefulset ; groups: too few groups", in: pod("apps", "db-5", map[string]string{poolKey: "10.16.0.60;10.16.0.61"}, func(in *PodInput) { in.Ordinal = 5 }),
			want: []want{{policy.PodIPInvalid, annPath(poolKey), []string{"2 groups but this is StatefulSet pod ordinal 5"}}}},
		{name: "statefulset ; groups checked for range", in: pod("apps", "db-0", map[string]string{poolKey: "10.16.0.60;10.99.0.1"}, func(in *PodInput) { in.Ordinal = 0 }),
			want: []want{{policy.PodIPOutOfRange, annPath(poolKey), []string{"10.99.0.1 is not inside subnet ovn-default"}}}, claims: 1},
		{name: "attachment out of range", in: pod("default", "x", map[string]string{attKey: "192.168.51.9"}),
			want: []want{{policy.PodIPOutOfRange, annPath(attKey), []string{"subnet att"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []policy.Finding
			var claims []Claim
			store.Read(func(r inventory.Reader) { got, claims = podCreate(r, d, tc.in, res) })
			check(t, got, tc.want)
			if len(claims) != tc.claims {
				t.Errorf("claims = %v, want %d", claims, tc.claims)
			}
		})
	}
}

func TestPodTemplateSkipsTaken(t *testing.T) {
	t.Parallel()
	store := podFixture()
	var got []policy.Finding
	in := pod("web", "", map[string]string{ipKey: "10.16.0.21"})
	in.Meta = field.NewPath("spec", "template", "metadata")
	store.Read(func(r inventory.Reader) { got = PodTemplate(cx(r, settings.FreshInstall()), nil, valPtr(in)).Findings })
	check(t, got, nil)
	in.Annotations = map[string]string{ipKey: "10.17.0.1"}
	store.Read(func(r inventory.Reader) { got = PodTemplate(cx(r, settings.FreshInstall()), nil, valPtr(in)).Findings })
	check(t, got, []want{{policy.PodIPOutOfRange, "spec.template.metadata.annotations[ovn.kubernetes.io/ip_address]", nil}})
	if !strings.HasPrefix(got[0].Err.Field, "spec.template") {
		t.Errorf("field = %s", got[0].Err.Field)
	}
}

func TestPodCapacityNamed(t *testing.T) {
	t.Parallel()
	store := inventory.New("ovn-cluster")
	store.UpsertSubnet(subnet("tiny", "10.121.0.0/29")) // 6 addresses, gateway: 5 for pods
	store.UpsertIPPool(&kubeovnv1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "tiny-pool"}, Spec: kubeovnv1.IPPoolSpec{Subnet: "tiny", IPs: []string{"10.121.0.2..10.121.0.6"}}})
	d := settings.FreshInstall()
	th := settings.DefaultThresholds()
	var got []policy.Finding
	store.Read(func(r inventory.Reader) {
		got = PodCapacityNamed(cxt(r, d, th), nil, valPtr(pod("apps", "x", map[string]string{lsKey: "tiny"}))).Findings
	})
	check(t, got, []want{{policy.PodSubnetExhausted, annPath(lsKey), []string{"subnet tiny will have 4 of 5"}}})
	store.Read(func(r inventory.Reader) {
		got = PodCapacityNamed(cxt(r, d, th), nil, valPtr(pod("apps", "x", map[string]string{poolKey: "tiny-pool"}))).Findings
	})
	check(t, got, []want{{policy.PodSubnetExhausted, annPath(poolKey), []string{"subnet tiny"}}})
	store.Read(func(r inventory.Reader) {
		got = PodCapacityNamed(cxt(r, d, th), nil, valPtr(pod("apps", "x", map[string]string{lsKey: "tiny", ipKey: "10.121.0.3"}))).Findings
	})
	check(t, got, nil)
}
