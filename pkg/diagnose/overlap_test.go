package diagnose

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

func inVPC(vpc string) func(*kubeovnv1.Subnet) {
	return func(s *kubeovnv1.Subnet) { s.Spec.Vpc = vpc }
}

func onVLAN(vlan string) func(*kubeovnv1.Subnet) {
	return func(s *kubeovnv1.Subnet) { s.Spec.Vlan = vlan }
}

func createdAt(day int) func(*kubeovnv1.Subnet) {
	return func(s *kubeovnv1.Subnet) {
		s.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, day, 0, 0, 0, 0, time.UTC))
	}
}

func tsNode(name string, ips ...string) Node {
	return Node{Meta: Meta{Name: name, UID: "uid-" + name, ResourceVersion: "3"}, InternalIPs: ips}
}

// overlapIDs returns the IDs of the overlap findings, sorted.
func overlapIDs(r *Report) []string {
	var ids []string
	for _, f := range tsFindings(r, CheckOverlap) {
		ids = append(ids, f.ID)
	}
	slices.Sort(ids)
	return ids
}

func TestOverlap(t *testing.T) {
	t.Parallel()
	join := tsSubnet("join", "100.64.0.0/16", inVPC("ovn-cluster"), withGateway("100.64.0.1"))
	def := tsSubnet("ovn-default", "10.16.0.0/16", inVPC("ovn-cluster"), withGateway("10.16.0.1"))
	tests := []struct {
		name     string
		subnets  []kubeovnv1.Subnet
		vpcs     []kubeovnv1.Vpc
		nodes    []Node
		ips      []kubeovnv1.IP
		services []netip.Prefix
		want     []string
		// says and never are substrings the message of the finding with
		// that ID must and must not hold.
		says, never map[string]string
	}{
		{
			name: "healthy cluster",
			subnets: []kubeovnv1.Subnet{join, def,
				tsSubnet("tenant-a", "10.16.0.0/16", inVPC("tenant")), // another vpc may reuse space
				tsSubnet("app", "10.17.0.0/16,fd00:17::/64"),
				tsSubnet("underlay", "172.18.0.0/16", onVLAN("vlan10")), // shares the node network by design
				tsSubnet("macvlan", "10.16.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Provider = "macvlan.default" }),
			},
			nodes: []Node{tsNode("n1", "172.18.0.2"), tsNode("n2", "172.18.0.3", "fc00::3")},
			ips: []kubeovnv1.IP{
				func() kubeovnv1.IP { ip := tsIP("node-n1", "join", "100.64.0.2", ""); ip.Spec.PodName = ""; return ip }(),
			},
			services: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")},
		},
		{
			name:    "nested in the default vpc, empty vpc is the default vpc",
			subnets: []kubeovnv1.Subnet{tsSubnet("big", "10.0.0.0/8", createdAt(1)), tsSubnet("small", "10.1.0.0/24", createdAt(5), inVPC("ovn-cluster"))},
			want:    []string{"overlap/Subnet/small/Subnet/big"},
		},
		{
			name:    "same cidr in one custom vpc, newer by timestamp named first",
			subnets: []kubeovnv1.Subnet{tsSubnet("b-new", "192.168.0.0/24", inVPC("t"), createdAt(9)), tsSubnet("a-old", "192.168.0.0/24", inVPC("t"), createdAt(2))},
			want:    []string{"overlap/Subnet/b-new/Subnet/a-old"},
		},
		{
			name:    "same vlan overlaps, other vlan does not",
			subnets: []kubeovnv1.Subnet{tsSubnet("u1", "172.20.0.0/16", onVLAN("v1"), createdAt(1)), tsSubnet("u2", "172.20.1.0/24", onVLAN("v1"), createdAt(2)), tsSubnet("u3", "172.20.0.0/16", onVLAN("v2"))},
			want:    []string{"overlap/Subnet/u2/Subnet/u1"},
		},
		{
			name: "dual stack overlapping in both families is one overlap",
			subnets: []kubeovnv1.Subnet{
				tsSubnet("d1", "10.5.0.0/16,fd00:5::/64", createdAt(1)),
				tsSubnet("d2", "10.5.3.0/24,fd00:5::/80", createdAt(2)),
				tsSubnet("d3", "10.6.0.0/16,fd00:5::/96", createdAt(3)), // v6 only, inside both
			},
			want: []string{"overlap/Subnet/d2/Subnet/d1", "overlap/Subnet/d3/Subnet/d1", "overlap/Subnet/d3/Subnet/d2"},
		},
		{
			name:     "service cidr in the default vpc only",
			subnets:  []kubeovnv1.Subnet{tsSubnet("svc", "10.100.0.0/16"), tsSubnet("svc-tenant", "10.100.0.0/16", inVPC("t")), tsSubnet("svc-under", "10.101.0.0/16", onVLAN("v"))},
			services: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("fd00:96::/108")},
			want:     []string{"overlap/Subnet/svc-under/service/10.96.0.0/12", "overlap/Subnet/svc/service/10.96.0.0/12"},
		},
		{
			name: "node addresses in overlay subnets of the default vpc",
			subnets: []kubeovnv1.Subnet{
				tsSubnet("nodes", "172.18.0.0/16"),
				tsSubnet("excl", "192.168.5.0/24", withGateway("192.168.5.1"), withExclude("192.168.5.10..192.168.5.20")),
				tsSubnet("tenant", "172.19.0.0/16", inVPC("t")),
				join,
			},
			nodes: []Node{
				tsNode("n1", "172.18.0.2"), tsNode("n2", "172.18.0.3"),
				tsNode("n3", "192.168.5.15"),   // excluded, still routed by the subnet: as the webhook judges it
				tsNode("n4", "172.19.0.4"),     // custom vpc: fine
				tsNode("n5", "100.64.0.5"),     // its own join address
				tsNode("n6", "100.64.0.9"),     // in the join cidr, but not its own: #3627
				tsNode("n7", "not an address"), // ignored
			},
			ips: []kubeovnv1.IP{
				func() kubeovnv1.IP { ip := tsIP("node-n5", "join", "100.64.0.5", ""); ip.Spec.PodName = ""; return ip }(),
				func() kubeovnv1.IP { ip := tsIP("node-n1", "join", "100.64.0.9", ""); ip.Spec.PodName = ""; return ip }(),
			},
			want:  []string{"overlap/Subnet/excl/nodes", "overlap/Subnet/join/nodes", "overlap/Subnet/nodes/nodes"},
			says:  map[string]string{"overlap/Subnet/join/nodes": "1 node: n6 (100.64.0.9)", "overlap/Subnet/nodes/nodes": "2 nodes: n1 (172.18.0.2), n2 (172.18.0.3);"},
			never: map[string]string{"overlap/Subnet/join/nodes": "n5"},
		},
		{
			name:    "default vpc named by the Vpc status",
			vpcs:    []kubeovnv1.Vpc{{ObjectMeta: metav1.ObjectMeta{Name: "main"}, Status: kubeovnv1.VpcStatus{Default: true}}},
			subnets: []kubeovnv1.Subnet{tsSubnet("x", "10.9.0.0/16"), tsSubnet("y", "10.9.0.0/24", inVPC("main"), createdAt(3)), tsSubnet("z", "10.9.0.0/16", inVPC("ovn-cluster"))},
			nodes:   []Node{tsNode("n1", "10.9.200.1")},
			want:    []string{"overlap/Subnet/x/nodes", "overlap/Subnet/y/Subnet/x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tsRun(&State{Subnets: tt.subnets, Vpcs: tt.vpcs, Nodes: tt.nodes, IPs: tt.ips, ServiceCIDRs: tt.services})
			got := overlapIDs(r)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("overlaps = %v, want %v", got, want)
			}
			for _, f := range tsFindings(r, CheckOverlap) {
				if m, ok := tt.says[f.ID]; ok && !strings.Contains(f.Message, m) {
					t.Errorf("%s: message %q does not say %q", f.ID, f.Message, m)
				}
				if m, ok := tt.never[f.ID]; ok && strings.Contains(f.Message, m) {
					t.Errorf("%s: message %q names %q", f.ID, f.Message, m)
				}
				if f.Severity != Critical || len(f.Fix) != 0 || f.Hint == "" || len(f.Objects) == 0 || f.Objects[0].Kind != "Subnet" || f.Subnet != f.Objects[0].Name {
					t.Errorf("finding %+v", f)
				}
			}
		})
	}
}

