package check_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipamguard/ipamguard/pkg/check"
	"github.com/ipamguard/ipamguard/pkg/config"
)

func td(name string) string { return filepath.Join("testdata", name) }

// want describes the judgement of one manifest object.
type want struct {
	kind, name string
	op         string
	result     check.Result
	// rules are the rule IDs of the findings, in order.
	rules []string
	// contains are substrings of the findings' messages.
	contains []string
}

func TestRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		cluster   []string
		manifests []string
		config    string
		want      []want
		summary   check.Summary
	}{
		{
			name:      "second of two overlapping subnets is denied, naming the first",
			manifests: []string{td("overlap.yaml")},
			want: []want{
				{kind: "Subnet", name: "team-a", op: check.Create, result: check.Allowed},
				{kind: "Subnet", name: "team-b", op: check.Create, result: check.Denied, rules: []string{"subnet-overlap"},
					contains: []string{"spec.cidrBlock", "overlaps subnet team-a 10.70.0.0/24 in vpc ovn-cluster [subnet-overlap]"}},
			},
			summary: check.Summary{Judged: 2, Allowed: 1, Denied: 1},
		},
		{
			name:      "shrinking a cluster subnet under an IP object is denied as an update",
			cluster:   []string{td("cluster.yaml")},
			manifests: []string{td("shrink.yaml")},
			want: []want{{kind: "Subnet", name: "tenant-a", op: check.Update, result: check.Denied, rules: []string{"subnet-shrink"},
				contains: []string{"10.70.0.200 (pod default/web-1, outside 10.70.0.0/25)"}}},
			summary: check.Summary{Judged: 1, Denied: 1, Cluster: 4},
		},
		{
			name:      "second pod with the same fixed address is denied",
			cluster:   []string{td("cluster.yaml")},
			manifests: []string{td("pods.yaml")},
			want: []want{
				{kind: "Pod", name: "db-0", op: check.Create, result: check.Allowed},
				{kind: "Pod", name: "db-1", op: check.Create, result: check.Denied, rules: []string{"pod-ip-taken"},
					contains: []string{"10.16.0.21 in subnet ovn-default is requested by pending pod apps/db-0"}},
			},
			summary: check.Summary{Judged: 2, Allowed: 1, Denied: 1, Cluster: 4},
		},
		{
			name:      "deployment with a fixed address and 3 replicas is denied",
			cluster:   []string{td("cluster.yaml")},
			manifests: []string{td("deployment.yaml")},
			want: []want{{kind: "Deployment", name: "web", op: check.Create, result: check.Denied, rules: []string{"workload-static-ip"},
				contains: []string{"spec.template.metadata.annotations[ovn.kubernetes.io/ip_address]"}}},
			summary: check.Summary{Judged: 1, Denied: 1, Cluster: 4},
		},
		{
			name:      "audit-mode namespace warns instead of denying",
			cluster:   []string{td("cluster.yaml")},
			manifests: []string{td("audit.yaml")},
			want: []want{{kind: "Pod", name: "oor", op: check.Create, result: check.Warned, rules: []string{"pod-ip-out-of-range"},
				contains: []string{"[pod-ip-out-of-range] would be denied (audit mode): ", "is not inside subnet ovn-default (10.16.0.0/16)"}}},
			summary: check.Summary{Judged: 1, Warned: 1, Context: 1, Cluster: 4},
		},
		{
			name:      "a rule turned off in the config finds nothing",
			manifests: []string{td("overlap.yaml")},
			config:    td("rule-off.yaml"),
			want: []want{
				{kind: "Subnet", name: "team-a", op: check.Create, result: check.Allowed},
				{kind: "Subnet", name: "team-b", op: check.Create, result: check.Allowed},
			},
			summary: check.Summary{Judged: 2, Allowed: 2},
		},
		{
			name:      "unknown kinds are skipped",
			manifests: []string{td("mixed.yaml")},
			want:      []want{{kind: "Subnet", name: "fine", op: check.Create, result: check.Allowed}},
			summary:   check.Summary{Judged: 1, Allowed: 1, Skipped: 2},
		},
		{
			name:      "a directory is read recursively in lexical order, only manifest files",
			manifests: []string{td("dir")},
			want: []want{
				{kind: "Subnet", name: "first", op: check.Create, result: check.Allowed},
				{kind: "Subnet", name: "team-a", op: check.Create, result: check.Denied, rules: []string{"subnet-overlap"}, contains: []string{"overlaps subnet first 10.70.0.0/16"}},
				{kind: "Subnet", name: "team-b", op: check.Create, result: check.Denied, rules: []string{"subnet-overlap"}, contains: []string{"overlaps subnet first 10.70.0.0/16"}},
				{kind: "IPPool", name: "pool", op: check.Create, result: check.Allowed},
			},
			summary: check.Summary{Judged: 4, Allowed: 2, Denied: 2},
		},
		{
			name:      "a manifest object given twice is judged as an update the second time",
			manifests: []string{td("shrink.yaml"), td("overlap.yaml")},
			want: []want{
				{kind: "Subnet", name: "tenant-a", op: check.Create, result: check.Allowed},
				{kind: "Subnet", name: "team-a", op: check.Create, result: check.Denied, rules: []string{"subnet-overlap"}, contains: []string{"overlaps subnet tenant-a 10.70.0.0/25"}},
				{kind: "Subnet", name: "team-b", op: check.Create, result: check.Allowed},
			},
			summary: check.Summary{Judged: 3, Allowed: 2, Denied: 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep := run(t, tc.config, tc.cluster, tc.manifests)
			if rep.Summary != tc.summary {
				t.Errorf("summary = %+v, want %+v", rep.Summary, tc.summary)
			}
			if len(rep.Objects) != len(tc.want) {
				t.Fatalf("%d judgements, want %d: %+v", len(rep.Objects), len(tc.want), rep.Objects)
			}
			for i, w := range tc.want {
				got := rep.Objects[i]
				if got.Kind != w.kind || got.Name != w.name || got.Operation != w.op || got.Result != w.result {
					t.Errorf("object %d = %s %s %s %s, want %s %s %s %s (findings %+v)", i, got.Kind, got.Name, got.Operation, got.Result,
						w.kind, w.name, w.op, w.result, got.Findings)
				}
				var rules []string
				var msgs strings.Builder
				for _, f := range got.Findings {
					rules = append(rules, string(f.Rule))
					msgs.WriteString(f.Message + "\n")
				}
				if strings.Join(rules, ",") != strings.Join(w.rules, ",") {
					t.Errorf("%s %s: rules %v, want %v\n%s", w.kind, w.name, rules, w.rules, msgs.String())
				}
				for _, c := range w.contains {
					if !strings.Contains(msgs.String(), c) {
						t.Errorf("%s %s: findings do not contain %q:\n%s", w.kind, w.name, c, msgs.String())
					}
				}
			}
		})
	}
}

