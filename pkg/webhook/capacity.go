package webhook

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ipamguard/ipamguard/pkg/admit"
)

// WorkloadCapacityPath serves creations and scale-ups of Deployments,
// StatefulSets and ReplicaSets (including their scale subresource, which
// kubectl scale and autoscalers use), warning when the pods they add need
// more addresses than their subnet has left. Fails open: it only warns,
// unless pod-subnet-exhausted is set to enforce.
const WorkloadCapacityPath = "/validate-workload-capacity"

// +kubebuilder:webhook:path=/validate-workload-capacity,mutating=false,failurePolicy=ignore,sideEffects=None,groups=apps,resources=deployments;statefulsets;replicasets;deployments/scale;statefulsets/scale;replicasets/scale,verbs=create;update,versions=v1,name=vworkloadcapacity.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=2

// NewCapacityValidator returns the workload capacity validator (creations
// and scale-ups, the scale subresource included).
func NewCapacityValidator(d Deps) *Handler {
	return newHandler(d, nil, admit.Capacity, schema.GroupKind{})
}
