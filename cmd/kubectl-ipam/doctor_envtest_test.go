package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/internal/devenv/plant"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/audit"
	"github.com/ipamguard/ipamguard/pkg/clusterstate"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/reserve"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// judgeLater is how far past planting the seeded test judges the live
// state. The API server stamps creationTimestamp itself, so the planted
// objects are seconds old, and the doctor leaves IP objects and pods
// younger than its one-minute grace alone. Rather than wait a minute, or
// give the CLI a hidden clock flag, the test reads the live state exactly
// as the CLI does (audit.Read, audit.Diagnose with the same judge) and runs diagnose.Run with
// Options.Now two minutes ahead: the state is the live one, only the
// moment it is judged at is later. The real CLI runs too, at the real
// time, and must report every finding that does not depend on age.
const judgeLater = 2 * time.Minute

// allocationLimit is the --slow-allocation and --failed-allocation the
// test judges with. Plant creates each pod's IP object right after the
// pod, so allocation latency is the API server's pace, not a planted
// problem: on a loaded machine it may exceed the default 2 s, and the
// test must not depend on that. allocation-missing (the stuck pod) is
// still reported: judged two minutes later, the pod is past the limit.
const allocationLimit = time.Minute

// TestDoctorSeeded plants every broken state the doctor diagnoses, and the
// shapes Kube-OVN keeps on purpose beside them, on a real API server with
// the webhook off; the doctor must find exactly the planted problems; the
// printed fix commands, run with the pinned kubectl, must clear every one
// that has a fix and leave the others; -o openreports must be accepted by
// the openreports.io CRDs.
func TestDoctorSeeded(t *testing.T) {
	t.Parallel()
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	reports := openReportsCRDs(t)
	env := devenvtest.Start(t, devenv.Options{CRDPaths: append([]string{filepath.Join(root, "config", "crd", "bases")}, reports...)})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	planted, err := plant.Plant(ctx, env.Client, plant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	expect := append(planted.Expect(), plantStaleReservation(t, env.Client))

	// Judged past the grace: exactly the planted findings.
	rep := diagnoseLive(t, kubeconfig, time.Now().Add(judgeLater))
	assertFindings(t, "planted", rep, expect)
	if rep.ExitCode() != diagnose.ExitCritical {
		t.Errorf("exit code %d, want %d", rep.ExitCode(), diagnose.ExitCritical)
	}
	byID := map[string]diagnose.Finding{}
	for _, f := range rep.Findings {
		byID[f.ID] = f
	}
	stuck := byID["pod-stuck-creating/Pod/"+plant.Namespace+"/"+plant.PodStuck]
	if usage := "subnet-usage/Subnet/" + plant.SubnetFull; !slices.Contains(stuck.Related, usage) {
		t.Errorf("the stuck pod's finding links %v, want %s", stuck.Related, usage)
	}

	// The healthy pods' allocations are measured, not reported.
	lat := map[string]int{}
	for _, row := range rep.Latency {
		lat[row.Subnet] = row.Pods
	}
	if lat[plant.SubnetDuplicate] != 2 || lat[plant.SubnetZombie] != 1 || lat[plant.SubnetFull] != 1 {
		t.Errorf("latency rows %+v, want the planted pods measured", rep.Latency)
	}

	// The real command, at the real time: every finding that does not
	// depend on age, with the same fix; aged ones may be missing.
	code, stdout, stderr := runCmd(t, "doctor", "--kubeconfig", kubeconfig, "--slow-allocation", allocationLimit.String(), "--failed-allocation", allocationLimit.String(), "-o", "json")
	if code != diagnose.ExitCritical {
		t.Fatalf("doctor: exit %d, want %d\n%s\n%s", code, diagnose.ExitCritical, stdout, stderr)
	}
	var now diagnose.Report
	if err := json.Unmarshal([]byte(stdout), &now); err != nil {
		t.Fatal(err)
	}
	got := map[string]diagnose.Finding{}
	for _, f := range now.Findings {
		got[f.ID] = f
	}
	for _, e := range expect {
		f, ok := got[e.ID]
		switch {
		case !ok && !e.Aged:
			t.Errorf("the CLI misses %s", e.ID)
		case ok && !slices.Equal(f.Fix, byID[e.ID].Fix):
			t.Errorf("the CLI's fix of %s is %q, judged later %q", e.ID, f.Fix, byID[e.ID].Fix)
		}
		delete(got, e.ID)
	}
	for id := range got {
		t.Errorf("the CLI reports %s, which was not planted", id)
	}

	// The text report prints the same commands verbatim (a heredoc's
	// body and terminator flush left), ready to paste.
	code, text, _ := runCmd(t, "doctor", "--kubeconfig", kubeconfig, "--slow-allocation", allocationLimit.String(), "--failed-allocation", allocationLimit.String(), "-q")
	if code != diagnose.ExitCritical {
		t.Errorf("doctor -o text: exit %d", code)
	}
	for _, f := range now.Findings {
		for _, cmd := range f.Fix {
			if !strings.Contains(text, "\n      "+cmd+"\n") {
				t.Errorf("the text report does not print the fix of %s verbatim: %q\n%s", f.ID, cmd, text)
			}
		}
	}

	// -o openreports: every object is accepted by the openreports CRDs.
	code, stdout, stderr = runCmd(t, "doctor", "--kubeconfig", kubeconfig, "--slow-allocation", allocationLimit.String(), "--failed-allocation", allocationLimit.String(), "-o", "openreports", "-q")
	if code != diagnose.ExitCritical {
		t.Fatalf("doctor -o openreports: exit %d\n%s", code, stderr)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) < 2 {
		t.Errorf("openreports: %d objects, want a ClusterReport and a Report of %s", len(list.Items), plant.Namespace)
	}
	for _, item := range list.Items {
		u := &unstructured.Unstructured{Object: item}
		if err := env.Client.Create(ctx, u, client.DryRunAll); err != nil {
			t.Errorf("openreports %s %s/%s refused: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}

	// Run every printed fix, let the kubelet and the controller do what
	// they would, and judge again.
	before := snapshotOwners(t, env.Client)
	for _, f := range rep.Findings {
		for _, cmd := range f.Fix {
			runFix(t, env.KubectlPath, kubeconfig, f.ID, cmd)
		}
	}
	settle(t, env.Client, before)
	preconditionsHold(t, env, kubeconfig, byID)
	var remaining []plant.Expectation
	for _, e := range expect {
		if !e.Fix {
			remaining = append(remaining, e)
		}
	}
	after := diagnoseLive(t, kubeconfig, time.Now().Add(judgeLater))
	assertFindings(t, "after the fixes", after, remaining)
}

// webhookNamespace is where the test plants the webhook's reservations.
const webhookNamespace = "ipamguard-system"

// plantStaleReservation writes a reservation Lease as the webhook writes
// it, taken an hour ago (so expired long since: the webhook's cleanup did
// not run), and returns the finding the doctor must report about it.
func plantStaleReservation(t *testing.T, c client.Client) plant.Expectation {
	t.Helper()
	ctx := t.Context()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: webhookNamespace}}); err != nil {
		t.Fatal(err)
	}
	leases := &reserve.Leases{Namespace: webhookNamespace}
	claim := validate.Claim{Subnet: plant.SubnetStatic, Addr: netip.MustParseAddr("10.80.7.77")}
	le := leases.Lease(claim, reserve.Grant{Namespace: plant.Namespace, Owner: "p/gone", Pod: "gone", PodUID: "u-gone", RequestUID: "r-gone"}, time.Now().Add(-time.Hour))
	if err := c.Create(ctx, le); err != nil {
		t.Fatal(err)
	}
	return plant.Expectation{ID: diagnose.CheckStaleReservation + "/Lease/" + webhookNamespace + "/" + le.Name, Severity: diagnose.Warning, Fix: true}
}

// openReportsCRDs returns the openreports.io CRD files of the module.
func openReportsCRDs(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/openreports/reports-api").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		devenvtest.SkipUnlessRequired(t, "the openreports CRDs: go list -m github.com/openreports/reports-api: %v", err)
	}
	var files []string
	for _, name := range []string{"openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"} {
		p := filepath.Join(dir, "config", "crd", name)
		if _, err := os.Stat(p); err != nil {
			devenvtest.SkipUnlessRequired(t, "the openreports CRD %s: %v", name, err)
		}
		files = append(files, p)
	}
	return files
}

