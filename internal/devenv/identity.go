package devenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
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

	deployment string
}

// InstallIdentity creates the ServiceAccount and the RBAC of the shipped
// install (DeployTree under root, rendered by kubectl's kustomize, the
// pinned one of e) in e, requests a token for the ServiceAccount valid for
// ttl, and waits until the API server's RBAC grants it what its Role and
// its ClusterRole say. The install's Namespace may exist already; the
// rest must not. A webhook process run with the returned Kubeconfig may then do in
// tests exactly what the install lets it do in a cluster, and authenticates
// the way it does there (a bearer token, not an admin certificate).
func (e *Env) InstallIdentity(ctx context.Context, root string, ttl time.Duration) (*Identity, error) {
	kctx, cancel := context.WithTimeout(ctx, time.Minute)
	out, _, err := Kustomize(kctx, e.KubectlPath, filepath.Join(root, DeployTree))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("install identity: %w", err)
	}
	objs, err := DecodeManifests(out)
	if err != nil {
		return nil, fmt.Errorf("install identity: %s: %w", DeployTree, err)
	}
	id := &Identity{}
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		if id.Namespace != "" {
			return nil, fmt.Errorf("install identity: %s renders more than one Deployment (%s/%s, %s/%s)", DeployTree, id.Namespace, id.deployment, o.GetNamespace(), o.GetName())
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
			return nil, fmt.Errorf("install identity: Deployment %s: %w", o.GetName(), err)
		}
		id.Namespace, id.ServiceAccount, id.deployment = d.Namespace, d.Spec.Template.Spec.ServiceAccountName, d.Name
	}
	if id.Namespace == "" || id.ServiceAccount == "" {
		return nil, fmt.Errorf("install identity: %s renders no Deployment with a namespace and a serviceAccountName", DeployTree)
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
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return nil, fmt.Errorf("install identity: %w", err)
	}
	secs := int64(ttl / time.Second)
	tr, err := cs.CoreV1().ServiceAccounts(id.Namespace).CreateToken(ctx, id.ServiceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("install identity: token for ServiceAccount %s/%s: %w", id.Namespace, id.ServiceAccount, err)
	}
	id.Config = &rest.Config{Host: e.Config.Host, BearerToken: tr.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: e.Config.CAData}}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.Config.CAData}
	kc.AuthInfos[id.ServiceAccount] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: id.ServiceAccount, Namespace: id.Namespace}
	kc.CurrentContext = "local"
	if id.Kubeconfig, err = clientcmd.Write(*kc); err != nil {
		return nil, fmt.Errorf("install identity: kubeconfig: %w", err)
	}
	if err := id.waitGranted(ctx); err != nil {
		return nil, err
	}
	return id, nil
}

// waitGranted polls, as the ServiceAccount, until the API server's RBAC
// (which learns of new bindings through its informers, one per kind) lets
// it do what each binding grants: create Leases in its namespace (the
// RoleBinding) and list pods everywhere (the ClusterRoleBinding).
func (id *Identity) waitGranted(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(id.Config)
	if err != nil {
		return fmt.Errorf("install identity: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, attrs := range []authorizationv1.ResourceAttributes{
		{Namespace: id.Namespace, Verb: "create", Group: "coordination.k8s.io", Resource: "leases"},
		{Verb: "list", Resource: "pods"},
	} {
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
				return fmt.Errorf("install identity: ServiceAccount %s/%s may not %s %s in namespace %q: %w",
					id.Namespace, id.ServiceAccount, attrs.Verb, attrs.Resource, attrs.Namespace, err)
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
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if m == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("document %d: apiVersion, kind or metadata.name missing:\n%s", i, doc)
		}
		objs = append(objs, u)
	}
}
