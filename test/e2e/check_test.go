package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// kubeOVNController is the Kube-OVN controller's service account, as a
// user name.
const kubeOVNController = "system:serviceaccount:kube-system:ovn"

// pluginCase is one `kubectl ipam ...` invocation and what it must print.
type pluginCase struct {
	name           string
	args           []string // after "kubectl"
	stdin          string
	code           int
	stdout, stderr []string
	// check inspects the JSON report (-o json).
	check func(t *testing.T, report checkReport)
}

// checkReport is the part of the JSON report the cases look at.
type checkReport struct {
	State struct {
		Source, Server, Context string
	} `json:"state"`
	Requester *struct {
		User   string   `json:"user"`
		Groups []string `json:"groups"`
	} `json:"requester"`
	Objects []struct {
		Kind, Name, Operation, Result, Note string
		Findings                            []struct{ Rule string }
	} `json:"objects"`
	Summary struct{ Cluster int } `json:"summary"`
}

// plugin is the built kubectl-ipam, run as a kubectl plugin through the
// pinned kubectl.
type plugin struct {
	kubectl string
	env     []string
}

// buildPlugin builds cmd/kubectl-ipam into a directory that is the only
// one on PATH, so kubectl finds it there as a plugin.
func buildPlugin(t *testing.T) *plugin {
	t.Helper()
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
	// No kubeconfig but the one a case names: the user's own must not
	// leak in.
	env := append(os.Environ(), "PATH="+pluginDir, "HOME="+t.TempDir(), "KUBECONFIG=", "KUBERNETES_SERVICE_HOST=")
	return &plugin{kubectl: filepath.Join(assets, devenv.KubectlBinary), env: env}
}

// run runs one case and checks its exit status and output.
func (p *plugin) run(t *testing.T, tc pluginCase) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), kubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.kubectl, tc.args...)
	cmd.Env = p.env
	cmd.Stdin = strings.NewReader(tc.stdin)
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
	if slices.Contains(tc.args, "json") {
		var rep checkReport
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("stdout is not a JSON report: %v\n%s", err, stdout.String())
		}
		if tc.check != nil {
			tc.check(t, rep)
		}
	}
}

// writeFiles writes name → content into a new directory and returns the
// paths by name.
func writeFiles(t *testing.T, files map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	paths := map[string]string{}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	return paths
}

// badManifests is a subnet overlapping ovn-default and a pod asking for
// the address of the IP object db-0.apps.
var badManifests = subnet("dup", "  cidrBlock: 10.16.5.0/24\n") + `---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: apps
  annotations: {ovn.kubernetes.io/ip_address: 10.16.0.21}
spec:
  containers: [{name: web, image: nginx}]
`

// TestKubectlIpamCheck builds cmd/kubectl-ipam and runs it as a kubectl
// plugin through the pinned kubectl (`kubectl ipam check ...` with the
// binary on PATH), as a CI job would, against a --snapshot file or with
// --offline. No control plane is needed.
func TestKubectlIpamCheck(t *testing.T) {
	t.Parallel()
	p := buildPlugin(t)
	f := writeFiles(t, map[string]string{
		"cluster.yaml": `apiVersion: v1
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
`,
		"good.yaml":   subnet("tenant-a", "  cidrBlock: 10.70.0.0/24\n"),
		"bad.yaml":    badManifests,
		"broken.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   labels: {}\n",
	})
	cluster, good, bad, broken := f["cluster.yaml"], f["good.yaml"], f["bad.yaml"], f["broken.yaml"]
	cases := []pluginCase{
		{name: "allowed manifest", args: []string{"ipam", "check", "-f", good, "--snapshot", cluster}, code: 0,
			stdout: []string{"1 object judged, 0 denied, 0 warned, 0 skipped"}},
		{name: "denied manifests", args: []string{"ipam", "check", "-f", bad, "--snapshot", cluster}, code: 1,
			stdout: []string{
				"DENIED  Subnet dup  " + bad + ":1 (document 1)",
				`spec.cidrBlock: Invalid value: "10.16.5.0/24": overlaps subnet ovn-default 10.16.0.0/16 in vpc ovn-cluster [subnet-overlap]`,
				"DENIED  Pod apps/web",
				"10.16.0.21 in subnet ovn-default is held by pod apps/db-0 [pod-ip-taken]",
				"2 objects judged, 2 denied, 0 warned, 0 skipped",
			}},
		{name: "json output", args: []string{"ipam", "check", "-f", good, "-f", bad, "--snapshot", cluster, "-o", "json"}, code: 1,
			stdout: []string{`"kind": "CheckReport"`, `"rule": "pod-ip-taken"`},
			check: func(t *testing.T, rep checkReport) {
				if rep.State.Source != "snapshot" || rep.Summary.Cluster != 2 || rep.Requester != nil {
					t.Errorf("state %+v, %d cluster objects, requester %+v", rep.State, rep.Summary.Cluster, rep.Requester)
				}
			}},
		{name: "offline: the manifests alone", args: []string{"ipam", "check", "-f", good, "--offline"}, code: 0,
			stderr: []string{"note: --offline: judged against the manifests alone"}},
		{name: "no cluster at all is a usage error", args: []string{"ipam", "check", "-f", good}, code: 2,
			stderr: []string{"no cluster to judge against", "--offline"}},
		{name: "--cluster is kubectl's now", args: []string{"ipam", "check", "-f", good, "--cluster", cluster}, code: 2,
			stderr: []string{"the cluster state file is given with --snapshot " + cluster}},
		{name: "YAML syntax error", args: []string{"ipam", "check", "-f", broken, "--offline"}, code: 2,
			stderr: []string{broken + ":5: document 1: "}},
		{name: "doctor on a snapshot: warnings exit 1, with their fixes", args: []string{"ipam", "doctor", "--snapshot", cluster}, code: 1,
			stdout: []string{"[zombie-ip] IP object db-0.apps holds 10.16.0.21", "kubectl delete --raw /apis/kubeovn.io/v1/ips/db-0.apps -f - <<'EOF'"}},
		{name: "doctor without a cluster is a usage error", args: []string{"ipam", "doctor"}, code: 2, stderr: []string{"no cluster to diagnose"}},
		{name: "snapshot without a cluster is a usage error", args: []string{"ipam", "snapshot"}, code: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { p.run(t, tc) })
	}
}

