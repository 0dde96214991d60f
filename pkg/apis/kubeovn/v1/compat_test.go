package v1_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// twoTo64 is 2^64: the float64 nearest to the address count of an IPv6 /64.
const twoTo64 = 18446744073709551616.0

// strict makes the API server reject (instead of silently pruning) any field the installed
// schema does not know: what we store is then exactly what that schema accepts.
var strict = client.FieldValidation(metav1.FieldValidationStrict)

// TestCRDCompatibility installs, one after the other in one control plane, the project's own
// generated CRDs and the upstream Kube-OVN CRDs of v1.15.24 (float64 status counters) and
// v1.16.2 (integers). It stores objects the way Kube-OVN writes them and reads them back with
// the typed client, and writes typed objects and checks the upstream schema accepts them.
// Without the control-plane binaries or the upstream CRDs it skips, or fails when
// IPAMGUARD_REQUIRE_ENVTEST=1 (CI).
func TestCRDCompatibility(t *testing.T) {
	if testing.Short() && !devenvtest.Required() {
		t.Skip("-short: skipping the envtest compatibility test")
	}
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	upstream := filepath.Join(root, "..", "shared", "kube-ovn")
	own := filepath.Join(root, "config", "crd", "bases")
	cluster := &crdCluster{env: devenvtest.Start(t, devenv.Options{CRDPaths: []string{own}}), installed: own}

	t.Run("own-crds", func(t *testing.T) {
		c, warnings := cluster.use(t, own)
		ctx := t.Context()

		// Our CRDs model Kube-OVN's own condition shape (with lastUpdateTime),
		// so strict validation accepts what Kube-OVN writes and nothing is dropped.
		storeKubeOVNObjects(t, ctx, c, true, true, client.FieldValidation(metav1.FieldValidationStrict))
		checkTypedReads(t, ctx, c)
		checkUpstreamOnlyFieldsKept(t, ctx, c)
		if w := warnings.take(); len(w) > 0 {
			t.Errorf("API server warnings while storing Kube-OVN objects: %q", w)
		}

		// x-kubernetes-preserve-unknown-fields on spec and status: a field of a future
		// Kube-OVN release survives a write and a read.
		u := getUnstructured(t, ctx, c, "Subnet", "tenant-a")
		got, ok, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "someFutureField", "nested")
		if !ok || !reflect.DeepEqual(got, []any{int64(1), 2.5, "x"}) {
			t.Errorf("spec.someFutureField.nested = %#v (found %v), want [1 2.5 x]", got, ok)
		}
		if got, ok, _ := unstructured.NestedString(u.Object, "status", "someFutureStatus"); !ok || got != "kept" {
			t.Errorf("status.someFutureStatus = %q (found %v), want kept", got, ok)
		}

		writeTypedAndReadUnstructured(t, ctx, c, warnings)
	})

	for _, rel := range []struct {
		version string
		floats  bool // v1.15 writes float64 counters, v1.16 integers
	}{
		{version: "v1.15.24", floats: true},
		{version: "v1.16.2", floats: false},
	} {
		t.Run("upstream-"+rel.version, func(t *testing.T) {
			file := filepath.Join(upstream, "crds-"+rel.version+".yaml")
			if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
				devenvtest.SkipUnlessRequired(t, "upstream Kube-OVN CRDs not found at %s (expected in ../shared/kube-ovn from the repository root): %v", file, err)
			}
			c, warnings := cluster.use(t, file)
			ctx := t.Context()

			storeKubeOVNObjects(t, ctx, c, rel.floats, false, strict)
			checkTypedReads(t, ctx, c)
			checkUpstreamOnlyFieldsKept(t, ctx, c)
			if w := warnings.take(); len(w) > 0 {
				t.Errorf("API server warnings while storing Kube-OVN objects: %q", w)
			}

			writeTypedAndReadUnstructured(t, ctx, c, warnings)
		})
	}
}

