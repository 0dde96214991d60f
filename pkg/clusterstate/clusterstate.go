// Package clusterstate reads the cluster state ipamguard's kubectl commands
// work on from a live API server, through the user's kubeconfig, and tells
// who that user is there.
//
// `kubectl ipam check` reads the Inventory (Subnets, IPs, IPPools, Vpcs,
// Vips, Namespaces, Nodes, Pods as metadata) with Read, which fails when
// any of it cannot be read, and the workloads its manifests name with
// Fetch. The doctor and `kubectl ipam snapshot` read the DoctorInventory
// (also whole Pods, StatefulSets, KubeVirt VMs, warning events about pods
// and ServiceCIDRs) with Stream, which hands over each object as its page
// arrives and turns a list that is forbidden or times out into a Failure
// the doctor reports as a gap, not an error.
//
// Lists are paginated (limit and continue, as `kubectl get --chunk-size`
// does); MetadataOnly resources are read as PartialObjectMetadataList.
package clusterstate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// Resource is one kind of object, as the API server serves it.
type Resource struct {
	// Group ("" for the core group) and Version of the API.
	Group, Version string
	// Resource is the plural name in URLs: subnets.
	Resource string
	Kind     string
	// Namespaced resources are listed across all namespaces, or in
	// Namespace only when it is set.
	Namespaced bool
	Namespace  string
	// MetadataOnly resources are read as metadata only: the API server is
	// asked for a PartialObjectMetadataList and, if it cannot answer so,
	// sends whole objects, of which only the metadata is kept.
	MetadataOnly bool
	// FieldSelector, when set, narrows the list on the server
	// (involvedObject.kind=Pod).
	FieldSelector string
	// LabelSelector, when set, narrows the list on the server
	// (ipamguard.io/reservation=true).
	LabelSelector string
	// Optional resources may not be served (KubeVirt, ServiceCIDRs before
	// Kubernetes 1.33): Stream skips them without a failure.
	Optional bool
}

// APIVersion is group/version, or the version of the core group.
func (r Resource) APIVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

// String names the resource as kubectl does: pods, subnets.kubeovn.io.
func (r Resource) String() string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// path is the URL path of the collection (name "") or of one object;
// namespace "" is every namespace.
func (r Resource) path(namespace, name string) string {
	var b strings.Builder
	if r.Group == "" {
		b.WriteString("/api/" + r.Version)
	} else {
		b.WriteString("/apis/" + r.Group + "/" + r.Version)
	}
	if namespace != "" {
		b.WriteString("/namespaces/" + namespace)
	}
	b.WriteString("/" + r.Resource)
	if name != "" {
		b.WriteString("/" + name)
	}
	return b.String()
}

// Inventory lists what the rules need of a cluster, in the order it is
// loaded: Namespaces (labels) and Nodes (InternalIPs), then the Kube-OVN
// objects, then Pods (IPAM annotations, owners, labels).
func Inventory() []Resource {
	kubeovn := kubeovnv1.GroupVersion
	return []Resource{
		{Version: "v1", Resource: "namespaces", Kind: "Namespace", MetadataOnly: true},
		{Version: "v1", Resource: "nodes", Kind: "Node"},
		{Group: kubeovn.Group, Version: kubeovn.Version, Resource: "vpcs", Kind: "Vpc"},
		{Group: kubeovn.Group, Version: kubeovn.Version, Resource: "subnets", Kind: "Subnet"},
		{Group: kubeovn.Group, Version: kubeovn.Version, Resource: "ippools", Kind: "IPPool"},
		{Group: kubeovn.Group, Version: kubeovn.Version, Resource: "ips", Kind: "IP"},
		{Group: kubeovn.Group, Version: kubeovn.Version, Resource: "vips", Kind: "Vip"},
		{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true, MetadataOnly: true},
	}
}

// workloadGroups maps the workload kinds the rules judge to their API
// group.
var workloadGroups = map[string]string{
	"Deployment": "apps", "ReplicaSet": "apps", "StatefulSet": "apps", "DaemonSet": "apps",
	"Job": "batch", "CronJob": "batch",
}

