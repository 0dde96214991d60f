package render

import (
	"bufio"
	"cmp"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ipamguard/ipamguard/pkg/diagnose"
)

// ANSI styles; written only when Options.Color is set.
const (
	styleReset  = "\x1b[0m"
	styleBold   = "\x1b[1m"
	styleDim    = "\x1b[2m"
	styleRed    = "\x1b[31m"
	styleYellow = "\x1b[33m"
	styleAlert  = "\x1b[1;31m" // bold red: incomplete gaps
)

// severityStyle is the colour of a severity (and of a subnet state named
// like one).
func severityStyle(s string) string {
	switch s {
	case string(diagnose.Critical):
		return styleRed
	case string(diagnose.Warning):
		return styleYellow
	case string(diagnose.Info):
		return styleDim
	}
	return ""
}

// textWriter prints the text report through one buffer: the report can
// hold 100k findings, so cells and lines are written piece by piece with
// no fmt and no per-line allocation beyond the cleaned strings.
type textWriter struct {
	w     *bufio.Writer
	color bool
	width int
	num   []byte // scratch for strconv.Append*
}

func writeText(w io.Writer, r *diagnose.Report, opts Options) error {
	t := &textWriter{w: bufio.NewWriterSize(w, 64<<10), color: opts.Color, width: opts.width()}
	t.incomplete(r.Incomplete)
	t.header(r)
	t.subnets(r.Subnets)
	t.latency(r.Latency)
	t.findings(r.Findings, opts.maxInfo(), len(r.Incomplete) > 0)
	return t.w.Flush()
}

func (t *textWriter) str(s string) { t.w.WriteString(s) }

// styled writes s in style when colour is on.
func (t *textWriter) styled(style, s string) {
	if t.color && style != "" {
		t.str(style)
		t.str(s)
		t.str(styleReset)
		return
	}
	t.str(s)
}

func (t *textWriter) int(n int) {
	t.num = strconv.AppendInt(t.num[:0], int64(n), 10)
	t.w.Write(t.num)
}

func (t *textWriter) nl() { t.w.WriteByte('\n') }

// incomplete comes first: every finding below may be missing the part
// named here, and the exit status says so too.
func (t *textWriter) incomplete(gaps []diagnose.Gap) {
	if len(gaps) == 0 {
		return
	}
	for _, g := range gaps {
		t.styled(styleAlert, "INCOMPLETE: "+clean(g.Resource, false)+": "+clean(g.Reason, false))
		t.nl()
	}
	t.str("  the doctor could not read the above: findings that need it are missing (exit status 4)\n\n")
}

func (t *textWriter) header(r *diagnose.Report) {
	t.styled(styleBold, "IPAM doctor report")
	t.nl()
	t.str("Cluster:  ")
	if r.ClusterID != "" {
		t.str(clean(r.ClusterID, false))
	} else {
		t.str("unknown")
	}
	t.str("\nTime:     ")
	if r.Time.IsZero() {
		t.str("unknown")
	} else {
		t.str(r.Time.UTC().Format(time.RFC3339))
	}
	t.str("\nFindings: ")
	t.count(r.Summary.Critical, "critical", diagnose.Critical)
	t.str(", ")
	t.count(r.Summary.Warning, "warning", diagnose.Warning)
	t.str(", ")
	t.count(r.Summary.Info, "info", diagnose.Info)
	t.str("\n\n")
}

// count writes "N name", coloured by severity when N > 0.
func (t *textWriter) count(n int, name string, s diagnose.Severity) {
	if n == 0 || !t.color {
		t.int(n)
		t.str(" " + name)
		return
	}
	t.str(severityStyle(string(s)))
	t.int(n)
	t.str(" " + name + styleReset)
}

