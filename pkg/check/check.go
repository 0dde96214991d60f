// Package check judges manifests before they are applied, with the
// webhook's rules: the judging half of `kubectl ipam check`. The cluster
// state comes from the caller (--snapshot files read with Reader, or the
// live cluster read by pkg/clusterstate), as does who applies.
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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamguard/ipamguard/pkg/admit"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
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
	// User and Groups are who applies the manifests, as the webhook would
	// see them in the admission requests (kubectl's --as and --as-group,
	// or the user of a live cluster's kubeconfig): the configuration's
	// user and group exemptions apply to them. A User of "" is unknown:
	// then only namespace exemptions apply.
	User   string
	Groups []string
	// State says what the cluster objects are, for the report.
	State State
}

// State says what a check judged against.
type State struct {
	// Source is "live" (read from the API server), "snapshot" (read from
	// files) or "none" (the manifests alone).
	Source string `json:"source"`
	// Server and Context name the API server and kubeconfig context of a
	// live read.
	Server  string `json:"server,omitempty"`
	Context string `json:"context,omitempty"`
	// Files are the snapshot files, as given.
	Files []string `json:"files,omitempty"`
}

// Requester is who the manifests were judged as applied by.
type Requester struct {
	User   string   `json:"user"`
	Groups []string `json:"groups"`
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
	// Exempt is true when the configuration exempts its namespace, the
	// requesting user or one of the user's groups.
	Exempt bool   `json:"exempt,omitempty"`
	Result Result `json:"result"`
	// Findings lists what the rules found that was not off, as the client
	// sees it, in the webhook's order; never null.
	Findings []policy.Applied `json:"findings"`
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
	// Cluster counts the objects loaded from the cluster state (the live
	// cluster or the --snapshot files).
	Cluster int `json:"cluster"`
}

// Report is the outcome of a check.
type Report struct {
	// State is what the manifests were judged against.
	State State `json:"state"`
	// Requester is who they were judged as applied by; nil when unknown.
	Requester *Requester  `json:"requester,omitempty"`
	Objects   []Judgement `json:"objects"`
	Skipped   []Skipped   `json:"skipped"`
	Summary   Summary     `json:"summary"`
}

// Denied reports whether any object was denied.
func (r *Report) Denied() bool { return r.Summary.Denied > 0 }

// kind classes.
type class int

const (
	unknown class = iota
	judged
	contextOnly
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
		case "Vpc", "Vip":
			return contextOnly
		}
	case "":
		switch kind {
		case "Namespace", "Node":
			return contextOnly
		}
	}
	if groupOf[kind] == group && admit.Judged(kind) {
		return judged
	}
	return unknown
}

