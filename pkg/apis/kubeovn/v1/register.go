package v1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

// GroupVersion is the API group and version of the Kube-OVN kinds.
var GroupVersion = schema.GroupVersion{Group: "kubeovn.io", Version: "v1"}

var (
	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func init() {
	SchemeBuilder.Register(
		&Subnet{}, &SubnetList{},
		&IP{}, &IPList{},
		&IPPool{}, &IPPoolList{},
		&Vpc{}, &VpcList{},
		&Vip{}, &VipList{},
	)
}
