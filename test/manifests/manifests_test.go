// Package manifests checks the deployable kustomize tree (config/default) as
// rendered by the pinned kubectl: the pieces that must agree across files
// (Service, Certificate, secret, webhooks, RBAC, leader election, config) do
// agree, and the pods meet the restricted Pod Security Standard.
package manifests

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/internal/leader"
	"github.com/ipamguard/ipamguard/pkg/config"
	ipamwebhook "github.com/ipamguard/ipamguard/pkg/webhook"
)

const (
	// deployTree is the kustomization under test, relative to the repository root.
	deployTree = "config/default"
	// placeholderNamespace is what the hand-written and generated bases use;
	// none of it may survive rendering.
	placeholderNamespace = "system"
	// namespaceLabel is the label the API server sets on every Namespace.
	namespaceLabel = "kubernetes.io/metadata.name"
	// injectCAAnnotation tells cert-manager's cainjector which Certificate's
	// CA to copy into a webhook configuration.
	injectCAAnnotation = "cert-manager.io/inject-ca-from"
	renderTimeout      = 2 * time.Minute
)

// TestDefault renders config/default once and checks it from several angles.
func TestDefault(t *testing.T) {
	out := render(t, deployTree)
	objs, err := devenv.DecodeManifests(out)
	if err != nil {
		t.Fatalf("decode the output of kubectl kustomize %s: %v", deployTree, err)
	}
	r := index(t, objs)

	t.Run("namespace", func(t *testing.T) {
		t.Parallel()
		checkNamespace(t, r)
	})
	t.Run("no kube-ovn CRDs", func(t *testing.T) {
		t.Parallel()
		for _, o := range objs {
			if o.GetKind() != "CustomResourceDefinition" {
				continue
			}
			group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
			if group == "kubeovn.io" || strings.HasSuffix(o.GetName(), ".kubeovn.io") {
				t.Errorf("CustomResourceDefinition %s is rendered: the kubeovn.io CRDs belong to Kube-OVN, keep config/crd out of %s", o.GetName(), deployTree)
			}
		}
	})
	t.Run("no placeholders left", func(t *testing.T) {
		t.Parallel()
		checkNoPlaceholders(t, objs)
	})
	t.Run("webhooks", func(t *testing.T) {
		t.Parallel()
		checkWebhooks(t, r)
	})
	t.Run("failure policies", func(t *testing.T) {
		t.Parallel()
		checkFailurePolicies(t, r)
	})
	t.Run("selectors match the pods", func(t *testing.T) {
		t.Parallel()
		checkSelectors(t, r)
	})
	t.Run("certificate", func(t *testing.T) {
		t.Parallel()
		checkCertificate(t, r)
	})
	t.Run("pod security", func(t *testing.T) {
		t.Parallel()
		checkPodSecurity(t, r.deployment)
	})
	t.Run("probes", func(t *testing.T) {
		t.Parallel()
		checkProbes(t, r.deployment)
	})
	t.Run("rbac", func(t *testing.T) {
		t.Parallel()
		checkRBAC(t, r)
	})
	t.Run("leader election", func(t *testing.T) {
		t.Parallel()
		checkLeaderElection(t, r)
	})
	t.Run("network policy", func(t *testing.T) {
		t.Parallel()
		checkNetworkPolicy(t, r)
	})
	t.Run("config file", func(t *testing.T) {
		t.Parallel()
		checkConfig(t, r)
	})
}

// render runs the pinned kubectl's kustomize on dir. Without kubectl it skips,
// unless IPAMGUARD_REQUIRE_ENVTEST=1.
func render(t *testing.T, dir string) []byte {
	t.Helper()
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := devenv.DefaultAssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(assets, devenv.KubectlBinary)
	if fi, err := os.Stat(kubectl); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		devenvtest.SkipUnlessRequired(t, "%s is not an executable file (run make envtest-assets)", kubectl)
	}
	ctx, cancel := context.WithTimeout(t.Context(), renderTimeout)
	defer cancel()
	out, warnings, err := devenv.Kustomize(ctx, kubectl, filepath.Join(root, dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Logf("kubectl kustomize %s stderr:\n%s", dir, warnings)
	}
	return out
}

// rendered holds the objects the checks cross-reference, decoded into their
// API types.
type rendered struct {
	objs         []*unstructured.Unstructured
	namespace    *corev1.Namespace
	deployment   *appsv1.Deployment
	services     []*corev1.Service
	configMaps   []*corev1.ConfigMap
	validating   []*admissionregistrationv1.ValidatingWebhookConfiguration
	mutating     []*admissionregistrationv1.MutatingWebhookConfiguration
	serviceAccts []*corev1.ServiceAccount
	clusterRoles []*rbacv1.ClusterRole
	bindings     []*rbacv1.ClusterRoleBinding
	roles        []*rbacv1.Role
	roleBindings []*rbacv1.RoleBinding
	pdbs         []*policyv1.PodDisruptionBudget
	netpols      []*networkingv1.NetworkPolicy
	certificates []*unstructured.Unstructured
	issuers      []*unstructured.Unstructured
}

