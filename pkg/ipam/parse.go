package ipam

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"

	"go4.org/netipx"
)

// specialRange is an address range that can never be (part of) a subnet.
type specialRange struct {
	prefix netip.Prefix
	name   string
}

// specialRanges are checked in order; the first overlap is reported.
var specialRanges = [...]specialRange{
	{netip.MustParsePrefix("0.0.0.0/32"), "unspecified address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback range"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local range"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast range"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast address"},
	{netip.MustParsePrefix("::/128"), "unspecified address"},
	{netip.MustParsePrefix("::1/128"), "loopback address"},
	{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped range"},
	{netip.MustParsePrefix("fe80::/10"), "link-local range"},
	{netip.MustParsePrefix("ff00::/8"), "multicast range"},
}

func hasSpace(s string) bool {
	return strings.IndexFunc(s, unicode.IsSpace) >= 0
}

// ParsePrefix parses one CIDR strictly. It refuses white space, zones, a missing
// prefix length, set host bits (the error names the network address),
// IPv4-mapped IPv6 prefixes (the error names the IPv4 form), and any prefix that
// overlaps a range that cannot hold pods: the unspecified address (so 0.0.0.0/0
// and ::/0 too), loopback, link-local, multicast and 255.255.255.255. A prefix is
// refused both when it lies inside such a range and when it contains one.
// Upper-case IPv6 is accepted; it is the same address.
func ParsePrefix(s string) (netip.Prefix, *Error) {
	if s == "" {
		return netip.Prefix{}, newError(s, "empty CIDR; expected an address and a prefix length such as 10.16.0.0/16")
	}
	if hasSpace(s) {
		return netip.Prefix{}, newError(s, "must not contain spaces")
	}
	addrPart, bitsPart, ok := strings.Cut(s, "/")
	if !ok {
		return netip.Prefix{}, newError(s, "missing prefix length; write a CIDR such as 10.16.0.0/16")
	}
	if strings.Contains(addrPart, "%") {
		return netip.Prefix{}, newError(s, "zones are not allowed in a CIDR")
	}
	addr, err := netip.ParseAddr(addrPart)
	if err != nil {
		return netip.Prefix{}, newError(s, "%q is not a valid IP address", addrPart)
	}
	n, err := strconv.Atoi(bitsPart)
	if err != nil || n < 0 || n > addr.BitLen() || bitsPart != strconv.Itoa(n) {
		return netip.Prefix{}, newError(s, "prefix length %q is not a number from 0 to %d", bitsPart, addr.BitLen())
	}
	p := netip.PrefixFrom(addr, n)
	if addr.Is4In6() {
		msg := "an IPv4-mapped IPv6 prefix is not allowed"
		if p.Bits() >= 96 {
			msg += fmt.Sprintf("; write %s", netip.PrefixFrom(addr.Unmap(), p.Bits()-96).Masked())
		}
		return netip.Prefix{}, newError(s, "%s", msg)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, newError(s, "host bits are set; the network address is %s", m)
	}
	for _, sr := range specialRanges {
		if !sr.prefix.Overlaps(p) {
			continue
		}
		switch {
		case sr.prefix == p:
			return netip.Prefix{}, newError(s, "%s %s cannot be a subnet", sr.name, sr.prefix)
		case p.Bits() < sr.prefix.Bits():
			return netip.Prefix{}, newError(s, "contains the %s %s, which cannot be part of a subnet", sr.name, sr.prefix)
		default:
			return netip.Prefix{}, newError(s, "inside the %s %s, which cannot be a subnet", sr.name, sr.prefix)
		}
	}
	return p, nil
}

// maxJudgedBlocks is the most cidrBlock elements judged one by one; a
// cidrBlock with more is refused with one error that counts them.
const maxJudgedBlocks = 8

// ParseCIDRBlock parses a Subnet spec.cidrBlock: one prefix, or an IPv4 and an
// IPv6 prefix separated by a comma (dual stack, IPv4 first, because the
// controller takes element 0 as IPv4). Every element goes through ParsePrefix.
// All problems are returned at once, one *Error per bad element or structural
// rule; blocks is nil whenever errs is not. A cidrBlock of more than
// maxJudgedBlocks elements gets the one error that counts them.
func ParseCIDRBlock(s string) (blocks []netip.Prefix, errs []*Error) {
	if s == "" {
		return nil, []*Error{newError(s, "empty cidrBlock; expected a CIDR such as 10.16.0.0/16 or a dual-stack pair such as 10.16.0.0/16,fd00:10:16::/64")}
	}
	if n := strings.Count(s, ",") + 1; n > maxJudgedBlocks {
		// Refused for the count alone: judging thousands of elements one
		// by one would only say so thousands of times.
		return nil, []*Error{newError(s, "%d blocks given; at most two are allowed, one IPv4 and one IPv6", n)}
	}
	elems := strings.Split(s, ",")
	if len(elems) > 2 {
		errs = append(errs, newError(s, "%d blocks given; at most two are allowed, one IPv4 and one IPv6", len(elems)))
	}
	parsed := make([]netip.Prefix, 0, 2)
	for i, e := range elems {
		if e == "" {
			errs = append(errs, newError(s, "element %d is empty; remove the extra comma", i+1))
			continue
		}
		p, err := ParsePrefix(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		parsed = append(parsed, p)
	}
	var seen [2]int // count of IPv4, IPv6 blocks
	for _, p := range parsed {
		seen[FamilyOfPrefix(p).Index()]++
	}
	for i, f := range [2]Family{IPv4, IPv6} {
		if seen[i] > 1 {
			errs = append(errs, newError(s, "%d %s blocks given; a subnet has at most one block per family", seen[i], f))
		}
	}
	if len(parsed) == 2 && seen[0] == 1 && seen[1] == 1 && FamilyOfPrefix(parsed[0]) == IPv6 {
		errs = append(errs, newError(s, "the IPv4 block must come first; write %s,%s", parsed[1], parsed[0]))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return parsed, nil
}

// parseAddr parses one address strictly for the messages of ParseGateway and
// ParseExcludeEntry.
func parseAddr(value, s string) (netip.Addr, *Error) {
	if s == "" {
		return netip.Addr{}, newError(value, "empty address")
	}
	if hasSpace(s) {
		return netip.Addr{}, newError(value, "must not contain spaces")
	}
	if strings.Contains(s, "/") {
		return netip.Addr{}, newError(value, "%q is a CIDR; an address is expected here", s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, newError(value, "%q is not a valid IP address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, newError(value, "zones are not allowed; write %s", a.WithZone(""))
	}
	if a.Is4In6() {
		return netip.Addr{}, newError(value, "an IPv4-mapped IPv6 address is not allowed; write %s", a.Unmap())
	}
	return a, nil
}

// ParseGateway parses spec.gateway against blocks already returned by
// ParseCIDRBlock. An empty s yields the default gateway of every block, the
// first allocatable address (Allocatable(p).From()). Otherwise s must list
// exactly one address per block, comma separated and in block order; each must
// be of its block's family, lie inside it, and not be its network or broadcast
// address. When blocks is empty (cidrBlock was invalid) only the address syntax is
// checked and gateways is nil. gateways is nil whenever errs is not.
func ParseGateway(s string, blocks []netip.Prefix) (gateways []netip.Addr, errs []*Error) {
	if s == "" {
		if len(blocks) == 0 {
			return nil, nil
		}
		gateways = make([]netip.Addr, len(blocks))
		for i, p := range blocks {
			gateways[i] = Allocatable(p).From()
		}
		return gateways, nil
	}
	elems := strings.Split(s, ",")
	countOK := len(elems) == len(blocks)
	if !countOK && len(blocks) > 0 {
		noun := "gateways"
		if len(blocks) == 1 {
			noun = "gateway"
		}
		errs = append(errs, newError(s, "expected %d %s (one per block), got %d", len(blocks), noun, len(elems)))
	}
	gateways = make([]netip.Addr, 0, len(elems))
	for i, e := range elems {
		value := e
		if len(elems) > 1 && e == "" {
			value = s
		}
		a, err := parseAddr(value, e)
		if err != nil {
			if len(elems) > 1 && e == "" {
				err.Msg = fmt.Sprintf("element %d is empty; remove the extra comma", i+1)
			}
			errs = append(errs, err)
			continue
		}
		gateways = append(gateways, a)
		if len(blocks) == 0 {
			continue
		}
		var block netip.Prefix
		if countOK {
			block = blocks[i]
			if FamilyOf(a) != FamilyOfPrefix(block) {
				errs = append(errs, newError(e, "gateway %d is %s but block %d (%s) is %s; list the gateways in block order",
					i+1, FamilyOf(a), i+1, block, FamilyOfPrefix(block)))
				continue
			}
		} else {
			// The positions are ambiguous: judge the address against the block
			// of its family so the user still learns everything else.
			var ok bool
			if block, ok = BlockOf(blocks, FamilyOf(a)); !ok {
				errs = append(errs, newError(e, "the subnet has no %s block", FamilyOf(a)))
				continue
			}
		}
		if err := checkGateway(e, a, block); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 || len(blocks) == 0 {
		return nil, errs
	}
	return gateways, nil
}

func checkGateway(value string, a netip.Addr, block netip.Prefix) *Error {
	switch {
	case !block.Contains(a):
		return newError(value, "gateway is outside %s", block)
	case IsReserved(block, a) && a == block.Masked().Addr():
		return newError(value, "the network address of %s cannot be the gateway", block)
	case IsReserved(block, a) && a.Is6():
		// IPv6 has no broadcast address: newer Kube-OVN accepts the
		// all-ones address as gateway (master pkg/util/validator.go
		// ValidateNetworkBroadcast, kube-ovn #6883); releases differ, so
		// the union is accepted.
		return nil
	case IsReserved(block, a):
		return newError(value, "the broadcast address of %s cannot be the gateway", block)
	}
	return nil
}

// ParseExcludeEntry parses one spec.excludeIps entry strictly: a single address
// ("10.0.0.5") or an inclusive range "a..b" whose ends are of the same family with
// a <= b. Spaces and CIDRs are refused (the error for a CIDR names the equivalent
// range).
func ParseExcludeEntry(s string) (netipx.IPRange, *Error) {
	if r, ok := ExcludeRange(s); ok {
		return r, nil
	}
	return parseExcludeEntry(s)
}

// parseExcludeEntry is ParseExcludeEntry with its messages, for the
// entries ExcludeRange refuses.
func parseExcludeEntry(s string) (netipx.IPRange, *Error) {
	if s == "" {
		return netipx.IPRange{}, newError(s, "empty entry; expected an address such as 10.16.0.5 or a range such as 10.16.0.5..10.16.0.9")
	}
	if hasSpace(s) {
		return netipx.IPRange{}, newError(s, "must not contain spaces")
	}
	if strings.Contains(s, "/") {
		if p, err := netip.ParsePrefix(s); err == nil && !p.Addr().Is4In6() && p.Addr().Zone() == "" {
			r := netipx.RangeOfPrefix(p.Masked())
			return netipx.IPRange{}, newError(s, "CIDRs are not supported in excludeIps; write the range %s..%s", r.From(), r.To())
		}
		return netipx.IPRange{}, newError(s, "CIDRs are not supported in excludeIps; write an address or a range a..b")
	}
	first, last, isRange := strings.Cut(s, "..")
	if !isRange {
		a, err := parseAddr(s, s)
		if err != nil {
			return netipx.IPRange{}, err
		}
		return netipx.IPRangeFrom(a, a), nil
	}
	if first == "" {
		return netipx.IPRange{}, newError(s, "range is missing its start address; write a..b")
	}
	if last == "" {
		return netipx.IPRange{}, newError(s, "range is missing its end address; write a..b")
	}
	from, err := parseAddr(s, first)
	if err != nil {
		return netipx.IPRange{}, err
	}
	to, err := parseAddr(s, last)
	if err != nil {
		return netipx.IPRange{}, err
	}
	if FamilyOf(from) != FamilyOf(to) {
		return netipx.IPRange{}, newError(s, "range mixes families (%s start, %s end); both ends must be of the same family", FamilyOf(from), FamilyOf(to))
	}
	if from.Compare(to) > 0 {
		return netipx.IPRange{}, newError(s, "range start is after its end; write %s..%s", to, from)
	}
	return netipx.IPRangeFrom(from, to), nil
}

// ExcludeRange is ParseExcludeEntry without the message: the same range,
// and false exactly when ParseExcludeEntry returns an error. It allocates
// nothing, so long lists (excludeIps, IPPool spec.ips) are read without a
// message per bad entry; the message is built only for entries reported.
func ExcludeRange(s string) (netipx.IPRange, bool) {
	// Spaces, a "/" and any other character an address cannot hold fail
	// the address parse (strictAddr), zones included: no separate scan.
	first, last, isRange := strings.Cut(s, "..")
	if !isRange {
		a, ok := strictAddr(s)
		return netipx.IPRangeFrom(a, a), ok
	}
	from, ok1 := strictAddr(first)
	to, ok2 := strictAddr(last)
	if !ok1 || !ok2 || FamilyOf(from) != FamilyOf(to) || from.Compare(to) > 0 {
		return netipx.IPRange{}, false
	}
	return netipx.IPRangeFrom(from, to), true
}

// strictAddr is parseAddr's verdict without its message: ParseIP refuses
// an empty string, spaces and "/", except in an IPv6 zone, which is
// refused here.
func strictAddr(s string) (netip.Addr, bool) {
	a, ok := ParseIP(s)
	if !ok || a.Zone() != "" || a.Is4In6() {
		return netip.Addr{}, false
	}
	return a, true
}

// ParseIP is netip.ParseAddr's verdict and address without its error
// value, which is allocated for every bad input: a list of 100k entries
// that are not addresses (excludeIps, IPPool spec.ips, an IP object's
// fields) is read without an allocation per entry. IPv4 is parsed here,
// as strictly as netip does (four decimal fields of 0–255, no leading
// zeros); IPv6-looking input is handed to netip, other input refused at
// once.
func ParseIP(s string) (netip.Addr, bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.':
			return parseIPv4(s)
		case ':':
			for j := 0; j < len(s) && s[j] != '%'; j++ {
				if c := s[j]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
					return netip.Addr{}, false
				}
			}
			a, err := netip.ParseAddr(s)
			return a, err == nil
		case '%':
			return netip.Addr{}, false
		}
	}
	return netip.Addr{}, false
}

// parseIPv4 parses a dotted-quad IPv4 address the way netip.ParseAddr
// does.
func parseIPv4(s string) (netip.Addr, bool) {
	var fields [4]byte
	val, pos, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return netip.Addr{}, false // a leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return netip.Addr{}, false
			}
		case c == '.':
			if i == 0 || i == len(s)-1 || s[i-1] == '.' || pos == 3 {
				return netip.Addr{}, false
			}
			fields[pos] = byte(val)
			pos++
			val, digits = 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if pos < 3 {
		return netip.Addr{}, false
	}
	fields[3] = byte(val)
	return netip.AddrFrom4(fields), true
}
