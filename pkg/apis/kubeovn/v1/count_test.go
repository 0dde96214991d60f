package v1

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
)

// twoTo64 is 2^64, the float64 value Kube-OVN v1.15 writes as 1.8446744073709552e+19
// for the address count of an IPv6 /64.
const twoTo64 = 18446744073709551616.0

func TestCountUnmarshalJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Count
		wantErr string // substring of the error; empty means success
	}{
		{name: "zero", in: `0`, want: 0},
		{name: "plain int", in: `65533`, want: 65533},
		{name: "int64 max magnitude", in: `9223372036854775807`, want: Count(math.MaxInt64)},
		{name: "plain float", in: `65533.0`, want: 65533},
		{name: "exponent", in: `6.5533e+04`, want: 65533},
		{name: "exponent upper case", in: `6.5533E4`, want: 65533},
		{name: "huge ipv6 exponent", in: `1.8446744073709552e+19`, want: twoTo64},
		{name: "huge ipv6 integer", in: `18446744073709551614`, want: twoTo64}, // float64 rounds to 2^64
		{name: "beyond uint64", in: `1.2089258196146292e+24`, want: 1.2089258196146292e+24},
		{name: "quoted int", in: `"65533"`, want: 65533},
		{name: "quoted exponent", in: `"6.5533e+04"`, want: 65533},
		{name: "quoted huge", in: `"1.8446744073709552e+19"`, want: twoTo64},
		{name: "null", in: `null`, want: 0},
		{name: "empty string", in: `""`, want: 0},
		{name: "negative int", in: `-1`, want: -1},
		{name: "negative exponent", in: `-6.5533e+04`, want: -65533},
		{name: "quoted negative", in: `"-3"`, want: -3},
		{name: "fraction", in: `0.5`, want: 0.5},
		{name: "garbage string", in: `"abc"`, wantErr: `"abc"`},
		{name: "bool", in: `true`, wantErr: `"true"`},
		{name: "object", in: `{}`, wantErr: `"{}"`},
		{name: "array", in: `[1]`, wantErr: `"[1]"`},
		{name: "quoted NaN", in: `"NaN"`, wantErr: `"NaN"`},
		{name: "quoted Inf", in: `"Inf"`, wantErr: `"Inf"`},
		{name: "overflow", in: `1e400`, wantErr: `"1e400"`},
		{name: "quoted garbage with digits", in: `"12abc"`, wantErr: `"12abc"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Through encoding/json, the way every client decodes it.
			c := Count(42)
			err := json.Unmarshal([]byte(tt.in), &c)
			checkCountResult(t, "encoding/json", c, err, tt.want, tt.wantErr)

			// Through the decoder apimachinery uses.
			c = Count(42)
			err = sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(tt.in), &c)
			checkCountResult(t, "sigs.k8s.io/json", c, err, tt.want, tt.wantErr)

			// Inside a struct field, as in a status.
			var st SubnetStatus
			err = json.Unmarshal([]byte(`{"v4availableIPs":`+tt.in+`}`), &st)
			checkCountResult(t, "struct field", st.V4AvailableIPs, err, tt.want, tt.wantErr)
		})
	}
}

func checkCountResult(t *testing.T, via string, got Count, err error, want Count, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil {
			t.Errorf("%s: got %v, want an error naming %s", via, got, wantErr)
			return
		}
		if !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: error %q does not name the value %s", via, err, wantErr)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: unexpected error: %v", via, err)
		return
	}
	if got != want {
		t.Errorf("%s: got %v, want %v", via, float64(got), float64(want))
	}
}

func TestCountMarshalJSONHasNoExponent(t *testing.T) {
	tests := []struct {
		in   Count
		want string
	}{
		{0, `0`},
		{1, `1`},
		{65533, `65533`},
		{-3, `-3`},
		{0.5, `0.5`},
		{1e20, `100000000000000000000`},
		{1e21, `1000000000000000000000`}, // encoding/json would write 1e+21
		// The shortest decimal that round-trips, padded with zeros: no exponent, no false precision.
		{twoTo64, `18446744073709552000`},
		{1.2089258196146292e+24, `1208925819614629200000000`},
		{Count(math.MaxFloat64), "17976931348623157" + strings.Repeat("0", 309-17)},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.in)
		if err != nil {
			t.Fatalf("Marshal(%v): %v", float64(tt.in), err)
		}
		if string(got) != tt.want {
			t.Errorf("Marshal(%v) = %s, want %s", float64(tt.in), got, tt.want)
		}
		if bytes.ContainsAny(got, "eE") {
			t.Errorf("Marshal(%v) = %s has an exponent", float64(tt.in), got)
		}
		if !json.Valid(got) {
			t.Errorf("Marshal(%v) = %s is not valid JSON", float64(tt.in), got)
		}
	}

	// Inside a struct the encoder goes through MarshalJSON too.
	b, err := json.Marshal(SubnetStatus{V6AvailableIPs: twoTo64})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"v6availableIPs":18446744073709552000`)) {
		t.Errorf("status JSON %s lacks the plain huge counter", b)
	}
}

