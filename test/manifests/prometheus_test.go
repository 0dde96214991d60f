package manifests

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/metrics"
)

// prometheusTree is the optional monitoring kustomization.
const prometheusTree = "config/prometheus"

// promRule is one rule of a PrometheusRule, the fields the checks read.
type promRule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type prometheusRule struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Groups []struct {
			Name  string     `json:"name"`
			Rules []promRule `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

type serviceMonitor struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port       string `json:"port,omitempty"`
			TargetPort any    `json:"targetPort,omitempty"`
			Path       string `json:"path,omitempty"`
			Scheme     string `json:"scheme,omitempty"`
			Interval   string `json:"interval,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type kustomization struct {
	Namespace          string   `json:"namespace"`
	NamePrefix         string   `json:"namePrefix"`
	Resources          []string `json:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `json:"name"`
		Files []string `json:"files"`
	} `json:"configMapGenerator"`
}

// promMetrics maps every series name pkg/metrics exposes (histograms as
// _bucket, _sum and _count) to its label names, read from a live registry.
func promMetrics(t *testing.T) map[string][]string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	// Vectors expose nothing until a child exists: touch every one.
	m.ObserveAdmission("Subnet", "CREATE", metrics.ResultAllowed, time.Millisecond)
	m.ObserveDecision("subnet-overlap", "enforce", "enforce")
	m.ObserveReload(true, time.Now())
	m.SetThresholds(10, 5)
	m.ObserveDefaulting("Pod", "CREATE", metrics.DefaultPatched, time.Millisecond)
	m.SetSubnetSource(slices.Values([]metrics.SubnetUsage{{Subnet: "a", VPC: "v", Family: "IPv4", Total: 1}}))
	m.ObserveAudit([]metrics.FindingCount{{Check: "zombie-ip", Severity: "warning", N: 1}}, time.Second, time.Now(), false, nil)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, mf := range mfs {
		var names []string
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			names = append(names, lp.GetName())
		}
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			out[mf.GetName()+"_bucket"] = append(slices.Clone(names), "le")
			out[mf.GetName()+"_sum"] = names
			out[mf.GetName()+"_count"] = names
			continue
		}
		out[mf.GetName()] = names
	}
	return out
}

// selectorRef is a metric name in an expression with the label names its
// matchers use.
type selectorRef struct {
	metric string
	labels []string
}

// promqlKeywords are identifiers that are never metric names.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"inf": true, "nan": true, "start": true, "end": true,
	// Aggregation operators: "sum by (x) (...)" puts a grouping between the
	// operator and its parenthesis.
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// promqlRefs lists the metric selectors and grouping labels of a PromQL
// expression (Grafana variables allowed). It is a lexer, not a parser: enough
// to find every name the expression depends on, and to reject unbalanced
// brackets and quotes.
func promqlRefs(expr string) (refs []selectorRef, grouping []string, err error) {
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || 'a' <= c|0x20 && c|0x20 <= 'z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(expr) && strings.ContainsRune(" \t\r\n", rune(expr[i])) {
			i++
		}
		return i
	}
	// closing returns the index just after the bracket that closes the one
	// at i, skipping quoted strings.
	closing := func(i int, open, close byte) (int, error) {
		depth := 0
		for j := i; j < len(expr); j++ {
			switch c := expr[j]; c {
			case '"', '\'', '`':
				k := j + 1
				for k < len(expr) && expr[k] != c {
					if expr[k] == '\\' && c != '`' {
						k++
					}
					k++
				}
				if k >= len(expr) {
					return 0, fmt.Errorf("unterminated string at %d", j)
				}
				j = k
			case open:
				depth++
			case close:
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("unbalanced %c at %d", open, i)
	}
	labelList := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	parens := 0
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			k := i + 1
			for k < len(expr) && expr[k] != c {
				if expr[k] == '\\' {
					k++
				}
				k++
			}
			if k >= len(expr) {
				return nil, nil, fmt.Errorf("unterminated string at %d", i)
			}
			i = k + 1
		case c == '[':
			j, err := closing(i, '[', ']')
			if err != nil {
				return nil, nil, err
			}
			i = j
		case c == '{':
			// A selector without a metric name.
			j, err := closing(i, '{', '}')
			if err != nil {
				return nil, nil, err
			}
			i = j
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				j, err := closing(i, '{', '}')
				if err != nil {
					return nil, nil, err
				}
				i = j
			}
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
		case '0' <= c && c <= '9' || c == '.':
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			word := expr[i:j]
			next := skipSpace(j)
			switch {
			case word == "by" || word == "without" || word == "on" || word == "ignoring" || word == "group_left" || word == "group_right":
				if next < len(expr) && expr[next] == '(' {
					end, err := closing(next, '(', ')')
					if err != nil {
						return nil, nil, err
					}
					for l := range strings.SplitSeq(expr[next+1:end-1], ",") {
						if l = strings.TrimSpace(l); l != "" {
							grouping = append(grouping, l)
						}
					}
					j = end
				}
			case promqlKeywords[strings.ToLower(word)]:
			case next < len(expr) && expr[next] == '(':
				// A function call; its arguments are lexed as they come.
			default:
				ref := selectorRef{metric: word}
				if next < len(expr) && expr[next] == '{' {
					end, err := closing(next, '{', '}')
					if err != nil {
						return nil, nil, err
					}
					inner := expr[next+1 : end-1]
					for _, m := range labelList.FindAllStringSubmatch(stripStrings(inner), -1) {
						ref.labels = append(ref.labels, m[1])
					}
					j = end
				}
				refs = append(refs, ref)
			}
			i = j
		case c == '(':
			parens++
			i++
		case c == ')':
			parens--
			if parens < 0 {
				return nil, nil, fmt.Errorf("unbalanced ) at %d", i)
			}
			i++
		case c == ']' || c == '}':
			return nil, nil, fmt.Errorf("unbalanced %c at %d", c, i)
		default:
			i++
		}
	}
	if parens != 0 {
		return nil, nil, fmt.Errorf("%d unclosed (", parens)
	}
	return refs, grouping, nil
}

