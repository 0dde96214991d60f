package webhook_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/metrics"
	"github.com/ipamguard/ipamguard/pkg/webhook"
)

// The handler tests below need no control plane: they feed raw
// AdmissionReview JSON to the defaulters and apply the returned patch the
// way the API server does.

// mutateDeps returns handler dependencies over a small inventory.
func mutateDeps(t *testing.T, synced bool, cfgYAML string) webhook.Deps {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := kubeovnv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	store := inventory.New("ovn-cluster")
	store.UpsertSubnet(&kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: "ovn-default"},
		Spec: kubeovnv1.SubnetSpec{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Vpc: "ovn-cluster"}})
	store.UpsertNamespace(&metav1.ObjectMeta{Name: "apps"})
	cfg := config.Default()
	if cfgYAML != "" {
		var err error
		if cfg, err = config.Parse([]byte(cfgYAML)); err != nil {
			t.Fatal(err)
		}
	}
	return webhook.Deps{
		Store:  store,
		Synced: func() bool { return synced },
		Config: config.NewLive(cfg),
	}
}

// review decodes an AdmissionReview as the API server sends it.
func review(t *testing.T, js string) admission.Request {
	t.Helper()
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal([]byte(js), &ar); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return admission.Request{AdmissionRequest: *ar.Request}
}

// patched applies a response's patch to the request's object.
func patched(t *testing.T, req admission.Request, resp admission.Response) []byte {
	t.Helper()
	if !resp.Allowed {
		t.Fatalf("not allowed: %+v", resp.Result)
	}
	if len(resp.Patches) > 0 {
		t.Fatalf("patch operations were re-derived by controller-runtime: %v", resp.Patches)
	}
	if resp.Patch == nil {
		return req.Object.Raw
	}
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type %v", resp.PatchType)
	}
	p, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatalf("patch %s: %v", resp.Patch, err)
	}
	out, err := p.Apply(req.Object.Raw)
	if err != nil {
		t.Fatalf("apply %s: %v", resp.Patch, err)
	}
	return out
}

