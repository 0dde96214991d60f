package webhook_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
)

func newSubnet(name, cidr string, mutate ...func(*kubeovnv1.Subnet)) *kubeovnv1.Subnet {
	s := &kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kubeovnv1.SubnetSpec{CIDRBlock: cidr}}
	for _, m := range mutate {
		m(s)
	}
	return s
}

// wantDenied asserts err is the Subnet webhook's denial: the status code,
// the reason, the field of the first cause and the text.
func wantDenied(t *testing.T, err error, code int32, field string, contains ...string) {
	t.Helper()
	wantDeniedBy(t, "vsubnet.ipamguard.io", err, code, field, contains...)
}

// wantDeniedBy is wantDenied for the webhook with the given name.
func wantDeniedBy(t *testing.T, webhookName string, err error, code int32, field string, contains ...string) {
	t.Helper()
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a denial with code %d", err, code)
	}
	st := se.Status()
	if st.Code != code {
		t.Errorf("code = %d, want %d (%s)", st.Code, code, st.Message)
	}
	if !strings.Contains(st.Message, `admission webhook "`+webhookName+`" denied the request`) {
		t.Errorf("message %q does not say which webhook denied it", st.Message)
	}
	if field != "" {
		found := false
		if st.Details != nil {
			for _, c := range st.Details.Causes {
				found = found || c.Field == field
			}
		}
		if !found {
			t.Errorf("no cause on %s in %+v", field, st.Details)
		}
	}
	for _, c := range contains {
		if !strings.Contains(st.Message, c) {
			t.Errorf("message %q does not contain %q", st.Message, c)
		}
	}
}

func (s *suite) waitInUse(t *testing.T, subnet string, f ipam.Family, n int) {
	t.Helper()
	devenvtest.Eventually(t, "inventory to see the IP objects", waitTimeout, func() error {
		got := -1
		s.h.Store.Read(func(r inventory.Reader) { got = r.InUseCount(subnet, f) })
		if got != n {
			return fmt.Errorf("subnet %s has %d %s addresses in use, want %d", subnet, got, f, n)
		}
		return nil
	})
}

// TestSubnetOverlapOnRealAPIServer: valid subnets pass; overlaps in the
// default and a custom VPC, with the join subnet and with node addresses
// are refused, dry-run or not, and kubectl shows the denial.
func TestSubnetOverlapOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	c := s.c

	t.Run("valid creates pass", func(t *testing.T) {
		for _, sn := range []*kubeovnv1.Subnet{
			newSubnet("tenant-a", "10.70.0.0/24"),
			newSubnet("dual", "10.80.0.0/24,fd00:80::/64", func(s *kubeovnv1.Subnet) { s.Spec.Gateway = "10.80.0.1,fd00:80::1" }),
			newSubnet("vpc1-net", "10.16.0.0/16", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "vpc1" }),
		} {
			if err := c.Create(ctx, sn); err != nil {
				t.Fatalf("create %s: %v", sn.Name, err)
			}
		}
	})

	t.Run("overlap with an empty vpc is the default vpc", func(t *testing.T) {
		err := c.Create(ctx, newSubnet("dup", "10.16.5.0/24"))
		wantDenied(t, err, http.StatusUnprocessableEntity, "spec.cidrBlock",
			`spec.cidrBlock: Invalid value: "10.16.5.0/24": overlaps subnet ovn-default 10.16.0.0/16 in vpc ovn-cluster [subnet-overlap]`)
	})

	t.Run("dry-run is judged the same", func(t *testing.T) {
		err := c.Create(ctx, newSubnet("dup", "10.16.5.0/24"), client.DryRunAll)
		wantDenied(t, err, http.StatusUnprocessableEntity, "spec.cidrBlock", "ovn-default")
	})

	t.Run("overlap inside a custom vpc, both blocks named", func(t *testing.T) {
		err := c.Create(ctx, newSubnet("vpc1-b", "10.0.0.0/8", func(s *kubeovnv1.Subnet) { s.Spec.Vpc = "vpc1" }))
		wantDenied(t, err, http.StatusUnprocessableEntity, "spec.cidrBlock", "vpc1-net 10.16.0.0/16 in vpc vpc1")
	})

	t.Run("join and node addresses in the default vpc", func(t *testing.T) {
		wantDenied(t, c.Create(ctx, newSubnet("j", "100.64.8.0/24")), http.StatusUnprocessableEntity, "spec.cidrBlock", "join 100.64.0.0/16")
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}
		if err := c.Create(ctx, node); err != nil {
			t.Fatal(err)
		}
		node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.18.0.2"}}
		if err := c.Status().Update(ctx, node); err != nil {
			t.Fatal(err)
		}
		devenvtest.Eventually(t, "node in inventory", waitTimeout, func() error {
			err := c.Create(ctx, newSubnet("nodes", "172.18.0.0/24"), client.DryRunAll)
			if err == nil || !strings.Contains(err.Error(), "node1 (172.18.0.2)") {
				return fmt.Errorf("dry-run create over the node's address: %v", err)
			}
			return nil
		})
	})

	t.Run("kubectl shows the denial", func(t *testing.T) {
		kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
		if err := s.env.WriteKubeconfig(kubeconfig); err != nil {
			t.Fatal(err)
		}
		manifest := "apiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata:\n  name: dup\nspec:\n  cidrBlock: 10.16.5.0/24\n"
		cmd := exec.CommandContext(ctx, s.env.KubectlPath, "apply", "-f", "-")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
		cmd.Stdin = strings.NewReader(manifest)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil {
			t.Fatal("kubectl apply of an overlapping subnet succeeded")
		}
		// kubectl renders an Invalid status from its causes: one line per
		// field, which is why the rule ID rides in each cause.
		want := `The Subnet "dup" is invalid: spec.cidrBlock: Invalid value: "10.16.5.0/24": overlaps subnet ovn-default 10.16.0.0/16 in vpc ovn-cluster [subnet-overlap]`
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("kubectl stderr:\n%s\nwant it to contain:\n%s", stderr.String(), want)
		}
		t.Logf("kubectl says: %s", stderr.String())
	})
}

