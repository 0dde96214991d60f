package manifests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/pkg/config"
)

// The Helm chart, rendered by the pinned helm (make bin/helm, built from
// hack/tools/helm) as a subprocess: helm is never a dependency of the main
// module.
const (
	chartDir = "charts/ipamguard"
	// chartRelease is the release name the tests render with: its full
	// name is "ipamguard", so the chart's names equal config/default's.
	chartRelease   = "ipamguard"
	chartNamespace = "ipamguard-system"
	helmBinary     = "helm"
)

// chartFileCopies are the files the chart renders from (.Files.Get) and
// the originals under config/ they must equal byte for byte.
var chartFileCopies = map[string]string{
	"files/webhook-manifests.yaml": "config/webhook/manifests.yaml",
	"files/role.yaml":              "config/rbac/role.yaml",
	"files/prometheus-rules.yaml":  "config/prometheus/rules.yaml",
	"files/grafana-dashboard.json": "config/prometheus/grafana-dashboard.json",
}

// helmPath returns the pinned helm in the assets directory. Without it
// the test skips, unless IPAMGUARD_REQUIRE_ENVTEST=1.
func helmPath(t *testing.T) string {
	t.Helper()
	assets, err := devenv.DefaultAssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	helm := filepath.Join(assets, helmBinary)
	if fi, err := os.Stat(helm); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		devenvtest.SkipUnlessRequired(t, "%s is not an executable file (run make %s)", helm, filepath.Join("bin", helmBinary))
	}
	return helm
}

// runHelm runs the pinned helm with args in the repository root and
// returns its stdout, its stderr and how it ended.
func runHelm(t *testing.T, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	helm := helmPath(t)
	root, rerr := devenv.RepoRoot()
	if rerr != nil {
		t.Fatal(rerr)
	}
	ctx, cancel := context.WithTimeout(t.Context(), renderTimeout)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Dir = root
	// Keep helm away from the user's helm configuration and caches.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.Bytes(), err
}

// renderChart runs helm template on the chart with the given extra
// arguments (--values, --set) and fails the test if it fails.
func renderChart(t *testing.T, args ...string) []byte {
	t.Helper()
	all := append([]string{"template", chartRelease, chartDir, "--namespace", chartNamespace}, args...)
	out, stderr, err := runHelm(t, all...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(all, " "), err, stderr)
	}
	return out
}

// renderChartObjects renders the chart and decodes the objects.
func renderChartObjects(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := devenv.DecodeManifests(renderChart(t, args...))
	if err != nil {
		t.Fatalf("decode the output of helm template: %v", err)
	}
	return objs
}

// TestChartFilesInSync: the files the chart renders from are exact copies
// of the generated ones under config/ (charts/ipamguard/files/README.md
// says how to refresh them), so the chart cannot drift from make
// manifests.
func TestChartFilesInSync(t *testing.T) {
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for copyPath, orig := range chartFileCopies {
		got, err := os.ReadFile(filepath.Join(root, chartDir, copyPath))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(root, orig))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s/%s differs from %s: cp %s %s/%s", chartDir, copyPath, orig, orig, chartDir, copyPath)
		}
	}
}

// TestChartLint: helm lint --strict passes (what make chart-check runs).
func TestChartLint(t *testing.T) {
	out, stderr, err := runHelm(t, "lint", "--strict", chartDir)
	if err != nil {
		t.Fatalf("helm lint --strict: %v\n%s%s", err, out, stderr)
	}
	out, stderr, err = runHelm(t, "lint", "--strict", chartDir, "--namespace", chartNamespace,
		"--values", "test/manifests/testdata/chart/custom-values.yaml")
	if err != nil {
		t.Fatalf("helm lint --strict with custom values: %v\n%s%s", err, out, stderr)
	}
}