func (t *textWriter) subnets(rows []diagnose.SubnetRow) {
	if len(rows) == 0 {
		return
	}
	withStored := false
	for i := range rows {
		for _, f := range rows[i].Families {
			if f.StoredUsing != nil || f.StoredAvailable != nil {
				withStored = true
			}
		}
	}
	tb := &table{
		header: []string{"NAME", "VPC", "CIDR", "USED", "AVAILABLE", "TOTAL", "STATE"},
		// An address range cut short is useless: only names shrink.
		shrink: []bool{true, true, false, false, false, false, false},
		right:  []bool{false, false, false, true, true, true, false},
		styles: make([]string, 0, len(rows)),
	}
	if withStored {
		tb.header = append(tb.header, "STORED")
		tb.shrink = append(tb.shrink, false)
		tb.right = append(tb.right, false)
	}
	for i := range rows {
		row := &rows[i]
		fams := row.Families
		if len(fams) == 0 {
			fams = []diagnose.FamilyUsage{{CIDR: "-"}}
		}
		for j, f := range fams {
			cells := make([]string, 0, len(tb.header))
			name, vpc, state := "", "", ""
			if j == 0 {
				name, vpc, state = clean(row.Name, false), clean(row.Vpc, false), clean(row.State, false)
			}
			cells = append(cells, name, vpc, clean(f.CIDR, false),
				strconv.FormatUint(f.Used, 10), strconv.FormatUint(f.Available, 10), strconv.FormatUint(f.Total, 10), state)
			if withStored {
				cells = append(cells, storedCell(f))
			}
			tb.rows = append(tb.rows, cells)
			tb.styles = append(tb.styles, severityStyle(state))
		}
	}
	tb.styleCol = 6
	t.styled(styleBold, "SUBNETS")
	t.nl()
	t.table(tb)
	if withStored {
		t.str("STORED: status usingIPs/availableIPs where they disagree with the IP objects or are impossible\n")
	}
	t.nl()
}

// storedCell is "using/available" as stored; a counter that agrees (nil)
// shows the computed value.
func storedCell(f diagnose.FamilyUsage) string {
	if f.StoredUsing == nil && f.StoredAvailable == nil {
		return ""
	}
	u, a := strconv.FormatUint(f.Used, 10), strconv.FormatUint(f.Available, 10)
	if f.StoredUsing != nil {
		u = strconv.FormatFloat(*f.StoredUsing, 'f', -1, 64)
	}
	if f.StoredAvailable != nil {
		a = strconv.FormatFloat(*f.StoredAvailable, 'f', -1, 64)
	}
	return u + "/" + a
}

func (t *textWriter) latency(rows []diagnose.LatencyRow) {
	if len(rows) == 0 {
		return
	}
	tb := &table{
		header:   []string{"SUBNET", "PODS", "P50", "P95", "MAX", "MISSING"},
		shrink:   []bool{true, false, false, false, false, false},
		right:    []bool{false, true, true, true, true, true},
		styleCol: -1,
	}
	for _, l := range rows {
		tb.rows = append(tb.rows, []string{clean(l.Subnet, false), strconv.Itoa(l.Pods),
			duration(l.P50, l.Pods), duration(l.P95, l.Pods), duration(l.Max, l.Pods), strconv.Itoa(l.Missing)})
	}
	t.styled(styleBold, "ALLOCATION LATENCY")
	t.str(" (pod created → IP object created)\n")
	t.table(tb)
	t.nl()
}