// TestKubectlIpamCheckLive runs the plugin against a real API server
// through kubeconfigs, as an operator would before applying: the cluster
// state is read live (paginated lists), the requester is the kubeconfig's
// user or --as, and what cannot be read is an error naming it.
func TestKubectlIpamCheckLive(t *testing.T) {
	t.Parallel()
	// envtest logs through controller-runtime's logger.
	ctrllog.SetLogger(logr.Discard())
	p := buildPlugin(t)
	env := devenvtest.Start(t, devenv.Options{})
	ctx := t.Context()
	if err := devenv.Seed(ctx, env.Client); err != nil {
		t.Fatal(err)
	}
	seedLive(t, env.Client)

	dir := t.TempDir()
	admin := filepath.Join(dir, "admin.kubeconfig")
	if err := env.WriteKubeconfig(admin); err != nil {
		t.Fatal(err)
	}
	// A user who may not list anything: the admin's credentials,
	// impersonating "tenant" from the kubeconfig itself.
	tenant := filepath.Join(dir, "tenant.kubeconfig")
	kc, err := clientcmd.Load(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range kc.AuthInfos {
		ai.Impersonate = "tenant"
	}
	if err := clientcmd.WriteToFile(*kc, tenant); err != nil {
		t.Fatal(err)
	}

	f := writeFiles(t, map[string]string{
		"bad.yaml": badManifests,
		// The controller's rewrite of a KubeVirt VM's IP object when the
		// VM moves to another subnet.
		"vm-moved.yaml": `apiVersion: kubeovn.io/v1
kind: IP
metadata: {name: vm1.apps}
spec: {podName: vm1, namespace: apps, subnet: join, podType: VirtualMachine, ipAddress: 100.64.0.50, v4IpAddress: 100.64.0.50}
`,
		"exempt.yaml": "exempt: {users: [" + kubeOVNController + "]}\n",
		"deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
`,
	})
	bad, moved, exempt, deployment := f["bad.yaml"], f["vm-moved.yaml"], f["exempt.yaml"], f["deployment.yaml"]
	// The state file as README.md tells users to write it.
	snapshot := filepath.Join(dir, "snapshot.yaml")
	get := exec.CommandContext(ctx, env.KubectlPath, "--kubeconfig", admin, "get", "subnets,ips,ippools,vpcs,vips,nodes,namespaces,pods", "-A", "-o", "yaml")
	out, err := get.Output()
	if err != nil {
		t.Fatalf("kubectl get: %v", err)
	}
	if err := os.WriteFile(snapshot, out, 0o600); err != nil {
		t.Fatal(err)
	}
	server := strings.TrimSuffix(env.Config.Host, "/")
	cases := []pluginCase{
		{name: "judged against the live cluster", args: []string{"ipam", "check", "-f", bad, "--kubeconfig", admin}, code: 1,
			stdout: []string{
				"overlaps subnet ovn-default 10.16.0.0/16 in vpc ovn-cluster [subnet-overlap]",
				"10.16.0.21 in subnet ovn-default is held by pod apps/db-0 [pod-ip-taken]",
				"2 objects judged, 2 denied",
			},
			stderr: []string{"note: judged against the live cluster at " + server + ` (context "`, "objects read, as user admin"}},
		{name: "pages of one object", args: []string{"ipam", "check", "-f", bad, "--kubeconfig", admin, "--chunk-size", "1", "-o", "json"}, code: 1,
			check: func(t *testing.T, rep checkReport) {
				if rep.State.Source != "live" || rep.State.Server != server || rep.Summary.Cluster < 10 {
					t.Errorf("state %+v with %d cluster objects", rep.State, rep.Summary.Cluster)
				}
				if rep.Requester == nil || rep.Requester.User != "admin" || !slices.Contains(rep.Requester.Groups, "system:masters") {
					t.Errorf("requester %+v, want the kubeconfig's user admin", rep.Requester)
				}
			}},
		{name: "an existing workload is judged as an update", args: []string{"ipam", "check", "-f", deployment, "--kubeconfig", admin, "-o", "json"}, code: 0,
			check: func(t *testing.T, rep checkReport) {
				if len(rep.Objects) != 1 || rep.Objects[0].Operation != "UPDATE" {
					t.Errorf("objects %+v, want the Deployment as an UPDATE", rep.Objects)
				}
			}},
		{name: "the VM's IP object moved by an admin is denied", args: []string{"ipam", "check", "-f", moved, "--kubeconfig", admin, "--config", exempt}, code: 1,
			stdout: []string{"DENIED  IP vm1.apps (update)", "[ip-immutable]"}},
		{name: "the same move by the exempt Kube-OVN controller is not judged",
			args: []string{"ipam", "check", "-f", moved, "--kubeconfig", admin, "--config", exempt, "--as", kubeOVNController, "-o", "json"}, code: 0,
			check: func(t *testing.T, rep checkReport) {
				if len(rep.Objects) != 1 || rep.Objects[0].Result != "allowed" || rep.Objects[0].Note != "user "+kubeOVNController+" is exempt in the configuration: not judged" {
					t.Errorf("objects %+v", rep.Objects)
				}
				if rep.Requester == nil || rep.Requester.User != kubeOVNController ||
					!slices.Equal(rep.Requester.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}) {
					t.Errorf("requester %+v", rep.Requester)
				}
			}},
		{name: "lists the user may not read are named", args: []string{"ipam", "check", "-f", bad, "--kubeconfig", tenant}, code: 2,
			stderr: []string{
				"kubectl ipam check: error: cannot read the cluster state from " + server + ":",
				`subnets.kubeovn.io is forbidden: User "tenant" cannot list resource "subnets" in API group "kubeovn.io" at the cluster scope`,
				`pods is forbidden: User "tenant" cannot list resource "pods" in API group "" at the cluster scope`,
			}},
		{name: "a snapshot of the same cluster judges alike, without contacting it",
			args: []string{"ipam", "check", "-f", bad, "--kubeconfig", tenant, "--snapshot", snapshot}, code: 1,
			stdout: []string{"[subnet-overlap]", "10.16.0.21 in subnet ovn-default is held by pod apps/db-0 [pod-ip-taken]", "2 objects judged, 2 denied"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { p.run(t, tc) })
	}

	// Without Kube-OVN's Vip CRD, the check refuses to judge and says
	// what is missing.
	del := exec.CommandContext(ctx, env.KubectlPath, "--kubeconfig", admin, "delete", "crd", "vips.kubeovn.io")
	if out, err := del.CombinedOutput(); err != nil {
		t.Fatalf("kubectl delete crd: %v\n%s", err, out)
	}
	devenvtest.Eventually(t, "vips.kubeovn.io to be no longer served", 30*time.Second, func() error {
		err := env.Client.List(ctx, &kubeovnv1.VipList{})
		if err == nil {
			return errors.New("still served")
		}
		return nil
	})
	p.run(t, pluginCase{args: []string{"ipam", "check", "-f", bad, "--kubeconfig", admin}, code: 2,
		stderr: []string{"vips.kubeovn.io: kubeovn.io/v1 is not served by the API server (are Kube-OVN's CRDs installed?)"}})
}

// seedLive creates the cluster state of the live cases beside the fresh
// install: namespace apps, the IP object and pod db-0 holding 10.16.0.21,
// a VM's IP object in ovn-default, a node, a Vip and a Deployment.
func seedLive(t *testing.T, c client.Client) {
	t.Helper()
	ctx := t.Context()
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}},
		&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "db-0.apps"}, Spec: kubeovnv1.IPSpec{
			PodName: "db-0", Namespace: "apps", Subnet: devenv.DefaultSubnet, IPAddress: "10.16.0.21", V4IPAddress: "10.16.0.21"}},
		&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "vm1.apps"}, Spec: kubeovnv1.IPSpec{
			PodName: "vm1", Namespace: "apps", Subnet: devenv.DefaultSubnet, PodType: "VirtualMachine", IPAddress: "10.16.0.50", V4IPAddress: "10.16.0.50"}},
		&kubeovnv1.Vip{ObjectMeta: metav1.ObjectMeta{Name: "vip1"}, Spec: kubeovnv1.VipSpec{Subnet: devenv.DefaultSubnet, V4ip: "10.16.0.100"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "apps",
			Annotations: map[string]string{"ovn.kubernetes.io/ip_address": "10.16.0.21", "ovn.kubernetes.io/allocated": "true"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "postgres"}}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}},
		}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	for i := range 3 {
		name := fmt.Sprintf("spare-%d.apps", i)
		addr := fmt.Sprintf("10.16.1.%d", i+1)
		if err := c.Create(ctx, &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kubeovnv1.IPSpec{
			PodName: strings.TrimSuffix(name, ".apps"), Namespace: "apps", Subnet: devenv.DefaultSubnet, IPAddress: addr, V4IPAddress: addr}}); err != nil {
			t.Fatal(err)
		}
	}
}