// TestChartMatchesKustomize is the one-source-of-truth check: the chart
// with its default values renders the same webhooks, RBAC, Deployment,
// Services, PDB, NetworkPolicy, certificate and config as config/default.
func TestChartMatchesKustomize(t *testing.T) {
	kobjs, err := devenv.DecodeManifests(render(t, deployTree))
	if err != nil {
		t.Fatal(err)
	}
	k := index(t, kobjs)
	// namespace.create=true so that index finds the one Namespace.
	h := index(t, renderChartObjects(t, "--set", "namespace.create=true"))

	t.Run("namespace", func(t *testing.T) {
		if h.namespace.Name != k.namespace.Name {
			t.Errorf("namespace %q, config/default %q", h.namespace.Name, k.namespace.Name)
		}
		for _, l := range []string{"pod-security.kubernetes.io/enforce", "pod-security.kubernetes.io/enforce-version", "pod-security.kubernetes.io/audit", "pod-security.kubernetes.io/warn"} {
			if h.namespace.Labels[l] != k.namespace.Labels[l] {
				t.Errorf("namespace label %s=%q, config/default %q", l, h.namespace.Labels[l], k.namespace.Labels[l])
			}
		}
	})

	t.Run("webhooks", func(t *testing.T) {
		compareWebhooks(t, h, k)
		svc := h.webhookService(t)
		for _, w := range allWebhooks(h) {
			s := w.ClientConfig.Service
			if s == nil || s.Name != svc.Name || s.Namespace != chartNamespace {
				t.Errorf("webhook %s calls %+v, want Service %s/%s", w.name, s, chartNamespace, svc.Name)
			}
		}
		for _, c := range h.validating {
			if got, want := c.Annotations["cert-manager.io/inject-ca-from"], chartNamespace+"/"+h.certificates[0].GetName(); got != want {
				t.Errorf("%s: inject-ca-from %q, want %q", c.Name, got, want)
			}
		}
		for _, c := range h.mutating {
			if got, want := c.Annotations["cert-manager.io/inject-ca-from"], chartNamespace+"/"+h.certificates[0].GetName(); got != want {
				t.Errorf("%s: inject-ca-from %q, want %q", c.Name, got, want)
			}
		}
	})

	t.Run("rbac", func(t *testing.T) {
		if len(h.clusterRoles) != len(k.clusterRoles) || len(h.roles) != len(k.roles) {
			t.Fatalf("chart: %d ClusterRoles, %d Roles; config/default: %d, %d", len(h.clusterRoles), len(h.roles), len(k.clusterRoles), len(k.roles))
		}
		for i := range k.clusterRoles {
			if !reflect.DeepEqual(h.clusterRoles[i].Rules, k.clusterRoles[i].Rules) {
				t.Errorf("ClusterRole %s rules differ from config/default's %s:\nchart: %+v\nkustomize: %+v", h.clusterRoles[i].Name, k.clusterRoles[i].Name, h.clusterRoles[i].Rules, k.clusterRoles[i].Rules)
			}
		}
		for i := range k.roles {
			if !reflect.DeepEqual(h.roles[i].Rules, k.roles[i].Rules) {
				t.Errorf("Role %s rules differ from config/default's %s", h.roles[i].Name, k.roles[i].Name)
			}
		}
		checkBindings(t, h)
	})

	t.Run("deployment", func(t *testing.T) {
		hd, kd := h.deployment, k.deployment
		if hd.Namespace != kd.Namespace {
			t.Errorf("namespace %q, config/default %q", hd.Namespace, kd.Namespace)
		}
		if !reflect.DeepEqual(hd.Spec.Replicas, kd.Spec.Replicas) || !reflect.DeepEqual(hd.Spec.Strategy, kd.Spec.Strategy) {
			t.Errorf("replicas/strategy differ: chart %v %+v, config/default %v %+v", *hd.Spec.Replicas, hd.Spec.Strategy, *kd.Spec.Replicas, kd.Spec.Strategy)
		}
		if !reflect.DeepEqual(hd.Spec.Selector, kd.Spec.Selector) {
			t.Errorf("selector %+v, config/default %+v", hd.Spec.Selector, kd.Spec.Selector)
		}
		hp, kp := hd.Spec.Template.Spec, kd.Spec.Template.Spec
		same := func(what string, a, b any) {
			t.Helper()
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s differs:\nchart:     %+v\nkustomize: %+v", what, a, b)
			}
		}
		same("pod securityContext", hp.SecurityContext, kp.SecurityContext)
		same("affinity", hp.Affinity, kp.Affinity)
		same("topologySpreadConstraints", hp.TopologySpreadConstraints, kp.TopologySpreadConstraints)
		same("automountServiceAccountToken", hp.AutomountServiceAccountToken, kp.AutomountServiceAccountToken)
		same("enableServiceLinks", hp.EnableServiceLinks, kp.EnableServiceLinks)
		same("terminationGracePeriodSeconds", hp.TerminationGracePeriodSeconds, kp.TerminationGracePeriodSeconds)
		if len(hp.Containers) != 1 || len(kp.Containers) != 1 {
			t.Fatalf("containers: chart %d, config/default %d", len(hp.Containers), len(kp.Containers))
		}
		hc, kc := hp.Containers[0], kp.Containers[0]
		same("container name", hc.Name, kc.Name)
		same("image repository", strings.Split(hc.Image, ":")[0], strings.Split(kc.Image, ":")[0])
		same("args", hc.Args, kc.Args)
		same("env", hc.Env, kc.Env)
		same("ports", hc.Ports, kc.Ports)
		same("startupProbe", hc.StartupProbe, kc.StartupProbe)
		same("livenessProbe", hc.LivenessProbe, kc.LivenessProbe)
		same("readinessProbe", hc.ReadinessProbe, kc.ReadinessProbe)
		same("container securityContext", hc.SecurityContext, kc.SecurityContext)
		same("resources", hc.Resources, kc.Resources)
		same("volumeMounts", hc.VolumeMounts, kc.VolumeMounts)
		// The volumes: the same modes; the Secret is the Certificate's,
		// the ConfigMap the rendered one.
		if len(hp.Volumes) != len(kp.Volumes) {
			t.Fatalf("volumes: chart %d, config/default %d", len(hp.Volumes), len(kp.Volumes))
		}
		secret, _, _ := unstructured.NestedString(h.certificates[0].Object, "spec", "secretName")
		for i, v := range hp.Volumes {
			kv := kp.Volumes[i]
			if v.Name != kv.Name {
				t.Errorf("volume %d: %s, config/default %s", i, v.Name, kv.Name)
			}
			switch {
			case v.Secret != nil && kv.Secret != nil:
				same("secret volume mode", v.Secret.DefaultMode, kv.Secret.DefaultMode)
				if v.Secret.SecretName != secret {
					t.Errorf("volume %s mounts Secret %s, the Certificate writes %s", v.Name, v.Secret.SecretName, secret)
				}
			case v.ConfigMap != nil && kv.ConfigMap != nil:
				same("configMap volume mode", v.ConfigMap.DefaultMode, kv.ConfigMap.DefaultMode)
				if !slices.ContainsFunc(h.configMaps, func(c *corev1.ConfigMap) bool { return c.Name == v.ConfigMap.Name }) {
					t.Errorf("volume %s mounts ConfigMap %s, which the chart does not render", v.Name, v.ConfigMap.Name)
				}
			default:
				t.Errorf("volume %s: different sources: chart %+v, config/default %+v", v.Name, v.VolumeSource, kv.VolumeSource)
			}
		}
		if hp.ServiceAccountName == "" || !slices.ContainsFunc(h.serviceAccts, func(s *corev1.ServiceAccount) bool { return s.Name == hp.ServiceAccountName }) {
			t.Errorf("the pods run as %q, which the chart does not render", hp.ServiceAccountName)
		}
		checkPodSecurity(t, hd)
		checkProbes(t, hd)
	})

	t.Run("services", func(t *testing.T) {
		if len(h.services) != len(k.services) {
			t.Fatalf("chart renders %d Services, config/default %d", len(h.services), len(k.services))
		}
		byName := map[string]*corev1.Service{}
		for _, s := range k.services {
			byName[s.Name] = s
		}
		for _, s := range h.services {
			ks := byName[s.Name]
			if ks == nil {
				t.Errorf("Service %s not in config/default", s.Name)
				continue
			}
			if !reflect.DeepEqual(s.Spec, ks.Spec) {
				t.Errorf("Service %s spec:\nchart:     %+v\nkustomize: %+v", s.Name, s.Spec, ks.Spec)
			}
		}
	})

	t.Run("pdb", func(t *testing.T) {
		if len(h.pdbs) != 1 || len(k.pdbs) != 1 {
			t.Fatalf("PDBs: chart %d, config/default %d", len(h.pdbs), len(k.pdbs))
		}
		if !reflect.DeepEqual(h.pdbs[0].Spec, k.pdbs[0].Spec) {
			t.Errorf("PDB spec:\nchart:     %+v\nkustomize: %+v", h.pdbs[0].Spec, k.pdbs[0].Spec)
		}
	})

	t.Run("networkpolicy", func(t *testing.T) {
		if len(h.netpols) != 1 || len(k.netpols) != 1 {
			t.Fatalf("NetworkPolicies: chart %d, config/default %d", len(h.netpols), len(k.netpols))
		}
		if !reflect.DeepEqual(h.netpols[0].Spec, k.netpols[0].Spec) {
			t.Errorf("NetworkPolicy spec:\nchart:     %+v\nkustomize: %+v", h.netpols[0].Spec, k.netpols[0].Spec)
		}
	})

	t.Run("certificate", func(t *testing.T) {
		hs, ks := h.certificates[0].Object["spec"].(map[string]any), k.certificates[0].Object["spec"].(map[string]any)
		for _, f := range []string{"dnsNames", "duration", "renewBefore", "privateKey"} {
			if !reflect.DeepEqual(hs[f], ks[f]) {
				t.Errorf("Certificate spec.%s: chart %v, config/default %v", f, hs[f], ks[f])
			}
		}
		if len(h.issuers) != 1 {
			t.Errorf("want the chart's one self-signed Issuer, got %d", len(h.issuers))
		}
	})

	t.Run("config", func(t *testing.T) {
		hc, kc := configFile(t, h), configFile(t, k)
		var hv, kv any
		if err := yaml.Unmarshal([]byte(hc), &hv); err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal([]byte(kc), &kv); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(hv, kv) {
			t.Errorf("config.yaml:\nchart:\n%s\nconfig/default:\n%s", hc, kc)
		}
		if _, err := config.Parse([]byte(hc)); err != nil {
			t.Errorf("the chart's config.yaml does not load: %v", err)
		}
	})
}

