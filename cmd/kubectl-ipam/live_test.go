package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/audit"
	"github.com/ipamguard/ipamguard/pkg/diagnose"
)

// noPods may read everything the doctor reads but pods.
const noPods = "no-pods"

// shared is the package's control plane, seeded, and the path of its
// admin kubeconfig. Only the live tests start it.
var shared = devenvtest.NewShared(devenv.Options{}, func(ctx context.Context, env *devenv.Env) (string, func() error, error) {
	dir, err := os.MkdirTemp("", "kubectl-ipam-live-")
	if err != nil {
		return "", nil, err
	}
	stop := func() error { return os.RemoveAll(dir) }
	path := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(path); err != nil {
		return "", stop, err
	}
	objs := devenv.SeedObjects()
	objs = append(objs,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}},
		&kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a"}, Spec: kubeovnv1.SubnetSpec{CIDRBlock: "10.70.0.0/24", Protocol: kubeovnv1.ProtocolIPv4}},
		&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "db-0.apps"}, Spec: kubeovnv1.IPSpec{
			PodName: "db-0", Namespace: "apps", Subnet: "tenant-a", IPAddress: "10.70.0.5", V4IPAddress: "10.70.0.5"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "apps",
			Annotations: map[string]string{"ovn.kubernetes.io/ip_address": "10.70.0.5", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "postgres"}}}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: noPods}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces", "nodes", "events"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"kubeovn.io", "apps", "networking.k8s.io", "kubevirt.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list"}},
		}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: noPods},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: noPods},
			Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: noPods}}},
	)
	objs = append(objs, reservationObjects(time.Now())...)
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			return "", stop, fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	return path, stop, nil
})

func TestMain(m *testing.M) { devenvtest.Main(m, shared) }

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestDoctorLive(t *testing.T) {
	t.Parallel()
	kubeconfig := shared.Get(t)
	code, stdout, stderr := runCmd(t, "doctor", "--kubeconfig", kubeconfig, "-o", "json")
	if code == diagnose.ExitUsage || code == diagnose.ExitIncomplete {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep diagnose.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if code != rep.ExitCode() || len(rep.ClusterID) != 36 || rep.Time.IsZero() || len(rep.Incomplete) != 0 {
		t.Errorf("exit %d, report head %q %v %v", code, rep.ClusterID, rep.Time, rep.Incomplete)
	}
	if !strings.Contains(stderr, "note: diagnosed the live cluster at https://127.0.0.1:") {
		t.Errorf("stderr %s", stderr)
	}

	// As a user who may not list pods: incomplete, and it says which.
	// (The webhook's reservations are not read: --webhook-namespace "";
	// the user may not read them either.)
	code, stdout, _ = runCmd(t, "doctor", "--kubeconfig", kubeconfig, "--as", noPods, "-o", "json", "-q", "--webhook-namespace", "")
	if code != diagnose.ExitIncomplete {
		t.Fatalf("exit %d as %s, want 4\n%s", code, noPods, stdout)
	}
	rep = diagnose.Report{}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Incomplete) != 1 || rep.Incomplete[0].Resource != "pods" ||
		!strings.Contains(rep.Incomplete[0].Reason, `forbidden: pods is forbidden: User "no-pods" cannot list resource "pods"`) {
		t.Errorf("incomplete %+v", rep.Incomplete)
	}
}

// TestSnapshotLive: a snapshot read back is the state a live read builds.
func TestSnapshotLive(t *testing.T) {
	t.Parallel()
	kubeconfig := shared.Get(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "cluster.json")
	code, stdout, stderr := runCmd(t, "snapshot", "--kubeconfig", kubeconfig, "-o", file, "--chunk-size", "2")
	if code != exitOK || stdout != "" || !strings.Contains(stderr, "note: wrote ") {
		t.Fatalf("snapshot: exit %d\n%s\n%s", code, stdout, stderr)
	}
	fromFile := &diagnose.State{}
	if err := readSnapshots([]string{file}, strings.NewReader(""), fromFile); err != nil {
		t.Fatal(err)
	}

	cf := newClusterFlags()
	if err := cf.kubeSet.Parse([]string{"--kubeconfig", kubeconfig}); err != nil {
		t.Fatal(err)
	}
	l, err := cf.connect()
	if err != nil {
		t.Fatal(err)
	}
	live := &diagnose.State{}
	if err := audit.Read(t.Context(), l.reader, live, nil); err != nil || len(live.Incomplete) != 0 {
		t.Fatal(live.Incomplete, err)
	}
	live.Time = fromFile.Time
	if !reflect.DeepEqual(fromFile, live) {
		t.Errorf("the snapshot's state is not the live state:\n%+v\n%+v", fromFile, live)
	}
	if len(fromFile.ClusterID) != 36 || len(fromFile.Pods) != 1 || len(fromFile.Pods[0].Annotations) != 1 || len(fromFile.Subnets) < 3 {
		t.Errorf("state from the snapshot: %+v", fromFile)
	}

	// check judges against the snapshot.
	overlap := filepath.Join(dir, "overlap.yaml")
	if err := os.WriteFile(overlap, []byte("apiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata: {name: b}\nspec: {cidrBlock: 10.70.0.128/25}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runCmd(t, "check", "-f", overlap, "--snapshot", file)
	if code != exitDenied || !strings.Contains(stdout, "tenant-a") {
		t.Errorf("check against the snapshot: exit %d\n%s", code, stdout)
	}

	// An incomplete snapshot says so, and so does the doctor reading it.
	partial := filepath.Join(dir, "partial.json")
	code, _, stderr = runCmd(t, "snapshot", "--kubeconfig", kubeconfig, "--as", noPods, "-o", partial)
	if code != diagnose.ExitIncomplete || !strings.Contains(stderr, "warning: incomplete snapshot: pods: forbidden") {
		t.Errorf("snapshot as %s: exit %d\n%s", noPods, code, stderr)
	}
	code, stdout, _ = runCmd(t, "doctor", "--snapshot", partial, "-o", "json")
	if code != diagnose.ExitIncomplete || !strings.Contains(stdout, `"resource": "pods"`) {
		t.Errorf("doctor of the partial snapshot: exit %d\n%s", code, stdout)
	}
}
