package diagnose

import (
	"encoding/json"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// tsSubnet builds a Subnet as the controller stores it: the gateway
// (default: the first address of each block) is spelled into excludeIps
// the way formatExcludeIPs does, unless the test passes its own list.
func tsSubnet(name, cidr string, mod ...func(*kubeovnv1.Subnet)) kubeovnv1.Subnet {
	s := kubeovnv1.Subnet{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), ResourceVersion: "7",
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))},
		Spec: kubeovnv1.SubnetSpec{CIDRBlock: cidr},
	}
	for _, m := range mod {
		m(&s)
	}
	return s
}

func withGateway(gw string) func(*kubeovnv1.Subnet) {
	return func(s *kubeovnv1.Subnet) {
		s.Spec.Gateway = gw
		s.Spec.ExcludeIps = append(s.Spec.ExcludeIps, strings.Split(gw, ",")...)
	}
}

func withExclude(e ...string) func(*kubeovnv1.Subnet) {
	return func(s *kubeovnv1.Subnet) { s.Spec.ExcludeIps = append(s.Spec.ExcludeIps, e...) }
}

func withStatus(st kubeovnv1.SubnetStatus) func(*kubeovnv1.Subnet) {
	return func(s *kubeovnv1.Subnet) { s.Status = st }
}

func tsIP(name, subnet, v4, v6 string) kubeovnv1.IP {
	addr := v4
	if v6 != "" {
		addr = strings.Trim(v4+","+v6, ",")
	}
	return kubeovnv1.IP{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)},
		Spec: kubeovnv1.IPSpec{Subnet: subnet, PodName: strings.Split(name, ".")[0], Namespace: "default",
			IPAddress: addr, V4IPAddress: v4, V6IPAddress: v6},
	}
}

// tsVip is a Vip as Kube-OVN labels one it allocated and no pod took:
// ip_reserved is empty.
func tsVip(name, subnet, v4 string) kubeovnv1.Vip {
	return kubeovnv1.Vip{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{ipReservedLabel: "", subnetNameLabel: subnet}},
		Spec:       kubeovnv1.VipSpec{Subnet: subnet},
		Status:     kubeovnv1.VipStatus{V4ip: v4},
	}
}

func tsRun(s *State) *Report {
	return Run(s, DefaultOptions(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)))
}

