package inventory

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// TestUpsertIPsIsUpsertIP: UpsertIPs leaves a Store as UpsertIP on each
// object in turn does, into an empty Store and one already holding IP
// objects, with names given twice, objects without addresses, dual-stack
// and attachment addresses and shared addresses.
func TestUpsertIPsIsUpsertIP(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	batch := func(n int) []kubeovnv1.IP {
		out := make([]kubeovnv1.IP, n)
		for i := range out {
			ip := &out[i]
			ip.Name = fmt.Sprintf("ip-%d", rng.IntN(n*3/4+1)) // some twice
			ip.Spec.Subnet = fmt.Sprintf("s%d", rng.IntN(5))
			ip.Spec.PodName, ip.Spec.Namespace = ip.Name, "ns"
			switch rng.IntN(6) {
			case 0: // no address
			case 1:
				ip.Spec.IPAddress = fmt.Sprintf("10.0.%d.%d,fd00::%x", rng.IntN(4), rng.IntN(256), rng.IntN(4096))
			case 2:
				ip.Spec.IPAddress = fmt.Sprintf("10.0.%d.%d", rng.IntN(4), rng.IntN(256))
				ip.Spec.AttachSubnets = []string{"att"}
				ip.Spec.AttachIPs = []string{fmt.Sprintf("192.168.0.%d", rng.IntN(256))}
			default:
				ip.Spec.IPAddress = fmt.Sprintf("10.0.%d.%d", rng.IntN(4), rng.IntN(256))
				ip.Spec.V4IPAddress = ip.Spec.IPAddress
			}
		}
		return out
	}
	for _, n := range []int{0, 1, 50, 5000} {
		for _, before := range [][]kubeovnv1.IP{nil, batch(300)} {
			objs := batch(n)
			one, many := New("ovn-cluster"), New("ovn-cluster")
			for i := range before {
				one.UpsertIP(&before[i])
				many.UpsertIP(&before[i])
			}
			for i := range objs {
				one.UpsertIP(&objs[i])
			}
			many.UpsertIPs(objs)
			if got, want := many.Digest(), one.Digest(); !reflect.DeepEqual(got, want) {
				t.Errorf("%d objects onto %d: UpsertIPs gives %+v, UpsertIP %+v", n, len(before), got, want)
			}
			if many.holders.Len() != one.holders.Len() || !reflect.DeepEqual(many.counts, one.counts) {
				t.Errorf("%d objects onto %d: %d entries and counts %v, want %d and %v", n, len(before), many.holders.Len(), many.counts, one.holders.Len(), one.counts)
			}
		}
	}
}
