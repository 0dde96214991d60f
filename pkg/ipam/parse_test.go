package ipam

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"go4.org/netipx"
)

func TestErrorString(t *testing.T) {
	t.Parallel()
	e := &Error{Value: " 10.0.0.0/8", Msg: "must not contain spaces"}
	if got, want := e.Error(), `" 10.0.0.0/8": must not contain spaces`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestFamily(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want Family
		name string
	}{
		{"10.0.0.1", IPv4, "IPv4"},
		{"fd00::1", IPv6, "IPv6"},
		{"::ffff:10.0.0.1", IPv6, "IPv6"},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got := FamilyOf(a); got != tt.want || got.String() != tt.name {
			t.Errorf("FamilyOf(%s) = %v, want %v", tt.addr, got, tt.want)
		}
		if got := FamilyOfPrefix(netip.PrefixFrom(a, 8)); got != tt.want {
			t.Errorf("FamilyOfPrefix(%s/8) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if FamilyOf(netip.Addr{}) != 0 {
		t.Error("FamilyOf(zero) != 0")
	}
	if got := Family(5).String(); got != "Family(5)" {
		t.Errorf("Family(5).String() = %q", got)
	}
}

func TestParsePrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string // "" when an error is expected
		wantMsg string // substring of the error message
	}{
		{in: "10.16.0.0/16", want: "10.16.0.0/16"},
		{in: "192.168.1.0/24", want: "192.168.1.0/24"},
		{in: "10.0.0.0/31", want: "10.0.0.0/31"},
		{in: "10.0.0.7/32", want: "10.0.0.7/32"},
		{in: "0.0.0.1/32", want: "0.0.0.1/32"},
		{in: "255.255.255.254/32", want: "255.255.255.254/32"},
		{in: "223.255.255.0/24", want: "223.255.255.0/24"},
		{in: "fd00:10:16::/64", want: "fd00:10:16::/64"},
		{in: "FD00:10:16::/64", want: "fd00:10:16::/64"},
		{in: "2001:db8::/127", want: "2001:db8::/127"},
		{in: "2001:db8::5/128", want: "2001:db8::5/128"},
		{in: "::2/128", want: "::2/128"},
		{in: "fe00::/9", want: "fe00::/9"},
		{in: "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", want: "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},

		{in: "", wantMsg: "empty CIDR"},
		{in: " 10.0.0.0/8", wantMsg: "must not contain spaces"},
		{in: "10.0.0.0/8 ", wantMsg: "must not contain spaces"},
		{in: "10.0.0.0/ 8", wantMsg: "must not contain spaces"},
		{in: "10.0.0.0\t/8", wantMsg: "must not contain spaces"},
		{in: "10.0.0.0", wantMsg: "missing prefix length"},
		{in: "fd00::1", wantMsg: "missing prefix length"},
		{in: "fe80::%eth0/64", wantMsg: "zones are not allowed"},
		{in: "10.0.0/24", wantMsg: `"10.0.0" is not a valid IP address`},
		{in: "010.0.0.0/24", wantMsg: "not a valid IP address"},
		{in: "/24", wantMsg: "not a valid IP address"},
		{in: "10.0.0.0/", wantMsg: "prefix length"},
		{in: "10.0.0.0/33", wantMsg: "from 0 to 32"},
		{in: "fd00::/129", wantMsg: "from 0 to 128"},
		{in: "10.0.0.0/-1", wantMsg: "prefix length"},
		{in: "10.0.0.0/+8", wantMsg: "prefix length"},
		{in: "10.0.0.0/08", wantMsg: "prefix length"},
		{in: "10.0.0.0/8/8", wantMsg: "prefix length"},
		{in: "10.16.0.5/16", wantMsg: "host bits are set; the network address is 10.16.0.0/16"},
		{in: "fd00::1/64", wantMsg: "host bits are set; the network address is fd00::/64"},
		{in: "::ffff:10.0.0.0/120", wantMsg: "an IPv4-mapped IPv6 prefix is not allowed; write 10.0.0.0/24"},
		{in: "::ffff:0:0/96", wantMsg: "IPv4-mapped"},
		{in: "::fffe:0:0/95", wantMsg: "contains the IPv4-mapped range"},
		{in: "127.0.0.0/8", wantMsg: "loopback range 127.0.0.0/8 cannot be a subnet"},
		{in: "127.0.0.0/16", wantMsg: "inside the loopback range 127.0.0.0/8"},
		{in: "126.0.0.0/7", wantMsg: "contains the loopback range 127.0.0.0/8"},
		{in: "::1/128", wantMsg: "loopback address ::1/128 cannot be a subnet"},
		{in: "224.0.0.0/4", wantMsg: "multicast range"},
		{in: "239.1.0.0/16", wantMsg: "inside the multicast range"},
		{in: "192.0.0.0/2", wantMsg: "contains the multicast range"},
		{in: "ff02::/16", wantMsg: "inside the multicast range ff00::/8"},
		{in: "169.254.0.0/16", wantMsg: "link-local range"},
		{in: "169.254.3.0/24", wantMsg: "inside the link-local range"},
		{in: "fe80::/64", wantMsg: "inside the link-local range fe80::/10"},
		{in: "0.0.0.0/0", wantMsg: "contains the unspecified address 0.0.0.0/32"},
		{in: "0.0.0.0/8", wantMsg: "unspecified address"},
		{in: "0.0.0.0/32", wantMsg: "unspecified address 0.0.0.0/32 cannot be a subnet"},
		{in: "::/0", wantMsg: "contains the unspecified address ::/128"},
		{in: "::/128", wantMsg: "unspecified address"},
		{in: "255.255.255.255/32", wantMsg: "broadcast address 255.255.255.255/32 cannot be a subnet"},
		{in: "255.255.255.0/24", wantMsg: "contains the broadcast address"},
		{in: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", wantMsg: "multicast"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePrefix(tt.in)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("ParsePrefix(%q) error: %v", tt.in, err)
				}
				if got.String() != tt.want {
					t.Fatalf("ParsePrefix(%q) = %s, want %s", tt.in, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParsePrefix(%q) = %s, want error containing %q", tt.in, got, tt.wantMsg)
			}
			if err.Value != tt.in || !strings.Contains(err.Msg, tt.wantMsg) {
				t.Fatalf("ParsePrefix(%q) error = %+v, want Value %q and Msg containing %q", tt.in, err, tt.in, tt.wantMsg)
			}
			if got.IsValid() {
				t.Fatalf("ParsePrefix(%q) returned %s along with an error", tt.in, got)
			}
			if strings.ToLower(err.Msg[:1]) != err.Msg[:1] {
				t.Fatalf("message %q is not lower-case", err.Msg)
			}
		})
	}
}

