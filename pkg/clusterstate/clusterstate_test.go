package clusterstate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/clusterstate"
)

func TestImpersonated(t *testing.T) {
	t.Parallel()
	const sa = "system:serviceaccount:kube-system:ovn"
	cases := []struct {
		name       string
		user       string
		groups     []string
		wantGroups []string
	}{
		{"a user gets system:authenticated", "alice", nil, []string{"system:authenticated"}},
		{"given groups are kept", "alice", []string{"dev"}, []string{"dev", "system:authenticated"}},
		{"system:authenticated is not added twice", "alice", []string{"system:authenticated", "dev"}, []string{"system:authenticated", "dev"}},
		{"system:unauthenticated keeps system:authenticated out", "alice", []string{"system:unauthenticated"}, []string{"system:unauthenticated"}},
		{"a service account gets its groups", sa, nil,
			[]string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}},
		{"a service account with given groups gets only those", sa, []string{"ops"}, []string{"ops", "system:authenticated"}},
		{"not a service account name: too many parts", "system:serviceaccount:a:b:c", nil, []string{"system:authenticated"}},
		{"not a service account name: bad namespace", "system:serviceaccount:Kube_System:x", nil, []string{"system:authenticated"}},
		{"anonymous", "system:anonymous", nil, []string{"system:unauthenticated"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := clusterstate.Impersonated(tc.user, tc.groups)
			if u.Name != tc.user || !slices.Equal(u.Groups, tc.wantGroups) {
				t.Errorf("Impersonated(%q, %q) = %+v, want groups %q", tc.user, tc.groups, u, tc.wantGroups)
			}
		})
	}
}

func TestWorkload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		apiVersion, kind, path string
	}{
		{"apps/v1", "Deployment", "deployments.apps"},
		{"apps/v1", "StatefulSet", "statefulsets.apps"},
		{"batch/v1", "CronJob", "cronjobs.batch"},
		{"v1", "Pod", ""},
		{"batch/v1", "Deployment", ""},
		{"apps/", "Deployment", ""},
	} {
		res, ok := clusterstate.Workload(tc.apiVersion, tc.kind)
		if got := map[bool]string{true: res.String()}[ok]; got != tc.path {
			t.Errorf("Workload(%q, %q) = %q, %v; want %q", tc.apiVersion, tc.kind, res.String(), ok, tc.path)
		}
	}
}

// shared is the package's control plane with the objects of seed.
var shared = devenvtest.NewShared(devenv.Options{}, func(ctx context.Context, env *devenv.Env) (*devenv.Env, func() error, error) {
	return env, nil, seed(ctx, env.Client)
})

func TestMain(m *testing.M) { devenvtest.Main(m, shared) }

// seed creates the cluster the live tests read: a fresh Kube-OVN install
// plus objects of every listed kind, more of some than a page holds.
func seed(ctx context.Context, c client.Client) error {
	objs := devenv.SeedObjects()
	objs = append(objs,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps", Labels: map[string]string{"ipamguard.io/mode": "audit"}}},
		&kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a"}, Spec: kubeovnv1.SubnetSpec{CIDRBlock: "10.70.0.0/24", Protocol: kubeovnv1.ProtocolIPv4}},
		&kubeovnv1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "pool-a"}, Spec: kubeovnv1.IPPoolSpec{Subnet: "tenant-a", IPs: []string{"10.70.0.10..10.70.0.20"}}},
		&kubeovnv1.Vip{ObjectMeta: metav1.ObjectMeta{Name: "vip1"}, Spec: kubeovnv1.VipSpec{Subnet: "tenant-a", V4ip: "10.70.0.100"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}},
		}},
	)
	for i := range 5 {
		name := fmt.Sprintf("db-%d", i)
		addr := fmt.Sprintf("10.16.0.%d", 20+i)
		objs = append(objs,
			&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: name + ".apps"}, Spec: kubeovnv1.IPSpec{
				PodName: name, Namespace: "apps", Subnet: devenv.DefaultSubnet, IPAddress: addr, V4IPAddress: addr}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps",
				Annotations: map[string]string{"ovn.kubernetes.io/ip_address": addr}, Labels: map[string]string{"app": "db"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "postgres"}}}},
		)
	}
	replicas := int32(2)
	objs = append(objs,
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "apps"}, Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"},
				Annotations: map[string]string{"ovn.kubernetes.io/ip_pool": "10.16.0.20,10.16.0.21"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "postgres"}}}},
		}},
		// Of the events, the doctor reads only the warnings about pods.
		event("db-0.sandbox", "Pod", "db-0", corev1.EventTypeWarning, "FailedCreatePodSandBox"),
		event("db-0.scheduled", "Pod", "db-0", corev1.EventTypeNormal, "Scheduled"),
		event("web.scaled", "Deployment", "web", corev1.EventTypeWarning, "Failed"),
		// A user who may read everything but pods.
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "no-pods"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces", "nodes", "events"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"kubeovn.io", "apps", "networking.k8s.io", "kubevirt.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list"}},
		}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "no-pods"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "no-pods"},
			Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: noPods}}},
	)
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}
	if err := c.Create(ctx, node); err != nil {
		return err
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.18.0.2"}}
	return c.Status().Update(ctx, node)
}