func TestOverlapMessages(t *testing.T) {
	t.Parallel()
	r := tsRun(&State{
		Subnets: []kubeovnv1.Subnet{
			tsSubnet("old", "10.0.0.0/16", inVPC("t"), onVLAN("v7"), createdAt(1)),
			tsSubnet("new", "10.0.4.0/24", inVPC("t"), onVLAN("v7"), createdAt(4)),
			tsSubnet("nodes", "172.18.0.0/16"),
		},
		Nodes: []Node{tsNode("n1", "172.18.0.2")},
	})
	fs := tsFindings(r, CheckOverlap)
	if len(fs) != 2 {
		t.Fatalf("findings = %+v", fs)
	}
	byID := map[string]Finding{}
	for _, f := range fs {
		byID[f.ID] = f
	}
	p := byID["overlap/Subnet/new/Subnet/old"]
	if p.Message != "subnet new (10.0.4.0/24) overlaps subnet old (10.0.0.0/16) in vpc t vlan v7: both logical switches claim the common addresses, and the same address can be given to two pods" {
		t.Errorf("message = %q", p.Message)
	}
	if !strings.HasPrefix(p.Hint, "new was created after old: recreate new with a free CIDR") || len(p.Objects) != 2 || p.Objects[1].Name != "old" || p.Objects[0].UID != "uid-new" {
		t.Errorf("pair = %+v", p)
	}
	n := byID["overlap/Subnet/nodes/nodes"]
	if !strings.Contains(n.Message, "InternalIP of 1 node: n1 (172.18.0.2)") || len(n.Objects) != 2 || n.Objects[1].Kind != "Node" || n.Objects[1].Name != "n1" {
		t.Errorf("nodes = %+v", n)
	}
}