func tsFindings(r *Report, check string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

func tsRow(t *testing.T, r *Report, name string) SubnetRow {
	t.Helper()
	for _, row := range r.Subnets {
		if row.Name == name {
			return row
		}
	}
	t.Fatalf("no row for subnet %s in %+v", name, r.Subnets)
	return SubnetRow{}
}

// tsIPs makes n IP objects holding consecutive addresses from first.
func tsIPs(subnet, first string, n int) []kubeovnv1.IP {
	var out []kubeovnv1.IP
	a := netip.MustParseAddr(first)
	for i := 0; i < n; i++ {
		out = append(out, tsIP("p"+a.String()+"."+subnet, subnet, a.String(), ""))
		a = a.Next()
	}
	return out
}

func TestSubnetTable(t *testing.T) {
	t.Parallel()
	type fam struct {
		cidr                   string
		total, used, available uint64
	}
	tests := []struct {
		name   string
		subnet kubeovnv1.Subnet
		ips    []kubeovnv1.IP
		vips   []kubeovnv1.Vip
		want   []fam
		state  string
		usage  string // substring of the usage finding; "" for none
	}{
		{
			name:   "ipv4 healthy",
			subnet: tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1")),
			ips:    tsIPs("a", "10.0.0.2", 3),
			want:   []fam{{"10.0.0.0/24", 253, 3, 250}},
			state:  StateHealthy,
		},
		{
			name:   "gateway missing from spec is still not allocatable",
			subnet: tsSubnet("a", "10.0.0.0/24"),
			want:   []fam{{"10.0.0.0/24", 253, 0, 253}},
			state:  StateHealthy,
		},
		{
			name:   "small subnet critical",
			subnet: tsSubnet("a", "10.0.0.0/28", withGateway("10.0.0.1")),
			ips:    tsIPs("a", "10.0.0.2", 10),
			want:   []fam{{"10.0.0.0/28", 13, 10, 3}},
			state:  StateCritical,
			usage:  "subnet a (10.0.0.0/28) has 3 of 13 IPv4 addresses available",
		},
		{
			name:   "small subnet warning at half",
			subnet: tsSubnet("a", "10.0.0.0/28", withGateway("10.0.0.1")),
			ips:    tsIPs("a", "10.0.0.2", 7),
			want:   []fam{{"10.0.0.0/28", 13, 7, 6}},
			state:  StateWarning,
			usage:  "6 of 13 IPv4",
		},
		{
			name:   "small subnet below half used is healthy",
			subnet: tsSubnet("a", "10.0.0.0/28", withGateway("10.0.0.1")),
			ips:    tsIPs("a", "10.0.0.2", 6),
			want:   []fam{{"10.0.0.0/28", 13, 6, 7}},
			state:  StateHealthy,
		},
		{
			name:   "tiny empty subnet is healthy",
			subnet: tsSubnet("a", "10.0.0.0/29", withGateway("10.0.0.1")),
			want:   []fam{{"10.0.0.0/29", 5, 0, 5}},
			state:  StateHealthy,
		},
		{
			name:   "tiny full subnet is critical",
			subnet: tsSubnet("a", "10.0.0.0/30", withGateway("10.0.0.1")),
			ips:    tsIPs("a", "10.0.0.2", 1),
			want:   []fam{{"10.0.0.0/30", 1, 1, 0}},
			state:  StateCritical,
			usage:  "0 of 1 IPv4",
		},
		{
			name:   "runbook thresholds on a /24",
			subnet: tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1")),
			ips:    tsIPs("a", "10.0.0.2", 243),
			want:   []fam{{"10.0.0.0/24", 253, 243, 10}},
			state:  StateWarning,
			usage:  "10 of 253 IPv4",
		},
		{
			name:   "everything excluded: static addresses only, not judged",
			subnet: tsSubnet("a", "10.0.0.0/28", withGateway("10.0.0.1"), withExclude("10.0.0.2..10.0.0.14")),
			ips:    tsIPs("a", "10.0.0.2", 3),
			want:   []fam{{"10.0.0.0/28", 0, 0, 0}},
			state:  StateHealthy,
		},
		{
			name:   "exclude range, static address inside it not used, outside and duplicate counted once",
			subnet: tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withExclude("10.0.0.10..10.0.0.19", "10.0.1.5")),
			ips: []kubeovnv1.IP{
				tsIP("static.default", "a", "10.0.0.15", ""),
				tsIP("p1.default", "a", "10.0.0.50", ""),
				tsIP("p2.default", "a", "10.0.0.50", ""),  // duplicate address
				tsIP("p3.default", "a", "10.0.9.9", ""),   // outside the block
				tsIP("p4.default", "b", "10.0.0.60", ""),  // another subnet
				tsIP("gw.default", "a", "10.0.0.1", ""),   // the gateway
				tsIP("bc.default", "a", "10.0.0.255", ""), // broadcast
			},
			want:  []fam{{"10.0.0.0/24", 243, 1, 242}},
			state: StateHealthy,
		},
		{
			name:   "dual stack counts each family's addresses",
			subnet: tsSubnet("d", "10.0.0.0/24,fd00::/120", withGateway("10.0.0.1,fd00::1")),
			ips: []kubeovnv1.IP{
				tsIP("p1.default", "d", "10.0.0.2", "fd00::2"),
				tsIP("p2.default", "d", "10.0.0.3", ""),
			},
			want:  []fam{{"10.0.0.0/24", 253, 2, 251}, {"fd00::/120", 253, 1, 252}},
			state: StateHealthy,
		},
		{
			name:   "dual stack, the low family decides",
			subnet: tsSubnet("d", "10.0.0.0/24,fd00::/124", withGateway("10.0.0.1,fd00::1")),
			ips: func() []kubeovnv1.IP {
				var out []kubeovnv1.IP
				for i, a := range []string{"fd00::2", "fd00::3", "fd00::4", "fd00::5", "fd00::6", "fd00::7", "fd00::8", "fd00::9", "fd00::a", "fd00::b", "fd00::c"} {
					out = append(out, tsIP("p"+string(rune('a'+i))+".default", "d", "", a))
				}
				return out
			}(),
			want:  []fam{{"10.0.0.0/24", 253, 0, 253}, {"fd00::/124", 13, 11, 2}},
			state: StateCritical,
			usage: "2 of 13 IPv6",
		},
		{
			name:   "vips hold addresses",
			subnet: tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1")),
			ips:    tsIPs("a", "10.0.0.2", 1),
			vips:   []kubeovnv1.Vip{tsVip("v1", "a", "10.0.0.100"), tsVip("v2", "a", ""), tsVip("v3", "other", "10.0.0.101")},
			want:   []fam{{"10.0.0.0/24", 253, 2, 251}},
			state:  StateHealthy,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tsRun(&State{Subnets: []kubeovnv1.Subnet{tt.subnet}, IPs: tt.ips, Vips: tt.vips})
			row := tsRow(t, r, tt.subnet.Name)
			if row.State != tt.state {
				t.Errorf("state = %s, want %s", row.State, tt.state)
			}
			if row.Vpc != "ovn-cluster" {
				t.Errorf("vpc = %q, want the default vpc", row.Vpc)
			}
			if len(row.Families) != len(tt.want) {
				t.Fatalf("families = %+v, want %+v", row.Families, tt.want)
			}
			for i, w := range tt.want {
				g := row.Families[i]
				if g.CIDR != w.cidr || g.Total != w.total || g.Used != w.used || g.Available != w.available {
					t.Errorf("family %d = %s %d/%d/%d, want %s %d/%d/%d", i, g.CIDR, g.Total, g.Used, g.Available, w.cidr, w.total, w.used, w.available)
				}
			}
			usage := tsFindings(r, CheckSubnetUsage)
			switch {
			case tt.usage == "" && len(usage) > 0:
				t.Errorf("unexpected usage finding %+v", usage)
			case tt.usage != "" && len(usage) != 1:
				t.Errorf("usage findings = %+v, want one", usage)
			case tt.usage != "":
				f := usage[0]
				if !strings.Contains(f.Message, tt.usage) {
					t.Errorf("message %q does not contain %q", f.Message, tt.usage)
				}
				if string(f.Severity) != tt.state || f.Subnet != tt.subnet.Name || len(f.Objects) != 1 || f.Objects[0].Kind != "Subnet" || f.Objects[0].UID == "" {
					t.Errorf("finding = %+v", f)
				}
				if !strings.Contains(f.Hint, "cidrBlock") || !strings.Contains(f.Hint, "excludeIps") || !strings.Contains(f.Hint, "namespaces") {
					t.Errorf("hint %q does not name the options", f.Hint)
				}
			}
		})
	}
}

