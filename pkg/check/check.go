// Package check judges manifests before they are applied, with the
// webhook's rules: the offline half of `kubectl ipam check`.
//
// The manifests are applied in order to an inventory (pkg/inventory's
// Store) that starts with the objects already in the cluster, as the API
// server would apply them: each judged object sees the cluster plus the
// manifest objects accepted before it; an object that exists is judged as
// an update with the stored object as old; a denied object is not stored.
// What each kind runs comes from pkg/admit, the same calls the webhook
// makes, and the decision from the configuration's policy.
package check

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamguard/ipamguard/pkg/admit"
	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/mutate"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/review"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// Options configure a check.
type Options struct {
	// Config is the webhook's configuration (defaults, thresholds,
	// policy); nil means config.Default().
	Config *config.Config
	// Namespace is the namespace of namespaced objects that name none;
	// "" means "default".
	Namespace string
}

// Result is what the API server would do with an object.
type Result string

// Results.
const (
	Allowed Result = "allowed"
	Warned  Result = "warned"
	Denied  Result = "denied"
)

// Operations an object is judged as.
const (
	Create = "CREATE"
	Update = "UPDATE"
)

// Finding is one finding that was not off, as the client sees it.
type Finding struct {
	// Rule is the stable rule ID.
	Rule string `json:"rule"`
	// Action is enforce (denies), warn, or audit (would deny; warns).
	Action string `json:"action"`
	// Field is the field path, e.g. spec.cidrBlock.
	Field string `json:"field"`
	// Message is the text the webhook returns: the cause of the denial
	// ending in "[rule]", or the warning starting with "[rule]".
	Message string `json:"message"`
}

