package inventory

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// Digest sums up what a Store holds, for tests and operators comparing two
// views of one cluster: two Stores fed the same objects have the same
// Digest, whatever the order and history of the events that fed them.
// It names no object: a hash and counts.
type Digest struct {
	// Hash is a SHA-256, in hex, over every record the rules read.
	Hash string `json:"hash"`
	// The counts of records, by kind.
	Subnets     int `json:"subnets"`
	IPs         int `json:"ips"`
	Vips        int `json:"vips"`
	Holders     int `json:"holders"`
	Nodes       int `json:"nodes"`
	Namespaces  int `json:"namespaces"`
	VPCs        int `json:"vpcs"`
	IPPools     int `json:"ippools"`
	PendingPods int `json:"pendingPods"`
}

// multiset is an order-independent hash of a set of records: the sum,
// modulo 2^64 per lane, of each record's SHA-256. Adding the records in
// any order gives the same sum.
type multiset struct {
	sum [4]uint64
	b   strings.Builder
}

// field appends one field of the record being built.
func (m *multiset) field(s string) {
	// Length-prefixed, so no two different field lists build one string.
	m.b.WriteString(strconv.Itoa(len(s)))
	m.b.WriteByte(':')
	m.b.WriteString(s)
}

// end adds the record built by field calls to the set.
func (m *multiset) end() {
	h := sha256.Sum256([]byte(m.b.String()))
	m.b.Reset()
	for i := range m.sum {
		m.sum[i] += binary.BigEndian.Uint64(h[8*i:])
	}
}

// Digest computes the Store's digest. It holds the read lock for one pass
// over the Store (tens of milliseconds for 100,000 addresses), so call it
// on demand, not per request.
func (s *Store) Digest() Digest {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var kinds [8]multiset
	d := Digest{Subnets: len(s.subnets), IPs: len(s.byIP), Vips: len(s.byVip), Holders: s.holders.Len(),
		Nodes: len(s.nodes), Namespaces: len(s.namespaces), VPCs: len(s.vpcs), IPPools: len(s.pools), PendingPods: len(s.podRequests)}

	m := &kinds[0]
	for _, sub := range s.subnets {
		m.field(sub.Name)
		m.field(sub.VPC)
		m.field(sub.VLAN)
		m.field(sub.Provider)
		m.field(sub.CIDRBlock)
		m.field(sub.Gateway)
		m.field(strings.Join(sub.Namespaces, ","))
		for _, sel := range sub.Selectors {
			m.field(sel.String())
		}
		m.field(strconv.FormatBool(sub.SelectorErr != nil))
		m.end()
	}
	m = &kinds[1]
	s.holders.Ascend(func(e holderEntry) bool {
		o := e.owner
		m.field(e.subnet)
		m.field(e.addr.String())
		m.field(strconv.Itoa(int(o.kind)))
		m.field(o.name)
		m.field(o.podNamespace)
		m.field(o.podName)
		m.field(o.nodeName)
		m.field(o.podType)
		m.end()
		return true
	})
	m = &kinds[2]
	for name, addrs := range s.nodes {
		m.field(name)
		for _, a := range addrs {
			m.field(a.String())
		}
		m.end()
	}
	m = &kinds[3]
	for name, l := range s.namespaces {
		m.field(name)
		m.field(labels.Set(l).String())
		m.end()
	}
	m = &kinds[4]
	for _, v := range s.vpcs {
		m.field(v.Name)
		m.field(strings.Join(v.Namespaces, ","))
		m.field(v.DefaultSubnet)
		m.end()
	}
	m = &kinds[5]
	for _, p := range s.pools {
		m.field(p.Name)
		m.field(p.Subnet)
		m.field(strings.Join(p.Namespaces, ","))
		if p.Set != nil {
			for _, r := range p.Set.Ranges() {
				m.field(r.String())
			}
		}
		m.end()
	}
	m = &kinds[6]
	for _, reqs := range s.podsByAddr {
		for _, r := range reqs {
			m.field(r.Namespace)
			m.field(r.Pod)
			m.field(r.Owner)
			m.field(r.Provider)
			m.field(r.Interface)
			m.field(r.LogicalSwitch)
			m.field(r.IPPool)
			m.field(r.Addr.String())
			m.field(strconv.FormatInt(r.Created.Unix(), 10))
			m.end()
		}
	}
	m = &kinds[7]
	m.field(s.defaultVPC)
	m.end()

	h := sha256.New()
	var buf [8]byte
	for _, k := range kinds {
		for _, v := range k.sum {
			binary.BigEndian.PutUint64(buf[:], v)
			h.Write(buf[:])
		}
	}
	d.Hash = hex.EncodeToString(h.Sum(nil))
	return d
}

// DigestResponse is what DigestHandler serves.
type DigestResponse struct {
	// Synced is false until the inventory's informers have delivered
	// their initial lists (the readiness gate).
	Synced bool `json:"synced"`
	Digest
}

// DigestHandler serves the Store's Digest as JSON, with whether synced
// reports the initial sync done. It serves no object data, only a hash and
// counts; still, it costs a pass over the Store per request, so cmd/webhook
// registers it only when asked (--inventory-digest).
func DigestHandler(s *Store, synced func() bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		resp := DigestResponse{Synced: synced == nil || synced(), Digest: s.Digest()}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(resp)
	})
}
