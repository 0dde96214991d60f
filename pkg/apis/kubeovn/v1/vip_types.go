package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Vip is a virtual IP: it holds an address of its subnet.
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=vip
// +kubebuilder:printcolumn:name="V4IP",type=string,JSONPath=`.status.v4ip`
// +kubebuilder:printcolumn:name="V6IP",type=string,JSONPath=`.status.v6ip`
// +kubebuilder:printcolumn:name="Subnet",type=string,JSONPath=`.spec.subnet`
type Vip struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec   VipSpec   `json:"spec"`
	Status VipStatus `json:"status"`
}

// VipSpec is the desired state of a Vip.
//
// +kubebuilder:pruning:PreserveUnknownFields
type VipSpec struct {
	Namespace  string `json:"namespace"`
	Subnet     string `json:"subnet"`
	Type       string `json:"type"`
	V4ip       string `json:"v4ip"`
	V6ip       string `json:"v6ip"`
	MacAddress string `json:"macAddress"`
}

// VipStatus holds the addresses the controller allocated.
//
// +kubebuilder:pruning:PreserveUnknownFields
type VipStatus struct {
	Conditions []Condition `json:"conditions,omitempty"`
	V4ip       string      `json:"v4ip"`
	V6ip       string      `json:"v6ip"`
	Mac        string      `json:"mac"`
}

// VipList is a list of Vips.
//
// +kubebuilder:object:root=true
type VipList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`

	Items []Vip `json:"items"`
}
