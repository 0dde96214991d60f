package validate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
	"github.com/ipamguard/ipamguard/pkg/policy"
)

var (
	ipSubnetPath        = specPath.Child("subnet")
	ipAddressPath       = specPath.Child("ipAddress")
	ipV4Path            = specPath.Child("v4IpAddress")
	ipV6Path            = specPath.Child("v6IpAddress")
	ipPodNamePath       = specPath.Child("podName")
	ipNamespacePath     = specPath.Child("namespace")
	ipPodTypePath       = specPath.Child("podType")
	ipAttachSubnetsPath = specPath.Child("attachSubnets")
	ipAttachIPsPath     = specPath.Child("attachIps")
)

// IPCreate judges a new IP object (users pre-create them to reserve
// addresses; the Kube-OVN controller creates one per pod): its subnet
// exists, its addresses parse, agree with each other and can be held in
// the subnet, and no other IP object or Vip holds them.
func IPCreate(c Context, _, obj *kubeovnv1.IP) Result {
	r := c.Inventory
	var fs findings
	checkIPSyntax(c.Ctx, &fs, r, nil, obj)
	checkIPTaken(c.Ctx, &fs, r, obj, ipAddrs(obj))
	return Result{Findings: fs.result()}
}

// IPUpdate judges a change to an IP object. Addresses, subnet, owner and
// attachments are immutable once set: moving an IP object would leave the
// controller's IPAM and the logical switch port behind.
//
// The Kube-OVN controller rewrites these fields itself in a few flows (a
// keep-IP StatefulSet pod or VM coming back, a VM restarting in another
// subnet, dual-stack conversion); this rule cannot see who asks, so the
// shipped config file exempts the controller's service account
// (exempt.users, config/manager/config.yaml, docs/operations.md).
//
// Syntax and conflicts are ratcheted: only changed fields and newly held
// addresses are judged, so an old object still takes unrelated edits
// (finalizers, labels, nodeName, containerID).
func IPUpdate(c Context, oldObj, obj *kubeovnv1.IP) Result {
	r := c.Inventory
	var fs findings
	checkIPImmutable(&fs, oldObj, obj)
	checkIPSyntax(c.Ctx, &fs, r, oldObj, obj)
	old := map[heldAddr]bool{}
	for _, a := range ipAddrs(oldObj) {
		old[heldAddr{a.Subnet, a.Addr}] = true
	}
	addrs := slices.DeleteFunc(ipAddrs(obj), func(a inventory.IPAddr) bool { return old[heldAddr{a.Subnet, a.Addr}] })
	checkIPTaken(c.Ctx, &fs, r, obj, addrs)
	return Result{Findings: fs.result()}
}

// ipAddr is one address an IP object asks to hold, with the field it
// came from.
type ipAddr struct {
	subnet string
	addr   netip.Addr
	path   *field.Path
	value  string
}

type heldAddr struct {
	subnet string
	addr   netip.Addr
}

// ipAddrs returns the addresses the object holds, exactly as the Store
// records them (inventory.IPAddrs: the union of ipAddress, v4IpAddress and
// v6IpAddress, and the attachments), each with the field that names it
// (ipAddrPath). The conflict check runs on these, so every address the
// Store will count as held by the object is checked, whatever ip-invalid
// says about it.
func ipAddrs(obj *kubeovnv1.IP) []inventory.IPAddr {
	return inventory.IPAddrs(&obj.Spec)
}

// ipAddrPath is the field that names an address of an IP object;
// ipFieldPath the same without the attachment's index.
func ipAddrPath(a inventory.IPAddr) *field.Path {
	if a.Field == inventory.FieldAttachIPs {
		return ipAttachIPsPath.Index(a.Index)
	}
	return ipFieldPath(a.Field)
}

func ipFieldPath(f inventory.IPField) *field.Path {
	switch f {
	case inventory.FieldV4IPAddress:
		return ipV4Path
	case inventory.FieldV6IPAddress:
		return ipV6Path
	case inventory.FieldIPAddress:
		return ipAddressPath
	}
	return ipAttachIPsPath
}

