package check

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ReportAPIVersion and ReportKind head the JSON report. The layout is
// documented in docs/check.md; fields are only ever added within a
// version.
const (
	ReportAPIVersion = "ipamguard.io/v1alpha1"
	ReportKind       = "CheckReport"
)

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	doc := struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		*Report
	}{ReportAPIVersion, ReportKind, r}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteText writes one block per object with findings, then the summary
// line. What the defaulting webhooks would rewrite is left to the JSON
// report: it never changes a verdict and would bury the findings.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, j := range r.Objects {
		if len(j.Findings) == 0 {
			continue
		}
		name := j.Name
		if j.Namespace != "" {
			name = j.Namespace + "/" + j.Name
		}
		op := ""
		if j.Operation == Update {
			op = " (update)"
		}
		fmt.Fprintf(&b, "%-7s %s %s%s  %s\n", strings.ToUpper(string(j.Result)), j.Kind, name, op, j.Source)
		for _, f := range j.Findings {
			label := "warning"
			if f.Action == "enforce" {
				label = "error"
			}
			fmt.Fprintf(&b, "  %s: %s\n", label, f.Message)
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "%d %s judged, %d denied, %d warned, %d skipped", s.Judged, plural(s.Judged, "object", "objects"), s.Denied, s.Warned, s.Skipped)
	if len(r.Skipped) > 0 {
		var kinds []string
		for _, k := range r.Skipped {
			if !slices.Contains(kinds, k.Kind) {
				kinds = append(kinds, k.Kind)
			}
		}
		slices.Sort(kinds)
		fmt.Fprintf(&b, " (not judged by ipamguard: %s)", strings.Join(kinds, ", "))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
