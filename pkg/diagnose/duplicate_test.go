package diagnose

import (
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// Fixtures of the duplicate and owner tests (prefix dt).

var (
	dtNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	dtOld = dtNow.Add(-48 * time.Hour)
)

func dtSubnet(name, cidr string) kubeovnv1.Subnet {
	s := kubeovnv1.Subnet{}
	s.Name, s.UID, s.ResourceVersion = name, k8stypes.UID("uid-subnet-"+name), "1"
	s.Spec.CIDRBlock = cidr
	return s
}

// dtIP is an IP object as kube-ovn-controller writes it for pod ns/pod:
// addrs is "v4", "v6" or "v4,v6".
func dtIP(name, ns, pod, subnet, addrs string, created time.Time, mut ...func(*kubeovnv1.IP)) kubeovnv1.IP {
	ip := kubeovnv1.IP{}
	ip.Name, ip.UID, ip.ResourceVersion = name, k8stypes.UID("uid-ip-"+name), "7"
	ip.CreationTimestamp = metav1.NewTime(created)
	ip.Finalizers = []string{controllerFinalizer}
	ip.Labels = map[string]string{"ovn.kubernetes.io/subnet": subnet, ipReservedLabel: "false"}
	ip.Spec = kubeovnv1.IPSpec{PodName: pod, Namespace: ns, Subnet: subnet, IPAddress: addrs}
	for _, a := range strings.Split(addrs, ",") {
		if strings.Contains(a, ":") {
			ip.Spec.V6IPAddress = a
		} else if a != "" {
			ip.Spec.V4IPAddress = a
		}
	}
	for _, m := range mut {
		m(&ip)
	}
	return ip
}

// dtPod is a running pod of subnet (its ovn.kubernetes.io/logical_switch)
// with status.podIPs ips.
func dtPod(ns, name, subnet string, created time.Time, ips ...string) Pod {
	p := Pod{Meta: Meta{Namespace: ns, Name: name, UID: "uid-pod-" + ns + "-" + name, ResourceVersion: "3",
		CreationTimestamp: metav1.NewTime(created), Annotations: map[string]string{}}, Phase: "Running", PodIPs: ips, NodeName: "n1"}
	if subnet != "" {
		p.Annotations["ovn.kubernetes.io/logical_switch"] = subnet
		p.Annotations["ovn.kubernetes.io/allocated"] = "true"
	}
	return p
}

func dtVip(name, subnet, v4 string, created time.Time) kubeovnv1.Vip {
	v := kubeovnv1.Vip{}
	v.Name, v.UID, v.ResourceVersion = name, k8stypes.UID("uid-vip-"+name), "5"
	v.CreationTimestamp = metav1.NewTime(created)
	v.Spec.Subnet, v.Spec.V4ip = subnet, v4
	v.Status.V4ip = v4
	return v
}

func stsOwner(name string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: name, UID: k8stypes.UID("uid-sts-" + name)}
}

