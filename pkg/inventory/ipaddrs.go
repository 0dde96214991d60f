package inventory

import (
	"net/netip"
	"slices"
	"strings"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/ipam"
)

// IPField names the spec field of an IP object an address was read from.
type IPField uint8

// Fields of an IP object's spec that name addresses.
const (
	FieldV4IPAddress IPField = iota + 1 // spec.v4IpAddress
	FieldV6IPAddress                    // spec.v6IpAddress
	FieldIPAddress                      // spec.ipAddress
	FieldAttachIPs                      // spec.attachIps[Index]
)

// IPAddr is one address an IP object holds: the subnet it is held in, the
// address, and where in the spec it was written.
type IPAddr struct {
	Subnet string
	Addr   netip.Addr
	Field  IPField
	// Index is the position in attachIps (and attachSubnets) for
	// FieldAttachIPs, 0 otherwise.
	Index int
	// Value is the whole field the address was read from, as written.
	Value string
}

// IPAddrs returns every address an IP object holds, each (subnet, address)
// once: the union of v4IpAddress, v6IpAddress and ipAddress in spec.subnet,
// then each attachIps entry in the attachSubnets entry at the same
// position. It is the one definition of an IP object's addresses: the
// Store records these (IPHolders) and the IP object rules check these for
// conflicts, so nothing can be checked without being recorded or the
// other way round.
//
// The union, not ipAddress alone, because the Kube-OVN controller reads
// both and does not reconcile them first (v1.16.2 and master):
// a reserved IP object is allocated from v4IpAddress/v6IpAddress
// (ipAcquireAddress in pkg/controller/ip.go), after which the controller
// overwrites ipAddress with their comma join; but on every restart it
// restores keep-IP StatefulSet and VM addresses from ipAddress (InitIPAM in
// pkg/controller/init.go) and rewrites the family fields from ipAddress
// (syncIPCR), and its own webhook compares static IPs with ipAddress
// (pkg/webhook/static_ip.go). When the fields disagree, each address is
// held at some point, so a guard counts both.
//
// Parsing is lenient, like the controller's: entries are split on commas
// and trimmed, and what does not parse is skipped (the ip-invalid rule
// reports it). Family fields come first so that a finding names them
// rather than ipAddress. Empty subnets hold nothing.
func IPAddrs(spec *kubeovnv1.IPSpec) []IPAddr {
	// An IP object names a handful of addresses, but may be written with
	// 60k: out is sized once, and long lists are deduplicated by sorting
	// (dedupe), so the cost stays linear (n log n) and small.
	n := strings.Count(spec.V4IPAddress, ",") + strings.Count(spec.V6IPAddress, ",") + strings.Count(spec.IPAddress, ",") + 3
	for i := range min(len(spec.AttachSubnets), len(spec.AttachIPs)) {
		n += strings.Count(spec.AttachIPs[i], ",") + 1
	}
	out := make([]IPAddr, 0, n)
	long := n > 16
	add := func(subnet string, f IPField, i int, list string) {
		if subnet == "" || list == "" {
			return
		}
		for part := range strings.SplitSeq(list, ",") {
			a, ok := ipam.ParseIP(strings.TrimSpace(part)) // netip.ParseAddr, without an error value per bad entry
			if !ok || !long && containsAddr(out, subnet, a) {
				continue
			}
			out = append(out, IPAddr{Subnet: subnet, Addr: a, Field: f, Index: i, Value: list})
		}
	}
	add(spec.Subnet, FieldV4IPAddress, 0, spec.V4IPAddress)
	add(spec.Subnet, FieldV6IPAddress, 0, spec.V6IPAddress)
	add(spec.Subnet, FieldIPAddress, 0, spec.IPAddress)
	for i, subnet := range spec.AttachSubnets {
		if i < len(spec.AttachIPs) {
			add(subnet, FieldAttachIPs, i, spec.AttachIPs[i])
		}
	}
	if long {
		out = dedupeAddrs(out)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// dedupeAddrs keeps the first IPAddr of each (subnet, address), in order: the
// positions are sorted by key (then position), the later ones of each key
// dropped.
func dedupeAddrs(out []IPAddr) []IPAddr {
	idx := make([]int32, len(out))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(x, y int32) int {
		a, b := &out[x], &out[y]
		if c := strings.Compare(a.Subnet, b.Subnet); c != 0 {
			return c
		}
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		return int(x - y)
	})
	drop := make([]bool, len(out))
	for k := 1; k < len(idx); k++ {
		a, b := &out[idx[k-1]], &out[idx[k]]
		if a.Subnet == b.Subnet && a.Addr == b.Addr {
			drop[idx[k]] = true
		}
	}
	kept := out[:0]
	for i := range out {
		if !drop[i] {
			kept = append(kept, out[i])
		}
	}
	return kept
}

// containsAddr is a linear search, for the handful of addresses an IP
// object normally names.
func containsAddr(as []IPAddr, subnet string, a netip.Addr) bool {
	for _, x := range as {
		if x.Addr == a && x.Subnet == subnet {
			return true
		}
	}
	return false
}
