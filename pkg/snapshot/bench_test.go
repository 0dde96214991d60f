package snapshot_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/snapshot"
)

// BenchmarkRead reads a snapshot of 50k pods and 50k IP objects into a
// State, as the doctor does: the figure per item says what a million
// costs.
func BenchmarkRead(b *testing.B) {
	const n = 50000
	var buf bytes.Buffer
	w, err := snapshot.NewWriter(&buf, snapshot.Metadata{Time: time.Unix(0, 0)})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
		ns := fmt.Sprintf("ns-%d", i%100)
		_ = w.Add("v1", "Pod", fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p-%d","namespace":%q,"uid":"0b6a2c1e-3f5d-4c6b-9a8e-%012d","resourceVersion":"%d","creationTimestamp":"2026-01-01T00:00:00Z","labels":{"app":"web","pod-template-hash":"abc"},"annotations":{"ovn.kubernetes.io/ip_address":%q,"ovn.kubernetes.io/allocated":"true","ovn.kubernetes.io/logical_switch":"ovn-default","kubectl.kubernetes.io/restartedAt":"x"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-abc","uid":"u","controller":true}]},"spec":{"nodeName":"node-1","containers":[{"name":"c","image":"nginx"}]},"status":{"phase":"Running","podIPs":[{"ip":%q}]}}`, i, ns, i, i, addr, addr))
		_ = w.Add("kubeovn.io/v1", "IP", fmt.Appendf(nil, `{"apiVersion":"kubeovn.io/v1","kind":"IP","metadata":{"name":"p-%d.%s","uid":"u-%d","resourceVersion":"%d","creationTimestamp":"2026-01-01T00:00:01Z","labels":{"ovn.kubernetes.io/subnet":"ovn-default"}},"spec":{"podName":"p-%d","namespace":%q,"subnet":"ovn-default","nodeName":"node-1","ipAddress":%q,"v4IpAddress":%q,"macAddress":"00:00:00:00:00:01","containerID":"abc"}}`, i, ns, i, i, i, ns, addr, addr))
	}
	if err := w.Close(nil); err != nil {
		b.Fatal(err)
	}
	doc := buf.Bytes()
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s := &diagnose.State{}
		if _, err := snapshot.Read(bytes.NewReader(doc), s.Add); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(2*n), "ns/item")
}