// warningRecorder collects the warnings the API server sends back (unknown fields, etc.).
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, code int, _ string, msg string) {
	if code != 299 || msg == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

// crdCluster is the test's control plane and the set of Kube-OVN CRDs installed in it.
type crdCluster struct {
	env       *devenv.Env
	installed string
}

// kubeOVNKinds are the kinds the CRD sets define.
var kubeOVNKinds = []string{"Subnet", "IP", "IPPool", "Vpc", "Vip"}

// use installs the CRDs at crdPath, unless they are the ones installed, in place of the
// installed ones and of everything stored under them, and returns a client with our typed
// scheme whose API warnings are recorded.
func (k *crdCluster) use(t *testing.T, crdPath string) (client.Client, *warningRecorder) {
	t.Helper()
	if k.installed != crdPath {
		k.uninstall(t)
		k.installed = ""
		crds, err := envtest.InstallCRDs(k.env.Config, envtest.CRDInstallOptions{Paths: []string{crdPath}, ErrorIfPathMissing: true})
		if err != nil {
			t.Fatalf("install CRDs from %s: %v", crdPath, err)
		}
		k.installed = crdPath
		// Discovery may still list the resources of the CRDs just removed: wait until every
		// kind is served again. A get, not a list: the first list of a new resource waits
		// for its watch cache, which the checks pay for anyway.
		devenvtest.Eventually(t, fmt.Sprintf("the %d CRDs of %s to be served", len(crds), filepath.Base(crdPath)), time.Minute, func() error {
			for _, kind := range kubeOVNKinds {
				u := &unstructured.Unstructured{}
				u.SetGroupVersionKind(kubeovnv1.GroupVersion.WithKind(kind))
				err := k.env.Client.Get(t.Context(), client.ObjectKey{Name: "compat-probe"}, u)
				if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `"compat-probe" not found`) {
					return fmt.Errorf("get %s: %v", kind, err)
				}
			}
			return nil
		})
	}
	warnings := &warningRecorder{}
	cfg := rest.CopyConfig(k.env.Config)
	cfg.WarningHandler = nil
	cfg.WarningHandlerWithContext = warnings
	c, err := client.New(cfg, client.Options{Scheme: k.env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, warnings
}

// uninstall deletes the kubeovn.io CRDs and, with them, every object stored under them; no
// controller runs to remove the finalizers Kube-OVN sets, so they are removed first.
func (k *crdCluster) uninstall(t *testing.T) {
	t.Helper()
	ctx, c := t.Context(), k.env.Client
	for _, kind := range kubeOVNKinds {
		l := kubeOVNList(kind)
		if err := c.List(ctx, l); err != nil {
			t.Fatalf("list %s: %v", kind, err)
		}
		for i := range l.Items {
			o := &l.Items[i]
			if len(o.GetFinalizers()) == 0 {
				continue
			}
			if err := c.Patch(ctx, o, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))); err != nil {
				t.Fatalf("remove the finalizers of %s %s: %v", kind, o.GetName(), err)
			}
		}
	}
	kubeOVNCRDs := func() ([]string, error) {
		var l unstructured.UnstructuredList
		l.SetAPIVersion("apiextensions.k8s.io/v1")
		l.SetKind("CustomResourceDefinitionList")
		if err := c.List(ctx, &l); err != nil {
			return nil, err
		}
		var names []string
		for _, crd := range l.Items {
			if g, _, _ := unstructured.NestedString(crd.Object, "spec", "group"); g == kubeovnv1.GroupVersion.Group {
				names = append(names, crd.GetName())
			}
		}
		return names, nil
	}
	names, err := kubeOVNCRDs()
	if err != nil {
		t.Fatalf("list CRDs: %v", err)
	}
	for _, name := range names {
		crd := &unstructured.Unstructured{}
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		crd.SetName(name)
		if err := c.Delete(ctx, crd); err != nil {
			t.Fatalf("delete CRD %s: %v", name, err)
		}
	}
	devenvtest.Eventually(t, "the installed Kube-OVN CRDs to be deleted", time.Minute, func() error {
		left, err := kubeOVNCRDs()
		if err == nil && len(left) > 0 {
			err = fmt.Errorf("still there: %v", left)
		}
		return err
	})
}

// kubeOVNList is an empty list of a kubeovn.io kind.
func kubeOVNList(kind string) *unstructured.UnstructuredList {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(kubeovnv1.GroupVersion.WithKind(kind + "List"))
	return l
}

// counter renders a status counter the way the given Kube-OVN release writes it.
func counter(floats bool, integer, float string) string {
	if floats {
		return float
	}
	return integer
}

