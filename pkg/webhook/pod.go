package webhook

import (
	"github.com/ipamguard/ipamguard/pkg/admit"
	"github.com/ipamguard/ipamguard/pkg/reserve"
)

// PodPath is where the Pod validator is served.
const PodPath = "/validate-v1-pod"

// The Pod webhook fails open (Ignore): it sits on the path of every pod
// creation, and a webhook outage must never stop a cluster from starting
// pods (its own included). The API server only calls it for pods carrying
// Kube-OVN static-IP annotations (matchConditions, added by
// hack/webhookgen). sideEffects=NoneOnDryRun: an admitted pod's addresses
// are reserved in memory for a few seconds, never for dry-run requests.
// +kubebuilder:webhook:path=/validate-v1-pod,mutating=false,failurePolicy=ignore,sideEffects=NoneOnDryRun,groups="",resources=pods,verbs=create,versions=v1,name=vpod.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=3

// PodCapacityPath serves the pods without static-IP annotations (the
// complement of vpod's matchConditions), which only get exhaustion
// warnings: a subnet running dry is reported when the pod is created, not
// when it hangs in ContainerCreating. Fails open with a short timeout.
const PodCapacityPath = "/validate-v1-pod-capacity"

// +kubebuilder:webhook:path=/validate-v1-pod-capacity,mutating=false,failurePolicy=ignore,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=vpodcapacity.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=2

// NewPodValidator returns the Pod validator, serving both vpod and
// vpodcapacity: the pipeline judges pods with static-IP annotations by the
// pod rules, checking and reserving their addresses in res under one lock
// (so of many pods created at once with one address exactly one is
// admitted), and any other pod by the capacity rule.
func NewPodValidator(d Deps, res *reserve.Table) *Handler {
	return newHandler(d, res, admit.Validate, podGK)
}