// Judgement is the verdict on one manifest object.
type Judgement struct {
	Source     Source `json:"source"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	// Operation is CREATE, or UPDATE when the object already existed (in
	// the cluster or earlier in the manifests).
	Operation string `json:"operation"`
	// Mode is the mode it was judged in: enforce, audit or off.
	Mode string `json:"mode"`
	// Exempt is true when the configuration exempts its namespace.
	Exempt bool   `json:"exempt,omitempty"`
	Result Result `json:"result"`
	// Findings lists what the rules found, in the webhook's order; never
	// null.
	Findings []Finding `json:"findings"`
	// Defaulted lists what the defaulting webhooks would rewrite before
	// the rules run, as the warnings they return.
	Defaulted []string `json:"defaulted,omitempty"`
	// Note explains a judgement that ran no rules.
	Note string `json:"note,omitempty"`
}

// Skipped is a manifest object of a kind ipamguard does not judge.
type Skipped struct {
	Source     Source `json:"source"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// Summary counts the objects of a check.
type Summary struct {
	// Judged is the number of judged objects: Allowed + Warned + Denied.
	Judged  int `json:"judged"`
	Allowed int `json:"allowed"`
	Warned  int `json:"warned"`
	Denied  int `json:"denied"`
	// Skipped counts manifest objects of kinds ipamguard does not judge.
	Skipped int `json:"skipped"`
	// Context counts manifest objects that are not judged but feed the
	// inventory: Namespaces, Nodes, Vpcs, Vips.
	Context int `json:"context"`
	// Cluster counts the objects loaded from the cluster files.
	Cluster int `json:"cluster"`
}

// Report is the outcome of a check.
type Report struct {
	Objects []Judgement `json:"objects"`
	Skipped []Skipped   `json:"skipped"`
	Summary Summary     `json:"summary"`
}

// Denied reports whether any object was denied.
func (r *Report) Denied() bool { return r.Summary.Denied > 0 }

// kind classes.
type class int

const (
	unknown class = iota
	judged
	context
)

// classify says what the check does with an object of apiVersion/kind.
func classify(apiVersion, kind string) class {
	group := ""
	if i := strings.IndexByte(apiVersion, '/'); i >= 0 {
		group = apiVersion[:i]
	}
	switch group {
	case kubeovnv1.GroupVersion.Group:
		switch kind {
		case "Subnet", "IP", "IPPool":
			return judged
		case "Vpc", "Vip":
			return context
		}
	case "":
		switch kind {
		case "Pod":
			return judged
		case "Namespace", "Node":
			return context
		}
	case "apps":
		switch kind {
		case validate.KindDeployment, validate.KindReplicaSet, validate.KindStatefulSet, validate.KindDaemonSet:
			return judged
		}
	case "batch":
		switch kind {
		case validate.KindJob, validate.KindCronJob:
			return judged
		}
	}
	return unknown
}

// namespaced reports whether objects of a known kind live in a namespace.
func namespaced(kind string) bool {
	return kind == "Pod" || validate.IsWorkloadKind(kind)
}

// key identifies a stored object.
type key struct{ group, kind, namespace, name string }

func keyOf(o *Object) key {
	group := ""
	if i := strings.IndexByte(o.APIVersion, '/'); i >= 0 {
		group = o.APIVersion[:i]
	}
	return key{group, o.Kind, o.Namespace, o.Name}
}

// checker holds the inventory a check builds.
type checker struct {
	cfg   *config.Config
	ns    string
	store *inventory.Store
	// stored holds the JSON of every stored object of a known kind, the
	// old object of an update.
	stored map[key][]byte
}

// Run judges manifests in order against an inventory holding the cluster
// objects first. It returns an *InputError when an object cannot be read
// as its kind (the API server would refuse it before any webhook), or
// when there are no manifest objects at all (kubectl apply refuses that
// too); skipped kinds count as objects, and no cluster object is needed.
func Run(opts Options, cluster, manifests []Object) (*Report, error) {
	if len(manifests) == 0 {
		return nil, &InputError{Item: -1, Err: errors.New("no objects passed to check: the manifests hold no object (only empty or null documents); kubectl apply refuses this too")}
	}
	c := &checker{cfg: opts.Config, ns: opts.Namespace, stored: map[key][]byte{}}
	if c.cfg == nil {
		c.cfg = config.Default()
	}
	if c.ns == "" {
		c.ns = "default"
	}
	c.store = inventory.New(c.cfg.Defaults.VPC)
	rep := &Report{Objects: []Judgement{}, Skipped: []Skipped{}}
	for i := range cluster {
		o := &cluster[i]
		if classify(o.APIVersion, o.Kind) == unknown {
			continue
		}
		if err := c.prepare(o); err != nil {
			return nil, err
		}
		if err := c.load(o); err != nil {
			return nil, err
		}
		rep.Summary.Cluster++
	}
	for i := range manifests {
		o := &manifests[i]
		switch classify(o.APIVersion, o.Kind) {
		case unknown:
			rep.Skipped = append(rep.Skipped, Skipped{Source: o.Source, APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name})
			rep.Summary.Skipped++
			continue
		case context:
			if err := c.prepare(o); err != nil {
				return nil, err
			}
			if err := c.load(o); err != nil {
				return nil, err
			}
			rep.Summary.Context++
			continue
		}
		if err := c.prepare(o); err != nil {
			return nil, err
		}
		j, err := c.judge(o)
		if err != nil {
			return nil, err
		}
		rep.Objects = append(rep.Objects, j)
		rep.Summary.Judged++
		switch j.Result {
		case Denied:
			rep.Summary.Denied++
		case Warned:
			rep.Summary.Warned++
		default:
			rep.Summary.Allowed++
		}
	}
	return rep, nil
}

// prepare checks the name and sets the namespace, before any key is
// built: the default one for namespaced kinds that name none, none for
// cluster-scoped kinds (Subnet, IP, IPPool, Vpc, Vip, Node, Namespace),
// whose metadata.namespace the API server ignores (kustomize's
// `namespace:` adds one to kinds it does not know).
func (c *checker) prepare(o *Object) error {
	if o.Name == "" {
		return c.inputError(o, fmt.Errorf("%s without metadata.name", o.Kind))
	}
	switch {
	case !namespaced(o.Kind):
		o.Namespace = ""
	case o.Namespace == "":
		o.Namespace = c.ns
	}
	return nil
}

func (c *checker) inputError(o *Object, err error) error {
	return errorAt(o.Source, err)
}

// decode reads an object's JSON into its type the way the webhook reads
// admission requests.
func (c *checker) decode(o *Object, raw []byte, v any) error {
	if err := review.Unmarshal(raw, v); err != nil {
		return c.inputError(o, fmt.Errorf("read %s %s: %s", o.Kind, o.Name, describeDecodeError(err)))
	}
	return nil
}

// podMeta is the part of a Pod the rules read.
type podMeta struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
}