// storeKubeOVNObjects stores a Subnet, an IP, an IPPool, a Vpc and a Vip as unstructured
// objects built from JSON text, the way Kube-OVN writes them; statuses go through the status
// subresource as raw merge patches so the exact number syntax reaches the API server.
// future adds fields no Kube-OVN release knows (only for CRDs that preserve unknown fields).
// validation is the server-side field validation of every write.
func storeKubeOVNObjects(t *testing.T, ctx context.Context, c client.Client, floats, future bool, validation client.FieldValidation) {
	t.Helper()

	futureSpec, futureStatus := "", ""
	if future {
		futureSpec = `, "someFutureField": {"nested": [1, 2.5e+00, "x"]}`
		futureStatus = `, "someFutureStatus": "kept"`
	}

	create(t, ctx, c, validation, `{
	  "apiVersion": "kubeovn.io/v1", "kind": "Vpc",
	  "metadata": {"name": "vpc-a"},
	  "spec": {
	    "namespaces": ["team-a", "team-a-dev"],
	    "defaultSubnet": "tenant-a",
	    "staticRoutes": [{"cidr": "0.0.0.0/0", "nextHopIP": "10.66.0.254", "policy": "policyDst"}],
	    "policyRoutes": [{"priority": 31000, "match": "ip4.dst == 10.16.0.0/16", "action": "allow"}],
	    "enableExternal": false
	  }
	}`)
	patchStatus(t, ctx, c, validation, "Vpc", "vpc-a", `{"status": {
	    "conditions": [{"type": "Ready", "status": "True", "reason": "Init", "message": "",
	      "lastUpdateTime": "2026-01-02T03:04:06Z", "lastTransitionTime": "2026-01-02T03:04:06Z"}],
	    "standby": true,
	    "default": false,
	    "defaultLogicalSwitch": "tenant-a",
	    "router": "vpc-a",
	    "subnets": ["tenant-a", "tenant-a-attach"],
	    "tcpLoadBalancer": "vpc-vpc-a-tcp-load",
	    "enableExternal": false
	  }}`)

	create(t, ctx, c, validation, `{
	  "apiVersion": "kubeovn.io/v1", "kind": "Subnet",
	  "metadata": {"name": "tenant-a", "finalizers": ["kubeovn.io/kube-ovn-controller"]},
	  "spec": {
	    "default": false,
	    "vpc": "vpc-a",
	    "protocol": "Dual",
	    "cidrBlock": "10.66.0.0/16,fd00:10:66::/64",
	    "gateway": "10.66.0.1,fd00:10:66::1",
	    "excludeIps": ["10.66.0.1", "10.66.0.100..10.66.0.120", "fd00:10:66::1"],
	    "provider": "ovn",
	    "vlan": "vlan10",
	    "namespaces": ["team-a", "team-a-dev"],
	    "namespaceSelectors": [
	      {"matchLabels": {"team": "a"}},
	      {"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev", "staging"]}]}
	    ],
	    "gatewayType": "distributed",
	    "natOutgoing": true,
	    "private": true,
	    "allowSubnets": ["10.16.0.0/16"],
	    "mtu": 1400,
	    "u2oInterconnection": true,
	    "enableLb": false,
	    "acls": [{"direction": "to-lport", "priority": 1010, "match": "ip4.src == 10.66.0.0/16", "action": "allow-related"}],
	    "natOutgoingPolicyRules": [{"action": "forward", "match": {"srcIPs": "10.66.0.0/24"}}],
	    "u2oFeatures": {"overlayOnlyRouting": true},
	    "allowEWTraffic": true
	    `+futureSpec+`
	  }
	}`)
	patchStatus(t, ctx, c, validation, "Subnet", "tenant-a", `{"status": {
	    "conditions": [{"type": "Ready", "status": "True", "reason": "ResetLogicalSwitchAclSuccess", "message": "",
	      "lastUpdateTime": "2026-01-02T03:04:06Z", "lastTransitionTime": "2026-01-02T03:04:06Z"}],
	    "v4availableIPs": `+counter(floats, "65533", "6.5533e+04")+`,
	    "v4usingIPs": `+counter(floats, "3", "3")+`,
	    "v6availableIPs": `+counter(floats, "18446744073709551613", "1.8446744073709552e+19")+`,
	    "v6usingIPs": `+counter(floats, "3", "3e+00")+`,
	    "v4availableIPrange": "10.66.0.2-10.66.0.4,10.66.0.8-10.66.0.99,10.66.0.121-10.66.255.254",
	    "v4usingIPrange": "10.66.0.5-10.66.0.7",
	    "v6availableIPrange": "fd00:10:66::2-fd00:10:66::4,fd00:10:66::8-fd00:10:66::ffff:ffff:ffff:fffe",
	    "v6usingIPrange": "fd00:10:66::5-fd00:10:66::7",
	    "activateGateway": "node-1",
	    "u2oInterconnectionIP": "10.66.0.254,fd00:10:66::fffe",
	    "u2oInterconnectionMAC": "00:00:00:12:34:56",
	    "natOutgoingPolicyRules": [{"ruleID": "a1b2c3", "action": "forward", "match": {"srcIPs": "10.66.0.0/24"}}]
	    `+futureStatus+`
	  }}`)

	create(t, ctx, c, validation, `{
	  "apiVersion": "kubeovn.io/v1", "kind": "IP",
	  "metadata": {"name": "web-0.default",
	    "labels": {"ovn.kubernetes.io/subnet": "tenant-a", "tenant-a": "", "ovn.kubernetes.io/node-name": "node-1"},
	    "finalizers": ["kubeovn.io/kube-ovn-controller"]},
	  "spec": {
	    "podName": "web-0",
	    "namespace": "default",
	    "subnet": "tenant-a",
	    "attachSubnets": ["attach-net"],
	    "nodeName": "node-1",
	    "ipAddress": "10.66.0.5,fd00:10:66::5",
	    "v4IpAddress": "10.66.0.5",
	    "v6IpAddress": "fd00:10:66::5",
	    "attachIps": ["192.168.10.5"],
	    "macAddress": "00:00:00:aa:bb:cc",
	    "attachMacs": ["00:00:00:dd:ee:ff"],
	    "containerID": "3f1c2a9e8b7d",
	    "podType": "StatefulSet"
	  }
	}`)

	create(t, ctx, c, validation, `{
	  "apiVersion": "kubeovn.io/v1", "kind": "IPPool",
	  "metadata": {"name": "pool-a"},
	  "spec": {
	    "subnet": "tenant-a",
	    "namespaces": ["team-a"],
	    "ips": ["10.66.1.10", "10.66.1.20..10.66.1.30", "10.66.2.0/24", "fd00:10:66::100..fd00:10:66::1ff"],
	    "enableAddressSet": true
	  }
	}`)
	patchStatus(t, ctx, c, validation, "IPPool", "pool-a", `{"status": {
	    "conditions": [{"type": "Ready", "status": "True", "reason": "ReconcileSuccess", "message": "",
	      "lastUpdateTime": "2026-01-02T03:04:07Z", "lastTransitionTime": "2026-01-02T03:04:07Z"}],
	    "v4AvailableIPs": `+counter(floats, "267", "2.67e+02")+`,
	    "v4UsingIPs": `+counter(floats, "1", "1")+`,
	    "v6AvailableIPs": `+counter(floats, "256", "2.56e+02")+`,
	    "v6UsingIPs": 0,
	    "v4AvailableIPRange": "10.66.1.10,10.66.1.20-10.66.1.30,10.66.2.0-10.66.2.10,10.66.2.12-10.66.2.255",
	    "v4UsingIPRange": "10.66.2.11",
	    "v6AvailableIPRange": "fd00:10:66::100-fd00:10:66::1ff",
	    "v6UsingIPRange": ""
	  }}`)

	// Vip has no status subresource: Kube-OVN writes its status with the object.
	create(t, ctx, c, validation, `{
	  "apiVersion": "kubeovn.io/v1", "kind": "Vip",
	  "metadata": {"name": "vip-a", "labels": {"ovn.kubernetes.io/subnet": "tenant-a"}},
	  "spec": {
	    "namespace": "team-a",
	    "subnet": "tenant-a",
	    "type": "",
	    "v4ip": "10.66.0.50",
	    "v6ip": "fd00:10:66::50",
	    "macAddress": "00:00:00:11:22:33",
	    "attachSubnets": [],
	    "selector": ["app: web"]
	  },
	  "status": {
	    "conditions": [{"type": "Ready", "status": "True", "reason": "Init", "message": "",
	      "lastUpdateTime": "2026-01-02T03:04:08Z", "lastTransitionTime": "2026-01-02T03:04:08Z"}],
	    "type": "",
	    "v4ip": "10.66.0.50",
	    "v6ip": "fd00:10:66::50",
	    "mac": "00:00:00:11:22:33",
	    "selector": ["app: web"]
	  }
	}`)
}

