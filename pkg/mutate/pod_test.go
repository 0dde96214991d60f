package mutate

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/ipamguard/ipamguard/pkg/annotations"
)

const (
	ipKey    = "ovn.kubernetes.io/ip_address"
	poolKey  = "ovn.kubernetes.io/ip_pool"
	lsKey    = "ovn.kubernetes.io/logical_switch"
	attKey   = "net1.default.ovn.kubernetes.io/ip_address"
	ifaceKey = "net1.default.kubernetes.io/ip_address.eth2" // the per-interface form
)

// testResolver resolves like a small inventory: the default provider lands
// in ovn-default 10.16.0.0/16 unless logical_switch names "dual"; net1
// lands in 192.168.50.0/24,fd00:50::/64.
func testResolver(calls *int) Resolver {
	return func(req annotations.Request) []netip.Prefix {
		*calls++
		switch {
		case req.Provider == "net1.default.ovn", req.Provider == "net1.default" && req.Interface != "":
			return []netip.Prefix{netip.MustParsePrefix("192.168.50.0/24"), netip.MustParsePrefix("fd00:50::/64")}
		case req.LogicalSwitch == "dual":
			return []netip.Prefix{netip.MustParsePrefix("10.80.0.0/24"), netip.MustParsePrefix("fd00:80::/64")}
		case req.LogicalSwitch == "":
			return []netip.Prefix{netip.MustParsePrefix("10.16.0.0/16")}
		}
		return nil
	}
}

