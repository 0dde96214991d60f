package snapshot_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/snapshot"
)

// object is one object as the API server sends it.
type object struct{ apiVersion, kind, raw string }

// cluster is a small cluster of every kind a snapshot holds, with what a
// snapshot drops: managedFields, last-applied annotations, pod specs,
// events that are not warnings about pods.
var cluster = []object{
	{"v1", "Namespace", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"kube-system","uid":"ks-uid","resourceVersion":"1","creationTimestamp":"2026-01-01T00:00:00Z","labels":{"kubernetes.io/metadata.name":"kube-system"},"managedFields":[{"manager":"x"}]}}`},
	{"v1", "Namespace", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"apps","uid":"apps-uid","labels":{"ipamguard.io/mode":"audit"},"annotations":{"ovn.kubernetes.io/logical_switch":"tenant-a","kubectl.kubernetes.io/last-applied-configuration":"{\"huge\":true}"}},"spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}}`},
	{"v1", "Node", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-1","uid":"n1"},"spec":{"podCIDR":"10.244.0.0/24"},"status":{"addresses":[{"type":"InternalIP","address":"172.18.0.2"},{"type":"Hostname","address":"node-1"}],"images":[{"names":["nginx"]}]}}`},
	{"kubeovn.io/v1", "Subnet", `{"apiVersion":"kubeovn.io/v1","kind":"Subnet","metadata":{"name":"tenant-a","uid":"s1","resourceVersion":"7","managedFields":[{"manager":"kube-ovn"}],"finalizers":["kubeovn.io/finalizer"]},"spec":{"cidrBlock":"10.70.0.0/24","excludeIps":["10.70.0.1"],"protocol":"IPv4","vpc":"ovn-cluster"},"status":{"v4availableIPs":250,"v4usingIPs":3}}`},
	{"kubeovn.io/v1", "IP", `{"apiVersion":"kubeovn.io/v1","kind":"IP","metadata":{"name":"db-0.apps","uid":"ip1","resourceVersion":"9","labels":{"ovn.kubernetes.io/subnet":"tenant-a"},"creationTimestamp":"2026-01-02T00:00:01Z"},"spec":{"podName":"db-0","namespace":"apps","subnet":"tenant-a","ipAddress":"10.70.0.5","v4IpAddress":"10.70.0.5","podType":"StatefulSet"}}`},
	{"kubeovn.io/v1", "IPPool", `{"apiVersion":"kubeovn.io/v1","kind":"IPPool","metadata":{"name":"pool-a"},"spec":{"subnet":"tenant-a","ips":["10.70.0.10..10.70.0.20"]}}`},
	{"kubeovn.io/v1", "Vpc", `{"apiVersion":"kubeovn.io/v1","kind":"Vpc","metadata":{"name":"ovn-cluster"},"spec":{},"status":{"default":true,"subnets":["tenant-a"]}}`},
	{"kubeovn.io/v1", "Vip", `{"apiVersion":"kubeovn.io/v1","kind":"Vip","metadata":{"name":"vip1"},"spec":{"subnet":"tenant-a","v4ip":"10.70.0.100"}}`},
	{"networking.k8s.io/v1", "ServiceCIDR", `{"apiVersion":"networking.k8s.io/v1","kind":"ServiceCIDR","metadata":{"name":"kubernetes"},"spec":{"cidrs":["10.96.0.0/12","fd00:10:96::/112"]},"status":{"conditions":[]}}`},
	{"apps/v1", "StatefulSet", `{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db","namespace":"apps","uid":"sts1"},"spec":{"replicas":3,"ordinals":{"start":1},"selector":{"matchLabels":{"app":"db"}},"template":{"metadata":{"labels":{"app":"db"},"annotations":{"ovn.kubernetes.io/ip_pool":"10.70.0.5,10.70.0.6,10.70.0.7","prometheus.io/scrape":"true"}},"spec":{"containers":[{"name":"db","image":"postgres"}]}}}}`},
	{"kubevirt.io/v1", "VirtualMachine", `{"apiVersion":"kubevirt.io/v1","kind":"VirtualMachine","metadata":{"name":"vm1","namespace":"apps","uid":"vm1"},"spec":{"running":true,"template":{}}}`},
	{"v1", "Pod", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"db-1","namespace":"apps","uid":"p1","resourceVersion":"11","creationTimestamp":"2026-01-02T00:00:00Z",
		"labels":{"app":"db","statefulset.kubernetes.io/pod-name":"db-1"},
		"annotations":{"ovn.kubernetes.io/ip_address":"10.70.0.6","ovn.kubernetes.io/allocated":"true","ovn.kubernetes.io/cidr":"10.70.0.0/24","attnet.apps.ovn.kubernetes.io/ip_address":"10.80.0.4","k8s.v1.cni.cncf.io/network-status":"[]","kubectl.kubernetes.io/restartedAt":"now","kubevirt.io/migrationJobName":"m1"},
		"ownerReferences":[{"apiVersion":"apps/v1","kind":"StatefulSet","name":"db","uid":"sts1","controller":true}],"managedFields":[{"manager":"kubelet"}]},
		"spec":{"nodeName":"node-1","containers":[{"name":"db","image":"postgres","env":[{"name":"A","value":"b"}]}]},
		"status":{"phase":"Pending","podIPs":[{"ip":"10.70.0.6"}],"containerStatuses":[{"name":"db","ready":false,"state":{"waiting":{"reason":"ContainerCreating"}}},{"name":"side","state":{"running":{}}}]}}`},
	{"v1", "Pod", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"host","namespace":"kube-system","deletionTimestamp":"2026-01-03T00:00:00Z"},"spec":{"hostNetwork":true},"status":{"phase":"Running"}}`},
	{"v1", "Event", `{"apiVersion":"v1","kind":"Event","metadata":{"name":"db-1.1","namespace":"apps","uid":"e1","creationTimestamp":"2026-01-02T00:00:05Z"},"involvedObject":{"apiVersion":"v1","kind":"Pod","namespace":"apps","name":"db-1","uid":"p1","fieldPath":"spec"},"reason":"FailedCreatePodSandBox","message":"failed to allocate IP: no available IP","type":"Warning","count":4,"lastTimestamp":"2026-01-02T00:01:00Z","source":{"component":"kubelet"}}`},
	// Left out: not a warning, not about a pod.
	{"v1", "Event", `{"apiVersion":"v1","kind":"Event","metadata":{"name":"db-1.2","namespace":"apps"},"involvedObject":{"kind":"Pod","namespace":"apps","name":"db-1"},"reason":"Scheduled","type":"Normal"}`},
	{"v1", "Event", `{"apiVersion":"v1","kind":"Event","metadata":{"name":"n.1","namespace":"default"},"involvedObject":{"kind":"Node","name":"node-1"},"reason":"NodeNotReady","type":"Warning"}`},
}