// diagnoseLive reads the live state as the CLI does and diagnoses it at
// judgedAt, with the CLI's judge of unallocated pods.
func diagnoseLive(t *testing.T, kubeconfig string, judgedAt time.Time) *diagnose.Report {
	t.Helper()
	cf := newClusterFlags()
	if err := cf.kubeSet.Parse([]string{"--kubeconfig", kubeconfig}); err != nil {
		t.Fatal(err)
	}
	l, err := cf.connect()
	if err != nil {
		t.Fatal(err)
	}
	state := &diagnose.State{Time: time.Now().UTC()}
	if err := audit.Read(t.Context(), l.reader, state, nil, clusterstate.ReservationLeases(webhookNamespace)); err != nil || len(state.Incomplete) != 0 {
		t.Fatal(state.Incomplete, err)
	}
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	opts := diagnose.DefaultOptions(judgedAt)
	opts.SlowAllocation, opts.FailedAllocation = allocationLimit, allocationLimit
	opts.Ctx = t.Context()
	rep, err := audit.Diagnose(state, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// assertFindings fails t unless the report holds exactly the expected
// findings, with their severities and fixes.
func assertFindings(t *testing.T, when string, rep *diagnose.Report, expect []plant.Expectation) {
	t.Helper()
	got := map[string]diagnose.Finding{}
	for _, f := range rep.Findings {
		got[f.ID] = f
	}
	for _, e := range expect {
		f, ok := got[e.ID]
		switch {
		case !ok:
			t.Errorf("%s: the doctor misses %s", when, e.ID)
		case f.Severity != e.Severity:
			t.Errorf("%s: %s is %s, want %s: %s", when, e.ID, f.Severity, e.Severity, f.Message)
		case (len(f.Fix) > 0) != e.Fix:
			t.Errorf("%s: %s has fix %q, want a fix: %v", when, e.ID, f.Fix, e.Fix)
		}
		delete(got, e.ID)
	}
	for id, f := range got {
		t.Errorf("%s: the doctor reports %s, which was not planted: %s", when, id, f.Message)
	}
	if len(rep.Incomplete) > 0 {
		t.Errorf("%s: incomplete: %v", when, rep.Incomplete)
	}
}

// runFix runs one printed command with bash, the pinned kubectl first on
// PATH and KUBECONFIG set to the test server's.
func runFix(t *testing.T, kubectl, kubeconfig, id, command string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "bash", "-euo", "pipefail", "-c", command)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(kubectl)+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+kubeconfig)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("fix of %s failed: %v\n$ %s\n%s", id, err, command, out)
	}
}

