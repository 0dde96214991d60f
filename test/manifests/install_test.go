package manifests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
)

// CRDsEnv names the environment variable holding the directory make
// crd-assets fills with the other projects' CRDs (cert-manager/,
// prometheus-operator/). The Makefile exports it; when it is set the
// directories must exist.
const CRDsEnv = "IPAMGUARD_CRDS"

// upstreamCRDDirs are the subdirectories of $IPAMGUARD_CRDS the rendered
// trees need: Certificate and Issuer, ServiceMonitor and PrometheusRule.
var upstreamCRDDirs = []string{"cert-manager", "prometheus-operator"}

// applyTimeout bounds one kubectl apply against the local API server.
const applyTimeout = 2 * time.Minute

// dryRunFieldManager is the field manager of the dry-run applies.
const dryRunFieldManager = "ipamguard-install-test"

// upstreamCRDs returns the CRD directories to install: the other projects'
// from make crd-assets and the openreports.io ones from the module cache.
// Without make crd-assets it skips, unless IPAMGUARD_CRDS is set (make
// test) or IPAMGUARD_REQUIRE_ENVTEST=1.
func upstreamCRDs(t *testing.T) []string {
	t.Helper()
	base, fromEnv := os.LookupEnv(CRDsEnv)
	if !fromEnv {
		assets, err := devenv.DefaultAssetsDir()
		if err != nil {
			t.Fatal(err)
		}
		base = filepath.Join(assets, "crds")
	}
	var dirs []string
	for _, d := range upstreamCRDDirs {
		dir := filepath.Join(base, d)
		yamls, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if len(yamls) == 0 {
			if fromEnv {
				t.Fatalf("%s=%s but %s holds no CRDs: run make crd-assets", CRDsEnv, base, dir)
			}
			devenvtest.SkipUnlessRequired(t, "%s holds no CRDs (run make crd-assets)", dir)
		}
		dirs = append(dirs, dir)
	}
	or, err := devenv.OpenReportsCRDDir()
	if err != nil {
		t.Fatal(err)
	}
	return append(dirs, or)
}

// TestInstallDryRun is the proof that the manifests install: each tree a
// user applies is rendered by the pinned kubectl and applied, object by
// object, with a server-side dry run to a real API server that has the
// CRDs they use (Kube-OVN's, cert-manager's, the Prometheus Operator's,
// openreports.io's). The API server validates every object as it would
// for a real apply (schemas, strict field validation, built-in
// validation); the namespace is created for real first, since a dry run
// creates nothing for the objects in it. A broken manifest fails here.
func TestInstallDryRun(t *testing.T) {
	crdDirs := upstreamCRDs(t)
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	env := devenvtest.Start(t, devenv.Options{
		CRDPaths: append([]string{filepath.Join(root, "config", "crd", "bases")}, crdDirs...),
	})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}

	// In order: config/prometheus goes on top of config/default, into
	// its namespace.
	trees := []struct {
		name, dir string
		check     func(t *testing.T, objs []*unstructured.Unstructured)
	}{
		{"config/default", deployTree, nil},
		{"config/default with components/audit-reports", "test/manifests/testdata/audit-reports", nil},
		{"config/default without cert-manager (config/README.md)", "test/manifests/testdata/no-cert-manager", checkNoCertManager},
		{"config/selfcert (self-managed certificates)", "config/selfcert", checkSelfCert},
		{"config/prometheus", prometheusTree, nil},
	}
	var deflt []*unstructured.Unstructured
	for _, tree := range trees {
		t.Run(tree.name, func(t *testing.T) {
			out := render(t, tree.dir)
			objs, err := devenv.DecodeManifests(out)
			if err != nil {
				t.Fatalf("decode the output of kubectl kustomize %s: %v", tree.dir, err)
			}
			if tree.dir == deployTree {
				deflt = objs
			}
			if tree.check != nil {
				tree.check(t, objs)
			}
			createNamespaces(t, env.Client, objs)
			wantDryRunApplied(t, env.KubectlPath, kubeconfig, tree.dir, out, objs)
		})
	}
	if len(deflt) == 0 {
		return // the config/default subtest failed; it said why
	}

	// The dry run refuses what a real apply would refuse. Each case breaks
	// one rendered object of config/default and must be rejected, naming it.
	breaks := []struct {
		name  string
		kind  string
		edit  func(o *unstructured.Unstructured) error
		cause string
	}{
		{"a Certificate against cert-manager's schema", "Certificate", func(o *unstructured.Unstructured) error {
			return unstructured.SetNestedField(o.Object, "ipamguard-webhook-service.ipamguard-system.svc", "spec", "dnsNames")
		}, "dnsNames"},
		{"a misspelt Certificate field (strict field validation)", "Certificate", func(o *unstructured.Unstructured) error {
			return unstructured.SetNestedField(o.Object, "Issuer", "spec", "issuerRef", "kindd")
		}, "kindd"},
		{"an invalid failure policy", "ValidatingWebhookConfiguration", func(o *unstructured.Unstructured) error {
			hooks, _, err := unstructured.NestedSlice(o.Object, "webhooks")
			if err != nil || len(hooks) == 0 {
				return fmt.Errorf("no webhooks: %v", err)
			}
			hooks[0].(map[string]any)["failurePolicy"] = "Sometimes"
			return unstructured.SetNestedSlice(o.Object, hooks, "webhooks")
		}, "failurePolicy"},
		{"a Deployment whose selector misses its pods", "Deployment", func(o *unstructured.Unstructured) error {
			return unstructured.SetNestedStringMap(o.Object, map[string]string{"app.kubernetes.io/name": "something-else"}, "spec", "selector", "matchLabels")
		}, "selector"},
	}
	for _, b := range breaks {
		t.Run("refuses "+b.name, func(t *testing.T) {
			var target *unstructured.Unstructured
			for _, o := range deflt {
				if o.GetKind() == b.kind {
					target = o.DeepCopy()
					break
				}
			}
			if target == nil {
				t.Fatalf("config/default renders no %s", b.kind)
			}
			if err := b.edit(target); err != nil {
				t.Fatal(err)
			}
			doc, err := yaml.Marshal(target.Object)
			if err != nil {
				t.Fatal(err)
			}
			res := dryRunApply(t, env.KubectlPath, kubeconfig, doc)
			if res.err == nil {
				t.Fatalf("the dry run accepted the broken %s %s:\n%s", b.kind, target.GetName(), res.output)
			}
			t.Logf("refused as it must be:\n%s", res.output)
			if !strings.Contains(res.output, target.GetName()) || !strings.Contains(res.output, b.cause) {
				t.Errorf("refusal does not name %s and %q:\n%s", target.GetName(), b.cause, res.output)
			}
		})
	}
}