// load stores an object without judging it: a cluster object, or a
// manifest's context object.
func (c *checker) load(o *Object) error {
	switch o.Kind {
	case "Subnet":
		var obj kubeovnv1.Subnet
		if err := c.decode(o, o.Raw, &obj); err != nil {
			return err
		}
		c.store.UpsertSubnet(&obj)
	case "IP":
		var obj kubeovnv1.IP
		if err := c.decode(o, o.Raw, &obj); err != nil {
			return err
		}
		c.store.UpsertIP(&obj)
	case "IPPool":
		var obj kubeovnv1.IPPool
		if err := c.decode(o, o.Raw, &obj); err != nil {
			return err
		}
		c.store.UpsertIPPool(&obj)
	case "Vpc":
		var obj kubeovnv1.Vpc
		if err := c.decode(o, o.Raw, &obj); err != nil {
			return err
		}
		c.store.UpsertVpc(&obj)
	case "Vip":
		var obj kubeovnv1.Vip
		if err := c.decode(o, o.Raw, &obj); err != nil {
			return err
		}
		c.store.UpsertVip(&obj)
	case "Node":
		var obj corev1.Node
		if err := c.decode(o, o.Raw, &obj); err != nil {
			return err
		}
		c.store.UpsertNode(&obj)
	case "Namespace":
		var m podMeta
		if err := c.decode(o, o.Raw, &m); err != nil {
			return err
		}
		c.upsertNamespace(o.Name, m.Metadata.Labels)
	case "Pod":
		var m podMeta
		if err := c.decode(o, o.Raw, &m); err != nil {
			return err
		}
		m.Metadata.Namespace = o.Namespace
		c.store.UpsertPod(&m.Metadata)
	default: // workloads: only kept as the old object of updates
		var w admit.Workload
		if err := c.decode(o, o.Raw, &w); err != nil {
			return err
		}
	}
	c.stored[keyOf(o)] = o.Raw
	return nil
}

// upsertNamespace records a namespace with the kubernetes.io/metadata.name
// label the API server sets on every namespace (selectors use it).
func (c *checker) upsertNamespace(name string, labels map[string]string) {
	l := maps.Clone(labels)
	if l == nil {
		l = map[string]string{}
	}
	l[corev1.LabelMetadataName] = name
	c.store.UpsertNamespace(&metav1.ObjectMeta{Name: name, Labels: l})
}

// subject describes an object for the policy. Users and groups are
// unknown offline, so only namespace exemptions apply.
func (c *checker) subject(o *Object) policy.Subject {
	if !namespaced(o.Kind) {
		return policy.Subject{}
	}
	var labels map[string]string
	known := false
	c.store.Read(func(r inventory.Reader) { labels, known = r.Namespace(o.Namespace) })
	if !known {
		// The API server only admits objects into existing namespaces:
		// one the inputs never mention exists with its name label only.
		c.upsertNamespace(o.Namespace, nil)
		c.store.Read(func(r inventory.Reader) { labels, _ = r.Namespace(o.Namespace) })
	}
	return policy.Subject{Namespace: o.Namespace, NamespaceLabels: labels}
}

