package inventory

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/ipam"
)

// fmtIPAddrs renders addresses as "subnet/addr@field[index]=value" for
// comparison.
func fmtIPAddrs(as []IPAddr) []string {
	names := map[IPField]string{FieldV4IPAddress: "v4IpAddress", FieldV6IPAddress: "v6IpAddress", FieldIPAddress: "ipAddress", FieldAttachIPs: "attachIps"}
	out := make([]string, len(as))
	for i, a := range as {
		f := names[a.Field]
		if a.Field == FieldAttachIPs {
			f += fmt.Sprintf("[%d]", a.Index)
		} else if a.Index != 0 {
			f += fmt.Sprintf("[%d!]", a.Index)
		}
		out[i] = fmt.Sprintf("%s/%s@%s=%s", a.Subnet, a.Addr, f, a.Value)
	}
	return out
}

func TestIPAddrs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		spec kubeovnv1.IPSpec
		want []string
	}{
		{name: "empty", spec: kubeovnv1.IPSpec{Subnet: "a"}},
		{name: "ipAddress only", spec: kubeovnv1.IPSpec{Subnet: "a", IPAddress: "10.16.0.5"},
			want: []string{"a/10.16.0.5@ipAddress=10.16.0.5"}},
		{name: "family fields only (a reservation)", spec: kubeovnv1.IPSpec{Subnet: "a", V4IPAddress: "10.16.0.5", V6IPAddress: "fd00::5"},
			want: []string{"a/10.16.0.5@v4IpAddress=10.16.0.5", "a/fd00::5@v6IpAddress=fd00::5"}},
		{name: "all three consistent: family fields named", spec: kubeovnv1.IPSpec{Subnet: "a", IPAddress: "10.16.0.5", V4IPAddress: "10.16.0.5"},
			want: []string{"a/10.16.0.5@v4IpAddress=10.16.0.5"}},
		{name: "dual stack as the controller writes it", spec: kubeovnv1.IPSpec{Subnet: "a", IPAddress: "10.16.0.5,fd00::5", V4IPAddress: "10.16.0.5", V6IPAddress: "fd00::5"},
			want: []string{"a/10.16.0.5@v4IpAddress=10.16.0.5", "a/fd00::5@v6IpAddress=fd00::5"}},
		{name: "dual stack ipAddress only, ipv6 first", spec: kubeovnv1.IPSpec{Subnet: "a", IPAddress: "fd00::5,10.16.0.5"},
			want: []string{"a/fd00::5@ipAddress=fd00::5,10.16.0.5", "a/10.16.0.5@ipAddress=fd00::5,10.16.0.5"}},
		{name: "disagreeing: the union", spec: kubeovnv1.IPSpec{Subnet: "a", IPAddress: "10.16.0.5", V4IPAddress: "10.16.0.6"},
			want: []string{"a/10.16.0.6@v4IpAddress=10.16.0.6", "a/10.16.0.5@ipAddress=10.16.0.5"}},
		{name: "ipAddress misses ipv6", spec: kubeovnv1.IPSpec{Subnet: "a", IPAddress: "10.16.0.5", V4IPAddress: "10.16.0.5", V6IPAddress: "fd00::5"},
			want: []string{"a/10.16.0.5@v4IpAddress=10.16.0.5", "a/fd00::5@v6IpAddress=fd00::5"}},
		{name: "ipAddress has an ipv6 the family fields lack", spec: kubeovnv1.IPSpec{Subnet: "a", IPAddress: "10.16.0.5,fd00::7", V4IPAddress: "10.16.0.5"},
			want: []string{"a/10.16.0.5@v4IpAddress=10.16.0.5", "a/fd00::7@ipAddress=10.16.0.5,fd00::7"}},
		{name: "attachments pair by position", spec: kubeovnv1.IPSpec{Subnet: "a", IPAddress: "10.16.0.5",
			AttachSubnets: []string{"b", "c"}, AttachIPs: []string{"172.30.0.5,fd00:30::5", "10.16.0.5"}},
			want: []string{"a/10.16.0.5@ipAddress=10.16.0.5", "b/172.30.0.5@attachIps[0]=172.30.0.5,fd00:30::5",
				"b/fd00:30::5@attachIps[0]=172.30.0.5,fd00:30::5", "c/10.16.0.5@attachIps[1]=10.16.0.5"}},
		{name: "attachment without subnet or address", spec: kubeovnv1.IPSpec{Subnet: "a",
			AttachSubnets: []string{"b", "", "d"}, AttachIPs: []string{"", "10.9.0.1"}}},
		{name: "attachment in the primary subnet, same address once", spec: kubeovnv1.IPSpec{Subnet: "a", V4IPAddress: "10.16.0.5",
			AttachSubnets: []string{"a"}, AttachIPs: []string{"10.16.0.5"}},
			want: []string{"a/10.16.0.5@v4IpAddress=10.16.0.5"}},
		{name: "spaces are trimmed", spec: kubeovnv1.IPSpec{Subnet: "a", IPAddress: " 10.16.0.5 , fd00::5 ", V4IPAddress: " 10.16.0.5"},
			want: []string{"a/10.16.0.5@v4IpAddress= 10.16.0.5", "a/fd00::5@ipAddress= 10.16.0.5 , fd00::5 "}},
		{name: "bad entries are skipped", spec: kubeovnv1.IPSpec{Subnet: "a", IPAddress: "10.16.0.500,,10.16.0.0/16,fd00::9",
			V4IPAddress: "10.16.0.7..10.16.0.9", V6IPAddress: "x"},
			want: []string{"a/fd00::9@ipAddress=10.16.0.500,,10.16.0.0/16,fd00::9"}},
		{name: "duplicates count once", spec: kubeovnv1.IPSpec{Subnet: "a", IPAddress: "10.16.0.5,10.16.0.5", V4IPAddress: "10.16.0.5,10.16.0.5"},
			want: []string{"a/10.16.0.5@v4IpAddress=10.16.0.5,10.16.0.5"}},
		{name: "no subnet holds nothing in it", spec: kubeovnv1.IPSpec{IPAddress: "10.16.0.5", V4IPAddress: "10.16.0.6",
			AttachSubnets: []string{"b"}, AttachIPs: []string{"172.30.0.5"}},
			want: []string{"b/172.30.0.5@attachIps[0]=172.30.0.5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := fmtIPAddrs(IPAddrs(&tc.spec))
			if !slices.Equal(got, tc.want) {
				t.Errorf("IPAddrs =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// TestIPHoldersAreIPAddrs: the Store records exactly what IPAddrs names,
// so an IP object whose ipAddress disagrees with its family fields is
// found under every address it names.
func TestIPHoldersAreIPAddrs(t *testing.T) {
	t.Parallel()
	ip := &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "odd.ns"}, Spec: kubeovnv1.IPSpec{
		PodName: "odd", Namespace: "ns", Subnet: "a", IPAddress: "10.16.0.5", V4IPAddress: "10.16.0.6",
		AttachSubnets: []string{"b"}, AttachIPs: []string{"172.30.0.5"}}}
	hs := IPHolders(ip)
	as := IPAddrs(&ip.Spec)
	if len(hs) != len(as) {
		t.Fatalf("IPHolders = %v, IPAddrs = %v", hs, as)
	}
	for i, h := range hs {
		if h.Subnet != as[i].Subnet || h.Addr != as[i].Addr || h.Kind != HolderIP || h.Name != "odd.ns" || h.Owner() != "pod ns/odd" {
			t.Errorf("holder %d = %+v, want %s/%s of pod ns/odd", i, h, as[i].Subnet, as[i].Addr)
		}
	}

	s := New("ovn-cluster")
	s.UpsertIP(ip)
	held := func(subnet, addr string) []string {
		var names []string
		a := netip.MustParseAddr(addr)
		s.Read(func(r Reader) {
			r.InUse(subnet, a, a, func(h Holder) bool { names = append(names, h.Name); return true })
		})
		return names
	}
	for _, k := range [][2]string{{"a", "10.16.0.5"}, {"a", "10.16.0.6"}, {"b", "172.30.0.5"}} {
		if got := held(k[0], k[1]); !slices.Equal(got, []string{"odd.ns"}) {
			t.Errorf("InUse(%s, %s) = %v, want [odd.ns]", k[0], k[1], got)
		}
	}
	s.Read(func(r Reader) {
		if n := r.InUseCount("a", ipam.IPv4); n != 2 {
			t.Errorf("InUseCount(a, IPv4) = %d, want 2 (both addresses count as held)", n)
		}
	})
	// An update that makes the fields agree releases the other address.
	fixed := ip.DeepCopy()
	fixed.Spec.IPAddress = "10.16.0.6"
	s.UpsertIP(fixed)
	if got := held("a", "10.16.0.5"); len(got) != 0 {
		t.Errorf("after the fix 10.16.0.5 still held by %v", got)
	}
	if got := held("a", "10.16.0.6"); !slices.Equal(got, []string{"odd.ns"}) {
		t.Errorf("after the fix 10.16.0.6 held by %v", got)
	}
}

// FuzzIPAddrs: any spec yields valid, distinct addresses in non-empty
// subnets, each read from a field that names it.
func FuzzIPAddrs(f *testing.F) {
	f.Add("a", "10.16.0.5,fd00::5", "10.16.0.5", "fd00::5", "b", "172.30.0.5")
	f.Add("a", " 10.16.0.5 ,,x", "10.16.0.6", "", "", "1.2.3.4")
	f.Fuzz(func(t *testing.T, subnet, ipAddress, v4, v6, attachSubnet, attachIP string) {
		spec := kubeovnv1.IPSpec{Subnet: subnet, IPAddress: ipAddress, V4IPAddress: v4, V6IPAddress: v6,
			AttachSubnets: []string{attachSubnet}, AttachIPs: []string{attachIP}}
		as := IPAddrs(&spec)
		fields := map[IPField]string{FieldV4IPAddress: v4, FieldV6IPAddress: v6, FieldIPAddress: ipAddress, FieldAttachIPs: attachIP}
		for i, a := range as {
			if !a.Addr.IsValid() || a.Subnet == "" || a.Value != fields[a.Field] || a.Index != 0 {
				t.Fatalf("bad entry %+v", a)
			}
			if containsAddr(as[:i], a.Subnet, a.Addr) {
				t.Fatalf("duplicate %+v in %+v", a, as)
			}
		}
	})
}