// compareWebhooks checks that the chart's webhook configurations are
// config/default's: the same configuration names (each with its own
// prefix), the same webhooks with the same rules, matchConditions,
// failurePolicy, sideEffects, timeouts, selectors and paths.
func compareWebhooks(t *testing.T, h, k *rendered) {
	t.Helper()
	names := func(r *rendered) []string {
		var n []string
		for _, c := range r.validating {
			n = append(n, "validating/"+strings.TrimPrefix(c.Name, chartRelease+"-"))
		}
		for _, c := range r.mutating {
			n = append(n, "mutating/"+strings.TrimPrefix(c.Name, chartRelease+"-"))
		}
		slices.Sort(n)
		return n
	}
	if hn, kn := names(h), names(k); !slices.Equal(hn, kn) {
		t.Errorf("webhook configurations: chart %v, config/default %v", hn, kn)
	}
	type key struct{ kind, name string }
	kw := map[key]hookView{}
	for _, w := range allWebhooks(k) {
		kw[key{w.kind, w.name}] = w
	}
	hws := allWebhooks(h)
	if len(hws) != len(kw) {
		t.Errorf("chart renders %d webhooks, config/default %d", len(hws), len(kw))
	}
	for _, w := range hws {
		o, ok := kw[key{w.kind, w.name}]
		if !ok {
			t.Errorf("%s webhook %s not in config/default", w.kind, w.name)
			continue
		}
		same := func(what string, a, b any) {
			t.Helper()
			if !reflect.DeepEqual(a, b) {
				t.Errorf("webhook %s %s:\nchart:     %+v\nkustomize: %+v", w.name, what, a, b)
			}
		}
		same("rules", w.Rules, o.Rules)
		same("matchConditions", w.MatchConditions, o.MatchConditions)
		same("failurePolicy", w.FailurePolicy, o.FailurePolicy)
		same("sideEffects", w.SideEffects, o.SideEffects)
		same("timeoutSeconds", w.TimeoutSeconds, o.TimeoutSeconds)
		same("namespaceSelector", w.NamespaceSelector, o.NamespaceSelector)
		same("objectSelector", w.ObjectSelector, o.ObjectSelector)
		same("admissionReviewVersions", w.AdmissionReviewVersions, o.AdmissionReviewVersions)
		same("reinvocationPolicy", w.reinvocation, o.reinvocation)
		same("matchPolicy", w.MatchPolicy, o.MatchPolicy)
		if w.ClientConfig.Service == nil || o.ClientConfig.Service == nil {
			t.Errorf("webhook %s: no Service in clientConfig", w.name)
			continue
		}
		same("path", w.ClientConfig.Service.Path, o.ClientConfig.Service.Path)
		same("port", w.ClientConfig.Service.Port, o.ClientConfig.Service.Port)
	}
}

