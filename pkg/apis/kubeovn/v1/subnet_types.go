package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Protocols a Subnet can carry in spec.protocol.
const (
	ProtocolIPv4 = "IPv4"
	ProtocolIPv6 = "IPv6"
	ProtocolDual = "Dual"
)

// Subnet is a Kube-OVN logical switch with its address space.
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=subnet
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Vpc",type=string,JSONPath=`.spec.vpc`
// +kubebuilder:printcolumn:name="Protocol",type=string,JSONPath=`.spec.protocol`
// +kubebuilder:printcolumn:name="CIDR",type=string,JSONPath=`.spec.cidrBlock`
// +kubebuilder:printcolumn:name="V4Used",type=number,JSONPath=`.status.v4usingIPs`
// +kubebuilder:printcolumn:name="V4Available",type=number,JSONPath=`.status.v4availableIPs`
// +kubebuilder:printcolumn:name="V6Used",type=number,JSONPath=`.status.v6usingIPs`
// +kubebuilder:printcolumn:name="V6Available",type=number,JSONPath=`.status.v6availableIPs`
type Subnet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	Spec   SubnetSpec   `json:"spec"`
	Status SubnetStatus `json:"status"`
}

// SubnetSpec is the desired state of a Subnet. Only the fields the rules read
// are documented; the others are carried so that a round trip keeps them.
//
// +kubebuilder:pruning:PreserveUnknownFields
type SubnetSpec struct {
	// Default marks the cluster's default subnet.
	Default bool `json:"default,omitempty"`
	// Vpc is the VPC of the subnet; empty means the default VPC.
	Vpc string `json:"vpc,omitempty"`
	// Protocol is IPv4, IPv6 or Dual; the controller derives it from CIDRBlock.
	Protocol string `json:"protocol,omitempty"`
	// Namespaces lists the namespaces bound to the subnet.
	Namespaces []string `json:"namespaces,omitempty"`
	// NamespaceSelectors select further namespaces bound to the subnet.
	NamespaceSelectors []metav1.LabelSelector `json:"namespaceSelectors,omitempty"`
	// CIDRBlock is one block, or an IPv4 and an IPv6 block separated by a comma.
	CIDRBlock string `json:"cidrBlock"`
	// Gateway is one address per block; empty means the first usable address.
	Gateway string `json:"gateway"`
	// ExcludeIps are addresses ("a") or inclusive ranges ("a..b") never allocated.
	ExcludeIps []string `json:"excludeIps,omitempty"`
	// Provider is "ovn" or "<nad>.<namespace>.ovn" for attachment networks.
	Provider string `json:"provider,omitempty"`
	// Vlan attaches the subnet to an underlay VLAN.
	Vlan string `json:"vlan,omitempty"`

	GatewayType            string   `json:"gatewayType,omitempty"`
	GatewayNode            string   `json:"gatewayNode,omitempty"`
	NatOutgoing            bool     `json:"natOutgoing,omitempty"`
	ExternalEgressGateway  string   `json:"externalEgressGateway,omitempty"`
	PolicyRoutingPriority  uint32   `json:"policyRoutingPriority,omitempty"`
	PolicyRoutingTableID   uint32   `json:"policyRoutingTableID,omitempty"`
	Mtu                    uint32   `json:"mtu,omitempty"`
	Private                bool     `json:"private,omitempty"`
	AllowSubnets           []string `json:"allowSubnets,omitempty"`
	Vips                   []string `json:"vips,omitempty"`
	LogicalGateway         bool     `json:"logicalGateway,omitempty"`
	DisableGatewayCheck    bool     `json:"disableGatewayCheck,omitempty"`
	DisableInterConnection bool     `json:"disableInterConnection,omitempty"`
	EnableDHCP             bool     `json:"enableDHCP,omitempty"`
	DHCPv4Options          string   `json:"dhcpV4Options,omitempty"`
	DHCPv6Options          string   `json:"dhcpV6Options,omitempty"`
	EnableIPv6RA           bool     `json:"enableIPv6RA,omitempty"`
	IPv6RAConfigs          string   `json:"ipv6RAConfigs,omitempty"`
	U2OInterconnection     bool     `json:"u2oInterconnection,omitempty"`
	U2OInterconnectionIP   string   `json:"u2oInterconnectionIP,omitempty"`
	EnableLb               *bool    `json:"enableLb,omitempty"`
	EnableEcmp             bool     `json:"enableEcmp,omitempty"`
	EnableMulticastSnoop   bool     `json:"enableMulticastSnoop,omitempty"`
	RouteTable             string   `json:"routeTable,omitempty"`
	NodeNetwork            string   `json:"nodeNetwork,omitempty"`
}

// SubnetStatus is what the Kube-OVN controller reports. Note the lower-case
// "available"/"using" in the JSON names, unlike IPPool.
//
// +kubebuilder:pruning:PreserveUnknownFields
type SubnetStatus struct {
	Conditions []Condition `json:"conditions,omitempty"`

	V4AvailableIPs     Count  `json:"v4availableIPs"`
	V4AvailableIPRange string `json:"v4availableIPrange"`
	V4UsingIPs         Count  `json:"v4usingIPs"`
	V4UsingIPRange     string `json:"v4usingIPrange"`
	V6AvailableIPs     Count  `json:"v6availableIPs"`
	V6AvailableIPRange string `json:"v6availableIPrange"`
	V6UsingIPs         Count  `json:"v6usingIPs"`
	V6UsingIPRange     string `json:"v6usingIPrange"`
	ActivateGateway    string `json:"activateGateway,omitempty"`
}

// SubnetList is a list of Subnets.
//
// +kubebuilder:object:root=true
type SubnetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`

	Items []Subnet `json:"items"`
}