func run(t *testing.T, configPath string, cluster, manifests []string) *check.Report {
	t.Helper()
	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}
	rd := &check.Reader{}
	c, err := rd.ReadPaths(cluster)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rd.ReadPaths(manifests)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := check.Run(check.Options{Config: cfg}, c, m)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestInputErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		path  string
		stdin string
		// file, document and line the error must name (line 0: any).
		file           string
		document, line int
		contains       string
	}{
		{name: "malformed YAML names file, document and line", path: td("malformed.yaml"),
			file: td("malformed.yaml"), document: 2, line: 12, contains: "mapping values are not allowed"},
		{name: "missing file", path: td("nope.yaml"), file: td("nope.yaml"), contains: "no such file"},
		{name: "object without kind", path: "-", stdin: "apiVersion: v1\nmetadata: {name: x}\n",
			file: check.StdinName, document: 1, line: 1, contains: "apiVersion and kind must be set"},
		{name: "scalar document", path: "-", stdin: "---\njust text\n", file: check.StdinName, document: 1, line: 2, contains: "not an object"},
		{name: "broken JSON", path: "-", stdin: "{\"kind\": \"Subnet\",\n \"apiVersion\": ]}", file: check.StdinName, document: 1, line: 2},
		{name: "directory without manifests", path: t.TempDir(), contains: "no .yaml, .yml or .json file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rd := &check.Reader{Stdin: strings.NewReader(tc.stdin)}
			_, err := rd.ReadPaths([]string{tc.path})
			var ie *check.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an *InputError", err)
			}
			if tc.file != "" && ie.File != tc.file {
				t.Errorf("file = %q, want %q (%v)", ie.File, tc.file, err)
			}
			if ie.Document != tc.document || (tc.line != 0 && ie.Line != tc.line) {
				t.Errorf("document %d line %d, want %d %d (%v)", ie.Document, ie.Line, tc.document, tc.line, err)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
		})
	}
}

