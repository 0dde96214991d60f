package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipamguard/ipamguard/pkg/clusterstate"
	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/snapshot"
)

// writeSnapshot writes a snapshot of objs (apiVersion, kind, JSON) with
// gaps to a file of dir.
func writeSnapshot(t *testing.T, dir, name string, gaps []snapshot.Gap, objs ...[3]string) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := snapshot.NewWriter(&buf, snapshot.Metadata{ClusterID: "ks-uid", Time: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := w.Add(o[0], o[1], []byte(o[2])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(gaps); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDoctorAndSnapshotCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	subnet := [3]string{"kubeovn.io/v1", "Subnet", `{"apiVersion":"kubeovn.io/v1","kind":"Subnet","metadata":{"name":"a","uid":"u1","managedFields":[{}]},"spec":{"cidrBlock":"10.70.0.0/24","protocol":"IPv4"}}`}
	empty := writeSnapshot(t, dir, "empty.json", nil)
	withSubnet := writeSnapshot(t, dir, "subnet.json", nil, subnet)
	incomplete := writeSnapshot(t, dir, "incomplete.json", []snapshot.Gap{{Resource: "pods", Reason: `forbidden: pods is forbidden: User "tenant" cannot list resource "pods"`}})
	malformed := file("malformed.json", `{"apiVersion":"ipamguard.io/v1alpha1","kind":"Snapshot","metadata":{"time":"2026-12-07T00:00:00Z"},"items":[
{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}},
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"a","labels":"app=x"}}
]}`)
	manifests := file("manifests.yaml", "apiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata: {name: a}\nspec: {cidrBlock: 10.70.0.0/24}\n")
	overlap := file("overlap.yaml", "apiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata: {name: b}\nspec: {cidrBlock: 10.70.0.0/25}\n")
	emptyKubeconfig := file("empty-kubeconfig", "apiVersion: v1\nkind: Config\n")
	deadKubeconfig := file("dead-kubeconfig", `apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: dead, context: {cluster: dead, user: u}}]
current-context: dead
`)
	cases := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout []string
		stderr []string
	}{
		{name: "doctor help", args: []string{"doctor", "--help"}, code: 0,
			stderr: []string{"--snapshot FILE", "--service-cidr CIDR", "--warn-available", "-A, --all-namespaces", "--quiet", "--kubeconfig", "--as string", "Exit status: 0 clean, 1 warnings only, 2 usage", "4 incomplete"}},
		{name: "snapshot help", args: []string{"snapshot", "--help"}, code: 0, stderr: []string{"-o, --output FILE", "--chunk-size", "--kubeconfig", "Exit status"}},
		{name: "doctor unknown flag", args: []string{"doctor", "--frob"}, code: 2, stderr: []string{"unknown flag: --frob"}},
		{name: "doctor bad output", args: []string{"doctor", "--snapshot", empty, "-o", "xml"}, code: 2, stderr: []string{`--output "xml": must be one of text, json, yaml, openreports`}},
		{name: "doctor argument", args: []string{"doctor", "pods"}, code: 2, stderr: []string{`unexpected argument "pods"`}},
		{name: "doctor bad service cidr", args: []string{"doctor", "--snapshot", empty, "--service-cidr", "10.96.0.0"}, code: 2, stderr: []string{`--service-cidr "10.96.0.0"`}},
		{name: "doctor thresholds upside down", args: []string{"doctor", "--snapshot", empty, "--warn-available", "3", "--critical-available", "5"}, code: 2,
			stderr: []string{"--critical-available 5 is above --warn-available 3"}},
		{name: "doctor latency thresholds upside down", args: []string{"doctor", "--snapshot", empty, "--slow-allocation", "10s", "--failed-allocation", "2s"}, code: 2,
			stderr: []string{"--slow-allocation 10s and --failed-allocation 2s"}},
		{name: "doctor offline without snapshot", args: []string{"doctor", "--offline"}, code: 2, stderr: []string{"--offline needs --snapshot FILE"}},
		{name: "doctor without cluster", args: []string{"doctor", "--kubeconfig", emptyKubeconfig}, code: 2, stderr: []string{"no cluster to diagnose"}},
		{name: "doctor old --cluster FILE", args: []string{"doctor", "--cluster", empty}, code: 2, stderr: []string{"--cluster is kubectl's flag", "--snapshot " + empty}},
		{name: "doctor unreachable cluster", args: []string{"doctor", "--kubeconfig", deadKubeconfig, "--request-timeout", "5s", "-q"}, code: 2,
			stderr: []string{"cannot read the cluster state from https://127.0.0.1:1:", "dial tcp 127.0.0.1:1"}},
		{name: "doctor missing snapshot", args: []string{"doctor", "--snapshot", filepath.Join(dir, "gone.json")}, code: 2, stderr: []string{"gone.json: no such file"}},
		{name: "doctor malformed snapshot", args: []string{"doctor", "--snapshot", malformed}, code: 2,
			stderr: []string{"--snapshot " + malformed + ": item 1 (v1 Pod a/p): field metadata.labels: a JSON string where map[string]string is expected"}},
		{name: "doctor empty snapshot is clean", args: []string{"doctor", "--snapshot", empty, "-o", "json"}, code: 0, stdout: []string{`"clusterID": "ks-uid"`, `"time": "2026-12-07T00:00:00Z"`}},
		{name: "doctor incomplete snapshot", args: []string{"doctor", "--snapshot", incomplete, "-o", "json"}, code: 4,
			stdout: []string{`"incomplete": [`, `"resource": "pods"`, `cannot list resource \"pods\"`}},
		{name: "doctor stdin snapshot", args: []string{"doctor", "--snapshot", "-", "-o", "yaml"}, code: 4, stdin: mustRead(t, incomplete), stdout: []string{"resource: pods"}},
		{name: "doctor manifests as state", args: []string{"doctor", "--snapshot", manifests, "-o", "json"}, code: -1, stdout: []string{`"name": "a"`}},
		{name: "doctor manifests on stdin", args: []string{"doctor", "--snapshot", "-", "-o", "json"}, code: -1, stdin: mustRead(t, manifests), stdout: []string{`"name": "a"`}},
		{name: "check reads a snapshot", args: []string{"check", "-f", overlap, "--snapshot", withSubnet}, code: 1,
			stdout: []string{"DENIED  Subnet b", "[subnet-overlap]", "1 object judged, 1 denied"}},
		{name: "snapshot argument", args: []string{"snapshot", "out.json"}, code: 2, stderr: []string{`unexpected argument "out.json" (the file is given with -o)`}},
		{name: "snapshot has no --snapshot", args: []string{"snapshot", "--snapshot", empty}, code: 2, stderr: []string{"unknown flag: --snapshot"}},
		{name: "snapshot without cluster", args: []string{"snapshot", "--kubeconfig", emptyKubeconfig}, code: 2, stderr: []string{"no cluster to read"}},
		{name: "snapshot unreachable cluster", args: []string{"snapshot", "--kubeconfig", deadKubeconfig, "--request-timeout", "5s", "-o", filepath.Join(dir, "dead.json")}, code: 2,
			stderr: []string{"cannot read the cluster state from https://127.0.0.1:1:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(tc.args, strings.NewReader(tc.stdin), &stdout, &stderr)
			if tc.code >= 0 && code != tc.code || tc.code < 0 && code == diagnose.ExitUsage {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
	// A failed snapshot leaves no file behind.
	if _, err := os.Stat(filepath.Join(dir, "dead.json")); !os.IsNotExist(err) {
		t.Errorf("a failed snapshot left its file: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".dead.json.*")); len(m) > 0 {
		t.Errorf("a failed snapshot left temporary files: %v", m)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDoctorReadsSnapshotState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writeSnapshot(t, dir, "s.json", nil,
		[3]string{"v1", "Namespace", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"kube-system","uid":"other"}}`},
		[3]string{"v1", "Pod", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"a","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}","ovn.kubernetes.io/ip_address":"10.0.0.5"}},"spec":{"nodeName":"n1"}}`},
	)
	yamlState := filepath.Join(dir, "more.yaml")
	if err := os.WriteFile(yamlState, []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: q\n  namespace: b\n  annotations: {team: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &diagnose.State{}
	if err := readSnapshots([]string{p, yamlState}, strings.NewReader(""), s); err != nil {
		t.Fatal(err)
	}
	// The snapshot's stamp wins over the namespace read; manifests are
	// stripped as a live read is.
	if s.ClusterID != "other" && s.ClusterID != "ks-uid" {
		t.Errorf("cluster ID %q", s.ClusterID)
	}
	if !s.Time.Equal(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("time %v, want the snapshot's", s.Time)
	}
	if len(s.Pods) != 2 || s.Pods[0].NodeName != "n1" || len(s.Pods[0].Annotations) != 1 || s.Pods[1].Name != "q" || len(s.Pods[1].Annotations) != 0 {
		t.Errorf("pods %+v", s.Pods)
	}
}

func TestOnlyNamespace(t *testing.T) {
	t.Parallel()
	pod := func(ns string) diagnose.ObjectRef { return diagnose.ObjectRef{Kind: "Pod", Namespace: ns, Name: "p"} }
	ip := diagnose.ObjectRef{Kind: "IP", Name: "p.a"}
	r := &diagnose.Report{Findings: []diagnose.Finding{
		{ID: "subnet", Severity: diagnose.Critical},
		{ID: "ip", Severity: diagnose.Warning, Objects: []diagnose.ObjectRef{ip}},
		{ID: "pod-a", Severity: diagnose.Warning, Objects: []diagnose.ObjectRef{pod("a")}},
		{ID: "pod-b", Severity: diagnose.Critical, Objects: []diagnose.ObjectRef{pod("b")}},
		{ID: "ip-and-pod-b", Severity: diagnose.Info, Objects: []diagnose.ObjectRef{ip, pod("b")}},
		{ID: "pods-a-b", Severity: diagnose.Info, Objects: []diagnose.ObjectRef{pod("b"), pod("a")}},
	}}
	onlyNamespace(r, "a")
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.ID)
	}
	if got := strings.Join(ids, ","); got != "subnet,ip,pod-a,pods-a-b" {
		t.Errorf("kept %s", got)
	}
	if r.Summary != (diagnose.Summary{Critical: 1, Warning: 2, Info: 1}) {
		t.Errorf("summary %+v", r.Summary)
	}
	if r.ExitCode() != diagnose.ExitCritical {
		t.Errorf("exit %d", r.ExitCode())
	}
}

func TestDoctorJSONIsTheReport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writeSnapshot(t, dir, "s.json", []snapshot.Gap{{Resource: "events", Reason: "timed out"}})
	var stdout, stderr bytes.Buffer
	code := run([]string{"doctor", "--snapshot", p, "-o", "json", "--service-cidr", "10.96.0.0/12"}, strings.NewReader(""), &stdout, &stderr)
	var rep diagnose.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if code != rep.ExitCode() || code != diagnose.ExitIncomplete || len(rep.Incomplete) != 1 || rep.Incomplete[0].Resource != "events" {
		t.Errorf("exit %d, report %+v", code, rep)
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	pods := clusterstate.Resource{Version: "v1", Resource: "pods", Kind: "Pod"}
	// Not a terminal: nothing.
	var buf bytes.Buffer
	p := newProgress(&buf, false)
	p.report(pods, 1000, false)
	p.clear()
	if buf.Len() != 0 {
		t.Errorf("progress on a pipe: %q", buf.String())
	}
	// A terminal: one line, rewritten in place, then cleared.
	p = &progress{w: &buf, live: true}
	p.report(pods, 1000, false)
	p.report(pods, 1500, true)
	p.note("done")
	if want := "\r\x1b[Kreading pods… 1000\r\x1b[Kreading pods… 1500\r\x1b[Knote: done\n"; buf.String() != want {
		t.Errorf("progress %q, want %q", buf.String(), want)
	}
}
