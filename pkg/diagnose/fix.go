package diagnose

import (
	"encoding/json"
	"strings"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// Object references for the kinds the doctor names.

// RefSubnet, RefIP, RefVip, RefPod and RefNode pin an object to the version
// the doctor saw.
func RefSubnet(s *kubeovnv1.Subnet) ObjectRef {
	return ObjectRef{APIVersion: kubeovnv1.GroupVersion.String(), Kind: "Subnet", Name: s.Name, UID: string(s.UID), ResourceVersion: s.ResourceVersion}
}

// RefIP pins an IP object.
func RefIP(ip *kubeovnv1.IP) ObjectRef {
	return ObjectRef{APIVersion: kubeovnv1.GroupVersion.String(), Kind: "IP", Name: ip.Name, UID: string(ip.UID), ResourceVersion: ip.ResourceVersion}
}

// RefVip pins a Vip.
func RefVip(v *kubeovnv1.Vip) ObjectRef {
	return ObjectRef{APIVersion: kubeovnv1.GroupVersion.String(), Kind: "Vip", Name: v.Name, UID: string(v.UID), ResourceVersion: v.ResourceVersion}
}

// RefPod pins a pod.
func RefPod(p *Pod) ObjectRef {
	return ObjectRef{APIVersion: "v1", Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID, ResourceVersion: p.ResourceVersion}
}

// RefNode pins a node.
func RefNode(n *Node) ObjectRef {
	return ObjectRef{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion}
}

// resourceOf maps a kind the doctor deletes or patches to its plural.
var resourceOf = map[string]string{
	"Subnet": "subnets", "IP": "ips", "IPPool": "ippools", "Vip": "vips", "Vpc": "vpcs",
	"Pod": "pods", "Node": "nodes", "Event": "events", "Lease": "leases",
}

// URL is the API path of the object: /apis/kubeovn.io/v1/ips/NAME,
// /api/v1/namespaces/NS/pods/NAME.
func (o ObjectRef) URL() string {
	var b strings.Builder
	if strings.Contains(o.APIVersion, "/") {
		b.WriteString("/apis/")
	} else {
		b.WriteString("/api/")
	}
	b.WriteString(o.APIVersion)
	if o.Namespace != "" {
		b.WriteString("/namespaces/" + o.Namespace)
	}
	b.WriteString("/" + resourceOf[o.Kind] + "/" + o.Name)
	return b.String()
}

// DeleteCommand is the kubectl command that deletes the object only while
// it is the very object the doctor saw: the DeleteOptions body carries its
// UID and resourceVersion as preconditions, so the API server refuses
// (409 Conflict) to delete an object re-created or changed since.
func DeleteCommand(o ObjectRef) string {
	pre := map[string]string{}
	if o.UID != "" {
		pre["uid"] = o.UID
	}
	if o.ResourceVersion != "" {
		pre["resourceVersion"] = o.ResourceVersion
	}
	body, _ := json.Marshal(map[string]any{"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": pre})
	cmd := "kubectl delete --raw " + shellQuote(o.URL()) + " -f - <<'EOF'\n" + string(body) + "\nEOF"
	if len(pre) == 0 {
		// Hand-written manifests carry neither: say so where it is run.
		cmd = "# unguarded: the state gave no UID or resourceVersion to check against\n" + cmd
	}
	return cmd
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-:=,@+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
