package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
)

// TestWebhookIdentity installs the identity make run gives the webhook and
// checks, through the kubeconfig the webhook gets, that it is the
// install's ServiceAccount, that the self-managed certificates' RBAC is
// granted on the names devenv installs the webhook configurations under,
// and that the token file is renewed and the renewed token works.
func TestWebhookIdentity(t *testing.T) {
	env := devenvtest.Start(t, devenv.Options{})
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	runDir := t.TempDir()
	id, err := installWebhookIdentity(t.Context(), env, root, runDir)
	if err != nil {
		t.Fatal(err)
	}
	clientset := func() *kubernetes.Clientset {
		t.Helper()
		cfg, err := clientcmd.BuildConfigFromFlags("", id.KubeconfigPath)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.BearerTokenFile != id.tokenPath {
			t.Fatalf("the webhook's kubeconfig reads its token from %q, want %s", cfg.BearerTokenFile, id.tokenPath)
		}
		if kc, err := os.ReadFile(id.KubeconfigPath); err != nil || bytes.Contains(kc, []byte(cfg.BearerToken)) {
			t.Fatalf("the webhook's kubeconfig holds the token itself (%v)", err)
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	whoami := func(cs *kubernetes.Clientset) {
		t.Helper()
		who, err := cs.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := "system:serviceaccount:ipamguard-system:ipamguard-webhook"; who.Status.UserInfo.Username != want {
			t.Fatalf("the webhook's kubeconfig authenticates as %q, want %q", who.Status.UserInfo.Username, want)
		}
	}
	cs := clientset()
	whoami(cs)
	for _, c := range []struct {
		attrs   authorizationv1.ResourceAttributes
		allowed bool
	}{
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "admissionregistration.k8s.io",
			Resource: "validatingwebhookconfigurations", Name: devenv.ValidatingWebhookConfiguration}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "admissionregistration.k8s.io",
			Resource: "mutatingwebhookconfigurations", Name: devenv.MutatingWebhookConfiguration}, true},
		{authorizationv1.ResourceAttributes{Namespace: id.Namespace, Verb: "update", Resource: "secrets", Name: certSecret}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "admissionregistration.k8s.io",
			Resource: "validatingwebhookconfigurations", Name: "someone-else"}, false},
		{authorizationv1.ResourceAttributes{Namespace: id.Namespace, Verb: "get", Resource: "secrets", Name: "someone-else"}, false},
	} {
		r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(), &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &c.attrs}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed != c.allowed {
			t.Errorf("%s %s %q in namespace %q: allowed %v, want %v", c.attrs.Verb, c.attrs.Resource, c.attrs.Name, c.attrs.Namespace, r.Status.Allowed, c.allowed)
		}
	}

	// Issued now for an hour: due in 48 minutes.
	if due := time.Until(id.renewAt); due < 47*time.Minute || due > 48*time.Minute {
		t.Errorf("the token is due for renewal in %v, want 48 minutes (4/5 of an hour)", due)
	}
	before, err := os.ReadFile(id.tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	// start runs keepTokenFresh looking every 100 ms; stop ends it and
	// waits, also when the test fails first.
	start := func() (done <-chan struct{}, stop func()) {
		ctx, cancel := context.WithCancel(t.Context())
		done = id.keepTokenFresh(ctx, env, 100*time.Millisecond, testr.New(t))
		var once sync.Once
		stop = func() { once.Do(func() { cancel(); <-done }) }
		t.Cleanup(stop)
		return done, stop
	}
	_, stop := start()
	// Not due: the file stays as it is over several looks.
	time.Sleep(500 * time.Millisecond)
	if now, err := os.ReadFile(id.tokenPath); err != nil || !bytes.Equal(now, before) {
		t.Fatalf("the token file changed before its renewal was due (%v)", err)
	}
	stop()
	// Due (as after a laptop's sleep): renewed at the next look.
	id.renewAt = time.Now()
	done, stop := start()
	devenvtest.Eventually(t, "the token file to be renewed", 30*time.Second, func() error {
		now, err := os.ReadFile(id.tokenPath)
		if err != nil {
			return err
		}
		if bytes.Equal(now, before) || len(now) == 0 {
			return os.ErrNotExist
		}
		return nil
	})
	// A client made now reads the renewed token.
	whoami(clientset())
	if left, _ := filepath.Glob(filepath.Join(runDir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	select {
	case <-done:
		t.Fatal("the renewal stopped before its context ended")
	default:
	}
	stop()
	if due := time.Until(id.renewAt); due < 47*time.Minute || due > 48*time.Minute {
		t.Errorf("after the renewal, the next is due in %v, want 48 minutes", due)
	}
}
