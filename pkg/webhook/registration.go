package webhook

import (
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OwnNamespace is the namespace ipamguard is deployed to. Its pods are
// never judged, so the webhook can always start its own replicas.
const OwnNamespace = "ipamguard-system"

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
	Name: "kube-ovn-static-ip-annotations",
	Expression: "has(object.metadata.annotations) && object.metadata.annotations.exists(k, " +
		"k.contains('.kubernetes.io/ip_address') || k.contains('.kubernetes.io/ip_pool') || " +
		"k.contains('.kubernetes.io/logical_switch'))",
}

// notOwnNamespace excludes ipamguard's own namespace.
var notOwnNamespace = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
	Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{OwnNamespace},
}}}

// Registrations maps webhook names to their extra registration fields.
func Registrations() map[string]Registration {
	return map[string]Registration{
		"vpod.ipamguard.io": {
			MatchConditions:   []admissionregv1.MatchCondition{staticIPCondition},
			NamespaceSelector: notOwnNamespace,
		},
	}
}
