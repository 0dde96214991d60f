// Package render prints a doctor report (pkg/diagnose) as text, JSON,
// YAML or openreports.io/v1alpha1 reports.
//
// The text report is for a terminal: incomplete reads first, then the
// subnet and latency tables fitted to the width, then the findings by
// severity with their objects, hints and fix commands (printed so they
// paste into a shell unchanged). JSON and YAML are the Report as is. The
// openreports output is a v1 List of one ClusterReport and one Report per
// namespace, the shape Kyverno and policy-reporter read; OpenReports
// returns the same objects for the webhook's continuous audit.
package render