// owners is what settle compares: the pods and the IP objects of each
// subnet before the fixes ran.
type owners struct {
	pods map[string]bool
	ips  map[string]kubeovnv1.IP
}

func snapshotOwners(t *testing.T, c client.Client) owners {
	t.Helper()
	o := owners{pods: map[string]bool{}, ips: map[string]kubeovnv1.IP{}}
	var pods corev1.PodList
	if err := c.List(t.Context(), &pods); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		o.pods[p.Namespace+"/"+p.Name] = true
	}
	var ips kubeovnv1.IPList
	if err := c.List(t.Context(), &ips); err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips.Items {
		o.ips[ip.Name] = ip
	}
	return o
}

// settle does what the cluster's other actors do after the fixes, as
// there are none on the test's control plane:
//   - kubelet: a deleted pod on a node ends its graceful deletion (the
//     printed deletion gives the default 30 s grace) by deleting it with
//     grace 0 once its containers stopped;
//   - kube-ovn-controller: a deleted pod's IP object goes with it, unless
//     Kube-OVN keeps it (StatefulSet, VM, reserved: handleDeletePod,
//     pkg/controller/pod.go), and a subnet whose IP objects changed gets
//     its status recounted (calcSubnetStatusIP,
//     pkg/controller/subnet_status.go).
func settle(t *testing.T, c client.Client, before owners) {
	t.Helper()
	ctx := t.Context()
	var pods corev1.PodList
	if err := c.List(ctx, &pods); err != nil {
		t.Fatal(err)
	}
	alive := map[string]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			if err := c.Delete(ctx, p, client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
				t.Fatal(err)
			}
			continue
		}
		alive[p.Namespace+"/"+p.Name] = true
	}
	changed := map[string]bool{}
	var ips kubeovnv1.IPList
	if err := c.List(ctx, &ips); err != nil {
		t.Fatal(err)
	}
	now := map[string]bool{}
	for i := range ips.Items {
		ip := &ips.Items[i]
		now[ip.Name] = true
		k := ip.Spec.Namespace + "/" + ip.Spec.PodName
		if before.pods[k] && !alive[k] && ip.Spec.PodType == "" && ip.Labels["ovn.kubernetes.io/ip_reserved"] != "true" {
			if err := c.Delete(ctx, ip); client.IgnoreNotFound(err) != nil {
				t.Fatal(err)
			}
			changed[ip.Spec.Subnet] = true
		}
	}
	for name, ip := range before.ips {
		if !now[name] {
			changed[ip.Spec.Subnet] = true
		}
	}
	for subnet := range changed {
		if err := plant.Recount(ctx, c, subnet, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(changed) == 0 {
		t.Error(fmt.Errorf("settle: no subnet changed: the fixes deleted nothing"))
	}
}

// preconditionsHold runs two printed fixes a second time: the status
// patch of a subnet that changed since (its resourceVersion moved on)
// and the deletion of a zombie IP object that was re-created under the
// same name (another UID). The API server must refuse both, and the
// re-created object must survive; it is removed afterwards.
func preconditionsHold(t *testing.T, env *devenv.Env, kubeconfig string, byID map[string]diagnose.Finding) {
	t.Helper()
	ctx := t.Context()
	run := func(cmd string) (string, error) {
		c := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", cmd)
		c.Env = append(os.Environ(), "PATH="+filepath.Dir(env.KubectlPath)+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+kubeconfig)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	status := byID["subnet-status/Subnet/"+plant.SubnetStale]
	if out, err := run(status.Fix[0]); err == nil || !strings.Contains(out, "the object has been modified") {
		t.Errorf("the status patch ran again on a changed subnet: %v\n%s", err, out)
	}

	zombie := byID["zombie-ip/IP/"+plant.ZombiePod+"."+plant.Namespace]
	again := &kubeovnv1.IP{}
	again.Name = zombie.Objects[0].Name
	again.Spec = kubeovnv1.IPSpec{PodName: plant.ZombiePod, Namespace: plant.Namespace, Subnet: plant.SubnetZombie, IPAddress: "10.80.1.3", V4IPAddress: "10.80.1.3"}
	if err := env.Client.Create(ctx, again); err != nil {
		t.Fatal(err)
	}
	if out, err := run(zombie.Fix[0]); err == nil || !strings.Contains(out, "does not match the UID in record") {
		t.Errorf("the zombie's deletion ran again on a re-created object: %v\n%s", err, out)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(again), &kubeovnv1.IP{}); err != nil {
		t.Errorf("the re-created IP object is gone: %v", err)
	}
	if err := env.Client.Delete(ctx, again); err != nil {
		t.Fatal(err)
	}
}
