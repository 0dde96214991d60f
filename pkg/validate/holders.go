package validate

import (
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

// now is the time the request is judged at.
func (c Context) now() time.Time {
	if c.Now.IsZero() {
		return time.Now()
	}
	return c.Now
}

// pendingHolderTimeout is how long a pending pod holds its address.
func (c Context) pendingHolderTimeout() time.Duration {
	if c.PendingHolderTimeout <= 0 {
		return settings.DefaultPendingHolderTimeout
	}
	return c.PendingHolderTimeout
}

// tooManyInterfaces refuses a pod (or template) whose Kube-OVN annotations
// name more than annotations.MaxInterfaces interfaces, with one finding:
// none of them is judged, so the work stays bounded.
func (c *podCheck) tooManyInterfaces() {
	limit := strconv.Itoa(annotations.MaxInterfaces)
	c.fs.add(policy.PodIPInvalid, field.Invalid(c.in.Meta.Child("annotations"), "more than "+limit+" interfaces",
		"ipamguard judges the Kube-OVN annotations of at most "+limit+" interfaces (provider and interface pairs) per pod, far more than a pod attaches"))
}

// holderText describes the holder of an address to a pod of namespace ns:
// by name when it belongs to ns, has no namespace (nodes, Vips and IP
// objects of no namespace: cluster-scoped) or names is set; otherwise only
// by kind, so one tenant never learns another's object names.
func holderText(h inventory.Holder, ns string, names bool) string {
	if names || h.PodNamespace == "" || h.PodNamespace == ns {
		return h.Owner()
	}
	switch {
	case h.Kind == inventory.HolderVip:
		return "a vip of another namespace"
	case h.PodType == kubeovnv1.PodTypeVirtualMachine && h.PodName != "":
		return "a VM in another namespace"
	case h.PodName != "":
		return "a pod in another namespace"
	default:
		return "an IP object of another namespace"
	}
}

// pendingText describes a pending pod to a pod of namespace ns, as
// holderText does.
func pendingText(pr inventory.PodRequest, ns string, names bool) string {
	if names || pr.Namespace == ns {
		return "pending pod " + pr.Namespace + "/" + pr.Pod
	}
	return "a pending pod in another namespace"
}
