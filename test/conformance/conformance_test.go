package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ipamguard/ipamguard/pkg/admit"
)

// minRows is the size issue 13 asks of the table.
const minRows = 150

// docPath is the document whose divergence list is generated from the
// table; UPDATE_CONFORMANCE_DOC=1 rewrites it.
var docPath = filepath.Join("..", "..", "docs", "conformance.md")

const (
	docBegin = "<!-- BEGIN GENERATED: go test ./test/conformance (UPDATE_CONFORMANCE_DOC=1 rewrites it) -->"
	docEnd   = "<!-- END GENERATED -->"
)

var (
	nameRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	divergenceRE = regexp.MustCompile(`^(false-alarm [1-8]|miss [1-9]|miss excludeIps-canonical|new: .+)$`)
)

// TestConformance runs every row through the webhook's handlers and through
// `kubectl ipam check`, and asserts that both give the row's verdict, or,
// for a listed divergence, still give the verdict they give today.
func TestConformance(t *testing.T) {
	// The handlers log denials through controller-runtime's logger.
	ctrllog.SetLogger(logr.Discard())
	bases, err := loadBases()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := loadRows()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < minRows {
		t.Errorf("the table has %d rows, issue 13 asks for at least %d", len(rows), minRows)
	}
	if errs := lint(rows, bases); len(errs) > 0 {
		t.Fatalf("the table is malformed:\n%s", strings.Join(errs, "\n"))
	}
	observed := make([]string, len(rows))
	t.Run("rows", func(t *testing.T) {
		for i := range rows {
			r := &rows[i]
			t.Run(r.Name, func(t *testing.T) {
				t.Parallel()
				observed[i] = runRow(t, r, bases)
			})
		}
	})
	if p := os.Getenv("CONFORMANCE_REPORT"); p != "" {
		writeReport(t, p, rows, observed)
	}
	summary := summarize(rows)
	t.Log("\n" + summary)
	checkDoc(t, summary)
}

// writeReport writes what each caller gave for each row, one line per row
// (CONFORMANCE_REPORT=<file>): the quickest way to see what a rule change
// did to the whole table.
func writeReport(t *testing.T, path string, rows []Row, observed []string) {
	t.Helper()
	var b strings.Builder
	for i, r := range rows {
		want := r.Expect
		if r.Rule != "" {
			want += " " + r.Rule
		}
		fmt.Fprintf(&b, "%s\t%s\texpect: %s\tdivergence: %s\ttoday: %s\t%s\n", r.file, r.Name, want, r.Divergence, r.Today, observed[i])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Error(err)
	}
}

// judged is one caller's verdict on a row.
type judged struct {
	caller string
	v      verdict
}

// runRow judges one row both ways and compares; it returns what each
// caller gave, for the report.
func runRow(t *testing.T, r *Row, bases map[string][]json.RawMessage) string {
	t.Helper()
	in, err := r.resolve(bases)
	if err != nil {
		t.Fatalf("%s: %v", r.file, err)
	}
	wh, err := viaWebhook(in)
	if err != nil {
		t.Fatalf("webhook: %v", err)
	}
	observed := fmt.Sprintf("webhook: %s (defaulted %v)", wh, wh.Defaulted)
	got := []judged{{"webhook", wh}}
	// The offline check judges manifests to apply; deletions are the
	// webhook's alone.
	if in.op != admit.Delete {
		ck, err := viaCheck(in)
		if err != nil {
			t.Fatalf("kubectl ipam check: %v", err)
		}
		observed += fmt.Sprintf("\tcheck: %s (defaulted %v)", ck, ck.Defaulted)
		if !wh.sameFindings(ck) {
			t.Errorf("the webhook and kubectl ipam check disagree: webhook %s (defaulted %v), check %s (defaulted %v)\nwebhook:\n  %s\ncheck:\n  %s",
				wh, wh.Defaulted, ck, ck.Defaulted, strings.Join(wh.Messages, "\n  "), strings.Join(ck.Messages, "\n  "))
		}
		got = append(got, judged{"check", ck})
	}
	t.Log(observed)
	for _, g := range got {
		compare(t, r, g)
	}
	return observed
}