// duration is short and steady: milliseconds under a second, tenths under
// a minute, seconds above; "-" when no pod was measured.
func duration(d time.Duration, pods int) string {
	switch {
	case pods == 0 && d == 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

var severityOrder = []diagnose.Severity{diagnose.Critical, diagnose.Warning, diagnose.Info}

func (t *textWriter) findings(fs []diagnose.Finding, maxInfo int, incomplete bool) {
	if len(fs) == 0 {
		if incomplete {
			t.str("No problems found in what could be read.\n")
		} else {
			t.str("No problems found.\n")
		}
		return
	}
	// Bucket by severity without relying on the report's order; an
	// unknown severity counts as info, as Report.finish counts it.
	var buckets [3][]int
	for i := range fs {
		b := 2
		switch fs[i].Severity {
		case diagnose.Critical:
			b = 0
		case diagnose.Warning:
			b = 1
		}
		buckets[b] = append(buckets[b], i)
	}
	for b, idx := range buckets {
		if len(idx) == 0 {
			continue
		}
		sev := severityOrder[b]
		style := severityStyle(string(sev))
		t.styled(styleBold+style, strings.ToUpper(string(sev)))
		t.str(" (")
		t.int(len(idx))
		t.str(")\n\n")
		shown := idx
		if sev == diagnose.Info && maxInfo >= 0 && len(idx) > maxInfo {
			shown = idx[:maxInfo]
		}
		for _, i := range shown {
			t.finding(&fs[i], style)
		}
		if len(shown) < len(idx) {
			t.omitted(fs, idx[len(shown):])
		}
	}
}

// omitted closes a capped section: how many were left out, by check.
func (t *textWriter) omitted(fs []diagnose.Finding, idx []int) {
	byCheck := map[string]int{}
	for _, i := range idx {
		byCheck[fs[i].Check]++
	}
	checks := make([]string, 0, len(byCheck))
	for c := range byCheck {
		checks = append(checks, c)
	}
	slices.SortFunc(checks, func(a, b string) int {
		return cmp.Or(cmp.Compare(byCheck[b], byCheck[a]), cmp.Compare(a, b))
	})
	t.str("  … and ")
	t.int(len(idx))
	t.str(" more info findings (")
	for k, c := range checks {
		if k > 0 {
			t.str(", ")
		}
		t.int(byCheck[c])
		t.str(" " + clean(c, false))
	}
	t.str("); -o json lists all\n\n")
}

// finding prints one finding. Fix commands go out verbatim: the first
// line indented, the rest of a multi-line command flush left, because a
// heredoc's body and its EOF terminator must reach the shell unchanged for
// the command to work when pasted.
func (t *textWriter) finding(f *diagnose.Finding, style string) {
	t.str("  ")
	t.styled(style, "["+clean(f.Check, false)+"] "+clean(f.Message, false))
	t.nl()
	for k, o := range f.Objects {
		if k == 0 {
			t.str("    objects: ")
		} else {
			t.str("             ")
		}
		t.object(o)
		t.nl()
	}
	if f.Subnet != "" {
		t.str("    subnet:  " + clean(f.Subnet, false) + "\n")
	}
	if f.Hint != "" {
		t.str("    hint:    " + clean(f.Hint, false) + "\n")
	}
	if len(f.Fix) > 0 {
		t.str("    fix:\n")
		for _, c := range f.Fix {
			t.str("      ")
			t.str(clean(c, true))
			t.nl()
		}
	}
	if len(f.Related) > 0 {
		t.str("    related: ")
		for k, id := range f.Related {
			if k > 0 {
				t.str(", ")
			}
			t.str(clean(id, false))
		}
		t.nl()
	}
	t.nl()
}

// object is "Kind ns/name uid=… rv=…".
func (t *textWriter) object(o diagnose.ObjectRef) {
	t.str(clean(o.Kind, false))
	t.str(" ")
	if o.Namespace != "" {
		t.str(clean(o.Namespace, false))
		t.str("/")
	}
	t.str(clean(o.Name, false))
	if o.UID != "" {
		t.str(" uid=" + clean(o.UID, false))
	}
	if o.ResourceVersion != "" {
		t.str(" rv=" + clean(o.ResourceVersion, false))
	}
}

// clean makes text from the cluster safe for a terminal: control
// characters (an event message can carry escape sequences) become U+FFFD.
// Newlines become spaces unless keepNewline (fix commands, which are
// multi-line on purpose). Clean strings are returned as is, without
// allocating.
func clean(s string, keepNewline bool) string {
	ok := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && !(keepNewline && c == '\n') || c == 0x7f || c == 0xc2 {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' && keepNewline:
			return r
		case r == '\n' || r == '\t':
			return ' '
		case r < 0x20 || r >= 0x7f && r < 0xa0:
			return utf8.RuneError
		}
		return r
	}, s)
}
