package render

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"

	"github.com/ipamguard/ipamguard/pkg/diagnose"
)

func TestOpenReportsScopes(t *testing.T) {
	r := sample()
	cr, reports := OpenReports(r, Options{})

	policies := func(rs []orv1alpha1.ReportResult) []string {
		var out []string
		for _, res := range rs {
			out = append(out, res.Policy)
		}
		return out
	}
	// Cluster-scoped first objects (IP, Vip, Subnet) go to the
	// ClusterReport, pods to their namespace's Report; order is kept.
	if got, want := policies(cr.Results), []string{"duplicate-address", "subnet-usage", "subnet-status", "zombie-ip", "kept-ip", "kept-ip"}; !slices.Equal(got, want) {
		t.Errorf("cluster report policies %v, want %v", got, want)
	}
	if cr.Summary != (orv1alpha1.ReportSummary{Fail: 4, Pass: 2}) {
		t.Errorf("cluster summary %+v", cr.Summary)
	}
	if len(reports) != 2 || reports[0].Namespace != "shop" || reports[1].Namespace != "team-b" {
		t.Fatalf("namespaced reports: %+v", reports)
	}
	if got, want := policies(reports[0].Results), []string{"pod-stuck-creating", "allocation-missing"}; !slices.Equal(got, want) {
		t.Errorf("shop report policies %v, want %v", got, want)
	}
	if reports[1].Summary != (orv1alpha1.ReportSummary{Fail: 1}) {
		t.Errorf("team-b summary %+v", reports[1].Summary)
	}
	for _, rep := range reports[1].Results {
		if rep.Subjects[0].Namespace != "team-b" {
			t.Errorf("team-b result about %+v", rep.Subjects)
		}
	}

	if cr.Name != ReportName || cr.Labels[ManagedByLabel] != Source || cr.Source != Source ||
		cr.Annotations[ClusterIDAnnotation] != r.ClusterID || cr.Kind != "ClusterReport" || cr.APIVersion != "openreports.io/v1alpha1" {
		t.Errorf("cluster report meta: %+v %+v", cr.TypeMeta, cr.ObjectMeta)
	}

	dup := cr.Results[0]
	if dup.Result != "fail" || dup.Severity != "critical" || dup.Rule != "duplicate-address" || dup.Source != Source ||
		dup.Timestamp.Seconds != r.Time.Unix() || dup.Description != r.Findings[0].Message {
		t.Errorf("duplicate result: %+v", dup)
	}
	if len(dup.Subjects) != 2 || dup.Subjects[1].Kind != "Vip" || string(dup.Subjects[1].UID) != r.Findings[0].Objects[1].UID ||
		dup.Subjects[1].ResourceVersion != "48200" || dup.Subjects[1].APIVersion != "kubeovn.io/v1" {
		t.Errorf("duplicate subjects: %+v", dup.Subjects)
	}
	if dup.Properties["fix-1"] != r.Findings[0].Fix[0] || dup.Properties["hint"] != r.Findings[0].Hint ||
		dup.Properties["id"] != r.Findings[0].ID || dup.Properties["subnet"] != "tenant-a-net" {
		t.Errorf("duplicate properties: %v", dup.Properties)
	}
	if st := cr.Results[2]; st.Severity != "medium" || st.Properties["fix-2"] != r.Findings[5].Fix[1] {
		t.Errorf("subnet-status result: %+v", st)
	}
	if kept := cr.Results[4]; kept.Result != "pass" || kept.Severity != "info" {
		t.Errorf("kept result: %+v", kept)
	}
	if stuck := reports[0].Results[0]; stuck.Properties["related"] != "subnet-usage/Subnet/tenant-a-net" {
		t.Errorf("stuck pod related: %v", stuck.Properties)
	}

	// A clean cluster still gets its (empty) ClusterReport.
	cr, reports = OpenReports(&diagnose.Report{}, Options{})
	if cr == nil || len(cr.Results) != 0 || len(reports) != 0 {
		t.Errorf("clean: %+v %+v", cr, reports)
	}
}

