package diagnose

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"slices"
	"time"
	"unicode/utf8"
	"unsafe"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/jsonscan"
)

// The fast decoders of the two kinds a large cluster holds by the million,
// pods and IP objects. They read the shape a snapshot (snapshot.Strip)
// writes them in — known members, plain strings — without reflection,
// and share the strings that repeat (namespaces, label and annotation
// keys, subnet and node names). Anything else (a member they do not know,
// a null, an escaped string, a repeated member, a type they do not
// expect) makes them give up, and the object is decoded by encoding/json
// as before: what they accept they decode exactly as encoding/json does
// (TestFastDecodeAgrees compares the two), and the errors are
// encoding/json's.

// interner shares the strings that repeat across objects through a
// direct-mapped cache: a string whose slot holds an equal one gets that
// one; otherwise it is made and takes the slot. Lossy (two strings that
// share a slot evict each other, and a unique value only costs a slot),
// so it never grows, and costs a hash and a compare, not a map lookup.
//
// It also carves the strings it makes from chunks of 64 KiB, one
// allocation for hundreds of names, UIDs and addresses, instead of one
// each: the garbage collector then has a few thousand chunks to trace
// rather than ten million strings. A chunk lives as long as one of its
// strings does; the strings of a State live together anyway.
type interner struct {
	cache *[internSlots]string
	chunk []byte
	// ichunk holds the shared strings apart from the others, so that the
	// few thousand a snapshot repeats (namespaces, subnets, nodes, keys)
	// sit together in the processor's cache instead of one per cache
	// line among a million names and UIDs: a shared string is compared
	// with the bytes read each time it comes.
	ichunk []byte
	bools  []bool
	owners []metav1.OwnerReference
	shared *[sharedSlots]sharedSlot
}

// sharedSlot holds a value decoded from raw (a label map, a list of owner
// references, of finalizers), shared by the objects whose member reads
// the same bytes: objects made from one template (the pods of a
// ReplicaSet or a DaemonSet) have the same labels and owners, so a
// million pods of a few hundred workloads hold a few hundred of each. A
// State's maps and slices are read-only.
type sharedSlot struct {
	raw string
	v   any
	// seen is the hash of the bytes last read through this slot: a value
	// is kept only once its bytes come twice, so that values that never
	// repeat (the owner of each pod its own ReplicaSet) cost no copy.
	seen uint64
}

// sharedSlots is the size of the direct-mapped cache of shared values.
const sharedSlots = 1 << 10

func (in *interner) sharedSlot(raw []byte) (*sharedSlot, uint64) {
	if in.shared == nil {
		in.shared = new([sharedSlots]sharedSlot)
	}
	h := maphash.Bytes(internSeed, raw)
	return &in.shared[h&(sharedSlots-1)], h
}

// share returns the value read from the JSON value at the scanner (an
// object or array of plain strings and literals) by read, or the value
// read from the same bytes before.
func share[T any](s *scanner, read func() T) T {
	end := s.valueEnd()
	if end < 0 {
		return read()
	}
	raw := s.b[s.i:end]
	slot, h := s.in.sharedSlot(raw)
	if v, ok := slot.v.(T); ok && slot.raw == string(raw) { // no allocation for the compare
		s.i = end
		return v
	}
	v := read()
	switch {
	case !s.ok || s.i != end:
	case slot.seen == h:
		// Not carved from a chunk: an evicted value must not keep one
		// alive.
		slot.raw, slot.v = string(raw), v
	default:
		slot.seen = h
	}
	return v
}