// compare asserts one caller's verdict against the row.
func compare(t *testing.T, r *Row, g judged) {
	t.Helper()
	v := g.v
	if r.Defaulted != nil && v.Defaulted != *r.Defaulted {
		t.Errorf("%s: defaulted = %v, want %v", g.caller, v.Defaulted, *r.Defaulted)
	}
	agrees := v.matches(r.Expect, r.Rule)
	if len(r.After) > 0 {
		if g.caller != "webhook" {
			// The check does not hand out the defaulted object: only its
			// verdict can be compared.
			want, rule := r.Expect, r.Rule
			if r.Divergence != "" {
				want, rule = parseToday(r.Today)
			}
			if !v.matches(want, rule) {
				t.Errorf("%s gives %s, want %s %s", g.caller, v, want, rule)
			}
			return
		}
		if ok, have := afterMatches(v.Admitted, r.After); !ok {
			agrees = false
			if r.Divergence == "" {
				t.Errorf("the defaulted object does not hold %s:\n  %s", r.After, have)
			}
		}
	}
	switch {
	case r.Divergence == "" && !agrees:
		t.Errorf("%s gives %s, Kube-OVN implies %s %s (%s)\n  %s\nIf this is a known divergence, mark the row with divergence and today.",
			g.caller, v, r.Expect, r.Rule, r.Source, strings.Join(v.Messages, "\n  "))
	case r.Divergence != "" && agrees:
		t.Errorf("%s now gives %s as Kube-OVN implies: divergence %q is fixed; remove divergence and today from the row (and run UPDATE_CONFORMANCE_DOC=1 go test ./test/conformance)",
			g.caller, v, r.Divergence)
	case r.Divergence != "":
		if want, rule := parseToday(r.Today); !v.matches(want, rule) {
			t.Errorf("%s gives %s, the row says today it gives %q (divergence %q, Kube-OVN implies %s %s): update today\n  %s",
				g.caller, v, r.Today, r.Divergence, r.Expect, r.Rule, strings.Join(v.Messages, "\n  "))
		}
	}
}

// lint checks the rows' own consistency.
func lint(rows []Row, bases map[string][]json.RawMessage) []string {
	var errs []string
	seen := map[string]string{}
	for _, r := range rows {
		where := r.file + ": " + r.Name
		if !nameRE.MatchString(r.Name) {
			errs = append(errs, where+": name must be lower-case words joined by '-'")
		}
		if f, dup := seen[r.Name]; dup {
			errs = append(errs, where+": name also used in "+f)
		}
		seen[r.Name] = r.file
		if strings.TrimSpace(r.Source) == "" || strings.TrimSpace(r.Why) == "" {
			errs = append(errs, where+": source and why are required")
		}
		switch r.Expect {
		case Admit:
			if r.Rule != "" {
				errs = append(errs, where+": an admit row names no rule")
			}
		case Warn, Deny:
			if r.Rule == "" {
				errs = append(errs, where+": rule is required with "+r.Expect)
			}
		default:
			errs = append(errs, where+": expect must be admit, admit-with-warning or deny")
		}
		if r.Base != "" {
			if _, ok := bases[r.Base]; !ok {
				errs = append(errs, where+": unknown base "+r.Base)
			}
		}
		if r.Stricter != "" && r.Expect != Deny {
			errs = append(errs, where+": stricter only on deny rows")
		}
		switch {
		case r.Divergence == "" && r.Today != "":
			errs = append(errs, where+": today without divergence")
		case r.Divergence != "" && !divergenceRE.MatchString(r.Divergence):
			errs = append(errs, where+": divergence must be 'false-alarm N', 'miss N' (issue 13) or 'new: <what>'")
		case r.Divergence != "":
			v, _ := parseToday(r.Today)
			if v != Admit && v != Warn && v != Deny {
				errs = append(errs, where+": today must be '<verdict> [rule]'")
			}
		}
	}
	return errs
}