// checkIPSyntax reports ip-invalid findings. With old set, fields that
// did not change are not judged again. It does not decide what is checked
// for conflicts: ipAddrs does, for valid and invalid fields alike.
func checkIPSyntax(ctx context.Context, fs *findings, r inventory.Reader, old, obj *kubeovnv1.IP) {
	s := obj.Spec
	var o kubeovnv1.IPSpec
	if old != nil {
		o = old.Spec
	}
	primaryChanged := old == nil || o.Subnet != s.Subnet || o.IPAddress != s.IPAddress ||
		o.V4IPAddress != s.V4IPAddress || o.V6IPAddress != s.V6IPAddress
	attachChanged := old == nil || !slices.Equal(o.AttachSubnets, s.AttachSubnets) || !slices.Equal(o.AttachIPs, s.AttachIPs)

	if primaryChanged {
		checkIPPrimary(fs, r, obj)
		checkIPCanonical(fs, obj)
	}
	if (old == nil || o.PodType != s.PodType) && !supportedPodType(s.PodType) {
		fs.add(policy.IPInvalid, field.Invalid(ipPodTypePath, s.PodType, fmt.Sprintf(
			"is not a pod type Kube-OVN supports (%q, %q or empty); the controller refuses to allocate a reserved IP object with it (\"podType %s is not supported\")",
			podTypeStatefulSet, podTypeVirtualMachine, policy.Shorten(s.PodType))))
	}
	if attachChanged {
		checkIPAttachments(ctx, fs, r, obj)
	}
}

func checkIPPrimary(fs *findings, r inventory.Reader, obj *kubeovnv1.IP) {
	s := obj.Spec
	var sn *inventory.Subnet
	if s.Subnet == "" {
		fs.add(policy.IPInvalid, field.Required(ipSubnetPath, "an IP object needs the subnet its addresses belong to"))
	} else if found, ok := r.Subnet(s.Subnet); ok {
		sn = found
	} else {
		fs.add(policy.IPInvalid, field.Invalid(ipSubnetPath, s.Subnet,
			fmt.Sprintf("subnet %s does not exist; create it first or name an existing subnet", s.Subnet)))
	}

	// The family fields: one address of their family each.
	var v4, v6 netip.Addr
	var parsed []ipAddr // well-formed addresses, judged against the subnet below
	for _, f := range []struct {
		fam   ipam.Family
		path  *field.Path
		value string
		addr  *netip.Addr
	}{{ipam.IPv4, ipV4Path, s.V4IPAddress, &v4}, {ipam.IPv6, ipV6Path, s.V6IPAddress, &v6}} {
		if f.value == "" {
			continue
		}
		a, err := parseIPAddr(f.value)
		if err != nil {
			fs.add(policy.IPInvalid, field.Invalid(f.path, f.value, err.Msg))
			continue
		}
		if ipam.FamilyOf(a) != f.fam {
			fs.add(policy.IPInvalid, field.Invalid(f.path, f.value,
				fmt.Sprintf("is an %s address; %s takes an %s address", ipam.FamilyOf(a), f.path.String(), f.fam)))
			continue
		}
		*f.addr = a
		parsed = append(parsed, ipAddr{subnet: s.Subnet, addr: a, path: f.path, value: f.value})
	}

	// ipAddress: "v4", "v6" or "v4,v6", and the same addresses as the
	// family fields when those are set. The controller writes it as their
	// comma join, but reads each side in a different flow (see
	// inventory.IPAddrs), so a disagreement makes the object hold, at
	// different times, addresses of both: report it.
	if s.IPAddress != "" {
		pair, n, ok := parseAddrList(fs, policy.IPInvalid, ipAddressPath, -1, s.IPAddress)
		list := pair[:n]
		if ok {
			var got [2]netip.Addr
			for _, a := range list {
				got[ipam.FamilyOf(a).Index()] = a
			}
			familyGiven := s.V4IPAddress != "" || s.V6IPAddress != ""
			familyParsed := v4.IsValid() == (s.V4IPAddress != "") && v6.IsValid() == (s.V6IPAddress != "")
			if familyGiven && familyParsed && (got[0] != v4 || got[1] != v6) {
				fs.add(policy.IPInvalid, field.Invalid(ipAddressPath, s.IPAddress, fmt.Sprintf(
					"does not match %s; the Kube-OVN controller allocates from the family fields but rebuilds from ipAddress after a restart, "+
						"so both count as held; set it to %q or leave it empty",
					familyFields(s.V4IPAddress, s.V6IPAddress), joinAddrs(v4, v6))))
			}
			for _, a := range list {
				if a == v4 || a == v6 {
					continue // judged through its family field
				}
				parsed = append(parsed, ipAddr{subnet: s.Subnet, addr: a, path: ipAddressPath, value: s.IPAddress})
			}
		}
	}

	if sn == nil {
		return
	}
	for _, a := range parsed {
		if msg := unusableIn(sn, a.addr); msg != "" {
			fs.add(policy.IPInvalid, field.Invalid(a.path, a.value, msg))
		}
	}
}