// hookView is one webhook of either kind, with every field compared.
type hookView struct {
	kind, name string
	admissionregistrationv1.ValidatingWebhook
	reinvocation *admissionregistrationv1.ReinvocationPolicyType
}

// allWebhooks flattens the webhook configurations of r.
func allWebhooks(r *rendered) []hookView {
	var out []hookView
	for _, c := range r.validating {
		for _, w := range c.Webhooks {
			out = append(out, hookView{kind: "validating", name: w.Name, ValidatingWebhook: w})
		}
	}
	for _, c := range r.mutating {
		for _, w := range c.Webhooks {
			out = append(out, hookView{kind: "mutating", name: w.Name, reinvocation: w.ReinvocationPolicy, ValidatingWebhook: admissionregistrationv1.ValidatingWebhook{
				Name: w.Name, ClientConfig: w.ClientConfig, Rules: w.Rules, FailurePolicy: w.FailurePolicy,
				MatchPolicy: w.MatchPolicy, NamespaceSelector: w.NamespaceSelector, ObjectSelector: w.ObjectSelector,
				SideEffects: w.SideEffects, TimeoutSeconds: w.TimeoutSeconds,
				AdmissionReviewVersions: w.AdmissionReviewVersions, MatchConditions: w.MatchConditions,
			}})
		}
	}
	return out
}

