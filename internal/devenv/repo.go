package devenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ModulePath is the Go module whose root RepoRoot looks for.
const ModulePath = "github.com/ipamguard/ipamguard"

// RepoRoot walks up from the working directory to the directory whose go.mod
// declares ModulePath. Tests run in their package directory and `make run`
// in the repository root; both find the same root.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	return repoRootFrom(wd)
}

// repoRootFrom is RepoRoot starting at dir.
func repoRootFrom(dir string) (string, error) {
	for d := dir; ; {
		mod, err := modulePath(filepath.Join(d, "go.mod"))
		switch {
		case err == nil && mod == ModulePath:
			return d, nil
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return "", fmt.Errorf("find repository root: %w", err)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("find repository root: no go.mod of module %s in %s or its parents", ModulePath, dir)
		}
		d = parent
	}
}

// modulePath returns the module path declared in the go.mod file at path.
func modulePath(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "module" {
			continue
		}
		if unq, err := strconv.Unquote(fields[1]); err == nil {
			return unq, nil
		}
		return fields[1], nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return "", nil
}
