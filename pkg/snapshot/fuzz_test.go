package snapshot_test

import (
	"bytes"
	"testing"

	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/snapshot"
)

// FuzzRead: any input is read or refused with an error, never a panic,
// and what is read strips and writes back to a document that reads the
// same.
func FuzzRead(f *testing.F) {
	for _, seed := range []string{
		`{"apiVersion":"ipamguard.io/v1alpha1","kind":"Snapshot","metadata":{"time":"2026-12-07T00:00:00Z"},"items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"b"}}]}`,
		`{"kind":"SubnetList","apiVersion":"kubeovn.io/v1","items":[{"metadata":{"name":"a"},"spec":{"cidrBlock":"10.0.0.0/24"}}]}`,
		`{"kind":"List","apiVersion":"v1","items":[{"apiVersion":"v1","kind":"Event","metadata":{"name":"e"},"type":"Warning","involvedObject":{"kind":"Pod"}}]}`,
		`{"apiVersion":"ipamguard.io/v1alpha1","kind":"Snapshot","items":[],"incomplete":[{"resource":"pods","reason":"x"}]}`,
		`{"items":[{}]}`, `[]`, ``, `{`, `{"kind":1}`,
		// An Event whose type is not a string: refused by the doctor as
		// by the snapshot writer (both read the field now).
		`{"kind":"List","apiVersion":"v1","items":[{"apiVersion":"v1","kind":"Event","metadata":{"name":"e"},"tYpe":{},"involvedObject":{"kind":"Pod"}}]}`,
		`{"kind":"List","apiVersion":"v1","items":[{"apiVersion":"v1","kind":"Event","metadata":{"name":"e"},"type":"Warning","reportingComponent":{},"involvedObject":{"kind":"Pod"}}]}`,
		`{"kind":"List","apiVersion":"v1","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n","finalizers":[1]}}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var objs [][3]string
		s := &diagnose.State{}
		h, err := snapshot.Read(bytes.NewReader(doc), func(apiVersion, kind string, raw []byte) error {
			if err := s.Add(apiVersion, kind, raw); err != nil {
				return err
			}
			objs = append(objs, [3]string{apiVersion, kind, string(raw)})
			return nil
		})
		if err != nil {
			return
		}
		if h.Items != len(objs) {
			t.Fatalf("header says %d items, %d visited", h.Items, len(objs))
		}
		var buf bytes.Buffer
		w, err := snapshot.NewWriter(&buf, h.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if err := w.Add(o[0], o[1], []byte(o[2])); err != nil {
				t.Fatalf("an object State.Add took does not strip: %v\n%s", err, o[2])
			}
		}
		if err := w.Close(nil); err != nil {
			t.Fatal(err)
		}
		back := &diagnose.State{}
		if _, err := snapshot.Read(&buf, back.Add); err != nil {
			t.Fatalf("a written snapshot does not read: %v\n%s", err, buf.Bytes())
		}
	})
}
