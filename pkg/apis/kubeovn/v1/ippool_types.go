package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IPPool is a named set of addresses of one subnet.
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=ippool
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Subnet",type=string,JSONPath=`.spec.subnet`
// +kubebuilder:printcolumn:name="IPs",type=string,JSONPath=`.spec.ips`
type IPPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec   IPPoolSpec   `json:"spec"`
	Status IPPoolStatus `json:"status"`
}

// IPPoolSpec is the desired state of an IPPool.
//
// +kubebuilder:pruning:PreserveUnknownFields
type IPPoolSpec struct {
	Subnet     string   `json:"subnet"`
	Namespaces []string `json:"namespaces,omitempty"`
	// IPs are addresses, inclusive ranges "a..b" or CIDRs.
	IPs              []string `json:"ips,omitempty"`
	EnableAddressSet bool     `json:"enableAddressSet,omitempty"`
}

// IPPoolStatus uses camel case ("v4AvailableIPs"), unlike SubnetStatus.
//
// +kubebuilder:pruning:PreserveUnknownFields
type IPPoolStatus struct {
	V4AvailableIPs     Count       `json:"v4AvailableIPs"`
	V4AvailableIPRange string      `json:"v4AvailableIPRange"`
	V4UsingIPs         Count       `json:"v4UsingIPs"`
	V4UsingIPRange     string      `json:"v4UsingIPRange"`
	V6AvailableIPs     Count       `json:"v6AvailableIPs"`
	V6AvailableIPRange string      `json:"v6AvailableIPRange"`
	V6UsingIPs         Count       `json:"v6UsingIPs"`
	V6UsingIPRange     string      `json:"v6UsingIPRange"`
	Conditions         []Condition `json:"conditions,omitempty"`
}

// IPPoolList is a list of IPPools.
//
// +kubebuilder:object:root=true
type IPPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`

	Items []IPPool `json:"items"`
}