// checkBindings checks that every binding the chart renders binds a role
// it renders to the ServiceAccount the pods run as.
func checkBindings(t *testing.T, r *rendered) {
	t.Helper()
	sa := r.deployment.Spec.Template.Spec.ServiceAccountName
	subjectOK := func(s []rbacv1.Subject) bool {
		return len(s) == 1 && s[0].Kind == "ServiceAccount" && s[0].Name == sa && s[0].Namespace == r.deployment.Namespace
	}
	for _, b := range r.bindings {
		if !slices.ContainsFunc(r.clusterRoles, func(c *rbacv1.ClusterRole) bool { return c.Name == b.RoleRef.Name }) || b.RoleRef.Kind != "ClusterRole" {
			t.Errorf("ClusterRoleBinding %s binds %s %s, which the chart does not render", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
		if !subjectOK(b.Subjects) {
			t.Errorf("ClusterRoleBinding %s subjects %+v, want ServiceAccount %s/%s", b.Name, b.Subjects, r.deployment.Namespace, sa)
		}
	}
	for _, b := range r.roleBindings {
		if !slices.ContainsFunc(r.roles, func(c *rbacv1.Role) bool { return c.Name == b.RoleRef.Name && c.Namespace == b.Namespace }) || b.RoleRef.Kind != "Role" {
			t.Errorf("RoleBinding %s binds %s %s, which the chart does not render in %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name, b.Namespace)
		}
		if !subjectOK(b.Subjects) {
			t.Errorf("RoleBinding %s subjects %+v, want ServiceAccount %s/%s", b.Name, b.Subjects, r.deployment.Namespace, sa)
		}
	}
	if len(r.bindings) == 0 || len(r.roleBindings) == 0 {
		t.Errorf("chart renders %d ClusterRoleBindings and %d RoleBindings, want both", len(r.bindings), len(r.roleBindings))
	}
}

// configFile returns the config.yaml of the ConfigMap the pods mount.
func configFile(t *testing.T, r *rendered) string {
	t.Helper()
	for _, v := range r.deployment.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		for _, c := range r.configMaps {
			if c.Name == v.ConfigMap.Name {
				data, ok := c.Data["config.yaml"]
				if !ok {
					t.Fatalf("ConfigMap %s has no config.yaml", c.Name)
				}
				return data
			}
		}
	}
	t.Fatal("the pods mount no rendered ConfigMap")
	return ""
}

// TestChartPDB: for every replica count the PodDisruptionBudget can be
// met and allows at least one voluntary eviction when every pod is
// healthy, so a node drain never blocks on ipamguard.
func TestChartPDB(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		n    int32
	}{
		{"values file replicas 1", []string{"--values", "test/manifests/testdata/chart/one-replica.yaml"}, 1},
		{"values file replicas 2", []string{"--values", "test/manifests/testdata/chart/two-replicas.yaml"}, 2},
		{"default (3)", nil, 3},
		{"replicas 5", []string{"--set", "replicas=5"}, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := renderChartObjects(t, c.args...)
			var pdbs []*policyv1.PodDisruptionBudget
			var replicas int32 = -1
			for _, o := range objs {
				switch o.GetKind() {
				case "PodDisruptionBudget":
					pdbs = append(pdbs, typed[policyv1.PodDisruptionBudget](t, o))
				case "Deployment":
					if d := typed[appsv1.Deployment](t, o); d.Spec.Replicas != nil {
						replicas = *d.Spec.Replicas
					}
				}
			}
			if replicas != c.n {
				t.Fatalf("Deployment replicas %d, want %d", replicas, c.n)
			}
			for _, p := range pdbs {
				allowed := disruptionsAllowed(t, p, replicas)
				if allowed < 1 {
					t.Errorf("PDB %s allows %d evictions of %d healthy replicas: a drain would block", p.Name, allowed, replicas)
				}
				if replicas >= 2 {
					// And it protects something: at least one pod stays.
					if replicas-allowed < 1 {
						t.Errorf("PDB %s lets all %d replicas go", p.Name, replicas)
					}
				}
			}
		})
	}
}