// TestSubnetSyntaxOnRealAPIServer: input the defaulter cannot fix is
// refused naming field and value; fields of a newer Kube-OVN are kept.
func TestSubnetSyntaxOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	c := s.c

	t.Run("syntax errors name field and value", func(t *testing.T) {
		// Input with one obvious meaning (host bits alone, IPv6 first) is
		// fixed by the defaulter; ambiguous input reaches the validator.
		wantDenied(t, c.Create(ctx, newSubnet("hb", "10.90.0.5/24,10.91.0.0/24")), http.StatusUnprocessableEntity, "spec.cidrBlock", "10.90.0.0/24", "[subnet-invalid]")
		wantDenied(t, c.Create(ctx, newSubnet("three", "fd00:90::/64,10.90.0.0/24,10.92.0.0/24")), http.StatusUnprocessableEntity, "spec.cidrBlock")
		wantDenied(t, c.Create(ctx, newSubnet("gw", "10.90.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.Gateway = "10.90.0.0" })),
			http.StatusUnprocessableEntity, "spec.gateway", "network address")
		wantDenied(t, c.Create(ctx, newSubnet("ex", "10.90.0.0/24", func(s *kubeovnv1.Subnet) { s.Spec.ExcludeIps = []string{"10.90.0.9..10.90.0.1"} })),
			http.StatusUnprocessableEntity, "spec.excludeIps[0]")
	})

	t.Run("unknown fields survive and do not confuse the rules", func(t *testing.T) {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "kubeovn.io/v1", "kind": "Subnet",
			"metadata": map[string]any{"name": "future"},
			"spec":     map[string]any{"cidrBlock": "10.120.0.0/24", "aFieldFromV1_99": "kept"},
		}}
		if err := c.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		u2 := &unstructured.Unstructured{}
		u2.SetGroupVersionKind(u.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKey{Name: "future"}, u2); err != nil {
			t.Fatal(err)
		}
		if v, _, _ := unstructured.NestedString(u2.Object, "spec", "aFieldFromV1_99"); v != "kept" {
			t.Errorf("unknown field lost: %v", u2.Object["spec"])
		}
	})
}

// subnetsInUse creates tenant-a and dual with addresses held in them (IP
// objects, as the Kube-OVN controller writes them for running pods, and a
// Vip) and waits for the inventory to count them. It returns a getter for
// the stored subnets.
func subnetsInUse(t *testing.T, s *suite) func(name string) *kubeovnv1.Subnet {
	t.Helper()
	ctx := t.Context()
	c := s.c
	for _, sn := range []*kubeovnv1.Subnet{
		newSubnet("tenant-a", "10.70.0.0/24"),
		newSubnet("dual", "10.80.0.0/24,fd00:80::/64", func(s *kubeovnv1.Subnet) { s.Spec.Gateway = "10.80.0.1,fd00:80::1" }),
	} {
		if err := c.Create(ctx, sn); err != nil {
			t.Fatalf("create %s: %v", sn.Name, err)
		}
	}
	for _, ip := range []*kubeovnv1.IP{
		{ObjectMeta: metav1.ObjectMeta{Name: "web-0.default"}, Spec: kubeovnv1.IPSpec{PodName: "web-0", Namespace: "default", Subnet: "tenant-a", IPAddress: "10.70.0.10", V4IPAddress: "10.70.0.10"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "web-1.default"}, Spec: kubeovnv1.IPSpec{PodName: "web-1", Namespace: "default", Subnet: "tenant-a", IPAddress: "10.70.0.200", V4IPAddress: "10.70.0.200"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "db-0.prod"}, Spec: kubeovnv1.IPSpec{PodName: "db-0", Namespace: "prod", Subnet: "dual", IPAddress: "10.80.0.5,fd00:80::5", PodType: kubeovnv1.PodTypeStatefulSet}},
	} {
		if err := c.Create(ctx, ip); err != nil {
			t.Fatal(err)
		}
	}
	vip := &kubeovnv1.Vip{ObjectMeta: metav1.ObjectMeta{Name: "vip1"}, Spec: kubeovnv1.VipSpec{Subnet: "tenant-a", V4ip: "10.70.0.100"}}
	if err := c.Create(ctx, vip); err != nil {
		t.Fatal(err)
	}
	s.waitInUse(t, "tenant-a", ipam.IPv4, 3)
	s.waitInUse(t, "dual", ipam.IPv6, 1)

	return func(name string) *kubeovnv1.Subnet {
		t.Helper()
		var sn kubeovnv1.Subnet
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &sn); err != nil {
			t.Fatal(err)
		}
		return &sn
	}
}

