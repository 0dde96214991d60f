package mutate

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ipamguard/ipamguard/pkg/ipam"
)

// Field paths of the Subnet fields the defaulter writes, as the validators
// name them.
const (
	CIDRBlockField  = "spec.cidrBlock"
	GatewayField    = "spec.gateway"
	ProtocolField   = "spec.protocol"
	ExcludeIPsField = "spec.excludeIps"
)

// SubnetFields are the address fields of a Subnet spec, as written.
type SubnetFields struct {
	CIDRBlock  string
	Gateway    string
	Protocol   string
	ExcludeIPs []string
}

// DefaultSubnet returns the canonical form of a Subnet's address fields and
// the changes made, in field order:
//
//   - cidrBlock: each block as its network address in canonical text
//     (lower-case, compressed IPv6), spaces around blocks dropped, IPv4 first.
//     Anything else (a third block, two of one family, an unparseable or
//     special block) leaves every field untouched.
//   - gateway: when empty, the first usable address of each block; on dual
//     stack with one family given, completed with the other's first usable
//     address; canonical text in block order. Left as it is unless every
//     address parses and lies in the block of its family, and the result
//     passes ipam.ParseGateway.
//   - protocol: set from the blocks when empty or differing only in case. A
//     conflicting protocol is left for the validator, except on an update
//     whose new blocks changed the family mix while the protocol, unchanged,
//     matched the old blocks: then it follows the blocks.
//   - excludeIps: each entry in canonical text, overlapping and touching
//     ranges merged, sorted the way the Kube-OVN controller sorts them
//     (sort.Strings: any other order would be rewritten by the controller,
//     and the two would rewrite each other forever). Entries equal to the
//     gateway are kept for the same reason: the controller adds the gateway
//     back. Left as it is unless every entry parses and lies in a block.
//
// On an update, old is the stored object, and a field is only rewritten when
// it changed (or, for the fields judged against the blocks, when cidrBlock
// changed), like the validator's ratchet: a stored object is never rewritten
// behind its owner's back.
func DefaultSubnet(old *SubnetFields, obj SubnetFields) (SubnetFields, []Change) {
	out := obj
	var changes []Change
	cidrChanged := old == nil || old.CIDRBlock != obj.CIDRBlock
	blocks, canon, ok := canonicalBlocks(obj.CIDRBlock)
	if !ok {
		return obj, nil
	}
	if canon != obj.CIDRBlock {
		if !cidrChanged {
			// The stored text stays; the other fields may only be judged
			// against it when it is what the controller reads.
			if _, errs := ipam.ParseCIDRBlock(obj.CIDRBlock); len(errs) > 0 {
				return obj, nil
			}
		} else {
			out.CIDRBlock = canon
			changes = append(changes, scalar(CIDRBlockField, Normalised, "", obj.CIDRBlock, canon))
		}
	}

	if cidrChanged || old.Gateway != obj.Gateway {
		if gw, verb, reason, ok := canonicalGateway(obj.Gateway, blocks); ok && gw != obj.Gateway {
			out.Gateway = gw
			changes = append(changes, scalar(GatewayField, verb, reason, obj.Gateway, gw))
		}
	}

	if cidrChanged || old.Protocol != obj.Protocol {
		want := ipam.Protocol(blocks)
		switch {
		case obj.Protocol == want:
		case strings.TrimSpace(obj.Protocol) == "":
			out.Protocol = want
			changes = append(changes, scalar(ProtocolField, Defaulted, "from spec.cidrBlock", obj.Protocol, want))
		case strings.EqualFold(strings.TrimSpace(obj.Protocol), want):
			out.Protocol = want
			changes = append(changes, scalar(ProtocolField, Normalised, "", obj.Protocol, want))
		case old != nil && old.Protocol == obj.Protocol && followedBlocks(*old):
			out.Protocol = want
			changes = append(changes, scalar(ProtocolField, Changed, "to match the new spec.cidrBlock", obj.Protocol, want))
		case knownProtocol(obj.Protocol):
			// The controller overwrites a protocol that disagrees with
			// the blocks (pkg/controller/subnet.go formatAddress,
			// CheckProtocol); write what it will write.
			out.Protocol = want
			changes = append(changes, scalar(ProtocolField, Changed, "to match spec.cidrBlock, as the Kube-OVN controller sets it", obj.Protocol, want))
		}
	}

	if cidrChanged || !slices.Equal(old.ExcludeIPs, obj.ExcludeIPs) {
		if ex, ok := canonicalExcludes(obj.ExcludeIPs, out.Gateway); ok && !slices.Equal(ex, obj.ExcludeIPs) {
			out.ExcludeIPs = ex
			changes = append(changes, list(ExcludeIPsField, Normalised, "overlapping ranges merged, the gateway added and sorted as Kube-OVN stores them", obj.ExcludeIPs, ex))
		}
	}
	return out, changes
}

