package annotations

import (
	"fmt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"slices"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	t.Parallel()
	cases := map[string]Key{
		"ovn.kubernetes.io/ip_address":                     {Provider: "ovn", Name: IPAddress},
		"ovn.kubernetes.io/ip_pool":                        {Provider: "ovn", Name: IPPool},
		"ovn.kubernetes.io/allocated":                      {Provider: "ovn", Name: Allocated},
		"attachnet.default.ovn.kubernetes.io/ip_address":   {Provider: "attachnet.default.ovn", Name: IPAddress},
		"macvlan.kube-system.kubernetes.io/logical_switch": {Provider: "macvlan.kube-system", Name: LogicalSwitch},
		// One NAD attached twice: the provider carries the interface name.
		"vm-overlay.default.ovn.net1.kubernetes.io/ip_address":     {Provider: "vm-overlay.default.ovn.net1", Name: IPAddress},
		"vm-overlay.default.ovn.net1.kubernetes.io/logical_switch": {Provider: "vm-overlay.default.ovn.net1", Name: LogicalSwitch},
		// The per-interface form (Kube-OVN v1.16 perInterfaceIPAnnotationKey).
		"attachnet.default.kubernetes.io/ip_address.eth1":     {Provider: "attachnet.default", Name: IPAddress, Interface: "eth1"},
		"attachnet.default.kubernetes.io/mac_address.eth1":    {Provider: "attachnet.default", Name: MacAddress, Interface: "eth1"},
		"a.b.nad.default.kubernetes.io/ip_address.eth0.100":   {Provider: "a.b.nad.default", Name: IPAddress, Interface: "eth0.100"},
		"attachnet.default.kubernetes.io/ip_address.net-1234": {Provider: "attachnet.default", Name: IPAddress, Interface: "net-1234"},
	}
	for in, want := range cases {
		got, ok := ParseKey(in)
		if !ok || got != want {
			t.Errorf("ParseKey(%q) = %+v, %v; want %+v", in, got, ok, want)
		}
		if got.String() != in {
			t.Errorf("String() = %q, want %q", got.String(), in)
		}
	}
	for bad, why := range map[string]string{
		"ovn.kubernetes.io/cidr":                                      "not a static-IP name",
		"kubernetes.io/ip_address":                                    "no provider",
		"example.com/ovn.kubernetes.io/ip_address":                    "a '/' in the provider",
		"k8s.v1.cni.cncf.io/networks":                                 "not Kube-OVN's",
		"ovn.kubernetes.io/ip_addresses":                              "not a static-IP name",
		"ovn.kubernetes.io/ip_address.":                               "empty interface",
		"ovn.kubernetes.io/ip_address.eth1":                           "the default provider has no per-interface form",
		"ovn.kubernetes.io/ip_pool.eth9":                              "no per-interface form of ip_pool",
		"attachnet.default.ovn.kubernetes.io/ip_address.eth1":         "the per-interface form has no .ovn segment",
		"attachnet.default.kubernetes.io/ip_pool.eth1":                "no per-interface form of ip_pool",
		"attachnet.default.kubernetes.io/logical_switch.eth1":         "no per-interface form of logical_switch",
		"attachnet.default.kubernetes.io/allocated.eth1":              "no per-interface form of allocated",
		"attachnet.kubernetes.io/ip_address.eth1":                     "a NAD without a namespace",
		"attachnet.Default.kubernetes.io/ip_address.eth1":             "the namespace is no DNS label",
		"attachnet.default.kubernetes.io/ip_address.averylongname012": "longer than a Linux interface name",
		"attachnet.default.kubernetes.io/ip_address.eth:1":            "no ':' in an interface name",
		"attachnet.default.kubernetes.io/ip_address..":                "'.' is no interface name",
	} {
		if k, ok := ParseKey(bad); ok {
			t.Errorf("ParseKey(%q) = %+v, want no match: %s", bad, k, why)
		}
	}
}