func create(t *testing.T, ctx context.Context, c client.Client, validation client.FieldValidation, text string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	// The decoder apimachinery uses: integers stay int64, other numbers float64.
	if err := utiljson.Unmarshal([]byte(text), &u.Object); err != nil {
		t.Fatalf("bad test JSON: %v\n%s", err, text)
	}
	if err := c.Create(ctx, u, validation); err != nil {
		t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

func patchStatus(t *testing.T, ctx context.Context, c client.Client, validation client.FieldValidation, kind, name, patch string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("kubeovn.io/v1")
	u.SetKind(kind)
	u.SetName(name)
	if err := c.Status().Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(patch)), validation); err != nil {
		t.Fatalf("status patch %s %s: %v\n%s", kind, name, err, patch)
	}
}

func getUnstructured(t *testing.T, ctx context.Context, c client.Client, kind, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("kubeovn.io/v1")
	u.SetKind(kind)
	if err := c.Get(ctx, client.ObjectKey{Name: name}, u); err != nil {
		t.Fatalf("get %s %s: %v", kind, name, err)
	}
	return u
}

var (
	wantSubnetSpec = kubeovnv1.SubnetSpec{
		Default:    false,
		Vpc:        "vpc-a",
		Protocol:   kubeovnv1.ProtocolDual,
		Namespaces: []string{"team-a", "team-a-dev"},
		NamespaceSelectors: []metav1.LabelSelector{
			{MatchLabels: map[string]string{"team": "a"}},
			{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"dev", "staging"}},
			}},
		},
		CIDRBlock:          "10.66.0.0/16,fd00:10:66::/64",
		Gateway:            "10.66.0.1,fd00:10:66::1",
		ExcludeIps:         []string{"10.66.0.1", "10.66.0.100..10.66.0.120", "fd00:10:66::1"},
		Provider:           "ovn",
		Vlan:               "vlan10",
		GatewayType:        "distributed",
		NatOutgoing:        true,
		Private:            true,
		AllowSubnets:       []string{"10.16.0.0/16"},
		Mtu:                1400,
		U2OInterconnection: true,
		EnableLb:           new(false),
	}
	wantIPSpec = kubeovnv1.IPSpec{
		PodName:       "web-0",
		Namespace:     "default",
		Subnet:        "tenant-a",
		AttachSubnets: []string{"attach-net"},
		NodeName:      "node-1",
		IPAddress:     "10.66.0.5,fd00:10:66::5",
		V4IPAddress:   "10.66.0.5",
		V6IPAddress:   "fd00:10:66::5",
		AttachIPs:     []string{"192.168.10.5"},
		MacAddress:    "00:00:00:aa:bb:cc",
		AttachMacs:    []string{"00:00:00:dd:ee:ff"},
		ContainerID:   "3f1c2a9e8b7d",
		PodType:       kubeovnv1.PodTypeStatefulSet,
	}
	wantIPPoolSpec = kubeovnv1.IPPoolSpec{
		Subnet:           "tenant-a",
		Namespaces:       []string{"team-a"},
		IPs:              []string{"10.66.1.10", "10.66.1.20..10.66.1.30", "10.66.2.0/24", "fd00:10:66::100..fd00:10:66::1ff"},
		EnableAddressSet: true,
	}
	wantVpcSpec = kubeovnv1.VpcSpec{Namespaces: []string{"team-a", "team-a-dev"}, DefaultSubnet: "tenant-a"}
	wantVipSpec = kubeovnv1.VipSpec{
		Namespace: "team-a", Subnet: "tenant-a", Type: "", V4ip: "10.66.0.50", V6ip: "fd00:10:66::50", MacAddress: "00:00:00:11:22:33",
	}
)