// disruptionsAllowed is what the disruption controller computes for p
// with n healthy pods of n expected (integer or percentage values).
func disruptionsAllowed(t *testing.T, p *policyv1.PodDisruptionBudget, n int32) int32 {
	t.Helper()
	switch {
	case p.Spec.MinAvailable != nil && p.Spec.MaxUnavailable != nil:
		t.Fatalf("PDB %s sets both minAvailable and maxUnavailable", p.Name)
	case p.Spec.MinAvailable != nil:
		v, err := intOrPercent(p.Spec.MinAvailable.IntValue(), p.Spec.MinAvailable.String(), n)
		if err != "" {
			t.Fatalf("PDB %s: %s", p.Name, err)
		}
		return n - v
	case p.Spec.MaxUnavailable != nil:
		v, err := intOrPercent(p.Spec.MaxUnavailable.IntValue(), p.Spec.MaxUnavailable.String(), n)
		if err != "" {
			t.Fatalf("PDB %s: %s", p.Name, err)
		}
		return v
	}
	t.Fatalf("PDB %s sets neither minAvailable nor maxUnavailable", p.Name)
	return 0
}

// intOrPercent resolves a PDB value against n pods: percentages round up
// (as the disruption controller does).
func intOrPercent(i int, s string, n int32) (int32, string) {
	if !strings.HasSuffix(s, "%") {
		return int32(i), ""
	}
	var pct int
	for _, r := range strings.TrimSuffix(s, "%") {
		if r < '0' || r > '9' {
			return 0, "bad percentage " + s
		}
		pct = pct*10 + int(r-'0')
	}
	return int32((pct*int(n) + 99) / 100), ""
}

// TestChartSchemaRejectsTypos: values.schema.json makes a misspelt or
// misplaced key, or a value of the wrong kind, fail helm template, at
// every level of the values.
func TestChartSchemaRejectsTypos(t *testing.T) {
	for _, set := range []string{
		"replica=2",                                            // top level
		"image.tagg=v1",                                        // nested
		"config.thresholds.warnig=3",                           // the config file's contents
		"config.mode=enforcing",                                // an unknown mode
		"config.defaults.joinCidr=100.64.0.0/16",               // misspelt config key
		"webhook.overrides.vpod.failurePolicy=fail",            // a value of the wrong case
		"webhook.overrides.vpood.timeoutSeconds=5",             // an unknown webhook
		"webhook.overrides.vpod.timeoutSeconds=31",             // out of the API's range
		"replicas=0",                                           // no webhook at all
		"certManager.enable=false",                             // misspelt switch
		"reservations.mode=disk",                               // an unknown reservations mode
		"serviceMonitor.intervall=1m",                          // optional monitoring
		"topologySpreadConstraints[0].whenUnsatisfiable=Maybe", // list items
	} {
		t.Run(set, func(t *testing.T) {
			args := []string{"template", chartRelease, chartDir, "--namespace", chartNamespace, "--set", set}
			_, stderr, err := runHelm(t, args...)
			if err == nil {
				t.Fatalf("helm template --set %s succeeded; values.schema.json should refuse it", set)
			}
			if !strings.Contains(string(stderr), "schema") {
				t.Errorf("helm template --set %s failed, but not on the schema:\n%s", set, stderr)
			}
		})
	}
}

