package render

import (
	"bufio"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"

	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/ipamguard/ipamguard/pkg/diagnose"
)

// OpenReports names and labels, as Kyverno and policy-reporter read them.
const (
	// ReportName is the name of the ClusterReport and of each namespace's
	// Report: one of each, replaced on every run.
	ReportName = "ipamguard-doctor"
	// Source is the reports' (and each result's) source.
	Source = "ipamguard"
	// Category is each result's policy category.
	Category = "Kube-OVN IPAM"
	// ManagedByLabel marks the reports as ipamguard's.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ClusterIDAnnotation carries the report's cluster identity (the
	// kube-system namespace UID), so a report is never taken for another
	// cluster's.
	ClusterIDAnnotation = "ipamguard.io/cluster-id"
)

var reportsGroupVersion = orv1alpha1.SchemeGroupVersion.String()

// Results and severities of the CRD's enums (the module declares the types
// but no constants).
const (
	resultPass orv1alpha1.Result = "pass"
	resultFail orv1alpha1.Result = "fail"
	resultWarn orv1alpha1.Result = "warn"
	resultErr  orv1alpha1.Result = "error"
	resultSkip orv1alpha1.Result = "skip"

	severityCritical orv1alpha1.ResultSeverity = "critical"
	severityMedium   orv1alpha1.ResultSeverity = "medium"
	severityInfo     orv1alpha1.ResultSeverity = "info"
)

// OpenReports turns the report into openreports.io/v1alpha1 objects: one
// ClusterReport for findings whose first object is cluster-scoped
// (subnets, IP objects, Vips, nodes) or that have none, and one Report per
// namespace, sorted by namespace, for findings whose first object (the
// one to act on first) is namespaced (pods). The ClusterReport is always
// there, empty when the cluster is clean, so applying it clears an
// earlier run's results.
//
// Each finding is one result: policy and rule are the check ID; critical
// and warning findings fail, info findings (kept on purpose) pass;
// severity critical, medium or info; resources are the objects with UID
// and resourceVersion; properties hold the finding ID, subnet, hint,
// related finding IDs and the fix commands (fix-1, fix-2, …).
func OpenReports(r *diagnose.Report, opts Options) (*orv1alpha1.ClusterReport, []orv1alpha1.Report) {
	if r == nil {
		r = &diagnose.Report{}
	}
	ts := metav1.Timestamp{Seconds: r.Time.Unix(), Nanos: int32(r.Time.Nanosecond())}
	meta := func(namespace string) metav1.ObjectMeta {
		m := metav1.ObjectMeta{Name: ReportName, Namespace: namespace, Labels: map[string]string{ManagedByLabel: Source}}
		if r.ClusterID != "" {
			m.Annotations = map[string]string{ClusterIDAnnotation: r.ClusterID}
		}
		return m
	}

	var cluster []orv1alpha1.ReportResult
	byNamespace := map[string][]orv1alpha1.ReportResult{}
	for i := range r.Findings {
		f := &r.Findings[i]
		res := result(f, ts)
		if !opts.ClusterOnly && len(f.Objects) > 0 && f.Objects[0].Namespace != "" {
			ns := f.Objects[0].Namespace
			byNamespace[ns] = append(byNamespace[ns], res)
		} else {
			cluster = append(cluster, res)
		}
	}

	cr := &orv1alpha1.ClusterReport{
		TypeMeta:   metav1.TypeMeta{APIVersion: reportsGroupVersion, Kind: "ClusterReport"},
		ObjectMeta: meta(""),
		Source:     Source,
	}
	cr.Summary, cr.Configuration, cr.Results = limit(cluster, opts.MaxResults)

	namespaces := make([]string, 0, len(byNamespace))
	for ns := range byNamespace {
		namespaces = append(namespaces, ns)
	}
	slices.Sort(namespaces)
	reports := make([]orv1alpha1.Report, 0, len(namespaces))
	for _, ns := range namespaces {
		rep := orv1alpha1.Report{
			TypeMeta:   metav1.TypeMeta{APIVersion: reportsGroupVersion, Kind: "Report"},
			ObjectMeta: meta(ns),
			Source:     Source,
		}
		rep.Summary, rep.Configuration, rep.Results = limit(byNamespace[ns], opts.MaxResults)
		reports = append(reports, rep)
	}
	return cr, reports
}