func vmiOwner(name string) metav1.OwnerReference {
	yes := true // virt-controller makes the VMI the launcher pod's controller
	return metav1.OwnerReference{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachineInstance", Name: name, Controller: &yes}
}

func runDuplicates(s *State) *Report {
	r := &Report{}
	opts := DefaultOptions(dtNow)
	checkDuplicates(newIndex(s), &opts, r)
	return r
}

func dupFindings(t *testing.T, r *Report) []Finding {
	t.Helper()
	var out []Finding
	for _, f := range r.Findings {
		if f.Check != CheckDuplicate {
			t.Errorf("unexpected check %s: %s", f.Check, f.Message)
			continue
		}
		out = append(out, f)
	}
	return out
}

func hasObject(f Finding, kind, ns, name string) bool {
	for _, o := range f.Objects {
		if o.Kind == kind && o.Namespace == ns && o.Name == name {
			return true
		}
	}
	return false
}

func TestDuplicateNotDuplicates(t *testing.T) {
	t.Parallel()
	base := func() *State {
		return &State{Subnets: []kubeovnv1.Subnet{dtSubnet("ovn-default", "10.16.0.0/16"), dtSubnet("join", "100.64.0.0/16"),
			dtSubnet("dual", "10.20.0.0/16,fd00:20::/64"), dtSubnet("att", "192.168.1.0/24")}}
	}
	cases := map[string]func(s *State){
		"pod and its own IP object": func(s *State) {
			s.IPs = append(s.IPs, dtIP("web-1.a", "a", "web-1", "ovn-default", "10.16.0.5", dtOld))
			s.Pods = append(s.Pods, dtPod("a", "web-1", "ovn-default", dtOld, "10.16.0.5"))
		},
		"dual-stack pod and its own IP object": func(s *State) {
			s.IPs = append(s.IPs, dtIP("web-1.a", "a", "web-1", "dual", "10.20.0.5,fd00:20::5", dtOld))
			s.Pods = append(s.Pods, dtPod("a", "web-1", "dual", dtOld, "10.20.0.5", "fd00:20::5"))
		},
		"one IP object listing the address twice": func(s *State) {
			s.IPs = append(s.IPs, dtIP("web-1.a", "a", "web-1", "ovn-default", "10.16.0.5", dtOld, func(ip *kubeovnv1.IP) {
				ip.Spec.AttachSubnets = []string{"ovn-default"}
				ip.Spec.AttachIPs = []string{"10.16.0.5"}
			}))
		},
		"same address in two subnets": func(s *State) {
			s.Subnets = append(s.Subnets, dtSubnet("vpc2-net", "10.16.0.0/16"))
			s.IPs = append(s.IPs, dtIP("a.x", "x", "a", "ovn-default", "10.16.0.5", dtOld), dtIP("b.y", "y", "b", "vpc2-net", "10.16.0.5", dtOld))
		},
		"host-network pods share the node address": func(s *State) {
			for _, name := range []string{"kube-proxy-1", "cilium-1"} {
				p := dtPod("kube-system", name, "join", dtOld, "172.18.0.2")
				p.HostNetwork = true
				s.Pods = append(s.Pods, p)
			}
			s.IPs = append(s.IPs, dtIP("node-n1", "", "n1", "join", "100.64.0.2", dtOld, func(ip *kubeovnv1.IP) { ip.Spec.NodeName = "n1" }))
			p := dtPod("kube-system", "ovs-1", "join", dtOld, "100.64.0.2")
			p.HostNetwork = true
			s.Pods = append(s.Pods, p)
		},
		"pods without a logical_switch annotation": func(s *State) {
			s.Pods = append(s.Pods, dtPod("a", "x", "", dtOld, "10.16.0.9"), dtPod("b", "y", "", dtOld, "10.16.0.9"))
		},
		"completed pod keeps its old podIP": func(s *State) {
			done := dtPod("a", "job-1", "ovn-default", dtOld, "10.16.0.7")
			done.Phase = "Succeeded"
			s.Pods = append(s.Pods, done, dtPod("b", "web", "ovn-default", dtNow.Add(-time.Hour), "10.16.0.7"))
			s.IPs = append(s.IPs, dtIP("web.b", "b", "web", "ovn-default", "10.16.0.7", dtNow.Add(-time.Hour)))
		},
		"pod on a lost node past its deletion time": func(s *State) {
			lost := dtPod("a", "web-old", "ovn-default", dtOld, "10.16.0.12")
			lost.DeletionTimestamp = &metav1.Time{Time: dtNow.Add(-10 * time.Minute)}
			s.Pods = append(s.Pods, lost, dtPod("a", "web-new", "ovn-default", dtNow.Add(-5*time.Minute), "10.16.0.12"))
			s.IPs = append(s.IPs, dtIP("web-new.a", "a", "web-new", "ovn-default", "10.16.0.12", dtNow.Add(-5*time.Minute)))
		},
		"live migration source and target": func(s *State) {
			s.IPs = append(s.IPs, dtIP("vm1.a", "a", "vm1", "ovn-default", "10.16.0.30", dtOld, func(ip *kubeovnv1.IP) { ip.Spec.PodType = kubeovnv1.PodTypeVirtualMachine }))
			for _, name := range []string{"virt-launcher-vm1-abcde", "virt-launcher-vm1-fghjk"} {
				p := dtPod("a", name, "ovn-default", dtNow.Add(-time.Minute), "10.16.0.30")
				p.OwnerReferences = []metav1.OwnerReference{vmiOwner("vm1")}
				s.Pods = append(s.Pods, p)
			}
		},
		"launcher pod with keep-vm-ip off names its IP object by pod": func(s *State) {
			s.IPs = append(s.IPs, dtIP("virt-launcher-vm1-abcde.a", "a", "virt-launcher-vm1-abcde", "ovn-default", "10.16.0.31", dtOld))
			p := dtPod("a", "virt-launcher-vm1-abcde", "ovn-default", dtOld, "10.16.0.31")
			p.OwnerReferences = []metav1.OwnerReference{vmiOwner("vm1")}
			s.Pods = append(s.Pods, p)
		},
		"pod that took a Vip's address": func(s *State) {
			v := dtVip("vip-1", "ovn-default", "10.16.0.40", dtOld)
			v.Labels = map[string]string{ipReservedLabel: "db-0.a"}
			s.Vips = append(s.Vips, v)
			s.IPs = append(s.IPs, dtIP("db-0.a", "a", "db-0", "ovn-default", "10.16.0.40", dtOld))
			p := dtPod("a", "db-0", "ovn-default", dtOld, "10.16.0.40")
			p.Annotations[vipAnnotation] = "vip-1"
			s.Pods = append(s.Pods, p)
		},
		"pod naming a Vip whose label is not written yet": func(s *State) {
			s.Vips = append(s.Vips, dtVip("vip-2", "ovn-default", "10.16.0.41", dtOld))
			p := dtPod("a", "db-1", "ovn-default", dtOld, "10.16.0.41")
			p.Annotations[vipAnnotation] = "vip-2"
			s.Pods = append(s.Pods, p)
		},
		"attachment and the pod's own attachment IP object": func(s *State) {
			p := dtPod("a", "web-1", "ovn-default", dtOld, "10.16.0.5")
			p.Annotations["net1.a.ovn.kubernetes.io/logical_switch"] = "att"
			p.Annotations[networkStatusAnnotation] = `[{"name":"kube-ovn","interface":"eth0","ips":["10.16.0.5"],"default":true},{"name":"a/net1","interface":"net1","ips":["192.168.1.10"]}]`
			s.Pods = append(s.Pods, p)
			s.IPs = append(s.IPs, dtIP("web-1.a", "a", "web-1", "ovn-default", "10.16.0.5", dtOld),
				dtIP("web-1.a.net1.a.ovn", "a", "web-1", "att", "192.168.1.10", dtOld))
		},
		"attachment of a network Kube-OVN does not serve": func(s *State) {
			for _, name := range []string{"x", "y"} {
				p := dtPod("a", name, "ovn-default", dtOld)
				p.Annotations[networkStatusAnnotation] = `[{"name":"a/macvlan","interface":"net1","ips":["192.168.9.10"]}]`
				s.Pods = append(s.Pods, p)
			}
		},
		"malformed network-status": func(s *State) {
			for _, name := range []string{"x", "y"} {
				p := dtPod("a", name, "ovn-default", dtOld)
				p.Annotations["net1.a.ovn.kubernetes.io/logical_switch"] = "att"
				p.Annotations[networkStatusAnnotation] = `[{"name":"a/net1","ips":["192.168.1.10"]`
				s.Pods = append(s.Pods, p)
			}
		},
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := base()
			mut(s)
			if fs := dupFindings(t, runDuplicates(s)); len(fs) != 0 {
				t.Fatalf("want no duplicate, got %d: %s", len(fs), fs[0].Message)
			}
		})
	}
}

