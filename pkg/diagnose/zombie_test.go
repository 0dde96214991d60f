package diagnose

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// ownerState is a cluster with the owners the IP objects of the owner
// tests name: subnets, nodes, pods, StatefulSets, VMs and an IPPool.
func ownerState() *State {
	s := &State{
		Subnets: []kubeovnv1.Subnet{dtSubnet("ovn-default", "10.16.0.0/16"), dtSubnet("join", "100.64.0.0/16"),
			dtSubnet("underlay", "172.17.0.0/16"), dtSubnet("att", "192.168.1.0/24")},
		Nodes: []Node{{Meta: Meta{Name: "n1", UID: "uid-n1"}}},
		Pods: []Pod{
			dtPod("a", "web", "ovn-default", dtOld, "10.16.0.5"),
			dtPod("a", "db-0", "ovn-default", dtOld, "10.16.0.6"),
			dtPod("a", "virt-launcher-vm-run-bcdfg", "ovn-default", dtOld, "10.16.0.7"),
			dtPod("a", "host", "", dtOld, "172.18.0.2"),
			func() Pod { p := dtPod("a", "job-done", "ovn-default", dtOld); p.Phase = "Succeeded"; return p }(),
		},
		StatefulSets: []StatefulSet{
			{Meta: Meta{Namespace: "a", Name: "db"}, Replicas: 3},
			{Meta: Meta{Namespace: "a", Name: "shard"}, Replicas: 2, Start: 5},
			{Meta: Meta{Namespace: "a", Name: "fixed"}, Replicas: 2,
				TemplateAnnotations: map[string]string{"ovn.kubernetes.io/ip_pool": "10.16.1.10;10.16.1.11"}},
			{Meta: Meta{Namespace: "a", Name: "pooled"}, Replicas: 2,
				TemplateAnnotations: map[string]string{"ovn.kubernetes.io/ip_pool": "pool-a"}},
			{Meta: Meta{Namespace: "a", Name: "multi"}, Replicas: 2,
				TemplateAnnotations: map[string]string{"net1.a.ovn.kubernetes.io/ip_address": "192.168.1.50"}},
			{Meta: Meta{Namespace: "kube-system", Name: "vpc-nat-gw-gw1"}, Replicas: 1},
			{Meta: Meta{Namespace: "a", Name: "going", DeletionTimestamp: &metav1.Time{Time: dtNow.Add(-time.Hour)}}, Replicas: 1},
		},
		VirtualMachines: []Meta{{Namespace: "a", Name: "vm-stopped"}, {Namespace: "a", Name: "vm-run"}},
		IPPools:         []kubeovnv1.IPPool{{ObjectMeta: metav1.ObjectMeta{Name: "pool-a"}, Spec: kubeovnv1.IPPoolSpec{Subnet: "ovn-default", IPs: []string{"10.16.2.0/24"}}}},
	}
	s.Pods[2].OwnerReferences = []metav1.OwnerReference{vmiOwner("vm-run")}
	s.Pods[3].HostNetwork = true
	s.Pods[1].OwnerReferences = []metav1.OwnerReference{stsOwner("db")}
	return s
}

func sts(ip *kubeovnv1.IP) { ip.Spec.PodType = kubeovnv1.PodTypeStatefulSet }
func vm(ip *kubeovnv1.IP)  { ip.Spec.PodType = kubeovnv1.PodTypeVirtualMachine }

func runOwners(s *State, pre *Report) *Report {
	r := pre
	if r == nil {
		r = &Report{}
	}
	opts := DefaultOptions(dtNow)
	checkOwners(newIndex(s), &opts, r)
	return r
}