func TestSubnetTableSortedAndCustomVPC(t *testing.T) {
	t.Parallel()
	r := tsRun(&State{Subnets: []kubeovnv1.Subnet{
		tsSubnet("zeta", "10.1.0.0/24"),
		tsSubnet("alpha", "10.2.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "tenant" }),
		tsSubnet("broken", "not-a-cidr"),
		tsSubnet("macvlan", "10.3.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Provider = "macvlan.default" }),
	}})
	var names []string
	for _, row := range r.Subnets {
		names = append(names, row.Name)
	}
	if strings.Join(names, ",") != "alpha,broken,macvlan,zeta" {
		t.Errorf("rows = %v, want sorted by name", names)
	}
	if r.Subnets[0].Vpc != "tenant" || r.Subnets[2].Vpc != "" || r.Subnets[3].Vpc != "ovn-cluster" {
		t.Errorf("vpcs = %q %q %q", r.Subnets[0].Vpc, r.Subnets[2].Vpc, r.Subnets[3].Vpc)
	}
	if r.Subnets[2].Families[0].Total != 253 {
		t.Errorf("a non-OVN subnet is counted too (Kube-OVN's IPAM serves it): %+v", r.Subnets[2])
	}
	if len(r.Subnets[1].Families) != 0 || r.Subnets[1].State != StateHealthy || len(r.Findings) != 0 {
		t.Errorf("unreadable cidrBlock: row %+v, findings %+v", r.Subnets[1], r.Findings)
	}
}

// fresh is the status kube-ovn-controller writes for tsSubnet("a",
// "10.0.0.0/24", gateway 10.0.0.1) with IP objects on 10.0.0.2-10.0.0.4.
func fresh() kubeovnv1.SubnetStatus {
	return kubeovnv1.SubnetStatus{V4UsingIPs: 3, V4AvailableIPs: 250, V4UsingIPRange: "10.0.0.2-10.0.0.4", V4AvailableIPRange: "10.0.0.5-10.0.0.254"}
}

func TestSubnetStatus(t *testing.T) {
	t.Parallel()
	mod := func(f func(*kubeovnv1.SubnetStatus)) kubeovnv1.SubnetStatus {
		st := fresh()
		f(&st)
		return st
	}
	tests := []struct {
		name     string
		subnet   kubeovnv1.Subnet
		ips      []kubeovnv1.IP
		vips     []kubeovnv1.Vip
		eips     []Meta
		gaps     []Gap
		severity Severity // "" for no finding
		message  []string
		stored   [2]float64
	}{
		{name: "fresh", subnet: tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(fresh())), ips: tsIPs("a", "10.0.0.2", 3)},
		{
			name:   "range strings differing from the computed ones are not judged",
			subnet: tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(mod(func(s *kubeovnv1.SubnetStatus) { s.V4UsingIPRange = "10.0.0.2" }))),
			ips:    tsIPs("a", "10.0.0.2", 3),
		},
		{
			name:     "stale",
			subnet:   tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(mod(func(s *kubeovnv1.SubnetStatus) { s.V4UsingIPs, s.V4AvailableIPs = 5, 248 }))),
			ips:      tsIPs("a", "10.0.0.2", 3),
			severity: Warning,
			message:  []string{"status is stale", "IPv4 5 in use and 248 available where Kube-OVN counts 3 and 250", "from 3 IP objects and 0 Vips"},
			stored:   [2]float64{5, 248},
		},
		{
			name:     "stored zero while in use: webhook would allow deletion",
			subnet:   tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(kubeovnv1.SubnetStatus{V4AvailableIPs: 253, V4AvailableIPRange: "10.0.0.2-10.0.0.254"})),
			ips:      tsIPs("a", "10.0.0.2", 3),
			severity: Warning,
			message:  []string{"lets the subnet be deleted"},
			stored:   [2]float64{0, 253},
		},
		{
			name:     "stored none available while some are: kube-ovn skips the subnet",
			subnet:   tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(mod(func(s *kubeovnv1.SubnetStatus) { s.V4AvailableIPs = 0 }))),
			ips:      tsIPs("a", "10.0.0.2", 3),
			severity: Warning,
			message:  []string{"Kube-OVN skips the subnet when it picks one"},
			stored:   [2]float64{3, 0},
		},
		{
			name:     "entirely empty status with IP objects is stale",
			subnet:   tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1")),
			ips:      tsIPs("a", "10.0.0.2", 3),
			severity: Warning,
			stored:   [2]float64{0, 0},
		},
		{name: "entirely empty status, nothing held: not reconciled yet", subnet: tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"))},
		{
			name:     "using above the block",
			subnet:   tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(mod(func(s *kubeovnv1.SubnetStatus) { s.V4UsingIPs, s.V4AvailableIPs = 300, 0 }))),
			ips:      tsIPs("a", "10.0.0.2", 3),
			severity: Critical,
			message:  []string{"is impossible", "more in use than the block's 254 addresses"},
			stored:   [2]float64{300, 0},
		},
		{
			name:     "negative",
			subnet:   tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(mod(func(s *kubeovnv1.SubnetStatus) { s.V4AvailableIPs = -2 }))),
			ips:      tsIPs("a", "10.0.0.2", 3),
			severity: Critical,
			message:  []string{"a negative counter"},
			stored:   [2]float64{3, -2},
		},
		{
			name:     "fractional",
			subnet:   tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(mod(func(s *kubeovnv1.SubnetStatus) { s.V4UsingIPs = 2.5 }))),
			ips:      tsIPs("a", "10.0.0.2", 3),
			severity: Critical,
			message:  []string{"a fractional counter"},
		},
		{
			name:     "available plus using above total",
			subnet:   tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(mod(func(s *kubeovnv1.SubnetStatus) { s.V4AvailableIPs = 253 }))),
			ips:      tsIPs("a", "10.0.0.2", 3),
			severity: Critical,
			message:  []string{"more than the 253 allocatable addresses"},
		},
		{
			name:     "in use while the range is empty",
			subnet:   tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(mod(func(s *kubeovnv1.SubnetStatus) { s.V4UsingIPs, s.V4AvailableIPs, s.V4UsingIPRange = 4, 249, "" }))),
			ips:      tsIPs("a", "10.0.0.2", 3),
			severity: Critical,
			message:  []string{"addresses in use while the using range is empty"},
		},
		{
			name:     "counters right but the range empty",
			subnet:   tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(mod(func(s *kubeovnv1.SubnetStatus) { s.V4UsingIPRange = "" }))),
			ips:      tsIPs("a", "10.0.0.2", 3),
			severity: Critical,
			message:  []string{"addresses in use while the using range is empty"},
		},
		{
			name:     "counters for a family the subnet lacks",
			subnet:   tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(mod(func(s *kubeovnv1.SubnetStatus) { s.V6UsingIPs = 3 }))),
			ips:      tsIPs("a", "10.0.0.2", 3),
			severity: Critical,
			message:  []string{"IPv6: status for a family the subnet has no block of"},
		},
		{
			name: "kube-ovn's own approximations are not flagged: duplicates, outside the block, one family of two, excluded static",
			subnet: tsSubnet("d", "10.0.0.0/24,fd00::/120", withGateway("10.0.0.1,fd00::1"), withExclude("10.0.0.10..10.0.0.19"), withStatus(kubeovnv1.SubnetStatus{
				V4UsingIPs: 4, V4AvailableIPs: 239, V4UsingIPRange: "10.0.0.2-10.0.0.3",
				V6UsingIPs: 4, V6AvailableIPs: 249, V6UsingIPRange: "fd00::2",
			})),
			ips: []kubeovnv1.IP{
				tsIP("p1.default", "d", "10.0.0.2", "fd00::2"),
				tsIP("p2.default", "d", "10.0.0.3", ""),
				tsIP("p3.default", "d", "10.0.0.3", ""),
				tsIP("p4.default", "d", "10.9.0.3", ""),
				tsIP("static.default", "d", "10.0.0.15", ""),
			},
		},
		{
			name:   "vips count",
			subnet: tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(kubeovnv1.SubnetStatus{V4UsingIPs: 2, V4AvailableIPs: 251, V4UsingIPRange: "10.0.0.2,10.0.0.100"})),
			ips:    tsIPs("a", "10.0.0.2", 1),
			vips:   []kubeovnv1.Vip{tsVip("v1", "a", "10.0.0.100"), tsVip("pending", "a", "")},
		},
		{
			name:   "a vip a pod took is the pod's IP object's, not counted twice",
			subnet: tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(kubeovnv1.SubnetStatus{V4UsingIPs: 1, V4AvailableIPs: 252, V4UsingIPRange: "10.0.0.2"})),
			ips:    tsIPs("a", "10.0.0.2", 1),
			vips: []kubeovnv1.Vip{func() kubeovnv1.Vip {
				v := tsVip("taken", "a", "10.0.0.2")
				v.Labels[ipReservedLabel] = "p0.default"
				return v
			}()},
		},
		{
			name:   "eips labelled with the subnet count, as the controller counts them",
			subnet: tsSubnet("ext", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(kubeovnv1.SubnetStatus{V4UsingIPs: 3, V4AvailableIPs: 250, V4UsingIPRange: "10.0.0.2"})),
			ips:    tsIPs("ext", "10.0.0.2", 1),
			eips: []Meta{
				{Name: "eip-1", Labels: map[string]string{subnetNameLabel: "ext"}},
				{Name: "eip-2", Labels: map[string]string{subnetNameLabel: "ext"}},
				{Name: "eip-other", Labels: map[string]string{subnetNameLabel: "other"}},
			},
		},
		{
			name:   "a partial list of IP objects judges no status",
			subnet: tsSubnet("a", "10.0.0.0/24", withGateway("10.0.0.1"), withStatus(mod(func(s *kubeovnv1.SubnetStatus) { s.V4UsingIPs, s.V4AvailableIPs = 5, 248 }))),
			ips:    tsIPs("a", "10.0.0.2", 3),
			gaps:   []Gap{{Resource: "ips.kubeovn.io", Reason: "timed out"}},
		},
		{
			name: "ipv6 /64 written as float",
			subnet: tsSubnet("six", "fd00::/64", withGateway("fd00::1"), withStatus(kubeovnv1.SubnetStatus{
				V6UsingIPs: 1, V6AvailableIPs: 1.8446744073709552e+19, V6UsingIPRange: "fd00::2",
			})),
			ips: []kubeovnv1.IP{tsIP("p1.default", "six", "", "fd00::2")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tsRun(&State{Subnets: []kubeovnv1.Subnet{tt.subnet}, IPs: tt.ips, Vips: tt.vips, EIPs: tt.eips, Incomplete: tt.gaps})
			got := tsFindings(r, CheckSubnetStatus)
			if tt.severity == "" {
				if len(got) != 0 {
					t.Fatalf("unexpected findings %+v", got)
				}
				for _, fu := range r.Subnets[0].Families {
					if fu.StoredUsing != nil || fu.StoredAvailable != nil {
						t.Errorf("stored status shown while it agrees: %+v", fu)
					}
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("findings = %+v, want one", got)
			}
			f := got[0]
			if f.Severity != tt.severity || f.Subnet != tt.subnet.Name || len(f.Fix) != 1 || !strings.Contains(f.Hint, "restarting kube-ovn-controller") {
				t.Errorf("finding = %+v", f)
			}
			for _, m := range tt.message {
				if !strings.Contains(f.Message, m) {
					t.Errorf("message %q does not contain %q", f.Message, m)
				}
			}
			if !strings.HasPrefix(f.Fix[0], "kubectl patch subnet "+tt.subnet.Name+" --subresource=status --type=merge -p '") {
				t.Errorf("fix = %s", f.Fix[0])
			}
			fu := r.Subnets[0].Families[0]
			if tt.stored != [2]float64{} && (fu.StoredUsing == nil || fu.StoredAvailable == nil || *fu.StoredUsing != tt.stored[0] || *fu.StoredAvailable != tt.stored[1]) {
				t.Errorf("stored = %v/%v, want %v", fu.StoredUsing, fu.StoredAvailable, tt.stored)
			}
		})
	}
}

