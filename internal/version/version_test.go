package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestGetReportsTheStampedValues(t *testing.T) {
	// Tests are linked without -X: the values are the defaults.
	info := Get()
	if info.Commit != Unset {
		t.Errorf("Commit = %q, want %q in an unstamped test binary", info.Commit, Unset)
	}
	if info.GoVersion != runtime.Version() {
		t.Errorf("GoVersion = %q, want %q", info.GoVersion, runtime.Version())
	}
	if info.Version == "" {
		t.Error("Version is empty")
	}
}

func TestString(t *testing.T) {
	got := Info{Version: "v1.2.3", Commit: "0123abc", GoVersion: "go1.26.8"}.String()
	want := "v1.2.3 (commit 0123abc, go1.26.8)"
	if got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if !strings.HasPrefix(got, "v1.2.3 ") {
		t.Errorf("String() = %q does not start with the version", got)
	}
}