// noPods is a user who may read everything the doctor reads but pods.
const noPods = "no-pods"

// event is an event in namespace apps about an object of kind.
func event(name, kind, about, typ, reason string) *corev1.Event {
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps"},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: "apps", Name: about},
		Type:           typ, Reason: reason, Message: reason + " of " + about, Count: 1,
		Source: corev1.EventSource{Component: "kubelet"}}
}

// reader returns a reader of the shared control plane, as user when one is
// given (impersonated by the admin), with pages of chunk objects.
func reader(t *testing.T, user string, chunk int64) *clusterstate.Reader {
	t.Helper()
	cfg := rest.CopyConfig(shared.Get(t).Config)
	if user != "" {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	}
	r, err := clusterstate.NewReader(cfg, chunk)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRead(t *testing.T) {
	t.Parallel()
	// Pages of 2 objects: every list with more objects than that is read
	// through continue tokens.
	objs, err := reader(t, "", 2).Read(t.Context(), clusterstate.Inventory())
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string][]clusterstate.Object{}
	for _, o := range objs {
		byKind[o.Kind] = append(byKind[o.Kind], o)
		var h struct {
			APIVersion string                     `json:"apiVersion"`
			Kind       string                     `json:"kind"`
			Metadata   metav1.ObjectMeta          `json:"metadata"`
			Spec       map[string]json.RawMessage `json:"spec"`
		}
		if err := json.Unmarshal(o.Raw, &h); err != nil {
			t.Fatalf("%s %s: %v\n%s", o.Kind, o.Name, err, o.Raw)
		}
		if h.APIVersion != o.APIVersion || h.Kind != o.Kind || h.Metadata.Name != o.Name || h.Metadata.Namespace != o.Namespace {
			t.Errorf("%s %s/%s: raw says %s %s %s/%s", o.Kind, o.Namespace, o.Name, h.APIVersion, h.Kind, h.Metadata.Namespace, h.Metadata.Name)
		}
		switch o.Kind {
		case "Pod", "Namespace":
			if h.Spec != nil {
				t.Errorf("%s %s read with its spec, want metadata only: %s", o.Kind, o.Name, o.Raw)
			}
		}
	}
	for kind, min := range map[string]int{"Namespace": 2, "Node": 1, "Vpc": 1, "Subnet": 3, "IPPool": 1, "IP": 5, "Vip": 1, "Pod": 5} {
		if n := len(byKind[kind]); n < min {
			t.Errorf("%d %s objects read, want at least %d", n, kind, min)
		}
	}
	// Order: the inventory's.
	last := -1
	order := map[string]int{}
	for i, r := range clusterstate.Inventory() {
		order[r.Kind] = i
	}
	for _, o := range objs {
		if order[o.Kind] < last {
			t.Fatalf("%s read after a later kind of the inventory", o.Kind)
		}
		last = order[o.Kind]
	}

	pod := find(t, byKind["Pod"], "apps", "db-3")
	if !strings.Contains(string(pod.Raw), `"ovn.kubernetes.io/ip_address":"10.16.0.23"`) || !strings.Contains(string(pod.Raw), `"app":"db"`) {
		t.Errorf("pod metadata lacks its annotations or labels: %s", pod.Raw)
	}
	ns := find(t, byKind["Namespace"], "", "apps")
	if !strings.Contains(string(ns.Raw), `"ipamguard.io/mode":"audit"`) {
		t.Errorf("namespace lacks its labels: %s", ns.Raw)
	}
	node := find(t, byKind["Node"], "", "node-1")
	if !strings.Contains(string(node.Raw), `"address":"172.18.0.2"`) {
		t.Errorf("node lacks its InternalIP: %s", node.Raw)
	}
}