// patchBody returns the status the printed fix writes, parsed back.
func patchBody(t *testing.T, cmd string) map[string]any {
	t.Helper()
	i := strings.Index(cmd, " -p '")
	if i < 0 || !strings.HasSuffix(cmd, "'") {
		t.Fatalf("no quoted patch in %s", cmd)
	}
	raw := strings.ReplaceAll(cmd[i+5:len(cmd)-1], `'\''`, `'`)
	var body map[string]any
	if err := json.Unmarshal([]byte(raw), &body); err != nil {
		t.Fatalf("patch %s: %v", raw, err)
	}
	return body
}

func TestSubnetStatusFixWritesWhatClearsTheFinding(t *testing.T) {
	t.Parallel()
	sub := tsSubnet("d", "10.0.0.0/24,fd00::/120", withGateway("10.0.0.1,fd00::1"), withExclude("10.0.0.10..10.0.0.19"),
		withStatus(kubeovnv1.SubnetStatus{V4UsingIPs: 9, V4UsingIPRange: ""}))
	ips := []kubeovnv1.IP{
		tsIP("p1.default", "d", "10.0.0.2", "fd00::2"),
		tsIP("p2.default", "d", "10.0.0.3", "fd00::3"),
		tsIP("p3.default", "d", "10.0.0.20", "fd00::5"),
		tsIP("static.default", "d", "10.0.0.15", "fd00::6"),
	}
	r := tsRun(&State{Subnets: []kubeovnv1.Subnet{sub}, IPs: ips, Vips: []kubeovnv1.Vip{tsVip("v", "d", "10.0.0.30")}})
	got := tsFindings(r, CheckSubnetStatus)
	if len(got) != 1 || got[0].Severity != Critical {
		t.Fatalf("findings = %+v", got)
	}
	body := patchBody(t, got[0].Fix[0])
	if md, _ := body["metadata"].(map[string]any); md["resourceVersion"] != "7" {
		t.Errorf("no resourceVersion precondition: %v", body)
	}
	st, _ := json.Marshal(body["status"])
	want := `{"v4availableIPrange":"10.0.0.4-10.0.0.9,10.0.0.21-10.0.0.29,10.0.0.31-10.0.0.254","v4availableIPs":239,` +
		`"v4usingIPrange":"10.0.0.2-10.0.0.3,10.0.0.20,10.0.0.30","v4usingIPs":4,` +
		`"v6availableIPrange":"fd00::4,fd00::7-fd00::fe","v6availableIPs":249,"v6usingIPrange":"fd00::2-fd00::3,fd00::5-fd00::6","v6usingIPs":4}`
	if string(st) != want {
		t.Errorf("status patch\n got %s\nwant %s", st, want)
	}
	// Applying the patch clears the finding.
	var patched kubeovnv1.SubnetStatus
	if err := json.Unmarshal(st, &patched); err != nil {
		t.Fatal(err)
	}
	sub.Status = patched
	r = tsRun(&State{Subnets: []kubeovnv1.Subnet{sub}, IPs: ips, Vips: []kubeovnv1.Vip{tsVip("v", "d", "10.0.0.30")}})
	if got := tsFindings(r, CheckSubnetStatus); len(got) != 0 {
		t.Errorf("after the fix: %+v", got)
	}
}

func TestSubnetStatusPatchCommand(t *testing.T) {
	t.Parallel()
	ref := ObjectRef{Name: "it's", ResourceVersion: "42"}
	got := StatusPatchCommand(ref, SubnetCounters{V4Using: big.NewInt(3), V4Available: big.NewInt(250)})
	want := `kubectl patch subnet 'it'\''s' --subresource=status --type=merge -p '{"metadata":{"resourceVersion":"42"},"status":{"v4availableIPs":250,"v4usingIPs":3,"v6availableIPs":0,"v6usingIPs":0}}'`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	huge, _ := new(big.Int).SetString("1208925819614629174706174", 10) // a /48's worth
	got = StatusPatchCommand(ObjectRef{Name: "six"}, SubnetCounters{V6Available: huge, Ranges: &SubnetRanges{V6Available: "fd00::2-fd00::ffff"}})
	if strings.Contains(got, "metadata") || !strings.Contains(got, `"v6availableIPs":1208925819614629174706174`) || !strings.Contains(got, `"v4usingIPrange":""`) {
		t.Errorf("got %s", got)
	}
}