func TestCountUint64(t *testing.T) {
	tests := []struct {
		in   Count
		want uint64
	}{
		{0, 0},
		{1, 1},
		{65533, 65533},
		{65533.9, 65533},
		{-1, 0},
		{-1e30, 0},
		{Count(math.Copysign(0, -1)), 0},
		{1 << 53, 1 << 53},
		{1 << 63, 1 << 63},
		{twoTo64, math.MaxUint64},
		{1.2089258196146292e+24, math.MaxUint64},
		{Count(math.MaxFloat64), math.MaxUint64},
	}
	for _, tt := range tests {
		if got := tt.in.Uint64(); got != tt.want {
			t.Errorf("Count(%v).Uint64() = %d, want %d", float64(tt.in), got, tt.want)
		}
	}
}

func TestCountRoundTrip(t *testing.T) {
	for _, c := range []Count{0, 1, 3, 65533, 0.25, -7, 1 << 53, twoTo64, 1.2089258196146292e+24, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal(%v): %v", float64(c), err)
		}
		var back Count
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if back != c {
			t.Errorf("round trip of %v gave %v (via %s)", float64(c), float64(back), b)
		}
	}

	in := IPPoolStatus{
		V4AvailableIPs: 268, V4AvailableIPRange: "10.66.1.10,10.66.1.20-10.66.1.30",
		V4UsingIPs: 1, V4UsingIPRange: "10.66.1.11",
		V6AvailableIPs: twoTo64, V6AvailableIPRange: "fd00::1-fd00::ffff",
		V6UsingIPs: 0,
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out IPPoolStatus
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("Unmarshal(%s): %v", b, err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip changed the status:\n in: %+v\nout: %+v", in, out)
	}
}

