package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Vpc is a Kube-OVN virtual private cloud: an address-space scope.
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=vpc
// +kubebuilder:subresource:status
type Vpc struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec   VpcSpec   `json:"spec"`
	Status VpcStatus `json:"status"`
}

// VpcSpec is the desired state of a Vpc. Routes and gateways are carried
// opaquely through PreserveUnknownFields.
//
// +kubebuilder:pruning:PreserveUnknownFields
type VpcSpec struct {
	Namespaces    []string `json:"namespaces,omitempty"`
	DefaultSubnet string   `json:"defaultSubnet,omitempty"`
}

// VpcStatus is what the controller reports for a Vpc.
//
// +kubebuilder:pruning:PreserveUnknownFields
type VpcStatus struct {
	Conditions           []Condition `json:"conditions,omitempty"`
	Standby              bool        `json:"standby"`
	Default              bool        `json:"default"`
	DefaultLogicalSwitch string      `json:"defaultLogicalSwitch"`
	Router               string      `json:"router"`
	Subnets              []string    `json:"subnets"`
}

// VpcList is a list of Vpcs.
//
// +kubebuilder:object:root=true
type VpcList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`

	Items []Vpc `json:"items"`
}
