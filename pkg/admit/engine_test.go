package admit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamguard/ipamguard/pkg/admit"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/reserve"
)

// engine is the pipeline over a fresh-install inventory with one pod's IP
// object, under the configuration yaml ("" for the defaults).
func engine(t testing.TB, yaml string) *admit.Engine {
	t.Helper()
	cfg := config.Default()
	if yaml != "" {
		var err error
		if cfg, err = config.Parse([]byte(yaml)); err != nil {
			t.Fatal(err)
		}
	}
	s := inventory.New("ovn-cluster")
	s.UpsertSubnet(&kubeovnv1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: "ovn-default"},
		Spec: kubeovnv1.SubnetSpec{CIDRBlock: "10.16.0.0/16", Gateway: "10.16.0.1", Vpc: "ovn-cluster"}})
	s.UpsertIP(&kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: "web-0.apps"},
		Spec: kubeovnv1.IPSpec{PodName: "web-0", Namespace: "apps", Subnet: "ovn-default", IPAddress: "10.16.0.9"}})
	s.UpsertNamespace(&metav1.ObjectMeta{Name: "apps", Labels: map[string]string{"kubernetes.io/metadata.name": "apps"}})
	s.UpsertNamespace(&metav1.ObjectMeta{Name: "quiet", Labels: map[string]string{policy.ModeLabel: "audit"}})
	return &admit.Engine{Store: s, Config: func() *config.Config { return cfg }, Reservations: reserve.New(time.Minute)}
}

func review(t *testing.T, e *admit.Engine, req admit.Request) *admit.Outcome {
	t.Helper()
	out, err := e.Review(context.Background(), &req)
	if err != nil {
		t.Fatalf("Review: %v", err)
	}
	return out
}

const dupSubnet = `{"apiVersion":"kubeovn.io/v1","kind":"Subnet","metadata":{"name":"dup"},"spec":{"cidrBlock":"10.16.5.7/24"}}`

func TestStagesRunInOrder(t *testing.T) {
	e := engine(t, "")
	req := admit.Request{Kind: "Subnet", Operation: admit.Create, Name: "dup", Object: []byte(dupSubnet)}

	req.Stages = admit.Default
	out := review(t, e, req)
	if len(out.Patch) == 0 || len(out.Defaulted) == 0 || len(out.Findings) != 0 {
		t.Fatalf("default stage: patch %v, defaulted %q, findings %v", out.Patch, out.Defaulted, out.Findings)
	}

	// Validation alone judges the object as sent: the host bits are a
	// subnet-invalid finding.
	req.Stages = admit.Validate
	out = review(t, e, req)
	if !out.Denied() || !hasRule(out, policy.SubnetInvalid) || hasRule(out, policy.SubnetOverlap) {
		t.Fatalf("validate stage: %+v", out.Decision.Applied)
	}

	// All stages: validation judges the defaulted object, as the API
	// server hands validating webhooks the mutated one.
	req.Stages = admit.AllStages
	out = review(t, e, req)
	if hasRule(out, policy.SubnetInvalid) || !hasRule(out, policy.SubnetOverlap) {
		t.Fatalf("all stages: %+v", out.Decision.Applied)
	}
	sn, ok := out.Admitted.(*kubeovnv1.Subnet)
	if !ok || sn.Spec.CIDRBlock != "10.16.5.0/24" {
		t.Fatalf("admitted %#v, want the canonical Subnet", out.Admitted)
	}
}

func hasRule(out *admit.Outcome, id policy.RuleID) bool {
	for _, a := range out.Decision.Applied {
		if a.Rule == id {
			return true
		}
	}
	return false
}

func TestExemptAndOffRunNoRule(t *testing.T) {
	for _, c := range []struct{ yaml, note string }{
		{"exempt: {users: [ops]}\n", "exempt"},
		{"mode: off\n", "mode off"},
	} {
		e := engine(t, c.yaml)
		out := review(t, e, admit.Request{Kind: "Subnet", Operation: admit.Create, Name: "dup", Object: []byte(dupSubnet),
			User: "ops", Stages: admit.AllStages})
		if len(out.Findings) != 0 || out.Patch != nil || !strings.Contains(out.Note, c.note) {
			t.Errorf("%q: findings %v, patch %v, note %q", c.yaml, out.Findings, out.Patch, out.Note)
		}
	}
}

func TestAuditModeRewritesNothing(t *testing.T) {
	e := engine(t, "mode: audit\n")
	out := review(t, e, admit.Request{Kind: "Subnet", Operation: admit.Create, Name: "dup", Object: []byte(dupSubnet), Stages: admit.AllStages})
	if out.Patch != nil || len(out.Defaulted) == 0 || !strings.HasSuffix(out.Defaulted[0], "(audit mode: not applied)") {
		t.Fatalf("patch %v, defaulted %q", out.Patch, out.Defaulted)
	}
	if out.Denied() || len(out.Decision.Warnings) == 0 {
		t.Fatalf("audit mode denied or did not warn: %+v", out.Decision)
	}
}

