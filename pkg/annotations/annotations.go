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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// VMIKind and KubeVirtGroup identify the owner reference of a
	// virt-launcher pod (LauncherVM).
	VMIKind       = "VirtualMachineInstance"
	KubeVirtGroup = "kubevirt.io"
	// VMNameLabel names the KubeVirt VM a virt-launcher pod runs. Nothing
	// trusts it (see LauncherVM).
	VMNameLabel = "vm.kubevirt.io/name"
)

// MaxInterfaces bounds the interfaces (distinct provider and interface
// pairs) whose Kube-OVN annotations one pod or pod template may carry. Real
// pods have the primary interface and a handful of attachments; 32 is far
// above that, and keeps what one pod can claim (and the webhook's work per
// pod) small. A pod over the limit is refused as a whole.
const MaxInterfaces = 32

// maxIfName is the longest Linux interface name (IFNAMSIZ 16, with the
// terminating NUL).
const maxIfName = 15

// Key is a parsed Kube-OVN annotation key.
type Key struct {
	// Provider is the part before ".kubernetes.io/": "ovn", an
	// attachment's provider "<nad>.<ns>.ovn" (or "<nad>.<ns>.ovn.<ifname>"
	// when one NAD is attached twice), "<nad>.<ns>" for an IPAM-only NAD,
	// and for the per-interface form the NAD "<nad>.<ns>".
	Provider string
	Name     string
	// Interface is the ".<ifname>" suffix of the per-interface form
	// "<nad>.<ns>.kubernetes.io/ip_address.<ifname>".
	Interface string
}

// String renders the key as it appears on an object.
func (k Key) String() string {
	s := k.Provider + Domain + k.Name
	if k.Interface != "" {
		s += "." + k.Interface
	}
	return s
}

// ParseKey parses the Kube-OVN annotation keys the static-IP rules read,
// in the forms the Kube-OVN controller (v1.16) reads them:
//
//   - "<provider>.kubernetes.io/<name>" for ip_address, ip_pool,
//     logical_switch, mac_address, ip_family and allocated, any provider
//     (pkg/util/const.go's *AnnotationTemplate with the network's provider
//     name);
//   - "<nad>.<ns>.kubernetes.io/ip_address.<ifname>" and
//     ".../mac_address.<ifname>", the per-interface form of an attachment
//     with an interface name (pkg/controller/pod.go,
//     perInterfaceIPAnnotationKey): no ".ovn" segment, a NAD name and a
//     namespace before the domain, a Linux interface name after.
//
// Anything else returns false, including "ovn.kubernetes.io/ip_address.<x>",
// "<nad>.<ns>.ovn.kubernetes.io/ip_address.<x>" and suffixes on other
// names: Kube-OVN never reads them, so they claim nothing.
func ParseKey(key string) (Key, bool) {
	i := strings.Index(key, Domain)
	if i <= 0 || strings.IndexByte(key[:i], '/') >= 0 {
		return Key{}, false
	}
	provider, rest := key[:i], key[i+len(Domain):]
	name, iface, suffixed := strings.Cut(rest, ".")
	switch name {
	case IPAddress, IPPool, LogicalSwitch, MacAddress, IPFamily, Allocated:
	default:
		return Key{}, false
	}
	if !suffixed {
		return Key{Provider: provider, Name: name}, true
	}
	if (name != IPAddress && name != MacAddress) || !isNADPrefix(provider) || !validIfName(iface) {
		return Key{}, false
	}
	return Key{Provider: provider, Name: name, Interface: iface}, true
}

// isNADPrefix reports whether p is "<nad>.<ns>": a NAD name, a dot and a
// namespace name (a DNS label) that is not the "ovn" of a provider.
func isNADPrefix(p string) bool {
	dot := strings.LastIndexByte(p, '.')
	if dot <= 0 {
		return false
	}
	ns := p[dot+1:]
	return ns != DefaultProvider && isDNSLabel(ns)
}

// isDNSLabel reports whether s is an RFC 1123 label, as namespace names are.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validIfName reports whether s can name a Linux network interface
// (dev_valid_name in the kernel's net/core/dev.c): 1 to 15 bytes, not "."
// or "..", no '/', ':' or white space. An attachment's interface is created
// with that name, so a key with any other suffix matches no interface.
func validIfName(s string) bool {
	if s == "" || len(s) > maxIfName || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '/', ':', ' ', '\t', '\n', '\v', '\f', '\r':
			return false
		}
	}
	return true
}

