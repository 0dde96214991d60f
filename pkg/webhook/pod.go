package webhook

import (
	"github.com/ipamguard/ipamguard/pkg/admit"
)

// PodPath is where the Pod validator is served.
const PodPath = "/validate-v1-pod"

// The Pod webhook fails closed (Fail): a pod that asks for a fixed
// address or subnet is admitted only with a verdict, never because the
// webhook timed out or was down (a timeout would otherwise be a way to
// take an address another pod holds). It is not on the path of every pod:
// the API server only calls it for pods carrying Kube-OVN static-IP or
// subnet annotations (matchConditions, added by hack/webhookgen), outside
// ipamguard's own namespace and kube-system (namespaceSelector), so
// ordinary pods, the webhook's replicas and Kube-OVN's components start
// while it is down. sideEffects=NoneOnDryRun: an admitted pod's addresses
// are reserved (in the API server, or in memory) for a minute at most,
// never for dry-run requests.
// +kubebuilder:webhook:path=/validate-v1-pod,mutating=false,failurePolicy=fail,sideEffects=NoneOnDryRun,groups="",resources=pods,verbs=create,versions=v1,name=vpod.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=3

// PodCapacityPath serves the pods without static-IP annotations (the
// complement of vpod's matchConditions), which only get exhaustion
// warnings: a subnet running dry is reported when the pod is created, not
// when it hangs in ContainerCreating. It sits on the path of every other
// pod and only warns, so it fails open (Ignore) with a short timeout.
const PodCapacityPath = "/validate-v1-pod-capacity"

// +kubebuilder:webhook:path=/validate-v1-pod-capacity,mutating=false,failurePolicy=ignore,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=vpodcapacity.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=2

// NewPodValidator returns the Pod validator, serving both vpod and
// vpodcapacity: the pipeline judges pods with static-IP annotations by the
// pod rules, checking and reserving their addresses in res under one lock
// (so of many pods created at once with one address exactly one is
// admitted), and any other pod by the capacity rule.
func NewPodValidator(d Deps, res admit.Reservations) *Handler {
	return newHandler(d, res, admit.Validate, podGK)
}
