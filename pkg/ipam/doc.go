// Package ipam is the address arithmetic behind ipamguard: strict parsers for the
// address fields of a Kube-OVN Subnet (spec.cidrBlock, spec.gateway, spec.excludeIps),
// lenient constructors that read already-stored objects the way the Kube-OVN
// controller does, capacity counting, a persistent prefix index for overlap
// queries, and the search for a free block next to a subnet (FreeBlock), which
// asks the caller about existing subnets through the Occupancy interface.
//
// The package is pure: it imports no Kubernetes packages and performs no I/O, so
// every rule built on it can be tested with plain values. Strict parsers (Parse*)
// return *Error values that name the offending text and the rule it breaks; the
// lenient constructors (NewSubnet, NewExcludeSet) never fail, because an admission
// webhook must still be able to reason about objects that were stored before it
// existed.
//
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are IPv6 addresses here, as in
// net/netip; the strict parsers refuse them with a message suggesting the IPv4 form.
package ipam
