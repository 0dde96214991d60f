package devenv

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// OpenReportsModule is the Go module whose config/crd holds the
// openreports.io Report and ClusterReport CRDs, at the version go.mod pins.
const OpenReportsModule = "github.com/openreports/reports-api"

// OpenReportsCRDDir returns the directory of the openreports.io CRDs in
// the module cache (go list -m; the module is a build dependency, so
// `go mod download` fetched it): for tests that install them in a test API
// server. Nothing of it is committed.
func OpenReportsCRDDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", OpenReportsModule).Output()
	if err != nil {
		return "", fmt.Errorf("locate %s (go mod download %s): %w", OpenReportsModule, OpenReportsModule, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("go list -m %s: no directory (is it downloaded?)", OpenReportsModule)
	}
	return filepath.Join(dir, "config", "crd"), nil
}
