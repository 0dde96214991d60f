package devenv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckAssets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{EtcdBinary, APIServerBinary} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	err := CheckAssets(dir)
	if !errors.Is(err, ErrAssetsMissing) {
		t.Fatalf("CheckAssets without kubectl = %v, want ErrAssetsMissing", err)
	}
	for _, want := range []string{filepath.Join(dir, KubectlBinary), "make envtest-assets"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	if err := os.WriteFile(filepath.Join(dir, KubectlBinary), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckAssets(dir); !errors.Is(err, ErrAssetsMissing) || !strings.Contains(err.Error(), "not an executable") {
		t.Errorf("CheckAssets with non-executable kubectl = %v, want ErrAssetsMissing naming it", err)
	}

	if err := os.Chmod(filepath.Join(dir, KubectlBinary), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckAssets(dir); err != nil {
		t.Errorf("CheckAssets with all binaries = %v", err)
	}
}

func TestStartWithoutAssetsNamesTheBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Start(t.Context(), Options{AssetsDir: dir, CRDPaths: []string{dir}})
	if !errors.Is(err, ErrAssetsMissing) {
		t.Fatalf("Start = %v, want ErrAssetsMissing", err)
	}
	if !strings.Contains(err.Error(), EtcdBinary) || !strings.Contains(err.Error(), "run make envtest-assets") {
		t.Errorf("error %q should name the missing binary and say how to build it", err)
	}
}