// followedBlocks reports whether s's protocol was the one its blocks imply,
// so that it was derived from them rather than chosen.
func followedBlocks(s SubnetFields) bool {
	blocks, _, ok := canonicalBlocks(s.CIDRBlock)
	return ok && s.Protocol == ipam.Protocol(blocks)
}

// canonicalBlocks reads a cidrBlock leniently where the meaning is obvious
// (spaces around blocks, host bits, upper case, IPv6 first) and returns the
// blocks IPv4 first with their canonical text. It fails on anything else, and
// when the canonical text would not pass ipam.ParseCIDRBlock.
func canonicalBlocks(s string) ([]netip.Prefix, string, bool) {
	if strings.Count(s, ",") > 1 {
		return nil, "", false // counted, not split: a cidrBlock may be 1 MiB of commas
	}
	elems := strings.Split(s, ",")
	var byFamily [2]netip.Prefix
	for _, e := range elems {
		addrPart, bitsPart, ok := strings.Cut(strings.TrimSpace(e), "/")
		if !ok {
			return nil, "", false
		}
		a, ok := parseAddr(addrPart)
		if !ok {
			return nil, "", false
		}
		n, err := strconv.Atoi(bitsPart)
		if err != nil || n < 0 || n > a.BitLen() || strconv.Itoa(n) != bitsPart {
			return nil, "", false
		}
		i := ipam.FamilyOf(a).Index()
		if byFamily[i].IsValid() {
			return nil, "", false
		}
		byFamily[i] = netip.PrefixFrom(a, n).Masked()
	}
	var blocks []netip.Prefix
	var text []string
	for _, p := range byFamily {
		if p.IsValid() {
			blocks = append(blocks, p)
			text = append(text, p.String())
		}
	}
	canon := strings.Join(text, ",")
	if _, errs := ipam.ParseCIDRBlock(canon); len(errs) > 0 {
		return nil, "", false
	}
	return blocks, canon, true
}

// parseAddr parses one address, trimmed, refusing zones and IPv4-mapped
// IPv6 (the validators refuse them; which form was meant is a guess).
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" || a.Is4In6() {
		return netip.Addr{}, false
	}
	return a, true
}

// canonicalGateway returns the gateway of blocks that s means, in canonical
// text and block order, with the verb and reason of the change.
func canonicalGateway(s string, blocks []netip.Prefix) (gw, verb, reason string, ok bool) {
	var given [2]netip.Addr
	n := 0
	if strings.TrimSpace(s) != "" {
		elems := strings.Split(s, ",")
		if len(elems) > len(blocks) {
			return "", "", "", false
		}
		for _, e := range elems {
			a, ok := parseAddr(e)
			if !ok {
				return "", "", "", false
			}
			i := ipam.FamilyOf(a).Index()
			if b, found := ipam.BlockOf(blocks, ipam.FamilyOf(a)); !found || !b.Contains(a) || given[i].IsValid() {
				return "", "", "", false
			}
			given[i] = a
			n++
		}
	}
	text := make([]string, len(blocks))
	var filled []string
	for i, b := range blocks {
		a := given[ipam.FamilyOfPrefix(b).Index()]
		if !a.IsValid() {
			a = ipam.Allocatable(b).From()
			filled = append(filled, ipam.FamilyOfPrefix(b).String())
		}
		text[i] = a.String()
	}
	gw = strings.Join(text, ",")
	if _, errs := ipam.ParseGateway(gw, blocks); len(errs) > 0 {
		return "", "", "", false
	}
	switch {
	case n == 0:
		return gw, Defaulted, "the first usable address of each block", true
	case len(filled) > 0:
		return gw, Completed, "the first usable address of the " + strings.Join(filled, " and ") + " block", true
	}
	return gw, Normalised, "", true
}

// knownProtocol reports whether p is IPv4, IPv6 or Dual in any case.
func knownProtocol(p string) bool {
	for _, k := range []string{"IPv4", "IPv6", "Dual"} {
		if strings.EqualFold(strings.TrimSpace(p), k) {
			return true
		}
	}
	return false
}

// canonicalExcludes returns excludeIps as the Kube-OVN controller stores them
// (v1.16.2 pkg/controller/subnet.go formatExcludeIPs, formatExcludeIPRanges,
// filterRepeatIPRange): duplicates dropped, overlapping ranges (not merely
// adjacent ones) merged, each gateway not already covered appended, sorted
// with sort.Strings. Entries outside the blocks are kept, as the controller
// keeps them (its IPAM clips them). Every entry must parse; an empty list is
// left alone (the controller then writes only the gateways, and so does it).
func canonicalExcludes(entries []string, gateway string) ([]string, bool) {
	if len(entries) == 0 {
		return nil, false
	}
	// IPv4 lists, the long ones in practice, are kept as 12-byte spans
	// (netipx.IPRange and a string would take 64 bytes an entry: 6 MB
	// for a 1.5 MiB Subnet of 100k entries).
	if out, ok, fits := canonicalSpans(entries, gateway, v4Ops); fits {
		return out, ok
	}
	out, ok, _ := canonicalSpans(entries, gateway, addrOps)
	return out, ok
}