// valueEnd returns the index just past the object or array that starts at
// the next byte, or -1 (not one, an escaped string in it, or unterminated).
func (s *scanner) valueEnd() int {
	switch s.peek() {
	case '{', '[':
	default:
		return -1
	}
	depth := 0
	quoted := false
	for j := s.i; j < len(s.b); j++ {
		c := s.b[j]
		switch {
		case c == '\\':
			return -1
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return -1
}

const (
	// internSlots is room for the names a large cluster repeats (10k
	// subnets, a thousand nodes and namespaces) with few of them evicting
	// each other: 512 KiB per Decoder, within a core's cache.
	internSlots = 1 << 15
	chunkSize   = 64 << 10
	// maxCarved is the longest string carved from a chunk.
	maxCarved = 512
)

var internSeed = maphash.MakeSeed()

// fresh returns b as a new string, carved from the current chunk. The
// bytes of a chunk are never written again once carved.
func (in *interner) fresh(b []byte) string { return carve(&in.chunk, b) }

// carve returns b as a new string carved from *chunk, which it replaces
// when full.
func carve(chunk *[]byte, b []byte) string {
	switch {
	case len(b) == 0:
		return ""
	case len(b) > maxCarved:
		return string(b)
	}
	if cap(*chunk)-len(*chunk) < len(b) {
		*chunk = make([]byte, 0, chunkSize)
	}
	start := len(*chunk)
	*chunk = append(*chunk, b...)
	return unsafe.String(&(*chunk)[start], len(b))
}

// ownerRefs returns a copy of refs, carved from a chunk likewise (most
// pods have one owner: a million pods would be a million allocations);
// an empty one is an empty slice, as encoding/json makes [].
func (in *interner) ownerRefs(refs []metav1.OwnerReference) []metav1.OwnerReference {
	n := len(refs)
	switch {
	case n == 0:
		return []metav1.OwnerReference{}
	case n > ownerChunk/8:
		return slices.Clone(refs)
	}
	if cap(in.owners)-len(in.owners) < n {
		in.owners = make([]metav1.OwnerReference, 0, ownerChunk)
	}
	start := len(in.owners)
	in.owners = append(in.owners, refs...)
	return in.owners[start : start+n : start+n]
}

// ownerChunk is how many owner references a chunk holds.
const ownerChunk = 512

// boolean returns a pointer to a new bool of value v, carved likewise.
func (in *interner) boolean(v bool) *bool {
	if len(in.bools) == cap(in.bools) {
		in.bools = make([]bool, 0, 4096)
	}
	in.bools = append(in.bools, v)
	return &in.bools[len(in.bools)-1]
}

func (in *interner) str(b []byte) string {
	if in.cache == nil {
		in.cache = new([internSlots]string)
	}
	slot := &in.cache[maphash.Bytes(internSeed, b)&(internSlots-1)]
	if *slot == string(b) && len(b) > 0 { // no allocation for the compare
		return *slot
	}
	s := carve(&in.ichunk, b)
	*slot = s
	return s
}

// scanner reads one JSON value. ok turns false at the first thing the fast
// decoders do not handle; every method is then a no-op.
type scanner struct {
	b  []byte
	i  int
	ok bool
	in *interner
}

func (s *scanner) fail() { s.ok = false }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space (0 at the end).
func (s *scanner) peek() byte {
	s.ws()
	if !s.ok || s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) expect(c byte) {
	if s.peek() != c {
		s.fail()
		return
	}
	s.i++
}

// raw reads a string without escapes or control characters, in valid
// UTF-8, and returns its bytes. It looks at eight bytes at a time
// (jsonscan.Special) and at single bytes only where one needs a look.
func (s *scanner) raw() []byte {
	if s.peek() != '"' {
		s.fail()
		return nil
	}
	b := s.b
	start := s.i + 1
	ascii := true
	for j := start; j < len(b); {
		if j+8 <= len(b) {
			m := jsonscan.Special(binary.LittleEndian.Uint64(b[j:]))
			if m == 0 {
				j += 8
				continue
			}
			j += bits.TrailingZeros64(m) >> 3
		}
		switch c := b[j]; {
		case c == '"':
			s.i = j + 1
			v := b[start:j]
			if !ascii && !utf8.Valid(v) {
				s.fail()
				return nil
			}
			return v
		case c == '\\' || c < 0x20:
			s.fail()
			return nil
		case c >= 0x80:
			ascii = false
		}
		j++
	}
	s.fail()
	return nil
}

// str reads a string into a new string; istr shares it.
func (s *scanner) str() string  { return s.in.fresh(s.raw()) }
func (s *scanner) istr() string { return s.in.str(s.raw()) }

// object calls member for each member of an object; member reads the
// value. A member named twice gives up (encoding/json merges them).
func (s *scanner) object(member func(name []byte)) {
	s.expect('{')
	if s.peek() == '}' {
		s.i++
		return
	}
	for s.ok {
		name := s.raw()
		s.expect(':')
		if !s.ok {
			return
		}
		member(name)
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return
		default:
			s.fail()
		}
	}
}

// array calls elem for each element of an array.
func (s *scanner) array(elem func()) {
	s.expect('[')
	if s.peek() == ']' {
		s.i++
		return
	}
	for s.ok {
		elem()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return
		default:
			s.fail()
		}
	}
}