// The pod types the Kube-OVN controller accepts on an IP object
// (pkg/controller/ip.go handleAddReservedIP, util.KindStatefulSet and
// util.KindVirtualMachine; the same in v1.15, v1.16 and master).
const (
	podTypeStatefulSet    = "StatefulSet"
	podTypeVirtualMachine = "VirtualMachine"
)

func supportedPodType(t string) bool {
	return t == "" || t == podTypeStatefulSet || t == podTypeVirtualMachine
}

// checkIPCanonical reports IPv6 addresses of ipAddress and v6IpAddress
// that are not written in canonical form (RFC 5952: lower case, zeros
// compressed). Kube-OVN reads these fields as text: the controller refuses
// an upper-case v6IpAddress (pkg/controller/ip.go handleAddReservedIP,
// "can not contain upper case"), and its webhook compares a pod's static
// address with IP objects' ipAddress by string (pkg/webhook/static_ip.go
// checkIPConflict), failing every such check when it meets upper case and
// missing a conflict with a zero-padded address.
func checkIPCanonical(fs *findings, obj *kubeovnv1.IP) {
	s := obj.Spec
	for _, f := range []struct {
		path  *field.Path
		value string
	}{{ipAddressPath, s.IPAddress}, {ipV6Path, s.V6IPAddress}} {
		if !strings.Contains(f.value, ":") {
			continue
		}
		for part := range strings.SplitSeq(f.value, ",") {
			a, err := parseIPAddr(part)
			if err != nil || !a.Is6() || a.String() == part {
				continue // reported by checkIPPrimary, or canonical
			}
			msg := fmt.Sprintf("%s is not in canonical form; Kube-OVN compares IP objects' addresses as text, "+
				"so its conflict checks would miss this one; write %s", part, a)
			switch {
			case strings.ToLower(part) == part:
			case f.path == ipV6Path:
				msg = fmt.Sprintf("%s contains upper case; the Kube-OVN controller refuses to allocate it "+
					"(\"v6 ip address can not contain upper case\"); write %s", part, a)
			default:
				msg = fmt.Sprintf("%s contains upper case; Kube-OVN's webhook refuses static-IP pods of the subnet "+
					"while an IP object holds it (\"v6 ip address can not contain upper case\"); write %s", part, a)
			}
			fs.add(policy.IPInvalid, field.Invalid(f.path, f.value, msg))
		}
	}
}

// familyFields names the family fields that are set, with their values:
// `v4IpAddress "10.16.0.6" and v6IpAddress "fd00::6"`.
func familyFields(v4, v6 string) string {
	var parts []string
	if v4 != "" {
		parts = append(parts, fmt.Sprintf("v4IpAddress %q", v4))
	}
	if v6 != "" {
		parts = append(parts, fmt.Sprintf("v6IpAddress %q", v6))
	}
	return strings.Join(parts, " and ")
}

