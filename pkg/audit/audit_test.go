package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/audit"
	"github.com/ipamguard/ipamguard/pkg/clusterstate"
	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/metrics"
)

var shared = devenvtest.NewShared(devenv.Options{}, func(ctx context.Context, env *devenv.Env) (*devenv.Env, func() error, error) {
	return env, nil, devenv.Seed(ctx, env.Client)
})

func TestMain(m *testing.M) { devenvtest.Main(m, shared) }

// TestAuditOnRealAPIServer: the continuous audit reads the cluster as the
// doctor does and exports exactly the doctor's findings; without the
// openreports CRDs it keeps to metrics, with them it writes one
// ClusterReport that the API server accepts and whose summary counts the
// findings.
func TestAuditOnRealAPIServer(t *testing.T) {
	env := shared.Get(t)
	ctx := t.Context()
	c := env.Client
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: "shop-net"}, Spec: kubeovnv1.SubnetSpec{
			CIDRBlock: "10.90.0.0/24", Gateway: "10.90.0.1", Protocol: kubeovnv1.ProtocolIPv4, Namespaces: []string{"shop"}}},
		// A zombie: its pod does not exist.
		&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "gone.shop"}, Spec: kubeovnv1.IPSpec{
			PodName: "gone", Namespace: "shop", Subnet: "shop-net", IPAddress: "10.90.0.7", V4IPAddress: "10.90.0.7"}},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	reader, err := clusterstate.NewReader(env.Config, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Judged two minutes on, past the doctor's one-minute grace for young
	// IP objects: the objects were created a moment ago.
	later := func(now time.Time) diagnose.Options { return diagnose.DefaultOptions(now.Add(2 * time.Minute)) }

	// The doctor's one-shot report of the same state.
	s := &diagnose.State{Time: time.Now().UTC()}
	if err := audit.Read(ctx, reader, s, nil); err != nil {
		t.Fatal(err)
	}
	want, err := audit.Diagnose(s, nil, later(s.Time))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(want.Findings, func(f diagnose.Finding) bool { return f.Check == diagnose.CheckZombie }) {
		t.Fatalf("the doctor finds no zombie: %+v", want.Findings)
	}

	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	a := &audit.Auditor{Reader: reader, Metrics: m, Reports: c, Options: later, Log: logr.Discard()}
	got, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatalf("audit without the openreports CRDs: %v", err)
	}
	if gc, wc := audit.Counts(got), audit.Counts(want); !slices.Equal(gc, wc) {
		t.Errorf("audit counts %v, doctor counts %v", gc, wc)
	}
	if exported := findingsOf(t, reg); !slices.Equal(exported, audit.Counts(want)) {
		t.Errorf("ipamguard_findings %v, doctor counts %v", exported, audit.Counts(want))
	}

	// A cluster larger than the audit may hold stops the run.
	small := &audit.Auditor{Reader: reader, Metrics: m, Options: later, Log: logr.Discard(), MaxObjects: 5}
	if _, err := small.RunOnce(ctx); !errors.Is(err, audit.ErrTooLarge) {
		t.Errorf("audit of more than MaxObjects: %v, want ErrTooLarge", err)
	}
	if exported := findingsOf(t, reg); !slices.Equal(exported, audit.Counts(want)) {
		t.Errorf("a stopped run changed ipamguard_findings: %v", exported)
	}

	// With the CRDs, one ClusterReport.
	installOpenReports(t, ctx, c)
	a = &audit.Auditor{Reader: reader, Metrics: m, Reports: c, Options: later, Log: logr.Discard(), MaxResults: 1}
	got, err = a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cr := &unstructured.Unstructured{}
	cr.SetGroupVersionKind(schema.GroupVersionKind{Group: "openreports.io", Version: "v1alpha1", Kind: "ClusterReport"})
	devenvtest.Eventually(t, "the ClusterReport", 30*time.Second, func() error {
		return c.Get(ctx, client.ObjectKey{Name: "ipamguard-doctor"}, cr)
	})
	results, _, _ := unstructured.NestedSlice(cr.Object, "results")
	fail, _, _ := unstructured.NestedInt64(cr.Object, "summary", "fail")
	if len(results) != 1 || int(fail) != got.Summary.Critical+got.Summary.Warning {
		t.Errorf("ClusterReport: %d results (cap 1), summary fail %d, want %d", len(results), fail, got.Summary.Critical+got.Summary.Warning)
	}
	// A second run replaces it (server-side apply, one field owner).
	if _, err := a.RunOnce(ctx); err != nil {
		t.Fatalf("second run: %v", err)
	}
}

// findingsOf reads ipamguard_findings from reg as counts.
func findingsOf(t *testing.T, reg *prometheus.Registry) []metrics.FindingCount {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []metrics.FindingCount
	for _, mf := range mfs {
		if mf.GetName() != metrics.FindingsName {
			continue
		}
		for _, mt := range mf.GetMetric() {
			fc := metrics.FindingCount{N: int(mt.GetGauge().GetValue())}
			for _, l := range mt.GetLabel() {
				switch l.GetName() {
				case "check":
					fc.Check = l.GetValue()
				case "severity":
					fc.Severity = l.GetValue()
				}
			}
			out = append(out, fc)
		}
	}
	slices.SortFunc(out, func(a, b metrics.FindingCount) int {
		if a.Check != b.Check {
			return compare(a.Check, b.Check)
		}
		return compare(a.Severity, b.Severity)
	})
	return out
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// installOpenReports installs the openreports.io CRDs from their Go module
// and waits until they are served.
func installOpenReports(t *testing.T, ctx context.Context, c client.Client) {
	t.Helper()
	dir, err := devenv.OpenReportsCRDDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		crd := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &crd.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := c.Create(ctx, crd); err != nil {
			t.Fatalf("install %s: %v", f, err)
		}
		devenvtest.Eventually(t, "CRD "+crd.GetName()+" established", 30*time.Second, func() error {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(crd.GroupVersionKind())
			if err := c.Get(ctx, client.ObjectKey{Name: crd.GetName()}, got); err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, cond := range conds {
				if m, ok := cond.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
			return context.DeadlineExceeded
		})
	}
}