// checkNoCertManager: the overlay of config/README.md leaves no
// cert-manager object (the tree must apply where its CRDs do not exist)
// and gives every webhook a caBundle.
func checkNoCertManager(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	webhooks := 0
	for _, o := range objs {
		if strings.HasSuffix(o.GroupVersionKind().Group, "cert-manager.io") {
			t.Errorf("%s %s is rendered without cert-manager", o.GetKind(), o.GetName())
		}
		if k := o.GetKind(); k != "ValidatingWebhookConfiguration" && k != "MutatingWebhookConfiguration" {
			continue
		}
		hooks, _, err := unstructured.NestedSlice(o.Object, "webhooks")
		if err != nil {
			t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
		for _, h := range hooks {
			webhooks++
			hm, _ := h.(map[string]any)
			ca, _, _ := unstructured.NestedString(hm, "clientConfig", "caBundle")
			if ca == "" {
				t.Errorf("%s %s: webhook %v has no clientConfig.caBundle", o.GetKind(), o.GetName(), hm["name"])
			}
		}
	}
	if webhooks == 0 {
		t.Error("no webhooks rendered")
	}
}

// checkSelfCert: config/selfcert renders no cert-manager object or
// annotation, runs the webhook with --cert-mode=self-managed and no
// mounted Secret, and grants exactly what that mode writes: the Secret the
// flag defaults name and the two webhook configurations the tree renders,
// by name.
func checkSelfCert(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	configs := map[string]string{}
	var secretRule, configRules []map[string]any
	var deploy *unstructured.Unstructured
	for _, o := range objs {
		if strings.HasSuffix(o.GroupVersionKind().Group, "cert-manager.io") {
			t.Errorf("%s %s is rendered in self-managed mode", o.GetKind(), o.GetName())
		}
		if _, ok := o.GetAnnotations()["cert-manager.io/inject-ca-from"]; ok {
			t.Errorf("%s %s keeps cert-manager's cainjector annotation", o.GetKind(), o.GetName())
		}
		switch o.GetKind() {
		case "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration":
			configs[strings.ToLower(o.GetKind())+"s"] = o.GetName()
		case "Deployment":
			deploy = o
		case "Role", "ClusterRole":
			if o.GetName() != "ipamguard-self-managed-certs" {
				continue
			}
			rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
			for _, r := range rules {
				rm := r.(map[string]any)
				if o.GetKind() == "Role" {
					secretRule = append(secretRule, rm)
				} else {
					configRules = append(configRules, rm)
				}
			}
		}
	}
	if deploy == nil {
		t.Fatal("no Deployment rendered")
	}
	var args []string
	containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	if len(containers) > 0 {
		args, _, _ = unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	}
	if !slices.Contains(args, "--cert-mode=self-managed") || slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--cert-dir") }) {
		t.Errorf("webhook args %v: want --cert-mode=self-managed and no --cert-dir", args)
	}
	vols, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "volumes")
	for _, v := range vols {
		if v.(map[string]any)["secret"] != nil {
			t.Errorf("the pods still mount a Secret: %v", v)
		}
	}
	// The flag defaults of cmd/webhook name these.
	names := func(rs []map[string]any, resource string) []string {
		var out []string
		for _, r := range rs {
			res, _, _ := unstructured.NestedStringSlice(r, "resources")
			n, _, _ := unstructured.NestedStringSlice(r, "resourceNames")
			if slices.Contains(res, resource) {
				out = append(out, n...)
			}
		}
		return out
	}
	if got := names(secretRule, "secrets"); !slices.Equal(got, []string{"ipamguard-webhook-server-cert"}) {
		t.Errorf("Secret rules name %v, want [ipamguard-webhook-server-cert]", got)
	}
	for res, name := range map[string]string{
		// devenv installs them under these names too (make run's webhook
		// holds this RBAC).
		"validatingwebhookconfigurations": devenv.ValidatingWebhookConfiguration,
		"mutatingwebhookconfigurations":   devenv.MutatingWebhookConfiguration,
	} {
		if configs[res] != name {
			t.Errorf("the tree renders %s %q, the webhook's flag default is %q", res, configs[res], name)
		}
		if got := names(configRules, res); !slices.Equal(got, []string{name}) {
			t.Errorf("ClusterRole names %s %v, want [%s]", res, got, name)
		}
	}
}

