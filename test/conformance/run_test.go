package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/pkg/admit"
	"github.com/ipamguard/ipamguard/pkg/annotations"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/check"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/review"
	"github.com/ipamguard/ipamguard/pkg/webhook"
)

// object is a row's object with what both callers need to know about it.
type object struct {
	APIVersion, Kind, Namespace, Name string
	Raw                               []byte
}

type header struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
}

// parseObject reads the header of raw; namespaced kinds without a
// namespace get "default", as kubectl and the check give them.
func parseObject(raw []byte) (object, error) {
	var h header
	if err := json.Unmarshal(raw, &h); err != nil {
		return object{}, err
	}
	if h.Kind == "" || h.APIVersion == "" || h.Metadata.Name == "" {
		return object{}, fmt.Errorf("object without apiVersion, kind or metadata.name: %s", raw)
	}
	o := object{APIVersion: h.APIVersion, Kind: h.Kind, Namespace: h.Metadata.Namespace, Name: h.Metadata.Name, Raw: raw}
	if namespaced(o.Kind) && o.Namespace == "" {
		o.Namespace = "default"
	}
	if !namespaced(o.Kind) {
		o.Namespace = ""
	}
	return o, nil
}

// namespaced reports whether objects of kind live in a namespace.
func namespaced(kind string) bool {
	switch kind {
	case "Subnet", "IP", "IPPool", "Vpc", "Vip", "Node", "Namespace":
		return false
	}
	return true
}

// input is a row resolved into objects.
type input struct {
	user    string
	cfg     *config.Config
	cluster []object
	op      admit.Operation
	obj     object // zero on DELETE
	old     *object
}

