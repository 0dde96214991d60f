package diagnose

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// TestIndexPodsAndIPs holds the index's links between pods and IP
// objects (ipPod, podFirstIP, ipsByPod, nextIP) to their definition by
// name, on random states large enough to split the lookups among
// goroutines: pods named twice, VM launcher pods whose IP objects name the
// VM, IP objects of gone pods and without a pod.
func TestIndexPodsAndIPs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	yes := true
	for round := range 4 {
		s := &State{}
		nPods, nIPs := 3000+round*2000, 4000+round*2000
		for i := range nPods {
			p := Pod{Meta: Meta{Namespace: fmt.Sprintf("ns%d", i%3), Name: fmt.Sprintf("p%d", rng.IntN(nPods))}}
			if rng.IntN(10) == 0 {
				p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachineInstance", Name: fmt.Sprintf("vm%d", rng.IntN(50)), Controller: &yes}}
			}
			s.Pods = append(s.Pods, p)
		}
		for range nIPs {
			var ip kubeovnv1.IP
			ip.Spec.Namespace = fmt.Sprintf("ns%d", rng.IntN(3))
			switch rng.IntN(5) {
			case 0:
				ip.Spec.PodName = fmt.Sprintf("vm%d", rng.IntN(50))
			case 1:
				// no pod
			default:
				ip.Spec.PodName = fmt.Sprintf("p%d", rng.IntN(nPods*5/4))
			}
			s.IPs = append(s.IPs, ip)
		}
		x := newIndex(s)
		// By definition: the IP objects naming namespace/name, in order.
		byName := func(ns, name string) []int32 {
			var out []int32
			for i := range s.IPs {
				if s.IPs[i].Spec.PodName == name && s.IPs[i].Spec.Namespace == ns {
					out = append(out, int32(i))
				}
			}
			return out
		}
		chain := func(i int32) []int32 {
			var out []int32
			for ; i >= 0; i = x.nextIP[i] {
				out = append(out, i)
			}
			return out
		}
		for i := range s.Pods {
			p := &s.Pods[i]
			want := byName(p.Namespace, p.Name)
			if vm := launcherVM(p); len(want) == 0 && vm != "" && vm != p.Name {
				want = byName(p.Namespace, vm)
			}
			if got := chain(x.firstPodIP(p)); !slices.Equal(got, want) {
				t.Fatalf("round %d, pod %d %s/%s: IP objects %v, want %v", round, i, p.Namespace, p.Name, got, want)
			}
		}
		for i := range s.IPs {
			ip := &s.IPs[i]
			if got, want := x.podOfIP(ip), x.pods[key(ip.Spec.Namespace, ip.Spec.PodName)]; got != want {
				t.Fatalf("round %d, IP object %d: pod %p, want %p", round, i, got, want)
			}
		}
		if !x.podDup {
			t.Fatalf("round %d: no pod named twice noticed", round)
		}
	}
}

func launcherVM(p *Pod) string {
	for _, r := range p.OwnerReferences {
		if r.Kind == "VirtualMachineInstance" {
			return r.Name
		}
	}
	return ""
}
