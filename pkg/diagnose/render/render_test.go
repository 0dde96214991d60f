package render

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"sigs.k8s.io/yaml"

	"github.com/ipamguard/ipamguard/pkg/diagnose"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func render(t testing.TB, r *diagnose.Report, format string, opts Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, r, format, opts); err != nil {
		t.Fatalf("Write(%s): %v", format, err)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	cases := []struct {
		file   string
		format string
		opts   Options
	}{
		{"text.golden", "text", Options{Width: 100}},
		{"text-color.golden", "text", Options{Width: 100, Color: true}},
		{"json.golden", "json", Options{}},
		{"yaml.golden", "yaml", Options{}},
		{"openreports.json.golden", "openreports", Options{}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			got := render(t, sample(), c.format, c.opts)
			path := filepath.Join("testdata", c.file)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/diagnose/render -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the output (run with -update to accept):\n%s", path, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff names the first differing line: enough to see what moved.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\nwant %q\ngot  %q", i+1, wl, gl)
		}
	}
	return "(no line differs)"
}

func TestUnknownFormat(t *testing.T) {
	err := Write(&bytes.Buffer{}, sample(), "table", Options{})
	if err == nil {
		t.Fatal("format table: no error")
	}
	for _, want := range []string{`"table"`, "text, json, yaml, openreports"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// Every format prints a nil and an empty report without failing.
func TestEmptyReport(t *testing.T) {
	for _, f := range Formats {
		for _, r := range []*diagnose.Report{nil, {}} {
			out := render(t, r, f, Options{})
			if out == "" {
				t.Errorf("%s: empty output", f)
			}
		}
	}
	if out := render(t, &diagnose.Report{}, "text", Options{}); !strings.Contains(out, "No problems found.") {
		t.Errorf("clean report does not say so:\n%s", out)
	}
}

// tableLines are the lines of the tables: from a title in capitals to the
// next blank line.
func tableLines(out string) []string {
	var lines []string
	in := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case l == "SUBNETS" || strings.HasPrefix(l, "ALLOCATION LATENCY"):
			in = true
		case l == "":
			in = false
		case in && !strings.HasPrefix(l, "STORED:"):
			lines = append(lines, l)
		}
	}
	return lines
}

func TestTextFitsWidth(t *testing.T) {
	r := sample()
	for _, width := range []int{60, 80, 100, 200} {
		out := render(t, r, "text", Options{Width: width})
		lines := tableLines(out)
		if len(lines) != 1+6+1+3 { // header + 6 family rows, header + 3 latency rows
			t.Fatalf("width %d: %d table lines, want 11:\n%s", width, len(lines), out)
		}
		for _, l := range lines {
			// Below 79 columns the columns that are never cut (CIDR,
			// numbers, state) no longer fit beside names cut to 8.
			if n := utf8.RuneCountInString(l); n > width && width >= 79 {
				t.Errorf("width %d: table line is %d wide: %q", width, n, l)
			}
			if strings.HasSuffix(l, " ") {
				t.Errorf("width %d: trailing blank: %q", width, l)
			}
		}
		// The long subnet name is cut only when it cannot fit.
		long := "storage-replication-network-for-the-analytics-team-zone-b"
		full := strings.Contains(out, long)
		if fits := width >= 200; full != fits {
			t.Errorf("width %d: long name printed in full = %v", width, full)
		}
		if !full && !regexp.MustCompile(`\nstorage[a-z-]*… `).MatchString(out) {
			t.Errorf("width %d: long name neither whole nor cut with …", width)
		}
		// Numbers, CIDRs and fix commands are never cut.
		for _, want := range []string{"fd00:10:100::/120", "65533", "-3/16", "12/241"} {
			if !strings.Contains(out, want) {
				t.Errorf("width %d: %q missing", width, want)
			}
		}
		for _, f := range r.Findings {
			for _, c := range f.Fix {
				if !strings.Contains(out, "\n      "+c+"\n") {
					t.Errorf("width %d: fix command not printed verbatim:\n%s", width, c)
				}
			}
		}
	}
}

// A pasted heredoc only works when its body and its EOF terminator are
// not indented.
func TestTextHeredocFlushLeft(t *testing.T) {
	out := render(t, sample(), "text", Options{})
	if strings.Contains(out, " EOF\n") || !strings.Contains(out, "\nEOF\n") {
		t.Errorf("heredoc terminator indented or missing:\n%s", out)
	}
	if !strings.Contains(out, "\n      kubectl delete --raw /apis/kubeovn.io/v1/vips/vip-lb -f - <<'EOF'\n{") {
		t.Errorf("delete command's first line not indented or body not flush left:\n%s", out)
	}
}

func TestTextSections(t *testing.T) {
	out := render(t, sample(), "text", Options{})
	order := []string{
		"INCOMPLETE: events: events is forbidden",
		"Cluster:  8a1f6c2e-0d4b-4c1e-9b7a-3f2d1e0c9b8a",
		"Findings: 3 critical, 4 warning, 2 info",
		"SUBNETS", "ALLOCATION LATENCY",
		"CRITICAL (3)", "[duplicate-address]", "[subnet-usage]",
		"WARNING (4)", "[zombie-ip]",
		"INFO (2)", "[kept-ip]",
	}
	at := 0
	for _, s := range order {
		i := strings.Index(out[at:], s)
		if i < 0 {
			t.Fatalf("%q missing or out of order after byte %d:\n%s", s, at, out)
		}
		at += i + len(s)
	}
	for _, want := range []string{
		"IP web-0.shop.tenant-a-net uid=0f5c7e62-1111-4a4b-8c1d-000000000001 rv=48121",
		"Pod shop/web-3 uid=0f5c7e62-1111-4a4b-8c1d-000000000005 rv=52010",
		"related: subnet-usage/Subnet/tenant-a-net",
		"hint:    free addresses in subnet tenant-a-net",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("%q missing", want)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Error("escape codes without Options.Color")
	}
	if col := render(t, sample(), "text", Options{Color: true}); !strings.Contains(col, styleRed+"[duplicate-address]") ||
		!strings.Contains(col, styleYellow+"[zombie-ip]") || !strings.Contains(col, styleDim+"[kept-ip]") {
		t.Errorf("colours missing with Options.Color:\n%s", col)
	}
}

