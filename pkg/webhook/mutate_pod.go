package webhook

import "github.com/ipamguard/ipamguard/pkg/admit"

// PodDefaulterPath is where the Pod defaulter is served.
const PodDefaulterPath = "/mutate-v1-pod"

// The Pod defaulter fails open (Ignore) like the Pod validator: it sits on
// the path of pod creations and must never stop a cluster from starting
// pods. The API server only calls it for pods carrying Kube-OVN static-IP
// or subnet annotations (the matchConditions of vpod, added by
// hack/webhookgen), outside ipamguard's own namespace.
// +kubebuilder:webhook:path=/mutate-v1-pod,mutating=true,failurePolicy=ignore,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=mpod.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=3

// NewPodDefaulter returns the Pod defaulter: it rewrites the static-IP
// annotations of new pods into the canonical form (see
// mutate.DefaultPodAnnotations), warning about every change. Until the
// inventory has synced it answers with an error, which the failure policy
// turns into "admit unchanged": a prefix length is only dropped when the
// subnet confirms it.
func NewPodDefaulter(d Deps) *Handler { return newHandler(d, nil, admit.Default, podGK) }