func TestDefaultPodAnnotations(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		ann      map[string]string
		want     []AnnotationChange
		warnings []string
	}{
		{
			name:     "spaces trimmed",
			ann:      map[string]string{ipKey: " 10.16.0.5 "},
			want:     []AnnotationChange{{ipKey, "10.16.0.5"}},
			warnings: []string{`metadata.annotations[ovn.kubernetes.io/ip_address] " 10.16.0.5 " normalised to 10.16.0.5`},
		},
		{
			name:     "IPv4 before IPv6, canonical IPv6 text",
			ann:      map[string]string{lsKey: "dual", ipKey: "FD00:80:0::9, 10.80.0.9"},
			want:     []AnnotationChange{{ipKey, "10.80.0.9,fd00:80::9"}},
			warnings: []string{`metadata.annotations[ovn.kubernetes.io/ip_address] "FD00:80:0::9, 10.80.0.9" normalised to 10.80.0.9,fd00:80::9`},
		},
		{
			name:     "a prefix equal to the subnet's is stripped",
			ann:      map[string]string{ipKey: "10.16.0.5/16"},
			want:     []AnnotationChange{{ipKey, "10.16.0.5"}},
			warnings: []string{"metadata.annotations[ovn.kubernetes.io/ip_address] 10.16.0.5/16 normalised to 10.16.0.5"},
		},
		{
			name: "dual stack prefixes stripped per family",
			ann:  map[string]string{lsKey: "dual", ipKey: "fd00:80::9/64,10.80.0.9/24"},
			want: []AnnotationChange{{ipKey, "10.80.0.9,fd00:80::9"}},
			warnings: []string{
				"metadata.annotations[ovn.kubernetes.io/ip_address] fd00:80::9/64,10.80.0.9/24 normalised to 10.80.0.9,fd00:80::9",
			},
		},
		{
			name: "ip_pool groups: each reordered, group order kept",
			ann:  map[string]string{lsKey: "dual", poolKey: "fd00:80::10,10.80.0.10; 10.80.0.11,FD00:80::11 ;fd00:80::12/64,10.80.0.12"},
			want: []AnnotationChange{{poolKey, "10.80.0.10,fd00:80::10;10.80.0.11,fd00:80::11;10.80.0.12,fd00:80::12"}},
			warnings: []string{
				`metadata.annotations[ovn.kubernetes.io/ip_pool] "fd00:80::10,10.80.0.10; 10.80.0.11,FD00:80::11 ;fd00:80::12/64,10.80.0.12" normalised to 10.80.0.10,fd00:80::10;10.80.0.11,fd00:80::11;10.80.0.12,fd00:80::12`,
			},
		},
		{
			name:     "flat ip_pool: IPv4 first, order within a family kept",
			ann:      map[string]string{lsKey: "dual", poolKey: "fd00:80::2,10.80.0.9,fd00:80::1,10.80.0.3"},
			want:     []AnnotationChange{{poolKey, "10.80.0.9,10.80.0.3,fd00:80::2,fd00:80::1"}},
			warnings: []string{"metadata.annotations[ovn.kubernetes.io/ip_pool] fd00:80::2,10.80.0.9,fd00:80::1,10.80.0.3 normalised to 10.80.0.9,10.80.0.3,fd00:80::2,fd00:80::1"},
		},
		{
			name: "attachment network and interface suffix",
			ann:  map[string]string{attKey: "192.168.50.9/24", ifaceKey: " fd00:50::9"},
			// Requests come in provider order: "net1.default" (the NAD of
			// the per-interface key) before "net1.default.ovn".
			want: []AnnotationChange{{ifaceKey, "fd00:50::9"}, {attKey, "192.168.50.9"}},
			warnings: []string{
				`metadata.annotations[net1.default.kubernetes.io/ip_address.eth2] " fd00:50::9" normalised to fd00:50::9`,
				"metadata.annotations[net1.default.ovn.kubernetes.io/ip_address] 192.168.50.9/24 normalised to 192.168.50.9",
			},
		},
		{name: "canonical values are untouched", ann: map[string]string{lsKey: "dual", ipKey: "10.80.0.9,fd00:80::9", poolKey: "10.80.0.10,fd00:80::10;10.80.0.11,fd00:80::11"}},
		{name: "an IPPool name is untouched", ann: map[string]string{poolKey: " pool-a"}},
		{name: "another prefix length is left for the validator", ann: map[string]string{ipKey: "10.16.0.5/24"}},
		{name: "the network address with the prefix could mean the whole block", ann: map[string]string{ipKey: "10.16.0.0/16"}},
		{name: "a prefix outside the subnet", ann: map[string]string{ipKey: "10.17.0.5/16"}},
		{name: "an unresolvable subnet keeps its prefix", ann: map[string]string{lsKey: "missing", ipKey: "10.16.0.5/16"}},
		{name: "two IPv4 addresses for one pod", ann: map[string]string{ipKey: "10.16.0.6, 10.16.0.5"}},
		{name: "two IPv4 addresses in one group", ann: map[string]string{poolKey: "10.16.0.6,10.16.0.5; 10.16.0.7"}},
		{name: "an empty element", ann: map[string]string{ipKey: "10.16.0.5, "}},
		{name: "an unparseable address leaves the whole value", ann: map[string]string{ipKey: "fd00:80::9,10.16.0.300"}},
		{name: "a zone", ann: map[string]string{ipKey: "fe80::1%eth0"}},
		{name: "IPv4-mapped IPv6", ann: map[string]string{ipKey: "::ffff:10.16.0.5"}},
		{name: "an odd prefix length", ann: map[string]string{ipKey: "10.16.0.5/016"}},
		{name: "other annotations are not read", ann: map[string]string{"example.com/ip_address": " 10.16.0.5", "ovn.kubernetes.io/mac_address": " 00:00:00:00:00:01"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			got, changes := DefaultPodAnnotations(tc.ann, testResolver(&calls))
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
			assertWarnings(t, changes, tc.warnings)
			// A second pass over the result changes nothing.
			next := map[string]string{}
			for k, v := range tc.ann {
				next[k] = v
			}
			for _, c := range got {
				next[c.Key] = c.Value
			}
			if again, _ := DefaultPodAnnotations(next, testResolver(&calls)); len(again) > 0 {
				t.Errorf("not idempotent: second pass gave %q", again)
			}
		})
	}
}

func TestDefaultPodAnnotationsResolvesOnlyForPrefixes(t *testing.T) {
	t.Parallel()
	calls := 0
	DefaultPodAnnotations(map[string]string{ipKey: " 10.16.0.5", poolKey: "10.16.0.9, 10.16.0.10"}, testResolver(&calls))
	if calls != 0 {
		t.Errorf("resolver called %d times for addresses without a prefix", calls)
	}
	DefaultPodAnnotations(map[string]string{ipKey: "10.16.0.5/16", poolKey: "10.16.0.9/16,10.16.0.10/16"}, testResolver(&calls))
	if calls != 1 {
		t.Errorf("resolver called %d times for one interface, want 1", calls)
	}
}
