package leader_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/internal/leader"
)

// waitFor bounds every wait of the envtest test. Leader election itself
// needs a few retry periods (2 s each); the rest is slack for a loaded
// machine.
const waitFor = 90 * time.Second

// replica is one webhook replica's manager, with what ran on it.
type replica struct {
	name   string
	mgr    manager.Manager
	cancel context.CancelFunc
	done   chan struct{} // closed when Start has returned
	err    error         // Start's result, valid after done is closed

	led        atomic.Int32 // times the leader-only work started
	leading    atomic.Bool  // the leader-only work is running
	tracked    atomic.Bool  // the last value leader.Track reported
	everywhere atomic.Bool  // work that needs no election has started
}

// startReplica starts a manager configured the way cmd/webhook configures
// it (Config.Apply) with leader-only work registered through leader.Add.
func startReplica(t *testing.T, cfg *rest.Config, lc leader.Config, name string) *replica {
	t.Helper()
	opts := manager.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 testr.New(t).WithName(name),
	}
	lc.Apply(&opts)
	mgr, err := manager.New(cfg, opts)
	if err != nil {
		t.Fatalf("%s: new manager: %v", name, err)
	}
	r := &replica{name: name, mgr: mgr, done: make(chan struct{})}
	if err := leader.Add(mgr, "test-work", func(ctx context.Context) error {
		r.led.Add(1)
		r.leading.Store(true)
		defer r.leading.Store(false)
		<-ctx.Done()
		return nil
	}); err != nil {
		t.Fatalf("%s: leader.Add: %v", name, err)
	}
	if err := leader.Track(mgr, r.tracked.Store); err != nil {
		t.Fatalf("%s: leader.Track: %v", name, err)
	}
	// Like the webhook servers and caches, on every replica.
	if err := leader.Everywhere(mgr, func(ctx context.Context) error {
		r.everywhere.Store(true)
		<-ctx.Done()
		return nil
	}); err != nil {
		t.Fatalf("%s: leader.Everywhere: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.err = mgr.Start(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop stops the manager and waits for Start to return, failing t if it
// returned an error.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(waitFor):
		t.Fatalf("%s: manager did not stop within %s", r.name, waitFor)
	}
	if r.err != nil {
		t.Errorf("%s: manager stopped with %v", r.name, r.err)
	}
}

func (r *replica) elected() bool {
	select {
	case <-r.mgr.Elected():
		return true
	default:
		return false
	}
}

