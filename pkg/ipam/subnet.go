package ipam

import (
	"fmt"
	"net/netip"
	"strings"
)

// Subnet is a parsed, immutable view of the address fields of a Subnet spec, built
// leniently for objects already stored in the cluster.
type Subnet struct {
	// Blocks holds at most one prefix per family, IPv4 first; it is empty when no
	// element of cidrBlock could be read.
	Blocks []netip.Prefix
	// Gateways is parallel to Blocks; a block whose gateway is missing or
	// unusable gets the default, the first allocatable address.
	Gateways []netip.Addr
	// Exclude holds excludeIps plus the gateways, clipped to Blocks.
	Exclude ExcludeSet
}

// NewSubnet builds a Subnet leniently and never fails, because objects already in
// the cluster must be judged as the controller sees them, not as the webhook would
// have liked them. It tolerates spaces, masks host bits, ignores unreadable
// elements and keeps the first block of each family, reordering IPv4 first.
// Special ranges are not refused here; ParsePrefix is the strict check.
func NewSubnet(cidrBlock, gateway string, excludeIPs []string) Subnet {
	var s Subnet
	var byFamily [2]netip.Prefix
	for e := range strings.SplitSeq(cidrBlock, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(e))
		if err != nil || p.Addr().Is4In6() {
			continue
		}
		if i := FamilyOfPrefix(p).Index(); !byFamily[i].IsValid() {
			byFamily[i] = p.Masked()
		}
	}
	for _, p := range byFamily {
		if p.IsValid() {
			s.Blocks = append(s.Blocks, p)
		}
	}
	if len(s.Blocks) == 0 {
		return s
	}
	var given []netip.Addr
	for e := range strings.SplitSeq(gateway, ",") {
		if a, err := netip.ParseAddr(strings.TrimSpace(e)); err == nil && a.Zone() == "" {
			given = append(given, a)
		}
	}
	s.Gateways = make([]netip.Addr, len(s.Blocks))
	for i, p := range s.Blocks {
		s.Gateways[i] = Allocatable(p).From()
		for _, a := range given {
			if p.Contains(a) {
				s.Gateways[i] = a
				break
			}
		}
	}
	s.Exclude = NewExcludeSet(excludeIPs, s.Blocks, s.Gateways)
	return s
}

// Block returns the block of family f.
func (s Subnet) Block(f Family) (netip.Prefix, bool) {
	for _, p := range s.Blocks {
		if FamilyOfPrefix(p) == f {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// Gateway returns the gateway of the block of family f.
func (s Subnet) Gateway(f Family) (netip.Addr, bool) {
	for i, p := range s.Blocks {
		if FamilyOfPrefix(p) == f && i < len(s.Gateways) {
			return s.Gateways[i], true
		}
	}
	return netip.Addr{}, false
}

// Contains reports whether a lies inside the block of a's family.
func (s Subnet) Contains(a netip.Addr) bool {
	p, ok := s.Block(FamilyOf(a))
	return ok && p.Contains(a)
}

// Allocatable reports whether a could be handed out to a pod: inside the block of
// its family, neither the network nor the broadcast address, not the gateway and
// not excluded. When it could not, reason is a short lower-case phrase for
// messages: "outside 10.16.0.0/16", "the network address of 10.16.0.0/16",
// "the broadcast address of 10.16.0.0/16", "the gateway", "excluded by
// excludeIps", or, when the subnet has no block of a's family, "not in an IPv6
// block of the subnet". Callers that follow the controller in allowing static IPs
// inside excludeIps can single out that last reason via Exclude.Contains.
func (s Subnet) Allocatable(a netip.Addr) (ok bool, reason string) {
	if !a.IsValid() {
		return false, "not a valid IP address"
	}
	if a.Zone() != "" {
		return false, "an address with a zone"
	}
	f := FamilyOf(a)
	p, found := s.Block(f)
	if !found {
		return false, fmt.Sprintf("not in an %s block of the subnet", f)
	}
	switch {
	case !p.Contains(a):
		return false, "outside " + p.String()
	case IsReserved(p, a) && a == p.Addr():
		return false, "the network address of " + p.String()
	case IsReserved(p, a):
		return false, "the broadcast address of " + p.String()
	}
	if g, ok := s.Gateway(f); ok && g == a {
		return false, "the gateway"
	}
	if s.Exclude.Contains(a) {
		return false, "excluded by excludeIps"
	}
	return true, ""
}

// Capacity returns how many addresses of the block of family f can be handed out:
// Capacity(block) minus the excluded allocatable addresses of the block (the
// gateway counts as excluded). It saturates at math.MaxUint64 and is 0 when the
// subnet has no block of family f.
func (s Subnet) Capacity(f Family) uint64 {
	p, ok := s.Block(f)
	if !ok {
		return 0
	}
	if hostBits(p) > 64 {
		// The block's size overflows uint64: subtract in 128 bits so that a
		// huge exclusion still yields the exact remainder.
		return allocatableSize(p).sub(s.Exclude.countIn(p)).uint64Sat()
	}
	c, excluded := Capacity(p), s.Exclude.CountIn(p)
	if excluded >= c {
		return 0
	}
	return c - excluded
}