// Workload is the resource of a workload kind (Deployment, ReplicaSet,
// StatefulSet, DaemonSet, Job, CronJob) at apiVersion; false for any
// other kind or group. Workloads are not listed: a command reads the few
// it needs (the old objects of updates) one by one.
func Workload(apiVersion, kind string) (Resource, bool) {
	group, version, ok := strings.Cut(apiVersion, "/")
	if !ok || workloadGroups[kind] != group || version == "" {
		return Resource{}, false
	}
	return Resource{Group: group, Version: version, Resource: strings.ToLower(kind) + "s", Kind: kind, Namespaced: true}, true
}

// Object is one object read from the cluster.
type Object struct {
	APIVersion, Kind, Namespace, Name string
	// Raw is the object as JSON with apiVersion and kind set; of a
	// MetadataOnly resource, only apiVersion, kind and metadata.
	Raw []byte
}

// DefaultChunkSize is how many objects a list page holds when the reader
// is given no size: kubectl's default.
const DefaultChunkSize = 500

// Reader reads objects from one API server.
type Reader struct {
	server    string
	chunkSize int64
	client    *rest.RESTClient
}

// NewReader returns a reader for the API server of cfg that lists
// chunkSize objects per page (0: DefaultChunkSize).
func NewReader(cfg *rest.Config, chunkSize int64) (*Reader, error) {
	if chunkSize < 0 {
		return nil, fmt.Errorf("chunk size %d: must not be negative", chunkSize)
	}
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	c := rest.CopyConfig(cfg)
	// The reads are sequential, one page at a time: the API server's
	// priority and fairness paces them, a client-side limit of 5 per
	// second would only make a large cluster slow to read.
	c.QPS = -1
	scheme := runtime.NewScheme()
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"}) // Status, for errors
	c.ContentConfig = rest.ContentConfig{
		AcceptContentTypes:   "application/json",
		ContentType:          "application/json",
		NegotiatedSerializer: serializer.NewCodecFactory(scheme).WithoutConversion(),
	}
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	client, err := rest.UnversionedRESTClientFor(c)
	if err != nil {
		return nil, err
	}
	return &Reader{server: strings.TrimSuffix(cfg.Host, "/"), chunkSize: chunkSize, client: client}, nil
}

// Server is the API server's address.
func (r *Reader) Server() string { return r.server }

// Read lists every resource in order and returns their objects. A
// resource the API server does not serve (Kube-OVN's CRDs missing) or
// does not let the user list does not stop the others: every one is named
// in one *ReadError. When the server cannot be reached at all, Read stops
// at the first failure.
func (r *Reader) Read(ctx context.Context, resources []Resource) ([]Object, error) {
	var out []Object
	rerr := &ReadError{Server: r.server}
	for _, res := range resources {
		objs, err := r.collect(ctx, res, r.chunkSize)
		if apierrors.IsResourceExpired(err) {
			// As List, without the objects of the first pages twice.
			objs, err = r.collect(ctx, res, 0)
		}
		if err != nil {
			rerr.Failures = append(rerr.Failures, Failure{Resource: res, Err: err})
			if !answered(err) {
				break
			}
			continue
		}
		out = append(out, objs...)
	}
	if len(rerr.Failures) > 0 {
		return nil, rerr
	}
	return out, nil
}

// collect lists res in pages of limit objects (0: in one piece).
func (r *Reader) collect(ctx context.Context, res Resource, limit int64) ([]Object, error) {
	var objs []Object
	err := r.list(ctx, res, limit, func(o Object) error {
		objs = append(objs, o)
		return nil
	})
	return objs, err
}

// answered reports whether the API server answered (with an error
// status), as opposed to a failure to reach it.
func answered(err error) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status)
}

// List reads every object of res, page by page, and calls visit for each.
// A continue token that expired between pages (the list outlived the API
// server's compaction window) restarts the list in one piece, as
// client-go's pager does; objects already visited are then visited again.
func (r *Reader) List(ctx context.Context, res Resource, visit func(Object) error) error {
	err := r.list(ctx, res, r.chunkSize, visit)
	if apierrors.IsResourceExpired(err) {
		return r.list(ctx, res, 0, visit)
	}
	return err
}

// metadataAccept asks for metadata only, and for whole objects from an API
// server that cannot answer so.
const metadataAccept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"