// index sorts objs by kind; objects of built-in kinds are converted with
// unknown fields as errors, which catches misspelt or misplaced fields.
func index(t *testing.T, objs []*unstructured.Unstructured) *rendered {
	t.Helper()
	r := &rendered{objs: objs}
	var namespaces []*corev1.Namespace
	var deployments []*appsv1.Deployment
	for _, o := range objs {
		gk := o.GroupVersionKind().GroupKind()
		switch gk.String() {
		case "Namespace":
			namespaces = append(namespaces, typed[corev1.Namespace](t, o))
		case "Deployment.apps":
			deployments = append(deployments, typed[appsv1.Deployment](t, o))
		case "Service":
			r.services = append(r.services, typed[corev1.Service](t, o))
		case "ConfigMap":
			r.configMaps = append(r.configMaps, typed[corev1.ConfigMap](t, o))
		case "ServiceAccount":
			r.serviceAccts = append(r.serviceAccts, typed[corev1.ServiceAccount](t, o))
		case "ValidatingWebhookConfiguration.admissionregistration.k8s.io":
			r.validating = append(r.validating, typed[admissionregistrationv1.ValidatingWebhookConfiguration](t, o))
		case "MutatingWebhookConfiguration.admissionregistration.k8s.io":
			r.mutating = append(r.mutating, typed[admissionregistrationv1.MutatingWebhookConfiguration](t, o))
		case "ClusterRole.rbac.authorization.k8s.io":
			r.clusterRoles = append(r.clusterRoles, typed[rbacv1.ClusterRole](t, o))
		case "ClusterRoleBinding.rbac.authorization.k8s.io":
			r.bindings = append(r.bindings, typed[rbacv1.ClusterRoleBinding](t, o))
		case "Role.rbac.authorization.k8s.io":
			r.roles = append(r.roles, typed[rbacv1.Role](t, o))
		case "RoleBinding.rbac.authorization.k8s.io":
			r.roleBindings = append(r.roleBindings, typed[rbacv1.RoleBinding](t, o))
		case "PodDisruptionBudget.policy":
			r.pdbs = append(r.pdbs, typed[policyv1.PodDisruptionBudget](t, o))
		case "NetworkPolicy.networking.k8s.io":
			r.netpols = append(r.netpols, typed[networkingv1.NetworkPolicy](t, o))
		case "Certificate.cert-manager.io":
			r.certificates = append(r.certificates, o)
		case "Issuer.cert-manager.io":
			r.issuers = append(r.issuers, o)
		}
	}
	if len(namespaces) != 1 {
		t.Fatalf("want exactly 1 Namespace, rendered %d", len(namespaces))
	}
	if len(deployments) != 1 {
		t.Fatalf("want exactly 1 Deployment, rendered %d", len(deployments))
	}
	if len(r.certificates) != 1 {
		t.Fatalf("want exactly 1 cert-manager Certificate, rendered %d", len(r.certificates))
	}
	if len(r.validating)+len(r.mutating) == 0 {
		t.Fatal("no webhook configuration rendered")
	}
	r.namespace, r.deployment = namespaces[0], deployments[0]
	return r
}

// typed converts o into T, failing on fields T does not have.
func typed[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, &v, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return &v
}

func checkNamespace(t *testing.T, r *rendered) {
	ns := r.namespace.Name
	if ns == placeholderNamespace {
		t.Errorf("the Namespace is still named %q", placeholderNamespace)
	}
	if got := r.namespace.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("Namespace %s: label pod-security.kubernetes.io/enforce = %q, want restricted", ns, got)
	}
	for _, o := range r.objs {
		if o.GetKind() == "Namespace" {
			continue
		}
		if got := o.GetNamespace(); got != "" && got != ns {
			t.Errorf("%s %s is in namespace %q, want %q", o.GetKind(), o.GetName(), got, ns)
		}
	}
	// Every field named namespace, wherever it is (service references,
	// binding subjects), must name the rendered namespace.
	for _, o := range r.objs {
		walk(o.Object, "", func(p string, v any) {
			if s, ok := v.(string); ok && path.Base(p) == "namespace" && s == placeholderNamespace {
				t.Errorf("%s %s: %s is %q; kustomize left a placeholder", o.GetKind(), o.GetName(), p, s)
			}
		})
	}
}

// envVarName matches the path of a container's environment variable name,
// which is upper case by convention (POD_NAMESPACE) and never a
// replacement target.
var envVarName = regexp.MustCompile(`/(initContainers|containers)/[0-9]+/env/[0-9]+/name$`)