// strings reads an array of strings: [] is an empty slice, as
// encoding/json makes it.
func (s *scanner) strings(shared bool) []string {
	out := []string{}
	s.array(func() {
		if shared {
			out = append(out, s.istr())
		} else {
			out = append(out, s.str())
		}
	})
	return out
}

// stringMap reads an object of strings; {} is an empty map. With keep,
// only the members it accepts are kept (and {} is a nil map, as after
// trimming a decoded one).
func (s *scanner) stringMap(sharedValue, keep func(key string) bool) map[string]string {
	var m map[string]string
	n := 8
	if keep == nil {
		n, _ = s.countStrings()
		m = make(map[string]string, n)
	}
	// Else most are dropped: a map of up to 8 is made at the first kept
	// one, the same size for any hint up to 8, so the members need no
	// count.
	s.object(func(name []byte) {
		if keep != nil {
			if !keep(transient(name)) {
				s.raw()
				return
			}
			if m == nil {
				m = make(map[string]string, n)
			}
		}
		k := s.in.str(name)
		if sharedValue(k) {
			m[k] = s.istr()
		} else {
			m[k] = s.str()
		}
	})
	return m
}

// labels reads an object of labels, shared (share).
func (s *scanner) labels() map[string]string {
	return share(s, func() map[string]string { return s.stringMap(sharedLabel, nil) })
}

// transient views b as a string without copying it, for a call that does
// not keep it (the keep functions of stringMap and stringMapOf only look).
func transient(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// stringMapOf reads an object of strings and keeps the members keep
// accepts, with shared values; nil when it keeps none.
func (s *scanner) stringMapOf(keep func(key string) bool) map[string]string {
	var m map[string]string
	s.object(func(name []byte) {
		v := s.raw()
		if !s.ok || !keep(transient(name)) {
			return
		}
		if m == nil {
			m = make(map[string]string, 1)
		}
		m[s.in.str(name)] = s.in.str(v)
	})
	return m
}

// countStrings counts the members of the object of plain strings that
// starts at the next byte (0 when it is not one: the decoding that follows
// finds out), so that its map is made once at its size: growing a map of
// nine annotations costs a pod as much as reading it.
// end is the index of the closing brace (-1 when not found).
func (s *scanner) countStrings() (n, end int) {
	if s.peek() != '{' {
		return 0, -1
	}
	quoted := false
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			quoted = !quoted
			if !quoted {
				n++
			}
		case c == '\\':
			return 0, -1
		case c == '}' && !quoted:
			return n / 2, j
		}
	}
	return 0, -1
}

func (s *scanner) boolean() bool {
	switch s.peek() {
	case 't':
		if bytes.HasPrefix(s.b[s.i:], []byte("true")) {
			s.i += 4
			return true
		}
	case 'f':
		if bytes.HasPrefix(s.b[s.i:], []byte("false")) {
			s.i += 5
			return false
		}
	}
	s.fail()
	return false
}

// time reads a metav1.Time as its UnmarshalJSON does: RFC 3339, in local
// time.
func (s *scanner) time() metav1.Time {
	v := s.raw()
	if !s.ok {
		return metav1.Time{}
	}
	t, err := time.Parse(time.RFC3339, unsafe.String(unsafe.SliceData(v), len(v))) // not kept
	if err != nil {
		s.fail()
		return metav1.Time{}
	}
	return metav1.Time{Time: t.Local()}
}

// end checks that only white space follows the value.
func (s *scanner) end() {
	s.ws()
	if s.i != len(s.b) {
		s.fail()
	}
}

// seen gives up on a member named twice.
type seen uint32

func (s *scanner) once(m *seen, bit uint) {
	if *m&(1<<bit) != 0 {
		s.fail()
	}
	*m |= 1 << bit
}

// fastMeta is the metadata a snapshot keeps (snapshot.Strip's meta).
type fastMeta struct {
	Name, Namespace, UID, ResourceVersion string
	Created                               metav1.Time
	Deleted                               *metav1.Time
	Labels, Annotations                   map[string]string
	Owners                                []metav1.OwnerReference
	Finalizers                            []string
	// labelKept and annotationKept, when set, keep only the labels and
	// annotations they accept (keepIP, keepPod).
	labelKept, annotationKept func(key string) bool
}