func (r *Row) resolve(bases map[string][]json.RawMessage) (*input, error) {
	in := &input{cfg: config.Default(), user: r.User}
	if len(r.Config) > 0 && string(r.Config) != "null" {
		y, err := json.Marshal(json.RawMessage(r.Config))
		if err != nil {
			return nil, err
		}
		if in.cfg, err = config.Parse(y); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	base := r.Base
	if base == "" {
		base = "default"
	}
	objs, ok := bases[base]
	if !ok {
		return nil, fmt.Errorf("unknown base %q", base)
	}
	for _, raw := range append(slices.Clone(objs), r.State...) {
		o, err := parseObject(raw)
		if err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		in.cluster = append(in.cluster, o)
	}
	in.op = admit.Operation(r.Operation)
	if in.op == "" {
		in.op = admit.Create
		if len(r.Old) > 0 {
			in.op = admit.Update
		}
	}
	if len(r.Old) > 0 {
		o, err := parseObject(r.Old)
		if err != nil {
			return nil, fmt.Errorf("old: %w", err)
		}
		in.old = &o
		in.cluster = append(in.cluster, o)
	}
	switch in.op {
	case admit.Create, admit.Update:
		o, err := parseObject(r.Object)
		if err != nil {
			return nil, fmt.Errorf("object: %w", err)
		}
		in.obj = o
		if in.op == admit.Update && in.old == nil {
			return nil, errors.New("UPDATE without old")
		}
	case admit.Delete:
		if in.old == nil {
			return nil, errors.New("DELETE without old")
		}
	default:
		return nil, fmt.Errorf("unknown operation %q", in.op)
	}
	return in, nil
}

// --- the webhook side -------------------------------------------------------

// viaWebhook judges the row through the webhook's admission handlers, as
// the API server calls them: the mutating webhook of the kind first (its
// patch applied), then each validating webhook whose rules and
// matchConditions select the request.
func viaWebhook(in *input) (verdict, error) {
	store := inventory.New(in.cfg.Defaults.VPC)
	for _, o := range in.cluster {
		if err := load(store, o); err != nil {
			return verdict{}, err
		}
	}
	subject := in.obj
	if in.op == admit.Delete {
		subject = *in.old
	}
	if subject.Namespace != "" {
		known := false
		store.Read(func(r inventory.Reader) { _, known = r.Namespace(subject.Namespace) })
		if !known {
			upsertNamespace(store, subject.Namespace, nil)
		}
	}
	hs := webhook.HandlersByPath(webhook.Deps{Store: store, Synced: func() bool { return true }, Config: config.NewLive(in.cfg)})
	var v verdict
	if slices.Contains(webhook.ExcludedNamespaces(), subject.Namespace) {
		// The namespaceSelector keeps every namespaced webhook away.
		v.Verdict = Admit
		return v, nil
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "conformance",
		Kind:      gvkOf(subject),
		Resource:  metav1.GroupVersionResource{Group: groupOf(subject.APIVersion), Version: "v1", Resource: strings.ToLower(subject.Kind) + "s"},
		Namespace: subject.Namespace,
		Name:      subject.Name,
		Operation: admissionv1.Operation(in.op),
		UserInfo:  userInfo(in.user),
	}}
	if in.op != admit.Delete {
		req.Object.Raw = in.obj.Raw
	}
	if in.old != nil {
		req.OldObject.Raw = in.old.Raw
	}
	mutating, validating := paths(subject.Kind, in.op, req)
	for _, p := range mutating {
		resp := hs[p].Handle(context.Background(), req)
		if err := unjudged(p, resp); err != nil {
			return v, err
		}
		if len(resp.Patch) > 0 {
			v.Defaulted = true
			patch, err := jsonpatch.DecodePatch(resp.Patch)
			if err != nil {
				return v, fmt.Errorf("%s: decode patch: %w", p, err)
			}
			if req.Object.Raw, err = patch.Apply(req.Object.Raw); err != nil {
				return v, fmt.Errorf("%s: apply patch: %w", p, err)
			}
		}
	}
	v.Admitted = req.Object.Raw
	for _, p := range validating {
		resp := hs[p].Handle(context.Background(), req)
		if err := unjudged(p, resp); err != nil {
			return v, err
		}
		if !resp.Allowed {
			if resp.Result == nil {
				return v, fmt.Errorf("%s: denied without a status", p)
			}
			causes := 0
			if d := resp.Result.Details; d != nil {
				for _, c := range d.Causes {
					v.DenyRules = append(v.DenyRules, denyRules(c.Message)...)
					v.Messages = append(v.Messages, c.Field+": "+c.Message)
					causes++
				}
			}
			if causes == 0 { // 403 on delete: causes joined in the message
				v.DenyRules = append(v.DenyRules, denyRules(resp.Result.Message)...)
				v.Messages = append(v.Messages, resp.Result.Message)
			}
		}
		for _, w := range resp.Warnings {
			if id := warnRule(w); id != "" {
				v.WarnRules = append(v.WarnRules, id)
				v.Messages = append(v.Messages, w)
			}
		}
	}
	return finish(v), nil
}

// userInfo is the requester: by default a user with no exemption.
func userInfo(user string) authenticationv1.UserInfo {
	if user == "" {
		user = "conformance"
	}
	groups := []string{"system:authenticated"}
	if rest, ok := strings.CutPrefix(user, "system:serviceaccount:"); ok {
		ns, _, _ := strings.Cut(rest, ":")
		groups = append(groups, "system:serviceaccounts", "system:serviceaccounts:"+ns)
	}
	return authenticationv1.UserInfo{Username: user, Groups: groups}
}

// unjudged turns an answer the handler could not give (HTTP error) into
// an error: every row must be judged.
func unjudged(path string, resp admission.Response) error {
	if !resp.Allowed && resp.Result != nil && resp.Result.Code != http.StatusUnprocessableEntity &&
		resp.Result.Code != http.StatusForbidden {
		return fmt.Errorf("%s could not judge: %d %s", path, resp.Result.Code, resp.Result.Message)
	}
	return nil
}

