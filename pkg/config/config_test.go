package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipamguard/ipamguard/pkg/policy"
)

func TestParse(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`
mode: audit
thresholds: {warning: 20, critical: 3}
rules: {pod-ip-excluded: enforce, subnet-gateway-in-use: off}
defaults: {vpc: my-vpc, subnet: my-default, joinCIDR: "100.70.0.0/16,fd00:100::/112", serviceCIDR: 10.100.0.0/16}
exempt: {namespaces: [kube-system], users: [admin], groups: [ops]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy.Mode != policy.ModeAudit || c.Thresholds.Warning != 20 || c.Thresholds.Critical != 3 {
		t.Errorf("mode/thresholds = %v %+v", c.Policy.Mode, c.Thresholds)
	}
	if c.Policy.Action(policy.PodIPExcluded) != policy.Enforce || c.Policy.Action(policy.SubnetGatewayInUse) != policy.Off ||
		c.Policy.Action(policy.SubnetOverlap) != policy.Enforce {
		t.Errorf("actions = %v", c.Policy.Actions)
	}
	if c.Defaults.VPC != "my-vpc" || c.Defaults.Subnet != "my-default" || c.Defaults.JoinSubnet != "join" ||
		len(c.Defaults.JoinCIDR) != 2 || c.Defaults.ServiceCIDR[0] != netip.MustParsePrefix("10.100.0.0/16") {
		t.Errorf("defaults = %+v", c.Defaults)
	}
	if len(c.Policy.Exempt.Namespaces) != 1 || c.Policy.Exempt.Users[0] != "admin" {
		t.Errorf("exempt = %+v", c.Policy.Exempt)
	}
}

func TestParseErrorsNameKeyAndValue(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		`rules: {no-such-rule: warn}`:            {`unknown rule "no-such-rule"`},
		`rules: {subnet-overlap: deny}`:          {"rules.subnet-overlap", `"deny"`},
		`mode: strict`:                           {"mode", `"strict"`},
		`defaults: {joinCIDR: 100.64.0.1/16}`:    {"defaults.joinCIDR", "100.64.0.0/16"},
		`defaults: {serviceCIDR: nope}`:          {"defaults.serviceCIDR", `"nope"`},
		`thresholds: {warning: 2, critical: 5}`:  {"thresholds"},
		`unknownKey: 1`:                          {"unknownKey"},
		`rules: {a: warn, subnet-shrink: maybe}`: {`unknown rule "a"`, "rules.subnet-shrink"},
		"mode: [":                                {"parse"},
		`pendingHolderTimeout: soon`:             {"pendingHolderTimeout", `"soon"`},
		`pendingHolderTimeout: -1m`:              {"pendingHolderTimeout", "positive"},
		`messages: {names: true}`:                {"names"},
	}
	for in, wants := range cases {
		_, err := Parse([]byte(in))
		if err == nil {
			t.Errorf("%q: no error", in)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not contain %q", in, err, w)
			}
		}
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	c, err := Load("")
	if err != nil || c.Defaults.VPC != "ovn-cluster" || c.Policy.Mode != policy.ModeEnforce {
		t.Fatalf("Load(\"\") = %+v, %v", c, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file error = %v", err)
	}
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("rules: {bogus: warn}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("invalid file error must name the file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("mode: audit\nrules: {subnet-overlap: warn}\n"))
	f.Add([]byte("defaults: {joinCIDR: '::/0,0.0.0.0/0'}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil && (c.Policy == nil || c.Defaults.VPC == "") {
			t.Fatalf("accepted config without policy or default VPC: %+v", c)
		}
	})
}

// TestUnquotedOff: YAML 1.1 reads a bare off as false; users mean "off".
func TestUnquotedOff(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("mode: off\nrules:\n  subnet-overlap: off\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy.Mode != policy.ModeOff || c.Policy.Action(policy.SubnetOverlap) != policy.Off {
		t.Errorf("mode %q, subnet-overlap %q", c.Policy.Mode, c.Policy.Action(policy.SubnetOverlap))
	}
}

func TestThresholdZero(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("thresholds: {warning: 3, critical: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Thresholds.Warning != 3 || c.Thresholds.Critical != 0 {
		t.Errorf("thresholds = %+v", c.Thresholds)
	}
}

// TestPendingHolderTimeoutAndMessages: the pending-holder time bound and
// the cross-namespace names switch default to 5 minutes and off, and the
// file sets them.
func TestPendingHolderTimeoutAndMessages(t *testing.T) {
	t.Parallel()
	d := Default()
	if d.PendingHolderTimeout != 5*time.Minute || d.Messages.CrossNamespaceNames {
		t.Errorf("defaults: timeout %v, names %v", d.PendingHolderTimeout, d.Messages.CrossNamespaceNames)
	}
	c, err := Parse([]byte("pendingHolderTimeout: 90s\nmessages: {crossNamespaceNames: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.PendingHolderTimeout != 90*time.Second || !c.Messages.CrossNamespaceNames {
		t.Errorf("parsed: timeout %v, names %v", c.PendingHolderTimeout, c.Messages.CrossNamespaceNames)
	}
	if c, err := Parse([]byte("mode: audit\n")); err != nil || c.PendingHolderTimeout != 5*time.Minute {
		t.Errorf("absent timeout: %v, %v", c, err)
	}
}

func TestProfile(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("profile: multi-tenant\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Policy.Action(policy.TenantIPPool); a != policy.Enforce {
		t.Errorf("tenant-ippool under multi-tenant: %s", a)
	}
	if a := Default().Policy.Action(policy.TenantSubnet); a != policy.Warn {
		t.Errorf("tenant-subnet by default: %s", a)
	}
	if _, err := Parse([]byte("profile: strict\n")); err == nil || !strings.Contains(err.Error(), `profile: "strict"`) {
		t.Errorf("bad profile: %v", err)
	}
}
