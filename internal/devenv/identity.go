package devenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// DeployTree is the kustomize tree of the shipped install, relative to the
// repository root.
const DeployTree = "config/default"

// identityKinds are the objects of the install that make up the webhook's
// identity in the cluster: who it is and what it may do.
var identityKinds = map[string]bool{
	"Namespace": true, "ServiceAccount": true,
	"ClusterRole": true, "ClusterRoleBinding": true, "Role": true, "RoleBinding": true,
}

// Identity is the shipped install's ServiceAccount on a local control
// plane.
type Identity struct {
	// Namespace and ServiceAccount name the webhook's ServiceAccount, as the
	// install's Deployment does.
	Namespace, ServiceAccount string
	// Config authenticates as the ServiceAccount with a bound token (as a
	// replica's in-cluster configuration does) and trusts the API server.
	Config *rest.Config
	// Kubeconfig is Config as a kubeconfig file's content.
	Kubeconfig []byte
	// TokenExpires is when Config's token ends.
	TokenExpires time.Time

	deployment string
}

// SelfCertTree is the kustomize tree of the install without cert-manager
// (the webhook manages its own certificates), relative to the repository
// root: DeployTree and the RBAC that mode needs.
const SelfCertTree = "config/selfcert"

// InstallIdentity creates the ServiceAccount and the RBAC of the install
// rendered from the kustomize tree dir (DeployTree or SelfCertTree under
// the repository root, rendered by kubectl's kustomize, the pinned one of
// e) in e, requests a token for the ServiceAccount valid for ttl, and
// waits until the API server's RBAC grants it what every one of its
// bindings says. The install's Namespace may exist already; the rest must
// not. A webhook process run with the returned Kubeconfig may then do in
// tests exactly what the install lets it do in a cluster, and authenticates
// the way it does there (a bearer token, not an admin certificate).
func (e *Env) InstallIdentity(ctx context.Context, dir string, ttl time.Duration) (*Identity, error) {
	kctx, cancel := context.WithTimeout(ctx, time.Minute)
	out, _, err := Kustomize(kctx, e.KubectlPath, dir)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("install identity: %w", err)
	}
	objs, err := DecodeManifests(out)
	if err != nil {
		return nil, fmt.Errorf("install identity: %s: %w", dir, err)
	}
	id := &Identity{}
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		if id.Namespace != "" {
			return nil, fmt.Errorf("install identity: %s renders more than one Deployment (%s/%s, %s/%s)", dir, id.Namespace, id.deployment, o.GetNamespace(), o.GetName())
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
			return nil, fmt.Errorf("install identity: Deployment %s: %w", o.GetName(), err)
		}
		id.Namespace, id.ServiceAccount, id.deployment = d.Namespace, d.Spec.Template.Spec.ServiceAccountName, d.Name
	}
	if id.Namespace == "" || id.ServiceAccount == "" {
		return nil, fmt.Errorf("install identity: %s renders no Deployment with a namespace and a serviceAccountName", dir)
	}
	grants, err := grantsOf(objs, id.Namespace, id.ServiceAccount)
	if err != nil {
		return nil, fmt.Errorf("install identity: %s: %w", dir, err)
	}
	for _, o := range objs {
		if !identityKinds[o.GetKind()] {
			continue
		}
		err := e.Client.Create(ctx, o)
		if o.GetKind() == "Namespace" && apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("install identity: create %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	token, expires, err := e.RequestToken(ctx, id.Namespace, id.ServiceAccount, ttl)
	if err != nil {
		return nil, fmt.Errorf("install identity: %w", err)
	}
	id.TokenExpires = expires
	id.Config = &rest.Config{Host: e.Config.Host, BearerToken: token,
		TLSClientConfig: rest.TLSClientConfig{CAData: e.Config.CAData}}
	if id.Kubeconfig, err = id.kubeconfig(&clientcmdapi.AuthInfo{Token: token}); err != nil {
		return nil, fmt.Errorf("install identity: %w", err)
	}
	if err := id.waitGranted(ctx, grants); err != nil {
		return nil, err
	}
	return id, nil
}

// RequestToken asks the API server for a bound token of the ServiceAccount
// namespace/name, valid for ttl (at least ten minutes: the API server
// refuses shorter ones, and may cap longer ones), as the kubelet does for
// a pod's projected token; expires is when the API server says it ends.
func (e *Env) RequestToken(ctx context.Context, namespace, name string, ttl time.Duration) (token string, expires time.Time, err error) {
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	secs := int64(ttl / time.Second)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, tr.Status.ExpirationTimestamp.Time, nil
}

// KubeconfigWithTokenFile is Kubeconfig reading its token from the file
// at path, as client-go rereads a pod's projected token: whoever renews the
// token (RequestToken) rewrites the file, and the process using the
// kubeconfig picks the new token up without a restart.
func (id *Identity) KubeconfigWithTokenFile(path string) ([]byte, error) {
	return id.kubeconfig(&clientcmdapi.AuthInfo{TokenFile: path})
}

// kubeconfig is a kubeconfig for the ServiceAccount, authenticating with
// auth, in the ServiceAccount's namespace.
func (id *Identity) kubeconfig(auth *clientcmdapi.AuthInfo) ([]byte, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: id.Config.Host, CertificateAuthorityData: id.Config.CAData}
	kc.AuthInfos[id.ServiceAccount] = auth
	kc.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: id.ServiceAccount, Namespace: id.Namespace}
	kc.CurrentContext = "local"
	b, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig for ServiceAccount %s/%s: %w", id.Namespace, id.ServiceAccount, err)
	}
	return b, nil
}

