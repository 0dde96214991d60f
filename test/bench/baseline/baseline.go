// Package baseline is the BASELINE of the benchmarks, not ipamguard: the
// same admission checks written the straightforward way Kube-OVN's own
// webhook does them. Every request lists every Subnet (and, where the check
// needs addresses, every IP object and pending pod) from an informer-style
// cache that deep-copies each object on List, as controller-runtime's cache
// does by default, and scans the copies linearly, re-parsing CIDRs as it
// goes.
//
// It exists so that the ratio between ipamguard and "list everything, scan
// linearly" is measured in the same run, on the same fixture, through the
// same AdmissionReview decoding and encoding. It is deliberately not
// optimised beyond what such code naturally is, and it is never served.
package baseline

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/ipam"
	"github.com/ipamguard/ipamguard/pkg/settings"
	ipamwebhook "github.com/ipamguard/ipamguard/pkg/webhook"
	"github.com/ipamguard/ipamguard/test/bench/fixture"
)

// Cache holds objects the way an informer's indexer does and hands out deep
// copies on List, like controller-runtime's cache reader.
type Cache struct {
	mu         sync.RWMutex
	subnets    []*kubeovnv1.Subnet
	ips        []*kubeovnv1.IP
	pools      []*kubeovnv1.IPPool
	nodes      []*corev1.Node
	vpcs       []*kubeovnv1.Vpc
	pods       []*metav1.PartialObjectMetadata
	namespaces map[string]*metav1.PartialObjectMetadata
	defaults   settings.Defaults
	warning    uint64
}

// NewCache returns a cache holding the fixture's objects.
func NewCache(f *fixture.Fixture) *Cache {
	c := &Cache{subnets: f.Subnets, ips: f.IPs, pools: f.IPPools, nodes: f.Nodes, vpcs: f.VPCs, pods: f.Pods,
		namespaces: map[string]*metav1.PartialObjectMetadata{}, defaults: f.Defaults, warning: 10}
	for _, ns := range f.Namespaces {
		c.namespaces[ns.Name] = ns
	}
	return c
}

func (c *Cache) listSubnets() []kubeovnv1.Subnet {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]kubeovnv1.Subnet, len(c.subnets))
	for i, s := range c.subnets {
		s.DeepCopyInto(&out[i])
	}
	return out
}

func (c *Cache) listIPs() []kubeovnv1.IP {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]kubeovnv1.IP, len(c.ips))
	for i, s := range c.ips {
		s.DeepCopyInto(&out[i])
	}
	return out
}

func (c *Cache) listPods() []metav1.PartialObjectMetadata {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]metav1.PartialObjectMetadata, len(c.pods))
	for i, s := range c.pods {
		s.DeepCopyInto(&out[i])
	}
	return out
}

func (c *Cache) listNodes() []corev1.Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]corev1.Node, len(c.nodes))
	for i, s := range c.nodes {
		s.DeepCopyInto(&out[i])
	}
	return out
}

func (c *Cache) listVpcs() []kubeovnv1.Vpc {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]kubeovnv1.Vpc, len(c.vpcs))
	for i, s := range c.vpcs {
		s.DeepCopyInto(&out[i])
	}
	return out
}

func (c *Cache) listPools() []kubeovnv1.IPPool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]kubeovnv1.IPPool, len(c.pools))
	for i, s := range c.pools {
		s.DeepCopyInto(&out[i])
	}
	return out
}

func (c *Cache) namespaceLabels(name string) labels.Set {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if ns := c.namespaces[name]; ns != nil {
		return labels.Set(ns.DeepCopy().Labels)
	}
	return nil
}

// Handlers returns the baseline handlers by the same paths as ipamguard's.
func Handlers(c *Cache) map[string]admission.Handler {
	return map[string]admission.Handler{
		ipamwebhook.SubnetPath:      &subnetHandler{c},
		ipamwebhook.PodPath:         &podHandler{c},
		ipamwebhook.PodCapacityPath: &podHandler{c},
		ipamwebhook.WorkloadPath:    &workloadHandler{c},
	}
}

var (
	subnetGK = schema.GroupKind{Group: "kubeovn.io", Kind: "Subnet"}
	podGK    = schema.GroupKind{Kind: "Pod"}
	cidrPath = field.NewPath("spec", "cidrBlock")
)

