package devenv

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestWebhookConfigurationNames: the names ipamguard-dev gives the webhook
// (--cert-validating-webhooks, --cert-mutating-webhooks) are those
// `make manifests` generates.
func TestWebhookConfigurationNames(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, doc := range splitYAML(data) {
		var o struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatal(err)
		}
		if o.Kind != "" {
			got[o.Kind] = o.Metadata.Name
		}
	}
	if got["ValidatingWebhookConfiguration"] != ValidatingWebhookConfiguration || got["MutatingWebhookConfiguration"] != MutatingWebhookConfiguration {
		t.Errorf("generated configurations %v, want %s and %s", got, ValidatingWebhookConfiguration, MutatingWebhookConfiguration)
	}
}

func splitYAML(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i := 0; i+4 <= len(b); i++ {
		if (i == 0 || b[i-1] == '\n') && string(b[i:i+3]) == "---" && (i+3 == len(b) || b[i+3] == '\n') {
			out = append(out, b[start:i])
			start = i + 4
		}
	}
	return append(out, b[start:])
}