// stripStrings blanks out quoted strings so label values cannot look like
// matchers.
func stripStrings(s string) string {
	return regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`+"`[^`]*`").ReplaceAllString(s, `""`)
}

// checkPromQL fails unless expr references only metrics pkg/metrics exposes,
// with labels those metrics have.
func checkPromQL(t *testing.T, where, expr string, known map[string][]string) {
	t.Helper()
	refs, grouping, err := promqlRefs(expr)
	if err != nil {
		t.Errorf("%s: %v in %q", where, err, expr)
		return
	}
	if len(refs) == 0 {
		t.Errorf("%s: %q references no metric", where, expr)
	}
	have := map[string]bool{}
	for _, r := range refs {
		lbls, ok := known[r.metric]
		if !ok {
			t.Errorf("%s: %q references %s, which pkg/metrics does not expose (it exposes %v)", where, expr, r.metric, slices.Sorted(maps.Keys(known)))
			continue
		}
		for _, l := range lbls {
			have[l] = true
		}
		for _, l := range r.labels {
			if !slices.Contains(lbls, l) {
				t.Errorf("%s: %q matches label %s, which %s does not have (it has %v)", where, expr, l, r.metric, lbls)
			}
		}
	}
	for _, l := range grouping {
		if !have[l] {
			t.Errorf("%s: %q groups by %s, which none of its metrics has", where, expr, l)
		}
	}
}

func TestPromQLLexer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr     string
		refs     []string
		grouping []string
		bad      bool
	}{
		{expr: `rate(a_total{x="}", y=~"$v"}[5m]) > 0`, refs: []string{"a_total"}},
		{expr: `histogram_quantile(0.99, sum by (kind, le) (rate(h_bucket[$__rate_interval])))`, refs: []string{"h_bucket"}, grouping: []string{"kind", "le"}},
		{expr: `sum(x) without (a) / on (b) group_left y offset 5m and bool z`, refs: []string{"x", "y", "z"}, grouping: []string{"a", "b"}},
		{expr: `time() - max(ts)`, refs: []string{"ts"}},
		{expr: `1e3 * inf`, refs: nil},
		{expr: `sum(x`, bad: true},
		{expr: `x{a="b"`, bad: true},
		{expr: `x{a="b}`, bad: true},
	} {
		refs, grouping, err := promqlRefs(tc.expr)
		if tc.bad != (err != nil) {
			t.Errorf("%q: error %v, want error %v", tc.expr, err, tc.bad)
			continue
		}
		var names []string
		for _, r := range refs {
			names = append(names, r.metric)
		}
		if !slices.Equal(names, tc.refs) || !slices.Equal(grouping, tc.grouping) {
			t.Errorf("%q: metrics %v grouping %v, want %v %v", tc.expr, names, grouping, tc.refs, tc.grouping)
		}
	}
}