// judge runs the rules of one manifest object, decides, and stores it
// unless it is denied.
func (c *checker) judge(o *Object) (Judgement, error) {
	j := Judgement{Source: o.Source, APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name,
		Operation: Create, Findings: []Finding{}}
	old, exists := c.stored[keyOf(o)]
	if exists {
		j.Operation = Update
	}
	sub := c.subject(o)
	pol := c.cfg.Policy
	j.Mode, j.Exempt = string(pol.ModeFor(sub)), pol.Exempted(sub)
	skip := j.Exempt || pol.ModeFor(sub) == policy.ModeOff
	audit := pol.ModeFor(sub) == policy.ModeAudit

	var (
		fs    []policy.Finding
		store func()
		err   error
	)
	switch o.Kind {
	case "Subnet":
		fs, store, err = c.subnet(o, old, exists, skip, audit, &j)
	case "IP":
		fs, store, err = judgeSpec(c, o, old, exists, skip, validate.IPCreate, validate.IPUpdate, c.store.UpsertIP)
	case "IPPool":
		fs, store, err = judgeSpec(c, o, old, exists, skip, validate.IPPoolCreate, validate.IPPoolUpdate, c.store.UpsertIPPool)
	case "Pod":
		fs, store, err = c.pod(o, exists, skip, audit, &j)
	default:
		fs, store, err = c.workload(o, old, exists, skip)
	}
	if err != nil {
		return j, err
	}
	if skip {
		switch {
		case j.Exempt:
			j.Note = "namespace " + o.Namespace + " is exempt in the configuration: not judged"
		default:
			j.Note = "mode off: not judged"
		}
	}
	dec := pol.Decide(sub, fs)
	for _, a := range dec.Applied {
		j.Findings = append(j.Findings, Finding{Rule: string(a.Rule), Action: a.Action, Field: a.Field, Message: a.Message})
	}
	switch {
	case len(dec.Deny) > 0:
		j.Result = Denied
	case len(dec.Warnings) > 0:
		j.Result = Warned
	default:
		j.Result = Allowed
	}
	if j.Result != Denied {
		store()
	}
	return j, nil
}

// read runs fn against the inventory.
func (c *checker) read(fn func(r inventory.Reader)) { c.store.Read(fn) }

func (c *checker) subnet(o *Object, oldRaw []byte, exists, skip, audit bool, j *Judgement) ([]policy.Finding, func(), error) {
	var obj, old kubeovnv1.Subnet
	if err := c.decode(o, o.Raw, &obj); err != nil {
		return nil, nil, err
	}
	var oldFields *mutate.SubnetFields
	if exists {
		if err := c.decode(o, oldRaw, &old); err != nil {
			return nil, nil, err
		}
		oldFields = &mutate.SubnetFields{CIDRBlock: old.Spec.CIDRBlock, Gateway: old.Spec.Gateway, Protocol: old.Spec.Protocol, ExcludeIPs: old.Spec.ExcludeIps}
	}
	if !skip {
		// The defaulting webhook (msubnet) runs first: the rules judge
		// the canonical form, except in audit mode, where nothing is
		// rewritten.
		out, changes := mutate.DefaultSubnet(oldFields, mutate.SubnetFields{CIDRBlock: obj.Spec.CIDRBlock, Gateway: obj.Spec.Gateway, Protocol: obj.Spec.Protocol, ExcludeIPs: obj.Spec.ExcludeIps})
		j.Defaulted = defaulted(changes, audit)
		if !audit && len(changes) > 0 {
			obj.Spec.CIDRBlock, obj.Spec.Gateway, obj.Spec.Protocol, obj.Spec.ExcludeIps = out.CIDRBlock, out.Gateway, out.Protocol, out.ExcludeIPs
		}
	}
	var fs []policy.Finding
	if !skip {
		c.read(func(r inventory.Reader) {
			if exists {
				fs = admit.SubnetUpdate(r, c.cfg, &old, &obj)
			} else {
				fs = admit.SubnetCreate(r, c.cfg, &obj)
			}
		})
	}
	return fs, func() {
		c.store.UpsertSubnet(&obj)
		c.stored[keyOf(o)] = jsonOr(&obj, o.Raw)
	}, nil
}

// judgeSpec decodes an object of a kind whose rules need nothing but the
// object (and the old one on update), judges it unless skip, and returns
// how to store it once admitted.
func judgeSpec[T any](c *checker, o *Object, oldRaw []byte, exists, skip bool,
	create func(inventory.Reader, validate.Defaults, *T) []policy.Finding,
	update func(inventory.Reader, validate.Defaults, *T, *T) []policy.Finding,
	store func(*T)) ([]policy.Finding, func(), error) {
	var obj, old T
	if err := c.decode(o, o.Raw, &obj); err != nil {
		return nil, nil, err
	}
	if exists {
		if err := c.decode(o, oldRaw, &old); err != nil {
			return nil, nil, err
		}
	}
	var fs []policy.Finding
	if !skip {
		c.read(func(r inventory.Reader) {
			if exists {
				fs = update(r, c.cfg.Defaults, &old, &obj)
			} else {
				fs = create(r, c.cfg.Defaults, &obj)
			}
		})
	}
	return fs, func() {
		store(&obj)
		c.stored[keyOf(o)] = o.Raw
	}, nil
}

