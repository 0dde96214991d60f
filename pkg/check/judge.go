package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamguard/ipamguard/pkg/admit"
	"github.com/ipamguard/ipamguard/pkg/annotations"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/inventory"
)

// PodJudge judges, for the doctor, pods that exist in a cluster but that
// Kube-OVN has not allocated yet: each is run through the admission
// pipeline (pkg/admit, every stage, as the API server calls the webhooks)
// as a CREATE, against an inventory built from the cluster state, so the
// doctor says what the webhook would refuse now with the very rules the
// webhook runs. Its Judge method is what diagnose.Options.Judge takes.
//
// The judged pod is part of the state, and the rules judge it as if it
// were being created now against the state without itself: its own
// fixed-address requests are not pending holders against it (the rules
// skip requests of the same namespace and owner), its own IP objects (a
// StatefulSet's or a VM's kept ones) are its own, and no reservation of an
// admission in flight exists (a dry run reserves nothing).
//
// The inventory is built on the first Judge call, from the state's objects
// as they are (no re-serialisation): a diagnosis with no pod to judge
// costs nothing. When built it holds what the webhook's inventory holds,
// beside the state: an owner record and one B-tree entry per address of
// every IP object and Vip (the larger part, at 1M IP objects on the order
// of the state's own IP objects), the subnets, pools, VPCs, nodes'
// addresses, namespaces' labels, and the requests of pods with fixed
// addresses that are not allocated yet (other pods cost nothing).
// Measured at 1M IP objects in one subnet: about 300 MiB more heap and
// 3.4 s of CPU on a loaded 2-core machine, nearly all of it
// inventory.Store.UpsertIP (one locked B-tree insert per address); a bulk
// load in pkg/inventory would cut it. Judge is safe for concurrent use.
type PodJudge struct {
	cfg       *config.Config
	namespace string
	user      string
	groups    []string
	state     *diagnose.State
	// shift moves the pods' creation times as the inventory sees them by
	// the time elapsed since the state was read: the pending-holder rule
	// compares a pending pod's age with the wall clock, and a snapshot
	// judged later must see the ages it had when it was taken.
	shift time.Duration

	once   sync.Once
	engine *admit.Engine
}

// NewPodJudge returns a judge of s's pods. opts gives the configuration
// (nil: config.Default()), the namespace of pods that name none, and who
// the pods are judged as created by (User and Groups: the configuration's
// exemptions apply to them; "" is unknown, as for check). s must not
// change while the judge is in use.
func NewPodJudge(opts Options, s *diagnose.State) (*PodJudge, error) {
	if s == nil {
		return nil, errors.New("judge pods: no cluster state")
	}
	j := &PodJudge{cfg: opts.Config, namespace: opts.Namespace, user: opts.User, groups: opts.Groups, state: s}
	if j.cfg == nil {
		j.cfg = config.Default()
	}
	if j.namespace == "" {
		j.namespace = "default"
	}
	if !s.Time.IsZero() {
		if d := time.Since(s.Time); d > 0 {
			j.shift = d
		}
	}
	return j, nil
}

// Judge runs pod through the admission pipeline as a CREATE (a dry run:
// nothing is reserved) and returns the reasons the webhook would refuse it,
// one per denying finding, as the client would read them; none when it
// would admit it. Warnings do not count. An error means the pod could not
// be judged (ctx ended, or the pipeline could not read it).
func (j *PodJudge) Judge(ctx context.Context, pod *diagnose.Pod) ([]string, error) {
	if pod == nil {
		return nil, errors.New("judge pod: no pod")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	j.once.Do(j.build)
	ns := pod.Namespace
	if ns == "" {
		ns = j.namespace
	}
	raw, err := json.Marshal(podObject{APIVersion: "v1", Kind: "Pod", Metadata: podCreateMeta{
		Name: pod.Name, Namespace: ns, Labels: pod.Labels, Annotations: pod.Annotations, OwnerReferences: pod.OwnerReferences,
	}})
	if err != nil {
		return nil, fmt.Errorf("judge pod %s/%s: encode: %w", ns, pod.Name, err)
	}
	req := admit.Request{Kind: "Pod", Operation: admit.Create, Namespace: ns, Name: pod.Name, Object: raw,
		User: j.user, Groups: j.groups, DryRun: true, Stages: admit.AllStages}
	out, err := j.engine.Review(ctx, &req)
	if err != nil {
		return nil, fmt.Errorf("judge pod %s/%s: %w", ns, pod.Name, err)
	}
	if !out.Denied() {
		return nil, nil
	}
	reasons := make([]string, 0, len(out.Decision.Deny))
	for _, e := range out.Decision.Deny {
		reasons = append(reasons, e.Error())
	}
	return reasons, nil
}

// podObject is a pod as it is created: what the pipeline reads of it (the
// metadata), without what the API server sets on creation (uid,
// resourceVersion, creationTimestamp) and without the status the
// controller wrote since.
type podObject struct {
	APIVersion string        `json:"apiVersion"`
	Kind       string        `json:"kind"`
	Metadata   podCreateMeta `json:"metadata"`
}

type podCreateMeta struct {
	Name            string                  `json:"name"`
	Namespace       string                  `json:"namespace"`
	Labels          map[string]string       `json:"labels,omitempty"`
	Annotations     map[string]string       `json:"annotations,omitempty"`
	OwnerReferences []metav1.OwnerReference `json:"ownerReferences,omitempty"`
}

// build fills the inventory from the state, the way the webhook's
// informers and check's cluster objects feed it: the typed Kube-OVN
// objects are upserted as they are; nodes, namespaces and pods as the
// small objects the Store reads.
func (j *PodJudge) build() {
	s := j.state
	c := &checker{cfg: j.cfg, store: inventory.New(j.cfg.Defaults.VPC)}
	st := c.store
	for i := range s.Subnets {
		st.UpsertSubnet(&s.Subnets[i])
	}
	st.UpsertIPs(s.IPs)
	for i := range s.Vips {
		st.UpsertVip(&s.Vips[i])
	}
	for i := range s.Vpcs {
		st.UpsertVpc(&s.Vpcs[i])
	}
	for i := range s.IPPools {
		st.UpsertIPPool(&s.IPPools[i])
	}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		node := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name}}
		for _, a := range n.InternalIPs {
			node.Status.Addresses = append(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a})
		}
		st.UpsertNode(&node)
	}
	known := make(map[string]bool, len(s.Namespaces))
	for i := range s.Namespaces {
		c.upsertNamespace(s.Namespaces[i].Name, s.Namespaces[i].Labels)
		known[s.Namespaces[i].Name] = true
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		if !known[p.Namespace] {
			// The API server only admits pods into existing namespaces:
			// one the state does not list exists with its name label.
			c.upsertNamespace(p.Namespace, nil)
			known[p.Namespace] = true
		}
		if !annotations.HasStatic(p.Annotations) {
			continue // asks for no fixed address: holds nothing pending
		}
		created := p.CreationTimestamp
		if !created.IsZero() {
			created = metav1.NewTime(created.Add(j.shift))
		}
		st.UpsertPod(&metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, Annotations: p.Annotations,
			OwnerReferences: p.OwnerReferences, CreationTimestamp: created})
	}
	cfg := j.cfg
	j.engine = &admit.Engine{Store: st, Config: func() *config.Config { return cfg }}
}