func readYAML[T any](t *testing.T, rel string) *T {
	t.Helper()
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return &v
}

// TestPrometheusRules checks config/prometheus/rules.yaml against the metrics
// pkg/metrics registers and the default exhaustion thresholds.
func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	known := promMetrics(t)
	pr := readYAML[prometheusRule](t, filepath.Join(prometheusTree, "rules.yaml"))
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Errorf("rules.yaml is %s %s, want monitoring.coreos.com/v1 PrometheusRule", pr.APIVersion, pr.Kind)
	}
	// Prometheus expands annotations as Go templates with these in scope.
	tmplFuncs := template.FuncMap{}
	for _, f := range []string{"humanize", "humanize1024", "humanizeDuration", "humanizePercentage", "humanizeTimestamp", "printf", "reReplaceAll", "title", "toUpper", "toLower"} {
		tmplFuncs[f] = func(...any) string { return "" }
	}
	alerts := map[string]promRule{}
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			where := g.Name + "/" + r.Alert + r.Record
			checkPromQL(t, where, r.Expr, known)
			if r.Record != "" {
				continue
			}
			if _, dup := alerts[r.Alert]; dup {
				t.Errorf("alert %s is defined twice", r.Alert)
			}
			alerts[r.Alert] = r
			if _, err := model.ParseDuration(r.For); err != nil {
				t.Errorf("%s: for %q: %v", where, r.For, err)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", where, s)
			}
			for _, k := range []string{"summary", "description"} {
				text := r.Annotations[k]
				if text == "" {
					t.Errorf("%s: no %s annotation", where, k)
					continue
				}
				if _, err := template.New(k).Funcs(tmplFuncs).Parse("{{$labels := .Labels}}{{$value := .Value}}" + text); err != nil {
					t.Errorf("%s: %s is not a valid template: %v", where, k, err)
				}
				// Every label an annotation uses must survive the expression's
				// aggregation (when it has a "by" list; "without" is not checked).
				_, grouping, _ := promqlRefs(r.Expr)
				if !strings.Contains(r.Expr, " by ") {
					grouping = nil
				}
				for _, m := range regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`).FindAllStringSubmatch(text, -1) {
					if grouping != nil && !slices.Contains(grouping, m[1]) {
						t.Errorf("%s: %s uses $labels.%s, which the expression aggregates away (by %v)", where, k, m[1], grouping)
					}
				}
			}
		}
	}

	// The low and critical alerts compare with the thresholds the webhook
	// publishes from its config; the built-in defaults only stand in while
	// that series is absent.
	th := config.Default().Thresholds
	for _, tc := range []struct {
		alert, op, rhs string
		severity       string
		forAtMost      time.Duration
	}{
		{"IPAMGuardSubnetLowAddresses", "<=", `scalar(max(` + metrics.ThresholdAddressesName + `{level="` + metrics.ThresholdWarning + `"}) or vector(` + strconv.FormatUint(th.Warning, 10) + `))`, "warning", 5 * time.Minute},
		{"IPAMGuardSubnetCriticalAddresses", "<=", `scalar(max(` + metrics.ThresholdAddressesName + `{level="` + metrics.ThresholdCritical + `"}) or vector(` + strconv.FormatUint(th.Critical, 10) + `))`, "critical", 5 * time.Minute},
		{"IPAMGuardSubnetExhausted", "==", "0", "critical", 5 * time.Minute},
	} {
		r, ok := alerts[tc.alert]
		if !ok {
			t.Errorf("no alert %s", tc.alert)
			continue
		}
		m := regexp.MustCompile(`^(.*` + regexp.QuoteMeta(metrics.SubnetAddressesName) + `\{state="available"\}\))\s*(<=|==|<|>=|>|!=)\s*(.+?)\s*$`).FindStringSubmatch(strings.TrimSpace(r.Expr))
		if m == nil {
			t.Errorf("%s: expr %q is not <available addresses> <op> <threshold>", tc.alert, r.Expr)
			continue
		}
		if m[2] != tc.op || m[3] != tc.rhs {
			t.Errorf("%s: compares %s %s, want %s %s", tc.alert, m[2], m[3], tc.op, tc.rhs)
		}
		if r.Labels["severity"] != tc.severity {
			t.Errorf("%s: severity %q, want %q", tc.alert, r.Labels["severity"], tc.severity)
		}
		if d, _ := model.ParseDuration(r.For); time.Duration(d) > tc.forAtMost {
			t.Errorf("%s: for %s, want at most %s", tc.alert, r.For, tc.forAtMost)
		}
		for _, want := range []string{"$labels.subnet", "$labels.vpc", "expand the subnet CIDR"} {
			if !strings.Contains(r.Annotations["summary"]+r.Annotations["description"], want) {
				t.Errorf("%s: annotations do not mention %q", tc.alert, want)
			}
		}
	}
	// The reservations: a failed Lease read or write refuses a pod, and a
	// slow one runs into the handler's budget.
	if r, ok := alerts["IPAMGuardReservationErrors"]; !ok || !strings.Contains(r.Expr, metrics.ReservationsName+`{event="api_error"}`) {
		t.Errorf("IPAMGuardReservationErrors missing or not on api_error: %q", r.Expr)
	}
	if r, ok := alerts["IPAMGuardReservationSlow"]; !ok || !strings.Contains(r.Expr, metrics.ReservationDurationName+`_bucket{result="granted"}`) || !strings.HasSuffix(strings.TrimSpace(r.Expr), "> 0.25") {
		t.Errorf("IPAMGuardReservationSlow missing or not p99 of granted above 0.25: %q", r.Expr)
	}
	if !slices.Contains(metrics.ReservationDurationBuckets, 0.25) {
		t.Errorf("0.25 is not a bound of %v", metrics.ReservationDurationBuckets)
	}
	for _, name := range []string{"IPAMGuardWebhookErrors", "IPAMGuardHighLatency"} {
		if _, ok := alerts[name]; !ok {
			t.Errorf("no alert %s", name)
		}
	}
	if r, ok := alerts["IPAMGuardHighLatency"]; ok && !strings.Contains(r.Expr, "> 0.05") {
		t.Errorf("IPAMGuardHighLatency: %q does not compare with 0.05 (50ms)", r.Expr)
	}
	// 0.05 must be a bucket bound, or the quantile is interpolated.
	if !slices.Contains(metrics.DurationBuckets, 0.05) {
		t.Errorf("0.05 is not a bound of %v", metrics.DurationBuckets)
	}
}

// TestGrafanaDashboard checks that every query of the dashboard references
// only metrics pkg/metrics registers, through the ${datasource} variable.
func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	known := promMetrics(t)
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, prometheusTree, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	type datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	type panel struct {
		ID         int         `json:"id"`
		Type       string      `json:"type"`
		Title      string      `json:"title"`
		Datasource *datasource `json:"datasource"`
		Targets    []struct {
			Expr       string      `json:"expr"`
			RefID      string      `json:"refId"`
			Datasource *datasource `json:"datasource"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Templating struct {
			List []struct {
				Name       string          `json:"name"`
				Type       string          `json:"type"`
				Query      json.RawMessage `json:"query"`
				Datasource *datasource     `json:"datasource"`
			} `json:"list"`
		} `json:"templating"`
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	const dsVar = "${datasource}"
	checkDS := func(where string, ds *datasource) {
		if ds == nil || ds.UID != dsVar || ds.Type != "prometheus" {
			t.Errorf("%s: datasource %+v, want {prometheus %s}", where, ds, dsVar)
		}
	}
	var haveDSVar bool
	labelValues := regexp.MustCompile(`^label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)
	for _, v := range dash.Templating.List {
		switch v.Type {
		case "datasource":
			var q string
			_ = json.Unmarshal(v.Query, &q)
			if v.Name == "datasource" && q == "prometheus" {
				haveDSVar = true
			}
		case "query":
			checkDS("variable "+v.Name, v.Datasource)
			var q struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &q); err != nil {
				_ = json.Unmarshal(v.Query, &q.Query)
			}
			m := labelValues.FindStringSubmatch(q.Query)
			if m == nil {
				t.Errorf("variable %s: query %q is not label_values(<selector>, <label>)", v.Name, q.Query)
				continue
			}
			checkPromQL(t, "variable "+v.Name, m[1], known)
			if refs, _, _ := promqlRefs(m[1]); len(refs) == 1 && !slices.Contains(known[refs[0].metric], m[2]) {
				t.Errorf("variable %s: %s has no label %s", v.Name, refs[0].metric, m[2])
			}
		}
	}
	if !haveDSVar {
		t.Errorf("no templating variable \"datasource\" of type datasource for prometheus")
	}

	var exprs int
	var visit func(raw []json.RawMessage)
	visit = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatal(err)
			}
			visit(p.Panels)
			if p.Type == "row" {
				continue
			}
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			checkDS(where, p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("%s has no targets", where)
			}
			for _, tg := range p.Targets {
				if tg.Datasource != nil {
					checkDS(where+" target "+tg.RefID, tg.Datasource)
				}
				checkPromQL(t, where+" target "+tg.RefID, tg.Expr, known)
				exprs++
			}
		}
	}
	visit(dash.Panels)

	// Every panel the dashboard promises is there, by the metric it shows.
	all := string(data)
	for _, want := range []string{
		metrics.SubnetAddressesName, metrics.SubnetThresholdStateName, metrics.DecisionsName,
		metrics.AdmissionDurationName + "_bucket", metrics.AdmissionRequestsName,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel queries %s", want)
		}
	}
	if exprs == 0 {
		t.Error("the dashboard has no queries")
	}
}

// TestPrometheusKustomization checks the static wiring of config/prometheus:
// same namespace and prefix as the deploy tree, and a ServiceMonitor that
// selects the metrics Service by its labels and named port.
func TestPrometheusKustomization(t *testing.T) {
	t.Parallel()
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	k := readYAML[kustomization](t, filepath.Join(prometheusTree, "kustomization.yaml"))
	def := readYAML[kustomization](t, filepath.Join(deployTree, "kustomization.yaml"))
	if k.Namespace != def.Namespace || k.NamePrefix != def.NamePrefix {
		t.Errorf("%s: namespace %q prefix %q, want %s's %q %q", prometheusTree, k.Namespace, k.NamePrefix, deployTree, def.Namespace, def.NamePrefix)
	}
	files := slices.Clone(k.Resources)
	for _, g := range k.ConfigMapGenerator {
		for _, f := range g.Files {
			_, f, _ = strings.Cut(f, "=")
			files = append(files, f)
		}
	}
	for _, f := range []string{"monitor.yaml", "rules.yaml", "grafana-dashboard.json"} {
		if !slices.ContainsFunc(files, func(s string) bool { return strings.HasSuffix(s, f) }) {
			t.Errorf("%s/kustomization.yaml does not include %s", prometheusTree, f)
		}
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(root, prometheusTree, f)); err != nil {
			t.Error(err)
		}
	}

	sm := readYAML[serviceMonitor](t, filepath.Join(prometheusTree, "monitor.yaml"))
	metricsSvc := readYAML[corev1.Service](t, "config/manager/metrics_service.yaml")
	webhookSvc := readYAML[corev1.Service](t, "config/webhook/service.yaml")
	checkServiceMonitor(t, sm, metricsSvc, []*corev1.Service{webhookSvc})
}

// checkServiceMonitor fails unless sm scrapes exactly the metrics port of svc
// and no port of the others.
func checkServiceMonitor(t *testing.T, sm *serviceMonitor, svc *corev1.Service, others []*corev1.Service) {
	t.Helper()
	if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Kind != "ServiceMonitor" {
		t.Errorf("monitor is %s %s, want monitoring.coreos.com/v1 ServiceMonitor", sm.APIVersion, sm.Kind)
	}
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil || sel.Empty() {
		t.Fatalf("ServiceMonitor selector %v: %v (empty selects every Service)", sm.Spec.Selector, err)
	}
	if !sel.Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %s does not match Service %s labels %v", sel, svc.Name, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor has %d endpoints, want 1", len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Port == "" || !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
		t.Errorf("ServiceMonitor endpoint port %q is not a port name of Service %s", ep.Port, svc.Name)
	}
	if ep.Path != "/metrics" || ep.Scheme != "http" {
		t.Errorf("ServiceMonitor endpoint %s://…%s, want http /metrics", ep.Scheme, ep.Path)
	}
	for _, o := range others {
		if sel.Matches(labels.Set(o.Labels)) && slices.ContainsFunc(o.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
			t.Errorf("ServiceMonitor also scrapes Service %s port %s", o.Name, ep.Port)
		}
	}
}

// TestPrometheusRendered renders config/prometheus and config/default with
// the pinned kubectl and checks that they meet: the ServiceMonitor sits in
// the metrics Service's namespace and selects it, and the dashboard ConfigMap
// holds the dashboard.
func TestPrometheusRendered(t *testing.T) {
	t.Parallel()
	objs, err := devenv.DecodeManifests(render(t, prometheusTree))
	if err != nil {
		t.Fatalf("decode %s: %v", prometheusTree, err)
	}
	dep := index(t, mustDecode(t, render(t, deployTree)))
	var metricsSvc *corev1.Service
	var others []*corev1.Service
	for _, s := range dep.services {
		if s.Name == "ipamguard-metrics" {
			metricsSvc = s
		} else {
			others = append(others, s)
		}
	}
	if metricsSvc == nil {
		t.Fatalf("%s renders no Service ipamguard-metrics", deployTree)
	}
	var sms, rules, dashboards int
	for _, o := range objs {
		if o.GetNamespace() != dep.namespace.Name {
			t.Errorf("%s %s is in namespace %q, want %q", o.GetKind(), o.GetName(), o.GetNamespace(), dep.namespace.Name)
		}
		switch o.GetKind() {
		case "ServiceMonitor":
			sms++
			data, err := json.Marshal(o.Object)
			if err != nil {
				t.Fatal(err)
			}
			var sm serviceMonitor
			if err := json.Unmarshal(data, &sm); err != nil {
				t.Fatal(err)
			}
			checkServiceMonitor(t, &sm, metricsSvc, others)
		case "PrometheusRule":
			rules++
		case "ConfigMap":
			cm := typed[corev1.ConfigMap](t, o)
			if cm.Labels["grafana_dashboard"] != "1" {
				t.Errorf("ConfigMap %s lacks the label grafana_dashboard=1 Grafana's sidecar looks for", cm.Name)
			}
			for k, v := range cm.Data {
				if !json.Valid([]byte(v)) {
					t.Errorf("ConfigMap %s key %s is not JSON", cm.Name, k)
				}
				dashboards++
			}
		default:
			t.Errorf("unexpected %s %s", o.GetKind(), o.GetName())
		}
	}
	if sms != 1 || rules != 1 || dashboards != 1 {
		t.Errorf("rendered %d ServiceMonitors, %d PrometheusRules, %d dashboards; want one each", sms, rules, dashboards)
	}
}

func mustDecode(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := devenv.DecodeManifests(data)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}