func checkIPAttachments(ctx context.Context, fs *findings, r inventory.Reader, obj *kubeovnv1.IP) {
	s := obj.Spec
	if len(s.AttachSubnets) != len(s.AttachIPs) {
		fs.add(policy.IPInvalid, field.Invalid(ipAttachIPsPath, s.AttachIPs, fmt.Sprintf(
			"has %d entries but attachSubnets has %d; they pair up by position", len(s.AttachIPs), len(s.AttachSubnets))))
	}
	for i, name := range s.AttachSubnets {
		if stopped(ctx, i) {
			return
		}
		var sn *inventory.Subnet
		switch found, ok := r.Subnet(name); {
		case name == "":
			fs.addf(policy.IPInvalid, ipAttachSubnetsPath, func() *field.Error {
				return field.Required(ipAttachSubnetsPath.Index(i), "an attachment needs its subnet")
			})
		case !ok:
			fs.addf(policy.IPInvalid, ipAttachSubnetsPath, func() *field.Error {
				return field.Invalid(ipAttachSubnetsPath.Index(i), name,
					fmt.Sprintf("subnet %s does not exist; create it first or name an existing subnet", name))
			})
		default:
			sn = found
		}
		if i >= len(s.AttachIPs) || s.AttachIPs[i] == "" {
			continue
		}
		pair, n, ok := parseAddrList(fs, policy.IPInvalid, ipAttachIPsPath, i, s.AttachIPs[i])
		if !ok || sn == nil {
			continue
		}
		list := pair[:n]
		for _, a := range list {
			if usable(sn.Spec, a) {
				continue
			}
			fs.addf(policy.IPInvalid, ipAttachIPsPath, func() *field.Error {
				return field.Invalid(ipAttachIPsPath.Index(i), s.AttachIPs[i], unusableIn(sn, a))
			})
		}
	}
}

// parseIPAddr parses one address strictly (no CIDR, no zone, no spaces,
// no IPv4-mapped form), with ipam's messages.
func parseIPAddr(s string) (netip.Addr, *ipam.Error) {
	if strings.Contains(s, "/") {
		return netip.Addr{}, &ipam.Error{Value: s, Msg: "is a CIDR; write the address alone, without a prefix length"}
	}
	if strings.Contains(s, "..") {
		return netip.Addr{}, &ipam.Error{Value: s, Msg: "is a range; an IP object holds one address per family"}
	}
	r, err := ipam.ParseExcludeEntry(s)
	if err != nil {
		return netip.Addr{}, err
	}
	return r.From(), nil
}

// parseAddrList parses "a" or "a,b" with at most one address per family,
// reporting problems on p, or on its element i when i >= 0; the n
// addresses parsed are returned in an array, so that 50k attachments cost
// no slice each. ok is false when anything was wrong. A list of more than
// two addresses is one problem, counted without splitting it.
func parseAddrList(fs *findings, rule policy.RuleID, p *field.Path, i int, s string) (out [2]netip.Addr, n int, ok bool) {
	at := func() *field.Path {
		if i < 0 {
			return p
		}
		return p.Index(i)
	}
	if n := strings.Count(s, ",") + 1; n > 2 {
		fs.addf(rule, p, func() *field.Error {
			return field.Invalid(at(), s, fmt.Sprintf("%d addresses given; at most one IPv4 and one IPv6 address are allowed", n))
		})
		return out, 0, false
	}
	ok = true
	for part := range strings.SplitSeq(s, ",") {
		a, err := parseIPAddr(part)
		if err != nil {
			fs.addf(rule, p, func() *field.Error {
				msg := err.Msg
				if part == "" {
					msg = "empty address; remove the extra comma"
				} else if part != s {
					msg = fmt.Sprintf("%q: %s", part, msg)
				}
				return field.Invalid(at(), s, msg)
			})
			ok = false
			continue
		}
		out[n] = a
		n++
	}
	if ok && n == 2 && ipam.FamilyOf(out[0]).Index() == ipam.FamilyOf(out[1]).Index() {
		fs.addf(rule, p, func() *field.Error {
			return field.Invalid(at(), s, fmt.Sprintf("gives two %s addresses; at most one per family is allowed", ipam.FamilyOf(out[0])))
		})
		return out, 0, false
	}
	return out, n, ok
}

