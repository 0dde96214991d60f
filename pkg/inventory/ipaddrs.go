package inventory

import (
	"iter"
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
	n := addrCount(spec)
	out := appendIPAddrs(make([]IPAddr, 0, n), spec, n > shortAddrs)
	if len(out) == 0 {
		return nil
	}
	return out
}

// shortAddrs is how many addresses a list may name and still be
// deduplicated by linear search.
const shortAddrs = 16

// EachIPAddr calls fn with each address IPAddrs returns, in the same
// order, until fn returns false. For the handful of addresses an IP
// object normally names it allocates nothing: the doctor walks a million
// IP objects several times.
func EachIPAddr(spec *kubeovnv1.IPSpec, fn func(IPAddr) bool) {
	if n := addrCount(spec); n > shortAddrs {
		for _, a := range IPAddrs(spec) {
			if !fn(a) {
				return
			}
		}
		return
	}
	var buf [shortAddrs]IPAddr
	for _, a := range appendIPAddrs(buf[:0], spec, false) {
		if !fn(a) {
			return
		}
	}
}

// IPAddrSeq is EachIPAddr as an iterator, for range loops.
func IPAddrSeq(spec *kubeovnv1.IPSpec) iter.Seq[IPAddr] {
	return func(yield func(IPAddr) bool) { EachIPAddr(spec, yield) }
}

// addrCount bounds how many addresses an IP object names.
func addrCount(spec *kubeovnv1.IPSpec) int {
	n := strings.Count(spec.V4IPAddress, ",") + strings.Count(spec.V6IPAddress, ",") + strings.Count(spec.IPAddress, ",") + 3
	for i := range min(len(spec.AttachSubnets), len(spec.AttachIPs)) {
		n += strings.Count(spec.AttachIPs[i], ",") + 1
	}
	return n
}

// appendIPAddrs appends the addresses of spec to out; long lists are
// deduplicated by sorting, short ones as they are appended.
func appendIPAddrs(out []IPAddr, spec *kubeovnv1.IPSpec, long bool) []IPAddr {
	out = appendAddrs(out, spec.Subnet, FieldV4IPAddress, 0, spec.V4IPAddress, long)
	out = appendAddrs(out, spec.Subnet, FieldV6IPAddress, 0, spec.V6IPAddress, long)
	out = appendAddrs(out, spec.Subnet, FieldIPAddress, 0, spec.IPAddress, long)
	for i, subnet := range spec.AttachSubnets {
		if i < len(spec.AttachIPs) {
			out = appendAddrs(out, subnet, FieldAttachIPs, i, spec.AttachIPs[i], long)
		}
	}
	if long {
		out = dedupeAddrs(out)
	}
	return out
}

// appendAddrs appends the addresses of one comma-separated field.
func appendAddrs(out []IPAddr, subnet string, f IPField, i int, list string, long bool) []IPAddr {
	if subnet == "" || list == "" {
		return out
	}
	for rest := list; ; {
		part, tail, more := strings.Cut(rest, ",")
		a, ok := ipam.ParseIP(strings.TrimSpace(part)) // netip.ParseAddr, without an error value per bad entry
		if ok && (long || !containsAddr(out, subnet, a)) {
			out = append(out, IPAddr{Subnet: subnet, Addr: a, Field: f, Index: i, Value: list})
		}
		if !more {
			return out
		}
		rest = tail
	}
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