// compactMember returns one member of a JSON object, compacted.
func compactMember(t *testing.T, raw []byte, path ...string) string {
	t.Helper()
	cur := json.RawMessage(raw)
	for _, p := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(cur, &m); err != nil {
			t.Fatalf("%s: %v", cur, err)
		}
		cur = m[p]
	}
	var b bytes.Buffer
	if len(cur) > 0 {
		if err := json.Compact(&b, cur); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

const subnetReview = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
 "uid":"u1","kind":{"group":"kubeovn.io","version":"v1","kind":"Subnet"},
 "resource":{"group":"kubeovn.io","version":"v1","resource":"subnets"},
 "name":"future","operation":"CREATE","userInfo":{"username":"alice"},
 "object":{"apiVersion":"kubeovn.io/v1","kind":"Subnet","metadata":{"name":"future","uid":"x"},
  "spec":{"cidrBlock":"FD00:10::5/64,10.60.0.7/24","excludeIps":["10.60.0.9","10.60.0.2..10.60.0.8"],
   "aFieldFromV1_99":{"n":6.5533e+04,"list":[1.0,"a"]},"natOutgoing":true},
  "status":{"v4availableIPs":6.5533e+04},"topLevelFromV1_99":"kept"}}}`

func TestSubnetDefaulterHandler(t *testing.T) {
	t.Parallel()

	t.Run("create: canonical fields patched, everything else byte-identical", func(t *testing.T) {
		t.Parallel()
		req := review(t, subnetReview)
		resp := webhook.NewSubnetDefaulter(mutateDeps(t, true, "")).Handle(t.Context(), req)
		out := patched(t, req, resp)
		for path, want := range map[string]string{
			"spec/cidrBlock":  `"10.60.0.0/24,fd00:10::/64"`,
			"spec/gateway":    `"10.60.0.1,fd00:10::1"`,
			"spec/protocol":   `"Dual"`,
			"spec/excludeIps": `["10.60.0.1","10.60.0.2..10.60.0.8","10.60.0.9","fd00:10::1"]`,
		} {
			if got := compactMember(t, out, strings.Split(path, "/")...); got != want {
				t.Errorf("%s = %s, want %s", path, got, want)
			}
		}
		for _, path := range [][]string{{"metadata"}, {"status"}, {"topLevelFromV1_99"}, {"spec", "aFieldFromV1_99"}, {"spec", "natOutgoing"}} {
			if b, a := compactMember(t, req.Object.Raw, path...), compactMember(t, out, path...); a != b {
				t.Errorf("%v changed: %s -> %s", path, b, a)
			}
		}
		want := []string{
			"spec.cidrBlock FD00:10::5/64,10.60.0.7/24 normalised to 10.60.0.0/24,fd00:10::/64",
			"spec.gateway (empty) defaulted to 10.60.0.1,fd00:10::1 (the first usable address of each block)",
			"spec.protocol (empty) defaulted to Dual (from spec.cidrBlock)",
			"spec.excludeIps [10.60.0.9, 10.60.0.2..10.60.0.8] normalised to [10.60.0.1, 10.60.0.2..10.60.0.8, 10.60.0.9, fd00:10::1] (overlapping ranges merged, the gateway added and sorted as Kube-OVN stores them)",
		}
		if !slices.Equal(resp.Warnings, want) {
			t.Errorf("warnings:\n%q\nwant:\n%q", resp.Warnings, want)
		}
	})

	t.Run("the inventory need not have synced: subnets are judged on their own", func(t *testing.T) {
		t.Parallel()
		req := review(t, subnetReview)
		if resp := webhook.NewSubnetDefaulter(mutateDeps(t, false, "")).Handle(t.Context(), req); !resp.Allowed || resp.Patch == nil {
			t.Errorf("unsynced: %+v", resp)
		}
	})

	t.Run("update: an unchanged cidrBlock is not rewritten", func(t *testing.T) {
		t.Parallel()
		obj := `{"spec":{"cidrBlock":"FD00:70::/64","gateway":"FD00:70::FE","protocol":"IPv6"}}`
		old := `{"spec":{"cidrBlock":"FD00:70::/64","gateway":"fd00:70::1","protocol":"IPv6"}}`
		req := review(t, `{"request":{"uid":"u2","name":"v6","operation":"UPDATE","object":`+obj+`,"oldObject":`+old+`}}`)
		resp := webhook.NewSubnetDefaulter(mutateDeps(t, true, "")).Handle(t.Context(), req)
		out := patched(t, req, resp)
		if got := compactMember(t, out, "spec", "cidrBlock"); got != `"FD00:70::/64"` {
			t.Errorf("cidrBlock rewritten to %s", got)
		}
		if got := compactMember(t, out, "spec", "gateway"); got != `"fd00:70::fe"` {
			t.Errorf("changed gateway not canonicalised: %s", got)
		}
	})

	t.Run("audit mode warns and changes nothing", func(t *testing.T) {
		t.Parallel()
		req := review(t, subnetReview)
		resp := webhook.NewSubnetDefaulter(mutateDeps(t, true, "mode: audit\n")).Handle(t.Context(), req)
		if resp.Patch != nil || len(resp.Warnings) != 4 || !strings.HasSuffix(resp.Warnings[0], " (audit mode: not applied)") {
			t.Errorf("audit: patch %s, warnings %q", resp.Patch, resp.Warnings)
		}
	})

	t.Run("exempt users and mode off are left alone", func(t *testing.T) {
		t.Parallel()
		for _, cfg := range []string{"exempt: {users: [alice]}\n", "mode: off\n"} {
			req := review(t, subnetReview)
			resp := webhook.NewSubnetDefaulter(mutateDeps(t, true, cfg)).Handle(t.Context(), req)
			if !resp.Allowed || resp.Patch != nil || len(resp.Warnings) != 0 {
				t.Errorf("%s: %+v", cfg, resp)
			}
		}
	})

	t.Run("delete is not defaulted", func(t *testing.T) {
		t.Parallel()
		req := review(t, `{"request":{"uid":"u3","name":"x","operation":"DELETE","oldObject":{"spec":{"cidrBlock":"10.0.0.5/24"}}}}`)
		if resp := webhook.NewSubnetDefaulter(mutateDeps(t, true, "")).Handle(t.Context(), req); !resp.Allowed || resp.Patch != nil {
			t.Errorf("delete: %+v", resp)
		}
	})

	t.Run("malformed object", func(t *testing.T) {
		t.Parallel()
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{UID: "u4", Operation: admissionv1.Create}}
		req.Object.Raw = []byte(`{"spec":`)
		if resp := webhook.NewSubnetDefaulter(mutateDeps(t, true, "")).Handle(t.Context(), req); resp.Allowed || resp.Result.Code != http.StatusBadRequest {
			t.Errorf("malformed: %+v", resp)
		}
	})
}

const podReview = `{"request":{"uid":"p1","kind":{"group":"","version":"v1","kind":"Pod"},
 "resource":{"group":"","version":"v1","resource":"pods"},"namespace":"apps","name":"web","operation":"CREATE",
 "object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"apps","annotations":{
   "ovn.kubernetes.io/ip_address":" 10.16.0.5/16 ","ovn.kubernetes.io/logical_switch":"ovn-default","example.com/x":" y "}},
  "spec":{"containers":[{"name":"c","image":"i","fieldFromK8s1_99":{"n":1.50}}]}}}}`

func TestPodDefaulterHandler(t *testing.T) {
	t.Parallel()

	t.Run("prefix of the resolved subnet stripped, the rest byte-identical", func(t *testing.T) {
		t.Parallel()
		req := review(t, podReview)
		resp := webhook.NewPodDefaulter(mutateDeps(t, true, "")).Handle(t.Context(), req)
		out := patched(t, req, resp)
		if got := compactMember(t, out, "metadata", "annotations"); got != `{"ovn.kubernetes.io/ip_address":"10.16.0.5","ovn.kubernetes.io/logical_switch":"ovn-default","example.com/x":" y "}` {
			t.Errorf("annotations %s", got)
		}
		if b, a := compactMember(t, req.Object.Raw, "spec"), compactMember(t, out, "spec"); a != b {
			t.Errorf("spec changed: %s -> %s", b, a)
		}
		want := []string{`metadata.annotations[ovn.kubernetes.io/ip_address] " 10.16.0.5/16 " normalised to 10.16.0.5`}
		if !slices.Equal(resp.Warnings, want) {
			t.Errorf("warnings %q, want %q", resp.Warnings, want)
		}
	})

	t.Run("before the inventory has synced the failure policy decides (refuses: mpod fails closed)", func(t *testing.T) {
		t.Parallel()
		resp := webhook.NewPodDefaulter(mutateDeps(t, false, "")).Handle(t.Context(), review(t, podReview))
		if resp.Allowed || resp.Result.Code != http.StatusServiceUnavailable {
			t.Errorf("unsynced: %+v", resp)
		}
	})

	t.Run("namespace in mode off is left alone", func(t *testing.T) {
		t.Parallel()
		d := mutateDeps(t, true, "")
		d.Store.UpsertNamespace(&metav1.ObjectMeta{Name: "apps", Labels: map[string]string{"ipamguard.io/mode": "off"}})
		if resp := webhook.NewPodDefaulter(d).Handle(t.Context(), review(t, podReview)); resp.Patch != nil || len(resp.Warnings) > 0 {
			t.Errorf("mode off: %+v", resp)
		}
	})
}

// TestSubnetDefaultingOnRealAPIServer: the stored subnets are canonical,
// the warnings reach the client and kubectl, and the validator judges the
// canonical form (mutating webhooks run first).
func TestSubnetDefaultingOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	wc, rec := s.warningClient(t, "")

	t.Run("subnet stored canonical, warnings name every change", func(t *testing.T) {
		rec.take()
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "kubeovn.io/v1", "kind": "Subnet",
			"metadata": map[string]any{"name": "canon"},
			"spec": map[string]any{"cidrBlock": "FD00:10::5/64,10.60.0.7/24", "aFieldFromV1_99": "kept",
				"excludeIps": []any{"10.60.0.20", "10.60.0.10..10.60.0.19"}},
		}}
		if err := wc.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(u.GroupVersionKind())
		if err := s.c.Get(ctx, client.ObjectKey{Name: "canon"}, got); err != nil {
			t.Fatal(err)
		}
		spec, _, _ := unstructured.NestedMap(got.Object, "spec")
		for k, want := range map[string]any{
			"cidrBlock": "10.60.0.0/24,fd00:10::/64", "gateway": "10.60.0.1,fd00:10::1", "protocol": "Dual",
			"excludeIps": []any{"10.60.0.1", "10.60.0.10..10.60.0.19", "10.60.0.20", "fd00:10::1"}, "aFieldFromV1_99": "kept",
		} {
			if b1, _ := json.Marshal(spec[k]); string(b1) != mustJSON(t, want) {
				t.Errorf("stored spec.%s = %s, want %s", k, b1, mustJSON(t, want))
			}
		}
		want := []string{
			"spec.cidrBlock FD00:10::5/64,10.60.0.7/24 normalised to 10.60.0.0/24,fd00:10::/64",
			"spec.gateway (empty) defaulted to 10.60.0.1,fd00:10::1 (the first usable address of each block)",
			"spec.protocol (empty) defaulted to Dual (from spec.cidrBlock)",
			"spec.excludeIps [10.60.0.20, 10.60.0.10..10.60.0.19] normalised to [10.60.0.1, 10.60.0.10..10.60.0.19, 10.60.0.20, fd00:10::1] (overlapping ranges merged, the gateway added and sorted as Kube-OVN stores them)",
		}
		if got := rec.take(); !slices.Equal(got, want) {
			t.Errorf("warnings:\n%q\nwant:\n%q", got, want)
		}
	})

	t.Run("an update that changes nothing is not defaulted", func(t *testing.T) {
		var sn kubeovnv1.Subnet
		if err := s.c.Get(ctx, client.ObjectKey{Name: "canon"}, &sn); err != nil {
			t.Fatal(err)
		}
		sn.Labels = map[string]string{"touched": "yes"}
		rec.take()
		if err := wc.Update(ctx, &sn); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(); len(got) != 0 {
			t.Errorf("warnings %q", got)
		}
	})

	t.Run("ambiguous input is left for the validator", func(t *testing.T) {
		err := wc.Create(ctx, newSubnet("two-v4", "10.90.0.5/24,10.91.0.0/24"))
		// Untouched: the denial quotes the user's own text.
		wantDenied(t, err, http.StatusUnprocessableEntity, "spec.cidrBlock", `"10.90.0.5/24": host bits are set`, "[subnet-invalid]")
	})

	t.Run("kubectl shows what was normalised", func(t *testing.T) {
		kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
		if err := s.env.WriteKubeconfig(kubeconfig); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, s.env.KubectlPath, "apply", "-f", "-")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
		cmd.Stdin = strings.NewReader("apiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata:\n  name: hb\nspec:\n  cidrBlock: 10.90.0.5/24\n")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl apply: %v\n%s", err, stderr.String())
		}
		for _, want := range []string{
			"Warning: spec.cidrBlock 10.90.0.5/24 normalised to 10.90.0.0/24",
			"Warning: spec.gateway (empty) defaulted to 10.90.0.1",
		} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("kubectl stderr:\n%s\nwant it to contain %q", stderr.String(), want)
			}
		}
		t.Logf("kubectl says:\n%s%s", stderr.String(), stdout.String())
	})
}

// TestPodDefaultingOnRealAPIServer: a pod's address annotation is stored
// canonical, the warning reaches the client, and the validator judges the
// canonical form.
func TestPodDefaultingOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	wc, rec := s.warningClient(t, "")

	t.Run("pod annotation stored canonical and admitted", func(t *testing.T) {
		if err := s.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "canon-apps"}}); err != nil {
			t.Fatal(err)
		}
		const key = "ovn.kubernetes.io/ip_address"
		rec.take()
		// The validator refuses "10.16.0.55/16" (a CIDR); it only ever
		// sees the defaulted address.
		devenvtest.Eventually(t, "namespace in the inventory", waitTimeout, func() error {
			return wc.Create(ctx, newPod("canon-apps", "probe", map[string]string{key: "10.16.0.54/16"}), client.DryRunAll)
		})
		rec.take()
		if err := wc.Create(ctx, newPod("canon-apps", "web", map[string]string{key: " 10.16.0.55/16"})); err != nil {
			t.Fatal(err)
		}
		var p corev1.Pod
		if err := s.c.Get(ctx, client.ObjectKey{Namespace: "canon-apps", Name: "web"}, &p); err != nil {
			t.Fatal(err)
		}
		if got := p.Annotations[key]; got != "10.16.0.55" {
			t.Errorf("stored %s = %q", key, got)
		}
		want := `metadata.annotations[ovn.kubernetes.io/ip_address] " 10.16.0.55/16" normalised to 10.16.0.55`
		if got := rec.take(); !slices.Contains(got, want) {
			t.Errorf("warnings %q, want %q", got, want)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDefaultingMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	with := func(cfg string) *webhook.Handler {
		d := mutateDeps(t, true, cfg)
		d.Metrics = m
		return webhook.NewSubnetDefaulter(d)
	}
	bad := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{UID: "u4", Operation: admissionv1.Create}}
	bad.Object.Raw = []byte(`{"spec":`)
	canonical := review(t, `{"request":{"uid":"u5","name":"ok","operation":"CREATE","object":{"spec":{"cidrBlock":"10.61.0.0/24","gateway":"10.61.0.1","protocol":"IPv4","excludeIps":["10.61.0.1"]}}}}`)
	with("").Handle(t.Context(), review(t, subnetReview))
	with("").Handle(t.Context(), review(t, subnetReview))
	with("mode: audit\n").Handle(t.Context(), review(t, subnetReview))
	with("").Handle(t.Context(), canonical)
	with("").Handle(t.Context(), bad)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	durations := 0
	for _, mf := range fams {
		for _, sample := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range sample.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["kind"] != "Subnet" || l["operation"] != "CREATE" {
				continue
			}
			switch mf.GetName() {
			case metrics.DefaultingRequestsName:
				got[l["result"]] = sample.GetCounter().GetValue()
			case metrics.DefaultingDurationName:
				durations += int(sample.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{metrics.DefaultPatched: 2, metrics.DefaultAudited: 1, metrics.DefaultUnchanged: 1, metrics.DefaultError: 1}
	if !maps.Equal(got, want) {
		t.Errorf("%s by result: %v, want %v", metrics.DefaultingRequestsName, got, want)
	}
	if durations != 5 {
		t.Errorf("%s counted %d requests, want 5", metrics.DefaultingDurationName, durations)
	}
}
