package inventory

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// eachIPAddrs collects what EachIPAddr yields.
func eachIPAddrs(spec *kubeovnv1.IPSpec) []IPAddr {
	var out []IPAddr
	EachIPAddr(spec, func(a IPAddr) bool { out = append(out, a); return true })
	return out
}

func TestEachIPAddrIsIPAddrs(t *testing.T) {
	t.Parallel()
	long := make([]string, 40)
	for i := range long {
		long[i] = fmt.Sprintf("10.0.0.%d", i%30)
	}
	for _, spec := range []kubeovnv1.IPSpec{
		{},
		{Subnet: "a", IPAddress: "10.16.0.5,fd00::5", V4IPAddress: "10.16.0.5", V6IPAddress: "fd00::5"},
		{Subnet: "a", IPAddress: " 10.16.0.5 ,,x,", V4IPAddress: "10.16.0.6", AttachSubnets: []string{"b", "a", ""}, AttachIPs: []string{"10.16.0.6", "10.16.0.6", "1.2.3.4"}},
		{Subnet: "a", IPAddress: strings.Join(long, ",")},
	} {
		if got, want := eachIPAddrs(&spec), IPAddrs(&spec); !reflect.DeepEqual(got, want) {
			t.Errorf("EachIPAddr(%+v) = %v, IPAddrs = %v", spec, fmtIPAddrs(got), fmtIPAddrs(want))
		}
	}
	spec := kubeovnv1.IPSpec{Subnet: "a", IPAddress: "10.16.0.5,fd00::5", V4IPAddress: "10.16.0.5", V6IPAddress: "fd00::5"}
	n := 0
	EachIPAddr(&spec, func(IPAddr) bool { n++; return false })
	if n != 1 {
		t.Errorf("EachIPAddr went on after false: %d calls", n)
	}
}

// TestEachIPAddrAllocatesNothing (not parallel: AllocsPerRun counts the
// whole process).
func TestEachIPAddrAllocatesNothing(t *testing.T) {
	spec := kubeovnv1.IPSpec{Subnet: "a", IPAddress: "10.16.0.5,fd00::5", V4IPAddress: "10.16.0.5", V6IPAddress: "fd00::5", AttachSubnets: []string{"b"}, AttachIPs: []string{"10.1.0.1"}}
	if allocs := testing.AllocsPerRun(100, func() { EachIPAddr(&spec, func(IPAddr) bool { return true }) }); allocs != 0 {
		t.Errorf("EachIPAddr allocates %v times per IP object", allocs)
	}
	n := 0
	if allocs := testing.AllocsPerRun(100, func() {
		for range IPAddrSeq(&spec) {
			n++
		}
	}); allocs != 0 {
		t.Errorf("ranging over IPAddrSeq allocates %v times per IP object", allocs)
	}
}

func FuzzEachIPAddr(f *testing.F) {
	f.Add("a", "10.16.0.5,fd00::5", "10.16.0.5", "fd00::5", "b", "172.30.0.5")
	f.Fuzz(func(t *testing.T, subnet, ipAddress, v4, v6, attachSubnet, attachIP string) {
		spec := kubeovnv1.IPSpec{Subnet: subnet, IPAddress: ipAddress, V4IPAddress: v4, V6IPAddress: v6,
			AttachSubnets: []string{attachSubnet}, AttachIPs: []string{attachIP}}
		if got, want := eachIPAddrs(&spec), IPAddrs(&spec); !reflect.DeepEqual(got, want) {
			t.Fatalf("EachIPAddr = %v, IPAddrs = %v", fmtIPAddrs(got), fmtIPAddrs(want))
		}
	})
}