func TestOverlapCapped(t *testing.T) {
	t.Parallel()
	var subnets []kubeovnv1.Subnet
	for i := 0; i < 12; i++ {
		subnets = append(subnets, tsSubnet(fmt.Sprintf("s%02d", i), "10.0.0.0/24", createdAt(i+1)))
	}
	var nodes []Node
	for i := 0; i < 15; i++ {
		nodes = append(nodes, tsNode(fmt.Sprintf("n%02d", i), fmt.Sprintf("10.0.0.%d", 100+i)))
	}
	r := tsRun(&State{Subnets: subnets, Nodes: nodes})
	pairs, more, nodeFindings := 0, 0, 0
	for _, f := range tsFindings(r, CheckOverlap) {
		switch {
		case strings.HasSuffix(f.ID, "/nodes"):
			nodeFindings++
			if !strings.Contains(f.Message, "and 5 more") || len(f.Objects) != 1+maxOverlapsListed {
				t.Errorf("node finding not capped: %+v", f)
			}
		case strings.Contains(f.ID, "/more/"):
			more++
			if f.Subnet != "s11" || !strings.Contains(f.Message, "overlaps 1 more subnets") {
				t.Errorf("more = %+v", f)
			}
		default:
			pairs++
		}
	}
	// Block k (sorted by name) overlaps the k before it; each lists at
	// most 10: 0+1+…+10+10.
	if pairs != 65 || more != 1 || nodeFindings != 12 {
		t.Errorf("pairs %d, more %d, node findings %d", pairs, more, nodeFindings)
	}
	ids := map[string]bool{}
	for _, f := range r.Findings {
		if ids[f.ID] {
			t.Errorf("duplicate finding ID %s", f.ID)
		}
		ids[f.ID] = true
	}
}
