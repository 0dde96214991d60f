package check_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ipamguard/ipamguard/pkg/check"
)

// Regression tests for the review of `kubectl ipam check` (F1-F10).

const subnetA = "apiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata: {name: a}\nspec: {cidrBlock: 10.1.0.0/24}\n"

// F1: a cluster-scoped object carrying metadata.namespace is the object of
// that name: an update of the cluster's, shown without a namespace.
func TestClusterScopedKindsIgnoreNamespace(t *testing.T) {
	t.Parallel()
	rep := run(t, "", []string{td("cluster.yaml")}, []string{td("kustomized.yaml")})
	cases := []struct {
		kind, rule string
	}{
		{"Subnet", "subnet-shrink"},
		{"IP", "ip-immutable"},
	}
	if len(rep.Objects) != len(cases) {
		t.Fatalf("objects = %+v", rep.Objects)
	}
	for i, tc := range cases {
		j := rep.Objects[i]
		var rules []string
		for _, f := range j.Findings {
			rules = append(rules, string(f.Rule))
		}
		if j.Kind != tc.kind || j.Operation != check.Update || j.Result != check.Denied || len(rules) == 0 || rules[0] != tc.rule {
			t.Errorf("%s %s: %s %s %v, want UPDATE denied by %s", j.Kind, j.Name, j.Operation, j.Result, rules, tc.rule)
		}
		if j.Namespace != "" {
			t.Errorf("%s %s: namespace %q, want none", j.Kind, j.Name, j.Namespace)
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(js.String(), `"namespace": "apps"`) {
		t.Errorf("JSON report shows a namespace for a cluster-scoped object:\n%s", js.String())
	}
}

// parseErr reads input as stdin and returns the *InputError it must fail
// with.
func parseErr(t *testing.T, input string) *check.InputError {
	t.Helper()
	objs, err := (&check.Reader{Stdin: strings.NewReader(input)}).ReadPaths([]string{"-"})
	if err == nil {
		_, err = check.Run(check.Options{}, nil, objs)
	}
	var ie *check.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v (objects %+v), want an *InputError", err, objs)
	}
	return ie
}

// F2, F6, F8, F9, F10: input errors name file, line, document and item.
func TestReviewInputErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, input          string
		document, item, line int
		// noFile: the error names no file (there is no object at all).
		noFile   bool
		contains []string
		lacks    []string
	}{
		{name: "F2 content on the --- line", input: subnetA + "--- {apiVersion: kubeovn.io/v1, kind: Subnet, metadata: {name: b}}\n",
			line: 5, item: -1, contains: []string{"<stdin>:5: ", "invalid YAML document separator", "{apiVersion"}},
		{name: "F2 text glued to ---", input: "---x\n" + subnetA, line: 1, item: -1, contains: []string{"invalid YAML document separator: x"}},
		{name: "F6 Kind in capitals", input: "apiVersion: kubeovn.io/v1\nKind: Subnet\nmetadata: {name: s}\n",
			document: 1, line: 1, item: -1, contains: []string{"apiVersion and kind must be set"}},
		{name: "F6 Name in capitals", input: "apiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata: {Name: s}\n",
			document: 1, line: 1, item: -1, contains: []string{"without metadata.name"}},
		{name: "F8 item of a List", input: "apiVersion: v1\nkind: List\nitems:\n- " + indent(subnetA, "  ") + "- {apiVersion: v1}\n",
			document: 1, line: 1, item: 1, contains: []string{"<stdin>:1: document 1, item 1: apiVersion and kind must be set"}},
		{name: "F8 item of a List, judged", input: "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {}}\n",
			document: 1, line: 1, item: 0, contains: []string{"document 1, item 0: Pod without metadata.name"}},
		{name: "F8 JSON line after blank lines", input: "\n\n\n\n\n{}", document: 1, line: 6, item: -1, contains: []string{"<stdin>:6: "}},
		{name: "F9 empty input", input: "", noFile: true, item: -1, contains: []string{"no objects"}},
		{name: "F9 null documents only", input: "# nothing\n---\nnull\n---\n~\n", noFile: true, item: -1, contains: []string{"no objects"}},
		{name: "F10 generateName", input: "apiVersion: v1\nkind: Pod\nmetadata: {generateName: web-}\n",
			document: 1, line: 1, item: -1, contains: []string{"generateName", "cannot be judged offline"}},
		{name: "F10 readable header type error", input: "apiVersion: v1\nkind: 5\nmetadata: {name: x}\n",
			document: 1, line: 1, item: -1, contains: []string{"kind", "string", "number"}, lacks: []string{"check.header", "Go "}},
		{name: "F10 readable metadata type error", input: "apiVersion: v1\nkind: Pod\nmetadata: {name: [x]}\n",
			document: 1, line: 1, item: -1, contains: []string{"metadata.name", "string", "array"}, lacks: []string{"struct", "Go "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ie := parseErr(t, tc.input)
			file := check.StdinName
			if tc.noFile {
				file = ""
			}
			if ie.File != file || ie.Document != tc.document || ie.Item != tc.item || (tc.line != 0 && ie.Line != tc.line) {
				t.Errorf("file %q document %d item %d line %d, want %q %d %d %d (%v)", ie.File, ie.Document, ie.Item, ie.Line,
					file, tc.document, tc.item, tc.line, ie)
			}
			for _, c := range tc.contains {
				if !strings.Contains(ie.Error(), c) {
					t.Errorf("error %q does not contain %q", ie, c)
				}
			}
			for _, c := range tc.lacks {
				if strings.Contains(ie.Error(), c) {
					t.Errorf("error %q contains %q", ie, c)
				}
			}
		})
	}
}

