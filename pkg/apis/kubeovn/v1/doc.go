// Package v1 holds ipamguard's own, wire-compatible copy of the kubeovn.io/v1
// types it reads: Subnet, IP, IPPool, Vpc and Vip.
//
// The upstream Go module is not a dependency on purpose: the webhook only needs
// the fields its rules judge, and must decode what every supported Kube-OVN
// release stores. Unknown fields are never rejected, and the generated CRDs
// (used by tests and the local control plane) preserve them.
//
// +kubebuilder:object:generate=true
// +groupName=kubeovn.io
// +kubebuilder:validation:Optional
package v1