// list reads res in pages of limit objects (0: in one piece).
func (r *Reader) list(ctx context.Context, res Resource, limit int64, visit func(Object) error) error {
	cont := ""
	for {
		req := r.client.Get().AbsPath(res.path(res.Namespace, ""))
		if limit > 0 {
			req.Param("limit", strconv.FormatInt(limit, 10))
		}
		if cont != "" {
			req.Param("continue", cont)
		}
		if res.FieldSelector != "" {
			req.Param("fieldSelector", res.FieldSelector)
		}
		if res.LabelSelector != "" {
			req.Param("labelSelector", res.LabelSelector)
		}
		if res.MetadataOnly {
			req.SetHeader("Accept", metadataAccept)
		}
		body, err := do(ctx, req)
		if err != nil {
			return err
		}
		var page struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("read the list of %s: %w", res, err)
		}
		for _, item := range page.Items {
			o, err := objectOf(res, item)
			if err != nil {
				return err
			}
			if err := visit(o); err != nil {
				return err
			}
		}
		if page.Metadata.Continue == "" {
			return nil
		}
		cont = page.Metadata.Continue
	}
}

// Get reads one object of res; found is false when it does not exist.
func (r *Reader) Get(ctx context.Context, res Resource, namespace, name string) (o Object, found bool, err error) {
	req := r.client.Get().AbsPath(res.path(namespace, name))
	if res.MetadataOnly {
		req.SetHeader("Accept", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json")
	}
	body, err := do(ctx, req)
	switch {
	case apierrors.IsNotFound(err) && notFoundObject(err):
		return Object{}, false, nil
	case err != nil:
		return Object{}, false, &ReadError{Server: r.server, Failures: []Failure{{Resource: res, Err: err}}}
	}
	o, err = objectOf(res, body)
	return o, err == nil, err
}

// Ref names one object of a resource.
type Ref struct {
	Resource        Resource
	Namespace, Name string
}

// Fetch reads the objects refs name, leaving out those that do not exist.
// Every ref that cannot be read is named in one *ReadError; when the
// server cannot be reached at all, Fetch stops at the first failure.
func (r *Reader) Fetch(ctx context.Context, refs []Ref) ([]Object, error) {
	var out []Object
	rerr := &ReadError{Server: r.server}
	for _, ref := range refs {
		o, found, err := r.Get(ctx, ref.Resource, ref.Namespace, ref.Name)
		var re *ReadError
		if errors.As(err, &re) {
			rerr.Failures = append(rerr.Failures, re.Failures...)
			if !answered(err) {
				break
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, o)
		}
	}
	if len(rerr.Failures) > 0 {
		return nil, rerr
	}
	return out, nil
}

// notFoundObject tells "no such object" from "no such resource" (a 404
// for the collection: the API is not served), which the API server
// reports without details of the object.
func notFoundObject(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Name != ""
}

// do sends req and returns the body, or the API server's error status.
func do(ctx context.Context, req *rest.Request) ([]byte, error) {
	res := req.Do(ctx)
	if err := res.Error(); err != nil {
		return nil, err
	}
	return res.Raw()
}

// objectOf reads one item of a list (or one object) of res.
func objectOf(res Resource, raw []byte) (Object, error) {
	var h struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Metadata   json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return Object{}, fmt.Errorf("read an object of %s: %w", res, err)
	}
	var m struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	}
	if len(h.Metadata) > 0 {
		if err := json.Unmarshal(h.Metadata, &m); err != nil {
			return Object{}, fmt.Errorf("read the metadata of an object of %s: %w", res, err)
		}
	}
	o := Object{APIVersion: res.APIVersion(), Kind: res.Kind, Namespace: m.Namespace, Name: m.Name}
	switch {
	case res.MetadataOnly:
		meta := h.Metadata
		if len(meta) == 0 {
			meta = json.RawMessage("{}")
		}
		o.Raw = fmt.Appendf(nil, `{"apiVersion":%q,"kind":%q,"metadata":%s}`, o.APIVersion, o.Kind, meta)
	case h.APIVersion == "" || h.Kind == "":
		// Items of built-in lists come without apiVersion and kind.
		body := bytes.TrimSpace(raw)
		head := fmt.Appendf(nil, `{"apiVersion":%q,"kind":%q`, o.APIVersion, o.Kind)
		if rest := bytes.TrimSpace(body[1:]); len(rest) > 0 && rest[0] != '}' {
			head = append(head, ',')
		}
		o.Raw = append(head, body[1:]...)
	default:
		o.Raw = raw
	}
	return o, nil
}

