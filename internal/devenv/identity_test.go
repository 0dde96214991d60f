package devenv_test

import (
	"path/filepath"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
)

// TestInstallIdentity runs as the install's ServiceAccount and asks the
// API server's RBAC what it may do: the reservations' Lease verbs in its
// own namespace, reads of what the inventory watches, and nothing else.
func TestInstallIdentity(t *testing.T) {
	env := devenvtest.Start(t, devenv.Options{})
	id := devenvtest.InstallIdentity(t, env, filepath.Join(t.TempDir(), "kubeconfig"))
	if id.Namespace != "ipamguard-system" || id.ServiceAccount != "ipamguard-webhook" {
		t.Fatalf("identity %s/%s, want the install's ipamguard-system/ipamguard-webhook", id.Namespace, id.ServiceAccount)
	}
	cs, err := kubernetes.NewForConfig(id.Config)
	if err != nil {
		t.Fatal(err)
	}
	who, err := cs.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:ipamguard-system:ipamguard-webhook"; who.Status.UserInfo.Username != want {
		t.Fatalf("the kubeconfig authenticates as %q, want %q", who.Status.UserInfo.Username, want)
	}
	for _, c := range []struct {
		ns, verb, group, resource string
		allowed                   bool
	}{
		{id.Namespace, "create", "coordination.k8s.io", "leases", true},
		{id.Namespace, "update", "coordination.k8s.io", "leases", true},
		{id.Namespace, "delete", "coordination.k8s.io", "leases", true},
		{id.Namespace, "list", "coordination.k8s.io", "leases", true},
		{"default", "create", "coordination.k8s.io", "leases", false},
		{"default", "delete", "coordination.k8s.io", "leases", false},
		{"", "watch", "", "pods", true},
		{"", "watch", "kubeovn.io", "subnets", true},
		{"", "watch", "kubeovn.io", "ips", true},
		{"default", "create", "", "pods", false},
		{"", "update", "kubeovn.io", "subnets", false},
		{"", "delete", "kubeovn.io", "ips", false},
		{id.Namespace, "get", "", "secrets", false},
	} {
		r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(), &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: c.ns, Verb: c.verb, Group: c.group, Resource: c.resource}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed != c.allowed {
			t.Errorf("%s %s.%s in namespace %q: allowed %v, want %v (%s)", c.verb, c.resource, c.group, c.ns, r.Status.Allowed, c.allowed, r.Status.Reason)
		}
	}
}
