package policy

import (
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func finding(rule RuleID) Finding {
	return Finding{Rule: rule, Err: field.Invalid(field.NewPath("spec", "cidrBlock"), "10.16.5.0/24", "overlaps subnet ovn-default")}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	fs := []Finding{finding(SubnetOverlap), finding(PodIPExcluded)}
	cases := []struct {
		name            string
		p               *Policy
		s               Subject
		mode            Mode
		deny, warnings  int
		warningContains string
	}{
		{name: "enforce by default", p: &Policy{}, mode: ModeEnforce, deny: 1, warnings: 1},
		{name: "cluster audit", p: &Policy{Mode: ModeAudit}, mode: ModeAudit, deny: 0, warnings: 2, warningContains: "would be denied (audit mode)"},
		{name: "cluster off", p: &Policy{Mode: ModeOff}, mode: ModeOff},
		{name: "namespace label audit overrides cluster enforce", p: &Policy{},
			s: Subject{Namespace: "a", NamespaceLabels: map[string]string{ModeLabel: "audit"}}, mode: ModeAudit, warnings: 2},
		{name: "namespace label enforce overrides cluster audit", p: &Policy{Mode: ModeAudit},
			s: Subject{Namespace: "a", NamespaceLabels: map[string]string{ModeLabel: "enforce"}}, mode: ModeEnforce, deny: 1, warnings: 1},
		{name: "namespace label off", p: &Policy{}, s: Subject{Namespace: "a", NamespaceLabels: map[string]string{ModeLabel: "off"}}, mode: ModeOff},
		{name: "invalid label falls back to cluster mode", p: &Policy{Mode: ModeAudit},
			s: Subject{Namespace: "a", NamespaceLabels: map[string]string{ModeLabel: "loud"}}, mode: ModeAudit, warnings: 2},
		{name: "cluster-scoped ignores labels", p: &Policy{}, s: Subject{NamespaceLabels: map[string]string{ModeLabel: "off"}}, mode: ModeEnforce, deny: 1, warnings: 1},
		{name: "rule off", p: &Policy{Actions: map[RuleID]Action{SubnetOverlap: Off}}, mode: ModeEnforce, warnings: 1},
		{name: "rule to warn", p: &Policy{Actions: map[RuleID]Action{SubnetOverlap: Warn}}, mode: ModeEnforce, warnings: 2},
		{name: "exempt namespace", p: &Policy{Exempt: Exemptions{Namespaces: []string{"kube-system"}}}, s: Subject{Namespace: "kube-system"}, mode: ModeEnforce},
		{name: "exempt user", p: &Policy{Exempt: Exemptions{Users: []string{"system:serviceaccount:kube-system:kube-ovn"}}},
			s: Subject{User: "system:serviceaccount:kube-system:kube-ovn"}, mode: ModeEnforce},
		{name: "exempt group", p: &Policy{Exempt: Exemptions{Groups: []string{"ops"}}}, s: Subject{User: "u", Groups: []string{"dev", "ops"}}, mode: ModeEnforce},
		{name: "nil policy enforces", p: nil, mode: ModeEnforce, deny: 1, warnings: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := tc.p.Decide(tc.s, fs)
			if d.Mode != tc.mode || len(d.Deny) != tc.deny || len(d.Warnings) != tc.warnings {
				t.Fatalf("mode %s deny %d warnings %d (%q); want %s %d %d", d.Mode, len(d.Deny), len(d.Warnings), d.Warnings, tc.mode, tc.deny, tc.warnings)
			}
			if tc.warningContains != "" && !strings.Contains(strings.Join(d.Warnings, "\n"), tc.warningContains) {
				t.Errorf("warnings %q lack %q", d.Warnings, tc.warningContains)
			}
			if tc.deny+tc.warnings > 0 && len(d.Audit) == 0 {
				t.Errorf("no audit annotations")
			}
			if tc.deny > 0 && !strings.HasSuffix(d.Deny[0].Detail, "[subnet-overlap]") {
				t.Errorf("denial lacks its rule ID: %q", d.Deny[0].Detail)
			}
		})
	}
}

func TestCatalogue(t *testing.T) {
	t.Parallel()
	if len(Rules()) != 23 {
		t.Errorf("catalogue has %d rules", len(Rules()))
	}
	for _, id := range Rules() {
		if a, ok := DefaultAction(id); !ok || (a != Enforce && a != Warn) {
			t.Errorf("%s: default %q", id, a)
		}
	}
}

func TestAdvisoryNeverDenies(t *testing.T) {
	t.Parallel()
	p := &Policy{Actions: map[RuleID]Action{PodSubnetExhausted: Enforce}}
	adv := Finding{Rule: PodSubnetExhausted, Err: field.Invalid(field.NewPath("metadata"), "s", "5 left"), Advisory: true}
	hard := Finding{Rule: PodSubnetExhausted, Err: field.Invalid(field.NewPath("metadata"), "s", "none left")}
	if d := p.Decide(Subject{}, []Finding{adv}); len(d.Deny) != 0 || len(d.Warnings) != 1 {
		t.Errorf("advisory finding: %+v", d)
	}
	if d := p.Decide(Subject{}, []Finding{hard}); len(d.Deny) != 1 {
		t.Errorf("enforced exhaustion at zero did not deny: %+v", d)
	}
}

