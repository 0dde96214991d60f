// Package krew checks the Krew plugin manifest of kubectl ipam
// (plugins/ipam.yaml) against the Makefile's build of the plugin.
package krew

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// manifest is the part of krew's Plugin (v1alpha2) checked here.
type manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string     `json:"version"`
		Homepage         string     `json:"homepage"`
		ShortDescription string     `json:"shortDescription"`
		Description      string     `json:"description"`
		Caveats          string     `json:"caveats"`
		Platforms        []platform `json:"platforms"`
	} `json:"spec"`
}

type platform struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	URI    string `json:"uri"`
	SHA256 string `json:"sha256"`
	Files  []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"files"`
	Bin string `json:"bin"`
}

const root = "../.."

// pluginBinary is what the Makefile builds: -o $(BIN)/<name> ./cmd/<name>.
func pluginBinary(t *testing.T) string {
	t.Helper()
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`-o \$\(BIN\)/(kubectl-[a-z0-9-]+) \./cmd/(kubectl-[a-z0-9-]+)`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile builds no kubectl plugin (-o $(BIN)/kubectl-<name> ./cmd/kubectl-<name>)")
	}
	if string(m[1]) != string(m[2]) {
		t.Fatalf("the Makefile builds ./cmd/%s as %s", m[2], m[1])
	}
	return string(m[1])
}

func TestManifest(t *testing.T) {
	bin := pluginBinary(t)
	name := strings.TrimPrefix(bin, "kubectl-")
	path := filepath.Join(root, "plugins", name+".yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("krew wants the manifest of plugin %q at plugins/%s.yaml: %v", name, name, err)
	}
	var m manifest
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" {
		t.Errorf("apiVersion %q kind %q", m.APIVersion, m.Kind)
	}
	if m.Metadata.Name != name {
		t.Errorf("metadata.name %q: the plugin is invoked as kubectl %s (binary %s)", m.Metadata.Name, name, bin)
	}
	version := m.Spec.Version
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(version) {
		t.Errorf("spec.version %q is not a v-prefixed semantic version", version)
	}
	if m.Spec.Homepage == "" || m.Spec.ShortDescription == "" || m.Spec.Description == "" {
		t.Error("homepage, shortDescription and description are required")
	}
	if len(m.Spec.ShortDescription) > 60 {
		t.Errorf("shortDescription has %d characters; krew-index asks for a few words", len(m.Spec.ShortDescription))
	}

	// Every platform the release builds, once each, with the binary as
	// the Makefile names it.
	want := map[string]bool{"linux/amd64": true, "linux/arm64": true, "darwin/amd64": true, "darwin/arm64": true, "windows/amd64": true}
	hex := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for _, p := range m.Spec.Platforms {
		goos, arch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		key := goos + "/" + arch
		if !want[key] {
			t.Errorf("platform %s: unexpected or listed twice", key)
			continue
		}
		delete(want, key)
		wantBin := bin
		if goos == "windows" {
			wantBin += ".exe"
		}
		if p.Bin != wantBin {
			t.Errorf("%s: bin %q, want %q", key, p.Bin, wantBin)
		}
		if len(p.Files) != 1 || p.Files[0].From != wantBin || p.Files[0].To != "." {
			t.Errorf("%s: files %+v, want the one binary %s copied to .", key, p.Files, wantBin)
		}
		wantURI := "https://github.com/ipamguard/ipamguard/releases/download/" + version + "/" + bin + "_" + version + "_" + goos + "_" + arch + ".tar.gz"
		if p.URI != wantURI {
			t.Errorf("%s: uri %q, want %q", key, p.URI, wantURI)
		}
		// A real digest, or the placeholder the release fills in (which
		// krew refuses, so an unfilled manifest cannot be published).
		if placeholder := "RELEASE-SHA256-" + goos + "-" + arch; p.SHA256 != placeholder && !hex.MatchString(p.SHA256) {
			t.Errorf("%s: sha256 %q is neither 64 hex digits nor the placeholder %s", key, p.SHA256, placeholder)
		}
	}
	for key := range want {
		t.Errorf("platform %s missing", key)
	}
}

// TestPlatformsBuild: every platform of the manifest is one Go builds the
// plugin for (go tool dist list).
func TestPlatformsBuild(t *testing.T) {
	out, err := exec.Command("go", "tool", "dist", "list").Output()
	if err != nil {
		t.Skipf("go tool dist list: %v", err)
	}
	known := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		known[l] = true
	}
	data, err := os.ReadFile(filepath.Join(root, "plugins", "ipam.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Spec.Platforms {
		if k := p.Selector.MatchLabels["os"] + "/" + p.Selector.MatchLabels["arch"]; !known[k] {
			t.Errorf("platform %s is not a Go port", k)
		}
	}
}
