package check

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseAndRun: whatever bytes a manifest file holds, reading it and
// judging what was read never panics, and a refusal to read is an
// InputError (exit 2), never another kind of error.
func FuzzParseAndRun(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "{}", "[]", "null", "---\n---\n", "--- x", "kind: List\nitems: [1, {kind: List}]",
		`{"apiVersion":"kubeovn.io/v1","kind":"Subnet","metadata":{"name":"a"},"spec":{"cidrBlock":"10.0.0.0/8"}}`,
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: {ovn.kubernetes.io/ip_address: 10.16.0.5}}\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 3, template: {metadata: {annotations: {ovn.kubernetes.io/ip_address: 1.2.3.4}}}}\n",
		"apiVersion: kubeovn.io/v1\nkind: IP\nmetadata: {name: x.y}\nspec: {subnet: s, ipAddress: '::ffff:10.0.0.1'}\n",
	} {
		f.Add([]byte(s))
	}
	cluster, err := Parse("testdata/cluster.yaml", mustRead(f, "testdata/cluster.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Parse("fuzz.yaml", data)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Parse error %T is not an InputError: %v", err, err)
			}
			return
		}
		for _, c := range [][]Object{nil, cluster} {
			if _, err := Run(Options{}, c, objs); err != nil {
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("Run error %T is not an InputError: %v", err, err)
				}
			}
		}
	})
}

func mustRead(f *testing.F, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