// groupOf is the API group of each kind the pipeline judges.
var groupOf = map[string]string{
	"Subnet": kubeovnv1.GroupVersion.Group, "IP": kubeovnv1.GroupVersion.Group, "IPPool": kubeovnv1.GroupVersion.Group,
	"Pod":                   "",
	validate.KindDeployment: "apps", validate.KindReplicaSet: "apps", validate.KindStatefulSet: "apps", validate.KindDaemonSet: "apps",
	validate.KindJob: "batch", validate.KindCronJob: "batch",
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
	cfg    *config.Config
	ns     string
	user   string
	groups []string
	store  *inventory.Store
	// stored holds the JSON of every stored object of a known kind, the
	// old object of an update.
	stored map[key][]byte
	// engine is the admission pipeline over store.
	engine *admit.Engine
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
	c := &checker{cfg: opts.Config, ns: opts.Namespace, user: opts.User, groups: opts.Groups, stored: map[key][]byte{}}
	if c.cfg == nil {
		c.cfg = config.Default()
	}
	if c.ns == "" {
		c.ns = "default"
	}
	c.store = inventory.New(c.cfg.Defaults.VPC)
	c.engine = &admit.Engine{Store: c.store, Config: func() *config.Config { return c.cfg }}
	rep := &Report{State: opts.State, Objects: []Judgement{}, Skipped: []Skipped{}}
	if rep.State.Source == "" {
		rep.State.Source = "none"
		if len(cluster) > 0 {
			rep.State.Source = "snapshot"
		}
	}
	if opts.User != "" {
		rep.Requester = &Requester{User: opts.User, Groups: append([]string{}, opts.Groups...)}
	}
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
		case contextOnly:
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
	case !admit.Namespaced(o.Kind):
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

// ensureNamespace records the namespace of a namespaced object: the API
// server only admits objects into existing namespaces, so one the inputs
// never mention exists with its name label only.
func (c *checker) ensureNamespace(o *Object) {
	if !admit.Namespaced(o.Kind) {
		return
	}
	known := false
	c.store.Read(func(r inventory.Reader) { _, known = r.Namespace(o.Namespace) })
	if !known {
		c.upsertNamespace(o.Namespace, nil)
	}
}

// judge runs one manifest object through the admission pipeline (every
// webhook's stage in the API server's order: defaulting, then validation),
// as requested by the check's user and groups, and stores it unless it is
// denied.
func (c *checker) judge(o *Object) (Judgement, error) {
	j := Judgement{Source: o.Source, APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name,
		Operation: Create, Findings: []policy.Applied{}}
	old, exists := c.stored[keyOf(o)]
	req := admit.Request{Kind: o.Kind, Operation: admit.Create, Namespace: o.Namespace, Name: o.Name,
		Object: o.Raw, User: c.user, Groups: c.groups, Stages: admit.AllStages}
	if exists {
		j.Operation = Update
		req.Operation, req.OldObject = admit.Update, old
	}
	c.ensureNamespace(o)
	out, err := c.engine.Review(context.Background(), &req)
	if err != nil {
		return j, c.pipelineError(o, err)
	}
	j.Mode, j.Exempt, j.Defaulted = string(out.Mode), out.Exempt, out.Defaulted
	switch {
	case out.Exempt:
		j.Note = c.exemptNote(o.Namespace)
	case out.Mode == policy.ModeOff:
		j.Note = "mode off: not judged"
	case o.Kind == "Pod" && exists:
		// The Pod webhooks judge creations only.
		j.Note = "the pod exists: " + out.Note
	}
	j.Findings = append(j.Findings, out.Decision.Applied...)
	switch {
	case out.Denied():
		j.Result = Denied
	case len(out.Decision.Warnings) > 0:
		j.Result = Warned
	default:
		j.Result = Allowed
	}
	if j.Result != Denied {
		if err := c.keep(o, out); err != nil {
			return j, err
		}
	}
	return j, nil
}

// exemptNote says which exemption of the configuration spared a request,
// in the order the policy looks at them.
func (c *checker) exemptNote(namespace string) string {
	var ex policy.Exemptions
	if c.cfg.Policy != nil {
		ex = c.cfg.Policy.Exempt
	}
	switch {
	case namespace != "" && slices.Contains(ex.Namespaces, namespace):
		return "namespace " + namespace + " is exempt in the configuration: not judged"
	case slices.Contains(ex.Users, c.user):
		return "user " + c.user + " is exempt in the configuration: not judged"
	}
	for _, g := range c.groups {
		if slices.Contains(ex.Groups, g) {
			return "group " + g + " (of user " + c.user + ") is exempt in the configuration: not judged"
		}
	}
	return "exempt in the configuration: not judged"
}

// Ref names an object a check may need from the cluster.
type Ref struct {
	APIVersion, Kind, Namespace, Name string
}

// Workloads lists the workloads of the manifests, each once, in the
// namespace they are applied to (namespace for those that name none, ""
// meaning "default"). A live check reads these, and no other workload,
// from the cluster: they are the old objects of updates, and listing
// every workload of a cluster would cost more than the check.
func Workloads(manifests []Object, namespace string) []Ref {
	if namespace == "" {
		namespace = "default"
	}
	var out []Ref
	seen := map[Ref]bool{}
	for _, o := range manifests {
		if classify(o.APIVersion, o.Kind) != judged || !validate.IsWorkloadKind(o.Kind) || o.Name == "" {
			continue
		}
		r := Ref{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		if r.Namespace == "" {
			r.Namespace = namespace
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// keep records an admitted manifest object as the rules judged it (after
// defaulting), so later objects see it.
func (c *checker) keep(o *Object, out *admit.Outcome) error {
	raw := o.Raw
	switch obj := out.Admitted.(type) {
	case *kubeovnv1.Subnet:
		c.store.UpsertSubnet(obj)
		raw = jsonOr(obj, o.Raw)
	case *kubeovnv1.IP:
		c.store.UpsertIP(obj)
	case *kubeovnv1.IPPool:
		c.store.UpsertIPPool(obj)
	case *metav1.ObjectMeta:
		obj.Namespace = o.Namespace
		c.store.UpsertPod(obj)
	case nil:
		if o.Kind == "Pod" || !validate.IsWorkloadKind(o.Kind) {
			// Exempt or off: not decoded by the pipeline, stored as is.
			if err := c.load(o); err != nil {
				return err
			}
			return nil
		}
	}
	c.stored[keyOf(o)] = raw
	return nil
}

// pipelineError turns an object the pipeline could not read into an input
// error naming the object, as the API server would refuse it.
func (c *checker) pipelineError(o *Object, err error) error {
	var de *admit.DecodeError
	if errors.As(err, &de) {
		return c.inputError(o, fmt.Errorf("read %s %s: %s", o.Kind, o.Name, describeDecodeError(de.Err)))
	}
	return c.inputError(o, err)
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