// F9: no manifest object at all is an input error; a skipped kind is an
// object, and an empty cluster is fine.
func TestNoManifestObjects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		manifests []check.Object
		wantErr   bool
	}{
		{name: "an empty file", manifests: mustRead(t, td("empty.yaml")), wantErr: true},
		{name: "only a skipped kind", manifests: mustParse(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")},
		{name: "no cluster objects", manifests: mustParse(t, subnetA)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := check.Run(check.Options{}, nil, tc.manifests)
			var ie *check.InputError
			if tc.wantErr != errors.As(err, &ie) || (!tc.wantErr && err != nil) {
				t.Errorf("err = %v, want an input error: %v", err, tc.wantErr)
			}
			if tc.wantErr && err != nil && !strings.Contains(err.Error(), "no objects passed to check") {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []check.Object {
	t.Helper()
	objs, err := (&check.Reader{}).ReadPaths([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func mustParse(t *testing.T, s string) []check.Object {
	t.Helper()
	objs, err := check.Parse("m.yaml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// F2 (what stays a separator), F4 (YAML after a '{'), F7 (typed List
// items), F5 (one level of nested Lists): inputs that are read.
func TestReviewInputsRead(t *testing.T) {
	t.Parallel()
	jsonA := `{"apiVersion": "kubeovn.io/v1", "kind": "Subnet", "metadata": {"name": "a"}, "spec": {"cidrBlock": "10.1.0.0/24"}}`
	jsonB := strings.ReplaceAll(jsonA, `"a"`, `"b"`)
	cases := []struct {
		name, input string
		// names are the objects' names, lines their lines.
		names []string
		lines []int
		kinds []string
	}{
		{name: "F2 comment on the --- line", input: subnetA + "--- # next\n" + strings.ReplaceAll(subnetA, "name: a", "name: b"),
			names: []string{"a", "b"}, lines: []int{1, 6}},
		{name: "F4 flow-style YAML", input: "{apiVersion: kubeovn.io/v1, kind: Subnet, metadata: {name: a}, spec: {cidrBlock: 10.1.0.0/24}}\n",
			names: []string{"a"}, lines: []int{1}},
		{name: "F4 JSON documents separated by ---", input: jsonA + "\n---\n" + jsonB + "\n", names: []string{"a", "b"}, lines: []int{1, 3}},
		{name: "F4 JSON stream", input: jsonA + "\n\n" + jsonB + "\n", names: []string{"a", "b"}, lines: []int{1, 3}},
		{name: "F7 typed List items default apiVersion and kind", input: "apiVersion: kubeovn.io/v1\nkind: SubnetList\nitems:\n- metadata: {name: a}\n  spec: {cidrBlock: 10.1.0.0/24}\n- kind: Subnet\n  metadata: {name: b}\n  spec: {cidrBlock: 10.2.0.0/24}\n",
			names: []string{"a", "b"}, lines: []int{1, 1}, kinds: []string{"Subnet", "Subnet"}},
		{name: "F5 a List in a List", input: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items:\n  - " + indent(subnetA, "    "),
			names: []string{"a"}, lines: []int{1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs, err := check.Parse("m.yaml", []byte(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			var lines []int
			for i, o := range objs {
				names = append(names, o.Name)
				lines = append(lines, o.Source.Line)
				if o.APIVersion != "kubeovn.io/v1" || (tc.kinds != nil && o.Kind != tc.kinds[i]) {
					t.Errorf("object %d: %s %s", i, o.APIVersion, o.Kind)
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.names, ",") || !equalInts(lines, tc.lines) {
				t.Errorf("names %v lines %v, want %v %v", names, lines, tc.names, tc.lines)
			}
			if _, err := check.Run(check.Options{}, nil, objs); err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
}

// indent indents the lines of s after the first.
func indent(s, prefix string) string {
	return strings.TrimSuffix(strings.ReplaceAll(s, "\n", "\n"+prefix), prefix)
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// F5: Lists nest one level at most; deep nesting is refused quickly.
func TestNestedListsAreCapped(t *testing.T) {
	// Not parallel: it counts the process's allocations.
	nest := func(depth int) string {
		s := `{"apiVersion":"kubeovn.io/v1","kind":"Subnet","metadata":{"name":"a"},"spec":{"cidrBlock":"10.1.0.0/24"}}`
		for range depth {
			s = `{"apiVersion":"v1","kind":"List","items":[` + s + `]}`
		}
		return s
	}
	// The refusal comes from the depth limit, not from exhausting a
	// resource: the deep input allocates no more than a linear amount
	// (counted, not timed: timed assertions fail on a loaded machine).
	for _, depth := range []int{3, 4900} {
		in := []byte(nest(depth))
		_, err := check.Parse("deep.json", in)
		var ie *check.InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "nested") {
			t.Errorf("depth %d: err = %v, want an input error about nesting", depth, err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _ = check.Parse("deep.json", in)
		runtime.ReadMemStats(&after)
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(64*len(in)+1<<20); got > limit {
			t.Errorf("depth %d: parsing %d bytes allocated %d bytes, want <= %d", depth, len(in), got, limit)
		}
	}
}

// F3: a symlink to a directory given with -f is read; a symlinked
// subdirectory is reported, not skipped (kubectl -R does not follow it).
func TestSymlinkedDirectories(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.MkdirAll(filepath.Join(real, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, "sub", "a.yaml"), []byte(subnetA), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Skip("no symlinks:", err)
	}
	objs, err := (&check.Reader{}).ReadPaths([]string{link})
	if err != nil {
		t.Fatalf("symlinked root: %v", err)
	}
	if len(objs) != 1 || objs[0].Source.File != filepath.Join(link, "sub", "a.yaml") {
		t.Errorf("symlinked root: objects %+v, want a from %s", objs, filepath.Join(link, "sub", "a.yaml"))
	}

	outer := filepath.Join(dir, "outer")
	if err := os.MkdirAll(outer, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outer, "b.yaml"), []byte(strings.ReplaceAll(subnetA, "name: a", "name: b")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(real, "sub"), filepath.Join(outer, "linked")); err != nil {
		t.Fatal(err)
	}
	_, err = (&check.Reader{}).ReadPaths([]string{outer})
	var ie *check.InputError
	if !errors.As(err, &ie) || ie.File != filepath.Join(outer, "linked") || !strings.Contains(err.Error(), "symbolic link to a directory") {
		t.Errorf("symlinked subdirectory: err = %v, want an input error naming it", err)
	}
}
