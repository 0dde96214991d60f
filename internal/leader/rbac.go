package leader

// The Lease and the events leader election records on it, in the webhook's
// own namespace only ("system" is the kustomize placeholder that
// config/default renames). `make manifests` turns these markers into the
// Role in config/rbac/role.yaml; config/rbac/leader_election_role_binding.yaml
// binds it to the webhook's ServiceAccount.
//
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=system,resources=leases,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",namespace=system,resources=events,verbs=create;patch