func TestUnjudgedRequestsAreTypedErrors(t *testing.T) {
	e := engine(t, "")
	e.Synced = func() bool { return false }
	_, err := e.Review(context.Background(), &admit.Request{Kind: "Subnet", Operation: admit.Create, Name: "x", Object: []byte(dupSubnet), Stages: admit.Validate})
	var ae *admit.Error
	if !errors.As(err, &ae) || ae.Reason != admit.NotReady {
		t.Fatalf("not synced: err = %v", err)
	}
	// Defaulting a Subnet reads no inventory: it is answered before the sync.
	if _, err := e.Review(context.Background(), &admit.Request{Kind: "Subnet", Operation: admit.Create, Name: "x", Object: []byte(dupSubnet), Stages: admit.Default}); err != nil {
		t.Fatalf("Subnet defaulting before the sync: %v", err)
	}
	e.Synced = nil
	_, err = e.Review(context.Background(), &admit.Request{Kind: "Subnet", Operation: admit.Update, Name: "x",
		Object: []byte(dupSubnet), OldObject: []byte(`{"spec":{"cidrBlock":7}}`), Stages: admit.Validate})
	var de *admit.DecodeError
	if !errors.As(err, &ae) || ae.Reason != admit.BadObject || !errors.As(err, &de) || !de.Old || !strings.Contains(err.Error(), "decode old Subnet x") {
		t.Fatalf("bad old object: err = %v", err)
	}
}

func pod(name, addr string) []byte {
	return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `","namespace":"apps","annotations":{"ovn.kubernetes.io/ip_address":"` + addr + `"}}}`)
}

func TestPodClaimsAreReservedOnce(t *testing.T) {
	e := engine(t, "")
	req := admit.Request{Kind: "Pod", Operation: admit.Create, Namespace: "apps", Name: "a", Object: pod("a", "10.16.0.20"), Stages: admit.Validate}

	dry := req
	dry.DryRun = true
	out := review(t, e, dry)
	if out.Denied() || len(out.Claims) != 1 || e.Reservations.(*reserve.Table).Len() != 0 || out.Decision.Audit != nil {
		t.Fatalf("dry run: denied %v, claims %v, reservations %d", out.Denied(), out.Claims, e.Reservations.(*reserve.Table).Len())
	}
	if out = review(t, e, req); out.Denied() || e.Reservations.(*reserve.Table).Len() != 1 {
		t.Fatalf("first pod: denied %v, reservations %d", out.Denied(), e.Reservations.(*reserve.Table).Len())
	}
	other := req
	other.Name, other.Object = "b", pod("b", "10.16.0.20")
	if out = review(t, e, other); !out.Denied() || !hasRule(out, policy.PodIPTaken) {
		t.Fatalf("second pod for the same address: %+v", out.Decision.Applied)
	}
	// The same pod asking again (a retry) is the same owner.
	if out = review(t, e, req); out.Denied() {
		t.Fatalf("retry denied: %+v", out.Decision.Applied)
	}
	// Pods are judged on creation only.
	upd := req
	upd.Operation, upd.OldObject = admit.Update, req.Object
	if out = review(t, e, upd); len(out.Findings) != 0 || out.Note == "" {
		t.Fatalf("pod update: findings %v, note %q", out.Findings, out.Note)
	}
}

func TestUnknownKindIsNotJudged(t *testing.T) {
	out := review(t, engine(t, ""), admit.Request{Kind: "ConfigMap", Operation: admit.Create, Stages: admit.AllStages})
	if len(out.Findings) != 0 || out.Note == "" {
		t.Fatalf("ConfigMap: %+v", out)
	}
}

// A request that takes long to judge holds only the inventory's shared
// read lock: a fixed-IP pod of another namespace is judged and reserved
// meanwhile. Only the claims meet the reservations' lock (Engine.reserve),
// so no request's judgement can make another's wait past its timeout.
func TestJudgingHoldsNoExclusiveLock(t *testing.T) {
	e := engine(t, "")
	judging, release := make(chan struct{}), make(chan struct{})
	go e.Store.Read(func(inventory.Reader) {
		close(judging)
		<-release // a slow judgement of another request
	})
	<-judging
	defer close(release)
	done := make(chan *admit.Outcome)
	go func() {
		out, err := e.Review(context.Background(), &admit.Request{Kind: "Pod", Operation: admit.Create, Namespace: "apps", Name: "b",
			Object: pod("b", "10.16.0.30"), Stages: admit.Validate})
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	select {
	case out := <-done:
		if out == nil || out.Denied() || e.Reservations.(*reserve.Table).Len() != 1 {
			t.Fatalf("pod b: %+v, reservations %d", out, e.Reservations.(*reserve.Table).Len())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a pod waited for another request's judgement")
	}
}

// Exemptions are decided before anything can fail: an exempt user's
// request is neither refused while the inventory syncs nor for an object
// the pipeline cannot read (review finding).
func TestExemptBeforeSyncAndDecode(t *testing.T) {
	e := engine(t, "exempt: {users: [\"system:serviceaccount:kube-system:ovn\"]}\n")
	e.Synced = func() bool { return false }
	out, err := e.Review(context.Background(), &admit.Request{Kind: "IP", Operation: admit.Update, Name: "x",
		Object: []byte(`{"spec":{"ipAddress":7}}`), OldObject: []byte(`{}`),
		User: "system:serviceaccount:kube-system:ovn", Stages: admit.Validate})
	if err != nil || !out.Exempt || out.Denied() {
		t.Fatalf("exempt user: out %+v, err %v", out, err)
	}
	if _, err := e.Review(context.Background(), &admit.Request{Kind: "IP", Operation: admit.Create, Name: "x",
		Object: []byte(`{}`), User: "alice", Stages: admit.Validate}); err == nil {
		t.Fatal("a user who is not exempt was judged before the sync")
	}
}
