package diagnose

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"
)

// fastPods and fastIPs are objects the fast decoders must decode (ok) or
// leave to encoding/json (!ok); either way the result must be
// encoding/json's.
var fastPods = []struct {
	raw string
	ok  bool
}{
	{`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-0","namespace":"ns-0","uid":"u0","resourceVersion":"7","creationTimestamp":"2026-12-01T00:00:00Z","labels":{"app":"web"},"annotations":{"ovn.kubernetes.io/allocated":"true","ovn.kubernetes.io/routed":"true","ovn.kubernetes.io/ip_address":"10.0.0.20","ovn.kubernetes.io/logical_switch":"subnet-0"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web","uid":"r0","controller":true,"blockOwnerDeletion":false}]},"spec":{"nodeName":"node-0"},"status":{"phase":"Running","podIPs":[{"ip":"10.0.0.20"},{"ip":"fd00::14"}]}}`, true},
	{`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns","deletionTimestamp":"2026-12-01T00:00:00+02:00","finalizers":["x"]},"spec":{"hostNetwork":true},"status":{"phase":"Pending","containerStatuses":[{"state":{}},{"state":{"waiting":{}}},{"state":{"waiting":{"reason":"ContainerCreating"}}},{"state":{"waiting":{"reason":"Other"}}}]}}`, true},
	{` { "kind" : "Pod" , "metadata" : { "name" : "p" , "labels" : { } , "annotations":{},"ownerReferences":[] } , "status" : { "podIPs" : [ { } ] } } `, true},
	{`{"metadata":{"name":"é-ü"}}`, true},
	{`{}`, true},
	// Left to encoding/json.
	{`{"metadata":{"name":"a\"b"}}`, false},
	{`{"metadata":{"name":"p","name":"q"}}`, false},
	{`{"metadata":{"Name":"p"}}`, false},
	{`{"metadata":{"name":"p","generation":3}}`, false},
	{`{"metadata":{"name":null}}`, false},
	{`{"metadata":{"creationTimestamp":null}}`, false},
	{`{"metadata":{"creationTimestamp":"yesterday"}}`, false},
	{`{"metadata":{"labels":{"a":1}}}`, false},
	{`{"metadata":{"labels":"a"}}`, false},
	{`{"spec":{"nodeName":"n","containers":[]}}`, false},
	{`{"spec":{"hostNetwork":"true"}}`, false},
	{`{"status":{"podIPs":[{"ip":"a","ipFamily":"IPv4"}]}}`, false},
	{`{"metadata":{"name":"p"}} x`, false},
	{`{"metadata":{"name":"p"}`, false},
	{`{"metadata":{"name":"p",}}`, false},
	{"{\"metadata\":{\"name\":\"\xff\"}}", false},
}

var fastIPs = []struct {
	raw string
	ok  bool
}{
	{`{"apiVersion":"kubeovn.io/v1","kind":"IP","metadata":{"name":"web-0.ns-0","uid":"i0","resourceVersion":"9","creationTimestamp":"2026-12-01T00:00:01Z","labels":{"ovn.kubernetes.io/subnet":"subnet-0"},"finalizers":["kubeovn.io/kube-ovn-controller"]},"spec":{"podName":"web-0","namespace":"ns-0","subnet":"subnet-0","attachSubnets":[],"nodeName":"node-0","ipAddress":"10.0.0.20,fd00::14","v4IpAddress":"10.0.0.20","v6IpAddress":"fd00::14","attachIps":[],"macAddress":"00:00:00:00:00:01","attachMacs":[],"containerID":"c","podType":"StatefulSet"}}`, true},
	{`{"kind":"IP","metadata":{"name":"x","ownerReferences":[{"apiVersion":"kubevirt.io/v1","kind":"VirtualMachine","name":"vm","uid":"v"}]},"spec":{"subnet":"s","ipAddress":"10.0.0.1","v4IpAddress":"10.0.0.1","attachSubnets":["a","b"],"attachIps":["10.1.0.1",""]}}`, true},
	{`{"spec":{}}`, true},
	{`{"spec":{"ipAddress":"10.0.0.1","ipAddress":"10.0.0.2"}}`, false},
	{`{"spec":{"attachIps":null}}`, false},
	{`{"spec":{"podName":1}}`, false},
	{`{"status":{}}`, false},
	{`[]`, false},
}

