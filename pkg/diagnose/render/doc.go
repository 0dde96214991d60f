// Package render prints a doctor report (pkg/diagnose) as text, JSON,
// YAML or openreports.io/v1alpha1 reports.
package render