// paths are the webhooks the API server calls for a request, in order
// (config/webhook/manifests.yaml): rules (kind, operation), namespace
// selector and matchConditions.
func paths(kind string, op admit.Operation, req admission.Request) (mutating, validating []string) {
	switch kind {
	case "Subnet":
		if op != admit.Delete {
			mutating = []string{webhook.SubnetDefaulterPath}
		}
		validating = []string{webhook.SubnetPath}
	case "IP":
		if op != admit.Delete {
			validating = []string{webhook.IPPath}
		}
	case "IPPool":
		if op != admit.Delete {
			validating = []string{webhook.IPPoolPath}
		}
	case "Pod":
		if op != admit.Create {
			return nil, nil
		}
		var m struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		_ = json.Unmarshal(req.Object.Raw, &m)
		if staticAnnotated(m.Metadata.Annotations) {
			mutating = []string{webhook.PodDefaulterPath}
			validating = []string{webhook.PodPath}
		} else {
			validating = []string{webhook.PodCapacityPath}
		}
	case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob":
		if op == admit.Delete {
			return nil, nil
		}
		if templateAnnotated(req.Object.Raw) || (len(req.OldObject.Raw) > 0 && templateAnnotated(req.OldObject.Raw)) {
			validating = append(validating, webhook.WorkloadPath)
		}
		switch kind {
		case "Deployment", "ReplicaSet", "StatefulSet":
			validating = append(validating, webhook.WorkloadCapacityPath)
		}
	}
	return mutating, validating
}

// staticAnnotated is the matchCondition of vpod and mpod: an annotation key
// containing ".kubernetes.io/<name>" for a static-IP or subnet name.
func staticAnnotated(a map[string]string) bool {
	for k := range a {
		for _, name := range annotations.StaticNames {
			if strings.Contains(k, annotations.Domain+name) {
				return true
			}
		}
	}
	return false
}

// templateAnnotated is vworkload's matchCondition on one object.
func templateAnnotated(raw []byte) bool {
	var w struct {
		Spec struct {
			Template struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			} `json:"template"`
			JobTemplate struct {
				Spec struct {
					Template struct {
						Metadata metav1.ObjectMeta `json:"metadata"`
					} `json:"template"`
				} `json:"spec"`
			} `json:"jobTemplate"`
		} `json:"spec"`
	}
	_ = json.Unmarshal(raw, &w)
	return staticAnnotated(w.Spec.Template.Metadata.Annotations) || staticAnnotated(w.Spec.JobTemplate.Spec.Template.Metadata.Annotations)
}

func gvkOf(o object) metav1.GroupVersionKind {
	v := o.APIVersion
	if i := strings.IndexByte(v, '/'); i >= 0 {
		v = v[i+1:]
	}
	return metav1.GroupVersionKind{Group: groupOf(o.APIVersion), Version: v, Kind: o.Kind}
}

func groupOf(apiVersion string) string {
	if i := strings.IndexByte(apiVersion, '/'); i >= 0 {
		return apiVersion[:i]
	}
	return ""
}

var (
	denyRuleRE = regexp.MustCompile(`\[([a-z0-9-]+(?:, [a-z0-9-]+)*)\]$`)
	warnRuleRE = regexp.MustCompile(`^\[([a-z0-9-]+)\] `)
)

// denyRules reads the rule IDs a denial cause ends with ("… [rule-id]").
func denyRules(msg string) []string {
	var out []string
	for part := range strings.SplitSeq(msg, "; ") {
		if m := denyRuleRE.FindStringSubmatch(strings.TrimSpace(part)); m != nil {
			out = append(out, strings.Split(m[1], ", ")...)
		}
	}
	return out
}

// warnRule reads the rule ID a rule warning starts with ("[rule-id] …");
// defaulting warnings carry none.
func warnRule(w string) string {
	if m := warnRuleRE.FindStringSubmatch(w); m != nil {
		return m[1]
	}
	return ""
}

// finish sets the verdict from the findings.
func finish(v verdict) verdict {
	v.DenyRules, v.WarnRules = uniqueSorted(v.DenyRules), uniqueSorted(v.WarnRules)
	switch {
	case len(v.DenyRules) > 0:
		v.Verdict = Deny
	case len(v.WarnRules) > 0:
		v.Verdict = Warn
	default:
		v.Verdict = Admit
	}
	return v
}