// limit counts every result into the summary and keeps the first max
// (all when max <= 0), saying so in the configuration.
func limit(results []orv1alpha1.ReportResult, maxResults int) (orv1alpha1.ReportSummary, *orv1alpha1.ReportConfiguration, []orv1alpha1.ReportResult) {
	var s orv1alpha1.ReportSummary
	for i := range results {
		switch results[i].Result {
		case resultPass:
			s.Pass++
		case resultFail:
			s.Fail++
		case resultWarn:
			s.Warn++
		case resultErr:
			s.Error++
		case resultSkip:
			s.Skip++
		}
	}
	if maxResults <= 0 {
		return s, nil, results
	}
	conf := &orv1alpha1.ReportConfiguration{Limits: orv1alpha1.Limits{MaxResults: maxResults}}
	if len(results) > maxResults {
		results = results[:maxResults]
	}
	return s, conf, results
}

// result maps one finding. Info findings are things kept on purpose:
// the check looked and found them legitimate, so they pass.
func result(f *diagnose.Finding, ts metav1.Timestamp) orv1alpha1.ReportResult {
	res := orv1alpha1.ReportResult{
		Source:      Source,
		Policy:      f.Check,
		Rule:        f.Check,
		Category:    Category,
		Timestamp:   ts,
		Scored:      true,
		Description: f.Message,
	}
	switch f.Severity {
	case diagnose.Critical:
		res.Result, res.Severity = resultFail, severityCritical
	case diagnose.Warning:
		res.Result, res.Severity = resultFail, severityMedium
	default:
		res.Result, res.Severity = resultPass, severityInfo
	}
	if len(f.Objects) > 0 {
		res.Subjects = make([]corev1.ObjectReference, len(f.Objects))
		for k, o := range f.Objects {
			res.Subjects[k] = corev1.ObjectReference{
				APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name,
				UID: k8stypes.UID(o.UID), ResourceVersion: o.ResourceVersion,
			}
		}
	}
	props := make(map[string]string, 3+len(f.Fix))
	if f.ID != "" {
		props["id"] = f.ID
	}
	if f.Subnet != "" {
		props["subnet"] = f.Subnet
	}
	if f.Hint != "" {
		props["hint"] = f.Hint
	}
	if len(f.Related) > 0 {
		props["related"] = strings.Join(f.Related, ",")
	}
	for k, c := range f.Fix {
		props["fix-"+strconv.Itoa(k+1)] = c
	}
	if len(props) > 0 {
		res.Properties = props
	}
	return res
}

// openReportsList is the kubectl-style v1 List the objects are printed in.
type openReportsList struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   struct{} `json:"metadata"`
	Items      []any    `json:"items"`
}

// writeOpenReports prints the ClusterReport and the namespaces' Reports
// as one v1 List, ready for kubectl apply. It is JSON (which kubectl
// reads as YAML too), not YAML: YAML encoding costs about 100 µs a result,
// ten seconds for 100k findings, where JSON takes half a second.
func writeOpenReports(w io.Writer, r *diagnose.Report, opts Options) error {
	cr, reports := OpenReports(r, opts)
	list := openReportsList{APIVersion: "v1", Kind: "List", Items: make([]any, 0, 1+len(reports))}
	list.Items = append(list.Items, cr)
	for i := range reports {
		list.Items = append(list.Items, &reports[i])
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(list); err != nil {
		return err
	}
	return bw.Flush()
}