// TestSubnetUpdateInUseOnRealAPIServer: a shrink, a dropped family, an
// exclusion or a gateway move under addresses in use is refused naming
// them; an expansion passes.
func TestSubnetUpdateInUseOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	c := s.c
	get := subnetsInUse(t, s)

	t.Run("shrink under running pods is refused, naming them", func(t *testing.T) {
		sn := get("tenant-a")
		sn.Spec.CIDRBlock = "10.70.0.0/26"
		wantDenied(t, c.Update(ctx, sn), http.StatusUnprocessableEntity, "spec.cidrBlock",
			"2 addresses in use would no longer be allocatable", "10.70.0.100 (vip vip1, outside 10.70.0.0/26)", "10.70.0.200 (pod default/web-1, outside 10.70.0.0/26)", "[subnet-shrink]")
		if got := get("tenant-a"); got.Spec.CIDRBlock != "10.70.0.0/24" {
			t.Errorf("stored cidrBlock changed to %s after a denial", got.Spec.CIDRBlock)
		}
	})

	t.Run("dropping the ipv6 block under a dual stack pod is refused", func(t *testing.T) {
		sn := get("dual")
		sn.Spec.CIDRBlock, sn.Spec.Gateway = "10.80.0.0/24", "10.80.0.1"
		wantDenied(t, c.Update(ctx, sn), http.StatusUnprocessableEntity, "spec.cidrBlock", "fd00:80::5 (pod prod/db-0")
	})

	t.Run("excluding used addresses is admitted with a warning saying what Kube-OVN does", func(t *testing.T) {
		// Kube-OVN keeps the allocation (pkg/ipam: Using is intersected
		// with the whole block) and only stops handing the address out
		// once released; its ipam e2e suite does this on purpose.
		wc, rec := s.warningClient(t, "")
		sn := get("tenant-a")
		before := slices.Clone(sn.Spec.ExcludeIps)
		sn.Spec.ExcludeIps = []string{"10.70.0.2..10.70.0.20"}
		if err := wc.Update(ctx, sn); err != nil {
			t.Fatalf("exclusion over an address in use refused: %v", err)
		}
		got := strings.Join(rec.take(), "\n")
		for _, want := range []string{"[subnet-exclude-in-use]", "10.70.0.10 (pod default/web-0)", "keep their addresses", "will not hand them out again once released"} {
			if !strings.Contains(got, want) {
				t.Errorf("warnings %q lack %q", got, want)
			}
		}
		sn = get("tenant-a")
		sn.Spec.ExcludeIps = before
		if err := c.Update(ctx, sn); err != nil {
			t.Fatalf("restore excludeIps: %v", err)
		}
	})

	t.Run("gateway change under running pods is refused", func(t *testing.T) {
		sn := get("tenant-a")
		sn.Spec.Gateway = "10.70.0.254"
		wantDenied(t, c.Update(ctx, sn), http.StatusUnprocessableEntity, "spec.gateway", "from 10.70.0.1 to 10.70.0.254", "[subnet-gateway-in-use]")
	})

	t.Run("expansion passes", func(t *testing.T) {
		sn := get("tenant-a")
		sn.Spec.CIDRBlock = "10.70.0.0/23"
		if err := c.Update(ctx, sn); err != nil {
			t.Fatalf("expansion refused: %v", err)
		}
		sn = get("tenant-a")
		sn.Spec.ExcludeIps = []string{"10.70.1.0..10.70.1.20"}
		if err := c.Update(ctx, sn); err != nil {
			t.Fatalf("excluding unused addresses refused: %v", err)
		}
	})
}

// TestSubnetDeleteInUseOnRealAPIServer: a subnet holding addresses cannot
// be deleted until they go.
func TestSubnetDeleteInUseOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	c := s.c
	subnetsInUse(t, s)

	t.Run("delete in use is refused until the addresses go", func(t *testing.T) {
		err := c.Delete(ctx, newSubnet("tenant-a", ""))
		wantDenied(t, err, http.StatusForbidden, "", "subnet tenant-a still has 3 addresses in use", "pod default/web-0", "vip vip1", "[subnet-delete-in-use]")
		for _, o := range []client.Object{
			&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "web-0.default"}},
			&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "web-1.default"}},
			&kubeovnv1.Vip{ObjectMeta: metav1.ObjectMeta{Name: "vip1"}},
		} {
			if err := c.Delete(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		s.waitInUse(t, "tenant-a", ipam.IPv4, 0)
		if err := c.Delete(ctx, newSubnet("tenant-a", "")); err != nil {
			t.Fatalf("delete of an unused subnet refused: %v", err)
		}
	})
}