// stateOf adds the cluster's objects to a fresh state through add.
func stateOf(t *testing.T, through func(s *diagnose.State) snapshot.Visit) *diagnose.State {
	t.Helper()
	s := &diagnose.State{}
	visit := through(s)
	for _, o := range cluster {
		if err := visit(o.apiVersion, o.kind, []byte(o.raw)); err != nil {
			t.Fatalf("%s %s: %v", o.apiVersion, o.kind, err)
		}
	}
	return s
}

func write(t *testing.T, meta snapshot.Metadata, gaps []snapshot.Gap) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := snapshot.NewWriter(&buf, meta)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range cluster {
		if err := w.Add(o.apiVersion, o.kind, []byte(o.raw)); err != nil {
			t.Fatal(err)
		}
	}
	if w.Items() != len(cluster)-2 {
		t.Errorf("%d items written, want %d (two events left out)", w.Items(), len(cluster)-2)
	}
	if err := w.Close(gaps); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 7, 0, 40, 0, 0, time.UTC)
	gaps := []snapshot.Gap{{Resource: "pods", Reason: "forbidden: no"}}
	doc := write(t, snapshot.Metadata{ClusterID: "ks-uid", Time: at}, gaps)

	// The document is valid JSON, a List-like object with items.
	var parsed struct {
		APIVersion string                       `json:"apiVersion"`
		Kind       string                       `json:"kind"`
		Metadata   map[string]string            `json:"metadata"`
		Items      []map[string]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	if parsed.APIVersion != snapshot.APIVersion || parsed.Kind != snapshot.Kind ||
		parsed.Metadata["clusterID"] != "ks-uid" || parsed.Metadata["time"] != "2026-12-07T00:40:00Z" {
		t.Errorf("head %s %s %v", parsed.APIVersion, parsed.Kind, parsed.Metadata)
	}

	read := &diagnose.State{}
	h, err := snapshot.Read(bytes.NewReader(doc), read.Add)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Snapshot() || h.Metadata.ClusterID != "ks-uid" || !h.Metadata.Time.Equal(at) || h.Items != len(cluster)-2 || !reflect.DeepEqual(h.Incomplete, gaps) {
		t.Errorf("header %+v", h)
	}
	// The same state as a live read stripped on the way.
	live := stateOf(t, func(s *diagnose.State) snapshot.Visit { return snapshot.Stripped(s.Add) })
	if !reflect.DeepEqual(read, live) {
		t.Errorf("snapshot state differs from the stripped live state:\n%+v\n%+v", read, live)
	}
	// And what the checks read is what an unstripped read gives, but the
	// annotations a snapshot drops.
	whole := stateOf(t, func(s *diagnose.State) snapshot.Visit { return s.Add })
	if len(whole.Events) != 3 || len(read.Events) != 1 {
		t.Errorf("events: %d unstripped, %d in the snapshot; want 3 and 1", len(whole.Events), len(read.Events))
	}
	whole.Events = whole.Events[:1]
	whole.Subnets[0].ManagedFields = nil
	for i := range whole.Pods {
		whole.Pods[i].Annotations = read.Pods[i].Annotations
	}
	whole.Namespaces[1].Annotations = read.Namespaces[1].Annotations
	whole.StatefulSets[0].TemplateAnnotations = read.StatefulSets[0].TemplateAnnotations
	if !reflect.DeepEqual(read, whole) {
		t.Errorf("snapshot state differs from the whole state beyond annotations:\n%+v\n%+v", read, whole)
	}
	if read.ClusterID != "ks-uid" || len(read.ServiceCIDRs) != 2 || read.Pods[0].Waiting != "ContainerCreating" ||
		read.Pods[0].NodeName != "node-1" || !read.Pods[1].HostNetwork || read.Pods[1].DeletionTimestamp == nil ||
		len(read.Nodes[0].InternalIPs) != 1 || read.StatefulSets[0].Replicas != 3 || read.StatefulSets[0].Start != 1 ||
		len(read.VirtualMachines) != 1 || read.Events[0].Count != 4 || read.Subnets[0].Spec.CIDRBlock != "10.70.0.0/24" {
		t.Errorf("state read: %+v", read)
	}
}