func checkCondition(t *testing.T, what string, got []kubeovnv1.Condition, reason, lastTransition string) {
	t.Helper()
	if len(got) != 1 {
		t.Errorf("%s conditions = %+v, want one", what, got)
		return
	}
	want, _ := time.Parse(time.RFC3339, lastTransition)
	c := got[0]
	if c.Type != "Ready" || c.Status != corev1.ConditionTrue || c.Reason != reason || !c.LastTransitionTime.Time.Equal(want) {
		t.Errorf("%s condition = %+v, want Ready/True/%s at %s", what, c, reason, lastTransition)
	}
}

func checkSubnet(t *testing.T, via string, s *kubeovnv1.Subnet) {
	t.Helper()
	if s.Name != "tenant-a" || len(s.Finalizers) != 1 {
		t.Errorf("%s: subnet meta %+v", via, s.ObjectMeta)
	}
	if !reflect.DeepEqual(s.Spec, wantSubnetSpec) {
		t.Errorf("%s: subnet spec\n got %+v\nwant %+v", via, s.Spec, wantSubnetSpec)
	}
	st := s.Status
	if st.V4AvailableIPs != 65533 || st.V4AvailableIPs.Uint64() != 65533 {
		t.Errorf("%s: v4availableIPs = %v", via, float64(st.V4AvailableIPs))
	}
	if st.V4UsingIPs != 3 || st.V6UsingIPs != 3 {
		t.Errorf("%s: using = %v / %v, want 3 / 3", via, float64(st.V4UsingIPs), float64(st.V6UsingIPs))
	}
	// 2^64-3 is not a float64: the API server keeps it as the nearest float64, 2^64, which
	// keeps the magnitude and saturates as a uint64.
	if st.V6AvailableIPs != twoTo64 || st.V6AvailableIPs.Uint64() != math.MaxUint64 {
		t.Errorf("%s: v6availableIPs = %v (uint64 %d), want 2^64 saturating", via, float64(st.V6AvailableIPs), st.V6AvailableIPs.Uint64())
	}
	if st.V4AvailableIPRange != "10.66.0.2-10.66.0.4,10.66.0.8-10.66.0.99,10.66.0.121-10.66.255.254" ||
		st.V4UsingIPRange != "10.66.0.5-10.66.0.7" ||
		st.V6AvailableIPRange != "fd00:10:66::2-fd00:10:66::4,fd00:10:66::8-fd00:10:66::ffff:ffff:ffff:fffe" ||
		st.V6UsingIPRange != "fd00:10:66::5-fd00:10:66::7" || st.ActivateGateway != "node-1" {
		t.Errorf("%s: subnet status strings %+v", via, st)
	}
	checkCondition(t, via+": subnet", st.Conditions, "ResetLogicalSwitchAclSuccess", "2026-01-02T03:04:06Z")
}

func checkIP(t *testing.T, via string, ip *kubeovnv1.IP) {
	t.Helper()
	if ip.Name != "web-0.default" || ip.Labels["ovn.kubernetes.io/subnet"] != "tenant-a" {
		t.Errorf("%s: ip meta %+v", via, ip.ObjectMeta)
	}
	if !reflect.DeepEqual(ip.Spec, wantIPSpec) {
		t.Errorf("%s: ip spec\n got %+v\nwant %+v", via, ip.Spec, wantIPSpec)
	}
}

func checkIPPool(t *testing.T, via string, p *kubeovnv1.IPPool) {
	t.Helper()
	if !reflect.DeepEqual(p.Spec, wantIPPoolSpec) {
		t.Errorf("%s: ippool spec\n got %+v\nwant %+v", via, p.Spec, wantIPPoolSpec)
	}
	st := p.Status
	if st.V4AvailableIPs != 267 || st.V4UsingIPs != 1 || st.V6AvailableIPs != 256 || st.V6UsingIPs != 0 {
		t.Errorf("%s: ippool counters %+v", via, st)
	}
	if st.V4AvailableIPRange != "10.66.1.10,10.66.1.20-10.66.1.30,10.66.2.0-10.66.2.10,10.66.2.12-10.66.2.255" ||
		st.V4UsingIPRange != "10.66.2.11" || st.V6AvailableIPRange != "fd00:10:66::100-fd00:10:66::1ff" || st.V6UsingIPRange != "" {
		t.Errorf("%s: ippool ranges %+v", via, st)
	}
	checkCondition(t, via+": ippool", st.Conditions, "ReconcileSuccess", "2026-01-02T03:04:07Z")
}

func checkVpc(t *testing.T, via string, v *kubeovnv1.Vpc) {
	t.Helper()
	if !reflect.DeepEqual(v.Spec, wantVpcSpec) {
		t.Errorf("%s: vpc spec\n got %+v\nwant %+v", via, v.Spec, wantVpcSpec)
	}
	st := v.Status
	if !st.Standby || st.Default || st.DefaultLogicalSwitch != "tenant-a" || st.Router != "vpc-a" ||
		!reflect.DeepEqual(st.Subnets, []string{"tenant-a", "tenant-a-attach"}) {
		t.Errorf("%s: vpc status %+v", via, st)
	}
	checkCondition(t, via+": vpc", st.Conditions, "Init", "2026-01-02T03:04:06Z")
}