func TestDuplicateTwoLivePods(t *testing.T) {
	t.Parallel()
	mk := func(fixedB bool) *State {
		s := &State{Subnets: []kubeovnv1.Subnet{dtSubnet("ovn-default", "10.16.0.0/16")}}
		s.IPs = []kubeovnv1.IP{
			dtIP("b.team-b", "team-b", "b", "ovn-default", "10.16.0.5", dtNow.Add(-time.Hour)),
			dtIP("a.team-a", "team-a", "a", "ovn-default", "10.16.0.5", dtOld),
		}
		b := dtPod("team-b", "b", "ovn-default", dtNow.Add(-time.Hour), "10.16.0.5")
		// kube-ovn-controller writes ip_address on every pod it allocates:
		// it proves no fixed request. ip_pool is the user's.
		b.Annotations["ovn.kubernetes.io/ip_address"] = "10.16.0.5"
		if fixedB {
			b.Annotations["ovn.kubernetes.io/ip_pool"] = "10.16.0.4,10.16.0.5"
		}
		s.Pods = []Pod{dtPod("team-a", "a", "ovn-default", dtOld, "10.16.0.5"), b}
		return s
	}
	for _, fixed := range []bool{false, true} {
		s := mk(fixed)
		fs := dupFindings(t, runDuplicates(s))
		if len(fs) != 1 {
			t.Fatalf("fixed=%v: want 1 finding, got %d", fixed, len(fs))
		}
		f := fs[0]
		if f.Severity != Critical || f.Subnet != "ovn-default" || f.ID != "duplicate-address/ovn-default/10.16.0.5" {
			t.Errorf("finding header %+v", f)
		}
		if len(f.Objects) != 4 || f.Objects[0] != RefPod(&s.Pods[1]) {
			t.Errorf("objects: want the later pod first and all 4 holders, got %+v", f.Objects)
		}
		for _, o := range []struct{ kind, ns, name string }{{"Pod", "team-a", "a"}, {"IP", "", "a.team-a"}, {"IP", "", "b.team-b"}} {
			if !hasObject(f, o.kind, o.ns, o.name) {
				t.Errorf("objects miss %v", o)
			}
		}
		if len(f.Fix) != 1 || f.Fix[0] != DeleteCommand(RefPod(&s.Pods[1])) {
			t.Errorf("fix: want the later pod deleted, got %q", f.Fix)
		}
		if !strings.Contains(f.Message, "10.16.0.5") || !strings.Contains(f.Message, "pod team-a/a") || !strings.Contains(f.Message, "pod team-b/b") {
			t.Errorf("message does not name the address and both pods: %s", f.Message)
		}
		wantHint := "if it or its workload's pod template asks for 10.16.0.5"
		if fixed {
			wantHint = "it asks for 10.16.0.5 as a fixed address (annotation ovn.kubernetes.io/ip_pool)"
		}
		if !strings.Contains(f.Hint, wantHint) {
			t.Errorf("fixed=%v: hint %q lacks %q", fixed, f.Hint, wantHint)
		}
		if !strings.Contains(f.Hint, "pod team-b/b is the one it would have refused") {
			t.Errorf("hint does not say which one the webhook would have refused: %s", f.Hint)
		}
	}
}