// Text from the cluster cannot drive the terminal.
func TestTextControlCharacters(t *testing.T) {
	r := &diagnose.Report{Findings: []diagnose.Finding{{
		Check: "x", Severity: diagnose.Warning, Message: "evil\x1b]0;pwned\x07 \u009b2J\nnext",
		Objects: []diagnose.ObjectRef{{Kind: "Pod", Namespace: "ns", Name: "a\x1b[31m"}},
		Fix:     []string{"echo one\necho \x1b[2J"},
	}}}
	out := render(t, r, "text", Options{})
	if strings.ContainsAny(out, "\x1b\x07\u009b") {
		t.Errorf("control characters reach the terminal: %q", out)
	}
	if !strings.Contains(out, "\uFFFD]0;pwned\uFFFD \uFFFD2J next") || !strings.Contains(out, "      echo one\necho \uFFFD[2J\n") {
		t.Errorf("control characters not replaced as expected: %q", out)
	}
}

func infoReport(n int) *diagnose.Report {
	r := &diagnose.Report{Findings: []diagnose.Finding{{Check: diagnose.CheckZombie, Severity: diagnose.Warning, Message: "w",
		Objects: []diagnose.ObjectRef{{Kind: "IP", Name: "zombie"}}}}}
	for i := range n {
		check := diagnose.CheckKept
		if i%10 == 9 {
			check = diagnose.CheckSlowAllocation
		}
		r.Findings = append(r.Findings, diagnose.Finding{
			Check: check, Severity: diagnose.Info, Message: fmt.Sprintf("kept %d", i),
			Objects: []diagnose.ObjectRef{{Kind: "IP", Name: fmt.Sprintf("ip-%d", i)}},
		})
	}
	r.Summary = diagnose.Summary{Warning: 1, Info: n}
	return r
}

func TestTextInfoCap(t *testing.T) {
	r := infoReport(50)
	out := render(t, r, "text", Options{})
	if got := strings.Count(out, "[kept-ip]") + strings.Count(out, "[allocation-slow]"); got != 20 {
		t.Errorf("%d info findings printed, want 20", got)
	}
	if !strings.Contains(out, "… and 30 more info findings (27 kept-ip, 3 allocation-slow); -o json lists all") {
		t.Errorf("cap line missing:\n%s", out)
	}
	if !strings.Contains(out, "[zombie-ip] w") {
		t.Error("warnings are capped too")
	}
	if got := strings.Count(render(t, r, "text", Options{MaxInfo: 5}), "] kept "); got != 5 {
		t.Errorf("MaxInfo 5: %d printed", got)
	}
	all := render(t, r, "text", Options{MaxInfo: -1})
	if got := strings.Count(all, "] kept "); got != 50 || strings.Contains(all, "more info findings") {
		t.Errorf("MaxInfo -1: %d printed", got)
	}
	if got := strings.Count(render(t, r, "json", Options{}), `"kept `); got != 50 {
		t.Errorf("json: %d info findings, want all 50", got)
	}
}

// JSON and YAML are the report as is: they decode back to it.
func TestJSONYAMLRoundTrip(t *testing.T) {
	want := sample()
	var fromJSON, fromYAML diagnose.Report
	out := render(t, want, "json", Options{})
	if err := json.Unmarshal([]byte(out), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&fromJSON, want) {
		t.Errorf("json round trip differs:\n%+v\n%+v", fromJSON, *want)
	}
	if strings.Contains(out, `\u003c`) {
		t.Error("json escapes the heredoc's <<")
	}
	if err := yaml.Unmarshal([]byte(render(t, want, "yaml", Options{})), &fromYAML); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&fromYAML, want) {
		t.Errorf("yaml round trip differs:\n%+v\n%+v", fromYAML, *want)
	}
}

func TestLargeReportText(t *testing.T) {
	const n = 100_000
	r := &diagnose.Report{}
	for i := range n {
		o := diagnose.ObjectRef{APIVersion: "kubeovn.io/v1", Kind: "IP", Name: fmt.Sprintf("ip-%d.ns", i), UID: "u", ResourceVersion: "1"}
		r.Findings = append(r.Findings, diagnose.Finding{Check: diagnose.CheckZombie, Severity: diagnose.Warning,
			Message: "zombie", Objects: []diagnose.ObjectRef{o}, Fix: []string{diagnose.DeleteCommand(o)}})
	}
	out := render(t, r, "text", Options{})
	if got := strings.Count(out, "[zombie-ip] zombie"); got != n {
		t.Errorf("%d findings printed, want %d", got, n)
	}
}

func BenchmarkText100k(b *testing.B) {
	r := infoReport(100_000)
	for i := range r.Findings {
		r.Findings[i].Severity = diagnose.Warning
		r.Findings[i].Fix = []string{diagnose.DeleteCommand(r.Findings[i].Objects[0])}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Write(discard{}, r, "text", Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenReports100k(b *testing.B) {
	r := infoReport(100_000)
	b.ReportAllocs()
	for b.Loop() {
		if err := Write(discard{}, r, "openreports", Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