func TestOwnerClasses(t *testing.T) {
	t.Parallel()
	type want struct {
		check    string // "" for not reported
		severity Severity
		says     string
	}
	none := want{}
	cases := []struct {
		name string
		ip   kubeovnv1.IP
		want want
	}{
		// owned
		{"pod exists", dtIP("web.a", "a", "web", "ovn-default", "10.16.0.5", dtOld), none},
		{"StatefulSet pod exists", dtIP("db-0.a", "a", "db-0", "ovn-default", "10.16.0.6", dtOld, sts), none},
		{"VM runs a launcher pod", dtIP("vm-run.a", "a", "vm-run", "ovn-default", "10.16.0.7", dtOld, vm), none},
		{"node port, node exists", dtIP("node-n1", "", "n1", "join", "100.64.0.2", dtOld, func(ip *kubeovnv1.IP) {
			ip.Spec.NodeName = "n1"
			ip.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "n1"}}
		}), none},
		{"u2o port of an existing subnet", dtIP("u2o-interconnection.ovn-cluster.underlay", "default", "u2o-interconnection.ovn-cluster.underlay", "underlay", "172.17.0.254", dtOld, func(ip *kubeovnv1.IP) {
			ip.OwnerReferences = []metav1.OwnerReference{{APIVersion: "kubeovn.io/v1", Kind: "Subnet", Name: "underlay"}}
		}), none},
		{"multicast querier by name", dtIP("mcast-querier.underlay", "default", "mcast-querier.underlay", "underlay", "172.17.0.253", dtOld), none},
		{"young IP object of a pod in creation", dtIP("new.a", "a", "new", "ovn-default", "10.16.0.9", dtNow.Add(-20*time.Second)), none},
		{"deletion just started", dtIP("del.a", "a", "del", "ovn-default", "10.16.0.10", dtOld, func(ip *kubeovnv1.IP) {
			ip.DeletionTimestamp = &metav1.Time{Time: dtNow.Add(-10 * time.Second)}
		}), none},

		// kept on purpose
		{"StatefulSet wants the ordinal", dtIP("db-2.a", "a", "db-2", "ovn-default", "10.16.0.12", dtOld, sts),
			want{CheckKept, Info, "StatefulSet a/db wants ordinal 2 (replicas 3)"}},
		{"StatefulSet with ordinals.start wants it", dtIP("shard-6.a", "a", "shard-6", "ovn-default", "10.16.0.13", dtOld, sts),
			want{CheckKept, Info, "ordinals 5 to 6"}},
		{"fixed StatefulSet still asks for it", dtIP("fixed-1.a", "a", "fixed-1", "ovn-default", "10.16.1.11", dtOld, sts),
			want{CheckKept, Info, "wants ordinal 1"}},
		{"StatefulSet's IPPool holds it", dtIP("pooled-0.a", "a", "pooled-0", "ovn-default", "10.16.2.7", dtOld, sts),
			want{CheckKept, Info, "wants ordinal 0"}},
		{"attachment of a fixed StatefulSet", dtIP("multi-0.a.net1.a.ovn", "a", "multi-0", "att", "192.168.1.50", dtOld, sts),
			want{CheckKept, Info, "wants ordinal 0"}},
		{"VPC NAT gateway", dtIP("vpc-nat-gw-gw1-0.kube-system", "kube-system", "vpc-nat-gw-gw1-0", "ovn-default", "10.16.0.14", dtOld, sts),
			want{CheckKept, Info, "VPC NAT gateway StatefulSet"}},
		{"stopped VM", dtIP("vm-stopped.a", "a", "vm-stopped", "ovn-default", "10.16.0.15", dtOld, vm),
			want{CheckKept, Info, "KubeVirt VM a/vm-stopped exists"}},
		{"reserved, pod not there", dtIP("later.a", "a", "later", "ovn-default", "10.16.0.16", dtOld, func(ip *kubeovnv1.IP) {
			ip.Labels[ipReservedLabel] = "true"
		}), want{CheckKept, Info, "reserved"}},

		// suspicious-kept
		{"ordinal beyond replicas", dtIP("db-3.a", "a", "db-3", "ovn-default", "10.16.0.17", dtOld, sts),
			want{CheckSuspiciousKept, Warning, "no longer wants ordinal 3"}},
		{"ordinal below ordinals.start", dtIP("shard-1.a", "a", "shard-1", "ovn-default", "10.16.0.18", dtOld, sts),
			want{CheckSuspiciousKept, Warning, "no longer wants ordinal 1"}},
		{"old fixed IP no longer requested", dtIP("fixed-0.a", "a", "fixed-0", "ovn-default", "10.16.1.99", dtOld, sts),
			want{CheckSuspiciousKept, Warning, "old fixed address 10.16.1.99 is no longer requested"}},
		{"address outside the StatefulSet's IPPool", dtIP("pooled-1.a", "a", "pooled-1", "ovn-default", "10.16.3.7", dtOld, sts),
			want{CheckSuspiciousKept, Warning, "kube-ovn#5259"}},
		{"StatefulSet pod name without ordinal", dtIP("db-x.a", "a", "db-x", "ovn-default", "10.16.0.19", dtOld, sts),
			want{CheckSuspiciousKept, Warning, "no ordinal"}},

		// zombies
		{"pod gone", dtIP("gone.a", "a", "gone", "ovn-default", "10.16.0.20", dtOld),
			want{CheckZombie, Warning, "pod a/gone no longer exists"}},
		{"node gone", dtIP("node-n9", "", "n9", "join", "100.64.0.9", dtOld, func(ip *kubeovnv1.IP) { ip.Spec.NodeName = "n9" }),
			want{CheckZombie, Warning, "node n9, which no longer exists"}},
		{"StatefulSet gone", dtIP("old-0.a", "a", "old-0", "ovn-default", "10.16.0.21", dtOld, sts),
			want{CheckZombie, Warning, "StatefulSet old are gone"}},
		{"StatefulSet being deleted", dtIP("going-0.a", "a", "going-0", "ovn-default", "10.16.0.22", dtOld, sts),
			want{CheckZombie, Warning, "being deleted"}},
		{"VM gone", dtIP("vm-gone.a", "a", "vm-gone", "ovn-default", "10.16.0.23", dtOld, vm),
			want{CheckZombie, Warning, "KubeVirt VM a/vm-gone no longer exists"}},
		{"pod finished", dtIP("job-done.a", "a", "job-done", "ovn-default", "10.16.0.26", dtOld),
			want{CheckZombie, Warning, "pod a/job-done has finished (Succeeded) and Kube-OVN released its address"}},
		{"pod on the host network", dtIP("host.a", "a", "host", "ovn-default", "10.16.0.24", dtOld),
			want{CheckZombie, Warning, "host network"}},
		{"subnet gone", dtIP("web.b", "b", "web", "deleted-subnet", "10.99.0.4", dtOld),
			want{CheckZombie, Warning, "subnet deleted-subnet no longer exists"}},
		{"u2o port of a deleted subnet", dtIP("u2o-interconnection.ovn-cluster.gone", "default", "u2o-interconnection.ovn-cluster.gone", "ovn-default", "10.16.0.25", dtOld, func(ip *kubeovnv1.IP) {
			ip.OwnerReferences = []metav1.OwnerReference{{APIVersion: "kubeovn.io/v1", Kind: "Subnet", Name: "gone"}}
		}), want{CheckZombie, Warning, "interconnection port of subnet gone"}},
		{"no pod name", dtIP("orphan", "", "", "ovn-default", "10.16.0.26", dtOld), want{CheckZombie, Warning, "names no pod"}},
		{"deletion stuck on the finalizer", dtIP("stuck.a", "a", "stuck", "ovn-default", "10.16.0.27", dtOld, func(ip *kubeovnv1.IP) {
			ip.DeletionTimestamp = &metav1.Time{Time: dtNow.Add(-time.Hour)}
		}), want{CheckZombie, Warning, "has waited 1h0m0s for kube-ovn-controller"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := ownerState()
			s.IPs = []kubeovnv1.IP{c.ip}
			r := runOwners(s, nil)
			if c.want.check == "" {
				if len(r.Findings) != 0 {
					t.Fatalf("want nothing, got %s: %s", r.Findings[0].Check, r.Findings[0].Message)
				}
				return
			}
			if len(r.Findings) != 1 {
				t.Fatalf("want one %s, got %d findings", c.want.check, len(r.Findings))
			}
			f := r.Findings[0]
			if f.Check != c.want.check || f.Severity != c.want.severity {
				t.Errorf("got %s/%s, want %s/%s: %s", f.Check, f.Severity, c.want.check, c.want.severity, f.Message)
			}
			if !strings.Contains(f.Message, c.want.says) {
				t.Errorf("message %q lacks %q", f.Message, c.want.says)
			}
			if len(f.Objects) != 1 || f.Objects[0] != RefIP(&s.IPs[0]) || f.Subnet != c.ip.Spec.Subnet {
				t.Errorf("objects %+v subnet %q", f.Objects, f.Subnet)
			}
			switch {
			case f.Check == CheckKept:
				if len(f.Fix) != 0 {
					t.Errorf("kept IP objects get no fix: %q", f.Fix)
				}
			case c.ip.DeletionTimestamp != nil:
				if len(f.Fix) != 0 || f.Hint == "" {
					t.Errorf("a stuck deletion gets a hint, not a delete: %q %q", f.Fix, f.Hint)
				}
			default:
				if len(f.Fix) != 1 || f.Fix[0] != DeleteCommand(RefIP(&s.IPs[0])) {
					t.Errorf("fix %q", f.Fix)
				}
			}
		})
	}
}