func find(t *testing.T, objs []clusterstate.Object, namespace, name string) clusterstate.Object {
	t.Helper()
	for _, o := range objs {
		if o.Namespace == namespace && o.Name == name {
			return o
		}
	}
	t.Fatalf("%s/%s not read", namespace, name)
	return clusterstate.Object{}
}

func TestReadErrorsNameEveryResource(t *testing.T) {
	t.Parallel()
	_, err := reader(t, "tenant", 0).Read(t.Context(), clusterstate.Inventory())
	var re *clusterstate.ReadError
	if !errors.As(err, &re) {
		t.Fatalf("Read as a user without rights: %v, want a *ReadError", err)
	}
	if n := len(re.Failures); n != len(clusterstate.Inventory()) {
		t.Errorf("%d failures, want one per resource:\n%v", n, err)
	}
	msg := err.Error()
	for _, want := range []string{
		"cannot read the cluster state from https://127.0.0.1:",
		`ips.kubeovn.io is forbidden: User "tenant" cannot list resource "ips" in API group "kubeovn.io" at the cluster scope`,
		`pods is forbidden: User "tenant" cannot list resource "pods"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}

	// A resource that is not served (authorisation comes first, so as
	// the admin).
	missing := clusterstate.Resource{Group: "kubeovn.io", Version: "v9", Resource: "subnets", Kind: "Subnet"}
	_, err = reader(t, "", 0).Read(t.Context(), []clusterstate.Resource{clusterstate.Inventory()[0], missing})
	if !errors.As(err, &re) || len(re.Failures) != 1 || !re.Failures[0].NotServed() {
		t.Fatalf("Read of a resource that is not served: %v", err)
	}
	if want := "\n  subnets.kubeovn.io: kubeovn.io/v9 is not served by the API server (are Kube-OVN's CRDs installed?)"; !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error %q does not end in %q", err, want)
	}
}

func TestFetch(t *testing.T) {
	t.Parallel()
	deploy, _ := clusterstate.Workload("apps/v1", "Deployment")
	sts, _ := clusterstate.Workload("apps/v1", "StatefulSet")
	objs, err := reader(t, "", 0).Fetch(t.Context(), []clusterstate.Ref{
		{Resource: deploy, Namespace: "apps", Name: "web"},
		{Resource: sts, Namespace: "apps", Name: "web"}, // does not exist
		{Resource: deploy, Namespace: "nowhere", Name: "web"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Kind != "Deployment" || objs[0].APIVersion != "apps/v1" || objs[0].Namespace != "apps" {
		t.Fatalf("Fetch = %d objects, want the Deployment apps/web", len(objs))
	}
	var d appsv1.Deployment
	if err := json.Unmarshal(objs[0].Raw, &d); err != nil || d.APIVersion != "apps/v1" || d.Kind != "Deployment" || d.Name != "web" || d.Spec.Template.Spec.Containers[0].Image != "nginx" {
		t.Errorf("Fetch read %s (%v)", objs[0].Raw, err)
	}
	_, err = reader(t, "tenant", 0).Fetch(t.Context(), []clusterstate.Ref{{Resource: deploy, Namespace: "apps", Name: "web"}})
	if err == nil || !strings.Contains(err.Error(), `deployments.apps "web" is forbidden: User "tenant" cannot get resource "deployments"`) {
		t.Errorf("Fetch as a user without rights: %v", err)
	}
}

func TestWhoAmI(t *testing.T) {
	t.Parallel()
	u, err := reader(t, "", 0).WhoAmI(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "admin" || !slices.Contains(u.Groups, "system:masters") {
		t.Errorf("admin is %+v", u)
	}
	// The API server's own answer for an impersonated user is what
	// Impersonated models offline.
	for _, name := range []string{"alice", "system:serviceaccount:kube-system:ovn"} {
		u, err := reader(t, name, 0).WhoAmI(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if want := clusterstate.Impersonated(name, nil); u.Name != want.Name || !slices.Equal(u.Groups, want.Groups) {
			t.Errorf("the API server says %s is %+v, Impersonated says %+v", name, u, want)
		}
	}
}

// TestListRestartsAfterExpiredContinue and the metadata fallback are
// served by a stub: a real API server's continue tokens outlive a test,
// and every real one answers PartialObjectMetadataList.
func TestListRestartsAfterExpiredContinue(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		requests []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		q := r.URL.Query()
		pod := func(name string) string {
			// A server that cannot answer with metadata only sends whole
			// objects.
			return `{"metadata":{"name":"` + name + `","namespace":"ns","annotations":{"a":"b"}},"spec":{"containers":[]}}`
		}
		switch {
		case q.Get("limit") != "" && q.Get("continue") == "":
			fmt.Fprintf(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"continue":"tok"},"items":[%s]}`, pod("a"))
		case q.Get("continue") == "tok":
			w.WriteHeader(http.StatusGone)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410,"message":"The provided continue parameter is too old"}`)
		default:
			fmt.Fprintf(w, `{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[%s,%s]}`, pod("a"), pod("b"))
		}
	}))
	defer srv.Close()
	r, err := clusterstate.NewReader(&rest.Config{Host: srv.URL}, 1)
	if err != nil {
		t.Fatal(err)
	}
	pods := clusterstate.Inventory()[len(clusterstate.Inventory())-1]
	var names []string
	err = r.List(t.Context(), pods, func(o clusterstate.Object) error {
		names = append(names, o.Name)
		if want := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + o.Name + `","namespace":"ns","annotations":{"a":"b"}}}`; string(o.Raw) != want {
			t.Errorf("raw %s, want %s", o.Raw, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first page is visited again by the list in one piece.
	if want := []string{"a", "a", "b"}; !slices.Equal(names, want) {
		t.Errorf("visited %v, want %v", names, want)
	}
	mu.Lock()
	if want := []string{"limit=1", "continue=tok&limit=1", ""}; !slices.Equal(requests, want) {
		t.Errorf("requests %q, want %q", requests, want)
	}
	requests = nil
	mu.Unlock()

	// Read keeps each object once.
	objs, err := r.Read(t.Context(), []clusterstate.Resource{pods})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].Name != "a" || objs[1].Name != "b" {
		t.Errorf("Read = %+v, want pods a and b", objs)
	}
}

