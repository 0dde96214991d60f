package devenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadWebhookConfigurations reads files and directories of webhook
// configurations, names them as the install does, and refuses anything
// else with the file and the object named.
func TestReadWebhookConfigurations(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const both = `---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: mutating-webhook-configuration
webhooks:
- name: m.example.io
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig: {service: {name: s, namespace: system, path: /m}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: validating-webhook-configuration
webhooks:
- name: v.example.io
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig: {service: {name: s, namespace: system, path: /v}}
`
	write("ok/manifests.yaml", both)
	write("ok/README.md", "not a manifest")
	m, v, err := readWebhookConfigurations([]string{filepath.Join(dir, "ok")})
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || len(v) != 1 || m[0].Name != MutatingWebhookConfiguration || v[0].Name != ValidatingWebhookConfiguration {
		t.Fatalf("read %d mutating and %d validating, want one each under the install's names", len(m), len(v))
	}
	if v[0].Webhooks[0].Name != "v.example.io" || *v[0].Webhooks[0].ClientConfig.Service.Path != "/v" {
		t.Errorf("validating webhook read as %+v", v[0].Webhooks[0])
	}
	if m, v, err := readWebhookConfigurations(nil); err != nil || m != nil || v != nil {
		t.Errorf("no paths: %v %v %v, want nothing", m, v, err)
	}

	for name, c := range map[string]struct{ content, want string }{
		"other.yaml":   {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n", "other.yaml holds none"},
		"version.yaml": {strings.Replace(both, "admissionregistration.k8s.io/v1", "admissionregistration.k8s.io/v1beta1", 1), `version.yaml: document 0, MutatingWebhookConfiguration: apiVersion "admissionregistration.k8s.io/v1beta1"`},
		"syntax.yaml":  {"apiVersion: [\n", "syntax.yaml: document 0"},
		"shape.yaml":   {strings.Replace(both, "webhooks:\n- name: m.example.io", "webhooks:\n  name: m.example.io", 1), "shape.yaml: document 0, MutatingWebhookConfiguration"},
		"noname.yaml":  {strings.Replace(both, "name: mutating-webhook-configuration", "labels: {}", 1), "noname.yaml: document 0, MutatingWebhookConfiguration: metadata.name missing"},
	} {
		_, _, err := readWebhookConfigurations([]string{write(name, c.content)})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
	if _, _, err := readWebhookConfigurations([]string{filepath.Join(dir, "missing")}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing path: error %v, want one naming it", err)
	}
}