// TestOneLeaderThenHandover runs two replicas with the same lease on a real
// API server, as the webhook's service account holding only the generated
// Role: exactly one runs the leader-only work while both run the rest, and
// when the leader stops the other takes over.
func TestOneLeaderThenHandover(t *testing.T) {
	env := devenvtest.Start(t, devenv.Options{})
	ctx := t.Context()
	const ns = "ipamguard-leader-test"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	sa := grantLeaderElectionRBAC(t, env.Client, ns)
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + ns + ":" + sa,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
	// The namespace comes the way it does in a pod (downward API).
	lc, err := leader.DefaultConfig().Resolve(func(k string) string {
		if k == leader.NamespaceEnv {
			return ns
		}
		return ""
	}, "/nonexistent")
	if err != nil {
		t.Fatal(err)
	}

	replicas := []*replica{startReplica(t, cfg, lc, "replica-a"), startReplica(t, cfg, lc, "replica-b")}
	var first, second *replica
	devenvtest.Eventually(t, "a leader", waitFor, func() error {
		var leaders []string
		for _, r := range replicas {
			if r.led.Load() > 0 {
				leaders = append(leaders, r.name)
				first, second = r, replicas[0]
				if r == replicas[0] {
					second = replicas[1]
				}
			}
		}
		if len(leaders) != 1 {
			return fmt.Errorf("leaders: %v", leaders)
		}
		return nil
	})
	t.Logf("%s leads", first.name)

	key := client.ObjectKey{Namespace: ns, Name: leader.DefaultLeaseName}
	var lease coordinationv1.Lease
	if err := env.Client.Get(ctx, key, &lease); err != nil {
		t.Fatalf("get the Lease: %v", err)
	}
	holder := ptr.Deref(lease.Spec.HolderIdentity, "")
	if holder == "" {
		t.Fatalf("Lease %s has no holder while %s leads", key, first.name)
	}
	// Give the other replica a fair chance to (wrongly) acquire: it retries
	// at the same period the leader renews, so two renewals mean it tried.
	renewals, lastRenew := 0, lease.Spec.RenewTime
	devenvtest.Eventually(t, "two renewals of the Lease", waitFor, func() error {
		var l coordinationv1.Lease
		if err := env.Client.Get(ctx, key, &l); err != nil {
			return err
		}
		if got := ptr.Deref(l.Spec.HolderIdentity, ""); got != holder {
			t.Fatalf("Lease holder changed from %q to %q while %s was running", holder, got, first.name)
		}
		if l.Spec.RenewTime != nil && (lastRenew == nil || !l.Spec.RenewTime.Equal(lastRenew)) {
			renewals++
			lastRenew = l.Spec.RenewTime
		}
		if renewals < 2 {
			return fmt.Errorf("%d renewals", renewals)
		}
		return nil
	})
	if n := second.led.Load(); n != 0 || second.elected() || second.tracked.Load() {
		t.Fatalf("%s ran the leader-only work %d times (elected %v, tracked %v) while %s led", second.name, n, second.elected(), second.tracked.Load(), first.name)
	}
	if !first.leading.Load() || !first.elected() || !first.tracked.Load() {
		t.Errorf("%s: leading %v, elected %v, tracked %v; want all true", first.name, first.leading.Load(), first.elected(), first.tracked.Load())
	}
	for _, r := range replicas {
		if !r.everywhere.Load() {
			t.Errorf("%s: the work that needs no election did not run", r.name)
		}
	}
	devenvtest.Eventually(t, "the leader election event", waitFor, func() error {
		var events corev1.EventList
		if err := env.Client.List(ctx, &events, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Kind == "Lease" && e.InvolvedObject.Name == leader.DefaultLeaseName {
				return nil
			}
		}
		return fmt.Errorf("%d events, none about the Lease", len(events.Items))
	})

	// A clean stop releases the lease; the other replica takes over.
	first.stop(t)
	if first.leading.Load() || first.tracked.Load() {
		t.Errorf("%s stopped but its leader-only work is still running (or tracked)", first.name)
	}
	devenvtest.Eventually(t, second.name+" to take over", waitFor, func() error {
		if second.led.Load() == 0 {
			return errors.New("not leading yet")
		}
		return nil
	})
	if n := first.led.Load(); n != 1 {
		t.Errorf("%s ran the leader-only work %d times, want 1", first.name, n)
	}
	// controller-runtime starts the leader-only work before it closes
	// Elected, and Track's work runs beside the test's: both follow.
	devenvtest.Eventually(t, second.name+" to be elected and tracked", waitFor, func() error {
		if !second.elected() || !second.tracked.Load() {
			return fmt.Errorf("leads but elected %v, tracked %v", second.elected(), second.tracked.Load())
		}
		return nil
	})
	if err := env.Client.Get(ctx, key, &lease); err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(lease.Spec.HolderIdentity, ""); got == "" || got == holder {
		t.Errorf("Lease holder after the handover = %q, want a new holder (was %q)", got, holder)
	}
}

// grantLeaderElectionRBAC creates, in namespace ns, the generated
// namespaced Role (config/rbac/role.yaml) and the hand-written RoleBinding
// (config/rbac/leader_election_role_binding.yaml), and returns the name of
// the ServiceAccount the binding names.
func grantLeaderElectionRBAC(t *testing.T, c client.Client, ns string) string {
	t.Helper()
	root, err := devenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	roles := decodeKind[rbacv1.Role](t, filepath.Join(root, "config", "rbac", "role.yaml"), "Role")
	bindings := decodeKind[rbacv1.RoleBinding](t, filepath.Join(root, "config", "rbac", "leader_election_role_binding.yaml"), "RoleBinding")
	if len(roles) != 1 || len(bindings) != 1 {
		t.Fatalf("want 1 Role in role.yaml and 1 RoleBinding in leader_election_role_binding.yaml, got %d and %d", len(roles), len(bindings))
	}
	role, binding := roles[0], bindings[0]
	if binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != role.Name {
		t.Fatalf("RoleBinding %s refers to %s %s, want Role %s", binding.Name, binding.RoleRef.Kind, binding.RoleRef.Name, role.Name)
	}
	if len(binding.Subjects) != 1 || binding.Subjects[0].Kind != rbacv1.ServiceAccountKind {
		t.Fatalf("RoleBinding %s: subjects %+v, want the webhook's ServiceAccount", binding.Name, binding.Subjects)
	}
	role.Namespace, binding.Namespace, binding.Subjects[0].Namespace = ns, ns, ns
	for _, o := range []client.Object{role, binding} {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	return binding.Subjects[0].Name
}

// decodeKind returns the documents of kind in the YAML file at path.
func decodeKind[T any](t *testing.T, path, kind string) []*T {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*T
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if strings.TrimSpace(string(doc)) == "" || meta.Kind != kind {
			continue
		}
		v := new(T)
		if err := yaml.UnmarshalStrict(doc, v); err != nil {
			t.Fatalf("%s: %s: %v", path, kind, err)
		}
		out = append(out, v)
	}
}
