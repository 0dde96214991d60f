package inventory

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

func digestIP(name, ns, pod, subnet, addr string) *kubeovnv1.IP {
	return &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: kubeovnv1.IPSpec{PodName: pod, Namespace: ns, Subnet: subnet, IPAddress: addr, V4IPAddress: addr}}
}

func digestPod(ns, name, addr string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
		Annotations: map[string]string{"ovn.kubernetes.io/ip_address": addr}}}
}

// Two Stores fed the same objects have one digest, whatever the order and
// the history of the events; any difference in what the rules read
// changes it.
func TestDigestIsTheContentNotTheHistory(t *testing.T) {
	t.Parallel()
	a, b := New("ovn-cluster"), New("ovn-cluster")
	a.UpsertSubnet(sn("s1", "10.16.0.0/16", "", ""))
	a.UpsertSubnet(sn("s2", "10.17.0.0/16", "", ""))
	for i := range 50 {
		a.UpsertIP(digestIP(fmt.Sprintf("p%d.ns", i), "ns", fmt.Sprintf("p%d", i), "s1", fmt.Sprintf("10.16.0.%d", i+2)))
	}
	a.UpsertPod(digestPod("ns", "fixed", "10.16.1.9"))
	a.UpsertNamespace(&metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"team": "a"}})
	a.UpsertNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.18.0.2"}}}})

	// b: the other order, with objects created and deleted on the way and
	// one IP object updated twice.
	b.UpsertNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.18.0.2"}}}})
	b.UpsertNamespace(&metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"team": "b"}})
	b.UpsertNamespace(&metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"team": "a"}})
	b.UpsertSubnet(sn("s2", "10.17.0.0/16", "", ""))
	b.UpsertSubnet(sn("gone", "10.99.0.0/16", "", ""))
	b.UpsertPod(digestPod("ns", "gone", "10.16.1.10"))
	for i := 49; i >= 0; i-- {
		b.UpsertIP(digestIP(fmt.Sprintf("p%d.ns", i), "ns", fmt.Sprintf("p%d", i), "s1", "10.16.9.9"))
		b.UpsertIP(digestIP(fmt.Sprintf("p%d.ns", i), "ns", fmt.Sprintf("p%d", i), "s1", fmt.Sprintf("10.16.0.%d", i+2)))
	}
	b.UpsertSubnet(sn("s1", "10.16.0.0/16", "", ""))
	b.UpsertPod(digestPod("ns", "fixed", "10.16.1.9"))
	b.DeletePod("ns", "gone")
	b.DeleteSubnet("gone")

	da, db := a.Digest(), b.Digest()
	if da != db {
		t.Fatalf("same content, different digests:\n%+v\n%+v", da, db)
	}
	if da.Subnets != 2 || da.IPs != 50 || da.Holders != 50 || da.Nodes != 1 || da.Namespaces != 1 || da.PendingPods != 1 || len(da.Hash) != 64 {
		t.Fatalf("counts: %+v", da)
	}
	// One address moved: same counts, another hash.
	b.UpsertIP(digestIP("p7.ns", "ns", "p7", "s1", "10.16.0.200"))
	if d := b.Digest(); d.Hash == da.Hash || d.Holders != da.Holders {
		t.Fatalf("a moved address left the digest %+v (was %+v)", d, da)
	}
	b.UpsertIP(digestIP("p7.ns", "ns", "p7", "s1", "10.16.0.9"))
	if b.Digest() != da {
		t.Fatal("moving the address back did not restore the digest")
	}
	// A namespace label, a pending pod: each changes the hash.
	b.UpsertNamespace(&metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"team": "c"}})
	if b.Digest().Hash == da.Hash {
		t.Fatal("a namespace label change left the hash")
	}
	if New("ovn-cluster").Digest().Hash == New("other").Digest().Hash {
		t.Fatal("the default VPC is not in the hash")
	}
}

func TestDigestHandler(t *testing.T) {
	t.Parallel()
	s := New("ovn-cluster")
	s.UpsertSubnet(sn("secret-subnet-name", "10.16.0.0/16", "", ""))
	synced := false
	h := DigestHandler(s, func() bool { return synced })
	for _, want := range []bool{false, true} {
		synced = want
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/inventory-digest", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		body := rec.Body.String()
		if strings.Contains(body, "secret-subnet-name") || strings.Contains(body, "10.16.") {
			t.Fatalf("the digest leaks object data: %s", body)
		}
		var got DigestResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Synced != want || got.Digest != s.Digest() {
			t.Fatalf("got %+v, want synced %v and %+v", got, want, s.Digest())
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/debug/inventory-digest", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: status %d", rec.Code)
	}
}