// createNamespaces creates, for real, the Namespaces objs render (a dry
// run of the Namespace creates nothing, and the namespaced objects need
// it to exist).
func createNamespaces(t *testing.T, c client.Client, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "Namespace" || o.GetAPIVersion() != "v1" {
			continue
		}
		ns := o.DeepCopy()
		if err := c.Create(t.Context(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create Namespace %s: %v", o.GetName(), err)
		}
	}
}

// applyResult is what one kubectl apply printed and how it ended.
type applyResult struct {
	output string
	err    error
}

// reported says whether kubectl's output names o as dry-run applied
// ("kind.group/name serverside-applied (server dry run)").
func (r applyResult) reported(o *unstructured.Unstructured) bool {
	kind := strings.ToLower(o.GetKind())
	if g := o.GroupVersionKind().Group; g != "" {
		kind += "." + g
	}
	for l := range strings.Lines(r.output) {
		if strings.HasPrefix(l, kind+"/"+o.GetName()+" ") && strings.Contains(l, "(server dry run)") {
			return true
		}
	}
	return false
}

// dryRunApply applies manifests with server-side apply and a server-side
// dry run, the way `kubectl apply --server-side -k` would, with strict
// field validation (kubectl's default).
func dryRunApply(t *testing.T, kubectl, kubeconfig string, manifests []byte) applyResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), applyTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfig,
		"apply", "--server-side", "--dry-run=server", "--validate=strict",
		"--field-manager", dryRunFieldManager, "-f", "-")
	cmd.Stdin = bytes.NewReader(manifests)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return applyResult{output: out.String(), err: err}
}

// wantDryRunApplied applies out (what, for messages) with server-side dry
// run and fails unless the API server accepts it whole: no error, nothing
// it would only warn about (deprecated APIs, Pod Security violations of
// the pod template, unknown fields), and every object of objs reported.
func wantDryRunApplied(t *testing.T, kubectl, kubeconfig, what string, out []byte, objs []*unstructured.Unstructured) {
	t.Helper()
	res := dryRunApply(t, kubectl, kubeconfig, out)
	if res.err != nil {
		t.Fatalf("kubectl apply --server-side --dry-run=server of %s: %v\n%s", what, res.err, res.output)
	}
	for l := range strings.Lines(res.output) {
		if strings.HasPrefix(l, "Warning:") {
			t.Errorf("kubectl apply of %s: %s", what, strings.TrimSpace(l))
		}
	}
	for _, o := range objs {
		if !res.reported(o) {
			t.Errorf("%s %s: not reported by kubectl apply --dry-run=server:\n%s", o.GetKind(), o.GetName(), res.output)
		}
	}
}
