package annotations

import (
	"testing"
)

func TestParseKey(t *testing.T) {
	t.Parallel()
	cases := map[string]Key{
		"ovn.kubernetes.io/ip_address":                        {Provider: "ovn", Name: IPAddress},
		"ovn.kubernetes.io/ip_pool":                           {Provider: "ovn", Name: IPPool},
		"attachnet.default.ovn.kubernetes.io/ip_address":      {Provider: "attachnet.default.ovn", Name: IPAddress},
		"attachnet.default.ovn.kubernetes.io/ip_address.eth1": {Provider: "attachnet.default.ovn", Name: IPAddress, Interface: "eth1"},
		"macvlan.kube-system.kubernetes.io/logical_switch":    {Provider: "macvlan.kube-system", Name: LogicalSwitch},
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
	for _, bad := range []string{"ovn.kubernetes.io/cidr", "kubernetes.io/ip_address", "ovn.kubernetes.io/ip_address.", "example.com/ovn.kubernetes.io/ip_address", "k8s.v1.cni.cncf.io/networks", "ovn.kubernetes.io/ip_addresses"} {
		if k, ok := ParseKey(bad); ok {
			t.Errorf("ParseKey(%q) = %+v, want no match", bad, k)
		}
	}
}

func TestRequests(t *testing.T) {
	t.Parallel()
	rs := Requests(map[string]string{
		"b.ns.ovn.kubernetes.io/ip_address":      "10.1.0.5",
		"ovn.kubernetes.io/logical_switch":       "s1",
		"ovn.kubernetes.io/ip_address":           "10.16.0.5",
		"a.ns.ovn.kubernetes.io/ip_pool.eth2":    "p",
		"a.ns.ovn.kubernetes.io/ip_address.eth1": "10.2.0.5",
		"unrelated":                              "x",
	})
	if len(rs) != 4 {
		t.Fatalf("got %d requests: %+v", len(rs), rs)
	}
	if rs[0].Provider != "ovn" || rs[0].IPAddress != "10.16.0.5" || rs[0].LogicalSwitch != "s1" || rs[0].IPAddressKey != "ovn.kubernetes.io/ip_address" {
		t.Errorf("primary = %+v", rs[0])
	}
	if rs[1].Provider != "a.ns.ovn" || rs[1].Interface != "eth1" || rs[2].Interface != "eth2" || rs[2].IPPool != "p" || rs[3].Provider != "b.ns.ovn" {
		t.Errorf("order = %+v", rs)
	}
	if !HasStatic(map[string]string{"x.y.ovn.kubernetes.io/ip_pool": "a"}) || HasStatic(map[string]string{"ovn.kubernetes.io/logical_switch": "a"}) {
		t.Errorf("HasStatic")
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add("ovn.kubernetes.io/ip_address.eth0")
	f.Add(".kubernetes.io/")
	f.Fuzz(func(t *testing.T, k string) {
		if key, ok := ParseKey(k); ok && key.String() != k {
			t.Fatalf("round trip %q -> %q", k, key.String())
		}
	})
}