// TestOpenReportsClusterOnly: the audit's one ClusterReport holds every
// finding, namespaced ones too.
func TestOpenReportsClusterOnly(t *testing.T) {
	r := sample()
	cr, reports := OpenReports(r, Options{ClusterOnly: true})
	if len(reports) != 0 {
		t.Errorf("%d namespaced reports with ClusterOnly", len(reports))
	}
	if len(cr.Results) != len(r.Findings) {
		t.Errorf("cluster report has %d results, the report %d findings", len(cr.Results), len(r.Findings))
	}
	if cr.Summary != (orv1alpha1.ReportSummary{Fail: 7, Pass: 2}) {
		t.Errorf("cluster summary %+v", cr.Summary)
	}
}

func TestOpenReportsMaxResults(t *testing.T) {
	cr, _ := OpenReports(sample(), Options{MaxResults: 2})
	if len(cr.Results) != 2 || cr.Results[0].Policy != "duplicate-address" {
		t.Errorf("capped results: %v", cr.Results)
	}
	if cr.Configuration == nil || cr.Configuration.Limits.MaxResults != 2 {
		t.Errorf("configuration: %+v", cr.Configuration)
	}
	if cr.Summary.Fail != 4 || cr.Summary.Pass != 2 {
		t.Errorf("summary counts only the kept results: %+v", cr.Summary)
	}
}

// crdSchemas loads the openreports CRDs from the module the Go types come
// from, so the schema and the types are the same release: kind → CRD.
func crdSchemas(t *testing.T) map[string]*crd {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/openreports/reports-api").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Fatalf("locate github.com/openreports/reports-api (go mod download github.com/openreports/reports-api): %v", err)
	}
	crds := map[string]*crd{}
	for _, f := range []string{"openreports.io_reports.yaml", "openreports.io_clusterreports.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, "config", "crd", f))
		if err != nil {
			t.Fatal(err)
		}
		c := &crd{}
		if err := yaml.Unmarshal(b, c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range c.Spec.Versions {
			if v.Name != "v1alpha1" {
				continue
			}
			c.schema = &spec.Schema{}
			if err := json.Unmarshal(v.Schema.OpenAPIV3Schema, c.schema); err != nil {
				t.Fatalf("%s: schema: %v", f, err)
			}
		}
		if c.schema == nil {
			t.Fatalf("%s: no v1alpha1 schema", f)
		}
		crds[c.Spec.Names.Kind] = c
	}
	return crds
}