// Request is what one interface of a pod asks for.
type Request struct {
	// Provider is the key's provider; for the per-interface form the NAD
	// "<nad>.<ns>" (see SubnetProviders for the subnets that serve it).
	Provider  string
	Interface string
	// Values by annotation name, and the keys they came from (for field
	// paths in messages).
	IPAddress, IPPool, LogicalSwitch, IPFamily string
	IPAddressKey, IPPoolKey, LogicalSwitchKey  string
	// IPFamilyKey is the key IPFamily came from.
	IPFamilyKey string
	// MacAddress is the static MAC, from MacAddressKey.
	MacAddress, MacAddressKey string
	// Allocated is set once the controller has allocated the interface
	// (its addresses are then held by an IP object, or were released).
	Allocated bool
}

// Static reports whether the request asks for fixed addresses.
func (r Request) Static() bool { return r.IPAddress != "" || r.IPPool != "" }

// SubnetProviders returns the subnet spec.provider values that may serve an
// interface, in the order the Kube-OVN controller matches them
// (pkg/controller/pod.go, getPodKubeovnNets):
//
//   - a per-interface request (iface set, provider "<nad>.<ns>"): the OVN
//     NAD's provider "<nad>.<ns>.ovn", then an IPAM-only NAD's "<nad>.<ns>";
//   - "<nad>.<ns>.ovn.<ifname>" (one NAD attached twice): itself, then
//     "<nad>.<ns>.ovn", as the controller trims the interface name before
//     matching subnets (subnetMatches);
//   - any other provider: itself.
func SubnetProviders(provider, iface string) []string {
	if iface != "" {
		return []string{provider + "." + DefaultProvider, provider}
	}
	if i := strings.LastIndex(provider, "."+DefaultProvider+"."); i > 0 &&
		strings.IndexByte(provider[:i], '.') > 0 && validIfName(provider[i+len(DefaultProvider)+2:]) {
		return []string{provider, provider[:i+1+len(DefaultProvider)]}
	}
	return []string{provider}
}

// interfaceID identifies one interface of a pod in Requests.
type interfaceID struct{ provider, iface string }

// Requests groups a pod's Kube-OVN annotations by interface, primary
// ("ovn") first, then by provider and interface name. A pod with
// annotations for more than MaxInterfaces interfaces gets nil; Parse
// tells that case apart.
func Requests(ann map[string]string) []Request {
	out, _ := Parse(ann)
	return out
}

// Parse is Requests that also reports whether the pod stays within
// MaxInterfaces (ok); when it does not, it returns nil at once. Its work is
// linear in the size of the annotations: one pass over the keys, one map
// lookup each, and a sort of at most MaxInterfaces requests.
func Parse(ann map[string]string) (reqs []Request, ok bool) {
	return parse(ann, nil)
}

// parse is Parse counting its steps (keys read, requests sorted) into
// steps when it is not nil, so a test can assert the work is linear.
func parse(ann map[string]string, steps *int) ([]Request, bool) {
	var out []Request
	var index map[interfaceID]int
	for k, v := range ann {
		if steps != nil {
			*steps++
		}
		key, ok := ParseKey(k)
		if !ok {
			continue
		}
		id := interfaceID{key.Provider, key.Interface}
		i, seen := index[id]
		if !seen {
			if len(out) == MaxInterfaces {
				return nil, false
			}
			if index == nil {
				index = make(map[interfaceID]int, 2)
			}
			i = len(out)
			index[id] = i
			out = append(out, Request{Provider: key.Provider, Interface: key.Interface})
		}
		r := &out[i]
		switch key.Name {
		case IPAddress:
			r.IPAddress, r.IPAddressKey = v, k
		case IPPool:
			r.IPPool, r.IPPoolKey = v, k
		case LogicalSwitch:
			r.LogicalSwitch, r.LogicalSwitchKey = v, k
		case IPFamily:
			r.IPFamily, r.IPFamilyKey = v, k
		case MacAddress:
			r.MacAddress, r.MacAddressKey = v, k
		case Allocated:
			r.Allocated = v == "true"
		}
	}
	for i := range out {
		if r := &out[i]; r.Interface != "" && !r.Allocated {
			r.Allocated = interfaceAllocated(ann, r.Provider, r.Interface)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if steps != nil {
			*steps++
		}
		a, b := out[i], out[j]
		if (a.Provider == DefaultProvider) != (b.Provider == DefaultProvider) {
			return a.Provider == DefaultProvider
		}
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		return a.Interface < b.Interface
	})
	return out, true
}

