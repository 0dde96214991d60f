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
		{name: "doctor", args: []string{"doctor"}, code: 2, stderr: []string{"doctor: not implemented yet"}},
		{name: "snapshot", args: []string{"snapshot", "-A"}, code: 2, stderr: []string{"snapshot: not implemented yet"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: []string{`unknown command "frobnicate"`}},
		{name: "help", args: []string{"help"}, code: 0, stdout: []string{"kubectl ipam check"}},
		{name: "check help", args: []string{"check", "--help"}, code: 0, stderr: []string{"--cluster", "Exit status"}},
		{name: "no manifests", args: []string{"check"}, code: 2, stderr: []string{"no manifests"}},
		{name: "unknown flag", args: []string{"check", "--frob"}, code: 2, stderr: []string{"unknown flag"}},
		{name: "bad output", args: []string{"check", "-f", ok, "-o", "yaml"}, code: 2, stderr: []string{"must be text or json"}},
		{name: "allowed", args: []string{"check", "-f", ok}, code: 0, stdout: []string{"1 object judged, 0 denied, 0 warned, 0 skipped"}},
		{name: "denied", args: []string{"check", "-f", overlap}, code: 1,
			stdout: []string{"DENIED  Subnet b  " + overlap + ":8 (document 2)", "[subnet-overlap]", "2 objects judged, 1 denied"}},
		{name: "config turns the denial into a warning", args: []string{"check", "-f", overlap, "--config", cfg}, code: 0,
			stdout: []string{"WARNED  Subnet b", "warning: [subnet-overlap] spec.cidrBlock"}},
		{name: "invalid config", args: []string{"check", "-f", ok, "--config", badCfg}, code: 2, stderr: []string{`unknown rule "no-such-rule"`}},
		{name: "cluster objects", args: []string{"check", "-f", ok, "--cluster", overlap}, code: 0, stdout: []string{"1 object judged"}},
		{name: "stdin json", args: []string{"check", "-f", "-", "-o", "json"}, stdin: subnet("a", "10.70.0.0/24") + "---\n" + subnet("b", "10.70.0.0/25"),
			code: 1, jsonResult: "denied"},
		{name: "missing file", args: []string{"check", "-f", filepath.Join(dir, "nope.yaml")}, code: 2, stderr: []string{"nope.yaml: no such file"}},
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
