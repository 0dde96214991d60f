// Package arch checks the floors of docs/architecture.md: which of this
// module's packages each package may import.
package arch

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/ipamguard/ipamguard/"

// allowed lists, per package (relative to the module), the packages of
// this module its non-test files may import. A package missing here fails
// the test, so a new package gets its floor on purpose.
var allowed = map[string][]string{
	"pkg/ipam":            nil,
	"pkg/annotations":     nil,
	"pkg/settings":        nil,
	"pkg/policy":          nil,
	"pkg/apis/kubeovn/v1": nil,
	"pkg/review":          nil,
	"pkg/metrics":         {"internal/version"}, // ipamguard_build_info's labels
	"pkg/reservation":     nil,
	"pkg/inventory":       {"pkg/ipam", "pkg/annotations", "pkg/apis/kubeovn/v1"},
	// Finds the bytes a JSON string scan stops at, eight at a time.
	"pkg/jsonscan": {},
	"pkg/config":   {"pkg/policy", "pkg/settings"},
	"pkg/mutate":   {"pkg/ipam", "pkg/annotations", "pkg/review"},
	"pkg/validate": {"pkg/ipam", "pkg/annotations", "pkg/apis/kubeovn/v1", "pkg/inventory", "pkg/policy", "pkg/settings"},
	"pkg/reserve":  {"pkg/validate", "pkg/reservation", "pkg/settings"},
	"pkg/admit": {"pkg/ipam", "pkg/annotations", "pkg/settings", "pkg/policy", "pkg/apis/kubeovn/v1", "pkg/review",
		"pkg/inventory", "pkg/config", "pkg/mutate", "pkg/validate", "pkg/reserve"},
	// Transport: no address math and no defaulting of its own.
	"pkg/webhook": {"pkg/annotations", "pkg/settings", "pkg/policy", "pkg/apis/kubeovn/v1", "pkg/review",
		"pkg/metrics", "pkg/inventory", "pkg/config", "pkg/validate", "pkg/reserve", "pkg/admit"},
	// The check only reads files and reports: the rules and the
	// defaulters are reached through the pipeline.
	"pkg/check": {"pkg/annotations", "pkg/settings", "pkg/policy", "pkg/apis/kubeovn/v1", "pkg/review",
		"pkg/inventory", "pkg/config", "pkg/validate", "pkg/admit", "pkg/diagnose"},
	// Reads the cluster state the kubectl commands judge against: no
	// rules, no inventory.
	"pkg/clusterstate": {"pkg/apis/kubeovn/v1"},
	// The doctor's checks read a State and report: address math and
	// annotation grammar, the inventory's address parsing, no rules (pods are judged
	// through Options.Judge, which the caller wires to the pipeline).
	"pkg/diagnose": {"pkg/ipam", "pkg/annotations", "pkg/settings", "pkg/apis/kubeovn/v1", "pkg/inventory", "pkg/reservation", "pkg/jsonscan"},
	// The snapshot file format: strips objects to what the doctor and
	// check read (annotation grammar), writes and streams them back.
	"pkg/snapshot": {"pkg/annotations", "pkg/apis/kubeovn/v1", "pkg/jsonscan"},
	// Prints a doctor report: text, JSON, YAML, openreports.
	"pkg/diagnose/render": {"pkg/diagnose", "pkg/apis/kubeovn/v1"},
	// The doctor against the live cluster, once (the CLI) or periodically
	// (the webhook's continuous audit): read, judge, report.
	"pkg/audit": {"pkg/check", "pkg/clusterstate", "pkg/config", "pkg/diagnose", "pkg/diagnose/render", "pkg/metrics", "pkg/snapshot"},
}

func TestFloors(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	err = filepath.WalkDir(filepath.Join(root, "pkg"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		seen[rel] = true
		may, known := allowed[rel]
		if !known {
			t.Errorf("%s: package has no floor in test/arch/arch_test.go (and docs/architecture.md)", rel)
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module) {
				continue
			}
			if p = strings.TrimPrefix(p, module); !slices.Contains(may, p) {
				t.Errorf("%s imports %s, which its floor does not allow (docs/architecture.md)", filepath.ToSlash(path[len(root)+1:]), p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range allowed {
		if !seen[p] {
			t.Errorf("%s is listed but has no Go files", p)
		}
	}
}