func deny(gk schema.GroupKind, name string, errs field.ErrorList) admission.Response {
	s := apierrors.NewInvalid(gk, name, errs).Status()
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &s}}
}

func warn(msgs []string) admission.Response {
	r := admission.Allowed("")
	r.Warnings = msgs
	return r
}

type subnetHandler struct{ c *Cache }

func (h *subnetHandler) Handle(_ context.Context, req admission.Request) admission.Response {
	var obj, old kubeovnv1.Subnet
	if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if req.Operation == admissionv1.Update {
		if err := json.Unmarshal(req.OldObject.Raw, &old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
	}
	blocks, perrs := ipam.ParseCIDRBlock(obj.Spec.CIDRBlock)
	if len(perrs) > 0 {
		return deny(subnetGK, obj.Name, field.ErrorList{field.Invalid(cidrPath, obj.Spec.CIDRBlock, perrs[0].Msg)})
	}
	vpc := obj.Spec.Vpc
	if vpc == "" {
		vpc = h.c.defaults.VPC
	}
	subnets := h.c.listSubnets()
	var errs field.ErrorList
	if req.Operation == admissionv1.Create || old.Spec.CIDRBlock != obj.Spec.CIDRBlock {
		var others []string
		for i := range subnets {
			o := &subnets[i]
			if o.Name == obj.Name || vpcOf(o, h.c.defaults.VPC) != vpc || o.Spec.Vlan != obj.Spec.Vlan {
				continue
			}
			ob, _ := ipam.ParseCIDRBlock(o.Spec.CIDRBlock)
			if overlapsAny(blocks, ob) {
				others = append(others, o.Name+" "+o.Spec.CIDRBlock)
			}
		}
		if len(others) > 0 {
			errs = append(errs, field.Invalid(cidrPath, obj.Spec.CIDRBlock, "overlaps subnets "+strings.Join(others, ", ")))
		}
		if vpc == h.c.defaults.VPC {
			if overlapsAny(blocks, h.c.defaults.JoinCIDR) || overlapsAny(blocks, h.c.defaults.ServiceCIDR) {
				errs = append(errs, field.Invalid(cidrPath, obj.Spec.CIDRBlock, "overlaps the join or service CIDR"))
			}
			if obj.Spec.Vlan == "" {
				for _, n := range h.c.listNodes() {
					for _, a := range n.Status.Addresses {
						if ip, err := netip.ParseAddr(a.Address); err == nil && a.Type == corev1.NodeInternalIP && containsAny(blocks, ip) {
							errs = append(errs, field.Invalid(cidrPath, obj.Spec.CIDRBlock, "contains the InternalIP of node "+n.Name))
						}
					}
				}
			}
		}
	}
	if len(errs) > 0 {
		return deny(subnetGK, obj.Name, errs)
	}
	spec := ipam.NewSubnet(obj.Spec.CIDRBlock, obj.Spec.Gateway, obj.Spec.ExcludeIps)
	ips := h.c.listIPs()
	var stranded []string
	var using [2]uint64
	for i := range ips {
		ip := &ips[i]
		if ip.Spec.Subnet != obj.Name {
			continue
		}
		for _, a := range addrs(ip.Spec.IPAddress) {
			fi := famIdx(a)
			if spec.Contains(a) && !spec.Exclude.Contains(a) {
				using[fi]++
			}
			if req.Operation == admissionv1.Update {
				if ok, reason := spec.Allocatable(a); !ok && !strings.Contains(reason, "excluded") {
					stranded = append(stranded, a.String()+" ("+ip.Spec.Namespace+"/"+ip.Spec.PodName+", "+reason+")")
				}
			}
		}
	}
	if len(stranded) > 0 {
		n := len(stranded)
		stranded = stranded[:min(n, 10)]
		return deny(subnetGK, obj.Name, field.ErrorList{field.Invalid(cidrPath, obj.Spec.CIDRBlock,
			fmt.Sprintf("%d addresses in use would no longer be allocatable: %s", n, strings.Join(stranded, ", ")))})
	}
	if msg := exhaustion(h.c, subnets, &obj, spec, using, 0); msg != "" {
		return warn([]string{msg})
	}
	return admission.Allowed("")
}

func vpcOf(s *kubeovnv1.Subnet, def string) string {
	if s.Spec.Vpc == "" {
		return def
	}
	return s.Spec.Vpc
}

func overlapsAny(a, b []netip.Prefix) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Overlaps(y) {
				return true
			}
		}
	}
	return false
}