func TestDuplicateZombieAndLivePod(t *testing.T) {
	t.Parallel()
	s := &State{Subnets: []kubeovnv1.Subnet{dtSubnet("ovn-default", "10.16.0.0/16")}}
	// old.a's pod is gone: it is the one to delete, although it is older.
	s.IPs = []kubeovnv1.IP{
		dtIP("new.a", "a", "new", "ovn-default", "10.16.0.8", dtNow.Add(-time.Hour)),
		dtIP("old.a", "a", "old", "ovn-default", "10.16.0.8", dtOld),
	}
	s.Pods = []Pod{dtPod("a", "new", "ovn-default", dtNow.Add(-time.Hour), "10.16.0.8")}
	fs := dupFindings(t, runDuplicates(s))
	if len(fs) != 1 {
		t.Fatalf("want 1 finding, got %d", len(fs))
	}
	f := fs[0]
	if len(f.Fix) != 1 || f.Fix[0] != DeleteCommand(RefIP(&s.IPs[1])) {
		t.Errorf("fix: want the zombie IP object deleted, got %q", f.Fix)
	}
	if f.Objects[0] != RefIP(&s.IPs[1]) || !hasObject(f, "Pod", "a", "new") || !hasObject(f, "IP", "", "new.a") {
		t.Errorf("objects %+v", f.Objects)
	}
	if !strings.Contains(f.Message, "pod a/old no longer exists") {
		t.Errorf("message does not say the pod is gone: %s", f.Message)
	}
	if !strings.Contains(f.Fix[0], `"uid":"uid-ip-old.a"`) || !strings.Contains(f.Fix[0], `"resourceVersion":"7"`) {
		t.Errorf("delete lacks preconditions: %s", f.Fix[0])
	}
}