// TestChartCustomValues: the knobs of custom-values.yaml reach the
// rendered objects.
func TestChartCustomValues(t *testing.T) {
	objs := renderChartObjects(t, "--values", "test/manifests/testdata/chart/custom-values.yaml")
	r := index(t, objs)
	d := r.deployment
	p := d.Spec.Template.Spec
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2", *d.Spec.Replicas)
	}
	if p.PriorityClassName != "system-cluster-critical" {
		t.Errorf("priorityClassName %q", p.PriorityClassName)
	}
	if len(p.Tolerations) != 1 || p.Tolerations[0].Key != "node-role.kubernetes.io/control-plane" {
		t.Errorf("tolerations %+v", p.Tolerations)
	}
	if len(p.TopologySpreadConstraints) != 1 || p.TopologySpreadConstraints[0].LabelSelector == nil ||
		!reflect.DeepEqual(p.TopologySpreadConstraints[0].LabelSelector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("topologySpreadConstraints %+v: want one, selecting the pods", p.TopologySpreadConstraints)
	}
	if got := p.Containers[0].Resources.Limits.Memory().String(); got != "1Gi" {
		t.Errorf("memory limit %s, want 1Gi", got)
	}
	for flag, want := range map[string]string{
		"--audit-interval":    "10m",
		"--audit-max-objects": "500000",
		"--reservations":      "memory",
		"--reservation-ttl":   "45s",
	} {
		if v, ok := flagValue(d, flag); !ok || v != want {
			t.Errorf("%s=%q (set %v), want %q", flag, v, ok, want)
		}
	}
	if !slices.Contains(p.Containers[0].Args, "--audit-reports") {
		t.Errorf("args %v: no --audit-reports", p.Containers[0].Args)
	}
	var reportsRole bool
	for _, c := range r.clusterRoles {
		for _, rule := range c.Rules {
			if slices.Contains(rule.APIGroups, "openreports.io") && slices.Contains(rule.Resources, "clusterreports") && slices.Contains(rule.Verbs, "patch") {
				reportsRole = true
			}
		}
	}
	if !reportsRole {
		t.Error("audit.reports: no ClusterRole allows writing openreports.io clusterreports")
	}
	checkBindings(t, r)

	// The PDB of 2 replicas keeps one.
	if len(r.pdbs) != 1 || disruptionsAllowed(t, r.pdbs[0], 2) != 1 {
		t.Errorf("PDBs %+v: want one allowing 1 eviction of 2", r.pdbs)
	}

	// The config file.
	cf := configFile(t, r)
	if _, err := config.Parse([]byte(cf)); err != nil {
		t.Fatalf("the rendered config.yaml does not load: %v", err)
	}
	for _, s := range []string{"mode: audit", "profile: multi-tenant", "warning: 20", "critical: 8", "subnet-gateway-in-use: warn", "pendingHolderTimeout: 2m", "crossNamespaceNames: true", "- legacy"} {
		if !strings.Contains(cf, s) {
			t.Errorf("config.yaml lacks %q:\n%s", s, cf)
		}
	}

	// The webhooks.
	for _, w := range allWebhooks(r) {
		short := strings.SplitN(w.name, ".", 2)[0]
		if !excludesNamespace(w.NamespaceSelector, chartNamespace) || !excludesNamespace(w.NamespaceSelector, "kube-ovn") || !excludesNamespace(w.NamespaceSelector, "kube-system") {
			t.Errorf("webhook %s: namespaceSelector %+v does not exclude %s, kube-system and kube-ovn", w.name, w.NamespaceSelector, chartNamespace)
		}
		if w.NamespaceSelector == nil || !slices.ContainsFunc(w.NamespaceSelector.MatchExpressions, func(e metav1.LabelSelectorRequirement) bool {
			return e.Key == "ipamguard.io/skip" && e.Operator == "DoesNotExist"
		}) {
			t.Errorf("webhook %s: namespaceSelector %+v lacks the extra expression", w.name, w.NamespaceSelector)
		}
		if w.ObjectSelector == nil || w.ObjectSelector.MatchLabels["ipamguard.io/judged"] != "true" {
			t.Errorf("webhook %s: objectSelector %+v", w.name, w.ObjectSelector)
		}
		switch short {
		case "vpod":
			if *w.FailurePolicy != admissionregistrationv1.Ignore || *w.TimeoutSeconds != 10 {
				t.Errorf("vpod: failurePolicy %s timeout %d, want Ignore 10", *w.FailurePolicy, *w.TimeoutSeconds)
			}
		case "vsubnet":
			if *w.FailurePolicy != admissionregistrationv1.Fail || *w.TimeoutSeconds != 8 {
				t.Errorf("vsubnet: failurePolicy %s timeout %d, want Fail (generated) 8", *w.FailurePolicy, *w.TimeoutSeconds)
			}
		}
	}

	// The optional monitoring objects.
	kinds := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		kinds[o.GetKind()+"/"+o.GetName()] = o
	}
	for _, want := range []string{"ServiceMonitor/ipamguard-metrics", "PrometheusRule/ipamguard-rules", "ConfigMap/ipamguard-grafana-dashboard", "Namespace/" + chartNamespace} {
		if kinds[want] == nil {
			t.Errorf("custom values: %s not rendered", want)
		}
	}
	if o := kinds["ConfigMap/ipamguard-grafana-dashboard"]; o != nil {
		root, err := devenv.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(root, "config/prometheus/grafana-dashboard.json"))
		if err != nil {
			t.Fatal(err)
		}
		got, _, _ := unstructured.NestedString(o.Object, "data", "ipamguard.json")
		if strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
			t.Error("the Grafana dashboard ConfigMap is not config/prometheus/grafana-dashboard.json")
		}
	}
}