// grantsOf is, for every rule of every Role and ClusterRole that objs bind
// to the ServiceAccount namespace/name, one request the rule allows (its
// first verb, group, resource and name), in the binding's namespace for a
// RoleBinding: what the API server must allow before the identity is
// ready. A binding to a role objs do not hold is an error.
func grantsOf(objs []*unstructured.Unstructured, namespace, name string) ([]authorizationv1.ResourceAttributes, error) {
	type binding struct {
		kind                string
		*rbacv1.RoleBinding // a ClusterRoleBinding's fields, without namespace
	}
	roles := map[string]*rbacv1.ClusterRole{} // by kind/namespace/name; a Role's rules fit a ClusterRole
	var bindings []binding
	for _, o := range objs {
		switch o.GetKind() {
		case "Role", "ClusterRole":
			r := &rbacv1.ClusterRole{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, r); err != nil {
				return nil, fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
			}
			roles[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = r
		case "RoleBinding", "ClusterRoleBinding":
			b := &rbacv1.RoleBinding{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, b); err != nil {
				return nil, fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
			}
			bindings = append(bindings, binding{o.GetKind(), b})
		}
	}
	var grants []authorizationv1.ResourceAttributes
	for _, b := range bindings {
		if !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
			ns := s.Namespace
			if ns == "" && b.kind == "RoleBinding" {
				ns = b.Namespace // RBAC reads a ServiceAccount without namespace as the binding's
			}
			return s.Kind == rbacv1.ServiceAccountKind && ns == namespace && s.Name == name
		}) {
			continue
		}
		roleNS := ""
		if b.RoleRef.Kind == "Role" {
			roleNS = b.Namespace
		}
		r, ok := roles[b.RoleRef.Kind+"/"+roleNS+"/"+b.RoleRef.Name]
		if !ok {
			return nil, fmt.Errorf("%s %s/%s refers to %s %s, which the tree does not render", b.kind, b.Namespace, b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
		for _, rule := range r.Rules {
			if len(rule.Verbs) == 0 || len(rule.APIGroups) == 0 || len(rule.Resources) == 0 {
				continue // a nonResourceURLs rule, or one that grants nothing
			}
			g := authorizationv1.ResourceAttributes{Namespace: b.Namespace, Verb: rule.Verbs[0],
				Group: rule.APIGroups[0], Resource: rule.Resources[0]}
			if res, sub, ok := strings.Cut(g.Resource, "/"); ok {
				g.Resource, g.Subresource = res, sub
			}
			if len(rule.ResourceNames) > 0 {
				g.Name = rule.ResourceNames[0]
			}
			grants = append(grants, g)
		}
	}
	if len(grants) == 0 {
		return nil, fmt.Errorf("no binding grants ServiceAccount %s/%s anything", namespace, name)
	}
	return grants, nil
}

// waitGranted polls, as the ServiceAccount, until the API server's RBAC
// (which learns of new roles and bindings through its informers, one per
// kind) allows each of grants (grantsOf).
func (id *Identity) waitGranted(ctx context.Context, grants []authorizationv1.ResourceAttributes) error {
	cs, err := kubernetes.NewForConfig(id.Config)
	if err != nil {
		return fmt.Errorf("install identity: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, attrs := range grants {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}
		for {
			got, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err == nil && got.Status.Allowed {
				break
			}
			if err == nil {
				err = fmt.Errorf("not allowed: %s", got.Status.Reason)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("install identity: ServiceAccount %s/%s may not %s %s %q in namespace %q: %w",
					id.Namespace, id.ServiceAccount, attrs.Verb, attrs.Resource, attrs.Name, attrs.Namespace, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// Kustomize renders the kustomize tree dir with the kubectl binary at
// kubectl: the manifests, and what kustomize warned about on stderr.
func Kustomize(ctx context.Context, kubectl, dir string) (out, warnings []byte, err error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kubectl, "kustomize", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, nil, fmt.Errorf("kubectl kustomize %s: %w: %s", dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), stderr.Bytes(), nil
}

// DecodeManifests splits a multi-document YAML stream into objects; empty
// documents are skipped, and a document without apiVersion, kind or
// metadata.name is an error.
func DecodeManifests(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	err := eachDocument(data, func(i int, doc []byte) error {
		if len(bytes.TrimSpace(doc)) == 0 {
			return nil
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
		if m == nil {
			return nil
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			return fmt.Errorf("document %d: apiVersion, kind or metadata.name missing:\n%s", i, doc)
		}
		objs = append(objs, u)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return objs, nil
}

// eachDocument calls fn with each document of a multi-document YAML
// stream and its index, until fn returns an error (returned as is).
func eachDocument(data []byte, fn func(i int, doc []byte) error) error {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
		if err := fn(i, doc); err != nil {
			return err
		}
	}
}