// checkNoPlaceholders fails on the upper-case tokens the bases use as
// replacement targets, and on kustomize-local objects that leaked.
func checkNoPlaceholders(t *testing.T, objs []*unstructured.Unstructured) {
	tokens := []string{"SERVICE_NAME", "SERVICE_NAMESPACE", "CERTIFICATE_NAME", "CERTIFICATE_NAMESPACE", "NAMESPACE"}
	for _, o := range objs {
		if o.GetAnnotations()["config.kubernetes.io/local-config"] == "true" {
			t.Errorf("%s %s is kustomize-local but was rendered", o.GetKind(), o.GetName())
		}
		walk(o.Object, "", func(p string, v any) {
			s, ok := v.(string)
			if !ok || envVarName.MatchString(p) {
				return
			}
			for _, tok := range tokens {
				if strings.Contains(s, tok) {
					t.Errorf("%s %s: %s = %q still holds the placeholder %s", o.GetKind(), o.GetName(), p, s, tok)
				}
			}
		})
	}
}

// walk calls fn for every value in v with a slash-separated path.
func walk(v any, p string, fn func(path string, v any)) {
	fn(p, v)
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			walk(e, p+"/"+k, fn)
		}
	case []any:
		for i, e := range v {
			walk(e, p+"/"+strconv.Itoa(i), fn)
		}
	}
}

// webhook is what the checks need of a validating or mutating webhook.
type webhook struct {
	config, name      string
	configAnnotations map[string]string
	clientConfig      admissionregistrationv1.WebhookClientConfig
	namespaceSelector *metav1.LabelSelector
	failurePolicy     *admissionregistrationv1.FailurePolicyType
	matchConditions   []admissionregistrationv1.MatchCondition
	rules             []admissionregistrationv1.RuleWithOperations
}

func (r *rendered) webhooks() []webhook {
	var out []webhook
	for _, c := range r.validating {
		for _, w := range c.Webhooks {
			out = append(out, webhook{"ValidatingWebhookConfiguration " + c.Name, w.Name, c.Annotations, w.ClientConfig,
				w.NamespaceSelector, w.FailurePolicy, w.MatchConditions, w.Rules})
		}
	}
	for _, c := range r.mutating {
		for _, w := range c.Webhooks {
			out = append(out, webhook{"MutatingWebhookConfiguration " + c.Name, w.Name, c.Annotations, w.ClientConfig,
				w.NamespaceSelector, w.FailurePolicy, w.MatchConditions, w.Rules})
		}
	}
	return out
}

// webhookService returns the Service the webhooks call: the one the first
// webhook names.
func (r *rendered) webhookService(t *testing.T) *corev1.Service {
	t.Helper()
	ws := r.webhooks()
	if len(ws) == 0 || ws[0].clientConfig.Service == nil {
		t.Fatal("no webhook with a clientConfig.service")
	}
	ref := ws[0].clientConfig.Service
	for _, s := range r.services {
		if s.Name == ref.Name && s.Namespace == ref.Namespace {
			return s
		}
	}
	t.Fatalf("webhook %s calls Service %s/%s, which is not rendered", ws[0].name, ref.Namespace, ref.Name)
	return nil
}

func checkWebhooks(t *testing.T, r *rendered) {
	svc := r.webhookService(t)
	cert := r.certificates[0]
	wantInject := cert.GetNamespace() + "/" + cert.GetName()
	ns := r.namespace.Name
	webhookPort := containerPortFromFlag(t, r.deployment, "--webhook-port", "9443")
	for _, w := range r.webhooks() {
		where := fmt.Sprintf("%s webhook %s", w.config, w.name)
		if got := w.configAnnotations[injectCAAnnotation]; got != wantInject {
			t.Errorf("%s: annotation %s = %q, want %q (the rendered Certificate)", where, injectCAAnnotation, got, wantInject)
		}
		cc := w.clientConfig
		if cc.URL != nil {
			t.Errorf("%s: clientConfig.url %q is set; the webhook must be called through its Service", where, *cc.URL)
		}
		if cc.Service == nil {
			t.Errorf("%s: no clientConfig.service", where)
			continue
		}
		if cc.Service.Name != svc.Name || cc.Service.Namespace != svc.Namespace {
			t.Errorf("%s: calls Service %s/%s, want %s/%s", where, cc.Service.Namespace, cc.Service.Name, svc.Namespace, svc.Name)
		}
		if cc.Service.Path == nil || !strings.HasPrefix(*cc.Service.Path, "/") {
			t.Errorf("%s: clientConfig.service.path is missing or not absolute", where)
		}
		port := int32(443) // the API's default for clientConfig.service.port
		if cc.Service.Port != nil {
			port = *cc.Service.Port
		}
		sp := servicePort(svc, port)
		if sp == nil {
			t.Errorf("%s: calls port %d, which Service %s does not expose", where, port, svc.Name)
		} else if got := resolveTargetPort(r.deployment, sp.TargetPort); got != webhookPort {
			t.Errorf("%s: Service %s port %d reaches container port %d, but the webhook listens on %d", where, svc.Name, port, got, webhookPort)
		}
		if !excludesNamespace(w.namespaceSelector, ns) {
			t.Errorf("%s: namespaceSelector %v does not exclude %s (%s NotIn [%s]); the webhook could block its own pods", where, w.namespaceSelector, ns, namespaceLabel, ns)
		}
		if !excludesNamespace(w.namespaceSelector, ipamwebhook.SystemNamespace) {
			t.Errorf("%s: namespaceSelector %v does not exclude %s; the webhook could block Kube-OVN's own pods while it is down", where, w.namespaceSelector, ipamwebhook.SystemNamespace)
		}
	}
}