func (c *checker) pod(o *Object, exists, skip, audit bool, j *Judgement) ([]policy.Finding, func(), error) {
	var m podMeta
	if err := c.decode(o, o.Raw, &m); err != nil {
		return nil, nil, err
	}
	meta := &m.Metadata
	meta.Namespace = o.Namespace
	store := func() {
		c.store.UpsertPod(meta)
		c.stored[keyOf(o)] = o.Raw
	}
	if exists {
		// The Pod webhooks judge creations only.
		j.Note = "the pod exists: pod updates are not judged"
		return nil, store, nil
	}
	if skip {
		return nil, store, nil
	}
	var fs []policy.Finding
	if !admit.StaticPod(meta.Annotations) {
		c.read(func(r inventory.Reader) { fs = admit.PodCapacity(r, c.cfg, o.Namespace) })
		return fs, store, nil
	}
	// The defaulting webhook (mpod) runs first.
	var set []mutate.AnnotationChange
	var changes []mutate.Change
	c.read(func(r inventory.Reader) {
		set, changes = mutate.DefaultPodAnnotations(meta.Annotations, func(ir annotations.Request) []netip.Prefix {
			var blocks []netip.Prefix
			for _, sn := range validate.ResolveSubnets(r, c.cfg.Defaults, o.Namespace, ir) {
				blocks = append(blocks, sn.Spec.Blocks...)
			}
			return blocks
		})
	})
	j.Defaulted = defaulted(changes, audit)
	if !audit && len(set) > 0 {
		meta.Annotations = maps.Clone(meta.Annotations)
		for _, s := range set {
			meta.Annotations[s.Key] = s.Value
		}
	}
	in := admit.PodInput(o.Namespace, meta)
	// Offline there are no admissions in flight: a pod admitted earlier
	// in the manifests is stored as a pending pod, which is how the
	// webhook sees it once the API server has it.
	c.read(func(r inventory.Reader) { fs, _ = admit.Pod(r, c.cfg, in, nil) })
	return fs, store, nil
}

func (c *checker) workload(o *Object, oldRaw []byte, exists, skip bool) ([]policy.Finding, func(), error) {
	var obj, old admit.Workload
	if err := c.decode(o, o.Raw, &obj); err != nil {
		return nil, nil, err
	}
	if exists {
		if err := c.decode(o, oldRaw, &old); err != nil {
			return nil, nil, err
		}
	}
	store := func() { c.stored[keyOf(o)] = o.Raw }
	if skip {
		return nil, store, nil
	}
	var fs []policy.Finding
	in := obj.Input(o.Kind, o.Namespace, o.Name)
	var oldIn *validate.WorkloadInput
	if exists {
		x := old.Input(o.Kind, o.Namespace, o.Name)
		oldIn = &x
	}
	// The workload webhook (vworkload): templates with Kube-OVN
	// annotations, old or new, of workloads no other workload controls.
	if !obj.Derived(o.Kind) && (admit.StaticPod(in.Annotations) || (oldIn != nil && admit.StaticPod(oldIn.Annotations))) {
		c.read(func(r inventory.Reader) { fs = admit.WorkloadRules(r, c.cfg, oldIn, in) })
	}
	// The capacity webhook (vworkloadcapacity): creations and scale-ups.
	if admit.CapacityKind(o.Kind) && obj.CapacityJudged() {
		added := obj.Replicas(false)
		if exists {
			added -= old.Replicas(false)
		}
		if added > 0 {
			c.read(func(r inventory.Reader) {
				fs = append(fs, admit.WorkloadCapacity(r, c.cfg, o.Namespace, obj.Spec.Template.Metadata.Annotations, added, obj.Replicas(false))...)
			})
		}
	}
	return fs, store, nil
}

// defaulted renders the defaulters' changes as the warnings they return.
func defaulted(changes []mutate.Change, audit bool) []string {
	out := mutate.Warnings(changes)
	if audit {
		for i := range out {
			out[i] += " (audit mode: not applied)"
		}
	}
	return out
}

// jsonOr encodes v, or returns fallback if it cannot (a typed object
// always encodes).
func jsonOr(v any, fallback []byte) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return fallback
	}
	return b
}