// interfaceAllocated reports whether the controller marked a per-interface
// request (NAD "<nad>.<ns>", interface iface) allocated. It writes
// "<provider>.kubernetes.io/allocated" with the network's provider name
// (pkg/controller/pod.go, reconcileAllocateSubnets), never with the
// per-interface key's form: "<nad>.<ns>.ovn" for an OVN NAD attached once,
// "<nad>.<ns>.ovn.<iface>" attached twice, "<nad>.<ns>" for an IPAM-only
// NAD.
func interfaceAllocated(ann map[string]string, nad, iface string) bool {
	for _, p := range [...]string{nad + "." + DefaultProvider, nad + "." + DefaultProvider + "." + iface, nad} {
		if ann[p+Domain+Allocated] == "true" {
			return true
		}
	}
	return false
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

// LauncherVM returns the KubeVirt VM a pod is a virt-launcher pod of, the
// way Kube-OVN tells it (pkg/controller/pod.go isVMPod): an owner reference
// of kind VirtualMachineInstance in the kubevirt.io group, whose name is the
// VM's (a VMI is named after its VM), and, stricter than Kube-OVN, the
// pod's controller (KubeVirt's virt-controller sets controller: true; a
// plain reference anyone may add is not enough). "" for any other pod. The
// vm.kubevirt.io/name label is not enough: Kube-OVN does not read it, and
// any pod may carry it.
func LauncherVM(refs []metav1.OwnerReference) string {
	for _, o := range refs {
		if o.Kind == VMIKind && strings.HasPrefix(o.APIVersion, KubeVirtGroup+"/") && o.Controller != nil && *o.Controller {
			return o.Name
		}
	}
	return ""
}

// OwnerKey returns who owns a pod's addresses, as the rules compare owners:
// the pod's name, or "vm/<vm>" for a virt-launcher pod of VM vm (see
// LauncherVM). StatefulSet pods keep their name across recreation, so the
// same name is the same owner; the prefix keeps a VM and a pod of the same
// name apart ("/" never occurs in a pod name).
func OwnerKey(pod, vm string) string {
	if vm != "" {
		return "vm/" + vm
	}
	return pod
}

// DescribeOwner names an owner key of namespace ns in a message: "pod
// ns/name" or "VM ns/vm".
func DescribeOwner(ns, key string) string {
	if vm, ok := strings.CutPrefix(key, "vm/"); ok {
		return "VM " + ns + "/" + vm
	}
	return "pod " + ns + "/" + key
}

// MigrationTarget reports whether a virt-launcher pod of VM vm (LauncherVM)
// is the target of a live migration: it carries KubeVirt's
// kubevirt.io/migrationJobName annotation. The annotation alone ties the
// pod to no VM, so it is not enough.
func MigrationTarget(vm string, ann map[string]string) bool {
	return vm != "" && ann[MigrationJob] != ""
}

// launcherPrefix starts the generateName of a VM's virt-launcher pods,
// "virt-launcher-<vmi>-" (KubeVirt's pod template). The API server cuts a
// generateName to 58 bytes and appends 5 random characters of
// randAlphabet (apiserver's names.SimpleNameGenerator,
// apimachinery's util/rand).
const (
	launcherPrefix     = "virt-launcher-"
	maxGeneratedBase   = 63 - randomSuffixLength
	randomSuffixLength = 5
	randAlphabet       = "bcdfghjklmnpqrstvwxz2456789"
)

// IsLauncherOf reports whether pod is a name the API server generates for a
// virt-launcher pod of VM vm.
func IsLauncherOf(pod, vm string) bool {
	base := launcherPrefix + vm + "-"
	if len(base) > maxGeneratedBase {
		base = base[:maxGeneratedBase]
	}
	if len(pod) != len(base)+randomSuffixLength || !strings.HasPrefix(pod, base) {
		return false
	}
	for i := len(base); i < len(pod); i++ {
		if strings.IndexByte(randAlphabet, pod[i]) < 0 {
			return false
		}
	}
	return true
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
