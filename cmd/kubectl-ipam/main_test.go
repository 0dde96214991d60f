package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	subnet := func(name, cidr string) string {
		return "apiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata:\n  name: " + name + "\nspec:\n  cidrBlock: " + cidr + "\n"
	}
	ok := write("ok.yaml", subnet("a", "10.70.0.0/24"))
	overlap := write("overlap.yaml", subnet("a", "10.70.0.0/24")+"---\n"+subnet("b", "10.70.0.0/25"))
	cfg := write("config.yaml", "rules: {subnet-overlap: warn}\n")
	badCfg := write("bad-config.yaml", "rules: {no-such-rule: warn}\n")
	const controller = "system:serviceaccount:kube-system:ovn"
	exemptCfg := write("exempt.yaml", "exempt: {users: ["+controller+"]}\n")
	groupCfg := write("exempt-group.yaml", "exempt: {groups: [system:serviceaccounts:kube-system]}\n")
	emptyKubeconfig := write("empty-kubeconfig", "apiVersion: v1\nkind: Config\n")
	// A kubeconfig whose server nothing listens on.
	deadKubeconfig := write("dead-kubeconfig", `apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: dead, context: {cluster: dead, user: u, namespace: team}}]
current-context: dead
`)
	cases := []struct {
		name       string
		args       []string
		stdin      string
		code       int
		stdout     []string
		stderr     []string
		jsonResult string
	}{
		{name: "no arguments", code: 2, stderr: []string{"Usage:"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: []string{`unknown command "frobnicate"`}},
		{name: "help", args: []string{"help"}, code: 0, stdout: []string{"kubectl ipam check", "kubectl ipam doctor", "kubectl ipam snapshot", "--snapshot FILE"}},
		{name: "check help", args: []string{"check", "--help"}, code: 0,
			stderr: []string{"--snapshot FILE", "--offline", "--kubeconfig", "--context", "--cluster", "--as string", "Exit status"}},
		{name: "no manifests", args: []string{"check"}, code: 2, stderr: []string{"no manifests"}},
		{name: "unknown flag", args: []string{"check", "--frob"}, code: 2, stderr: []string{"unknown flag"}},
		{name: "bad output", args: []string{"check", "-f", ok, "-o", "yaml"}, code: 2, stderr: []string{"must be text or json"}},
		{name: "allowed", args: []string{"check", "-f", ok, "--offline"}, code: 0, stdout: []string{"1 object judged, 0 denied, 0 warned, 0 skipped"},
			stderr: []string{"note: --offline: judged against the manifests alone"}},
		{name: "denied", args: []string{"check", "-f", overlap, "--offline"}, code: 1,
			stdout: []string{"DENIED  Subnet b  " + overlap + ":8 (document 2)", "[subnet-overlap]", "2 objects judged, 1 denied"}},
		{name: "config turns the denial into a warning", args: []string{"check", "-f", overlap, "--config", cfg, "--offline"}, code: 0,
			stdout: []string{"WARNED  Subnet b", "warning: [subnet-overlap] spec.cidrBlock"}},
		{name: "invalid config", args: []string{"check", "-f", ok, "--config", badCfg, "--offline"}, code: 2, stderr: []string{`unknown rule "no-such-rule"`}},
		{name: "snapshot objects", args: []string{"check", "-f", ok, "--snapshot", overlap}, code: 0, stdout: []string{"1 object judged"}},
		{name: "snapshot implies offline", args: []string{"check", "-f", ok, "--snapshot", overlap, "--kubeconfig", deadKubeconfig}, code: 0,
			stdout: []string{"1 object judged"}},
		{name: "snapshot read error", args: []string{"check", "-f", ok, "--snapshot", filepath.Join(dir, "gone.yaml")}, code: 2,
			stderr: []string{"--snapshot " + filepath.Join(dir, "gone.yaml") + ": no such file"}},
		{name: "stdin json", args: []string{"check", "-f", "-", "-o", "json", "--offline"}, stdin: subnet("a", "10.70.0.0/24") + "---\n" + subnet("b", "10.70.0.0/25"),
			code: 1, jsonResult: "denied"},
		{name: "missing file", args: []string{"check", "-f", filepath.Join(dir, "nope.yaml"), "--offline"}, code: 2, stderr: []string{"nope.yaml: no such file"}},

		// Where the cluster state comes from.
		{name: "no kubeconfig, no snapshot, not offline", args: []string{"check", "-f", ok, "--kubeconfig", emptyKubeconfig}, code: 2,
			stderr: []string{"no cluster to judge against", "give --snapshot FILE, a kubeconfig, or --offline"}},
		{name: "the old --cluster FILE", args: []string{"check", "-f", ok, "--cluster", overlap}, code: 2,
			stderr: []string{`--cluster "` + overlap + `": --cluster is kubectl's flag and names a cluster of the kubeconfig; the cluster state file is given with --snapshot ` + overlap}},
		{name: "unreachable cluster is an error, not a fallback", args: []string{"check", "-f", ok, "--kubeconfig", deadKubeconfig, "--request-timeout", "5s"}, code: 2,
			stderr: []string{"cannot read the cluster state from https://127.0.0.1:1:", "namespaces: Get \"https://127.0.0.1:1/api/v1/namespaces?limit=500&timeout=5s\": dial tcp 127.0.0.1:1"}},
		{name: "unknown context", args: []string{"check", "-f", ok, "--kubeconfig", deadKubeconfig, "--context", "nope"}, code: 2,
			stderr: []string{`context "nope"`}},
		{name: "negative chunk size", args: []string{"check", "-f", ok, "--offline", "--chunk-size", "-1"}, code: 2, stderr: []string{"--chunk-size -1"}},

		// Who applies the manifests.
		{name: "groups without a user", args: []string{"check", "-f", ok, "--offline", "--as-group", "ops"}, code: 2, stderr: []string{"--as-group, --as-uid and --as-user-extra need --as"}},
		{name: "exempt user", args: []string{"check", "-f", overlap, "--offline", "--config", exemptCfg, "--as", controller}, code: 0,
			stdout: []string{"2 objects judged, 0 denied"}},
		{name: "exempt group of a service account", args: []string{"check", "-f", overlap, "--offline", "--config", groupCfg, "--as", controller}, code: 0,
			stdout: []string{"2 objects judged, 0 denied"}},
		{name: "given groups replace a service account's", args: []string{"check", "-f", overlap, "--offline", "--config", groupCfg, "--as", controller, "--as-group", "ops"}, code: 1,
			stdout: []string{"2 objects judged, 1 denied"}},
		{name: "user exemptions need a user", args: []string{"check", "-f", overlap, "--offline", "--config", exemptCfg}, code: 1,
			stderr: []string{"note: the user applying the manifests is unknown (no --as): the configuration's user and group exemptions do not apply"}},
		{name: "namespace from the kubeconfig context", args: []string{"check", "-f", "-", "--offline", "--kubeconfig", deadKubeconfig, "-o", "json"},
			stdin: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", code: 0, stdout: []string{`"namespace": "team"`}},
		{name: "-n wins over the context", args: []string{"check", "-f", "-", "--offline", "--kubeconfig", deadKubeconfig, "-n", "other", "-o", "json"},
			stdin: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", code: 0, stdout: []string{`"namespace": "other"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(tc.args, strings.NewReader(tc.stdin), &stdout, &stderr)
			if code != tc.code {
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
			if tc.jsonResult != "" {
				var doc struct {
					Objects []struct {
						Result string `json:"result"`
					} `json:"objects"`
				}
				if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
					t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
				}
				if n := len(doc.Objects); n == 0 || doc.Objects[n-1].Result != tc.jsonResult {
					t.Errorf("last result in %s, want %s", stdout.String(), tc.jsonResult)
				}
			}
		})
	}
}
