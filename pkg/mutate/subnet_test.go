package mutate

import (
	"slices"
	"testing"
)

func TestDefaultSubnetCreate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		in       SubnetFields
		want     SubnetFields
		warnings []string
	}{
		{
			name: "the issue's example: host bits, upper case, IPv6 first; gateway and protocol defaulted",
			in:   SubnetFields{CIDRBlock: "FD00:10::5/64,10.60.0.7/24"},
			want: SubnetFields{CIDRBlock: "10.60.0.0/24,fd00:10::/64", Gateway: "10.60.0.1,fd00:10::1", Protocol: "Dual"},
			warnings: []string{
				"spec.cidrBlock FD00:10::5/64,10.60.0.7/24 normalised to 10.60.0.0/24,fd00:10::/64",
				"spec.gateway (empty) defaulted to 10.60.0.1,fd00:10::1 (the first usable address of each block)",
				"spec.protocol (empty) defaulted to Dual (from spec.cidrBlock)",
			},
		},
		{
			name:     "host bits masked",
			in:       SubnetFields{CIDRBlock: "10.16.0.5/16", Gateway: "10.16.0.1", Protocol: "IPv4"},
			want:     SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "IPv4"},
			warnings: []string{"spec.cidrBlock 10.16.0.5/16 normalised to 10.16.0.0/16"},
		},
		{
			name:     "spaces around blocks, uncompressed IPv6",
			in:       SubnetFields{CIDRBlock: " 10.80.0.0/24 , fd00:0080:0:0::/64", Gateway: "10.80.0.1,fd00:80::1", Protocol: "Dual"},
			want:     SubnetFields{CIDRBlock: "10.80.0.0/24,fd00:80::/64", Gateway: "10.80.0.1,fd00:80::1", Protocol: "Dual"},
			warnings: []string{`spec.cidrBlock " 10.80.0.0/24 , fd00:0080:0:0::/64" normalised to 10.80.0.0/24,fd00:80::/64`},
		},
		{
			name: "canonical input is untouched",
			in:   SubnetFields{CIDRBlock: "10.80.0.0/24,fd00:80::/64", Gateway: "10.80.0.1,fd00:80::1", Protocol: "Dual", ExcludeIPs: []string{"10.80.0.1", "10.80.0.5..10.80.0.9", "fd00:80::1"}},
			want: SubnetFields{CIDRBlock: "10.80.0.0/24,fd00:80::/64", Gateway: "10.80.0.1,fd00:80::1", Protocol: "Dual", ExcludeIPs: []string{"10.80.0.1", "10.80.0.5..10.80.0.9", "fd00:80::1"}},
		},
		{
			name:     "excludeIps get every gateway the controller appends (v1.16.2 pkg/controller/subnet.go formatExcludeIPs)",
			in:       SubnetFields{CIDRBlock: "10.80.0.0/24,fd00:80::/64", Gateway: "10.80.0.1,fd00:80::1", Protocol: "Dual", ExcludeIPs: []string{"10.80.0.5..10.80.0.9"}},
			want:     SubnetFields{CIDRBlock: "10.80.0.0/24,fd00:80::/64", Gateway: "10.80.0.1,fd00:80::1", Protocol: "Dual", ExcludeIPs: []string{"10.80.0.1", "10.80.0.5..10.80.0.9", "fd00:80::1"}},
			warnings: []string{"spec.excludeIps [10.80.0.5..10.80.0.9] normalised to [10.80.0.1, 10.80.0.5..10.80.0.9, fd00:80::1] (overlapping ranges merged, the gateway added and sorted as Kube-OVN stores them)"},
		},
		{
			name:     "gateway completed for the missing family on dual stack",
			in:       SubnetFields{CIDRBlock: "10.60.0.0/24,fd00:10::/64", Gateway: "10.60.0.254", Protocol: "Dual"},
			want:     SubnetFields{CIDRBlock: "10.60.0.0/24,fd00:10::/64", Gateway: "10.60.0.254,fd00:10::1", Protocol: "Dual"},
			warnings: []string{"spec.gateway 10.60.0.254 completed to 10.60.0.254,fd00:10::1 (the first usable address of the IPv6 block)"},
		},
		{
			name:     "gateway reordered to match the blocks, lower case",
			in:       SubnetFields{CIDRBlock: "10.60.0.0/24,fd00:10::/64", Gateway: "FD00:10::FE, 10.60.0.254", Protocol: "Dual"},
			want:     SubnetFields{CIDRBlock: "10.60.0.0/24,fd00:10::/64", Gateway: "10.60.0.254,fd00:10::fe", Protocol: "Dual"},
			warnings: []string{`spec.gateway "FD00:10::FE, 10.60.0.254" normalised to 10.60.0.254,fd00:10::fe`},
		},
		{
			name:     "gateway of an IPv6-only subnet defaulted",
			in:       SubnetFields{CIDRBlock: "fd00:66::/64"},
			want:     SubnetFields{CIDRBlock: "fd00:66::/64", Gateway: "fd00:66::1", Protocol: "IPv6"},
			warnings: []string{"spec.gateway (empty) defaulted to fd00:66::1 (the first usable address of each block)", "spec.protocol (empty) defaulted to IPv6 (from spec.cidrBlock)"},
		},
		{
			name:     "protocol in the wrong case",
			in:       SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "ipv4"},
			want:     SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "IPv4"},
			warnings: []string{"spec.protocol ipv4 normalised to IPv4"},
		},
		{
			name:     "a conflicting protocol follows the blocks, as the controller sets it",
			in:       SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "Dual"},
			want:     SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "IPv4"},
			warnings: []string{"spec.protocol Dual changed to IPv4 (to match spec.cidrBlock, as the Kube-OVN controller sets it)"},
		},
		{
			name: "an unknown protocol is left for the validator",
			in:   SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "ipv5"},
			want: SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "ipv5"},
		},
		{
			name: "excludeIps canonical, merged where overlapping (not touching), sorted as the controller sorts",
			in: SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "IPv4", ExcludeIPs: []string{
				"10.16.0.20..10.16.0.30", " 10.16.0.9", "10.16.0.2..10.16.0.8", "10.16.0.25..10.16.0.40", "10.16.0.1", "10.16.0.100..10.16.0.100"}},
			want: SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "IPv4", ExcludeIPs: []string{
				"10.16.0.1", "10.16.0.100", "10.16.0.2..10.16.0.8", "10.16.0.20..10.16.0.40", "10.16.0.9"}},
			warnings: []string{`spec.excludeIps [10.16.0.20..10.16.0.30, " 10.16.0.9", 10.16.0.2..10.16.0.8, 10.16.0.25..10.16.0.40, 10.16.0.1, 10.16.0.100..10.16.0.100] ` +
				`normalised to [10.16.0.1, 10.16.0.100, 10.16.0.2..10.16.0.8, 10.16.0.20..10.16.0.40, 10.16.0.9] (overlapping ranges merged, the gateway added and sorted as Kube-OVN stores them)`},
		},
		{
			name: "excludeIps keep the gateway: the controller would add it back",
			in:   SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "IPv4", ExcludeIPs: []string{"10.16.0.1", "10.16.0.1"}},
			want: SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "IPv4", ExcludeIPs: []string{"10.16.0.1"}},
			warnings: []string{
				"spec.excludeIps [10.16.0.1, 10.16.0.1] normalised to [10.16.0.1] (overlapping ranges merged, the gateway added and sorted as Kube-OVN stores them)",
			},
		},
		{
			name: "excludeIps of both families, upper-case IPv6",
			in:   SubnetFields{CIDRBlock: "10.80.0.0/24,fd00:80::/64", Gateway: "10.80.0.1,fd00:80::1", Protocol: "Dual", ExcludeIPs: []string{"FD00:80::5..FD00:80::9", "10.80.0.5"}},
			want: SubnetFields{CIDRBlock: "10.80.0.0/24,fd00:80::/64", Gateway: "10.80.0.1,fd00:80::1", Protocol: "Dual", ExcludeIPs: []string{"10.80.0.1", "10.80.0.5", "fd00:80::1", "fd00:80::5..fd00:80::9"}},
			warnings: []string{
				"spec.excludeIps [FD00:80::5..FD00:80::9, 10.80.0.5] normalised to [10.80.0.1, 10.80.0.5, fd00:80::1, fd00:80::5..fd00:80::9] (overlapping ranges merged, the gateway added and sorted as Kube-OVN stores them)",
			},
		},
		{
			name:     "excludeIps with an entry outside every block: kept, as the controller keeps it (its IPAM clips it)",
			in:       SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "IPv4", ExcludeIPs: []string{"10.16.0.9", "10.16.0.2", "10.17.0.1"}},
			want:     SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "IPv4", ExcludeIPs: []string{"10.16.0.1", "10.16.0.2", "10.16.0.9", "10.17.0.1"}},
			warnings: []string{"spec.excludeIps [10.16.0.9, 10.16.0.2, 10.17.0.1] normalised to [10.16.0.1, 10.16.0.2, 10.16.0.9, 10.17.0.1] (overlapping ranges merged, the gateway added and sorted as Kube-OVN stores them)"},
		},
		{
			name: "excludeIps with a reversed range: all left alone",
			in:   SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "IPv4", ExcludeIPs: []string{"10.16.0.9..10.16.0.2", "10.16.0.20"}},
			want: SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "IPv4", ExcludeIPs: []string{"10.16.0.9..10.16.0.2", "10.16.0.20"}},
		},
		{
			name: "excludeIps with a CIDR: all left alone",
			in:   SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "IPv4", ExcludeIPs: []string{"10.16.0.0/30", "10.16.0.20"}},
			want: SubnetFields{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Protocol: "IPv4", ExcludeIPs: []string{"10.16.0.0/30", "10.16.0.20"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, changes := DefaultSubnet(nil, tc.in)
			assertFields(t, got, tc.want)
			assertWarnings(t, changes, tc.warnings)
			again, more := DefaultSubnet(nil, got)
			assertFields(t, again, got)
			assertWarnings(t, more, nil)
		})
	}
}

