package devenv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRepoRootFrom(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "// comment\nmodule "+ModulePath+"\n\ngo 1.26\n")
	// A nested tool module must not be mistaken for the repository root.
	write("hack/tools/envtest/go.mod", "module "+ModulePath+"/hack/tools/envtest\n")
	write("other/go.mod", "module \""+ModulePath+"\"\n")

	tests := []struct {
		name, from, want string
	}{
		{"root itself", ".", "."},
		{"nested package", "internal/devenv", "."},
		{"inside tool module", "hack/tools/envtest", "."},
		{"quoted module path", "other/sub", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			from := filepath.Join(root, tt.from)
			if err := os.MkdirAll(from, 0o755); err != nil {
				t.Fatal(err)
			}
			got, err := repoRootFrom(from)
			if err != nil {
				t.Fatalf("repoRootFrom(%s): %v", tt.from, err)
			}
			if want := filepath.Join(root, tt.want); got != want {
				t.Errorf("repoRootFrom(%s) = %s, want %s", tt.from, got, want)
			}
		})
	}
}

func TestRepoRootFromOutsideModule(t *testing.T) {
	t.Parallel()
	if got, err := repoRootFrom(t.TempDir()); err == nil {
		t.Errorf("repoRootFrom(empty dir) = %s, want error", got)
	}
}

func TestRepoRootFindsThisRepository(t *testing.T) {
	t.Parallel()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "devenv", "devenv.go")); err != nil {
		t.Errorf("RepoRoot() = %s, which does not hold this package: %v", root, err)
	}
}
