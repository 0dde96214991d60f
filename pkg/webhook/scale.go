package webhook

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/pkg/admit"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;replicasets,verbs=get

// A Scale (the scale subresource kubectl scale and autoscalers write)
// carries a replica count but no pod template, so the template's Kube-OVN
// annotations, which decide both the subnet and whether the pods share a
// fixed address or a small ip_pool, have to be read from the workload.
// They are read from the API server, not from an informer: scale requests
// are rare next to pod creations, and caching every workload's template
// would cost memory on every cluster for them.

// APIWorkloads reads workloads with a client (the manager's API reader:
// uncached, one GET per scale request).
type APIWorkloads struct {
	Reader client.Reader
}

// WorkloadTemplate implements admit.WorkloadGetter.
func (a APIWorkloads) WorkloadTemplate(ctx context.Context, resource, namespace, name string) (admit.WorkloadTemplate, error) {
	var (
		obj  client.Object
		tmpl func() (metav1.ObjectMeta, string)
	)
	switch resource {
	case "deployments":
		d := &appsv1.Deployment{}
		obj, tmpl = d, func() (metav1.ObjectMeta, string) { return d.Spec.Template.ObjectMeta, validate.KindDeployment }
	case "statefulsets":
		s := &appsv1.StatefulSet{}
		obj, tmpl = s, func() (metav1.ObjectMeta, string) { return s.Spec.Template.ObjectMeta, validate.KindStatefulSet }
	case "replicasets":
		r := &appsv1.ReplicaSet{}
		obj, tmpl = r, func() (metav1.ObjectMeta, string) { return r.Spec.Template.ObjectMeta, validate.KindReplicaSet }
	default:
		return admit.WorkloadTemplate{}, fmt.Errorf("resource %q has no pod template the scale rules know", resource)
	}
	if err := a.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj); err != nil {
		return admit.WorkloadTemplate{}, fmt.Errorf("get %s %s/%s: %w", resource, namespace, name, err)
	}
	meta, kind := tmpl()
	t := admit.WorkloadTemplate{Kind: kind, Labels: meta.Labels, Annotations: meta.Annotations}
	if ref := metav1.GetControllerOf(obj); ref != nil {
		t.Controller = ref.Kind
	}
	return t, nil
}