type wantErr struct{ value, msg string }

func checkErrs(t *testing.T, got []*Error, want []wantErr) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d errors %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i].Value != want[i].value || !strings.Contains(got[i].Msg, want[i].msg) {
			t.Errorf("error %d = %+v, want Value %q and Msg containing %q", i, got[i], want[i].value, want[i].msg)
		}
	}
}

func TestParseCIDRBlock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
		errs []wantErr
	}{
		{in: "10.16.0.0/16", want: []string{"10.16.0.0/16"}},
		{in: "fd00:10:16::/64", want: []string{"fd00:10:16::/64"}},
		{in: "10.16.0.0/16,fd00:10:16::/64", want: []string{"10.16.0.0/16", "fd00:10:16::/64"}},
		{in: "10.0.0.0/31,fd00::/127", want: []string{"10.0.0.0/31", "fd00::/127"}},
		{in: "", errs: []wantErr{{"", "empty cidrBlock"}}},
		{in: ",", errs: []wantErr{{",", "element 1 is empty"}, {",", "element 2 is empty"}}},
		{in: "10.16.0.0/16,", errs: []wantErr{{"10.16.0.0/16,", "element 2 is empty; remove the extra comma"}}},
		{in: ",10.16.0.0/16", errs: []wantErr{{",10.16.0.0/16", "element 1 is empty"}}},
		{in: "10.16.0.0/16, fd00::/64", errs: []wantErr{{" fd00::/64", "must not contain spaces"}}},
		{in: "fd00::/64,10.0.0.0/24", errs: []wantErr{{"fd00::/64,10.0.0.0/24", "the IPv4 block must come first; write 10.0.0.0/24,fd00::/64"}}},
		{in: "10.0.0.0/24,10.1.0.0/24", errs: []wantErr{{"10.0.0.0/24,10.1.0.0/24", "2 IPv4 blocks given"}}},
		{in: "fd00::/64,fd01::/64", errs: []wantErr{{"fd00::/64,fd01::/64", "2 IPv6 blocks given"}}},
		{in: "10.0.0.0/24,fd00::/64,10.1.0.0/24", errs: []wantErr{
			{"10.0.0.0/24,fd00::/64,10.1.0.0/24", "3 blocks given; at most two"},
			{"10.0.0.0/24,fd00::/64,10.1.0.0/24", "2 IPv4 blocks"},
		}},
		{in: "10.0.0.5/24,fd00::1/64", errs: []wantErr{
			{"10.0.0.5/24", "network address is 10.0.0.0/24"},
			{"fd00::1/64", "network address is fd00::/64"},
		}},
		{in: "127.0.0.0/8,bogus", errs: []wantErr{{"127.0.0.0/8", "loopback"}, {"bogus", "missing prefix length"}}},
		{in: "10.0.0.0/24;fd00::/64", errs: []wantErr{{"10.0.0.0/24;fd00::/64", "prefix length"}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, errs := ParseCIDRBlock(tt.in)
			checkErrs(t, errs, tt.errs)
			if len(tt.errs) > 0 {
				if got != nil {
					t.Fatalf("blocks = %v along with errors", got)
				}
				return
			}
			var gotS []string
			for _, p := range got {
				gotS = append(gotS, p.String())
			}
			if !slices.Equal(gotS, tt.want) {
				t.Fatalf("blocks = %v, want %v", gotS, tt.want)
			}
		})
	}
}