func TestZombieReleaseMessage(t *testing.T) {
	t.Parallel()
	s := ownerState()
	s.IPs = []kubeovnv1.IP{
		dtIP("gone.a", "a", "gone", "ovn-default", "10.16.0.20", dtOld),
		dtIP("bare.a", "a", "bare", "ovn-default", "10.16.0.21", dtOld, func(ip *kubeovnv1.IP) { ip.Finalizers = nil }),
	}
	r := runOwners(s, nil)
	if len(r.Findings) != 2 {
		t.Fatalf("want 2 zombies, got %d", len(r.Findings))
	}
	if m := r.Findings[0].Message; !strings.Contains(m, "release the address in its IPAM") || !strings.Contains(m, "InitIPAM") {
		t.Errorf("zombie with finalizer: %s", m)
	}
	if m := r.Findings[1].Message; !strings.Contains(m, "no kube-ovn-controller finalizer") {
		t.Errorf("zombie without finalizer: %s", m)
	}
}

func TestZombieInCriticalSubnet(t *testing.T) {
	t.Parallel()
	s := ownerState()
	s.IPs = []kubeovnv1.IP{dtIP("gone.a", "a", "gone", "ovn-default", "10.16.0.20", dtOld), dtIP("gone2.a", "a", "gone2", "att", "192.168.1.3", dtOld)}
	pre := &Report{
		Subnets:  []SubnetRow{{Name: "ovn-default", State: "critical"}, {Name: "att", State: "healthy"}},
		Findings: []Finding{{Check: CheckSubnetUsage, Severity: Critical, Subnet: "ovn-default", Objects: []ObjectRef{RefSubnet(&s.Subnets[0])}}},
	}
	r := runOwners(s, pre)
	if len(r.Findings) != 3 {
		t.Fatalf("want usage + 2 zombies, got %d", len(r.Findings))
	}
	z, other := r.Findings[1], r.Findings[2]
	if z.Severity != Critical || len(z.Related) != 1 || z.Related[0] != "subnet-usage/Subnet/ovn-default" {
		t.Errorf("zombie in a critical subnet: %s %v", z.Severity, z.Related)
	}
	if other.Severity != Warning || len(other.Related) != 0 {
		t.Errorf("zombie in a healthy subnet: %s %v", other.Severity, other.Related)
	}
}