func TestDuplicateDualStack(t *testing.T) {
	t.Parallel()
	s := &State{Subnets: []kubeovnv1.Subnet{dtSubnet("dual", "10.20.0.0/16,fd00:20::/64")}}
	s.IPs = []kubeovnv1.IP{
		dtIP("a.x", "x", "a", "dual", "10.20.0.5,fd00:20::5", dtOld),
		dtIP("b.x", "x", "b", "dual", "10.20.0.5,fd00:20::5", dtNow.Add(-time.Hour)),
		dtIP("c.x", "x", "c", "dual", "10.20.0.6,fd00:20::9", dtOld),
		dtIP("d.x", "x", "d", "dual", "10.20.0.7,fd00:20::9", dtNow.Add(-time.Hour)),
	}
	s.Pods = []Pod{
		dtPod("x", "a", "dual", dtOld, "10.20.0.5", "fd00:20::5"),
		dtPod("x", "b", "dual", dtNow.Add(-time.Hour), "10.20.0.5", "fd00:20::5"),
		dtPod("x", "c", "dual", dtOld, "10.20.0.6", "fd00:20::9"),
		dtPod("x", "d", "dual", dtNow.Add(-time.Hour), "10.20.0.7", "fd00:20::9"),
	}
	fs := dupFindings(t, runDuplicates(s))
	got := map[string]Finding{}
	for _, f := range fs {
		got[f.ID] = f
	}
	for _, id := range []string{"duplicate-address/dual/10.20.0.5", "duplicate-address/dual/fd00:20::5", "duplicate-address/dual/fd00:20::9"} {
		if _, ok := got[id]; !ok {
			t.Errorf("missing %s (got %d findings)", id, len(fs))
		}
	}
	if len(fs) != 3 {
		t.Errorf("want 3 findings, got %d", len(fs))
	}
	if f := got["duplicate-address/dual/fd00:20::9"]; len(f.Fix) != 1 || f.Fix[0] != DeleteCommand(RefPod(&s.Pods[3])) {
		t.Errorf("v6-only duplicate: want pod d restarted, got %q", f.Fix)
	}
}