// wantFailurePolicy is each webhook's failure policy (docs/operations.md).
// Fail where a request let through unjudged corrupts IP management and
// only rare operator changes or objects with Kube-OVN IPAM annotations
// reach the webhook; Ignore where it sits on the path of every other pod
// or workload, or only warns.
var wantFailurePolicy = map[string]admissionregistrationv1.FailurePolicyType{
	"vsubnet.ipamguard.io":           admissionregistrationv1.Fail,
	"msubnet.ipamguard.io":           admissionregistrationv1.Fail,
	"vippool.ipamguard.io":           admissionregistrationv1.Fail,
	"vpod.ipamguard.io":              admissionregistrationv1.Fail,
	"mpod.ipamguard.io":              admissionregistrationv1.Fail,
	"vworkload.ipamguard.io":         admissionregistrationv1.Fail,
	"vipaddress.ipamguard.io":        admissionregistrationv1.Ignore,
	"vpodcapacity.ipamguard.io":      admissionregistrationv1.Ignore,
	"vworkloadcapacity.ipamguard.io": admissionregistrationv1.Ignore,
}

// checkFailurePolicies holds every webhook to wantFailurePolicy, and every
// webhook that fails closed on pods or workloads to the conditions that
// keep an outage from stopping the cluster: matchConditions, so objects
// without IPAM annotations never reach it, and a namespaceSelector
// excluding the webhook's own namespace and kube-system (the webhook
// bootstrap problem).
func checkFailurePolicies(t *testing.T, r *rendered) {
	seen := map[string]bool{}
	for _, w := range r.webhooks() {
		where := fmt.Sprintf("%s webhook %s", w.config, w.name)
		seen[w.name] = true
		want, ok := wantFailurePolicy[w.name]
		if !ok {
			t.Errorf("%s: no expected failure policy; decide one and add it to wantFailurePolicy", where)
			continue
		}
		got := admissionregistrationv1.Fail // the API's default
		if w.failurePolicy != nil {
			got = *w.failurePolicy
		}
		if got != want {
			t.Errorf("%s: failurePolicy %s, want %s", where, got, want)
		}
		if got != admissionregistrationv1.Fail || !onPodsOrWorkloads(w.rules) {
			continue
		}
		if len(w.matchConditions) == 0 {
			t.Errorf("%s: fails closed on pods or workloads without matchConditions; an outage would stop every rollout", where)
		}
		for _, ns := range []string{r.namespace.Name, ipamwebhook.SystemNamespace} {
			if !excludesNamespace(w.namespaceSelector, ns) {
				t.Errorf("%s: fails closed without excluding namespace %s; the cluster could not heal while the webhook is down", where, ns)
			}
		}
	}
	for name := range wantFailurePolicy {
		if !seen[name] {
			t.Errorf("webhook %s is not rendered", name)
		}
	}
}

// onPodsOrWorkloads reports whether rules match pods or the workload
// kinds that create them.
func onPodsOrWorkloads(rules []admissionregistrationv1.RuleWithOperations) bool {
	for _, rule := range rules {
		if slices.Contains(rule.Resources, "pods") || slices.Contains(rule.APIGroups, "apps") || slices.Contains(rule.APIGroups, "batch") {
			return true
		}
	}
	return false
}

// excludesNamespace reports whether sel has the expression
// kubernetes.io/metadata.name NotIn [..., ns, ...].
func excludesNamespace(sel *metav1.LabelSelector, ns string) bool {
	if sel == nil {
		return false
	}
	for _, e := range sel.MatchExpressions {
		if e.Key == namespaceLabel && e.Operator == metav1.LabelSelectorOpNotIn && slices.Contains(e.Values, ns) {
			return true
		}
	}
	return false
}

func servicePort(svc *corev1.Service, port int32) *corev1.ServicePort {
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == port {
			return &svc.Spec.Ports[i]
		}
	}
	return nil
}

// resolveTargetPort returns the container port a Service targetPort names in
// the Deployment's pods (0 if none).
func resolveTargetPort(d *appsv1.Deployment, tp intstr.IntOrString) int32 {
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if tp.Type == intstr.String && p.Name == tp.StrVal || tp.Type == intstr.Int && p.ContainerPort == tp.IntVal {
				return p.ContainerPort
			}
		}
	}
	return 0
}

// containerPortFromFlag returns the port a container flag (--x=N or
// --x=host:N) sets, or def when the flag is absent.
func containerPortFromFlag(t *testing.T, d *appsv1.Deployment, flag, def string) int32 {
	t.Helper()
	v, ok := flagValue(d, flag)
	if !ok {
		v = def
	}
	if i := strings.LastIndex(v, ":"); i >= 0 {
		v = v[i+1:]
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		t.Fatalf("Deployment %s: %s=%q is not a port", d.Name, flag, v)
	}
	return int32(n)
}

