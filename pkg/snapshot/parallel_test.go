package snapshot_test

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/snapshot"
)

// readParallel reads doc into a State the way the doctor does on every
// core.
func readParallel(doc []byte, workers int) (*diagnose.State, *snapshot.Header, error) {
	s := &diagnose.State{}
	h, err := snapshot.ReadParallel(bytes.NewReader(doc), workers,
		func() func(apiVersion, kind string, raw []byte) (diagnose.Object, error) {
			return new(diagnose.Decoder).Decode
		},
		func(o *diagnose.Object) error { s.Apply(o); return nil })
	return s, h, err
}

// parallelDoc is a snapshot of n pods and n IP objects (many batches),
// with bad put in place of item at (if at >= 0).
func parallelDoc(t *testing.T, n, at int, bad string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := snapshot.NewWriter(&buf, snapshot.Metadata{ClusterID: "c", Time: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		_ = w.Add("v1", "Namespace", fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns-%d","uid":"n%d"}}`, i%7, i))
		_ = w.Add("v1", "Pod", fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p-%d","namespace":"ns-%d","uid":"u%d","creationTimestamp":"2026-01-01T00:00:00Z","annotations":{"ovn.kubernetes.io/ip_address":"10.0.%d.%d"}},"spec":{"nodeName":"n1"},"status":{"phase":"Running","podIPs":[{"ip":"10.0.%d.%d"}]}}`, i, i%7, i, i>>8, i&255, i>>8, i&255))
		_ = w.Add("kubeovn.io/v1", "IP", fmt.Appendf(nil, `{"apiVersion":"kubeovn.io/v1","kind":"IP","metadata":{"name":"p-%d.ns-%d"},"spec":{"podName":"p-%d","namespace":"ns-%d","subnet":"s","ipAddress":"10.0.%d.%d"}}`, i, i%7, i, i%7, i>>8, i&255))
	}
	if err := w.Close(nil); err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		return buf.Bytes()
	}
	lines := strings.Split(buf.String(), "\n")
	sep := ","
	if at+2 == len(lines)-2 {
		sep = ""
	}
	lines[at+1] = bad + sep
	return []byte(strings.Join(lines, "\n"))
}

func TestReadParallelIsRead(t *testing.T) {
	t.Parallel()
	const n = 700
	for _, tc := range []struct {
		name string
		doc  []byte
	}{
		{"clean", parallelDoc(t, n, -1, "")},
		{"bad item", parallelDoc(t, n, 1000, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"y","labels":"a"}}`)},
		{"bad item first", parallelDoc(t, n, 0, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","labels":[]}}`)},
		{"no kind", parallelDoc(t, n, 1500, `{"metadata":{"name":"x"}}`)},
		{"not an object", parallelDoc(t, n, 900, `[1]`)},
		{"truncated", parallelDoc(t, n, -1, "")[:40000]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := &diagnose.State{}
			wh, werr := snapshot.Read(bytes.NewReader(tc.doc), want.Add)
			for _, workers := range []int{1, 2, 3} {
				got, gh, gerr := readParallel(tc.doc, workers)
				if fmt.Sprint(gerr) != fmt.Sprint(werr) {
					t.Errorf("workers %d: error %v, want %v", workers, gerr, werr)
				}
				if gh.Items != wh.Items || gh.Metadata != wh.Metadata {
					t.Errorf("workers %d: header %+v, want %+v", workers, gh, wh)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("workers %d: %d pods, %d IPs, %d namespaces; want %d, %d, %d (or they differ)", workers,
						len(got.Pods), len(got.IPs), len(got.Namespaces), len(want.Pods), len(want.IPs), len(want.Namespaces))
				}
			}
			if tc.name != "clean" && werr == nil {
				t.Fatal("Read found nothing wrong")
			}
			if tc.name == "clean" && (werr != nil || len(want.Pods) != n || len(want.IPs) != n) {
				t.Fatalf("clean document: %v, %d pods, %d IPs", werr, len(want.Pods), len(want.IPs))
			}
		})
	}
}
