package webhook

import (
	"strings"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamguard/ipamguard/pkg/annotations"
)

// OwnNamespace is the namespace ipamguard is deployed to. Its pods are
// never judged, so the webhook can always start its own replicas.
const OwnNamespace = "ipamguard-system"

// SystemNamespace is where Kube-OVN runs its own components, some of them
// with fixed addresses. It stays outside every namespaced webhook, like
// OwnNamespace: the Pod and workload webhooks fail closed, and the network
// (and with it the webhook) must be able to heal while the webhook is down.
const SystemNamespace = "kube-system"

// ExcludedNamespaces returns the namespaces no namespaced webhook is
// called for (the webhook bootstrap problem, docs/operations.md).
func ExcludedNamespaces() []string { return []string{OwnNamespace, SystemNamespace} }

// Registration holds what controller-gen's markers cannot express for one
// webhook; hack/webhookgen merges it into config/webhook/manifests.yaml.
type Registration struct {
	MatchConditions   []admissionregv1.MatchCondition
	NamespaceSelector *metav1.LabelSelector
}

// staticIPCondition lets the API server skip every pod without Kube-OVN
// static-IP or subnet annotations, so ordinary pods never pay for a call.
// The handler applies the exact key grammar; this is a cheap superset.
var staticIPCondition = admissionregv1.MatchCondition{
	Name:       "kube-ovn-static-ip-annotations",
	Expression: "has(object.metadata.annotations) && object.metadata.annotations.exists(k, " + staticKeyTest() + ")",
}

// staticKeyTest is CEL that is true when the annotation key k names one of
// annotations.StaticNames, for any provider.
func staticKeyTest() string {
	tests := make([]string, 0, len(annotations.StaticNames))
	for _, name := range annotations.StaticNames {
		tests = append(tests, "k.contains('"+annotations.Domain+name+"')")
	}
	return strings.Join(tests, " || ")
}

// workloadTemplateCondition lets the API server skip every workload whose
// pod template carries no Kube-OVN static-IP or subnet annotations, before
// or after the change: a CronJob's template is under spec.jobTemplate, and
// oldObject is null on CREATE. Like staticIPCondition it is a superset the
// handler narrows.
var workloadTemplateCondition = admissionregv1.MatchCondition{
	Name: "kube-ovn-template-annotations",
	Expression: templateAnnotated("object") + " || " +
		"(oldObject != null && (" + templateAnnotated("oldObject") + "))",
}

// templateAnnotated is CEL that is true when the pod template of obj (at
// spec.template, or spec.jobTemplate.spec.template for a CronJob) has a
// Kube-OVN static-IP or subnet annotation. Every step is guarded by has(),
// since a missing map key is an error in CEL.
func templateAnnotated(obj string) string {
	at := func(path ...string) string {
		cur, out := obj, ""
		for _, p := range path {
			cur += "." + p
			out += "has(" + cur + ") && "
		}
		return "(" + out + cur + ".exists(k, " + staticKeyTest() + "))"
	}
	return at("spec", "template", "metadata", "annotations") + " || " +
		at("spec", "jobTemplate", "spec", "template", "metadata", "annotations")
}

// noStaticIPCondition is the complement of staticIPCondition: every pod
// reaches exactly one of vpod and vpodcapacity.
var noStaticIPCondition = admissionregv1.MatchCondition{
	Name:       "no-kube-ovn-static-ip-annotations",
	Expression: "!(" + staticIPCondition.Expression + ")",
}

// notExcluded keeps the namespaced webhooks out of ExcludedNamespaces, so
// a webhook that cannot answer never blocks the pods that would repair it
// (its own replicas, Kube-OVN's components).
var notExcluded = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
	Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: ExcludedNamespaces(),
}}}

// Registrations maps webhook names to their extra registration fields.
// vpod, mpod and vworkload fail closed (failurePolicy Fail): their
// matchConditions keep every object without Kube-OVN IPAM annotations
// away from them, and notExcluded keeps them out of the namespaces the
// cluster needs to heal, so an outage refuses only fixed-address pods and
// workloads of ordinary namespaces. The capacity webhooks, which see every
// other pod and workload, fail open.
func Registrations() map[string]Registration {
	return map[string]Registration{
		"vpod.ipamguard.io": {
			MatchConditions:   []admissionregv1.MatchCondition{staticIPCondition},
			NamespaceSelector: notExcluded,
		},
		"mpod.ipamguard.io": {
			MatchConditions:   []admissionregv1.MatchCondition{staticIPCondition},
			NamespaceSelector: notExcluded,
		},
		"vpodcapacity.ipamguard.io": {
			MatchConditions:   []admissionregv1.MatchCondition{noStaticIPCondition},
			NamespaceSelector: notExcluded,
		},
		"vworkloadcapacity.ipamguard.io": {
			NamespaceSelector: notExcluded,
		},
		"vworkload.ipamguard.io": {
			MatchConditions:   []admissionregv1.MatchCondition{workloadTemplateCondition},
			NamespaceSelector: notExcluded,
		},
	}
}