func TestZombieNotJudgedWithoutItsOwners(t *testing.T) {
	t.Parallel()
	cases := map[string]kubeovnv1.IP{
		"pods":            dtIP("gone.a", "a", "gone", "ovn-default", "10.16.0.20", dtOld),
		"nodes":           dtIP("node-n9", "", "n9", "join", "100.64.0.9", dtOld, func(ip *kubeovnv1.IP) { ip.Spec.NodeName = "n9" }),
		"statefulsets":    dtIP("old-0.a", "a", "old-0", "ovn-default", "10.16.0.21", dtOld, sts),
		"virtualmachines": dtIP("vm-gone.a", "a", "vm-gone", "ovn-default", "10.16.0.23", dtOld, vm),
		"subnets":         dtIP("web.a.other", "a", "web", "deleted-subnet", "10.99.0.4", dtOld),
	}
	for resource, ip := range cases {
		t.Run(resource, func(t *testing.T) {
			t.Parallel()
			s := ownerState()
			s.IPs = []kubeovnv1.IP{ip}
			if r := runOwners(s, nil); len(r.Findings) != 1 {
				t.Fatalf("control: want a zombie with every list read, got %d", len(r.Findings))
			}
			s.Incomplete = []Gap{{Resource: resource, Reason: "forbidden"}}
			if r := runOwners(s, nil); len(r.Findings) != 0 {
				t.Errorf("without %s the owner check must not judge: %s", resource, r.Findings[0].Message)
			}
		})
	}
}

func TestOwnerKeptShapesNoFalsePositives(t *testing.T) {
	t.Parallel()
	// A healthy cluster's IP objects: every pod's, the node's, the u2o
	// port's, a running VM's, a full StatefulSet's: nothing to report.
	s := ownerState()
	s.IPs = []kubeovnv1.IP{
		dtIP("web.a", "a", "web", "ovn-default", "10.16.0.5", dtOld),
		dtIP("db-0.a", "a", "db-0", "ovn-default", "10.16.0.6", dtOld, sts),
		dtIP("vm-run.a", "a", "vm-run", "ovn-default", "10.16.0.7", dtOld, vm),
		dtIP("node-n1", "", "n1", "join", "100.64.0.2", dtOld, func(ip *kubeovnv1.IP) { ip.Spec.NodeName = "n1" }),
		dtIP("u2o-interconnection.ovn-cluster.underlay", "default", "u2o-interconnection.ovn-cluster.underlay", "underlay", "172.17.0.254", dtOld),
	}
	if r := runOwners(s, nil); len(r.Findings) != 0 {
		t.Fatalf("want nothing, got %d: %s", len(r.Findings), r.Findings[0].Message)
	}
	if r := runDuplicates(s); len(r.Findings) != 0 {
		t.Fatalf("want no duplicate, got %s", r.Findings[0].Message)
	}
}