// Applied carries, per finding, the text the client gets for it: the
// denial's cause or the warning, in finding order.
func TestAppliedCarriesClientText(t *testing.T) {
	t.Parallel()
	fs := []Finding{finding(SubnetOverlap), finding(PodIPExcluded)}
	d := (&Policy{}).Decide(Subject{}, fs)
	if len(d.Applied) != 2 {
		t.Fatalf("applied = %+v", d.Applied)
	}
	if a := d.Applied[0]; a.Action != string(Enforce) || a.Field != "spec.cidrBlock" || a.Message != d.Deny[0].Error() {
		t.Errorf("enforced: %+v, deny %q", a, d.Deny[0].Error())
	}
	if a := d.Applied[1]; a.Action != string(Warn) || a.Field != "spec.cidrBlock" || a.Message != d.Warnings[0] {
		t.Errorf("warned: %+v, warning %q", a, d.Warnings[0])
	}
	d = (&Policy{Mode: ModeAudit}).Decide(Subject{}, fs)
	if a := d.Applied[0]; a.Action != string(ModeAudit) || a.Message != d.Warnings[0] || !strings.Contains(a.Message, "would be denied (audit mode)") {
		t.Errorf("audited: %+v, warnings %q", a, d.Warnings)
	}
}

// A decision spells out at most MaxFindings causes and warnings and
// MaxFindings audit messages per rule, each quoting at most MaxValueBytes
// of its value; the rest is counted in one "… and N more", More findings
// included.
func TestDecideIsBounded(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("10.99.0.1,", 10000)
	p := field.NewPath("metadata", "annotations").Key("ovn.kubernetes.io/ip_pool")
	var fs []Finding
	for range 1000 {
		fs = append(fs, Finding{Rule: PodIPInvalid, Err: field.Invalid(p, long, `"z" is not an IP address`)},
			Finding{Rule: PodIPExcluded, Err: field.Invalid(p, long, "excluded")})
	}
	fs = append(fs, More(PodIPInvalid, p.String(), 5000))
	d := (&Policy{}).Decide(Subject{}, fs)
	if len(d.Deny) != MaxFindings+1 || len(d.Warnings) != MaxFindings+1 {
		t.Fatalf("%d causes, %d warnings", len(d.Deny), len(d.Warnings))
	}
	if last := d.Deny[MaxFindings].Error(); !strings.Contains(last, "… and 5980 more problems not listed [pod-ip-invalid]") {
		t.Errorf("summary cause %q", last)
	}
	if last := d.Warnings[MaxFindings]; !strings.Contains(last, "[pod-ip-excluded] … and 980 more") {
		t.Errorf("summary warning %q", last)
	}
	for _, e := range d.Deny {
		if n := len(e.Error()); n > MaxValueBytes+200 {
			t.Errorf("cause of %d bytes: %.300s", n, e.Error())
		}
	}
	if a := d.Audit[string(PodIPInvalid)]; strings.Count(a, "is not an IP address") != MaxFindings || !strings.HasSuffix(a, "… and 5980 more problems not listed") {
		t.Errorf("audit annotation: %d messages, ends %q", strings.Count(a, "is not an IP address"), a[max(0, len(a)-80):])
	}
	if len(d.Applied) != 2*MaxFindings+2 {
		t.Errorf("%d applied", len(d.Applied))
	}
}

// Bound cuts long string and list values and long details, and leaves
// everything else as it is.
func TestBound(t *testing.T) {
	t.Parallel()
	short := field.Invalid(field.NewPath("spec", "cidrBlock"), "10.16.0.0/16", "overlaps")
	if Bound(short) != short {
		t.Error("a short error was copied")
	}
	cut := Bound(field.Invalid(field.NewPath("spec", "cidrBlock"), strings.Repeat(",", 100000), strings.Repeat("x", 5000)))
	if v := cut.BadValue.(string); len(v) > MaxValueBytes || !strings.HasSuffix(v, "… (100000 bytes)") {
		t.Errorf("value %q", v)
	}
	if len(cut.Detail) > MaxDetailBytes {
		t.Errorf("detail of %d bytes", len(cut.Detail))
	}
	list := make([]string, 10000)
	for i := range list {
		list[i] = "10.64.0.1"
	}
	v, ok := ShortenList(list)
	got := v.([]string)
	if !ok || len(got) > 30 || got[len(got)-1] != "… and "+strconv.Itoa(10000-len(got)+1)+" more" {
		t.Errorf("list shortened to %q", got)
	}
	if v, ok := ShortenList([]string{"a", "b"}); ok || len(v.([]string)) != 2 {
		t.Errorf("short list changed: %v", v)
	}
}

// TestProfile: the tenancy rules warn by default and enforce under the
// multi-tenant profile, chosen for the cluster or per namespace; an
// explicit per-rule action wins over both.
func TestProfile(t *testing.T) {
	t.Parallel()
	f := []Finding{{Rule: TenantSubnet, Err: field.Forbidden(field.NewPath("metadata"), "x")}}
	label := map[string]string{ProfileLabel: string(ProfileMultiTenant)}
	cases := []struct {
		name   string
		p      *Policy
		labels map[string]string
		deny   bool
	}{
		{"default warns", &Policy{}, nil, false},
		{"cluster profile enforces", &Policy{Profile: ProfileMultiTenant}, nil, true},
		{"namespace label enforces", &Policy{}, label, true},
		{"namespace label back to default", &Policy{Profile: ProfileMultiTenant}, map[string]string{ProfileLabel: "default"}, false},
		{"invalid label keeps the cluster profile", &Policy{Profile: ProfileMultiTenant}, map[string]string{ProfileLabel: "nope"}, true},
		{"explicit action wins", &Policy{Profile: ProfileMultiTenant, Actions: map[RuleID]Action{TenantSubnet: Warn}}, label, false},
	}
	for _, tc := range cases {
		d := tc.p.Decide(Subject{Namespace: "team-b", NamespaceLabels: tc.labels}, f)
		if got := len(d.Deny) > 0; got != tc.deny {
			t.Errorf("%s: deny = %v, want %v (%+v)", tc.name, got, tc.deny, d)
		}
	}
}