func TestRequests(t *testing.T) {
	t.Parallel()
	rs := Requests(map[string]string{
		"b.ns.ovn.kubernetes.io/ip_address":   "10.1.0.5",
		"ovn.kubernetes.io/logical_switch":    "s1",
		"ovn.kubernetes.io/ip_address":        "10.16.0.5",
		"a.ns.kubernetes.io/mac_address.eth2": "00:00:00:00:00:02",
		"a.ns.kubernetes.io/ip_address.eth1":  "10.2.0.5",
		"ovn.kubernetes.io/ip_address.eth9":   "10.16.0.9", // not read by Kube-OVN
		"unrelated":                           "x",
	})
	if len(rs) != 4 {
		t.Fatalf("got %d requests: %+v", len(rs), rs)
	}
	if rs[0].Provider != "ovn" || rs[0].Interface != "" || rs[0].IPAddress != "10.16.0.5" || rs[0].LogicalSwitch != "s1" || rs[0].IPAddressKey != "ovn.kubernetes.io/ip_address" {
		t.Errorf("primary = %+v", rs[0])
	}
	if rs[1].Provider != "a.ns" || rs[1].Interface != "eth1" || rs[1].IPAddress != "10.2.0.5" || rs[2].Interface != "eth2" || rs[3].Provider != "b.ns.ovn" {
		t.Errorf("order = %+v", rs)
	}
	if !HasStatic(map[string]string{"x.y.ovn.kubernetes.io/ip_pool": "a"}) || HasStatic(map[string]string{"ovn.kubernetes.io/logical_switch": "a"}) ||
		HasStatic(map[string]string{"ovn.kubernetes.io/ip_address.eth1": "10.16.0.5"}) {
		t.Errorf("HasStatic")
	}
}

// TestPerInterfaceAllocated: the controller marks a per-interface request
// allocated on the network's provider key, never on the per-interface form.
func TestPerInterfaceAllocated(t *testing.T) {
	t.Parallel()
	const key = "net1.default.kubernetes.io/ip_address.eth1"
	for _, tc := range []struct {
		allocated string
		want      bool
	}{
		{"", false},
		{"net1.default.ovn.kubernetes.io/allocated", true},      // OVN NAD attached once
		{"net1.default.ovn.eth1.kubernetes.io/allocated", true}, // attached twice
		{"net1.default.kubernetes.io/allocated", true},          // IPAM-only NAD
		{"net1.default.ovn.eth2.kubernetes.io/allocated", false},
		{"net2.default.ovn.kubernetes.io/allocated", false},
	} {
		ann := map[string]string{key: "192.168.50.9"}
		if tc.allocated != "" {
			ann[tc.allocated] = "true"
		}
		for _, r := range Requests(ann) {
			if r.Interface == "eth1" && r.Allocated != tc.want {
				t.Errorf("with %q: allocated = %v, want %v", tc.allocated, r.Allocated, tc.want)
			}
		}
	}
}

func TestSubnetProviders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		provider, iface string
		want            []string
	}{
		{"ovn", "", []string{"ovn"}},
		{"net1.default.ovn", "", []string{"net1.default.ovn"}},
		{"net1.default", "eth1", []string{"net1.default.ovn", "net1.default"}},
		{"vm-overlay.default.ovn.net1", "", []string{"vm-overlay.default.ovn.net1", "vm-overlay.default.ovn"}},
		{"macvlan.kube-system", "", []string{"macvlan.kube-system"}},
		{"ovn.ovn.x", "", []string{"ovn.ovn.x"}}, // no NAD before ".ovn."
	} {
		if got := SubnetProviders(tc.provider, tc.iface); !slices.Equal(got, tc.want) {
			t.Errorf("SubnetProviders(%q, %q) = %v, want %v", tc.provider, tc.iface, got, tc.want)
		}
	}
}

