// Command imagecheck checks a webhook binary built as the image builds it
// (make image-check): a static Linux executable (no program interpreter, no
// shared libraries) built with CGO_ENABLED=0 and -trimpath, stamped with the
// expected version and commit, and printing them with --version.
//
// Usage: go run ./hack/imagecheck --binary FILE --name NAME --version V --commit C
package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ipamguard/ipamguard/internal/version"
)

// runTimeout bounds `binary --version`, which exits before any I/O.
const runTimeout = 30 * time.Second

func main() {
	var binary, name, wantVersion, wantCommit string
	flag.StringVar(&binary, "binary", "", "the built binary")
	flag.StringVar(&name, "name", "ipamguard-webhook", "the program name --version prints first")
	flag.StringVar(&wantVersion, "version", "", "the version the binary must report")
	flag.StringVar(&wantCommit, "commit", "", "the commit the binary must report")
	flag.Parse()
	if binary == "" || wantVersion == "" || wantCommit == "" {
		fmt.Fprintln(os.Stderr, "imagecheck: --binary, --version and --commit are required")
		os.Exit(2)
	}
	errs := checkStatic(binary)
	errs = append(errs, checkBuildSettings(binary)...)
	if len(errs) == 0 {
		errs = append(errs, checkVersion(binary, name, wantVersion, wantCommit)...)
	}
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(os.Stderr, "imagecheck:", err)
		}
		os.Exit(1)
	}
	fmt.Printf("imagecheck: %s is static, built with CGO_ENABLED=0 -trimpath, and reports %s (commit %s)\n", binary, wantVersion, wantCommit)
}

// checkStatic reports what makes the ELF file at path depend on anything
// outside itself: a program interpreter (the dynamic loader), a dynamic
// section, or needed shared libraries. Distroless static has no libc.
func checkStatic(path string) []error {
	f, err := elf.Open(path)
	if err != nil {
		return []error{fmt.Errorf("%s: not an ELF executable: %w", path, err)}
	}
	defer f.Close()
	var errs []error
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			errs = append(errs, fmt.Errorf("%s: has a program interpreter (PT_INTERP): dynamically linked; the distroless static image has no loader", path))
		case elf.PT_DYNAMIC:
			errs = append(errs, fmt.Errorf("%s: has a dynamic section (PT_DYNAMIC): dynamically linked", path))
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		errs = append(errs, fmt.Errorf("%s: read needed libraries: %w", path, err))
	}
	if len(libs) > 0 {
		errs = append(errs, fmt.Errorf("%s: needs shared libraries %s", path, strings.Join(libs, ", ")))
	}
	return errs
}

// checkBuildSettings reads the build settings the Go linker embeds and
// checks the ones the image depends on.
func checkBuildSettings(path string) []error {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("%s: read Go build information: %w", path, err)}
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	var errs []error
	for key, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux"} {
		if got := settings[key]; got != want {
			errs = append(errs, fmt.Errorf("%s: built with %s=%q, want %q", path, key, got, want))
		}
	}
	// With -trimpath the go command does not record -ldflags (they may
	// hold local paths, go.dev/issue/52372): checkVersion proves the -X.
	return errs
}

// checkVersion runs `path --version` and compares its one line of output
// with what internal/version prints for the expected values and the Go
// version the binary was built with.
func checkVersion(path, name, wantVersion, wantCommit string) []error {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("%s: read Go build information: %w", path, err)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return []error{fmt.Errorf("%s --version: %w\n%s", path, err, stderr.String())}
	}
	want := name + " " + version.Info{Version: wantVersion, Commit: wantCommit, GoVersion: bi.GoVersion}.String() + "\n"
	if got := stdout.String(); got != want {
		return []error{fmt.Errorf("%s --version printed %q, want %q", path, got, want)}
	}
	return nil
}
