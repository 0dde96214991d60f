// Package annotations reads Kube-OVN's static-IP annotations on Pods and
// workload templates: "<provider>.kubernetes.io/<name>", where the default
// provider is "ovn" and attachment networks use "<nad>.<nad-namespace>.ovn"
// (or another IPAM provider), optionally suffixed ".<ifname>" when one
// network is attached twice.
package annotations

import (
	"net/netip"
	"sort"
	"strings"
)

// Annotation names (the part after "<provider>.kubernetes.io/").
const (
	IPAddress     = "ip_address"
	IPPool        = "ip_pool"
	LogicalSwitch = "logical_switch"
	MacAddress    = "mac_address"
	IPFamily      = "ip_family"
	Allocated     = "allocated"
)

// StaticNames are the annotation names that send a pod (or a workload's
// pod template) to the static-IP rules: a fixed address, an ip_pool, a
// subnet. The webhooks' matchConditions test for them.
var StaticNames = []string{IPAddress, IPPool, LogicalSwitch}

// Well-known keys and values.
const (
	// DefaultProvider is the provider of a pod's primary interface.
	DefaultProvider = "ovn"
	// Domain separates a key's provider from its name:
	// "<provider>.kubernetes.io/<name>".
	Domain = ".kubernetes.io/"
	// MigrationJob marks a KubeVirt live-migration target pod, which
	// shares its VM's address on purpose.
	MigrationJob = "kubevirt.io/migrationJobName"
	// VMNameLabel names the KubeVirt VM a virt-launcher pod runs.
	VMNameLabel = "vm.kubevirt.io/name"
)

// Key is a parsed Kube-OVN annotation key.
type Key struct {
	Provider  string
	Name      string
	Interface string // the optional ".<ifname>" suffix
}

// String renders the key as it appears on an object.
func (k Key) String() string {
	s := k.Provider + Domain + k.Name
	if k.Interface != "" {
		s += "." + k.Interface
	}
	return s
}

// ParseKey parses "<provider>.kubernetes.io/<name>[.<ifname>]" for the
// static-IP annotation names and "allocated". Other keys return false.
func ParseKey(key string) (Key, bool) {
	i := strings.Index(key, Domain)
	if i <= 0 || strings.IndexByte(key[:i], '/') >= 0 {
		return Key{}, false
	}
	provider, rest := key[:i], key[i+len(Domain):]
	for _, name := range []string{IPAddress, IPPool, LogicalSwitch, MacAddress, IPFamily, Allocated} {
		if rest == name {
			return Key{Provider: provider, Name: name}, true
		}
		if strings.HasPrefix(rest, name+".") && len(rest) > len(name)+1 {
			return Key{Provider: provider, Name: name, Interface: rest[len(name)+1:]}, true
		}
	}
	return Key{}, false
}

// Request is what one interface of a pod asks for.
type Request struct {
	Provider  string
	Interface string
	// Values by annotation name, and the keys they came from (for field
	// paths in messages).
	IPAddress, IPPool, LogicalSwitch, IPFamily string
	IPAddressKey, IPPoolKey, LogicalSwitchKey  string
	// Allocated is set once the controller has allocated the interface
	// (its addresses are then held by an IP object, or were released).
	Allocated bool
}

// Static reports whether the request asks for fixed addresses.
func (r Request) Static() bool { return r.IPAddress != "" || r.IPPool != "" }

// Requests groups a pod's Kube-OVN annotations by interface, primary
// ("ovn") first, then by provider and interface name.
func Requests(ann map[string]string) []Request {
	var out []Request
	find := func(provider, iface string) *Request {
		for i := range out {
			if out[i].Provider == provider && out[i].Interface == iface {
				return &out[i]
			}
		}
		out = append(out, Request{Provider: provider, Interface: iface})
		return &out[len(out)-1]
	}
	for k, v := range ann {
		key, ok := ParseKey(k)
		if !ok {
			continue
		}
		r := find(key.Provider, key.Interface)
		switch key.Name {
		case IPAddress:
			r.IPAddress, r.IPAddressKey = v, k
		case IPPool:
			r.IPPool, r.IPPoolKey = v, k
		case LogicalSwitch:
			r.LogicalSwitch, r.LogicalSwitchKey = v, k
		case IPFamily:
			r.IPFamily = v
		case Allocated:
			r.Allocated = v == "true"
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Provider == DefaultProvider) != (b.Provider == DefaultProvider) {
			return a.Provider == DefaultProvider
		}
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		return a.Interface < b.Interface
	})
	return out
}

// HasStatic reports whether any interface asks for fixed addresses, without
// allocating: the fast path for pods that need no judgement.
func HasStatic(ann map[string]string) bool {
	for k := range ann {
		if key, ok := ParseKey(k); ok && (key.Name == IPAddress || key.Name == IPPool) {
			return true
		}
	}
	return false
}

// Owner returns who owns a pod's addresses: the KubeVirt VM for a
// virt-launcher pod, otherwise the pod itself. StatefulSet pods keep their
// name across recreation, so the same name is the same owner.
func Owner(name string, labels map[string]string) string {
	if vm := labels[VMNameLabel]; vm != "" {
		return vm
	}
	return name
}

// IsPoolName tells an ip_pool value that names an IPPool from one listing
// addresses: a single element that is not an address (or CIDR).
func IsPoolName(v string) bool {
	if strings.ContainsAny(v, ",;") {
		return false
	}
	first, _, _ := strings.Cut(strings.TrimSpace(v), "/")
	_, err := netip.ParseAddr(first)
	return err != nil
}
