package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/reservation"
	"github.com/ipamguard/ipamguard/pkg/reserve"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// The reservations the shared control plane is seeded with (live_test.go),
// in a namespace of their own (the other live tests run the doctor on
// ipamguard-system's): one live, one lapsed, one in a form this version
// cannot read, beside a leader election Lease. Seeded, not created by the
// test: the live tests read the shared cluster in parallel and compare
// what they read (TestSnapshotLive).
const reservationsNS = "resv-list"

var (
	resvLive   = validate.Claim{Subnet: "tenant-a", Addr: netip.MustParseAddr("10.70.0.9")}
	resvLapsed = validate.Claim{Subnet: "v6", Addr: netip.MustParseAddr("fd00::a")}
	resvOther  = validate.Claim{Subnet: "tenant-a", Addr: netip.MustParseAddr("10.70.0.10")}
)

// resvTTL is the live reservation's: longer than any test run.
const resvTTL = 6 * time.Hour

// reservationObjects are the seeded reservations, written as the webhook
// writes them, taken at now.
func reservationObjects(now time.Time) []client.Object {
	leases := &reserve.Leases{Namespace: reservationsNS, TTL: resvTTL}
	lapsed := leases.Lease(resvLapsed, reserve.Grant{Namespace: "vms", Owner: "vm/web", Pod: "virt-launcher-web-x", PodUID: "u2", RequestUID: "r2"}, now.Add(-2*resvTTL))
	other := leases.Lease(resvOther, reserve.Grant{Namespace: "apps", Owner: "x"}, now)
	other.Annotations = map[string]string{reservation.Annotation: "a form of version 9"}
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: reservationsNS}},
		leases.Lease(resvLive, reserve.Grant{Namespace: "apps", Owner: "db-0", Pod: "db-0", PodUID: "u1", RequestUID: "r1"}, now),
		lapsed,
		other,
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: reservationsNS, Name: "ipamguard-leader"}},
	}
}