func TestDuplicateAttachment(t *testing.T) {
	t.Parallel()
	s := &State{Subnets: []kubeovnv1.Subnet{dtSubnet("ovn-default", "10.16.0.0/16"), dtSubnet("att", "192.168.1.0/24"), dtSubnet("ipam-only", "192.168.2.0/24")}}
	x := dtPod("a", "x", "ovn-default", dtOld, "10.16.0.5")
	x.Annotations["net1.a.ovn.kubernetes.io/logical_switch"] = "att"
	x.Annotations["store.b.kubernetes.io/logical_switch"] = "ipam-only"
	x.Annotations[networkStatusAnnotation] = `[{"name":"kube-ovn","interface":"eth0","ips":["10.16.0.5"],"default":true},
		{"name":"a/net1","interface":"net1","ips":["192.168.1.10"]},{"name":"b/store","interface":"net2","ips":["192.168.2.20"]}]`
	y := dtPod("a", "y", "ovn-default", dtNow.Add(-time.Hour), "10.16.0.6")
	// One NAD attached twice: the provider carries the interface name.
	y.Annotations["net1.a.ovn.net7.kubernetes.io/logical_switch"] = "att"
	y.Annotations[networkStatusAnnotation] = `[{"name":"a/net1","interface":"net7","ips":["192.168.1.10"]}]`
	z := dtPod("b", "z", "ovn-default", dtNow.Add(-time.Hour), "10.16.0.7")
	z.Annotations["store.b.kubernetes.io/logical_switch"] = "ipam-only"
	z.Annotations[oldNetworkStatusAnnotation] = `[{"name":"store","interface":"net1","ips":["192.168.2.20"]}]`
	s.Pods = []Pod{x, y, z}
	s.IPs = []kubeovnv1.IP{dtIP("x.a.net1.a.ovn", "a", "x", "att", "192.168.1.10", dtOld)}
	fs := dupFindings(t, runDuplicates(s))
	if len(fs) != 2 {
		t.Fatalf("want 2 findings, got %d", len(fs))
	}
	byID := map[string]Finding{}
	for _, f := range fs {
		byID[f.ID] = f
	}
	f, ok := byID["duplicate-address/att/192.168.1.10"]
	if !ok || f.Subnet != "att" || !hasObject(f, "Pod", "a", "x") || !hasObject(f, "IP", "", "x.a.net1.a.ovn") || f.Objects[0] != RefPod(&s.Pods[1]) {
		t.Errorf("attachment duplicate: %+v", f)
	}
	if g, ok := byID["duplicate-address/ipam-only/192.168.2.20"]; !ok || !hasObject(g, "Pod", "b", "z") || !hasObject(g, "Pod", "a", "x") {
		t.Errorf("IPAM-only attachment duplicate: %+v", g)
	}
}

func TestDuplicateVipAndStatefulSetPod(t *testing.T) {
	t.Parallel()
	s := &State{Subnets: []kubeovnv1.Subnet{dtSubnet("ovn-default", "10.16.0.0/16")}}
	s.Vips = []kubeovnv1.Vip{dtVip("vip-a", "ovn-default", "10.16.0.9", dtOld)}
	s.IPs = []kubeovnv1.IP{dtIP("db-0.a", "a", "db-0", "ovn-default", "10.16.0.9", dtNow.Add(-time.Hour), func(ip *kubeovnv1.IP) { ip.Spec.PodType = kubeovnv1.PodTypeStatefulSet })}
	p := dtPod("a", "db-0", "ovn-default", dtNow.Add(-time.Hour), "10.16.0.9")
	p.OwnerReferences = []metav1.OwnerReference{stsOwner("db")}
	s.Pods = []Pod{p}
	s.StatefulSets = []StatefulSet{{Meta: Meta{Namespace: "a", Name: "db"}, Replicas: 1,
		TemplateAnnotations: map[string]string{"ovn.kubernetes.io/ip_address": "10.16.0.9"}}}
	fs := dupFindings(t, runDuplicates(s))
	if len(fs) != 1 {
		t.Fatalf("want 1 finding, got %d", len(fs))
	}
	f := fs[0]
	if !hasObject(f, "Vip", "", "vip-a") {
		t.Errorf("objects lack the Vip: %+v", f.Objects)
	}
	// The StatefulSet pod got it later: Kube-OVN keeps its IP object across
	// restarts, so the object goes first, then the pod.
	want := []string{DeleteCommand(RefIP(&s.IPs[0])), DeleteCommand(RefPod(&s.Pods[0]))}
	if len(f.Fix) != 2 || f.Fix[0] != want[0] || f.Fix[1] != want[1] {
		t.Errorf("fix %q, want %q", f.Fix, want)
	}
	if !strings.Contains(f.Hint, "keeps across restarts") || !strings.Contains(f.Hint, "StatefulSet db's pod template annotation ovn.kubernetes.io/ip_address") {
		t.Errorf("hint: %s", f.Hint)
	}
}