// unusableIn says why a cannot be held in the subnet, or "" when it can.
// Excluded addresses can: Kube-OVN lets static IPs take them. The gateway,
// network and broadcast addresses cannot.
func unusableIn(sn *inventory.Subnet, a netip.Addr) string {
	if usable(sn.Spec, a) {
		return ""
	}
	f := ipam.FamilyOf(a)
	block, ok := sn.Spec.Block(f)
	if !ok {
		return fmt.Sprintf("is %s but subnet %s (%s) has no %s block", f, sn.Name, sn.CIDRBlock, f)
	}
	_, reason := sn.Spec.Allocatable(a)
	if !block.Contains(a) {
		return fmt.Sprintf("is outside subnet %s (%s)", sn.Name, block)
	}
	if reason == "the gateway" {
		return fmt.Sprintf("is the gateway of subnet %s; Kube-OVN never hands it out", sn.Name)
	}
	return fmt.Sprintf("is %s (subnet %s) and can never be held", reason, sn.Name)
}

// checkIPTaken reports ip-taken: another IP object (by name) or a Vip
// already holds one of the addresses in the same subnet. The same object
// name is the same owner: a keep-IP StatefulSet pod or VM whose IP object
// is recreated, or a reservation the controller is filling in.
func checkIPTaken(ctx context.Context, fs *findings, r inventory.Reader, obj *kubeovnv1.IP, addrs []inventory.IPAddr) {
	// One callback serves every address: it escapes through the Reader
	// interface, and an IP object may hold 60k addresses.
	var list []string
	var n int
	var full bool
	holders := func(h inventory.Holder) bool {
		if h.Kind == inventory.HolderIP && h.Name == obj.Name {
			return true
		}
		n++
		if full {
			return false // counted, not described
		}
		if len(list) < maxListedItems {
			owner := h.Owner()
			if h.Kind == inventory.HolderIP && !strings.HasPrefix(owner, "IP object ") {
				owner += " (IP object " + h.Name + ")"
			}
			list = append(list, owner)
		}
		return true
	}
	for i, a := range addrs {
		if stopped(ctx, i) {
			return
		}
		list, n, full = nil, 0, fs.full(policy.IPTaken)
		r.InUse(a.Subnet, a.Addr, a.Addr, holders)
		if n == 0 {
			continue
		}
		if full {
			fs.skip(policy.IPTaken, ipFieldPath(a.Field))
			continue
		}
		fs.add(policy.IPTaken, field.Invalid(ipAddrPath(a), a.Value, fmt.Sprintf(
			"%s is already held by %s in subnet %s; pick a free address or delete the holder first",
			a.Addr, joinCapped(list, n), a.Subnet)))
	}
}

// checkIPImmutable reports ip-immutable: a field that was set changed.
func checkIPImmutable(fs *findings, old, obj *kubeovnv1.IP) {
	o, s := old.Spec, obj.Spec
	for _, f := range []struct {
		path     *field.Path
		was, now string
	}{
		{ipSubnetPath, o.Subnet, s.Subnet},
		{ipAddressPath, o.IPAddress, s.IPAddress},
		{ipV4Path, o.V4IPAddress, s.V4IPAddress},
		{ipV6Path, o.V6IPAddress, s.V6IPAddress},
		{ipPodNamePath, o.PodName, s.PodName},
		{ipNamespacePath, o.Namespace, s.Namespace},
		{ipPodTypePath, o.PodType, s.PodType},
	} {
		if f.was != "" && f.was != f.now {
			fs.add(policy.IPImmutable, field.Invalid(f.path, f.now, immutableMsg(fmt.Sprintf("%q", policy.Shorten(f.was)))))
		}
	}
	for _, f := range []struct {
		path     *field.Path
		was, now []string
	}{
		{ipAttachSubnetsPath, o.AttachSubnets, s.AttachSubnets},
		{ipAttachIPsPath, o.AttachIPs, s.AttachIPs},
	} {
		if len(f.was) > 0 && !slices.Equal(f.was, f.now) {
			was, _ := policy.ShortenList(f.was)
			fs.add(policy.IPImmutable, field.Invalid(f.path, f.now, immutableMsg(fmt.Sprintf("%q", was))))
		}
	}
}

func immutableMsg(was string) string {
	return fmt.Sprintf("is immutable once set (was %s); delete and recreate the IP object to move it", was)
}

func joinAddrs(v4, v6 netip.Addr) string {
	var parts []string
	for _, a := range []netip.Addr{v4, v6} {
		if a.IsValid() {
			parts = append(parts, a.String())
		}
	}
	return strings.Join(parts, ",")
}
