package devenv

import (
	"path/filepath"
	"testing"
)

// TestWebhookConfigurationNames: Start installs the configurations
// `make manifests` generates under the names ValidatingWebhookConfiguration
// and MutatingWebhookConfiguration (which ipamguard-dev gives the webhook
// in --cert-validating-webhooks and --cert-mutating-webhooks), one of
// each.
func TestWebhookConfigurationNames(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	m, v, err := readWebhookConfigurations([]string{filepath.Join(root, "config", "webhook")})
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || len(v) != 1 || m[0].Name != MutatingWebhookConfiguration || v[0].Name != ValidatingWebhookConfiguration {
		var names []string
		for _, c := range m {
			names = append(names, c.Name)
		}
		for _, c := range v {
			names = append(names, c.Name)
		}
		t.Errorf("config/webhook installs as %v, want %s and %s", names, MutatingWebhookConfiguration, ValidatingWebhookConfiguration)
	}
}
