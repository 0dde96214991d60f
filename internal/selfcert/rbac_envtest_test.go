package selfcert_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/internal/selfcert"
)

// TestRBACIsEnough runs the Manager (every replica's watch and the
// leader's writes) as the webhook's ServiceAccount with no permission but
// config/selfcert/rbac.yaml: the name-restricted watch of the Secret, its
// creation and update, and the caBundle of the two configurations by name
// must all be allowed, and another configuration must stay out of reach.
func TestRBACIsEnough(t *testing.T) {
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	env := devenvtest.Start(t, devenv.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "config", "selfcert", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := devenv.DecodeManifests(data)
	if err != nil {
		t.Fatalf("config/selfcert/rbac.yaml: %v", err)
	}
	for _, u := range objs {
		if err := env.Client.Create(ctx, u); err != nil {
			t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	// The two configurations the rules name, and one they do not; their
	// webhook matches nothing that is ever created.
	hook := admissionregv1.ValidatingWebhook{
		Name: "nothing.ipamguard.io", AdmissionReviewVersions: []string{"v1"}, SideEffects: ptr.To(admissionregv1.SideEffectClassNone),
		ClientConfig: admissionregv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1/none")},
		Rules: []admissionregv1.RuleWithOperations{{Operations: []admissionregv1.OperationType{admissionregv1.Create},
			Rule: admissionregv1.Rule{APIGroups: []string{"nothing.invalid"}, APIVersions: []string{"v1"}, Resources: []string{"nothings"}}}},
	}
	for _, name := range []string{"ipamguard-validating-webhook-configuration", "someone-else"} {
		if err := env.Client.Create(ctx, &admissionregv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}, Webhooks: []admissionregv1.ValidatingWebhook{hook}}); err != nil {
			t.Fatal(err)
		}
	}
	mhook := admissionregv1.MutatingWebhook{Name: hook.Name, AdmissionReviewVersions: hook.AdmissionReviewVersions, SideEffects: hook.SideEffects, ClientConfig: hook.ClientConfig, Rules: hook.Rules}
	if err := env.Client.Create(ctx, &admissionregv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "ipamguard-mutating-webhook-configuration"}, Webhooks: []admissionregv1.MutatingWebhook{mhook}}); err != nil {
		t.Fatal(err)
	}

	sa := rest.CopyConfig(env.Config)
	sa.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + testNamespace + ":ipamguard-webhook"}
	cs, err := kubernetes.NewForConfig(sa)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(validating []string) *selfcert.Manager {
		m, err := selfcert.New(selfcert.Options{
			Client: cs, Namespace: testNamespace, SecretName: testSecret,
			Names:              selfcert.ServiceNames("ipamguard-webhook-service", testNamespace, nil),
			ValidatingWebhooks: validating, MutatingWebhooks: []string{"ipamguard-mutating-webhook-configuration"},
			Settle: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := mk([]string{"ipamguard-validating-webhook-configuration"})
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{m.Serve, m.Lead} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ctx) }()
	}
	t.Cleanup(wg.Wait)
	t.Cleanup(cancel)
	devenvtest.Eventually(t, "the certificate is loaded through the watch", 30*time.Second, func() error { return m.ReadyCheck(nil) })
	devenvtest.Eventually(t, "both caBundles are set", 10*time.Second, func() error {
		var v admissionregv1.ValidatingWebhookConfiguration
		if err := env.Client.Get(ctx, clientKey("ipamguard-validating-webhook-configuration"), &v); err != nil {
			return err
		}
		var mu admissionregv1.MutatingWebhookConfiguration
		if err := env.Client.Get(ctx, clientKey("ipamguard-mutating-webhook-configuration"), &mu); err != nil {
			return err
		}
		if len(v.Webhooks[0].ClientConfig.CABundle) == 0 || len(mu.Webhooks[0].ClientConfig.CABundle) == 0 {
			return errNotYet
		}
		return nil
	})

	// Another configuration is out of reach.
	other := mk([]string{"someone-else"})
	if _, err := other.Reconcile(ctx); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("reconciling a configuration the Role does not name: %v, want forbidden", err)
	}
	// And so is any other Secret's content.
	if _, err := cs.CoreV1().Secrets(testNamespace).Get(ctx, "other", metav1.GetOptions{}); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("reading another Secret: %v, want forbidden", err)
	}
}