// TestInterfaceLimit: a pod within MaxInterfaces is parsed; one over it is
// refused whole, whichever keys the map yields first.
func TestInterfaceLimit(t *testing.T) {
	t.Parallel()
	ann := func(n int) map[string]string {
		m := map[string]string{"ovn.kubernetes.io/ip_address": "10.16.0.5"}
		for i := 1; i < n; i++ {
			m[fmt.Sprintf("n%d.default.kubernetes.io/ip_address.eth1", i)] = "192.168.0.5"
		}
		return m
	}
	if rs, ok := Parse(ann(MaxInterfaces)); !ok || len(rs) != MaxInterfaces {
		t.Errorf("at the limit: %d requests, ok %v", len(rs), ok)
	}
	if rs, ok := Parse(ann(MaxInterfaces + 1)); ok || rs != nil {
		t.Errorf("over the limit: %d requests, ok %v", len(rs), ok)
	}
	if Requests(ann(MaxInterfaces+1)) != nil {
		t.Errorf("Requests over the limit is not nil")
	}
	// Keys Kube-OVN never reads do not count.
	m := ann(MaxInterfaces)
	for i := range 1000 {
		m[fmt.Sprintf("ovn.kubernetes.io/ip_address.e%d", i)] = "10.16.0.6"
	}
	if _, ok := Parse(m); !ok {
		t.Errorf("unread keys counted towards the limit")
	}
}

// TestParseIsLinear: doubling the keys at most doubles the work, counted
// in steps, not time: one pass over the keys and a sort bounded by
// MaxInterfaces, where a search over the requests per key was quadratic.
func TestParseIsLinear(t *testing.T) {
	t.Parallel()
	steps := func(n int, key func(i int) string) int {
		m := make(map[string]string, n)
		for i := range n {
			m[key(i)] = "10.16.0.5"
		}
		s := 0
		parse(m, &s)
		return s
	}
	shapes := map[string]func(i int) string{
		"unread suffixed keys":  func(i int) string { return fmt.Sprintf("ovn.kubernetes.io/ip_address.x%d", i) },
		"distinct interfaces":   func(i int) string { return fmt.Sprintf("n%d.default.kubernetes.io/ip_address.eth1", i) },
		"distinct providers":    func(i int) string { return fmt.Sprintf("p%d.default.ovn.kubernetes.io/ip_address", i) },
		"unrelated annotations": func(i int) string { return fmt.Sprintf("example.com/k%d", i) },
	}
	for name, key := range shapes {
		small, large := steps(5000, key), steps(10000, key)
		if large > 2*small+2*MaxInterfaces*MaxInterfaces {
			t.Errorf("%s: 5,000 keys cost %d steps, 10,000 cost %d", name, small, large)
		}
	}
}

func TestMigrationTarget(t *testing.T) {
	t.Parallel()
	job := map[string]string{MigrationJob: "m1"}
	if !MigrationTarget("vm1", job) {
		t.Errorf("a launcher pod with the annotation is no migration target")
	}
	if MigrationTarget("", job) {
		t.Errorf("the annotation alone made a migration target")
	}
	if MigrationTarget("vm1", nil) {
		t.Errorf("a launcher pod without the annotation made a migration target")
	}
}