func TestDuplicateLaterVipNeedsAHuman(t *testing.T) {
	t.Parallel()
	s := &State{Subnets: []kubeovnv1.Subnet{dtSubnet("ovn-default", "10.16.0.0/16")}}
	s.Vips = []kubeovnv1.Vip{dtVip("vip-a", "ovn-default", "10.16.0.9", dtNow.Add(-time.Hour))}
	s.IPs = []kubeovnv1.IP{dtIP("web.a", "a", "web", "ovn-default", "10.16.0.9", dtOld)}
	s.Pods = []Pod{dtPod("a", "web", "ovn-default", dtOld, "10.16.0.9")}
	fs := dupFindings(t, runDuplicates(s))
	if len(fs) != 1 {
		t.Fatalf("want 1 finding, got %d", len(fs))
	}
	if len(fs[0].Fix) != 0 || !strings.Contains(fs[0].Hint, "decide") {
		t.Errorf("a later Vip needs a decision, got fix %q hint %q", fs[0].Fix, fs[0].Hint)
	}
}

func TestDuplicateThreeOwners(t *testing.T) {
	t.Parallel()
	s := &State{Subnets: []kubeovnv1.Subnet{dtSubnet("ovn-default", "10.16.0.0/16")}}
	// The first holder seen (a's pod) and a's IP object are one owner; b
	// and c come later, so the key is marked only at b.
	s.Pods = []Pod{
		dtPod("x", "a", "ovn-default", dtOld, "10.16.0.5"),
		dtPod("x", "b", "ovn-default", dtNow.Add(-2*time.Hour), "10.16.0.5"),
		dtPod("x", "c", "ovn-default", dtNow.Add(-time.Hour), "10.16.0.5"),
	}
	s.IPs = []kubeovnv1.IP{dtIP("a.x", "x", "a", "ovn-default", "10.16.0.5", dtOld)}
	fs := dupFindings(t, runDuplicates(s))
	if len(fs) != 1 {
		t.Fatalf("want 1 finding, got %d", len(fs))
	}
	if len(fs[0].Objects) != 4 || !strings.Contains(fs[0].Message, "held by 3 owners") {
		t.Errorf("want 3 owners and 4 objects: %s %+v", fs[0].Message, fs[0].Objects)
	}
	if fs[0].Fix[0] != DeleteCommand(RefPod(&s.Pods[2])) {
		t.Errorf("want the latest pod c restarted: %q", fs[0].Fix)
	}
}