func checkVip(t *testing.T, via string, v *kubeovnv1.Vip) {
	t.Helper()
	if !reflect.DeepEqual(v.Spec, wantVipSpec) {
		t.Errorf("%s: vip spec\n got %+v\nwant %+v", via, v.Spec, wantVipSpec)
	}
	st := v.Status
	if st.V4ip != "10.66.0.50" || st.V6ip != "fd00:10:66::50" || st.Mac != "00:00:00:11:22:33" {
		t.Errorf("%s: vip status %+v", via, st)
	}
	checkCondition(t, via+": vip", st.Conditions, "Init", "2026-01-02T03:04:08Z")
}

// checkTypedReads reads the stored objects with the typed client, by Get and by List.
func checkTypedReads(t *testing.T, ctx context.Context, c client.Client) {
	t.Helper()
	get := func(name string, obj client.Object) bool {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKey{Name: name}, obj); err != nil {
			t.Errorf("typed get %T %s: %v", obj, name, err)
			return false
		}
		return true
	}
	list := func(obj client.ObjectList) bool {
		t.Helper()
		if err := c.List(ctx, obj); err != nil {
			t.Errorf("typed list %T: %v", obj, err)
			return false
		}
		return true
	}

	var subnet kubeovnv1.Subnet
	if get("tenant-a", &subnet) {
		checkSubnet(t, "get", &subnet)
	}
	var subnets kubeovnv1.SubnetList
	if list(&subnets) {
		if s := findItem(t, subnets.Items, "tenant-a", func(s kubeovnv1.Subnet) string { return s.Name }); s != nil {
			checkSubnet(t, "list", s)
		}
	}

	var ip kubeovnv1.IP
	if get("web-0.default", &ip) {
		checkIP(t, "get", &ip)
	}
	var ips kubeovnv1.IPList
	if err := c.List(ctx, &ips, client.MatchingLabels{"ovn.kubernetes.io/subnet": "tenant-a"}); err != nil {
		t.Errorf("typed list IPs by subnet label: %v", err)
	} else if p := findItem(t, ips.Items, "web-0.default", func(i kubeovnv1.IP) string { return i.Name }); p != nil {
		checkIP(t, "list", p)
	}

	var pool kubeovnv1.IPPool
	if get("pool-a", &pool) {
		checkIPPool(t, "get", &pool)
	}
	var pools kubeovnv1.IPPoolList
	if list(&pools) {
		if p := findItem(t, pools.Items, "pool-a", func(p kubeovnv1.IPPool) string { return p.Name }); p != nil {
			checkIPPool(t, "list", p)
		}
	}

	var vpc kubeovnv1.Vpc
	if get("vpc-a", &vpc) {
		checkVpc(t, "get", &vpc)
	}
	var vpcs kubeovnv1.VpcList
	if list(&vpcs) {
		if v := findItem(t, vpcs.Items, "vpc-a", func(v kubeovnv1.Vpc) string { return v.Name }); v != nil {
			checkVpc(t, "list", v)
		}
	}

	var vip kubeovnv1.Vip
	if get("vip-a", &vip) {
		checkVip(t, "get", &vip)
	}
	var vips kubeovnv1.VipList
	if list(&vips) {
		if v := findItem(t, vips.Items, "vip-a", func(v kubeovnv1.Vip) string { return v.Name }); v != nil {
			checkVip(t, "list", v)
		}
	}
}

func findItem[T any](t *testing.T, items []T, name string, nameOf func(T) string) *T {
	t.Helper()
	for i := range items {
		if nameOf(items[i]) == name {
			return &items[i]
		}
	}
	t.Errorf("list of %T has no %s (%d items)", items, name, len(items))
	return nil
}

// checkUpstreamOnlyFieldsKept proves the stored objects really carry what Kube-OVN writes,
// including fields our types do not model (the schema kept them rather than pruning them),
// and shows how the API server stores the status counters.
func checkUpstreamOnlyFieldsKept(t *testing.T, ctx context.Context, c client.Client) {
	t.Helper()
	s := getUnstructured(t, ctx, c, "Subnet", "tenant-a")
	for _, path := range [][]string{
		{"spec", "acls"}, {"spec", "natOutgoingPolicyRules"}, {"spec", "u2oFeatures", "overlayOnlyRouting"},
		{"spec", "allowEWTraffic"}, {"status", "u2oInterconnectionIP"}, {"status", "natOutgoingPolicyRules"},
	} {
		if _, ok, _ := unstructured.NestedFieldNoCopy(s.Object, path...); !ok {
			t.Errorf("subnet %s was not stored", strings.Join(path, "."))
		}
	}
	for _, f := range []string{"v4availableIPs", "v4usingIPs", "v6availableIPs", "v6usingIPs"} {
		v, ok, _ := unstructured.NestedFieldNoCopy(s.Object, "status", f)
		switch v.(type) {
		case int64, float64:
			t.Logf("stored subnet status.%s = %v (%T)", f, v, v)
		default:
			t.Errorf("subnet status.%s = %#v (found %v), want a JSON number", f, v, ok)
		}
	}
	v := getUnstructured(t, ctx, c, "Vpc", "vpc-a")
	if _, ok, _ := unstructured.NestedFieldNoCopy(v.Object, "spec", "staticRoutes"); !ok {
		t.Error("vpc spec.staticRoutes was not stored")
	}
	vip := getUnstructured(t, ctx, c, "Vip", "vip-a")
	if _, ok, _ := unstructured.NestedFieldNoCopy(vip.Object, "spec", "selector"); !ok {
		t.Error("vip spec.selector was not stored")
	}
}