// TestChartNoCertManager: with certManager.enabled=false the chart renders
// no cert-manager object and mounts the given Secret, with the given CA
// bundle in every webhook; without a Secret name it refuses to render.
func TestChartNoCertManager(t *testing.T) {
	objs := renderChartObjects(t, "--set", "certManager.enabled=false", "--set", "tls.secretName=my-tls", "--set", "tls.caBundle=Zm9v")
	for _, o := range objs {
		if strings.HasPrefix(o.GetAPIVersion(), "cert-manager.io/") {
			t.Errorf("certManager.enabled=false renders %s %s", o.GetKind(), o.GetName())
		}
		if _, ok := o.GetAnnotations()["cert-manager.io/inject-ca-from"]; ok {
			t.Errorf("certManager.enabled=false: %s %s has the cainjector annotation", o.GetKind(), o.GetName())
		}
		if o.GetKind() == "ValidatingWebhookConfiguration" || o.GetKind() == "MutatingWebhookConfiguration" {
			hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
			for _, h := range hooks {
				ca, _, _ := unstructured.NestedString(h.(map[string]any), "clientConfig", "caBundle")
				if ca != "Zm9v" {
					t.Errorf("%s: a webhook's caBundle is %q, want the tls.caBundle value", o.GetName(), ca)
				}
			}
		}
		if o.GetKind() == "Deployment" {
			vols, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
			var found bool
			for _, v := range vols {
				if s, _, _ := unstructured.NestedString(v.(map[string]any), "secret", "secretName"); s == "my-tls" {
					found = true
				}
			}
			if !found {
				t.Error("certManager.enabled=false: the pods do not mount Secret my-tls")
			}
		}
	}
	_, stderr, err := runHelm(t, "template", chartRelease, chartDir, "--namespace", chartNamespace, "--set", "certManager.enabled=false")
	if err == nil || !strings.Contains(string(stderr), "tls.secretName") {
		t.Errorf("certManager.enabled=false without tls.secretName: err %v, want a refusal naming tls.secretName:\n%s", err, stderr)
	}
}

// selfManagedValues select self-managed certificates (certs.mode).
const selfManagedValues = "test/manifests/testdata/chart/self-managed-certs.yaml"

// TestChartSelfManagedCerts: certs.mode=selfManaged renders what
// config/selfcert does: no cert-manager object, annotation or mounted
// Secret, --cert-mode=self-managed, and the RBAC of that mode for this
// release's Secret and webhook configurations (checkSelfCert); the
// release's names reach the flags.
func TestChartSelfManagedCerts(t *testing.T) {
	objs := renderChartObjects(t, "--values", selfManagedValues)
	checkSelfCert(t, objs)
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		d := typed[appsv1.Deployment](t, o)
		for flag, want := range map[string]string{
			"--cert-secret":              "ipamguard-webhook-server-cert",
			"--cert-service-name":        "ipamguard-webhook-service",
			"--cert-validating-webhooks": "ipamguard-validating-webhook-configuration",
			"--cert-mutating-webhooks":   "ipamguard-mutating-webhook-configuration",
			"--cert-validity":            "2160h",
		} {
			if v, ok := flagValue(d, flag); !ok || v != want {
				t.Errorf("%s=%q (set %v), want %q", flag, v, ok, want)
			}
		}
	}
	_, stderr, err := runHelm(t, "template", chartRelease, chartDir, "--namespace", chartNamespace, "--set", "certs.mode=self-managed")
	if err == nil || !strings.Contains(string(stderr), "certs/mode") {
		t.Errorf("certs.mode=self-managed: err %v, want a schema refusal naming certs/mode:\n%s", err, stderr)
	}
}

// TestChartInstallDryRun applies the chart's renders (default values, and
// custom-values.yaml with every optional object) with a server-side dry
// run to a real API server, as TestInstallDryRun does for config/.
func TestChartInstallDryRun(t *testing.T) {
	helmPath(t)
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
	// helm install --create-namespace creates the namespace first; so
	// does this test, for real, since a dry run creates nothing.
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": chartNamespace},
	}}
	createNamespaces(t, env.Client, []*unstructured.Unstructured{ns})

	for _, c := range []struct {
		name string
		args []string
	}{
		{"default values", nil},
		{"custom values", []string{"--values", "test/manifests/testdata/chart/custom-values.yaml"}},
		{"without cert-manager", []string{"--set", "certManager.enabled=false", "--set", "tls.secretName=ipamguard-tls"}},
		{"self-managed certificates", []string{"--values", selfManagedValues}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := renderChart(t, c.args...)
			objs, err := devenv.DecodeManifests(out)
			if err != nil {
				t.Fatal(err)
			}
			wantDryRunApplied(t, env.KubectlPath, kubeconfig, "the chart ("+c.name+")", out, objs)
		})
	}
}