// TestReservationsLive lists the seeded reservations live and from a
// snapshot, whole and filtered.
func TestReservationsLive(t *testing.T) {
	t.Parallel()
	kubeconfig := shared.Get(t)
	const ns = reservationsNS
	live, lapsed := resvLive, resvLapsed

	list := func(args ...string) reservationList {
		t.Helper()
		code, stdout, stderr := runCmd(t, append([]string{"reservations", "--webhook-namespace", ns, "-o", "json"}, args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		var l reservationList
		if err := json.Unmarshal([]byte(stdout), &l); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stdout)
		}
		return l
	}
	summary := func(l reservationList) []string {
		var out []string
		for _, r := range l.Items {
			if r.LeaseNamespace != ns {
				t.Errorf("row %+v: Lease namespace %q, want %q", r, r.LeaseNamespace, ns)
			}
			s := r.Subnet + " " + r.Address + " " + r.HolderNamespace + "/" + r.Owner + " " + r.Pod + " " + r.State
			if r.Lapsed {
				s += " lapsed"
			}
			if r.Unreadable {
				s += " unreadable"
			}
			out = append(out, s)
		}
		return out
	}
	all := []string{
		"tenant-a 10.70.0.9 apps/db-0 db-0 admitted",
		// Another version's: its name's subnet and address, nothing else.
		"tenant-a 10.70.0.10 /   unreadable",
		"v6 fd00::a vms/vm/web virt-launcher-web-x admitted lapsed",
	}
	got := list("--kubeconfig", kubeconfig)
	if s := summary(got); !slices.Equal(s, all) {
		t.Errorf("listed\n%s\nwant\n%s", strings.Join(s, "\n"), strings.Join(all, "\n"))
	}
	if r := got.Items[0]; r.Lease != reservation.Name(live.Subnet, live.Addr) || r.Acquired == nil || r.Expires == nil ||
		r.Expires.Sub(*r.Acquired) != resvTTL || r.PodUID != "u1" || r.RequestUID != "r1" {
		t.Errorf("first row %+v", r)
	}
	if s := summary(list("--kubeconfig", kubeconfig, "10.70.0.10", "fd00:0::a")); !slices.Equal(s, all[1:]) {
		t.Errorf("by address: %v", s)
	}
	if s := summary(list("--kubeconfig", kubeconfig, "--subnet", "v6")); !slices.Equal(s, all[2:]) {
		t.Errorf("--subnet v6: %v", s)
	}
	// -n names the webhook's namespace too, as kubectl users type it.
	code, stdout, stderr := runCmd(t, "reservations", "--kubeconfig", kubeconfig, "-n", ns, "-o", "json")
	var byN reservationList
	if err := json.Unmarshal([]byte(stdout), &byN); code != exitOK || err != nil || !slices.Equal(summary(byN), all) {
		t.Errorf("-n %s: exit %d, %v, %v\n%s", ns, code, err, summary(byN), stderr)
	}
	if code, _, stderr := runCmd(t, "reservations", "--kubeconfig", kubeconfig, "-n", ns, "--webhook-namespace", "other"); code != exitUsage || !strings.Contains(stderr, "give one") {
		t.Errorf("-n and another --webhook-namespace: exit %d, %s", code, stderr)
	}

	// The text table.
	code, text, stderr := runCmd(t, "reservations", "--kubeconfig", kubeconfig, "--webhook-namespace", ns)
	t.Logf("the table:\n%s", text)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if code != exitOK || len(lines) != 4 || !strings.HasPrefix(lines[0], "SUBNET") ||
		!strings.Contains(lines[1], "apps/db-0") || !strings.Contains(lines[1], " in ") ||
		!strings.Contains(lines[2], "(another version)") ||
		!strings.Contains(lines[3], "lapsed") || !strings.HasSuffix(lines[3], reservation.Name(lapsed.Subnet, lapsed.Addr)) {
		t.Errorf("exit %d, table:\n%s%s", code, text, stderr)
	}

	// From a snapshot: the same, lapsed as of the snapshot's time.
	snap := filepath.Join(t.TempDir(), "snapshot.json")
	if code, _, stderr := runCmd(t, "snapshot", "--kubeconfig", kubeconfig, "--webhook-namespace", ns, "-o", snap, "-q"); code != exitOK {
		t.Fatalf("snapshot: exit %d\n%s", code, stderr)
	}
	if s := summary(list("--snapshot", snap)); !slices.Equal(s, all) {
		t.Errorf("from the snapshot\n%s\nwant\n%s", strings.Join(s, "\n"), strings.Join(all, "\n"))
	}
	// Without the flag too: the snapshot holds the namespace it was taken
	// with, not the default one.
	code, stdout, stderr = runCmd(t, "reservations", "--snapshot", snap, "-o", "json")
	var fromSnap reservationList
	if err := json.Unmarshal([]byte(stdout), &fromSnap); code != exitOK || err != nil || !slices.Equal(summary(fromSnap), all) {
		t.Errorf("--snapshot without --webhook-namespace: exit %d, %v, %v\n%s", code, err, summary(fromSnap), stderr)
	}
	// Objects of other kinds are not decoded, but still checked: a broken
	// pod is a broken snapshot.
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "broken.json")
	if !bytes.Contains(data, []byte(`"name":"db-0",`)) {
		t.Fatalf("the snapshot has no pod db-0:\n%.2000s", data)
	}
	if err := os.WriteFile(broken, bytes.Replace(data, []byte(`"name":"db-0",`), []byte(`"name":"db-0,`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, "reservations", "--snapshot", broken); code != exitUsage || !strings.Contains(stderr, broken) {
		t.Errorf("a snapshot with a broken pod: exit %d, %s", code, stderr)
	}
	// A snapshot by a user who may not list the Leases: an error, not "none".
	gap := filepath.Join(t.TempDir(), "gap.json")
	if code, _, stderr := runCmd(t, "snapshot", "--kubeconfig", kubeconfig, "--as", noPods, "--webhook-namespace", ns, "-o", gap, "-q"); code != diagnose.ExitIncomplete {
		t.Fatalf("snapshot as %s: exit %d\n%s", noPods, code, stderr)
	}
	if code, _, stderr := runCmd(t, "reservations", "--snapshot", gap); code != exitUsage || !strings.Contains(stderr, "the reservations were not read into it (leases.coordination.k8s.io") {
		t.Errorf("a snapshot without the Leases: exit %d, %s", code, stderr)
	}
	// No cluster at all.
	code, _, stderr = runCmd(t, "reservations", "--kubeconfig", filepath.Join(t.TempDir(), "none"))
	if code != exitUsage || !strings.Contains(stderr, "kubectl ipam reservations: error:") {
		t.Errorf("no cluster: exit %d, %s", code, stderr)
	}

	// Bad input, and nothing to list.
	if code, _, stderr := runCmd(t, "reservations", "--kubeconfig", kubeconfig, "10.70.0.300"); code != exitUsage || !strings.Contains(stderr, `address "10.70.0.300"`) {
		t.Errorf("a bad address: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "reservations", "--kubeconfig", kubeconfig, "-o", "yaml"); code != exitUsage || !strings.Contains(stderr, `--output "yaml"`) {
		t.Errorf("-o yaml: exit %d, %s", code, stderr)
	}
	if code, text, stderr := runCmd(t, "reservations", "--kubeconfig", kubeconfig, "--webhook-namespace", ns, "--subnet", "none"); code != exitOK || text != "" ||
		!strings.Contains(stderr, "No reservations found in namespace "+ns) {
		t.Errorf("none: exit %d, %q, %s", code, text, stderr)
	}
}