// TestLauncherVM: only an owner reference to a kubevirt.io
// VirtualMachineInstance makes a pod a VM's, as in Kube-OVN's isVMPod; the
// vm.kubevirt.io/name label does not.
func TestLauncherVM(t *testing.T) {
	t.Parallel()
	yes := true
	for _, tc := range []struct {
		name string
		refs []metav1.OwnerReference
		want string
	}{
		{"vmi controller", []metav1.OwnerReference{{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachineInstance", Name: "vm1", Controller: &yes}}, "vm1"},
		{"vmi reference, not the controller", []metav1.OwnerReference{{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachineInstance", Name: "vm1"}}, ""},
		{"second owner", []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs"}, {APIVersion: "kubevirt.io/v1alpha3", Kind: "VirtualMachineInstance", Name: "vm2", Controller: &yes}}, "vm2"},
		{"other group", []metav1.OwnerReference{{APIVersion: "evil.io/v1", Kind: "VirtualMachineInstance", Name: "vm1"}}, ""},
		{"group prefix only", []metav1.OwnerReference{{APIVersion: "kubevirt.io.evil/v1", Kind: "VirtualMachineInstance", Name: "vm1"}}, ""},
		{"vm, not vmi", []metav1.OwnerReference{{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachine", Name: "vm1"}}, ""},
		{"none", nil, ""},
	} {
		if got := LauncherVM(tc.refs); got != tc.want {
			t.Errorf("%s: LauncherVM = %q, want %q", tc.name, got, tc.want)
		}
	}
	if OwnerKey("vm1", "") == OwnerKey("x", "vm1") {
		t.Errorf("a pod named vm1 and VM vm1 have the same owner key")
	}
	if got := DescribeOwner("ns", OwnerKey("x", "vm1")); got != "VM ns/vm1" {
		t.Errorf("DescribeOwner(vm) = %q", got)
	}
	if got := DescribeOwner("ns", OwnerKey("x", "")); got != "pod ns/x" {
		t.Errorf("DescribeOwner(pod) = %q", got)
	}
}

func TestIsLauncherOf(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("v", 60)
	for _, tc := range []struct {
		pod, vm string
		want    bool
	}{
		{"virt-launcher-vm1-x7k2p", "vm1", true},
		{"virt-launcher-vm1-2-x7k2p", "vm1", false}, // a launcher of vm1-2
		{"virt-launcher-vm1-2-x7k2p", "vm1-2", true},
		{"virt-launcher-vm1-abcde", "vm1", false}, // vowels are never generated
		{"virt-launcher-vm1-x7k2", "vm1", false},
		{"vm1", "vm1", false},
		{"virt-launcher-" + long[:44] + "x7k2p", long, true}, // generateName cut to 58 bytes
	} {
		if got := IsLauncherOf(tc.pod, tc.vm); got != tc.want {
			t.Errorf("IsLauncherOf(%q, %q) = %v, want %v", tc.pod, tc.vm, got, tc.want)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add("ovn.kubernetes.io/ip_address.eth0")
	f.Add("net1.default.kubernetes.io/ip_address.eth0")
	f.Add(".kubernetes.io/")
	f.Fuzz(func(t *testing.T, k string) {
		if key, ok := ParseKey(k); ok && key.String() != k {
			t.Fatalf("round trip %q -> %q", k, key.String())
		}
	})
}

// FuzzParse feeds arbitrary annotation keys (one per line) to Parse: it
// never panics, keeps its interface limit, every request's keys parse back
// to it, and its work is bounded by the number of keys plus a sort of at
// most MaxInterfaces requests.
func FuzzParse(f *testing.F) {
	f.Add("ovn.kubernetes.io/ip_address\nnet1.default.kubernetes.io/ip_address.eth1\nnet1.default.ovn.kubernetes.io/allocated")
	f.Add("ovn.kubernetes.io/ip_pool.eth9\nx.y.ovn.eth1.kubernetes.io/logical_switch")
	f.Fuzz(func(t *testing.T, keys string) {
		ann := map[string]string{}
		for k := range strings.SplitSeq(keys, "\n") {
			ann[k] = "10.16.0.5"
		}
		steps := 0
		reqs, ok := parse(ann, &steps)
		if steps > len(ann)+MaxInterfaces*MaxInterfaces {
			t.Fatalf("%d keys cost %d steps", len(ann), steps)
		}
		if !ok {
			if reqs != nil {
				t.Fatalf("over the limit with %d requests", len(reqs))
			}
			return
		}
		if len(reqs) > MaxInterfaces {
			t.Fatalf("%d requests", len(reqs))
		}
		for _, r := range reqs {
			for _, k := range []string{r.IPAddressKey, r.IPPoolKey, r.LogicalSwitchKey} {
				if k == "" {
					continue
				}
				if key, ok := ParseKey(k); !ok || key.Provider != r.Provider || key.Interface != r.Interface {
					t.Fatalf("key %q in request %+v", k, r)
				}
			}
		}
	})
}