func TestStrip(t *testing.T) {
	t.Parallel()
	strip := func(i int) string {
		t.Helper()
		out, keep, err := snapshot.Strip(cluster[i].apiVersion, cluster[i].kind, []byte(cluster[i].raw))
		if err != nil || !keep {
			t.Fatalf("Strip(%s): %v, keep %v", cluster[i].kind, err, keep)
		}
		return string(out)
	}
	for _, tc := range []struct {
		i         int
		want      string
		dropped   []string
		mustStart string
	}{
		{i: 1, want: `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"apps","uid":"apps-uid","labels":{"ipamguard.io/mode":"audit"},"annotations":{"ovn.kubernetes.io/logical_switch":"tenant-a"}}}`},
		{i: 2, want: `{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-1","uid":"n1"},"status":{"addresses":[{"type":"InternalIP","address":"172.18.0.2"}]}}`},
		{i: 3, dropped: []string{"managedFields"}, mustStart: `{"apiVersion":"kubeovn.io/v1","kind":"Subnet","metadata":{"name":"tenant-a","uid":"s1","resourceVersion":"7","finalizers":["kubeovn.io/finalizer"]},"spec":{"cidrBlock":"10.70.0.0/24"`},
		{i: 9, want: `{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db","namespace":"apps","uid":"sts1"},"spec":{"replicas":3,"ordinals":{"start":1},"template":{"metadata":{"labels":{"app":"db"},"annotations":{"ovn.kubernetes.io/ip_pool":"10.70.0.5,10.70.0.6,10.70.0.7"}}}}}`},
		{i: 10, want: `{"apiVersion":"kubevirt.io/v1","kind":"VirtualMachine","metadata":{"name":"vm1","namespace":"apps","uid":"vm1"}}`},
		{i: 11, want: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"db-1","namespace":"apps","uid":"p1","resourceVersion":"11","creationTimestamp":"2026-01-02T00:00:00Z",` +
			`"labels":{"app":"db","statefulset.kubernetes.io/pod-name":"db-1"},` +
			`"annotations":{"attnet.apps.ovn.kubernetes.io/ip_address":"10.80.0.4","k8s.v1.cni.cncf.io/network-status":"[]","kubevirt.io/migrationJobName":"m1","ovn.kubernetes.io/allocated":"true","ovn.kubernetes.io/cidr":"10.70.0.0/24","ovn.kubernetes.io/ip_address":"10.70.0.6"},` +
			`"ownerReferences":[{"apiVersion":"apps/v1","kind":"StatefulSet","name":"db","uid":"sts1","controller":true}]},` +
			`"spec":{"nodeName":"node-1"},"status":{"phase":"Pending","podIPs":[{"ip":"10.70.0.6"}],"containerStatuses":[{"state":{"waiting":{"reason":"ContainerCreating"}}}]}}`},
		{i: 13, want: `{"apiVersion":"v1","kind":"Event","metadata":{"name":"db-1.1","namespace":"apps","uid":"e1","creationTimestamp":"2026-01-02T00:00:05Z"},` +
			`"involvedObject":{"apiVersion":"v1","kind":"Pod","namespace":"apps","name":"db-1","uid":"p1"},"reason":"FailedCreatePodSandBox","message":"failed to allocate IP: no available IP",` +
			`"type":"Warning","source":{"component":"kubelet"},"count":4,"lastTimestamp":"2026-01-02T00:01:00Z"}`},
	} {
		got := strip(tc.i)
		if tc.want != "" && got != tc.want {
			t.Errorf("Strip(%s):\n got %s\nwant %s", cluster[tc.i].kind, got, tc.want)
		}
		if !strings.HasPrefix(got, tc.mustStart) {
			t.Errorf("Strip(%s) = %s, want it to start %s", cluster[tc.i].kind, got, tc.mustStart)
		}
		for _, d := range tc.dropped {
			if strings.Contains(got, d) {
				t.Errorf("Strip(%s) kept %s: %s", cluster[tc.i].kind, d, got)
			}
		}
	}
	for _, i := range []int{14, 15} {
		if out, keep, err := snapshot.Strip("v1", "Event", []byte(cluster[i].raw)); keep || err != nil || out != nil {
			t.Errorf("Strip(%s) = %s, %v, %v: want it left out", cluster[i].raw, out, keep, err)
		}
	}
	// Unknown kinds are kept whole, compacted.
	if out, keep, err := snapshot.Strip("example.com/v1", "Thing", []byte("{ \"a\" : 1 }")); string(out) != `{"a":1}` || !keep || err != nil {
		t.Errorf("Strip(Thing) = %s, %v, %v", out, keep, err)
	}
}

func TestKeepAnnotation(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]bool{
		"ovn.kubernetes.io/ip_address":                     true,
		"ovn.kubernetes.io/routed":                         true,
		"net1.default.ovn.kubernetes.io/logical_switch":    true,
		"net1.default.kubernetes.io/ip_address.eth1":       true,
		"net1.default.kubernetes.io/allocated":             true,
		"k8s.v1.cni.cncf.io/network-status":                true,
		"k8s.v1.cni.cncf.io/networks":                      true,
		"kubevirt.io/migrationJobName":                     true,
		"ipamguard.io/keep":                                true,
		"vsubnet.ipamguard.io/subnet-overlap":              true,
		"kubectl.kubernetes.io/last-applied-configuration": false,
		"kubernetes.io/description":                        false,
		"deployment.kubernetes.io/revision":                false,
		"notipamguard.io/x":                                false,
		"example.com/ovn.kubernetes.io/x":                  false,
	} {
		if got := snapshot.KeepAnnotation(key); got != want {
			t.Errorf("KeepAnnotation(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	head := `{"apiVersion":"ipamguard.io/v1alpha1","kind":"Snapshot","metadata":{"time":"2026-12-07T00:00:00Z"},"items":[`
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"ns"}}`
	for _, tc := range []struct {
		name, doc string
		want      []string
		item      int // index named by an *ItemError; -1: none
	}{
		{"wrong type of a field", head + pod + `,{"apiVersion":"v1","kind":"Pod","metadata":{"name":"b","namespace":"ns","labels":["x"]}}]}`,
			[]string{"item 1 (v1 Pod ns/b): field metadata.labels: a JSON array where map[string]string is expected"}, 1},
		{"item without kind", head + pod + `,` + pod + `,{"apiVersion":"v1","metadata":{"name":"c"}}]}`,
			[]string{"item 2 (c): field apiVersion, kind: both must be set"}, 2},
		{"item not an object", head + `42]}`, []string{"item 0: must be an object, not a JSON number"}, 0},
		{"bad address in a ServiceCIDR", head + `{"apiVersion":"networking.k8s.io/v1","kind":"ServiceCIDR","metadata":{"name":"k"},"spec":{"cidrs":["10.96.0.0/40"]}}]}`,
			[]string{"item 0 (networking.k8s.io/v1 ServiceCIDR k): ", "spec.cidrs", "10.96.0.0/40"}, 0},
		{"truncated", head + pod + `,{"apiVersion":"v1","kind":"Po`, []string{"item 1: "}, 1},
		{"wrong kind", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}`, []string{`kind "Pod": not a snapshot`}, -1},
		{"wrong apiVersion", `{"apiVersion":"v1","kind":"Snapshot","items":[]}`, []string{`apiVersion "v1": a snapshot is ipamguard.io/v1alpha1`}, -1},
		{"no items", `{"apiVersion":"ipamguard.io/v1alpha1","kind":"Snapshot","metadata":{}}`, []string{"no items"}, -1},
		{"bad time", `{"apiVersion":"ipamguard.io/v1alpha1","kind":"Snapshot","metadata":{"time":"yesterday"},"items":[]}`, []string{"metadata: "}, -1},
		{"array", `[]`, []string{"not a snapshot: the document is a JSON array"}, -1},
		{"empty", ``, []string{"empty: no JSON document"}, -1},
		{"trailing data", head + `]} {}`, []string{"after the document"}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &diagnose.State{}
			_, err := snapshot.Read(strings.NewReader(tc.doc), s.Add)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var ie *snapshot.ItemError
			switch {
			case tc.item < 0 && errors.As(err, &ie):
				t.Errorf("error %v names an item", err)
			case tc.item >= 0 && (!errors.As(err, &ie) || ie.Index != tc.item):
				t.Errorf("error %v does not name item %d", err, tc.item)
			}
		})
	}
}

func TestReadLists(t *testing.T) {
	t.Parallel()
	// kubectl get subnets -o json: a typed list whose items name no kind.
	typed := `{"apiVersion":"kubeovn.io/v1","kind":"SubnetList","metadata":{"resourceVersion":"5"},"items":[{"metadata":{"name":"a"},"spec":{"cidrBlock":"10.0.0.0/24"}},{"metadata":{"name":"b"}}]}`
	s := &diagnose.State{}
	h, err := snapshot.Read(strings.NewReader(typed), s.Add)
	if err != nil {
		t.Fatal(err)
	}
	if h.Snapshot() || h.Items != 2 || len(s.Subnets) != 2 || s.Subnets[0].Spec.CIDRBlock != "10.0.0.0/24" {
		t.Errorf("header %+v, subnets %+v", h, s.Subnets)
	}
	// kubectl get subnets,pods -A -o json: a List of mixed kinds, with
	// escapes and white space the fast path leaves to the decoder.
	list := "{\"kind\": \"List\", \"apiVersion\": \"v1\", \"items\": [\n" +
		` {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p\u0031","namespace":"ns"}},` +
		` {"kind":"Subnet","apiVersion":"kubeovn.io/v1","metadata":{"name":"c"}}]}` + "\n\n"
	s = &diagnose.State{}
	var names []string
	if _, err := snapshot.Read(strings.NewReader(list), func(apiVersion, kind string, raw []byte) error {
		names = append(names, apiVersion+" "+kind)
		return s.Add(apiVersion, kind, raw)
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(names) != "[v1 Pod kubeovn.io/v1 Subnet]" || s.Pods[0].Name != "p1" {
		t.Errorf("visited %v, pods %+v", names, s.Pods)
	}
	// The visit's error stops the reading.
	stop := errors.New("stop")
	n := 0
	_, err = snapshot.Read(strings.NewReader(list), func(string, string, []byte) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Read after a visit error: %v after %d visits", err, n)
	}
}

// TestReadStreams checks that a large snapshot is read item by item:
// the reader is never asked for the whole document at once.
func TestReadStreams(t *testing.T) {
	t.Parallel()
	const items = 20000
	pr, pw := io.Pipe()
	go func() {
		w, _ := snapshot.NewWriter(pw, snapshot.Metadata{Time: time.Unix(0, 0)})
		for i := range items {
			_ = w.Add("kubeovn.io/v1", "IP", fmt.Appendf(nil, `{"apiVersion":"kubeovn.io/v1","kind":"IP","metadata":{"name":"ip-%d"},"spec":{"subnet":"s","ipAddress":"10.0.%d.%d"}}`, i, i/256, i%256))
		}
		pw.CloseWithError(w.Close(nil))
	}()
	var count int
	cr := &countingReader{r: pr}
	h, err := snapshot.Read(cr, func(_, kind string, raw []byte) error {
		count++
		if count == 10 && cr.n > 1<<20 {
			return fmt.Errorf("%d bytes read before the 10th item: not streamed", cr.n)
		}
		return nil
	})
	if err != nil || count != items || h.Items != items {
		t.Fatalf("Read: %v, %d items", err, count)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestWriterEmpty(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := snapshot.NewWriter(&buf, snapshot.Metadata{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(nil); err != nil {
		t.Fatal(err)
	}
	if want := `{"apiVersion":"ipamguard.io/v1alpha1","kind":"Snapshot","metadata":{"time":"2025-12-31T23:00:00Z"},"items":[]}` + "\n"; buf.String() != want {
		t.Errorf("empty snapshot %q, want %q", buf.String(), want)
	}
	if err := w.Add("v1", "Pod", []byte(`{}`)); err == nil {
		t.Error("Add after Close succeeded")
	}
}

// TestItemCounts: a snapshot ends with its items by kind; Read returns
// them, and TailCounts finds them in a file without reading the items and
// leaves the file where it was. Anything else is no hint.
func TestItemCounts(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := snapshot.NewWriter(&buf, snapshot.Metadata{Time: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct{ apiVersion, kind, raw string }{
		// As large as real ones: the counts are believed only for items
		// of a realistic size.
		{"v1", "Pod", `{"metadata":{"name":"web-0-7d9f8","namespace":"shop","uid":"00000000-0070-4000-8000-000000000000","resourceVersion":"2000000","creationTimestamp":"2026-12-01T00:00:00Z","annotations":{"ovn.kubernetes.io/ip_address":"10.0.0.20","ovn.kubernetes.io/logical_switch":"subnet-0"}},"status":{"podIPs":[{"ip":"10.0.0.20"}]}}`},
		{"v1", "Pod", `{"metadata":{"name":"web-1-7d9f8","namespace":"shop","uid":"00000000-0070-4000-8000-000000000001","resourceVersion":"2000001","creationTimestamp":"2026-12-01T00:00:00Z","annotations":{"ovn.kubernetes.io/ip_address":"10.0.0.21","ovn.kubernetes.io/logical_switch":"subnet-0"}},"status":{"podIPs":[{"ip":"10.0.0.21"}]}}`},
		{"kubeovn.io/v1", "IP", `{"metadata":{"name":"web-0-7d9f8.shop","uid":"00000000-0069-4000-8000-000000000000","resourceVersion":"1000","creationTimestamp":"2026-12-01T00:00:01Z"},"spec":{"podName":"web-0-7d9f8","namespace":"shop","subnet":"subnet-0","ipAddress":"10.0.0.20","v4IpAddress":"10.0.0.20"}}`},
	} {
		if err := w.Add(o.apiVersion, o.kind, []byte(o.raw)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"Pod": 2, "IP": 1}
	h, err := snapshot.Read(bytes.NewReader(buf.Bytes()), func(string, string, []byte) error { return nil })
	if err != nil || !maps.Equal(h.ItemCounts, want) {
		t.Errorf("Read: counts %v, %v; want %v", h.ItemCounts, err, want)
	}
	// A hint that does not parse, or in a List, is ignored, not an error.
	for _, text := range []string{
		strings.Replace(buf.String(), `"itemCounts":{`, `"itemCounts":{"x":"y",`, 1),
		`{"apiVersion":"v1","kind":"List","items":[],"itemCounts":{"Pod":1}}`,
	} {
		if h, err := snapshot.Read(strings.NewReader(text), func(string, string, []byte) error { return nil }); err != nil || h.ItemCounts != nil {
			t.Errorf("Read(%.60s…): counts %v, %v; want none, no error", text, h.ItemCounts, err)
		}
	}
	r := bytes.NewReader(buf.Bytes())
	if _, err := r.Seek(7, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if got := snapshot.TailCounts(r); !maps.Equal(got, want) {
		t.Errorf("TailCounts %v, want %v", got, want)
	}
	if pos, _ := r.Seek(0, io.SeekCurrent); pos != 7 {
		t.Errorf("TailCounts left the reader at %d, want 7", pos)
	}
	doc := buf.String()
	for name, text := range map[string]string{
		"a List":        `{"apiVersion":"v1","kind":"List","items":[]}`,
		"cut short":     doc[:len(doc)-3],
		"more after it": strings.TrimSpace(doc[:len(doc)-2]) + `,"x":1}`,
		"negative":      strings.Replace(doc, `"IP":1`, `"IP":-1`, 1),
		"more than fit": strings.Replace(doc, `"IP":1`, `"IP":100`, 1),
	} {
		if got := snapshot.TailCounts(strings.NewReader(text)); got != nil {
			t.Errorf("%s: TailCounts %v, want nil", name, got)
		}
	}
}