// TestDefaultSubnetLeavesAmbiguousInput: every field is left for the
// validator to refuse, with the user's own text.
func TestDefaultSubnetLeavesAmbiguousInput(t *testing.T) {
	t.Parallel()
	for _, in := range []SubnetFields{
		{CIDRBlock: "10.0.0.0/24,10.1.0.0/24,fd00::/64"}, // three blocks
		{CIDRBlock: "10.0.0.5/24,10.1.0.0/24"},           // two IPv4 blocks
		{CIDRBlock: "10.0.0.0/24,"},                      // empty element
		{CIDRBlock: "10.0.0.300/24"},                     // unparseable
		{CIDRBlock: "10.0.0.0"},                          // no prefix length
		{CIDRBlock: "10.0.0.0/024"},                      // odd prefix length
		{CIDRBlock: "10.0.0.0/33"},                       // prefix too long
		{CIDRBlock: "127.0.0.5/8"},                       // special range
		{CIDRBlock: "::ffff:10.0.0.0/104"},               // IPv4-mapped
		{CIDRBlock: "fe80::1%eth0/64"},                   // zone
		{CIDRBlock: ""},                                  // empty
		{CIDRBlock: "", Gateway: "10.0.0.1", ExcludeIPs: []string{"10.0.0.9", "10.0.0.2"}}, // nothing to judge against
	} {
		if got, changes := DefaultSubnet(nil, in); len(changes) > 0 || !equalFields(got, in) {
			t.Errorf("%+v was defaulted to %+v: %v", in, got, Warnings(changes))
		}
	}
	for _, gw := range []string{
		"10.60.0.1,10.60.0.2",            // two of one family
		"10.61.0.1",                      // outside every block
		"10.60.0.0",                      // the network address
		"10.60.0.255",                    // the broadcast address
		"10.60.0.1,fd00:10::1,10.60.0.2", // more than blocks
		"10.60.0.1,",                     // empty element
		"gateway",                        // unparseable
		"fd00:11::1",                     // outside the IPv6 block
	} {
		in := SubnetFields{CIDRBlock: "10.60.0.0/24,fd00:10::/64", Gateway: gw, Protocol: "Dual"}
		if got, changes := DefaultSubnet(nil, in); len(changes) > 0 || got.Gateway != gw {
			t.Errorf("gateway %q was defaulted to %q: %v", gw, got.Gateway, Warnings(changes))
		}
	}
}