// flagValue returns the value of --flag=value in the first container's args.
func flagValue(d *appsv1.Deployment, flag string) (string, bool) {
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v, true
		}
	}
	return "", false
}

func checkSelectors(t *testing.T, r *rendered) {
	d := r.deployment
	podLabels := labels.Set(d.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(podLabels) {
		t.Errorf("Deployment %s: selector %v does not select its own pod labels %v (err %v)", d.Name, d.Spec.Selector, podLabels, err)
	}
	for _, s := range r.services {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			t.Errorf("Service %s: selector %v does not match the pod labels %v", s.Name, s.Spec.Selector, podLabels)
		}
	}
	for _, p := range r.pdbs {
		if s, err := metav1.LabelSelectorAsSelector(p.Spec.Selector); err != nil || s.Empty() || !s.Matches(podLabels) {
			t.Errorf("PodDisruptionBudget %s: selector %v does not match the pod labels %v", p.Name, p.Spec.Selector, podLabels)
		}
	}
	for _, np := range r.netpols {
		if s, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector); err != nil || s.Empty() || !s.Matches(podLabels) {
			t.Errorf("NetworkPolicy %s: podSelector %v does not match the pod labels %v", np.Name, np.Spec.PodSelector, podLabels)
		}
	}
}

func checkCertificate(t *testing.T, r *rendered) {
	cert := r.certificates[0]
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	if secretName == "" {
		t.Fatalf("Certificate %s: no spec.secretName", cert.GetName())
	}
	certDir, ok := flagValue(r.deployment, "--cert-dir")
	if !ok {
		t.Fatalf("Deployment %s: no --cert-dir argument", r.deployment.Name)
	}
	v := mountedVolume(t, r.deployment, certDir)
	if v.Secret == nil || v.Secret.SecretName != secretName {
		t.Errorf("Deployment %s: --cert-dir %s is volume %s %+v, want the Certificate's secret %q", r.deployment.Name, certDir, v.Name, v.VolumeSource, secretName)
	}
	if v.Secret != nil && v.Secret.Optional != nil && *v.Secret.Optional {
		t.Errorf("Deployment %s: the certificate secret is optional; a pod without it cannot serve", r.deployment.Name)
	}

	svc := r.webhookService(t)
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	for _, want := range []string{svc.Name + "." + svc.Namespace + ".svc", svc.Name + "." + svc.Namespace + ".svc.cluster.local"} {
		if !slices.Contains(dnsNames, want) {
			t.Errorf("Certificate %s: dnsNames %v lack %s, the name the API server calls", cert.GetName(), dnsNames, want)
		}
	}

	kind, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "kind")
	issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
	if kind != "" && kind != "Issuer" {
		t.Logf("Certificate %s uses a %s; not checked", cert.GetName(), kind)
		return
	}
	if !slices.ContainsFunc(r.issuers, func(i *unstructured.Unstructured) bool {
		return i.GetName() == issuer && i.GetNamespace() == cert.GetNamespace()
	}) {
		t.Errorf("Certificate %s: issuerRef names Issuer %q, which is not rendered in %s", cert.GetName(), issuer, cert.GetNamespace())
	}
}

// mountedVolume returns the volume mounted (without subPath) at dir in the
// first container.
func mountedVolume(t *testing.T, d *appsv1.Deployment, dir string) corev1.Volume {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) != path.Clean(dir) {
			continue
		}
		if m.SubPath != "" || m.SubPathExpr != "" {
			t.Errorf("Deployment %s: %s is mounted with a subPath; updates of the source would not reach the pod", d.Name, dir)
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name {
				return v
			}
		}
		t.Fatalf("Deployment %s: mount %s names volume %s, which is not defined", d.Name, dir, m.Name)
	}
	t.Fatalf("Deployment %s: container %s mounts nothing at %s", d.Name, c.Name, dir)
	return corev1.Volume{}
}

// checkPodSecurity holds every container to the restricted Pod Security
// Standard and the project's own rules (read-only root, resources).
func checkPodSecurity(t *testing.T, d *appsv1.Deployment) {
	spec := d.Spec.Template.Spec
	pod := spec.SecurityContext
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Errorf("Deployment %s: uses host namespaces", d.Name)
	}
	containers := slices.Concat(spec.InitContainers, spec.Containers)
	if len(containers) == 0 {
		t.Fatalf("Deployment %s: no containers", d.Name)
	}
	for _, c := range containers {
		where := fmt.Sprintf("Deployment %s container %s", d.Name, c.Name)
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", where)
			continue
		}
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil {
			nonRoot = pod.RunAsNonRoot
		}
		if nonRoot == nil || !*nonRoot {
			t.Errorf("%s: runAsNonRoot is not true", where)
		}
		uid := sc.RunAsUser
		if uid == nil {
			uid = pod.RunAsUser
		}
		if uid != nil && *uid == 0 {
			t.Errorf("%s: runs as uid 0", where)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem is not true", where)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation is not false", where)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", where)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: capabilities.drop lacks ALL", where)
		} else if len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: adds capabilities %v", where, sc.Capabilities.Add)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = pod.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: seccompProfile is not RuntimeDefault", where)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: needs cpu and memory requests and a memory limit, has %v", where, c.Resources)
		}
	}
}