// TestDuplicatePodNamedLikeVM: a plain pod named like a VM is not the VM:
// both holding one address is a duplicate (admission keeps them apart the
// same way, annotations.OwnerKey).
func TestDuplicatePodNamedLikeVM(t *testing.T) {
	t.Parallel()
	s := &State{Subnets: []kubeovnv1.Subnet{dtSubnet("ovn-default", "10.16.0.0/16")}}
	s.IPs = append(s.IPs, dtIP("vm1.a", "a", "vm1", "ovn-default", "10.16.0.50", dtOld, func(ip *kubeovnv1.IP) {
		ip.Spec.PodType = kubeovnv1.PodTypeVirtualMachine
	}))
	launcher := dtPod("a", "virt-launcher-vm1-abcde", "ovn-default", dtOld, "10.16.0.50")
	launcher.OwnerReferences = []metav1.OwnerReference{vmiOwner("vm1")}
	s.Pods = append(s.Pods, launcher, dtPod("a", "vm1", "ovn-default", dtOld, "10.16.0.50"))
	fs := dupFindings(t, runDuplicates(s))
	if len(fs) != 1 || !strings.Contains(fs[0].Message, "held by 2 owners") {
		t.Fatalf("findings %+v, want one duplicate of the VM and the pod named like it", fs)
	}
}

// TestDuplicateManyHoldersLinear: 20,000 owners of one address (a bad
// restore) are grouped in linear time, not pairwise.
func TestDuplicateManyHoldersLinear(t *testing.T) {
	t.Parallel()
	s := &State{Subnets: []kubeovnv1.Subnet{dtSubnet("ovn-default", "10.16.0.0/16")}}
	for i := range 20000 {
		n := "p" + strconv.Itoa(i)
		s.IPs = append(s.IPs, dtIP(n+".a", "a", n, "ovn-default", "10.16.0.60", dtOld))
	}
	fs := dupFindings(t, runDuplicates(s))
	if len(fs) != 1 || !strings.Contains(fs[0].Message, "held by 20000 owners") {
		t.Fatalf("%d findings; first %.200v", len(fs), fs)
	}
	if n := len(fs[0].Message); n > 8<<10 {
		t.Errorf("a message of %d bytes: the holders listed are not capped", n)
	}
}

// TestDuplicatesAcrossWorkers runs the duplicate check on a state large
// enough for several goroutines (collect and duplicatesIn split the
// holders and the subnets among them), with duplicates whose holders fall
// in different goroutines' shares, in a subnet of the state and in one
// only IP objects name: exactly the planted ones are found.
func TestDuplicatesAcrossWorkers(t *testing.T) {
	const n = 6000
	s := &State{Subnets: []kubeovnv1.Subnet{dtSubnet("a", "10.0.0.0/16"), dtSubnet("b", "10.1.0.0/16")}}
	for i := range n {
		subnet := []string{"a", "b", "gone"}[i%3]
		addr := "10." + strconv.Itoa(i%3) + "." + strconv.Itoa(i/250) + "." + strconv.Itoa(1+i%250)
		name := "p" + strconv.Itoa(i)
		s.IPs = append(s.IPs, dtIP(name+".ns", "ns", name, subnet, addr, dtOld))
		s.Pods = append(s.Pods, dtPod("ns", name, subnet, dtOld, addr))
	}
	// IP object 3 (subnet a) and the pod of IP object n-3 (a, in the
	// last share) take one address; so do IP object 5 and pod n-1 with
	// its IP object (subnet "gone", which no Subnet object names, met
	// first in each share).
	s.Pods[n-3].PodIPs = []string{s.IPs[3].Spec.IPAddress}
	s.IPs[n-3].Spec.IPAddress = s.IPs[3].Spec.IPAddress
	s.IPs[n-1].Spec.IPAddress = s.IPs[5].Spec.IPAddress
	s.Pods[n-1].PodIPs = []string{s.IPs[5].Spec.IPAddress}
	if workers := min(runtime.GOMAXPROCS(0), 2*n/4096); workers < 2 && runtime.GOMAXPROCS(0) >= 2 {
		t.Fatalf("%d workers: the state is too small to split", workers)
	}
	got := map[string]bool{}
	for _, f := range dupFindings(t, runDuplicates(s)) {
		got[f.ID] = true
	}
	want := map[string]bool{
		CheckDuplicate + "/a/" + s.IPs[3].Spec.IPAddress:    true,
		CheckDuplicate + "/gone/" + s.IPs[5].Spec.IPAddress: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
}