func TestDefaultSubnetUpdate(t *testing.T) {
	t.Parallel()
	stored := SubnetFields{CIDRBlock: "10.70.0.0/24", Gateway: "10.70.0.1", Protocol: "IPv4", ExcludeIPs: []string{"10.70.0.1"}}
	cases := []struct {
		name     string
		old, in  SubnetFields
		want     SubnetFields
		warnings []string
	}{
		{
			name: "an unchanged non-canonical cidrBlock is not rewritten (ratchet)",
			old:  SubnetFields{CIDRBlock: "FD00:70::/64", Gateway: "fd00:70::1"},
			in:   SubnetFields{CIDRBlock: "FD00:70::/64", Gateway: "fd00:70::1"},
			want: SubnetFields{CIDRBlock: "FD00:70::/64", Gateway: "fd00:70::1"},
		},
		{
			name: "an unchanged cidrBlock with host bits leaves every field alone",
			old:  SubnetFields{CIDRBlock: "10.70.0.5/24"},
			in:   SubnetFields{CIDRBlock: "10.70.0.5/24", Gateway: "10.70.0.254 ", ExcludeIPs: []string{"10.70.0.9", "10.70.0.2"}},
			want: SubnetFields{CIDRBlock: "10.70.0.5/24", Gateway: "10.70.0.254 ", ExcludeIPs: []string{"10.70.0.9", "10.70.0.2"}},
		},
		{
			name:     "a changed field is canonicalised against an unchanged block",
			old:      SubnetFields{CIDRBlock: "FD00:70::/64", Gateway: "fd00:70::1"},
			in:       SubnetFields{CIDRBlock: "FD00:70::/64", Gateway: "FD00:70::FE"},
			want:     SubnetFields{CIDRBlock: "FD00:70::/64", Gateway: "fd00:70::fe"},
			warnings: []string{"spec.gateway FD00:70::FE normalised to fd00:70::fe"},
		},
		{
			name: "unchanged empty gateway and protocol stay empty",
			old:  SubnetFields{CIDRBlock: "10.70.0.0/24"},
			in:   SubnetFields{CIDRBlock: "10.70.0.0/24"},
			want: SubnetFields{CIDRBlock: "10.70.0.0/24"},
		},
		{
			name:     "a changed cidrBlock is canonicalised",
			old:      stored,
			in:       SubnetFields{CIDRBlock: "10.70.0.5/23", Gateway: "10.70.0.1", Protocol: "IPv4", ExcludeIPs: []string{"10.70.0.1"}},
			want:     SubnetFields{CIDRBlock: "10.70.0.0/23", Gateway: "10.70.0.1", Protocol: "IPv4", ExcludeIPs: []string{"10.70.0.1"}},
			warnings: []string{"spec.cidrBlock 10.70.0.5/23 normalised to 10.70.0.0/23"},
		},
		{
			name: "a derived protocol follows the blocks",
			old:  SubnetFields{CIDRBlock: "10.80.0.0/24,fd00:80::/64", Gateway: "10.80.0.1,fd00:80::1", Protocol: "Dual"},
			in:   SubnetFields{CIDRBlock: "10.80.0.0/24", Gateway: "10.80.0.1", Protocol: "Dual"},
			want: SubnetFields{CIDRBlock: "10.80.0.0/24", Gateway: "10.80.0.1", Protocol: "IPv4"},
			warnings: []string{
				"spec.protocol Dual changed to IPv4 (to match the new spec.cidrBlock)",
			},
		},
		{
			name:     "a protocol the user just changed against the blocks follows them, as on create",
			old:      SubnetFields{CIDRBlock: "10.80.0.0/24,fd00:80::/64", Gateway: "10.80.0.1,fd00:80::1", Protocol: "Dual"},
			in:       SubnetFields{CIDRBlock: "10.80.0.0/24", Gateway: "10.80.0.1", Protocol: "IPv6"},
			want:     SubnetFields{CIDRBlock: "10.80.0.0/24", Gateway: "10.80.0.1", Protocol: "IPv4"},
			warnings: []string{"spec.protocol IPv6 changed to IPv4 (to match spec.cidrBlock, as the Kube-OVN controller sets it)"},
		},
		{
			name:     "changed excludeIps are canonicalised (overlaps merged, adjacent kept apart)",
			old:      stored,
			in:       SubnetFields{CIDRBlock: "10.70.0.0/24", Gateway: "10.70.0.1", Protocol: "IPv4", ExcludeIPs: []string{"10.70.0.1", "10.70.0.5..10.70.0.20", "10.70.0.2..10.70.0.9"}},
			want:     SubnetFields{CIDRBlock: "10.70.0.0/24", Gateway: "10.70.0.1", Protocol: "IPv4", ExcludeIPs: []string{"10.70.0.1", "10.70.0.2..10.70.0.20"}},
			warnings: []string{"spec.excludeIps [10.70.0.1, 10.70.0.5..10.70.0.20, 10.70.0.2..10.70.0.9] normalised to [10.70.0.1, 10.70.0.2..10.70.0.20] (overlapping ranges merged, the gateway added and sorted as Kube-OVN stores them)"},
		},
		{
			name: "unchanged non-canonical excludeIps are not rewritten",
			old:  SubnetFields{CIDRBlock: "10.70.0.0/24", Gateway: "10.70.0.1", ExcludeIPs: []string{"10.70.0.9", "10.70.0.1"}},
			in:   SubnetFields{CIDRBlock: "10.70.0.0/24", Gateway: "10.70.0.1", ExcludeIPs: []string{"10.70.0.9", "10.70.0.1"}},
			want: SubnetFields{CIDRBlock: "10.70.0.0/24", Gateway: "10.70.0.1", ExcludeIPs: []string{"10.70.0.9", "10.70.0.1"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, changes := DefaultSubnet(&tc.old, tc.in)
			assertFields(t, got, tc.want)
			assertWarnings(t, changes, tc.warnings)
			again, more := DefaultSubnet(&tc.old, got)
			assertFields(t, again, got)
			assertWarnings(t, more, nil)
		})
	}
}

// TestControllerFixedPoint: what the Kube-OVN controller writes back after
// formatting (merged overlaps, sort.Strings, the gateway appended) is
// settled by one more pass at most, so the two never rewrite each other in
// a loop.
func TestControllerFixedPoint(t *testing.T) {
	t.Parallel()
	stored := SubnetFields{CIDRBlock: "10.70.0.0/24", Gateway: "10.70.0.1", Protocol: "IPv4", ExcludeIPs: []string{"10.70.0.2..10.70.0.9", "10.70.0.20"}}
	// The controller appends the gateway and sorts.
	controller := stored
	controller.ExcludeIPs = []string{"10.70.0.1", "10.70.0.2..10.70.0.9", "10.70.0.20"}
	got, changes := DefaultSubnet(&stored, controller)
	assertWarnings(t, changes, nil)
	// The gateway is still covered: the controller has nothing to add, and
	// its sort keeps the order.
	sorted := slices.Clone(got.ExcludeIPs)
	slices.Sort(sorted)
	if !slices.Equal(sorted, got.ExcludeIPs) || !slices.Equal(got.ExcludeIPs, controller.ExcludeIPs) {
		t.Errorf("stored %v is not a fixed point of the controller's format", got.ExcludeIPs)
	}
}

func equalFields(a, b SubnetFields) bool {
	return a.CIDRBlock == b.CIDRBlock && a.Gateway == b.Gateway && a.Protocol == b.Protocol && slices.Equal(a.ExcludeIPs, b.ExcludeIPs)
}

func assertFields(t *testing.T, got, want SubnetFields) {
	t.Helper()
	if !equalFields(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func assertWarnings(t *testing.T, changes []Change, want []string) {
	t.Helper()
	if got := Warnings(changes); !slices.Equal(got, want) {
		t.Errorf("warnings:\n%q\nwant:\n%q", got, want)
	}
}