func checkProbes(t *testing.T, d *appsv1.Deployment) {
	c := d.Spec.Template.Spec.Containers[0]
	healthPort := containerPortFromFlag(t, d, "--health-probe-bind-address", ":8081")
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"livenessProbe", c.LivenessProbe, "/healthz"},
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("Deployment %s: no HTTP %s", d.Name, p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("Deployment %s: %s path %q, want %s", d.Name, p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got := resolveTargetPort(d, p.probe.HTTPGet.Port); got != healthPort {
			t.Errorf("Deployment %s: %s port %s is container port %d, want %d (--health-probe-bind-address)", d.Name, p.name, p.probe.HTTPGet.Port.String(), got, healthPort)
		}
	}
}

func checkRBAC(t *testing.T, r *rendered) {
	d := r.deployment
	sa := d.Spec.Template.Spec.ServiceAccountName
	if sa == "" || sa == "default" {
		t.Fatalf("Deployment %s: serviceAccountName %q; it needs its own ServiceAccount", d.Name, sa)
	}
	if !slices.ContainsFunc(r.serviceAccts, func(s *corev1.ServiceAccount) bool { return s.Name == sa && s.Namespace == d.Namespace }) {
		t.Errorf("Deployment %s: ServiceAccount %s/%s is not rendered", d.Name, d.Namespace, sa)
	}
	if m := d.Spec.Template.Spec.AutomountServiceAccountToken; m != nil && !*m {
		t.Errorf("Deployment %s: automountServiceAccountToken is false; the informers need the token", d.Name)
	}
	if len(r.clusterRoles) == 0 {
		t.Fatal("no ClusterRole rendered")
	}
	for _, role := range r.clusterRoles {
		bound := slices.ContainsFunc(r.bindings, func(b *rbacv1.ClusterRoleBinding) bool {
			return b.RoleRef.APIGroup == rbacv1.GroupName && b.RoleRef.Kind == "ClusterRole" && b.RoleRef.Name == role.Name &&
				slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
					return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == d.Namespace
				})
		})
		if !bound {
			t.Errorf("no ClusterRoleBinding binds ClusterRole %s to ServiceAccount %s/%s", role.Name, d.Namespace, sa)
		}
		for _, rule := range role.Rules {
			for _, verb := range rule.Verbs {
				if !slices.Contains([]string{"get", "list", "watch"}, verb) {
					t.Errorf("ClusterRole %s: verb %q on %v; the webhook is read-only", role.Name, verb, rule.Resources)
				}
			}
		}
	}
	for _, b := range r.bindings {
		if !slices.ContainsFunc(r.clusterRoles, func(c *rbacv1.ClusterRole) bool { return c.Name == b.RoleRef.Name }) {
			t.Errorf("ClusterRoleBinding %s: roleRef %s %s is not rendered", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
	}

	// Namespaced Roles: bound to the webhook in its namespace, and writing
	// nothing but the leader election Lease and its events.
	writable := map[string]bool{"coordination.k8s.io/leases": true, "/events": true}
	for _, role := range r.roles {
		bound := slices.ContainsFunc(r.roleBindings, func(b *rbacv1.RoleBinding) bool {
			return b.Namespace == role.Namespace && b.RoleRef.APIGroup == rbacv1.GroupName && b.RoleRef.Kind == "Role" && b.RoleRef.Name == role.Name &&
				slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
					return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == d.Namespace
				})
		})
		if !bound {
			t.Errorf("no RoleBinding binds Role %s/%s to ServiceAccount %s/%s", role.Namespace, role.Name, d.Namespace, sa)
		}
		for _, rule := range role.Rules {
			for _, verb := range rule.Verbs {
				if slices.Contains([]string{"get", "list", "watch"}, verb) {
					continue
				}
				for _, g := range rule.APIGroups {
					for _, res := range rule.Resources {
						if !writable[g+"/"+res] {
							t.Errorf("Role %s: verb %q on %s/%s; only the leader election Lease and events may be written", role.Name, verb, g, res)
						}
					}
				}
			}
		}
	}
	for _, b := range r.roleBindings {
		if b.RoleRef.Kind != "Role" || !slices.ContainsFunc(r.roles, func(c *rbacv1.Role) bool { return c.Name == b.RoleRef.Name && c.Namespace == b.Namespace }) {
			t.Errorf("RoleBinding %s/%s: roleRef %s %s is not rendered in its namespace", b.Namespace, b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
	}
}

// checkLeaderElection requires what the webhook's leader election
// (internal/leader) needs at run time: leader election on, the pod's
// namespace available to it (downward API POD_NAMESPACE, or the flag), and
// a Role bound to the webhook's ServiceAccount there that lets it read,
// create and renew its Lease and record events.
func checkLeaderElection(t *testing.T, r *rendered) {
	d := r.deployment
	c := d.Spec.Template.Spec.Containers[0]
	if v, ok := flagValue(d, "--leader-elect"); ok && v != "true" {
		t.Fatalf("Deployment %s: --leader-elect=%s; %d replicas need leader election", d.Name, v, ptr.Deref(d.Spec.Replicas, 1))
	}
	leaseNS := d.Namespace
	if v, ok := flagValue(d, "--leader-election-namespace"); ok {
		leaseNS = v
	} else {
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == leader.NamespaceEnv })
		if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.FieldRef == nil || c.Env[i].ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
			t.Errorf("Deployment %s: no --leader-election-namespace and no env %s from the downward API (fieldRef metadata.namespace)", d.Name, leader.NamespaceEnv)
		}
	}
	if leaseNS != d.Namespace {
		t.Errorf("Deployment %s: the leader election Lease is in namespace %s, want the webhook's own %s", d.Name, leaseNS, d.Namespace)
	}
	sa := d.Spec.Template.Spec.ServiceAccountName
	need := []struct{ group, resource, verb string }{
		{"coordination.k8s.io", "leases", "get"},
		{"coordination.k8s.io", "leases", "create"},
		{"coordination.k8s.io", "leases", "update"},
		{"", "events", "create"},
		{"", "events", "patch"},
	}
	for _, n := range need {
		granted := slices.ContainsFunc(r.roles, func(role *rbacv1.Role) bool {
			if role.Namespace != leaseNS {
				return false
			}
			bound := slices.ContainsFunc(r.roleBindings, func(b *rbacv1.RoleBinding) bool {
				return b.Namespace == role.Namespace && b.RoleRef.Kind == "Role" && b.RoleRef.Name == role.Name &&
					slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
						return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == d.Namespace
					})
			})
			return bound && slices.ContainsFunc(role.Rules, func(rule rbacv1.PolicyRule) bool {
				return slices.Contains(rule.APIGroups, n.group) && slices.Contains(rule.Resources, n.resource) && slices.Contains(rule.Verbs, n.verb) &&
					(len(rule.ResourceNames) == 0 || slices.Contains(rule.ResourceNames, leader.DefaultLeaseName))
			})
		})
		if !granted {
			t.Errorf("no Role bound to ServiceAccount %s/%s grants %s on %s.%s in namespace %s (leader election)", d.Namespace, sa, n.verb, n.resource, n.group, leaseNS)
		}
	}
}

