package plant

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

func TestSubnetStatusCountsAsKubeOVN(t *testing.T) {
	t.Parallel()
	sub := func(cidr, gw string, excl ...string) *kubeovnv1.Subnet {
		return &kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: kubeovnv1.SubnetSpec{CIDRBlock: cidr, Gateway: gw, ExcludeIps: excl}}
	}
	ip := func(subnet, addr string) kubeovnv1.IP {
		return kubeovnv1.IP{Spec: kubeovnv1.IPSpec{Subnet: subnet, IPAddress: addr, V4IPAddress: addr}}
	}
	tests := []struct {
		name                     string
		sub                      *kubeovnv1.Subnet
		ips                      []kubeovnv1.IP
		using, available         kubeovnv1.Count
		usingRange, availableRng string
	}{
		{"empty /28", sub("10.80.5.0/28", "10.80.5.1"), nil, 0, 13, "", "10.80.5.2-10.80.5.14"},
		{"full: one allocatable address, taken", sub("10.80.6.0/29", "10.80.6.1", "10.80.6.2..10.80.6.5"),
			[]kubeovnv1.IP{ip("s", "10.80.6.6"), ip("other", "10.80.6.3")}, 1, 0, "10.80.6.6", ""},
		// Two IP objects on one address count twice in usingIPs, once in
		// the range; an object in a non-gateway exclude is not using.
		{"duplicate and excluded", sub("10.80.2.0/29", "10.80.2.1", "10.80.2.6"),
			[]kubeovnv1.IP{ip("s", "10.80.2.5"), ip("s", "10.80.2.5"), ip("s", "10.80.2.6"), ip("s", "10.80.2.3")}, 3, 1, "10.80.2.3,10.80.2.5", "10.80.2.2,10.80.2.4"},
	}
	for _, tc := range tests {
		st := subnetStatus(tc.sub, tc.ips)
		if st.V4UsingIPs != tc.using || st.V4AvailableIPs != tc.available || st.V4UsingIPRange != tc.usingRange || st.V4AvailableIPRange != tc.availableRng {
			t.Errorf("%s: using %v %q, available %v %q; want %v %q, %v %q", tc.name,
				st.V4UsingIPs, st.V4UsingIPRange, st.V4AvailableIPs, st.V4AvailableIPRange,
				tc.using, tc.usingRange, tc.available, tc.availableRng)
		}
	}
}

func TestExpectNamesEachFindingOnce(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	fixes := 0
	for _, e := range (Planted{}).Expect() {
		if seen[e.ID] {
			t.Errorf("%s twice", e.ID)
		}
		seen[e.ID] = true
		if e.Fix {
			fixes++
		}
	}
	if len(seen) != 15 || fixes != 6 {
		t.Errorf("%d findings, %d with a fix; want 15 and 6", len(seen), fixes)
	}
}
