package webhook

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ipamguard/ipamguard/pkg/admit"
)

// WorkloadPath is where the workload validator is served.
const WorkloadPath = "/validate-workloads"

// The workload webhook judges the pod templates of Deployments,
// ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs, so a bad static
// IP is refused when the workload is applied rather than surfacing later as
// ReplicaSet events. It fails closed (Fail), like the Pod webhook: the
// API server only calls it for templates (new or old) carrying Kube-OVN
// static-IP or subnet annotations (matchConditions, added by
// hack/webhookgen), outside ipamguard's own namespace and kube-system, so
// an outage holds back only changes to fixed-address workloads, whose pods
// the Pod webhook would refuse anyway; every other rollout goes on.
// +kubebuilder:webhook:path=/validate-workloads,mutating=false,failurePolicy=fail,sideEffects=None,groups=apps;batch,resources=deployments;replicasets;statefulsets;daemonsets;jobs;cronjobs,verbs=create;update,versions=v1,name=vworkload.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=3

// NewWorkloadValidator returns the workload validator. Workloads come in
// several kinds, so denials name the request's.
func NewWorkloadValidator(d Deps) *Handler {
	return newHandler(d, nil, admit.Validate, schema.GroupKind{})
}
