package inventory

import (
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// CacheOptions returns the informer cache options Watch is meant to run
// on: managed fields stripped from every object (the rules read a handful
// of spec fields; managed fields are often the bulk of an object), and
// Nodes, metadata-only Pods and IP objects cut down by StripNode, StripPod
// and StripIP to what the rules read. cmd/webhook and the envtest suites
// use the same options, so the tests run the cache the webhook runs.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Node{}:  {Transform: StripNode},
			PodMetadata():   {Transform: StripPod},
			&kubeovnv1.IP{}: {Transform: StripIP},
		},
	}
}