// span is one excludeIps entry as a range of addresses of type A, with the
// index of its entry, or -1 once merged with another (its text is lost).
type span[A any] struct {
	from, to A
	idx      int32
}

// spanOps are what canonicalSpans needs of an address type.
type spanOps[A any] struct {
	// of converts an address; false if A cannot hold it.
	of       func(netip.Addr) (A, bool)
	compare  func(a, b A) int
	appendTo func(b []byte, a A) []byte
}

// v4Ops hold IPv4 addresses as uint32; addrOps any address.
var (
	v4Ops = spanOps[uint32]{
		of: func(a netip.Addr) (uint32, bool) {
			if !a.Is4() {
				return 0, false
			}
			b := a.As4()
			return binary.BigEndian.Uint32(b[:]), true
		},
		compare: cmp.Compare[uint32],
		appendTo: func(b []byte, a uint32) []byte {
			var x [4]byte
			binary.BigEndian.PutUint32(x[:], a)
			return netip.AddrFrom4(x).AppendTo(b)
		},
	}
	addrOps = spanOps[netip.Addr]{
		of:       func(a netip.Addr) (netip.Addr, bool) { return a, true },
		compare:  netip.Addr.Compare,
		appendTo: func(b []byte, a netip.Addr) []byte { return a.AppendTo(b) },
	}
)

// canonicalSpans is canonicalExcludes with addresses of type A; fits is
// false when an entry or gateway does not fit A.
func canonicalSpans[A any](entries []string, gateway string, ops spanOps[A]) (out []string, ok, fits bool) {
	rs := make([]span[A], 0, len(entries))
	for i, e := range entries {
		r, err := ipam.ParseExcludeEntry(strings.TrimSpace(e))
		if err != nil {
			return nil, false, true
		}
		from, ok1 := ops.of(r.From())
		to, ok2 := ops.of(r.To())
		if !ok1 || !ok2 {
			return nil, false, false
		}
		rs = append(rs, span[A]{from: from, to: to, idx: int32(i)})
	}
	rs = mergeOverlapping(rs, ops.compare)
	out = make([]string, 0, len(rs)+2)
	var buf []byte
	for _, e := range rs {
		// An entry already written canonically keeps its string: a
		// Subnet with 100k excludeIps is not re-rendered address by
		// address.
		buf = ops.appendTo(buf[:0], e.from)
		if ops.compare(e.from, e.to) != 0 {
			buf = append(buf, ".."...)
			buf = ops.appendTo(buf, e.to)
		}
		if e.idx >= 0 {
			if text := strings.TrimSpace(entries[e.idx]); string(buf) == text {
				out = append(out, text)
				continue
			}
		}
		out = append(out, string(buf))
	}
	if strings.TrimSpace(gateway) != "" {
		for g := range strings.SplitSeq(gateway, ",") {
			ga, ok := parseAddr(g)
			if !ok {
				return nil, false, true
			}
			a, ok := ops.of(ga)
			if !ok {
				return nil, false, false
			}
			// The ranges are sorted and disjoint: one search finds the
			// only one that may hold a.
			i, _ := slices.BinarySearchFunc(rs, a, func(e span[A], a A) int { return ops.compare(e.from, a) })
			in := func(e span[A]) bool { return ops.compare(e.from, a) <= 0 && ops.compare(a, e.to) <= 0 }
			if !(i < len(rs) && in(rs[i])) && !(i > 0 && in(rs[i-1])) {
				out = append(out, ga.String())
			}
		}
	}
	sort.Strings(out)
	return out, true, true
}

// mergeOverlapping sorts spans by start and merges those that share an
// address; touching ranges (a..b, b+1..c) stay apart, as the controller
// keeps them. A merged span loses its entry. Addresses of different
// families never merge: compare orders IPv4 before IPv6.
func mergeOverlapping[A any](rs []span[A], compare func(a, b A) int) []span[A] {
	slices.SortFunc(rs, func(a, b span[A]) int {
		if c := compare(a.from, b.from); c != 0 {
			return c
		}
		return compare(a.to, b.to)
	})
	out := rs[:0]
	for _, e := range rs {
		if n := len(out); n > 0 && compare(out[n-1].to, e.from) >= 0 {
			if compare(out[n-1].to, e.to) < 0 {
				out[n-1].to = e.to
			}
			out[n-1].idx = -1
			continue
		}
		out = append(out, e)
	}
	return out
}