// sharedAnnotation tells the annotations whose values repeat across pods
// (subnet, gateway, CIDR, router, flags) from the unique ones (address,
// MAC).
func sharedAnnotation(key string) bool {
	switch key {
	case "ovn.kubernetes.io/ip_address", "ovn.kubernetes.io/mac_address":
		return false
	}
	return true
}

func sharedLabel(string) bool { return true }

func (s *scanner) meta(m *fastMeta) {
	var got seen
	s.object(func(name []byte) {
		switch string(name) {
		case "name":
			s.once(&got, 0)
			m.Name = s.str()
		case "namespace":
			s.once(&got, 1)
			m.Namespace = s.istr()
		case "uid":
			s.once(&got, 2)
			m.UID = s.str()
		case "resourceVersion":
			s.once(&got, 3)
			m.ResourceVersion = s.str()
		case "creationTimestamp":
			s.once(&got, 4)
			m.Created = s.time()
		case "deletionTimestamp":
			s.once(&got, 5)
			t := s.time()
			m.Deleted = &t
		case "labels":
			s.once(&got, 6)
			if m.labelKept != nil {
				m.Labels = s.stringMapOf(m.labelKept)
			} else {
				m.Labels = s.labels()
			}
		case "annotations":
			s.once(&got, 7)
			m.Annotations = s.stringMap(sharedAnnotation, m.annotationKept)
		case "ownerReferences":
			s.once(&got, 8)
			m.Owners = share(s, func() []metav1.OwnerReference {
				var buf [4]metav1.OwnerReference
				owners := buf[:0]
				s.array(func() {
					var o metav1.OwnerReference
					s.owner(&o)
					owners = append(owners, o)
				})
				return s.in.ownerRefs(owners)
			})
		case "finalizers":
			s.once(&got, 9)
			m.Finalizers = share(s, func() []string { return s.strings(true) })
		default:
			s.fail()
		}
	})
}

func (s *scanner) owner(o *metav1.OwnerReference) {
	var got seen
	s.object(func(name []byte) {
		switch string(name) {
		case "apiVersion":
			s.once(&got, 0)
			o.APIVersion = s.istr()
		case "kind":
			s.once(&got, 1)
			o.Kind = s.istr()
		case "name":
			s.once(&got, 2)
			o.Name = s.str()
		case "uid":
			s.once(&got, 3)
			o.UID = types.UID(s.str())
		case "controller":
			s.once(&got, 4)
			o.Controller = s.in.boolean(s.boolean())
		case "blockOwnerDeletion":
			s.once(&got, 5)
			o.BlockOwnerDeletion = s.in.boolean(s.boolean())
		default:
			s.fail()
		}
	})
}

// typeMeta reads apiVersion and kind.
func (s *scanner) typeMeta(name []byte, got *seen, apiVersion, kind *string) bool {
	switch string(name) {
	case "apiVersion":
		s.once(got, 30)
		*apiVersion = s.istr()
	case "kind":
		s.once(got, 31)
		*kind = s.istr()
	default:
		return false
	}
	return true
}

// fastPod decodes a pod as addPod does; ok is false when it gave up.
func fastPod(raw []byte, in *interner) (p Pod, ok bool) {
	s := &scanner{b: raw, ok: true, in: in}
	m := fastMeta{annotationKept: podAnnotationKept}
	var got seen
	var apiVersion, kind string
	s.object(func(name []byte) {
		if s.typeMeta(name, &got, &apiVersion, &kind) {
			return
		}
		switch string(name) {
		case "metadata":
			s.once(&got, 0)
			s.meta(&m)
		case "spec":
			s.once(&got, 1)
			var sg seen
			s.object(func(name []byte) {
				switch string(name) {
				case "nodeName":
					s.once(&sg, 0)
					p.NodeName = s.istr()
				case "hostNetwork":
					s.once(&sg, 1)
					p.HostNetwork = s.boolean()
				default:
					s.fail()
				}
			})
		case "status":
			s.once(&got, 2)
			s.podStatus(&p)
		default:
			s.fail()
		}
	})
	s.end()
	if !s.ok {
		return Pod{}, false
	}
	p.Meta = Meta{Namespace: m.Namespace, Name: m.Name, UID: m.UID, ResourceVersion: m.ResourceVersion,
		CreationTimestamp: m.Created, DeletionTimestamp: m.Deleted, Labels: m.Labels, Annotations: m.Annotations,
		OwnerReferences: m.Owners}
	return p, true
}