// load feeds one cluster object into the store as the informers do.
func load(s *inventory.Store, o object) error {
	decode := func(v any) error {
		if err := review.Unmarshal(o.Raw, v); err != nil {
			return fmt.Errorf("decode %s %s: %w", o.Kind, o.Name, err)
		}
		return nil
	}
	switch o.Kind {
	case "Subnet":
		var obj kubeovnv1.Subnet
		if err := decode(&obj); err != nil {
			return err
		}
		s.UpsertSubnet(&obj)
	case "IP":
		var obj kubeovnv1.IP
		if err := decode(&obj); err != nil {
			return err
		}
		s.UpsertIP(&obj)
	case "IPPool":
		var obj kubeovnv1.IPPool
		if err := decode(&obj); err != nil {
			return err
		}
		s.UpsertIPPool(&obj)
	case "Vpc":
		var obj kubeovnv1.Vpc
		if err := decode(&obj); err != nil {
			return err
		}
		s.UpsertVpc(&obj)
	case "Vip":
		var obj kubeovnv1.Vip
		if err := decode(&obj); err != nil {
			return err
		}
		s.UpsertVip(&obj)
	case "Node":
		var obj corev1.Node
		if err := decode(&obj); err != nil {
			return err
		}
		s.UpsertNode(&obj)
	case "Namespace":
		var h header
		if err := decode(&h); err != nil {
			return err
		}
		upsertNamespace(s, o.Name, h.Metadata.Labels)
	case "Pod":
		var h header
		if err := decode(&h); err != nil {
			return err
		}
		h.Metadata.Namespace = o.Namespace
		s.UpsertPod(&h.Metadata)
	}
	// Other kinds (workloads, NetworkAttachmentDefinitions, VMs) are not
	// in the inventory.
	return nil
}

// upsertNamespace records a namespace with the label the API server sets.
func upsertNamespace(s *inventory.Store, name string, labels map[string]string) {
	l := maps.Clone(labels)
	if l == nil {
		l = map[string]string{}
	}
	l[corev1.LabelMetadataName] = name
	s.UpsertNamespace(&metav1.ObjectMeta{Name: name, Labels: l})
}

// --- the kubectl ipam check side -------------------------------------------

// viaCheck judges the row with `kubectl ipam check`: the cluster state as
// --snapshot objects, the row's object as the one manifest.
func viaCheck(in *input) (verdict, error) {
	cluster := make([]check.Object, 0, len(in.cluster))
	for i, o := range in.cluster {
		cluster = append(cluster, checkObject(o, "cluster.yaml", i+1))
	}
	// The check is told the requester as kubectl ipam check --as and
	// --as-group tell it, so user and group exemptions apply alike.
	u := userInfo(in.user)
	rep, err := check.Run(check.Options{Config: in.cfg, User: u.Username, Groups: u.Groups}, cluster, []check.Object{checkObject(in.obj, "manifest.yaml", 1)})
	if err != nil {
		return verdict{}, err
	}
	if len(rep.Objects) != 1 {
		return verdict{}, fmt.Errorf("check judged %d objects, want 1 (skipped %+v)", len(rep.Objects), rep.Skipped)
	}
	j := rep.Objects[0]
	wantOp := check.Create
	if in.op == admit.Update {
		wantOp = check.Update
	}
	if j.Operation != wantOp {
		return verdict{}, fmt.Errorf("check judged the object as %s, want %s", j.Operation, wantOp)
	}
	var v verdict
	v.Defaulted = len(j.Defaulted) > 0
	for _, f := range j.Findings {
		switch {
		case j.Result == check.Denied && f.Action == "enforce":
			v.DenyRules = append(v.DenyRules, string(f.Rule))
		default:
			v.WarnRules = append(v.WarnRules, string(f.Rule))
		}
		v.Messages = append(v.Messages, f.Message)
	}
	v = finish(v)
	if want := map[string]check.Result{Admit: check.Allowed, Warn: check.Warned, Deny: check.Denied}[v.Verdict]; want != j.Result {
		return v, fmt.Errorf("check result %s disagrees with its findings (%s)", j.Result, v)
	}
	return v, nil
}

func checkObject(o object, file string, doc int) check.Object {
	return check.Object{Source: check.Source{File: file, Document: doc, Item: -1, Line: 1},
		APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Raw: o.Raw}
}
