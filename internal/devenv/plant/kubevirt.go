package plant

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// crdEstablishTimeout bounds the wait for a CRD to be served.
const crdEstablishTimeout = 30 * time.Second

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// kubeVirtCRD is a minimal CustomResourceDefinition of a KubeVirt kind:
// kubevirt.io/v1, namespaced, any content. The doctor reads KubeVirt
// objects as metadata only, so their schema does not matter here.
func kubeVirtCRD(plural, kind, short string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": plural + ".kubevirt.io"},
		"spec": map[string]any{
			"group": "kubevirt.io",
			"scope": "Namespaced",
			"names": map[string]any{"plural": plural, "singular": short, "kind": kind, "listKind": kind + "List"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
	u.SetGroupVersionKind(crdGVK)
	return u
}

// ensureKubeVirtCRDs installs the VirtualMachine and
// VirtualMachineInstance CRDs unless they exist, and waits until they are
// established.
func ensureKubeVirtCRDs(ctx context.Context, c client.Client) error {
	crds := []*unstructured.Unstructured{
		kubeVirtCRD("virtualmachines", "VirtualMachine", "virtualmachine"),
		kubeVirtCRD("virtualmachineinstances", "VirtualMachineInstance", "virtualmachineinstance"),
	}
	for _, crd := range crds {
		if err := c.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("install CRD %s: %w", crd.GetName(), err)
		}
	}
	deadline := time.Now().Add(crdEstablishTimeout)
	for _, crd := range crds {
		for {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(crdGVK)
			err := c.Get(ctx, client.ObjectKey{Name: crd.GetName()}, got)
			if err == nil && established(got) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established within %s (last error: %v)", crd.GetName(), crdEstablishTimeout, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}
