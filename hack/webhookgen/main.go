// Command webhookgen completes the webhook configurations that controller-gen
// generates from markers with what markers cannot express (matchConditions,
// namespaceSelector), taken from pkg/webhook.Registrations. It rewrites the
// file in place and fails when a registration names an unknown webhook.
package main

import (
	"bytes"
	"fmt"
	"os"
	"sort"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"

	"github.com/ipamguard/ipamguard/pkg/webhook"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: webhookgen config/webhook/manifests.yaml")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "webhookgen:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	regs := webhook.Registrations()
	used := map[string]bool{}
	var out bytes.Buffer
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		doc = bytes.TrimPrefix(bytes.TrimSpace(doc), []byte("---"))
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		var obj any
		switch meta.Kind {
		case "ValidatingWebhookConfiguration":
			var c admissionregv1.ValidatingWebhookConfiguration
			if err := yaml.UnmarshalStrict(doc, &c); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			for i := range c.Webhooks {
				w := &c.Webhooks[i]
				if r, ok := regs[w.Name]; ok {
					used[w.Name] = true
					w.MatchConditions, w.NamespaceSelector = r.MatchConditions, r.NamespaceSelector
				}
			}
			obj = &c
		case "MutatingWebhookConfiguration":
			var c admissionregv1.MutatingWebhookConfiguration
			if err := yaml.UnmarshalStrict(doc, &c); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			for i := range c.Webhooks {
				w := &c.Webhooks[i]
				if r, ok := regs[w.Name]; ok {
					used[w.Name] = true
					w.MatchConditions, w.NamespaceSelector = r.MatchConditions, r.NamespaceSelector
				}
			}
			obj = &c
		default:
			return fmt.Errorf("%s: unexpected kind %q", path, meta.Kind)
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		b = bytes.ReplaceAll(b, []byte("  creationTimestamp: null\n"), nil)
		out.WriteString("---\n")
		out.Write(b)
	}
	var unknown []string
	for name := range regs {
		if !used[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("registrations for webhooks not in %s: %v", path, unknown)
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}