// ReadError names every resource that could not be read, and why.
type ReadError struct {
	// Server is the API server's address.
	Server   string
	Failures []Failure
}

// Failure is one resource that could not be read.
type Failure struct {
	Resource Resource
	Err      error
}

func (e *ReadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cannot read the cluster state from %s:", e.Server)
	for _, f := range e.Failures {
		b.WriteString("\n  " + f.describe())
	}
	return b.String()
}

// Unwrap returns the causes.
func (e *ReadError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f.Err
	}
	return errs
}

// NotServed reports whether the failure is a resource the API server does
// not serve (its CRD is not installed).
func (f Failure) NotServed() bool { return apierrors.IsNotFound(f.Err) && !notFoundObject(f.Err) }

func (f Failure) describe() string {
	switch {
	case f.NotServed():
		hint := ""
		if f.Resource.Group == kubeovnv1.GroupVersion.Group {
			hint = " (are Kube-OVN's CRDs installed?)"
		}
		return fmt.Sprintf("%s: %s is not served by the API server%s", f.Resource, f.Resource.APIVersion(), hint)
	case apierrors.IsForbidden(f.Err):
		// The API server's message names the user, the verb and the
		// resource.
		return f.Err.Error()
	}
	return fmt.Sprintf("%s: %v", f.Resource, f.Err)
}

// Well-known users and groups of the API server.
const (
	Anonymous       = "system:anonymous"
	Authenticated   = "system:authenticated"
	Unauthenticated = "system:unauthenticated"
	// ServiceAccountPrefix starts the user name of a service account:
	// system:serviceaccount:<namespace>:<name>.
	ServiceAccountPrefix = "system:serviceaccount:"
	// ServiceAccountsGroup holds every service account;
	// ServiceAccountsGroup + ":" + namespace those of one namespace.
	ServiceAccountsGroup = "system:serviceaccounts"
)

// User is who sends a request, as admission webhooks see it.
type User struct {
	Name   string   `json:"user"`
	Groups []string `json:"groups"`
}

// WhoAmI asks the API server who the reader's credentials are
// (SelfSubjectReview, `kubectl auth whoami`): the user and groups that
// admission webhooks see for the user's requests.
func (r *Reader) WhoAmI(ctx context.Context) (User, error) {
	body := []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)
	res := r.client.Post().AbsPath("/apis/authentication.k8s.io/v1/selfsubjectreviews").Body(body).Do(ctx)
	if err := res.Error(); err != nil {
		return User{}, fmt.Errorf("ask the API server who the user is (SelfSubjectReview): %w", err)
	}
	raw, err := res.Raw()
	if err != nil {
		return User{}, err
	}
	var review authenticationv1.SelfSubjectReview
	if err := json.Unmarshal(raw, &review); err != nil {
		return User{}, fmt.Errorf("read the SelfSubjectReview: %w", err)
	}
	ui := review.Status.UserInfo
	return User{Name: ui.Username, Groups: ui.Groups}, nil
}

// Impersonated is the user the API server makes of impersonation
// (kubectl's --as and --as-group), as k8s.io/apiserver's impersonation
// filter does: a service account's user name gets the service account
// groups when no group is given; every user but system:anonymous gets
// system:authenticated unless system:authenticated or
// system:unauthenticated is given; system:anonymous gets
// system:unauthenticated.
func Impersonated(name string, groups []string) User {
	g := slices.Clone(groups)
	if ns, ok := serviceAccountNamespace(name); ok && len(groups) == 0 {
		g = []string{ServiceAccountsGroup, ServiceAccountsGroup + ":" + ns}
	}
	switch {
	case name == Anonymous:
		if !slices.Contains(g, Unauthenticated) {
			g = append(g, Unauthenticated)
		}
	case !slices.Contains(g, Authenticated) && !slices.Contains(g, Unauthenticated):
		g = append(g, Authenticated)
	}
	return User{Name: name, Groups: g}
}

// serviceAccountNamespace is the namespace of a service account's user
// name; false when name is not one.
func serviceAccountNamespace(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, ServiceAccountPrefix)
	if !ok {
		return "", false
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 2 || parts[1] == "" || len(validation.IsDNS1123Label(parts[0])) > 0 {
		return "", false
	}
	return parts[0], true
}
