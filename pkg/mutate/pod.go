package mutate

import (
	"net/netip"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	"github.com/ipamguard/ipamguard/pkg/ipam"
)

// Resolver returns the blocks of the subnets one interface of a pod may land
// in (validate.ResolveSubnets, reduced to blocks); nil when none resolves.
// The defaulter calls it only for addresses written with a prefix length.
type Resolver func(req annotations.Request) []netip.Prefix

// AnnotationChange is the new value of one annotation.
type AnnotationChange struct {
	Key, Value string
}

// AnnotationField returns the field path of an annotation as the validators
// name it: metadata.annotations[<key>].
func AnnotationField(key string) string {
	return field.NewPath("metadata", "annotations").Key(key).String()
}

// DefaultPodAnnotations returns the canonical form of a pod's static-IP
// annotations (ip_address, and ip_pool when it lists addresses; any
// provider and interface), one AnnotationChange per rewritten key, with the
// matching Changes. Per value:
//
//   - spaces around addresses and groups are dropped, addresses are written
//     in canonical text;
//   - IPv4 comes before IPv6 in ip_address and in each ";" group of ip_pool
//     (within a family the order is kept; group order never changes: a
//     StatefulSet pod takes the group of its ordinal);
//   - "address/prefix" loses its "/prefix" only when it names a host (not the
//     network address) of a block, with that block's length, of a subnet the
//     interface resolves to: "10.16.0.5/16" in ovn-default 10.16.0.0/16.
//
// A value with anything unparseable, ambiguous (two addresses of one family
// where one pod takes at most one, another prefix length, an empty element)
// is left untouched as a whole, for the validator to refuse with the user's
// own text.
func DefaultPodAnnotations(ann map[string]string, resolve Resolver) ([]AnnotationChange, []Change) {
	var out []AnnotationChange
	var changes []Change
	for _, req := range annotations.Requests(ann) {
		var blocks []netip.Prefix
		resolved := false
		blocksOf := func() []netip.Prefix {
			if !resolved && resolve != nil {
				blocks, resolved = resolve(req), true
			}
			return blocks
		}
		for _, kv := range []struct {
			key, value string
			pool       bool
		}{{req.IPAddressKey, req.IPAddress, false}, {req.IPPoolKey, req.IPPool, true}} {
			if kv.key == "" || kv.value == "" || (kv.pool && annotations.IsPoolName(kv.value)) {
				continue
			}
			canon, ok := canonicalAddresses(kv.value, kv.pool, blocksOf)
			if !ok || canon == kv.value {
				continue
			}
			out = append(out, AnnotationChange{Key: kv.key, Value: canon})
			changes = append(changes, scalar(AnnotationField(kv.key), Normalised, "", kv.value, canon))
		}
	}
	return out, changes
}

// canonicalAddresses rewrites an ip_address (pool false) or an ip_pool
// address list. A pool with ";" is a list of per-pod groups; a flat pool is
// one group whose families are not limited to one address each.
func canonicalAddresses(value string, pool bool, blocks func() []netip.Prefix) (string, bool) {
	groups := []string{value}
	perPod := true
	if pool {
		if strings.Contains(value, ";") {
			groups = strings.Split(value, ";")
		} else {
			perPod = false
		}
	}
	out := make([]string, len(groups))
	for i, g := range groups {
		var byFamily [2][]string
		for part := range strings.SplitSeq(g, ",") {
			a, ok := hostAddress(strings.TrimSpace(part), blocks)
			if !ok {
				return "", false
			}
			fi := ipam.FamilyOf(a).Index()
			if perPod && len(byFamily[fi]) > 0 {
				return "", false
			}
			byFamily[fi] = append(byFamily[fi], a.String())
		}
		out[i] = strings.Join(append(byFamily[0], byFamily[1]...), ",")
	}
	return strings.Join(out, ";"), true
}

// hostAddress reads one address, or "address/prefix" naming a host of a
// resolved block with that block's length.
func hostAddress(s string, blocks func() []netip.Prefix) (netip.Addr, bool) {
	addrPart, bitsPart, hasPrefix := strings.Cut(s, "/")
	a, ok := parseAddr(addrPart)
	if !ok || addrPart != strings.TrimSpace(addrPart) {
		return netip.Addr{}, false
	}
	if !hasPrefix {
		return a, true
	}
	n, err := strconv.Atoi(bitsPart)
	if err != nil || strconv.Itoa(n) != bitsPart {
		return netip.Addr{}, false
	}
	for _, b := range blocks() {
		if b.Bits() == n && b.Contains(a) && a != b.Masked().Addr() {
			return a, true
		}
	}
	return netip.Addr{}, false
}