// writeTypedAndReadUnstructured writes objects with our typed client (strict field
// validation: any field the schema does not know is an error, not a silent prune) and reads
// them back as unstructured.
func writeTypedAndReadUnstructured(t *testing.T, ctx context.Context, c client.Client, warnings *warningRecorder) {
	t.Helper()
	now := metav1.NewTime(time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC))

	subnet := &kubeovnv1.Subnet{
		ObjectMeta: metav1.ObjectMeta{Name: "typed-subnet"},
		Spec: kubeovnv1.SubnetSpec{
			Protocol:   kubeovnv1.ProtocolDual,
			CIDRBlock:  "10.77.0.0/16,fd00:10:77::/64",
			Gateway:    "10.77.0.1,fd00:10:77::1",
			ExcludeIps: []string{"10.77.0.1..10.77.0.10"},
			Vpc:        "vpc-a",
			Provider:   "ovn",
			Namespaces: []string{"team-b"},
			NamespaceSelectors: []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "team", Operator: metav1.LabelSelectorOpExists},
			}}},
			GatewayType:           "centralized",
			GatewayNode:           "node-1,node-2",
			Mtu:                   1400,
			PolicyRoutingPriority: 100,
			PolicyRoutingTableID:  1000,
			EnableLb:              new(true),
		},
	}
	if err := c.Create(ctx, subnet, strict); err != nil {
		t.Fatalf("typed create subnet: %v", err)
	}
	subnet.Status = kubeovnv1.SubnetStatus{
		Conditions:         []kubeovnv1.Condition{{Type: "Ready", Status: corev1.ConditionTrue, Reason: "Init", Message: "ok", LastTransitionTime: now}},
		V4AvailableIPs:     65524,
		V4UsingIPs:         1,
		V6AvailableIPs:     twoTo64,
		V6UsingIPs:         1,
		V4AvailableIPRange: "10.77.0.12-10.77.255.254",
		V4UsingIPRange:     "10.77.0.11",
	}
	if err := c.Status().Update(ctx, subnet, strict); err != nil {
		t.Fatalf("typed status update subnet: %v", err)
	}

	ip := &kubeovnv1.IP{
		ObjectMeta: metav1.ObjectMeta{Name: "vm-1.team-b", Labels: map[string]string{"ovn.kubernetes.io/subnet": "typed-subnet"}},
		Spec: kubeovnv1.IPSpec{
			PodName: "vm-1", Namespace: "team-b", Subnet: "typed-subnet", AttachSubnets: []string{},
			NodeName: "node-2", IPAddress: "10.77.0.11,fd00:10:77::11", V4IPAddress: "10.77.0.11", V6IPAddress: "fd00:10:77::11",
			AttachIPs: []string{}, MacAddress: "00:00:00:01:02:03", AttachMacs: []string{}, ContainerID: "", PodType: kubeovnv1.PodTypeVirtualMachine,
		},
	}
	if err := c.Create(ctx, ip, strict); err != nil {
		t.Fatalf("typed create ip: %v", err)
	}
	// Nil slices encode as null (Kube-OVN's own IP type has no omitempty either).
	ipNil := &kubeovnv1.IP{
		ObjectMeta: metav1.ObjectMeta{Name: "node-node-1"},
		Spec:       kubeovnv1.IPSpec{Subnet: "join", NodeName: "node-1", IPAddress: "100.64.0.2", V4IPAddress: "100.64.0.2", MacAddress: "00:00:00:0a:0b:0c"},
	}
	if err := c.Create(ctx, ipNil, strict); err != nil {
		t.Fatalf("typed create ip with nil slices: %v", err)
	}

	pool := &kubeovnv1.IPPool{
		ObjectMeta: metav1.ObjectMeta{Name: "typed-pool"},
		Spec:       kubeovnv1.IPPoolSpec{Subnet: "typed-subnet", Namespaces: []string{"team-b"}, IPs: []string{"10.77.1.0/24", "10.77.2.1..10.77.2.9"}},
	}
	if err := c.Create(ctx, pool, strict); err != nil {
		t.Fatalf("typed create ippool: %v", err)
	}
	pool.Status = kubeovnv1.IPPoolStatus{V4AvailableIPs: 265, V4AvailableIPRange: "10.77.1.0-10.77.1.255,10.77.2.1-10.77.2.9"}
	if err := c.Status().Update(ctx, pool, strict); err != nil {
		t.Fatalf("typed status update ippool: %v", err)
	}

	vpc := &kubeovnv1.Vpc{ObjectMeta: metav1.ObjectMeta{Name: "typed-vpc"}, Spec: kubeovnv1.VpcSpec{Namespaces: []string{"team-c"}}}
	if err := c.Create(ctx, vpc, strict); err != nil {
		t.Fatalf("typed create vpc: %v", err)
	}
	vpc.Status = kubeovnv1.VpcStatus{Standby: true, Router: "typed-vpc", Subnets: []string{}}
	if err := c.Status().Update(ctx, vpc, strict); err != nil {
		t.Fatalf("typed status update vpc: %v", err)
	}

	vip := &kubeovnv1.Vip{
		ObjectMeta: metav1.ObjectMeta{Name: "typed-vip"},
		Spec:       kubeovnv1.VipSpec{Namespace: "team-b", Subnet: "typed-subnet", V4ip: "10.77.0.50"},
		Status:     kubeovnv1.VipStatus{V4ip: "10.77.0.50", Mac: "00:00:00:44:55:66"},
	}
	if err := c.Create(ctx, vip, strict); err != nil {
		t.Fatalf("typed create vip: %v", err)
	}

	if w := warnings.take(); len(w) > 0 {
		t.Errorf("API server warnings for our typed writes: %q", w)
	}

	// Read back as unstructured: the schema accepted and kept what we wrote.
	u := getUnstructured(t, ctx, c, "Subnet", "typed-subnet")
	wantStr := map[string]string{
		"spec.cidrBlock": "10.77.0.0/16,fd00:10:77::/64", "spec.gateway": "10.77.0.1,fd00:10:77::1", "spec.vpc": "vpc-a",
		"spec.protocol": "Dual", "spec.gatewayType": "centralized", "spec.gatewayNode": "node-1,node-2",
		"status.v4availableIPrange": "10.77.0.12-10.77.255.254", "status.v4usingIPrange": "10.77.0.11",
	}
	for path, want := range wantStr {
		if got, _, _ := unstructured.NestedString(u.Object, strings.Split(path, ".")...); got != want {
			t.Errorf("stored typed subnet %s = %q, want %q", path, got, want)
		}
	}
	if got, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "excludeIps"); !reflect.DeepEqual(got, []string{"10.77.0.1..10.77.0.10"}) {
		t.Errorf("stored typed subnet spec.excludeIps = %q", got)
	}
	if got, _, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "namespaceSelectors"); got == nil {
		t.Error("stored typed subnet lost spec.namespaceSelectors")
	}
	if got, _, _ := unstructured.NestedBool(u.Object, "spec", "enableLb"); !got {
		t.Error("stored typed subnet lost spec.enableLb")
	}
	wantNum := map[string]float64{
		"spec.mtu": 1400, "spec.policyRoutingPriority": 100, "spec.policyRoutingTableID": 1000,
		"status.v4availableIPs": 65524, "status.v4usingIPs": 1, "status.v6availableIPs": twoTo64, "status.v6usingIPs": 1,
	}
	for path, want := range wantNum {
		got, ok, _ := unstructured.NestedFieldNoCopy(u.Object, strings.Split(path, ".")...)
		if f, isNum := asFloat(got); !ok || !isNum || f != want {
			t.Errorf("stored typed subnet %s = %#v (found %v), want the number %v", path, got, ok, want)
		}
	}
	if conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions"); len(conds) != 1 {
		t.Errorf("stored typed subnet conditions = %#v", conds)
	}

	p := getUnstructured(t, ctx, c, "IPPool", "typed-pool")
	if got, ok, _ := unstructured.NestedFieldNoCopy(p.Object, "status", "v4AvailableIPs"); ok {
		if f, _ := asFloat(got); f != 265 {
			t.Errorf("stored typed ippool status.v4AvailableIPs = %#v", got)
		}
	} else {
		t.Error("stored typed ippool lost status.v4AvailableIPs")
	}
	if got, _, _ := unstructured.NestedStringSlice(p.Object, "spec", "ips"); !reflect.DeepEqual(got, pool.Spec.IPs) {
		t.Errorf("stored typed ippool spec.ips = %q", got)
	}

	i := getUnstructured(t, ctx, c, "IP", "vm-1.team-b")
	if got, _, _ := unstructured.NestedString(i.Object, "spec", "podType"); got != "VirtualMachine" {
		t.Errorf("stored typed ip spec.podType = %q", got)
	}
	iNil := getUnstructured(t, ctx, c, "IP", "node-node-1")
	if got, _, _ := unstructured.NestedString(iNil.Object, "spec", "v4IpAddress"); got != "100.64.0.2" {
		t.Errorf("stored typed ip node-node-1 spec.v4IpAddress = %q", got)
	}
	if got, ok, _ := unstructured.NestedFieldNoCopy(iNil.Object, "spec", "attachSubnets"); ok && got != nil {
		t.Errorf("stored typed ip node-node-1 spec.attachSubnets = %#v, want pruned or null", got)
	}

	vu := getUnstructured(t, ctx, c, "Vpc", "typed-vpc")
	if got, _, _ := unstructured.NestedBool(vu.Object, "status", "standby"); !got {
		t.Error("stored typed vpc lost status.standby")
	}
	vipU := getUnstructured(t, ctx, c, "Vip", "typed-vip")
	if got, _, _ := unstructured.NestedString(vipU.Object, "status", "mac"); got != "00:00:00:44:55:66" {
		t.Errorf("stored typed vip status.mac = %q", got)
	}

	// And the typed client reads its own writes back.
	var back kubeovnv1.Subnet
	if err := c.Get(ctx, client.ObjectKey{Name: "typed-subnet"}, &back); err != nil {
		t.Fatalf("typed get typed-subnet: %v", err)
	}
	if !reflect.DeepEqual(back.Spec, subnet.Spec) {
		t.Errorf("typed subnet spec changed:\n got %+v\nwant %+v", back.Spec, subnet.Spec)
	}
	if back.Status.V6AvailableIPs != twoTo64 || back.Status.V4AvailableIPs != 65524 {
		t.Errorf("typed subnet status counters %+v", back.Status)
	}
}

func asFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}
