package mutate

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go4.org/netipx"

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
		}
	}

	if cidrChanged || !slices.Equal(old.ExcludeIPs, obj.ExcludeIPs) {
		if ex, ok := canonicalExcludes(obj.ExcludeIPs, blocks); ok && !slices.Equal(ex, obj.ExcludeIPs) {
			out.ExcludeIPs = ex
			changes = append(changes, list(ExcludeIPsField, Normalised, "merged and sorted as Kube-OVN stores them", obj.ExcludeIPs, ex))
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

// canonicalExcludes merges and sorts excludeIps entries, all of which must
// parse and lie inside a block.
func canonicalExcludes(entries []string, blocks []netip.Prefix) ([]string, bool) {
	if len(entries) == 0 {
		return nil, false
	}
	var b netipx.IPSetBuilder
	for _, e := range entries {
		r, err := ipam.ParseExcludeEntry(strings.TrimSpace(e))
		if err != nil {
			return nil, false
		}
		block, ok := ipam.BlockOf(blocks, ipam.FamilyOf(r.From()))
		if !ok || !block.Contains(r.From()) || !block.Contains(r.To()) {
			return nil, false
		}
		b.AddRange(r)
	}
	set, err := b.IPSet()
	if err != nil {
		return nil, false
	}
	var out []string
	for _, r := range set.Ranges() {
		if r.From() == r.To() {
			out = append(out, r.From().String())
		} else {
			out = append(out, r.From().String()+".."+r.To().String())
		}
	}
	sort.Strings(out)
	return out, true
}