func (s *scanner) podStatus(p *Pod) {
	var got seen
	s.object(func(name []byte) {
		switch string(name) {
		case "phase":
			s.once(&got, 0)
			p.Phase = s.istr()
		case "podIPs":
			s.once(&got, 1)
			s.array(func() {
				if !s.only("ip", func() { p.PodIPs = append(p.PodIPs, s.str()) }) {
					// {} is an IP of "": addPod keeps it.
					p.PodIPs = append(p.PodIPs, "")
				}
			})
		case "containerStatuses":
			s.once(&got, 2)
			s.array(func() {
				s.only("state", func() {
					s.only("waiting", func() {
						s.only("reason", func() {
							if r := s.istr(); r != "" && p.Waiting == "" {
								p.Waiting = r
							}
						})
					})
				})
			})
		default:
			s.fail()
		}
	})
}

// only reads an object whose one member may be name, at most once,
// calling read for its value; it reports whether the member was there.
func (s *scanner) only(name string, read func()) bool {
	var got seen
	s.object(func(n []byte) {
		if string(n) != name {
			s.fail()
			return
		}
		s.once(&got, 0)
		read()
	})
	return got != 0
}

// fastIP decodes an IP object as encoding/json does; ok is false when it
// gave up.
func fastIP(raw []byte, in *interner) (ip kubeovnv1.IP, ok bool) {
	s := &scanner{b: raw, ok: true, in: in}
	m := fastMeta{labelKept: ipLabelKept}
	var got seen
	s.object(func(name []byte) {
		if s.typeMeta(name, &got, &ip.APIVersion, &ip.Kind) {
			return
		}
		switch string(name) {
		case "metadata":
			s.once(&got, 0)
			s.meta(&m)
		case "spec":
			s.once(&got, 1)
			s.ipSpec(&ip.Spec)
		default:
			s.fail()
		}
	})
	s.end()
	if !s.ok {
		return kubeovnv1.IP{}, false
	}
	ip.ObjectMeta = metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: types.UID(m.UID), ResourceVersion: m.ResourceVersion,
		CreationTimestamp: m.Created, DeletionTimestamp: m.Deleted, Labels: m.Labels, Annotations: m.Annotations,
		OwnerReferences: m.Owners, Finalizers: m.Finalizers}
	return ip, true
}

func (s *scanner) ipSpec(sp *kubeovnv1.IPSpec) {
	var got seen
	s.object(func(name []byte) {
		switch string(name) {
		case "podName":
			s.once(&got, 0)
			sp.PodName = s.str()
		case "namespace":
			s.once(&got, 1)
			sp.Namespace = s.istr()
		case "subnet":
			s.once(&got, 2)
			sp.Subnet = s.istr()
		case "attachSubnets":
			s.once(&got, 3)
			sp.AttachSubnets = s.strings(true)
		case "nodeName":
			s.once(&got, 4)
			sp.NodeName = s.istr()
		case "ipAddress":
			s.once(&got, 5)
			sp.IPAddress = s.str()
		case "v4IpAddress":
			s.once(&got, 6)
			sp.V4IPAddress = s.sameOr(sp.IPAddress)
		case "v6IpAddress":
			s.once(&got, 7)
			sp.V6IPAddress = s.sameOr(sp.IPAddress)
		case "attachIps":
			s.once(&got, 8)
			sp.AttachIPs = s.strings(false)
		case "macAddress": // not kept (keepIP)
			s.once(&got, 9)
			s.raw()
		case "attachMacs":
			s.once(&got, 10)
			s.array(func() { s.raw() })
		case "containerID":
			s.once(&got, 11)
			s.raw()
		case "podType":
			s.once(&got, 12)
			sp.PodType = s.istr()
		default:
			s.fail()
		}
	})
}

// sameOr reads a string, sharing prev when equal (v4IpAddress is
// ipAddress on single-stack objects).
func (s *scanner) sameOr(prev string) string {
	v := s.raw()
	if string(v) == prev {
		return prev
	}
	return s.in.fresh(v)
}
