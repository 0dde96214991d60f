package devenv

import (
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
)

// TestGrantsOf: one request per rule of every role bound to the
// ServiceAccount, in the RoleBinding's namespace, with subresources and
// names; bindings of others are left out, a binding to a role not
// rendered is an error.
func TestGrantsOf(t *testing.T) {
	const tree = `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r, namespace: sys}
rules:
- {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [create, get]}
- {apiGroups: [""], resources: [secrets], resourceNames: [cert], verbs: [update]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: c}
rules:
- {apiGroups: [""], resources: [pods/status, pods], verbs: [list]}
- {nonResourceURLs: [/metrics], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: other}
rules:
- {apiGroups: [""], resources: [nodes], verbs: [delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb, namespace: sys}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects: [{kind: ServiceAccount, name: hook}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rbc, namespace: apps}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: c}
subjects: [{kind: ServiceAccount, name: hook, namespace: sys}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: crb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: c}
subjects: [{kind: ServiceAccount, name: hook, namespace: sys}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: someone-else}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: other}
subjects: [{kind: ServiceAccount, name: hook, namespace: elsewhere}, {kind: User, name: hook}]
`
	objs, err := DecodeManifests([]byte(tree))
	if err != nil {
		t.Fatal(err)
	}
	got, err := grantsOf(objs, "sys", "hook")
	if err != nil {
		t.Fatal(err)
	}
	want := []authorizationv1.ResourceAttributes{
		{Namespace: "sys", Verb: "create", Group: "coordination.k8s.io", Resource: "leases"},
		{Namespace: "sys", Verb: "update", Resource: "secrets", Name: "cert"},
		{Namespace: "apps", Verb: "list", Resource: "pods", Subresource: "status"},
		{Verb: "list", Resource: "pods", Subresource: "status"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("grants\n%+v\nwant\n%+v", got, want)
	}

	if _, err := grantsOf(objs, "sys", "nobody"); err == nil || !strings.Contains(err.Error(), "no binding grants ServiceAccount sys/nobody") {
		t.Errorf("an unbound ServiceAccount: %v", err)
	}
	missing, err := DecodeManifests([]byte(`apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb, namespace: sys}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: gone}
subjects: [{kind: ServiceAccount, name: hook, namespace: sys}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := grantsOf(missing, "sys", "hook"); err == nil || !strings.Contains(err.Error(), "RoleBinding sys/rb refers to Role gone") {
		t.Errorf("a binding to a role not rendered: %v", err)
	}
}