func FuzzCountUnmarshal(f *testing.F) {
	for _, s := range []string{
		`0`, `65533`, `6.5533e+04`, `1.8446744073709552e+19`, `"65533"`, `"6.5533e+04"`,
		`null`, `""`, `-1`, `"abc"`, `true`, `{}`, `1e400`, `"NaN"`, `-0`, `0x10`, `"`, ``,
		`5e-324`, `1.7976931348623157e308`, `" 1"`, `"1_000"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Count
		if err := c.UnmarshalJSON(data); err != nil {
			return
		}
		f := float64(c)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			t.Fatalf("UnmarshalJSON(%q) accepted a non-finite value %v", data, f)
		}
		_ = c.Uint64()

		b1, err := c.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON(%v): %v", f, err)
		}
		if !json.Valid(b1) {
			t.Fatalf("MarshalJSON(%v) = %q is not valid JSON", f, b1)
		}
		if bytes.ContainsAny(b1, "eE") {
			t.Fatalf("MarshalJSON(%v) = %q has an exponent", f, b1)
		}
		var c2 Count
		if err := json.Unmarshal(b1, &c2); err != nil {
			t.Fatalf("re-unmarshal of %q (from %q): %v", b1, data, err)
		}
		if c2 != c {
			t.Fatalf("unstable: %q -> %v -> %q -> %v", data, f, b1, float64(c2))
		}
		b2, err := c2.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("unstable encoding: %q then %q", b1, b2)
		}
	})
}

// subnetJSON is a Subnet as a Kube-OVN v1.15 API server returns it: float counters in exponent
// form, fields this package does not model in spec and status, Kube-OVN's own condition shape.
const subnetJSON = `{
  "apiVersion": "kubeovn.io/v1",
  "kind": "Subnet",
  "metadata": {"name": "tenant-a", "resourceVersion": "812", "generation": 3,
    "creationTimestamp": "2026-01-02T03:04:05Z", "finalizers": ["kubeovn.io/kube-ovn-controller"]},
  "spec": {
    "cidrBlock": "10.66.0.0/16,fd00:10:66::/64",
    "gateway": "10.66.0.1,fd00:10:66::1",
    "excludeIps": ["10.66.0.1", "10.66.0.100..10.66.0.120", "fd00:10:66::1"],
    "protocol": "Dual",
    "provider": "ovn",
    "vpc": "vpc-a",
    "vlan": "vlan10",
    "default": false,
    "private": true,
    "allowSubnets": ["10.16.0.0/16"],
    "namespaces": ["team-a", "team-a-dev"],
    "namespaceSelectors": [{"matchLabels": {"team": "a"}},
      {"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev", "staging"]}]}],
    "natOutgoing": true,
    "gatewayType": "distributed",
    "mtu": 1400,
    "u2oInterconnection": true,
    "enableLb": false,
    "acls": [{"action": "allow-related", "direction": "to-lport", "match": "ip4.src == 10.66.0.0/16", "priority": 1010}],
    "natOutgoingPolicyRules": [{"action": "forward", "match": {"srcIPs": "10.66.0.0/24"}}],
    "u2oFeatures": {"overlayOnlyRouting": true},
    "gatewayNodeSelectors": [{"matchLabels": {"gw": "true"}}],
    "someFutureField": {"nested": [1, 2.5e+00, "x"]}
  },
  "status": {
    "conditions": [{"type": "Ready", "status": "True", "reason": "ResetLogicalSwitchAclSuccess",
      "message": "", "lastUpdateTime": "2026-01-02T03:04:06Z", "lastTransitionTime": "2026-01-02T03:04:06Z"}],
    "v4availableIPs": 6.5533e+04,
    "v4usingIPs": 3.0,
    "v6availableIPs": 1.8446744073709552e+19,
    "v6usingIPs": "3",
    "v4availableIPrange": "10.66.0.2-10.66.0.99,10.66.0.121-10.66.255.254",
    "v4usingIPrange": "10.66.0.5-10.66.0.7",
    "v6availableIPrange": "fd00:10:66::2-fd00:10:66::ffff:ffff:ffff:fffe",
    "v6usingIPrange": "fd00:10:66::5-fd00:10:66::7",
    "u2oInterconnectionIP": "10.66.0.254",
    "u2oInterconnectionMAC": "00:00:00:aa:bb:cc",
    "dhcpV4OptionsUUID": "",
    "natOutgoingPolicyRules": [{"ruleID": "abc", "action": "forward", "match": {"srcIPs": "10.66.0.0/24"}}],
    "activateGateway": "node-1"
  }
}`

func TestDecodeWholeSubnet(t *testing.T) {
	decoders := map[string]func([]byte, any) error{
		"encoding/json":                      json.Unmarshal,
		"UnmarshalCaseSensitivePreserveInts": sigsjson.UnmarshalCaseSensitivePreserveInts,
	}
	for name, decode := range decoders {
		t.Run(name, func(t *testing.T) {
			var s Subnet
			if err := decode([]byte(subnetJSON), &s); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if s.Kind != "Subnet" || s.APIVersion != "kubeovn.io/v1" || s.Name != "tenant-a" || s.Generation != 3 {
				t.Errorf("meta: %+v %+v", s.TypeMeta, s.ObjectMeta)
			}
			wantSpec := SubnetSpec{
				Default:      false,
				Vpc:          "vpc-a",
				Protocol:     ProtocolDual,
				Namespaces:   []string{"team-a", "team-a-dev"},
				CIDRBlock:    "10.66.0.0/16,fd00:10:66::/64",
				Gateway:      "10.66.0.1,fd00:10:66::1",
				ExcludeIps:   []string{"10.66.0.1", "10.66.0.100..10.66.0.120", "fd00:10:66::1"},
				Provider:     "ovn",
				Vlan:         "vlan10",
				Private:      true,
				AllowSubnets: []string{"10.16.0.0/16"},
				NatOutgoing:  true,
				GatewayType:  "distributed",
				Mtu:          1400,
				NamespaceSelectors: []metav1.LabelSelector{
					{MatchLabels: map[string]string{"team": "a"}},
					{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"dev", "staging"}}}},
				},
				U2OInterconnection: true,
				EnableLb:           new(false),
			}
			if !reflect.DeepEqual(s.Spec, wantSpec) {
				t.Errorf("spec:\n got %+v\nwant %+v", s.Spec, wantSpec)
			}
			st := s.Status
			if st.V4AvailableIPs != 65533 || st.V4UsingIPs != 3 || st.V6UsingIPs != 3 {
				t.Errorf("counters: %+v", st)
			}
			if st.V6AvailableIPs != twoTo64 || st.V6AvailableIPs.Uint64() != math.MaxUint64 {
				t.Errorf("v6availableIPs = %v (uint64 %d), want 2^64 saturating", float64(st.V6AvailableIPs), st.V6AvailableIPs.Uint64())
			}
			if st.V4AvailableIPRange != "10.66.0.2-10.66.0.99,10.66.0.121-10.66.255.254" || st.V4UsingIPRange != "10.66.0.5-10.66.0.7" ||
				st.V6AvailableIPRange != "fd00:10:66::2-fd00:10:66::ffff:ffff:ffff:fffe" || st.V6UsingIPRange != "fd00:10:66::5-fd00:10:66::7" {
				t.Errorf("ranges: %+v", st)
			}
			if st.ActivateGateway != "node-1" {
				t.Errorf("activateGateway = %q", st.ActivateGateway)
			}
			if len(st.Conditions) != 1 || st.Conditions[0].Type != "Ready" || st.Conditions[0].Status != corev1.ConditionTrue ||
				st.Conditions[0].LastTransitionTime.IsZero() {
				t.Errorf("conditions: %+v", st.Conditions)
			}
		})
	}
}
