package mutate

import (
	"encoding/json"
	"net/netip"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// subnetDoc renders a Subnet with fields this project does not know at
// every level, and status counters in an older release's float form.
func subnetDoc(t *testing.T, cidr, gw, proto string, excludes []string) []byte {
	t.Helper()
	doc, err := json.Marshal(map[string]any{
		"apiVersion": "kubeovn.io/v1", "kind": "Subnet",
		"metadata": map[string]any{"name": "fuzz"},
		"spec": map[string]any{
			"cidrBlock": cidr, "gateway": gw, "protocol": proto, "excludeIps": excludes,
			"aFieldFromV1_99": map[string]any{"n": json.Number("6.5533e+04"), "s": "kept"},
		},
		"status":            map[string]any{"v4availableIPs": json.Number("6.5533e+04")},
		"topLevelFromV1_99": []any{json.Number("1.0")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// subnetInvalid returns the subnet-invalid findings of creating doc in an
// empty cluster.
func subnetInvalid(t *testing.T, doc []byte) []policy.Finding {
	t.Helper()
	var sn kubeovnv1.Subnet
	if err := json.Unmarshal(doc, &sn); err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	var out []policy.Finding
	inventory.New("ovn-cluster").Read(func(r inventory.Reader) {
		for _, f := range validate.SubnetCreate(validate.Context{Inventory: r, Defaults: settings.FreshInstall()}, nil, &sn).Findings {
			if f.Rule == policy.SubnetInvalid {
				out = append(out, f)
			}
		}
	})
	return out
}

// FuzzSubnetDefaulter: defaulting never fails on a well-formed object,
// patches exactly the fields it reports, keeps everything else, is
// idempotent, leaves an unchanged update alone, and never turns a Subnet the
// validator accepted into one it refuses.
func FuzzSubnetDefaulter(f *testing.F) {
	f.Add("FD00:10::5/64,10.60.0.7/24", "", "", "", "")
	f.Add("10.16.0.0/16", "10.16.0.1", "IPv4", "10.16.0.1", "10.16.0.2..10.16.0.9")
	f.Add("10.80.0.0/24,fd00:80::/64", "fd00:80::1", "dual", "FD00:80::5..FD00:80::9", " 10.80.0.5")
	f.Add(" 10.0.0.5/31 ", "10.0.0.4", "", "10.0.0.5", "10.0.0.4")
	f.Add("fd00::/127", "", "IPv6", "fd00::1", "fd00::")
	f.Add("10.0.0.1/32,fd00::1/128", "", "", "", "")
	f.Add("10.0.0.0/24,10.1.0.0/24", "10.0.0.1", "", "10.0.0.9..10.0.0.2", "10.0.0.0/30")
	f.Add("127.0.0.5/8", "x", "Mac", "1..2", "::ffff:10.0.0.1")
	f.Fuzz(func(t *testing.T, cidr, gw, proto, ex1, ex2 string) {
		doc := subnetDoc(t, cidr, gw, proto, []string{ex1, ex2})
		p, changes, err := SubnetPatch(doc, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != len(changes) {
			t.Fatalf("%d operations for %d changes", len(p), len(changes))
		}
		out := applyPatch(t, doc, p)

		before, after := members(t, doc), members(t, out)
		for _, k := range []string{"apiVersion", "kind", "metadata", "status", "topLevelFromV1_99"} {
			if before[k] != after[k] {
				t.Fatalf("%s changed: %s -> %s", k, before[k], after[k])
			}
		}
		if b, a := members(t, []byte(before["spec"]))["aFieldFromV1_99"], members(t, []byte(after["spec"]))["aFieldFromV1_99"]; b != a {
			t.Fatalf("unknown spec field changed: %s -> %s", b, a)
		}

		if p2, c2, _ := SubnetPatch(out, nil); len(p2) != 0 {
			t.Fatalf("not idempotent: %v after %v", Warnings(c2), Warnings(changes))
		}
		if p3, c3, _ := SubnetPatch(doc, doc); len(p3) != 0 {
			t.Fatalf("an update changing nothing was defaulted: %v", Warnings(c3))
		}

		if len(subnetInvalid(t, doc)) == 0 {
			if fs := subnetInvalid(t, out); len(fs) > 0 {
				t.Fatalf("valid input %s defaulted (%v) to invalid output: %v", doc, Warnings(changes), fs[0].Err)
			}
		}
	})
}

// podStore is a cluster with a default subnet and a dual-stack one.
func podStore() *inventory.Store {
	s := inventory.New("ovn-cluster")
	s.UpsertSubnet(&kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: "ovn-default"},
		Spec: kubeovnv1.SubnetSpec{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Vpc: "ovn-cluster"}})
	s.UpsertSubnet(&kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: "dual"},
		Spec: kubeovnv1.SubnetSpec{CIDRBlock: "10.80.0.0/24,fd00:80::/64"}})
	s.UpsertNamespace(&metav1.ObjectMeta{Name: "apps"})
	return s
}

// FuzzPodDefaulter: the pod defaulter is idempotent and never turns
// annotations the pod rules accepted into ones they refuse.
func FuzzPodDefaulter(f *testing.F) {
	f.Add("", " 10.16.0.5/16 ", "")
	f.Add("dual", "fd00:80::9/64, 10.80.0.9", "fd00:80::10,10.80.0.10;10.80.0.11/24")
	f.Add("dual", "10.80.0.9,fd00:80::9", "fd00:80::2,10.80.0.9,fd00:80::1")
	f.Add("", "10.16.0.0/16", "pool-a")
	f.Add("missing", "10.16.0.5/16", ";")
	store := podStore()
	d := settings.FreshInstall()
	f.Fuzz(func(t *testing.T, ls, ip, pool string) {
		ann := map[string]string{}
		for k, v := range map[string]string{"ovn.kubernetes.io/logical_switch": ls, "ovn.kubernetes.io/ip_address": ip, "ovn.kubernetes.io/ip_pool": pool} {
			if v != "" {
				ann[k] = v
			}
		}
		store.Read(func(r inventory.Reader) {
			resolve := func(req annotations.Request) []netip.Prefix {
				var out []netip.Prefix
				for _, sn := range validate.ResolveSubnets(validate.Context{Inventory: r, Defaults: d}, "apps", req) {
					out = append(out, sn.Spec.Blocks...)
				}
				return out
			}
			set, changes := DefaultPodAnnotations(ann, resolve)
			if len(set) != len(changes) {
				t.Fatalf("%d values for %d changes", len(set), len(changes))
			}
			out := map[string]string{}
			for k, v := range ann {
				out[k] = v
			}
			for _, c := range set {
				if _, ok := ann[c.Key]; !ok {
					t.Fatalf("added annotation %s", c.Key)
				}
				out[c.Key] = c.Value
			}
			if again, c2 := DefaultPodAnnotations(out, resolve); len(again) != 0 {
				t.Fatalf("not idempotent: %v after %v", Warnings(c2), Warnings(changes))
			}
			judge := func(a map[string]string) []policy.Finding {
				return validate.PodTemplate(validate.Context{Inventory: r, Defaults: d}, nil, &validate.PodInput{Namespace: "apps", Name: "p", Annotations: a, Ordinal: -1, Meta: field.NewPath("metadata")}).Findings
			}
			if len(judge(ann)) == 0 {
				if fs := judge(out); len(fs) > 0 {
					t.Fatalf("accepted %q defaulted (%v) to refused %q: %v", ann, Warnings(changes), out, fs[0].Err)
				}
			}
		})
	})
}