// monitoringNamespace is the namespace the NetworkPolicy lets scrape
// metrics.
const monitoringNamespace = "monitoring"

// checkNetworkPolicy requires the webhook pods to be isolated for ingress
// and to admit only what they must: the webhook port from every source
// (the API server's address varies, and a blocked port fails Subnet and
// fixed-address pod changes), the metrics port from the monitoring
// namespace only, and no other port (the kubelet's probes come from the
// node, which NetworkPolicy always admits).
func checkNetworkPolicy(t *testing.T, r *rendered) {
	d := r.deployment
	webhookPort := containerPortFromFlag(t, d, "--webhook-port", "9443")
	metricsPort := containerPortFromFlag(t, d, "--metrics-bind-address", ":8080")
	podLabels := labels.Set(d.Spec.Template.Labels)
	isolated := false
	for _, np := range r.netpols {
		s, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !s.Matches(podLabels) || !slices.Contains(policyTypes(np), networkingv1.PolicyTypeIngress) {
			continue
		}
		isolated = true
		open := slices.ContainsFunc(np.Spec.Ingress, func(rule networkingv1.NetworkPolicyIngressRule) bool {
			return len(rule.From) == 0 && slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool {
				return p.Port == nil || resolveTargetPort(d, *p.Port) == webhookPort
			})
		})
		if !open {
			t.Errorf("NetworkPolicy %s: port %d is not open to all sources; the API server could not call the webhook", np.Name, webhookPort)
		}
		for i, rule := range np.Spec.Ingress {
			where := fmt.Sprintf("NetworkPolicy %s ingress[%d]", np.Name, i)
			if len(rule.Ports) == 0 {
				t.Errorf("%s: admits every port; list the ports", where)
			}
			for _, p := range rule.Ports {
				if p.Port == nil {
					t.Errorf("%s: admits every port of protocol %v", where, p.Protocol)
					continue
				}
				switch port := resolveTargetPort(d, *p.Port); port {
				case webhookPort:
				case metricsPort:
					if !onlyNamespace(rule.From, monitoringNamespace) {
						t.Errorf("%s: metrics port %d admitted from %v, want only namespace %s", where, port, rule.From, monitoringNamespace)
					}
				default:
					t.Errorf("%s: admits port %s (container port %d); only the webhook and metrics ports need ingress", where, p.Port.String(), port)
				}
			}
		}
	}
	if !isolated {
		t.Errorf("no NetworkPolicy isolates the webhook pods for ingress")
	}
}