func containsAny(blocks []netip.Prefix, a netip.Addr) bool {
	for _, b := range blocks {
		if b.Contains(a) {
			return true
		}
	}
	return false
}

func addrs(list string) []netip.Addr {
	var out []netip.Addr
	for part := range strings.SplitSeq(list, ",") {
		part = strings.TrimSpace(part)
		if i := strings.IndexByte(part, '/'); i >= 0 {
			part = part[:i]
		}
		if a, err := netip.ParseAddr(part); err == nil {
			out = append(out, a)
		}
	}
	return out
}

func famIdx(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// exhaustion warns when the subnet would have warning-level availability
// after taking need addresses, and looks for an expansion by scanning every
// subnet for each candidate parent prefix.
func exhaustion(c *Cache, subnets []kubeovnv1.Subnet, obj *kubeovnv1.Subnet, spec ipam.Subnet, using [2]uint64, need uint64) string {
	for _, b := range spec.Blocks {
		f := ipam.FamilyOfPrefix(b)
		total := spec.Capacity(f)
		avail := uint64(0)
		if u := using[famIdx(b.Addr())]; u < total {
			avail = total - u
		}
		if avail >= need {
			avail -= need
		} else {
			avail = 0
		}
		if avail > c.warning {
			continue
		}
		msg := fmt.Sprintf("subnet %s has %d of %d %s addresses available", obj.Name, avail, total, f)
		for step := 1; step <= 8; step++ {
			parent := netip.PrefixFrom(b.Addr(), b.Bits()-step).Masked()
			blocked := false
			for i := range subnets {
				o := &subnets[i]
				if o.Name == obj.Name || vpcOf(o, c.defaults.VPC) != vpcOf(obj, c.defaults.VPC) || o.Spec.Vlan != obj.Spec.Vlan {
					continue
				}
				ob, _ := ipam.ParseCIDRBlock(o.Spec.CIDRBlock)
				if overlapsAny([]netip.Prefix{parent}, ob) {
					blocked = true
					break
				}
			}
			if blocked {
				break
			}
			msg = fmt.Sprintf("%s; expand %s to %s", msg, b, parent)
			break
		}
		return msg
	}
	return ""
}

type podHandler struct{ c *Cache }

func (h *podHandler) Handle(_ context.Context, req admission.Request) admission.Response {
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	ann := pod.Annotations
	subnets := h.c.listSubnets()
	cands := resolve(h.c, subnets, req.Namespace, ann["ovn.kubernetes.io/logical_switch"])
	ipAddr := ann["ovn.kubernetes.io/ip_address"]
	if ipAddr == "" {
		// Capacity: count each candidate's addresses from every IP object.
		if len(cands) == 0 {
			return admission.Allowed("")
		}
		ips := h.c.listIPs()
		sn := cands[0]
		spec := ipam.NewSubnet(sn.Spec.CIDRBlock, sn.Spec.Gateway, sn.Spec.ExcludeIps)
		var using [2]uint64
		for i := range ips {
			if ips[i].Spec.Subnet != sn.Name {
				continue
			}
			for _, a := range addrs(ips[i].Spec.IPAddress) {
				if spec.Contains(a) && !spec.Exclude.Contains(a) {
					using[famIdx(a)]++
				}
			}
		}
		if msg := exhaustion(h.c, subnets, sn, spec, using, 1); msg != "" {
			return warn([]string{msg})
		}
		return admission.Allowed("")
	}
	p := field.NewPath("metadata", "annotations").Key("ovn.kubernetes.io/ip_address")
	var errs field.ErrorList
	ips := h.c.listIPs()
	pods := h.c.listPods()
	for _, a := range addrs(ipAddr) {
		var sn *kubeovnv1.Subnet
		for _, c := range cands {
			spec := ipam.NewSubnet(c.Spec.CIDRBlock, c.Spec.Gateway, c.Spec.ExcludeIps)
			if spec.Contains(a) {
				if ok, reason := spec.Allocatable(a); !ok && !strings.Contains(reason, "excluded") {
					errs = append(errs, field.Invalid(p, ipAddr, a.String()+" is "+reason))
				}
				sn = c
				break
			}
		}
		if sn == nil {
			errs = append(errs, field.Invalid(p, ipAddr, a.String()+" is not inside any subnet of the pod"))
			continue
		}
		for i := range ips {
			ip := &ips[i]
			if ip.Spec.Subnet != sn.Name || (ip.Spec.Namespace == req.Namespace && ip.Spec.PodName == pod.Name) {
				continue
			}
			if slices.Contains(addrs(ip.Spec.IPAddress), a) {
				errs = append(errs, field.Invalid(p, ipAddr, a.String()+" is held by pod "+ip.Spec.Namespace+"/"+ip.Spec.PodName))
			}
		}
		for i := range pods {
			o := &pods[i]
			if o.Namespace == req.Namespace && o.Name == pod.Name {
				continue
			}
			if slices.Contains(addrs(o.Annotations["ovn.kubernetes.io/ip_address"]), a) {
				errs = append(errs, field.Invalid(p, ipAddr, a.String()+" is requested by pending pod "+o.Namespace+"/"+o.Name))
			}
		}
	}
	if len(errs) > 0 {
		return deny(podGK, pod.Name, errs)
	}
	return admission.Allowed("")
}

// resolve finds the subnets a pod may land in by scanning every subnet.
func resolve(c *Cache, subnets []kubeovnv1.Subnet, ns, logicalSwitch string) []*kubeovnv1.Subnet {
	var out []*kubeovnv1.Subnet
	if logicalSwitch != "" {
		for i := range subnets {
			if subnets[i].Name == logicalSwitch {
				return []*kubeovnv1.Subnet{&subnets[i]}
			}
		}
		return nil
	}
	nsLabels := c.namespaceLabels(ns)
	for i := range subnets {
		s := &subnets[i]
		bound := slices.Contains(s.Spec.Namespaces, ns)
		for j := range s.Spec.NamespaceSelectors {
			if sel, err := metav1.LabelSelectorAsSelector(&s.Spec.NamespaceSelectors[j]); err == nil && sel.Matches(nsLabels) {
				bound = true
			}
		}
		if bound {
			out = append(out, s)
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, v := range c.listVpcs() {
		if slices.Contains(v.Spec.Namespaces, ns) && v.Spec.DefaultSubnet != "" {
			return resolve(c, subnets, ns, v.Spec.DefaultSubnet)
		}
	}
	return resolve(c, subnets, ns, c.defaults.Subnet)
}

type workloadHandler struct{ c *Cache }

func (h *workloadHandler) Handle(_ context.Context, req admission.Request) admission.Response {
	var d appsv1.Deployment
	if err := json.Unmarshal(req.Object.Raw, &d); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	ann := d.Spec.Template.Annotations
	subnets := h.c.listSubnets()
	cands := resolve(h.c, subnets, req.Namespace, ann["ovn.kubernetes.io/logical_switch"])
	p := field.NewPath("spec", "template", "metadata", "annotations")
	var errs field.ErrorList
	pool := ann["ovn.kubernetes.io/ip_pool"]
	list := addrs(pool)
	if pool != "" && len(list) == 0 {
		// A named IPPool: look it up by scanning the pools.
		found := false
		for _, ipp := range h.c.listPools() {
			if ipp.Name == pool {
				found = true
			}
		}
		if !found {
			errs = append(errs, field.Invalid(p.Key("ovn.kubernetes.io/ip_pool"), pool, "names an IPPool that does not exist"))
		}
	}
	for _, a := range list {
		in := false
		for _, c := range cands {
			spec := ipam.NewSubnet(c.Spec.CIDRBlock, c.Spec.Gateway, c.Spec.ExcludeIps)
			if ok, _ := spec.Allocatable(a); ok || spec.Exclude.Contains(a) {
				in = true
			}
		}
		if !in {
			errs = append(errs, field.Invalid(p.Key("ovn.kubernetes.io/ip_pool"), pool, a.String()+" is not allocatable in the pod's subnets"))
		}
	}
	if d.Spec.Replicas != nil && len(list) > 0 && int(*d.Spec.Replicas) > len(list) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "replicas"), *d.Spec.Replicas, "more replicas than pool addresses"))
	}
	if len(errs) > 0 {
		return deny(schema.GroupKind{Group: "apps", Kind: "Deployment"}, d.Name, errs)
	}
	return admission.Allowed("")
}