func mustBlocks(t testing.TB, s string) []netip.Prefix {
	t.Helper()
	b, errs := ParseCIDRBlock(s)
	if errs != nil {
		t.Fatalf("ParseCIDRBlock(%q): %v", s, errs)
	}
	return b
}

func TestParseGateway(t *testing.T) {
	t.Parallel()
	tests := []struct {
		gw, cidr string
		want     []string
		errs     []wantErr
	}{
		{gw: "", cidr: "10.16.0.0/16", want: []string{"10.16.0.1"}},
		{gw: "", cidr: "10.16.0.0/16,fd00:10:16::/64", want: []string{"10.16.0.1", "fd00:10:16::1"}},
		{gw: "", cidr: "10.0.0.4/31", want: []string{"10.0.0.4"}},
		{gw: "", cidr: "10.0.0.4/32", want: []string{"10.0.0.4"}},
		{gw: "", cidr: "fd00::/127", want: []string{"fd00::"}},
		{gw: "", cidr: "fd00::9/128", want: []string{"fd00::9"}},
		{gw: "10.16.0.254", cidr: "10.16.0.0/16", want: []string{"10.16.0.254"}},
		{gw: "10.16.255.254", cidr: "10.16.0.0/16", want: []string{"10.16.255.254"}},
		{gw: "10.16.0.1,FD00:10:16::FFFF", cidr: "10.16.0.0/16,fd00:10:16::/64", want: []string{"10.16.0.1", "fd00:10:16::ffff"}},
		{gw: "10.0.0.5", cidr: "10.0.0.4/31", want: []string{"10.0.0.5"}},
		{gw: "10.0.0.4", cidr: "10.0.0.4/31", want: []string{"10.0.0.4"}},
		{gw: "10.0.0.4", cidr: "10.0.0.4/32", want: []string{"10.0.0.4"}},
		{gw: "fd00::1", cidr: "fd00::/127", want: []string{"fd00::1"}},

		{gw: "10.16.0.0", cidr: "10.16.0.0/16", errs: []wantErr{{"10.16.0.0", "the network address of 10.16.0.0/16 cannot be the gateway"}}},
		{gw: "10.16.255.255", cidr: "10.16.0.0/16", errs: []wantErr{{"10.16.255.255", "the broadcast address of 10.16.0.0/16"}}},
		// IPv6 has no broadcast address: newer Kube-OVN accepts the all-ones
		// address as gateway (kube-ovn #6883), so the union of releases does.
		{gw: "fd00::ffff:ffff:ffff:ffff", cidr: "fd00::/64", want: []string{"fd00::ffff:ffff:ffff:ffff"}},
		{gw: "10.17.0.1", cidr: "10.16.0.0/16", errs: []wantErr{{"10.17.0.1", "gateway is outside 10.16.0.0/16"}}},
		{gw: "fd00::1", cidr: "10.16.0.0/16", errs: []wantErr{{"fd00::1", "gateway 1 is IPv6 but block 1 (10.16.0.0/16) is IPv4"}}},
		{gw: "fd00::1,10.16.0.1", cidr: "10.16.0.0/16,fd00::/64", errs: []wantErr{
			{"fd00::1", "gateway 1 is IPv6"}, {"10.16.0.1", "gateway 2 is IPv4"},
		}},
		{gw: "10.16.0.1", cidr: "10.16.0.0/16,fd00::/64", errs: []wantErr{{"10.16.0.1", "expected 2 gateways (one per block), got 1"}}},
		{gw: "10.16.0.0", cidr: "10.16.0.0/16,fd00::/64", errs: []wantErr{
			{"10.16.0.0", "expected 2 gateways"}, {"10.16.0.0", "network address"},
		}},
		{gw: "10.16.0.1,fd00::1", cidr: "10.16.0.0/16", errs: []wantErr{
			{"10.16.0.1,fd00::1", "expected 1 gateway (one per block), got 2"}, {"fd00::1", "the subnet has no IPv6 block"},
		}},
		{gw: "10.16.0.1,", cidr: "10.16.0.0/16,fd00::/64", errs: []wantErr{{"10.16.0.1,", "element 2 is empty"}}},
		{gw: " 10.16.0.1", cidr: "10.16.0.0/16", errs: []wantErr{{" 10.16.0.1", "must not contain spaces"}}},
		{gw: "10.16.0.1/16", cidr: "10.16.0.0/16", errs: []wantErr{{"10.16.0.1/16", "is a CIDR"}}},
		{gw: "fd00::1%eth0", cidr: "fd00::/64", errs: []wantErr{{"fd00::1%eth0", "zones are not allowed; write fd00::1"}}},
		{gw: "::ffff:10.16.0.1", cidr: "10.16.0.0/16", errs: []wantErr{{"::ffff:10.16.0.1", "write 10.16.0.1"}}},
		{gw: "gw", cidr: "10.16.0.0/16", errs: []wantErr{{"gw", "not a valid IP address"}}},
		{gw: "1.2.3.4", cidr: "", want: nil},
		{gw: "bogus", cidr: "", errs: []wantErr{{"bogus", "not a valid IP address"}}},
	}
	for _, tt := range tests {
		t.Run(tt.gw+"|"+tt.cidr, func(t *testing.T) {
			t.Parallel()
			var blocks []netip.Prefix
			if tt.cidr != "" {
				blocks = mustBlocks(t, tt.cidr)
			}
			got, errs := ParseGateway(tt.gw, blocks)
			checkErrs(t, errs, tt.errs)
			if len(tt.errs) > 0 && got != nil {
				t.Fatalf("gateways = %v along with errors", got)
			}
			var gotS []string
			for _, a := range got {
				gotS = append(gotS, a.String())
			}
			if !slices.Equal(gotS, tt.want) {
				t.Fatalf("gateways = %v, want %v", gotS, tt.want)
			}
		})
	}
}

func TestParseExcludeEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string
		wantMsg string
	}{
		{in: "10.0.0.5", want: "10.0.0.5-10.0.0.5"},
		{in: "10.0.0.5..10.0.0.9", want: "10.0.0.5-10.0.0.9"},
		{in: "10.0.0.5..10.0.0.5", want: "10.0.0.5-10.0.0.5"},
		{in: "0.0.0.0..255.255.255.255", want: "0.0.0.0-255.255.255.255"},
		{in: "fd00::1..FD00::FF", want: "fd00::1-fd00::ff"},
		{in: "::..ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", want: "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},

		{in: "", wantMsg: "empty entry"},
		{in: " 10.0.0.5", wantMsg: "must not contain spaces"},
		{in: "10.0.0.5 .. 10.0.0.9", wantMsg: "must not contain spaces"},
		{in: "10.0.0.0/24", wantMsg: "CIDRs are not supported in excludeIps; write the range 10.0.0.0..10.0.0.255"},
		{in: "10.0.0.1/24", wantMsg: "write the range 10.0.0.0..10.0.0.255"},
		{in: "10.0.0.0/99", wantMsg: "CIDRs are not supported"},
		{in: "10.0.0.5..", wantMsg: "missing its end address"},
		{in: "..10.0.0.5", wantMsg: "missing its start address"},
		{in: "..", wantMsg: "missing its start address"},
		{in: "10.0.0.9..10.0.0.5", wantMsg: "range start is after its end; write 10.0.0.5..10.0.0.9"},
		{in: "10.0.0.1..fd00::1", wantMsg: "range mixes families (IPv4 start, IPv6 end)"},
		{in: "10.0.0.1..10.0.0.2..10.0.0.3", wantMsg: "not a valid IP address"},
		{in: "10.0.0.1-10.0.0.3", wantMsg: "not a valid IP address"},
		{in: "10.0.0", wantMsg: "not a valid IP address"},
		{in: "fe80::1%eth0", wantMsg: "zones are not allowed"},
		{in: "::ffff:10.0.0.1", wantMsg: "IPv4-mapped"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseExcludeEntry(tt.in)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				if got.String() != tt.want {
					t.Fatalf("got %s, want %s", got, tt.want)
				}
				return
			}
			if err == nil || err.Value != tt.in || !strings.Contains(err.Msg, tt.wantMsg) {
				t.Fatalf("error = %v, want Value %q and Msg containing %q", err, tt.in, tt.wantMsg)
			}
			if got != (netipx.IPRange{}) {
				t.Fatalf("range %s returned along with an error", got)
			}
		})
	}
}