// onlyNamespace reports whether peers admit pods of namespace ns and of
// no other namespace, and no address block.
func onlyNamespace(peers []networkingv1.NetworkPolicyPeer, ns string) bool {
	if len(peers) == 0 {
		return false
	}
	for _, p := range peers {
		if p.IPBlock != nil || p.NamespaceSelector == nil {
			return false
		}
		s, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector)
		if err != nil || !s.Matches(labels.Set{namespaceLabel: ns}) || s.Matches(labels.Set{namespaceLabel: "default"}) {
			return false
		}
	}
	return true
}

func policyTypes(np *networkingv1.NetworkPolicy) []networkingv1.PolicyType {
	if len(np.Spec.PolicyTypes) > 0 {
		return np.Spec.PolicyTypes
	}
	return []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
}

// checkConfig parses the shipped config file with the webhook's own parser
// and requires it to state the built-in defaults, so the ConfigMap never
// silently diverges from what the binary does without a file.
func checkConfig(t *testing.T, r *rendered) {
	d := r.deployment
	file, ok := flagValue(d, "--config")
	if !ok {
		t.Fatalf("Deployment %s: no --config argument", d.Name)
	}
	v := mountedVolume(t, d, path.Dir(file))
	if v.ConfigMap == nil {
		t.Fatalf("Deployment %s: %s is not from a ConfigMap", d.Name, path.Dir(file))
	}
	key := path.Base(file)
	if len(v.ConfigMap.Items) > 0 {
		t.Fatalf("Deployment %s: volume %s selects items; mount the whole ConfigMap", d.Name, v.Name)
	}
	i := slices.IndexFunc(r.configMaps, func(c *corev1.ConfigMap) bool { return c.Name == v.ConfigMap.Name && c.Namespace == d.Namespace })
	if i < 0 {
		t.Fatalf("Deployment %s: ConfigMap %s is not rendered", d.Name, v.ConfigMap.Name)
	}
	data, ok := r.configMaps[i].Data[key]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s (--config=%s)", v.ConfigMap.Name, key, file)
	}
	got, err := config.Parse([]byte(data))
	if err != nil {
		t.Fatalf("ConfigMap %s key %s: %v", v.ConfigMap.Name, key, err)
	}
	want := config.Default()
	if got.Policy.Mode != want.Policy.Mode || got.Thresholds != want.Thresholds || !reflect.DeepEqual(got.Defaults, want.Defaults) || len(got.Policy.Actions) != 0 {
		t.Errorf("ConfigMap %s key %s is not the built-in default configuration:\n got %+v %+v\nwant %+v %+v", v.ConfigMap.Name, key, got.Defaults, got.Policy.Actions, want.Defaults, want.Policy.Actions)
	}
	// The one departure from the built-in defaults: the Kube-OVN
	// controller (service account ovn in kube-system, Kube-OVN's
	// charts/kube-ovn/templates/controller-deploy.yaml) rewrites IP objects
	// that ip-immutable would refuse (issue 13, false alarm 6).
	const controller = "system:serviceaccount:kube-system:ovn"
	if ex := got.Policy.Exempt; !reflect.DeepEqual(ex.Users, []string{controller}) || len(ex.Groups) != 0 || len(ex.Namespaces) != 0 {
		t.Errorf("ConfigMap %s key %s exempts %+v, want exactly the Kube-OVN controller's service account %s", v.ConfigMap.Name, key, ex, controller)
	}
}

// TestAuditReportsComponent: the optional component turns on the audit's
// ClusterReport and grants exactly the write it needs, bound to the
// webhook's ServiceAccount; the default tree stays read-only (TestDefault).
func TestAuditReportsComponent(t *testing.T) {
	objs, err := devenv.DecodeManifests(render(t, "test/manifests/testdata/audit-reports"))
	if err != nil {
		t.Fatal(err)
	}
	r := index(t, objs)
	args := r.deployment.Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(args, "--audit-reports") {
		t.Errorf("Deployment args %v lack --audit-reports", args)
	}
	sa := r.deployment.Spec.Template.Spec.ServiceAccountName
	var role *rbacv1.ClusterRole
	for _, c := range r.clusterRoles {
		if c.Name == "ipamguard-audit-reports" {
			role = c
		}
	}
	if role == nil {
		t.Fatal("ClusterRole ipamguard-audit-reports not rendered")
	}
	want := []rbacv1.PolicyRule{{APIGroups: []string{"openreports.io"}, Resources: []string{"clusterreports"}, Verbs: []string{"get", "create", "patch"}}}
	if !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("ClusterRole rules %+v, want %+v", role.Rules, want)
	}
	bound := slices.ContainsFunc(r.bindings, func(b *rbacv1.ClusterRoleBinding) bool {
		return b.RoleRef.Name == role.Name && slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
			return s.Name == sa && s.Namespace == r.deployment.Namespace
		})
	})
	if !bound {
		t.Errorf("ClusterRole %s is not bound to ServiceAccount %s/%s", role.Name, r.deployment.Namespace, sa)
	}
}