// crd is the part of a CustomResourceDefinition the test reads.
type crd struct {
	Spec struct {
		Group string `json:"group"`
		Scope string `json:"scope"`
		Names struct {
			Kind string `json:"kind"`
		} `json:"names"`
		Versions []struct {
			Name   string `json:"name"`
			Schema struct {
				OpenAPIV3Schema json.RawMessage `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
	schema *spec.Schema
}

// validateObject checks one printed object the way the API server does on
// create: kind and scope, metadata, the OpenAPI schema (types, enums,
// required fields), and no field the schema lacks (the server would prune
// it without a word, losing data).
func validateObject(crds map[string]*crd, obj map[string]any) []string {
	kind, _ := obj["kind"].(string)
	c := crds[kind]
	if c == nil {
		return []string{"kind " + kind + " is not an openreports kind"}
	}
	var errs []string
	if obj["apiVersion"] != c.Spec.Group+"/v1alpha1" {
		errs = append(errs, "apiVersion "+obj["apiVersion"].(string))
	}
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	namespace, _ := meta["namespace"].(string)
	for _, e := range validation.IsDNS1123Subdomain(name) {
		errs = append(errs, "metadata.name: "+e)
	}
	if (c.Spec.Scope == "Namespaced") != (namespace != "") {
		errs = append(errs, c.Spec.Scope+" "+kind+" with namespace "+namespace)
	}
	if res := validate.NewSchemaValidator(c.schema, nil, "", strfmt.Default).Validate(obj); !res.IsValid() {
		for _, e := range res.Errors {
			errs = append(errs, e.Error())
		}
	}
	unknownFields("", obj, c.schema, &errs)
	return errs
}

func unknownFields(path string, v any, s *spec.Schema, errs *[]string) {
	switch x := v.(type) {
	case map[string]any:
		if path == ".metadata" {
			return // ObjectMeta: checked by the API server's own rules
		}
		for k, val := range x {
			if p, ok := s.Properties[k]; ok {
				unknownFields(path+"."+k, val, &p, errs)
			} else if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
				unknownFields(path+"."+k, val, s.AdditionalProperties.Schema, errs)
			} else {
				*errs = append(*errs, path+"."+k+": not in the schema")
			}
		}
	case []any:
		if s.Items == nil || s.Items.Schema == nil {
			*errs = append(*errs, path+": array without an item schema")
			return
		}
		for _, item := range x {
			unknownFields(path+"[]", item, s.Items.Schema, errs)
		}
	}
}

// printedItems decodes the -o openreports output: a v1 List.
func printedItems(t *testing.T, r *diagnose.Report) []map[string]any {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, r, "openreports", Options{}); err != nil {
		t.Fatal(err)
	}
	var list struct {
		APIVersion string           `json:"apiVersion"`
		Kind       string           `json:"kind"`
		Items      []map[string]any `json:"items"`
	}
	if err := yaml.Unmarshal(b.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if list.APIVersion != "v1" || list.Kind != "List" {
		t.Errorf("printed %s %s, want a v1 List", list.APIVersion, list.Kind)
	}
	return list.Items
}

func TestOpenReportsMatchCRDSchema(t *testing.T) {
	crds := crdSchemas(t)
	items := printedItems(t, sample())
	if len(items) != 3 {
		t.Fatalf("%d items, want a ClusterReport and 2 Reports", len(items))
	}
	for _, obj := range items {
		for _, e := range validateObject(crds, obj) {
			t.Errorf("%s %v: %s", obj["kind"], obj["metadata"], e)
		}
	}
	// The same for a clean cluster and for a nil report.
	for _, r := range []*diagnose.Report{{}, nil} {
		for _, obj := range printedItems(t, r) {
			for _, e := range validateObject(crds, obj) {
				t.Errorf("empty report: %s: %s", obj["kind"], e)
			}
		}
	}
}

// The validation above can fail: a broken object is caught.
func TestOpenReportsSchemaCatchesErrors(t *testing.T) {
	crds := crdSchemas(t)
	broken := func(mutate func(obj map[string]any)) []string {
		obj := printedItems(t, sample())[0]
		mutate(obj)
		return validateObject(crds, obj)
	}
	result0 := func(obj map[string]any) map[string]any { return obj["results"].([]any)[0].(map[string]any) }
	cases := []struct {
		want   string // in the error
		mutate func(obj map[string]any)
	}{
		{"results[0].result", func(obj map[string]any) { result0(obj)["result"] = "failed" }},
		{"results[0].severity", func(obj map[string]any) { result0(obj)["severity"] = "warning" }},
		{"results[0].policy in body is required", func(obj map[string]any) { delete(result0(obj), "policy") }},
		{"results[0].timestamp", func(obj map[string]any) { result0(obj)["timestamp"] = "2026-12-07T00:30:00Z" }},
		{"results[0].properties.n", func(obj map[string]any) { result0(obj)["properties"].(map[string]any)["n"] = 1.0 }},
		{".results[].subjects: not in the schema", func(obj map[string]any) { result0(obj)["subjects"] = []any{} }},
		{"summary.fail", func(obj map[string]any) { obj["summary"].(map[string]any)["fail"] = "4" }},
		{"with namespace shop", func(obj map[string]any) { obj["metadata"].(map[string]any)["namespace"] = "shop" }},
		{"metadata.name", func(obj map[string]any) { obj["metadata"].(map[string]any)["name"] = "Doctor_Report" }},
	}
	for _, c := range cases {
		errs := broken(c.mutate)
		if len(errs) != 1 || !strings.Contains(errs[0], c.want) {
			t.Errorf("broken %s: errors %q, want one about it", c.want, errs)
		}
	}
}
