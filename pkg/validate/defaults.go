// Package validate holds the rules: one validator per kind, each a pure
// function of the object(s) under admission and an inventory.Reader,
// producing findings (rule ID + field error). It performs no I/O.
package validate

import "net/netip"

// Defaults are the Kube-OVN controller settings the rules must agree with
// (controller flags in Kube-OVN, config here).
type Defaults struct {
	// VPC is the default VPC (an empty spec.vpc means it).
	VPC string
	// Subnet is the default subnet.
	Subnet string
	// JoinSubnet is the name of the join subnet, exempt from the join CIDR check.
	JoinSubnet string
	// JoinCIDR are the join subnet's blocks.
	JoinCIDR []netip.Prefix
	// ServiceCIDR are the cluster's service blocks.
	ServiceCIDR []netip.Prefix
}

// FreshInstallDefaults returns the defaults of a fresh Kube-OVN install with
// Kubernetes' default service CIDR.
func FreshInstallDefaults() Defaults {
	return Defaults{
		VPC:         "ovn-cluster",
		Subnet:      "ovn-default",
		JoinSubnet:  "join",
		JoinCIDR:    []netip.Prefix{netip.MustParsePrefix("100.64.0.0/16")},
		ServiceCIDR: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")},
	}
}
