package devenv

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// InstallNamePrefix is the prefix the shipped install (config/default's
// namePrefix) gives every object it renders. Start installs the webhook
// configurations under the names they have in a cluster, so that what the
// install grants on them by name (config/selfcert's RBAC) holds here too;
// test/manifests checks the prefix against the rendered tree.
const InstallNamePrefix = "ipamguard-"

// Names of the webhook configurations Start installs from
// config/webhook/manifests.yaml: the generated names with
// InstallNamePrefix, as the install renders them. A webhook with
// self-managed certificates is told to put its CA into these.
const (
	ValidatingWebhookConfiguration = InstallNamePrefix + "validating-webhook-configuration"
	MutatingWebhookConfiguration   = InstallNamePrefix + "mutating-webhook-configuration"
)

// webhookFileExts are the extensions of the files readWebhookConfigurations
// reads from a directory (envtest's).
var webhookFileExts = []string{".yaml", ".yml", ".json"}

// readWebhookConfigurations reads the webhook configurations in paths
// (files, or directories whose .yaml, .yml and .json files are read, not
// recursively) and gives each the install's name (InstallNamePrefix
// first). Documents of other kinds are skipped (config/webhook holds its
// kustomization and Service beside the configurations), as envtest does;
// a path with no configuration at all, a document that does not decode
// and a configuration of another API version are errors naming the file.
func readWebhookConfigurations(paths []string) ([]*admissionregistrationv1.MutatingWebhookConfiguration, []*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	var (
		mutating   []*admissionregistrationv1.MutatingWebhookConfiguration
		validating []*admissionregistrationv1.ValidatingWebhookConfiguration
	)
	for _, p := range paths {
		files, err := manifestFiles(p)
		if err != nil {
			return nil, nil, fmt.Errorf("webhook configurations: %w", err)
		}
		n := len(mutating) + len(validating)
		for _, f := range files {
			if err := readWebhookFile(f, &mutating, &validating); err != nil {
				return nil, nil, fmt.Errorf("webhook configurations: %s: %w", f, err)
			}
		}
		if len(mutating)+len(validating) == n {
			return nil, nil, fmt.Errorf("webhook configurations: %s holds none", p)
		}
	}
	return mutating, validating, nil
}

// manifestFiles is p if it is a file, else the files in directory p with
// one of webhookFileExts.
func manifestFiles(p string) ([]string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && slices.Contains(webhookFileExts, strings.ToLower(filepath.Ext(e.Name()))) {
			files = append(files, filepath.Join(p, e.Name()))
		}
	}
	return files, nil
}

// readWebhookFile appends the webhook configurations in the file f,
// renamed, to mutating and validating.
func readWebhookFile(f string, mutating *[]*admissionregistrationv1.MutatingWebhookConfiguration, validating *[]*admissionregistrationv1.ValidatingWebhookConfiguration) error {
	data, err := os.ReadFile(f)
	if err != nil {
		return err
	}
	return eachDocument(data, func(i int, doc []byte) error {
		var head metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
		var into interface {
			SetName(string)
			GetName() string
		}
		switch head.Kind {
		case "MutatingWebhookConfiguration":
			m := &admissionregistrationv1.MutatingWebhookConfiguration{}
			*mutating, into = append(*mutating, m), m
		case "ValidatingWebhookConfiguration":
			v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			*validating, into = append(*validating, v), v
		default:
			return nil
		}
		if head.APIVersion != admissionregistrationv1.SchemeGroupVersion.String() {
			return fmt.Errorf("document %d, %s: apiVersion %q, want %s", i, head.Kind, head.APIVersion, admissionregistrationv1.SchemeGroupVersion)
		}
		if err := yaml.Unmarshal(doc, into); err != nil {
			return fmt.Errorf("document %d, %s: %w", i, head.Kind, err)
		}
		if into.GetName() == "" {
			return fmt.Errorf("document %d, %s: metadata.name missing", i, head.Kind)
		}
		into.SetName(InstallNamePrefix + into.GetName())
		return nil
	})
}
