package review_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/pkg/review"
)

// The same two webhooks on ConfigMaps, one failing open (namespace
// "open"), one failing closed (namespace "closed").
const failurePolicyWebhooks = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: review-failure-policy
webhooks:
- name: open.review.ipamguard.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Ignore
  timeoutSeconds: 5
  clientConfig:
    service: {name: webhook, namespace: default, path: /judge}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: open}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
- name: closed.review.ipamguard.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 5
  clientConfig:
    service: {name: webhook, namespace: default, path: /judge}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: closed}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
`

// judge answers by the ConfigMap's name: "unjudged-*" could not be judged
// (as before the inventory has synced), "refused-*" is refused, anything
// else allowed.
type judge struct{}

func (judge) Handle(_ context.Context, req admission.Request) admission.Response {
	switch {
	case strings.HasPrefix(req.Name, "unjudged-"):
		return admission.Errored(http.StatusServiceUnavailable, errors.New("ipamguard is starting: its view has not synced yet"))
	case strings.HasPrefix(req.Name, "refused-"):
		return admission.Denied("refused by the rules")
	}
	return admission.Allowed("")
}

// TestFailurePolicyOnRealAPIServer shows what the API server does with our
// answers: a request the webhook could not judge follows the failure
// policy (admitted when Ignore, refused with the message when Fail), a
// refusal is a refusal under both.
func TestFailurePolicyOnRealAPIServer(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "webhooks.yaml"), []byte(failurePolicyWebhooks), 0o600); err != nil {
		t.Fatal(err)
	}
	env := devenvtest.Start(t, devenv.Options{WebhookPaths: []string{dir}})
	srv := ctrlwebhook.NewServer(ctrlwebhook.Options{Host: env.WebhookHost, Port: env.WebhookPort, CertDir: env.WebhookCertDir})
	srv.Register("/judge", review.NewHandler(judge{}, testr.New(t), nil))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("webhook server: %v", err)
		}
	})
	c := env.Client
	for _, ns := range []string{"open", "closed"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	create := func(ns, name string) error {
		return c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	}
	// Wait until the webhook is called (a refusal comes back).
	devenvtest.Eventually(t, "the webhook to be called", 30*time.Second, func() error {
		err := create("closed", "refused-probe")
		if err == nil || !strings.Contains(err.Error(), "refused by the rules") {
			return fmt.Errorf("probe not refused by the webhook: %v", err)
		}
		return nil
	})

	if err := create("open", "unjudged-1"); err != nil {
		t.Errorf("failurePolicy Ignore: a request the webhook could not judge was refused: %v", err)
	}
	err := create("closed", "unjudged-1")
	if err == nil || !strings.Contains(err.Error(), "failed calling webhook") || !strings.Contains(err.Error(), "has not synced yet") {
		t.Errorf("failurePolicy Fail: got %v, want a failed call naming the reason", err)
	}
	for _, ns := range []string{"open", "closed"} {
		if err := create(ns, "refused-1"); err == nil || !strings.Contains(err.Error(), "refused by the rules") {
			t.Errorf("%s: a refusal got %v, want it refused", ns, err)
		}
		if err := create(ns, "fine-1"); err != nil {
			t.Errorf("%s: an allowed request got %v", ns, err)
		}
	}
}
