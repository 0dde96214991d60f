package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
)

// TestKubectlIpamCheck builds cmd/kubectl-ipam and runs it as a kubectl
// plugin through the pinned kubectl (`kubectl ipam check ...` with the
// binary on PATH), as a CI job would. No control plane is needed.
func TestKubectlIpamCheck(t *testing.T) {
	t.Parallel()
	assets := devenvtest.Assets(t)
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	pluginDir := t.TempDir()
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	build := exec.CommandContext(ctx, goBin, "build", "-o", filepath.Join(pluginDir, "kubectl-ipam"), "./cmd/kubectl-ipam")
	build.Dir = root
	out, err := build.CombinedOutput()
	cancel()
	if err != nil {
		t.Fatalf("go build ./cmd/kubectl-ipam: %v\n%s", err, out)
	}

	manifests := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(manifests, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cluster := write("cluster.yaml", `apiVersion: v1
kind: List
items:
- apiVersion: kubeovn.io/v1
  kind: Subnet
  metadata: {name: ovn-default}
  spec: {cidrBlock: 10.16.0.0/16, gateway: 10.16.0.1, protocol: IPv4, vpc: ovn-cluster, default: true, provider: ovn}
- apiVersion: kubeovn.io/v1
  kind: IP
  metadata: {name: db-0.apps}
  spec: {podName: db-0, namespace: apps, subnet: ovn-default, ipAddress: 10.16.0.21, v4IpAddress: 10.16.0.21}
`)
	good := write("good.yaml", subnet("tenant-a", "  cidrBlock: 10.70.0.0/24\n"))
	bad := write("bad.yaml", subnet("dup", "  cidrBlock: 10.16.5.0/24\n")+`---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: apps
  annotations: {ovn.kubernetes.io/ip_address: 10.16.0.21}
spec:
  containers: [{name: web, image: nginx}]
`)
	broken := write("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   labels: {}\n")

	// PATH holds only the plugin's directory: kubectl finds plugins there.
	env := append(os.Environ(), "PATH="+pluginDir, "HOME="+t.TempDir())
	kubectl := filepath.Join(assets, devenv.KubectlBinary)
	cases := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr []string
	}{
		{name: "allowed manifest", args: []string{"ipam", "check", "-f", good, "--cluster", cluster}, code: 0,
			stdout: []string{"1 object judged, 0 denied, 0 warned, 0 skipped"}},
		{name: "denied manifests", args: []string{"ipam", "check", "-f", bad, "--cluster", cluster}, code: 1,
			stdout: []string{
				"DENIED  Subnet dup  " + bad + ":1 (document 1)",
				`spec.cidrBlock: Invalid value: "10.16.5.0/24": overlaps subnet ovn-default 10.16.0.0/16 in vpc ovn-cluster [subnet-overlap]`,
				"DENIED  Pod apps/web",
				"10.16.0.21 in subnet ovn-default is held by pod apps/db-0 [pod-ip-taken]",
				"2 objects judged, 2 denied, 0 warned, 0 skipped",
			}},
		{name: "json output", args: []string{"ipam", "check", "-f", good, "-f", bad, "--cluster", cluster, "-o", "json"}, code: 1,
			stdout: []string{`"kind": "CheckReport"`, `"rule": "pod-ip-taken"`}},
		{name: "YAML syntax error", args: []string{"ipam", "check", "-f", broken}, code: 2,
			stderr: []string{broken + ":5: document 1: "}},
		{name: "doctor is not implemented", args: []string{"ipam", "doctor"}, code: 2, stderr: []string{"not implemented yet"}},
		{name: "snapshot is not implemented", args: []string{"ipam", "snapshot"}, code: 2, stderr: []string{"not implemented yet"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), kubectlTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, kubectl, tc.args...)
			cmd.Env = env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee):
				code = ee.ExitCode()
			case err != nil:
				t.Fatalf("run kubectl: %v", err)
			}
			if code != tc.code {
				t.Errorf("kubectl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), code, tc.code, stdout.String(), stderr.String())
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
			if slices.Contains(tc.args, "json") && !json.Valid(stdout.Bytes()) {
				t.Errorf("stdout is not JSON:\n%s", stdout.String())
			}
		})
	}
}
