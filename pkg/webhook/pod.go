package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ipamguard/ipamguard/pkg/admit"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/review"
	"github.com/ipamguard/ipamguard/pkg/validate"
)

// PodPath is where the Pod validator is served.
const PodPath = "/validate-v1-pod"

// The Pod webhook fails open (Ignore): it sits on the path of every pod
// creation, and a webhook outage must never stop a cluster from starting
// pods (its own included). The API server only calls it for pods carrying
// Kube-OVN static-IP annotations (matchConditions, added by
// hack/webhookgen). sideEffects=NoneOnDryRun: an admitted pod's addresses
// are reserved in memory for a few seconds, never for dry-run requests.
// +kubebuilder:webhook:path=/validate-v1-pod,mutating=false,failurePolicy=ignore,sideEffects=NoneOnDryRun,groups="",resources=pods,verbs=create,versions=v1,name=vpod.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=3

// PodCapacityPath serves the pods without static-IP annotations (the
// complement of vpod's matchConditions), which only get exhaustion
// warnings: a subnet running dry is reported when the pod is created, not
// when it hangs in ContainerCreating. Fails open with a short timeout.
const PodCapacityPath = "/validate-v1-pod-capacity"

// +kubebuilder:webhook:path=/validate-v1-pod-capacity,mutating=false,failurePolicy=ignore,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=vpodcapacity.ipamguard.io,admissionReviewVersions=v1,timeoutSeconds=2

var podGK = schema.GroupKind{Kind: "Pod"}

// ReservationTTL is how long an admitted pod's claim on its addresses
// lasts: long enough for the pod to reach the informer cache, where it is
// seen as a pending pod.
const ReservationTTL = 30 * time.Second

// PodValidator admits pod creations with static-IP annotations. Check and
// reservation happen under one lock, so of many pods created at once with
// the same address exactly one is admitted.
type PodValidator struct {
	Deps
	Reservations *Reservations
}

// NewPodValidator returns the Pod validator.
func NewPodValidator(d Deps, res *Reservations) *PodValidator {
	return &PodValidator{Deps: d, Reservations: res}
}

// podMeta is the part of a Pod the rules read; the spec is never decoded.
type podMeta struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
}

// Handle implements admission.Handler.
func (v *PodValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	if req.Operation != admissionv1.Create {
		return v.allow(req, podGK, start)
	}
	var pod podMeta
	if err := review.DecodeObject(req.Object, &pod); err != nil {
		return v.fail(req, podGK, start, http.StatusBadRequest, fmt.Errorf("decode Pod %s/%s: %w", req.Namespace, req.Name, err))
	}
	if !admit.StaticPod(pod.Metadata.Annotations) {
		return v.capacity(ctx, req, &pod.Metadata, start)
	}
	in := admit.PodInput(req.Namespace, &pod.Metadata)
	if in.Name == "" {
		in.Name = req.Name
	}
	dryRun := req.DryRun != nil && *req.DryRun

	v.Reservations.mu.Lock()
	defer v.Reservations.mu.Unlock()
	var claims []validate.Claim
	resp, d := v.judge(ctx, req, podGK, start, func(r inventory.Reader, cfg *config.Config) []policy.Finding {
		var fs []policy.Finding
		fs, claims = admit.Pod(r, cfg, in, v.Reservations.locked())
		return fs
	})
	if resp.Allowed && len(d.Deny) == 0 && !dryRun {
		v.Reservations.reserveLocked(claims, in.Namespace, in.Owner())
	}
	return resp
}

// capacity judges a pod without fixed addresses: only whether the subnet
// it will land in is running out of addresses.
func (v *PodValidator) capacity(ctx context.Context, req admission.Request, meta *metav1.ObjectMeta, start time.Time) admission.Response {
	resp, _ := v.judge(ctx, req, podGK, start, func(r inventory.Reader, cfg *config.Config) []policy.Finding {
		return admit.PodCapacity(r, cfg, req.Namespace)
	})
	return resp
}

// Reservations remembers addresses claimed by pods admitted in the last
// ReservationTTL, until the pods show up in the inventory. It lives in
// this process only: with several replicas, each protects the requests it
// serves (documented in the operations guide).
type Reservations struct {
	mu        sync.Mutex
	m         map[validate.Claim]reservation
	ttl       time.Duration
	now       func() time.Time
	lastSweep time.Time
}

type reservation struct {
	namespace, owner string
	expires          time.Time
}

// NewReservations returns an empty table with the given TTL.
func NewReservations(ttl time.Duration) *Reservations {
	return &Reservations{m: map[validate.Claim]reservation{}, ttl: ttl, now: time.Now}
}

// lockedView reads the table while the caller holds its lock.
type lockedView struct{ r *Reservations }

func (r *Reservations) locked() lockedView { return lockedView{r} }

// Holder implements validate.Reservations.
func (l lockedView) Holder(subnet string, a netip.Addr) (string, string, bool) {
	res, ok := l.r.m[validate.Claim{Subnet: subnet, Addr: a}]
	if !ok || !l.r.now().Before(res.expires) {
		return "", "", false
	}
	return res.namespace, res.owner, true
}

func (r *Reservations) reserveLocked(claims []validate.Claim, namespace, owner string) {
	now := r.now()
	// Expired entries are swept at most once a second, keeping the work
	// per admission constant under load.
	if now.Sub(r.lastSweep) >= time.Second {
		r.lastSweep = now
		for c, res := range r.m {
			if !now.Before(res.expires) {
				delete(r.m, c)
			}
		}
	}
	for _, c := range claims {
		r.m[c] = reservation{namespace: namespace, owner: owner, expires: now.Add(r.ttl)}
	}
}

// Len returns the number of live reservations.
func (r *Reservations) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, res := range r.m {
		if r.now().Before(res.expires) {
			n++
		}
	}
	return n
}