func TestFastDecodeAgrees(t *testing.T) {
	t.Parallel()
	var in interner
	for _, tc := range fastPods {
		got, ok := fastPod([]byte(tc.raw), &in)
		if ok != tc.ok {
			t.Errorf("fastPod(%s): ok %v, want %v", tc.raw, ok, tc.ok)
		}
		if !ok {
			continue
		}
		want, err := decodePod([]byte(tc.raw))
		if err != nil {
			t.Errorf("fastPod(%s) accepted what encoding/json refuses: %v", tc.raw, err)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("fastPod(%s):\n got %+v\nwant %+v", tc.raw, got, want)
		}
	}
	for _, tc := range fastIPs {
		got, ok := fastIP([]byte(tc.raw), &in)
		if ok != tc.ok {
			t.Errorf("fastIP(%s): ok %v, want %v", tc.raw, ok, tc.ok)
		}
		if !ok {
			continue
		}
		want, err := decodeIP([]byte(tc.raw))
		if err != nil {
			t.Errorf("fastIP(%s) accepted what encoding/json refuses: %v", tc.raw, err)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("fastIP(%s):\n got %+v\nwant %+v", tc.raw, got, want)
		}
	}
}

// TestAddSharesStrings: objects decoded by one Decoder share their
// namespace and annotation keys.
func TestAddSharesStrings(t *testing.T) {
	t.Parallel()
	var d Decoder
	var pods []Pod
	for range 2 {
		o, err := d.Decode("v1", "Pod", []byte(fastPods[0].raw))
		if err != nil || o.kind != objectPod {
			t.Fatalf("Decode: %v, kind %d", err, o.kind)
		}
		pods = append(pods, o.pod)
	}
	if a, b := pods[0].Namespace, pods[1].Namespace; a != b || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("namespaces %q and %q are not shared", a, b)
	}
	if a, b := pods[0].Annotations["ovn.kubernetes.io/logical_switch"], pods[1].Annotations["ovn.kubernetes.io/logical_switch"]; unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("logical switches %q and %q are not shared", a, b)
	}
	// Pods of one template share their labels and owner references, from
	// the second time their bytes are read.
	for range 2 {
		o, err := d.Decode("v1", "Pod", []byte(fastPods[0].raw))
		if err != nil || o.kind != objectPod {
			t.Fatalf("Decode: %v, kind %d", err, o.kind)
		}
		pods = append(pods, o.pod)
	}
	if len(pods[2].Labels) == 0 || reflect.ValueOf(pods[2].Labels).UnsafePointer() != reflect.ValueOf(pods[3].Labels).UnsafePointer() {
		t.Errorf("labels %v and %v are not one map", pods[2].Labels, pods[3].Labels)
	}
	if len(pods[2].OwnerReferences) == 0 || &pods[2].OwnerReferences[0] != &pods[3].OwnerReferences[0] {
		t.Errorf("owner references %v and %v are not one slice", pods[2].OwnerReferences, pods[3].OwnerReferences)
	}
	// Annotations no check reads are not kept.
	if _, ok := pods[0].Annotations["ovn.kubernetes.io/routed"]; ok {
		t.Errorf("annotations %v: ovn.kubernetes.io/routed is kept", pods[0].Annotations)
	}
}

// FuzzFastDecode: whatever the fast decoders accept, encoding/json
// decodes to the same value.
func FuzzFastDecode(f *testing.F) {
	for _, tc := range fastPods {
		f.Add(tc.raw)
	}
	for _, tc := range fastIPs {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var in interner
		// What a fast decoder accepts is one valid JSON value (duplicate
		// names allowed, as a snapshot's reader allows them): ReadParallel
		// trusts Object.CheckedJSON.
		valid := jsontext.Value(raw).IsValid(jsontext.AllowDuplicateNames(true))
		_, podOK := fastPod([]byte(raw), &in)
		_, ipOK := fastIP([]byte(raw), &in)
		if (podOK || ipOK) && !valid {
			t.Fatalf("a fast decoder accepted invalid JSON: %q", raw)
		}
		if got, ok := fastPod([]byte(raw), &in); ok {
			want, err := decodePod([]byte(raw))
			if err != nil {
				t.Fatalf("fastPod accepted what encoding/json refuses: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("fastPod:\n got %+v\nwant %+v", got, want)
			}
		}
		if got, ok := fastIP([]byte(raw), &in); ok {
			want, err := decodeIP([]byte(raw))
			if err != nil {
				t.Fatalf("fastIP accepted what encoding/json refuses: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("fastIP:\n got %+v\nwant %+v", got, want)
			}
		}
	})
}