// summarize renders the table's state: rows, agreeing rows, and the
// divergences by issue 13 item with the rows and their Kube-OVN sources.
func summarize(rows []Row) string {
	byItem := map[string][]Row{}
	divergent := 0
	for _, r := range rows {
		if r.Divergence != "" {
			byItem[divergenceItem(r.Divergence)] = append(byItem[divergenceItem(r.Divergence)], r)
			divergent++
		}
	}
	items := make([]string, 0, len(byItem))
	for it := range byItem {
		items = append(items, it)
	}
	sort.Slice(items, func(i, j int) bool { return itemLess(items[i], items[j]) })
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d rows: %d agree with Kube-OVN, %d are listed divergences.\n\n", len(rows), len(rows)-divergent, divergent)
	b.WriteString("| issue 13 item | rows |\n|---|---|\n")
	for _, it := range items {
		fmt.Fprintf(&b, "| %s | %d |\n", it, len(byItem[it]))
	}
	b.WriteString("\n### Stricter than Kube-OVN on purpose\n\n")
	b.WriteString("Kube-OVN accepts these objects; ipamguard denies them for the harm named (issue 13: keep these denials).\n\n")
	b.WriteString("| row | rule | harm prevented | Kube-OVN source |\n|---|---|---|---|\n")
	for _, r := range rows {
		if r.Stricter != "" {
			fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", r.Name, r.Rule, escapeCell(r.Stricter), escapeCell(r.Source))
		}
	}
	b.WriteString("\n### Divergences by issue 13 item\n")
	for _, it := range items {
		fmt.Fprintf(&b, "\n#### %s\n\n", it)
		b.WriteString("| row | ipamguard today | Kube-OVN implies | Kube-OVN source |\n|---|---|---|---|\n")
		for _, r := range byItem[it] {
			want := r.Expect
			if r.Rule != "" {
				want += " `" + r.Rule + "`"
			}
			if len(r.After) > 0 {
				want += ", defaulted to " + escapeCell(string(r.After))
			}
			today, rule := parseToday(r.Today)
			if rule != "" {
				today += " `" + rule + "`"
			}
			name := "`" + r.Name + "`"
			if strings.HasPrefix(r.Divergence, "new: ") {
				name += " (" + strings.TrimPrefix(r.Divergence, "new: ") + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, today, want, escapeCell(r.Source))
		}
	}
	return b.String()
}

// itemLess orders false alarms, then misses, each by number, then new.
func itemLess(a, b string) bool {
	rank := func(s string) (int, int, string) {
		f := strings.Fields(s)
		kind := map[string]int{"false-alarm": 0, "miss": 1}[f[0]]
		if f[0] == "new" {
			kind = 2
		}
		n := 99
		if len(f) > 1 {
			if x, err := strconv.Atoi(f[1]); err == nil {
				n = x
			}
		}
		return kind, n, s
	}
	ak, an, as := rank(a)
	bk, bn, bs := rank(b)
	if ak != bk {
		return ak < bk
	}
	if an != bn {
		return an < bn
	}
	return as < bs
}

// escapeCell makes s safe in a Markdown table cell.
func escapeCell(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

// checkDoc compares the generated part of docs/conformance.md with the
// table, or rewrites it when UPDATE_CONFORMANCE_DOC=1.
func checkDoc(t *testing.T, summary string) {
	t.Helper()
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	begin := bytes.Index(doc, []byte(docBegin))
	end := bytes.Index(doc, []byte(docEnd))
	if begin < 0 || end < begin {
		t.Fatalf("%s lacks the generated section markers", docPath)
	}
	want := docBegin + "\n\n" + summary + "\n" + docEnd
	have := string(doc[begin : end+len(docEnd)])
	if have == want {
		return
	}
	if os.Getenv("UPDATE_CONFORMANCE_DOC") == "1" {
		out := string(doc[:begin]) + want + string(doc[end+len(docEnd):])
		if err := os.WriteFile(docPath, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date with the table: run UPDATE_CONFORMANCE_DOC=1 go test ./test/conformance", docPath)
}