func TestStreamDoctorInventory(t *testing.T) {
	t.Parallel()
	var (
		byKind   = map[string][]clusterstate.Object{}
		progress = map[string]int{}
	)
	failures, err := reader(t, "", 2).Stream(t.Context(), clusterstate.DoctorInventory(), func(o clusterstate.Object) error {
		byKind[o.Kind] = append(byKind[o.Kind], clusterstate.Object{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Raw: slices.Clone(o.Raw)})
		return nil
	}, func(res clusterstate.Resource, n int, done bool) {
		if done {
			progress[res.Kind] = n
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// KubeVirt is not installed: optional, so no failure.
	if len(failures) != 0 {
		t.Errorf("failures %v", failures)
	}
	for kind, min := range map[string]int{"Namespace": 2, "Node": 1, "Subnet": 3, "IP": 5, "Pod": 5, "StatefulSet": 1, "Event": 1} {
		if n := len(byKind[kind]); n < min || progress[kind] != n {
			t.Errorf("%d %s objects read (progress said %d), want at least %d", n, kind, progress[kind], min)
		}
	}
	if n := len(byKind["VirtualMachine"]) + progress["VirtualMachine"]; n != 0 {
		t.Errorf("%d VirtualMachines read from a cluster without KubeVirt", n)
	}
	// Pods whole, not metadata only.
	pod := find(t, byKind["Pod"], "apps", "db-2")
	if !strings.Contains(string(pod.Raw), `"spec":{`) || !strings.Contains(string(pod.Raw), `"apiVersion":"v1","kind":"Pod"`) {
		t.Errorf("pod read without its spec: %s", pod.Raw)
	}
	// Only the warning about a pod.
	if evs := byKind["Event"]; len(evs) != 1 || evs[0].Name != "db-0.sandbox" {
		t.Errorf("events read: %v", evs)
	}
	sts := find(t, byKind["StatefulSet"], "apps", "db")
	if !strings.Contains(string(sts.Raw), `"replicas":2`) {
		t.Errorf("statefulset %s", sts.Raw)
	}
}

func TestStreamForbiddenIsAFailure(t *testing.T) {
	t.Parallel()
	kinds := map[string]int{}
	failures, err := reader(t, noPods, 0).Stream(t.Context(), clusterstate.DoctorInventory(), func(o clusterstate.Object) error {
		kinds[o.Kind]++
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(failures) != 1 || failures[0].Resource.Resource != "pods" {
		t.Fatalf("failures %v, want pods only", failures)
	}
	if r := failures[0].Reason(); !strings.HasPrefix(r, "forbidden: ") || !strings.Contains(r, `User "no-pods" cannot list resource "pods"`) {
		t.Errorf("reason %q", r)
	}
	if kinds["Pod"] != 0 || kinds["Subnet"] < 3 || kinds["Event"] != 1 {
		t.Errorf("read %v: want everything but pods", kinds)
	}

	// A server that cannot be reached is an error, not a failure.
	dead, err := clusterstate.NewReader(&rest.Config{Host: "https://127.0.0.1:1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	failures, err = dead.Stream(t.Context(), clusterstate.DoctorInventory(), func(clusterstate.Object) error { return nil }, nil)
	var re *clusterstate.ReadError
	if !errors.As(err, &re) || len(failures) != 0 {
		t.Errorf("Stream from nowhere: %v, %v", failures, err)
	}

	id, err := reader(t, "", 0).ClusterID(t.Context())
	if err != nil || len(id) != 36 {
		t.Errorf("ClusterID = %q, %v", id, err)
	}
}

// TestStreamRestartsAfterExpiredContinue: the restart in one piece visits
// only the objects not visited before it.
func TestStreamRestartsAfterExpiredContinue(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		q := r.URL.Query()
		item := func(name string) string { return `{"metadata":{"name":"` + name + `"},"spec":{}}` }
		switch {
		case q.Get("limit") != "" && q.Get("continue") == "":
			fmt.Fprintf(w, `{"kind":"VpcList","apiVersion":"kubeovn.io/v1","metadata":{"continue":"tok"},"items":[%s,%s]}`, item("a"), item("b"))
		case q.Get("continue") == "tok":
			w.WriteHeader(http.StatusGone)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410}`)
		default:
			fmt.Fprintf(w, `{"kind":"VpcList","apiVersion":"kubeovn.io/v1","metadata":{},"items":[%s,%s,%s]}`, item("a"), item("b"), item("c"))
		}
	}))
	defer srv.Close()
	r, err := clusterstate.NewReader(&rest.Config{Host: srv.URL}, 2)
	if err != nil {
		t.Fatal(err)
	}
	vpcs := clusterstate.DoctorInventory()[2]
	var names []string
	failures, err := r.Stream(t.Context(), []clusterstate.Resource{vpcs}, func(o clusterstate.Object) error {
		names = append(names, o.Name)
		return nil
	}, nil)
	if err != nil || len(failures) != 0 {
		t.Fatal(failures, err)
	}
	if want := []string{"a", "b", "c"}; !slices.Equal(names, want) {
		t.Errorf("visited %v, want %v", names, want)
	}
}
