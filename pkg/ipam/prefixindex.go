package ipam

import (
	"math/bits"
	"net/netip"
	"slices"
)

// PrefixIndex is a persistent (immutable, copy-on-write) index of prefixes with
// values that answers "which stored prefixes overlap p" in O(bits + k).
//
// It is a path-compressed binary trie keyed by prefix bits, with separate roots
// for IPv4 and IPv6 (IPv4-mapped IPv6 prefixes live in the IPv6 trie). Two CIDR
// prefixes overlap exactly when one contains the other, so the prefixes
// overlapping p are those on the path from the root to p plus every prefix in p's
// subtree.
//
// Insert and Delete return a new index that shares all unchanged nodes with the
// old one (path copying): a reader holding an older *PrefixIndex is never
// disturbed and needs no lock, so the index can be published through an
// atomic.Pointer. Several values may be stored under the same prefix. The nil
// *PrefixIndex is a valid empty index.
type PrefixIndex[V comparable] struct {
	v4, v6 *trieNode[V]
	n      int
}

// trieNode is never modified once reachable from a published index.
type trieNode[V comparable] struct {
	prefix netip.Prefix // masked
	vals   []V          // empty for a pure branching node
	child  [2]*trieNode[V]
}

// Len returns the number of (prefix, value) pairs in the index.
func (x *PrefixIndex[V]) Len() int {
	if x == nil {
		return 0
	}
	return x.n
}

func (x *PrefixIndex[V]) root(p netip.Prefix) *trieNode[V] {
	if x == nil {
		return nil
	}
	if p.Addr().Is4() {
		return x.v4
	}
	return x.v6
}

// with returns a copy of x with the root of p's family replaced.
func (x *PrefixIndex[V]) with(p netip.Prefix, root *trieNode[V], delta int) *PrefixIndex[V] {
	var y PrefixIndex[V]
	if x != nil {
		y = *x
	}
	if p.Addr().Is4() {
		y.v4 = root
	} else {
		y.v6 = root
	}
	y.n += delta
	return &y
}

// Insert returns an index that also holds the pair (p, v). p is masked first.
// Inserting a pair that is already present, or an invalid prefix, returns x
// itself.
func (x *PrefixIndex[V]) Insert(p netip.Prefix, v V) *PrefixIndex[V] {
	if !p.IsValid() {
		return x
	}
	p = p.Masked()
	root, changed := insertNode(x.root(p), p, v)
	if !changed {
		return x
	}
	return x.with(p, root, 1)
}

func insertNode[V comparable](n *trieNode[V], p netip.Prefix, v V) (*trieNode[V], bool) {
	if n == nil {
		return &trieNode[V]{prefix: p, vals: []V{v}}, true
	}
	common := commonBits(n.prefix, p)
	switch {
	case common == n.prefix.Bits() && common == p.Bits():
		if slices.Contains(n.vals, v) {
			return n, false
		}
		c := *n
		c.vals = append(slices.Clip(n.vals), v)
		return &c, true
	case common == n.prefix.Bits():
		b := bitAt(p.Addr(), common)
		sub, changed := insertNode(n.child[b], p, v)
		if !changed {
			return n, false
		}
		c := *n
		c.child[b] = sub
		return &c, true
	case common == p.Bits():
		c := &trieNode[V]{prefix: p, vals: []V{v}}
		c.child[bitAt(n.prefix.Addr(), common)] = n
		return c, true
	}
	fork := &trieNode[V]{prefix: netip.PrefixFrom(p.Addr(), common).Masked()}
	fork.child[bitAt(n.prefix.Addr(), common)] = n
	fork.child[bitAt(p.Addr(), common)] = &trieNode[V]{prefix: p, vals: []V{v}}
	return fork, true
}

// Delete returns an index without the pair (p, v); p is masked first. Nodes left
// without values or branching are pruned. Deleting an absent pair returns x
// itself.
func (x *PrefixIndex[V]) Delete(p netip.Prefix, v V) *PrefixIndex[V] {
	if !p.IsValid() {
		return x
	}
	p = p.Masked()
	root, changed := deleteNode(x.root(p), p, v)
	if !changed {
		return x
	}
	return x.with(p, root, -1)
}

func deleteNode[V comparable](n *trieNode[V], p netip.Prefix, v V) (*trieNode[V], bool) {
	if n == nil || n.prefix.Bits() > p.Bits() || !n.prefix.Contains(p.Addr()) {
		return n, false
	}
	c := *n
	if n.prefix.Bits() == p.Bits() {
		i := slices.Index(n.vals, v)
		if i < 0 {
			return n, false
		}
		c.vals = slices.Delete(slices.Clone(n.vals), i, i+1)
		if len(c.vals) == 0 {
			c.vals = nil
		}
	} else {
		b := bitAt(p.Addr(), n.prefix.Bits())
		sub, changed := deleteNode(n.child[b], p, v)
		if !changed {
			return n, false
		}
		c.child[b] = sub
	}
	if len(c.vals) > 0 {
		return &c, true
	}
	// A node without values only exists to branch.
	switch {
	case c.child[0] == nil:
		return c.child[1], true
	case c.child[1] == nil:
		return c.child[0], true
	}
	return &c, true
}

// Overlapping calls yield for every stored pair whose prefix overlaps p (contains
// it, equals it, or lies inside it) until yield returns false. Pairs come in
// order: the containing prefixes from the shortest, then p itself, then the
// prefixes inside p in address order (a prefix before the prefixes it contains).
// Values under one prefix come in insertion order. It does not allocate.
func (x *PrefixIndex[V]) Overlapping(p netip.Prefix, yield func(netip.Prefix, V) bool) {
	if !p.IsValid() {
		return
	}
	p = p.Masked()
	n := x.root(p)
	for n != nil {
		nb := n.prefix.Bits()
		switch {
		case nb <= p.Bits() && n.prefix.Contains(p.Addr()):
			for _, v := range n.vals {
				if !yield(n.prefix, v) {
					return
				}
			}
			if nb == p.Bits() {
				for _, c := range n.child {
					if !walk(c, yield) {
						return
					}
				}
				return
			}
			n = n.child[bitAt(p.Addr(), nb)]
		case nb > p.Bits() && p.Contains(n.prefix.Addr()):
			walk(n, yield)
			return
		default:
			return
		}
	}
}

// walk yields the subtree of n in pre-order, which is address order.
func walk[V comparable](n *trieNode[V], yield func(netip.Prefix, V) bool) bool {
	if n == nil {
		return true
	}
	for _, v := range n.vals {
		if !yield(n.prefix, v) {
			return false
		}
	}
	return walk(n.child[0], yield) && walk(n.child[1], yield)
}

// bitAt returns bit i (0 = most significant) of a.
func bitAt(a netip.Addr, i int) int {
	if a.Is4() {
		b := a.As4()
		return int(b[i/8]>>(7-i%8)) & 1
	}
	b := a.As16()
	return int(b[i/8]>>(7-i%8)) & 1
}

// commonBits returns the length of the longest prefix shared by a and b (same
// family), at most the shorter of their lengths.
func commonBits(a, b netip.Prefix) int {
	n := min(a.Bits(), b.Bits())
	x, y := u128Of(a.Addr()), u128Of(b.Addr())
	var lz int
	if a.Addr().Is4() {
		lz = bits.LeadingZeros64(x.lo^y.lo) - 32
	} else if d := x.hi ^ y.hi; d != 0 {
		lz = bits.LeadingZeros64(d)
	} else {
		lz = 64 + bits.LeadingZeros64(x.lo^y.lo)
	}
	return min(n, lz)
}
