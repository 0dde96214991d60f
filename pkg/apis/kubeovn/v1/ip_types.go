package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Pod types recorded in IP.spec.podType.
const (
	PodTypeStatefulSet    = "StatefulSet"
	PodTypeVirtualMachine = "VirtualMachine"
)

// IP records the addresses allocated to one pod (or node, or reservation).
// Its name is "<pod>.<namespace>" for the default provider,
// "<pod>.<namespace>.<provider>" otherwise, and "node-<node>" for node IPs.
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=ip
// +kubebuilder:printcolumn:name="V4IP",type=string,JSONPath=`.spec.v4IpAddress`
// +kubebuilder:printcolumn:name="V6IP",type=string,JSONPath=`.spec.v6IpAddress`
// +kubebuilder:printcolumn:name="Subnet",type=string,JSONPath=`.spec.subnet`
type IP struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec IPSpec `json:"spec"`
}

// IPSpec has no omitempty, matching upstream.
//
// +kubebuilder:pruning:PreserveUnknownFields
type IPSpec struct {
	PodName       string   `json:"podName"`
	Namespace     string   `json:"namespace"`
	Subnet        string   `json:"subnet"`
	AttachSubnets []string `json:"attachSubnets"`
	NodeName      string   `json:"nodeName"`
	// IPAddress is "v4", "v6" or "v4,v6".
	IPAddress   string   `json:"ipAddress"`
	V4IPAddress string   `json:"v4IpAddress"`
	V6IPAddress string   `json:"v6IpAddress"`
	AttachIPs   []string `json:"attachIps"`
	MacAddress  string   `json:"macAddress"`
	AttachMacs  []string `json:"attachMacs"`
	ContainerID string   `json:"containerID"`
	// PodType is "", StatefulSet or VirtualMachine.
	PodType string `json:"podType"`
}

// IPList is a list of IPs.
//
// +kubebuilder:object:root=true
type IPList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`

	Items []IP `json:"items"`
}
