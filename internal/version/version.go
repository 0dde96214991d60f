// Package version holds what a binary reports about its own build: the
// release version and the source commit, stamped by the linker
// (go build -ldflags "-X github.com/ipamguard/ipamguard/internal/version.Version=v1.2.3
// -X github.com/ipamguard/ipamguard/internal/version.Commit=0123abc"), as the
// Dockerfile and `make build` do.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Package is the import path the linker's -X flags name.
const Package = "github.com/ipamguard/ipamguard/internal/version"

// Unset is what Version and Commit hold when the linker stamped nothing.
const Unset = "unknown"

// Version is the release version, for example v0.3.0 or the output of
// `git describe --tags --always --dirty`. Set at link time; never assigned
// at run time.
var Version = Unset

// Commit is the full source commit hash. Set at link time; never assigned
// at run time.
var Commit = Unset

// Info is a binary's build, as reported by --version and the
// ipamguard_build_info metric.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
}

// Get returns the build's Info. When the linker stamped no version, the
// main module's version from the embedded build information is used
// (set by `go install module@version`), so such binaries still report one.
func Get() Info {
	info := Info{Version: Version, Commit: Commit, GoVersion: runtime.Version()}
	if info.Version != Unset {
		return info
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	return info
}

// String formats i on one line, as --version prints it:
// "v0.3.0 (commit 0123abc, go1.26.8)".
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, %s)", i.Version, i.Commit, i.GoVersion)
}