func TestTypeErrorIsAnInputError(t *testing.T) {
	t.Parallel()
	m, err := check.Parse("x.yaml", []byte("apiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata: {name: s}\nspec: {cidrBlock: 5}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = check.Run(check.Options{}, nil, m)
	var ie *check.InputError
	if !errors.As(err, &ie) || ie.File != "x.yaml" || ie.Document != 1 {
		t.Fatalf("err = %v, want an InputError naming x.yaml document 1", err)
	}
}

func TestListsAndStdinSources(t *testing.T) {
	t.Parallel()
	stdin := "apiVersion: kubeovn.io/v1\nkind: SubnetList\nitems:\n- apiVersion: kubeovn.io/v1\n  kind: Subnet\n  metadata: {name: a}\n  spec: {cidrBlock: 10.1.0.0/24}\n- apiVersion: kubeovn.io/v1\n  kind: Subnet\n  metadata: {name: b}\n  spec: {cidrBlock: 10.1.0.0/24}\n"
	rd := &check.Reader{Stdin: strings.NewReader(stdin)}
	m, err := rd.ReadPaths([]string{"-"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := check.Run(check.Options{}, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Objects) != 2 || rep.Objects[1].Result != check.Denied {
		t.Fatalf("objects = %+v", rep.Objects)
	}
	src := rep.Objects[1].Source
	if src != (check.Source{File: check.StdinName, Document: 1, Item: 1, Line: 1}) {
		t.Errorf("source = %+v", src)
	}
	if _, err := rd.ReadPaths([]string{"-"}); err == nil {
		t.Error("stdin read twice without an error")
	}
}

func TestNamespaceExemptionAndDefaultNamespace(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte("exempt: {namespaces: [legacy]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	pod := func(name string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\n  annotations: {ovn.kubernetes.io/ip_address: 10.99.0.5}\n"
	}
	m, err := check.Parse("p.yaml", []byte(pod("a")+"---\n"+pod("b")))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := check.Run(check.Options{Config: cfg, Namespace: "legacy"}, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range rep.Objects {
		if j.Namespace != "legacy" || !j.Exempt || j.Result != check.Allowed || len(j.Findings) != 0 {
			t.Errorf("%s: namespace %q exempt %v result %s findings %v", j.Name, j.Namespace, j.Exempt, j.Result, j.Findings)
		}
	}
	// Without the exemption, no subnet exists: the address cannot be placed.
	rep, err = check.Run(check.Options{Namespace: "other"}, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Denied != 2 {
		t.Errorf("summary %+v, want both denied", rep.Summary)
	}
}

func TestReportFormats(t *testing.T) {
	t.Parallel()
	rep := run(t, "", nil, []string{td("overlap.yaml"), td("mixed.yaml")})
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"DENIED  Subnet team-b  " + td("overlap.yaml") + ":9 (document 2)\n",
		"  error: spec.cidrBlock: Invalid value: \"10.70.0.128/25\": overlaps subnet team-a 10.70.0.0/24 in vpc ovn-cluster [subnet-overlap]\n",
		"3 objects judged, 1 denied, 0 warned, 2 skipped (not judged by ipamguard: ConfigMap, Service)\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "team-a ") && strings.Contains(text.String(), "ALLOWED") {
		t.Errorf("objects without findings are printed:\n%s", text.String())
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Objects    []check.Judgement `json:"objects"`
		Skipped    []check.Skipped   `json:"skipped"`
		Summary    check.Summary     `json:"summary"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.APIVersion != check.ReportAPIVersion || doc.Kind != check.ReportKind || len(doc.Objects) != 3 || len(doc.Skipped) != 2 || doc.Summary != rep.Summary {
		t.Errorf("JSON report = %s", js.String())
	}
	f := doc.Objects[1].Findings[0]
	if f.Rule != "subnet-overlap" || f.Action != "enforce" || f.Field != "spec.cidrBlock" {
		t.Errorf("finding = %+v", f)
	}
}

// The defaulting webhooks run before the rules, as in the API server; IP
// objects meet the cluster's; an existing pod is an update, not judged.
func TestDefaultingIPObjectsAndExistingPods(t *testing.T) {
	t.Parallel()
	cluster, err := (&check.Reader{}).ReadPaths([]string{td("cluster.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	m, err := check.Parse("m.yaml", []byte(`apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {name: hb}
spec: {cidrBlock: 10.90.0.5/24}
---
apiVersion: kubeovn.io/v1
kind: IP
metadata: {name: other.default}
spec: {podName: other, namespace: default, subnet: tenant-a, ipAddress: 10.70.0.200, v4IpAddress: 10.70.0.200}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  annotations: {ovn.kubernetes.io/ip_address: 10.17.0.1}
`))
	if err != nil {
		t.Fatal(err)
	}
	cluster = append(cluster, check.Object{APIVersion: "v1", Kind: "Pod", Namespace: "default", Name: "web-1",
		Raw: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"default"}}`)})
	rep, err := check.Run(check.Options{}, cluster, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Objects) != 3 {
		t.Fatalf("objects = %+v", rep.Objects)
	}
	hb, ip, pod := rep.Objects[0], rep.Objects[1], rep.Objects[2]
	if hb.Result != check.Allowed || len(hb.Defaulted) == 0 || !strings.Contains(strings.Join(hb.Defaulted, "\n"), "normalised to 10.90.0.0/24") {
		t.Errorf("host bits: %+v", hb)
	}
	if ip.Result != check.Denied || len(ip.Findings) == 0 || ip.Findings[0].Rule != "ip-taken" {
		t.Errorf("IP object: %+v", ip)
	}
	if pod.Operation != check.Update || pod.Result != check.Allowed || pod.Note == "" {
		t.Errorf("existing pod: %+v", pod)
	}
}

// TestRequesterExemptions: the configuration's user and group exemptions
// apply to the requester the check is given (kubectl's --as/--as-group),
// as the webhook applies them to the admission request's user: the
// Kube-OVN controller's rewrite of a VM's IP object when the VM moves
// subnet is its own to make.
func TestRequesterExemptions(t *testing.T) {
	t.Parallel()
	const controller = "system:serviceaccount:kube-system:ovn"
	// Run sets the namespace of the objects it is given: each run reads
	// its own.
	inputs := func(t *testing.T) (cluster, moved []check.Object) {
		cluster, err := (&check.Reader{}).ReadPaths([]string{td("cluster.yaml")})
		if err != nil {
			t.Fatal(err)
		}
		moved, err = check.Parse("moved.yaml", []byte(`apiVersion: kubeovn.io/v1
kind: IP
metadata: {name: web-1.default}
spec: {podName: web-1, namespace: default, subnet: ovn-default, ipAddress: 10.16.0.200, v4IpAddress: 10.16.0.200}
`))
		if err != nil {
			t.Fatal(err)
		}
		return cluster, moved
	}
	parse := func(s string) *config.Config {
		cfg, err := config.Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	byUser := parse("exempt: {users: [" + controller + "]}\n")
	byGroup := parse("exempt: {groups: [system:serviceaccounts:kube-system]}\n")
	saGroups := []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}
	cases := []struct {
		name   string
		cfg    *config.Config
		user   string
		groups []string
		result check.Result
		note   string
	}{
		{name: "unknown requester: judged", cfg: byUser, result: check.Denied},
		{name: "another user: judged", cfg: byUser, user: "alice", groups: []string{"system:authenticated"}, result: check.Denied},
		{name: "the exempt user", cfg: byUser, user: controller, groups: saGroups, result: check.Allowed,
			note: "user " + controller + " is exempt in the configuration: not judged"},
		{name: "a user of the exempt group", cfg: byGroup, user: controller, groups: saGroups, result: check.Allowed,
			note: "group system:serviceaccounts:kube-system (of user " + controller + ") is exempt in the configuration: not judged"},
		{name: "the user without the exempt group", cfg: byGroup, user: controller, groups: []string{"system:authenticated"}, result: check.Denied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cluster, moved := inputs(t)
			rep, err := check.Run(check.Options{Config: tc.cfg, User: tc.user, Groups: tc.groups}, cluster, moved)
			if err != nil {
				t.Fatal(err)
			}
			j := rep.Objects[0]
			if j.Operation != check.Update || j.Result != tc.result || j.Note != tc.note || j.Exempt != (tc.note != "") {
				t.Errorf("%s %s exempt %v note %q findings %v; want %s, note %q", j.Operation, j.Result, j.Exempt, j.Note, j.Findings, tc.result, tc.note)
			}
			if tc.result == check.Denied && (len(j.Findings) == 0 || j.Findings[0].Rule != "ip-immutable") {
				t.Errorf("findings %v, want ip-immutable", j.Findings)
			}
			switch {
			case tc.user == "" && rep.Requester != nil:
				t.Errorf("requester %+v, want none", rep.Requester)
			case tc.user != "" && (rep.Requester == nil || rep.Requester.User != tc.user || !slices.Equal(rep.Requester.Groups, tc.groups)):
				t.Errorf("requester %+v, want %s %v", rep.Requester, tc.user, tc.groups)
			}
		})
	}
}

func TestWorkloads(t *testing.T) {
	t.Parallel()
	m, err := check.Parse("m.yaml", []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: data}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
---
apiVersion: example.com/v1
kind: Deployment
metadata: {name: other}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := check.Workloads(m, "team")
	want := []check.Ref{
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "team", Name: "web"},
		{APIVersion: "apps/v1", Kind: "StatefulSet", Namespace: "data", Name: "db"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Workloads = %+v, want %+v", got, want)
	}
}
