package mutate

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/ipamguard/ipamguard/pkg/annotations"
)

// applyPatch applies p to doc as the API server would.
func applyPatch(t testing.TB, doc []byte, p Patch) []byte {
	t.Helper()
	b, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if b == nil {
		return doc
	}
	jp, err := jsonpatch.DecodePatch(b)
	if err != nil {
		t.Fatalf("patch %s: %v", b, err)
	}
	out, err := jp.Apply(doc)
	if err != nil {
		t.Fatalf("apply %s: %v", b, err)
	}
	return out
}

// members returns an object's members as compact raw JSON, by name.
func members(t testing.TB, raw []byte) map[string]string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	out := map[string]string{}
	for k, v := range m {
		var b bytes.Buffer
		if err := json.Compact(&b, v); err != nil {
			t.Fatal(err)
		}
		out[k] = b.String()
	}
	return out
}

// futureSubnet is a Subnet from a newer Kube-OVN: unknown fields at every
// level and status counters in the float form of older releases.
const futureSubnet = `{"apiVersion":"kubeovn.io/v1","kind":"Subnet",
 "metadata":{"name":"future","labels":{"a/b":"c"},"annotations":{"x~y/z":"1"}},
 "spec":{"cidrBlock":"FD00:10::5/64,10.60.0.7/24","vpc":"","natOutgoing":true,
  "aFieldFromV1_99":{"nested":[1,2.50,3e+04],"s":"kept"},"mtu":1400,"enableLb":null},
 "status":{"v4availableIPs":6.5533e+04,"v6availableIPs":1.8446744073709552e+19,"conditions":[]},
 "topLevelFromV1_99":"kept"}`

func TestSubnetPatchKeepsEverythingElse(t *testing.T) {
	t.Parallel()
	p, changes, err := SubnetPatch([]byte(futureSubnet), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"op":"add","path":"/spec/cidrBlock","value":"10.60.0.0/24,fd00:10::/64"},` +
		`{"op":"add","path":"/spec/gateway","value":"10.60.0.1,fd00:10::1"},` +
		`{"op":"add","path":"/spec/protocol","value":"Dual"}]`
	if b, _ := p.JSON(); string(b) != want {
		t.Errorf("patch\n%s\nwant\n%s", b, want)
	}
	if len(changes) != 3 {
		t.Errorf("changes %v", Warnings(changes))
	}
	out := applyPatch(t, []byte(futureSubnet), p)
	before, after := members(t, []byte(futureSubnet)), members(t, out)
	for _, k := range []string{"apiVersion", "kind", "metadata", "status", "topLevelFromV1_99"} {
		if before[k] != after[k] {
			t.Errorf("%s changed:\n%s\n%s", k, before[k], after[k])
		}
	}
	specBefore, specAfter := members(t, []byte(before["spec"])), members(t, []byte(after["spec"]))
	for k, v := range specBefore {
		if k == "cidrBlock" {
			continue
		}
		if specAfter[k] != v {
			t.Errorf("spec.%s changed: %s -> %s", k, v, specAfter[k])
		}
	}
	if p, _, _ := SubnetPatch(out, nil); len(p) != 0 {
		t.Errorf("second pass patched %v", p)
	}
}

func TestSubnetPatchLeavesOddTypesAlone(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		`{"spec":{"cidrBlock":"10.0.0.5/24","gateway":7}}`,
		`{"spec":{"cidrBlock":"10.0.0.5/24","excludeIps":"10.0.0.9"}}`,
		`{"spec":{"cidrBlock":"10.0.0.5/24","excludeIps":[1]}}`,
		`{"spec":{"cidrBlock":["10.0.0.5/24"]}}`,
		`{"spec":null}`,
		`{}`,
	} {
		p, changes, err := SubnetPatch([]byte(doc), nil)
		if err != nil || len(p) != 0 || len(changes) != 0 {
			t.Errorf("%s: patch %v, changes %v, err %v", doc, p, Warnings(changes), err)
		}
	}
	if _, _, err := SubnetPatch([]byte(`{"spec":`), nil); err == nil {
		t.Error("truncated JSON decoded")
	}
}

func TestSubnetPatchUpdate(t *testing.T) {
	t.Parallel()
	old := `{"spec":{"cidrBlock":"FD00:70::/64","gateway":"fd00:70::1","excludeIps":["fd00:70::9","fd00:70::1"]}}`
	obj := `{"spec":{"cidrBlock":"FD00:70::/64","gateway":"fd00:70::1","excludeIps":["fd00:70::9","fd00:70::1","FD00:70::2..FD00:70::8"]}}`
	p, _, err := SubnetPatch([]byte(obj), []byte(old))
	if err != nil {
		t.Fatal(err)
	}
	// Adjacent entries stay apart, as the controller keeps them.
	want := `[{"op":"add","path":"/spec/excludeIps","value":["fd00:70::1","fd00:70::2..fd00:70::8","fd00:70::9"]}]`
	if b, _ := p.JSON(); string(b) != want {
		t.Errorf("patch %s, want %s (cidrBlock unchanged: ratchet)", b, want)
	}
}

func TestPodPatch(t *testing.T) {
	t.Parallel()
	doc := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"apps","annotations":{
	  "ovn.kubernetes.io/ip_address":" 10.16.0.5/16","net1.default.kubernetes.io/ip_address.eth~1":"fd00:50::9, 192.168.50.9",
	  "other.example/ip_address":" x "}},
	 "spec":{"containers":[{"name":"c","image":"i","futureField":{"n":1.0}}]}}`
	calls := 0
	p, changes, err := PodPatch([]byte(doc), testResolver(&calls))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"op":"add","path":"/metadata/annotations/ovn.kubernetes.io~1ip_address","value":"10.16.0.5"},` +
		`{"op":"add","path":"/metadata/annotations/net1.default.kubernetes.io~1ip_address.eth~01","value":"192.168.50.9,fd00:50::9"}]`
	if b, _ := p.JSON(); string(b) != want {
		t.Errorf("patch\n%s\nwant\n%s", b, want)
	}
	if len(changes) != 2 {
		t.Errorf("changes %v", Warnings(changes))
	}
	out := applyPatch(t, []byte(doc), p)
	var pod struct {
		Metadata struct{ Annotations map[string]string }
		Spec     json.RawMessage
	}
	if err := json.Unmarshal(out, &pod); err != nil {
		t.Fatal(err)
	}
	if got := pod.Metadata.Annotations["net1.default.kubernetes.io/ip_address.eth~1"]; got != "192.168.50.9,fd00:50::9" {
		t.Errorf("escaped key patched wrong: %q in %v", got, pod.Metadata.Annotations)
	}
	if got := pod.Metadata.Annotations["other.example/ip_address"]; got != " x " {
		t.Errorf("foreign annotation changed to %q", got)
	}
	if before, after := members(t, []byte(doc))["spec"], members(t, out)["spec"]; before != after {
		t.Errorf("spec changed:\n%s\n%s", before, after)
	}
	if p, _, _ := PodPatch(out, func(annotations.Request) []netip.Prefix { return nil }); len(p) != 0 {
		t.Errorf("second pass patched %v", p)
	}
}
