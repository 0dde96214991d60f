package webhook

import "github.com/ipamguard/ipamguard/pkg/admit"

// PodDefaulterPath is where the Pod defaulter is served.
const PodDefaulterPath = "/mutate-v1-pod"

// The Pod defaulter fails closed (Fail) like the Pod validator. It is
// called for exactly the pods vpod is (the same matchConditions and
// namespaceSelector, added by hack/webhookgen) and served by the same
// process, so failing closed refuses nothing an outage of vpod would not
// refuse anyway; failing open would let a pod whose defaulting timed out
// reach vpod, and be stored, in a form nobody canonicalised.
// +kubebuilder:webhook:path=/mutate-v1-pod,mutating=true,failurePolicy=fail,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=mpod.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=3

// NewPodDefaulter returns the Pod defaulter: it rewrites the static-IP
// annotations of new pods into the canonical form (see
// mutate.DefaultPodAnnotations), warning about every change. Until the
// inventory has synced it answers with an error, which the failure policy
// turns into a refusal (vpod would refuse the pod for the same reason): a
// prefix length is only dropped when the subnet confirms it.
func NewPodDefaulter(d Deps) *Handler { return newHandler(d, nil, admit.Default, podGK) }
