package webhook_test

import (
	"fmt"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
	"github.com/ipamguard/ipamguard/pkg/policy"
)

// warningClient returns a client whose warnings are recorded.
func (s *suite) warningClient(t *testing.T, impersonate string) (client.Client, *warningRecorder) {
	t.Helper()
	rec := &warningRecorder{}
	cfg := rest.CopyConfig(s.env.Config)
	cfg.WarningHandler = nil
	cfg.WarningHandlerWithContext = rec
	if impersonate != "" {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: impersonate, Groups: []string{"system:masters"}}
	}
	c, err := client.New(cfg, client.Options{Scheme: s.env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

// counter reads one labelled counter from the webhook's registry.
func (s *suite) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				if !hasLabel(m, k, v) {
					continue metric
				}
			}
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

// TestModesOnRealAPIServer: enforce denies, audit admits with a warning,
// off is silent, by namespace label or cluster setting; exempt users pass;
// the decisions are counted.
func TestModesOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	// The metrics registry is shared with the other tests: count from here.
	enforced := map[string]string{"rule": "pod-ip-out-of-range", "action": "enforce"}
	audited := map[string]string{"rule": "pod-ip-out-of-range", "action": "audit", "mode": "audit"}
	deniedPods := map[string]string{"kind": "Pod", "result": "denied"}
	enforced0 := s.counter(t, "ipamguard_decisions_total", enforced)
	audited0 := s.counter(t, "ipamguard_decisions_total", audited)
	deniedPods0 := s.counter(t, "ipamguard_admission_requests_total", deniedPods)
	for ns, mode := range map[string]string{"plain": "", "audited": "audit", "silent": "off"} {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if mode != "" {
			n.Labels = map[string]string{policy.ModeLabel: mode}
		}
		if err := s.c.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	devenvtest.Eventually(t, "namespace labels in the inventory", waitTimeout, func() error {
		var mode string
		s.h.Store.Read(func(r inventory.Reader) {
			l, _ := r.Namespace("silent")
			mode = l[policy.ModeLabel]
		})
		if mode != "off" {
			return fmt.Errorf("namespace silent has mode %q", mode)
		}
		return nil
	})
	outOfRange := func(ns, name string) *corev1.Pod {
		return newPod(ns, name, map[string]string{"ovn.kubernetes.io/ip_address": "10.17.0.5"})
	}
	wc, rec := s.warningClient(t, "")

	t.Run("enforce denies", func(t *testing.T) {
		wantPodDenied(t, wc.Create(ctx, outOfRange("plain", "p1")), "ovn.kubernetes.io/ip_address", "[pod-ip-out-of-range]")
	})

	t.Run("namespace label audit: admitted with a warning saying it would be denied", func(t *testing.T) {
		rec.take()
		if err := wc.Create(ctx, outOfRange("audited", "p1")); err != nil {
			t.Fatalf("audit mode denied: %v", err)
		}
		got := strings.Join(rec.take(), "\n")
		want := "[pod-ip-out-of-range] would be denied (audit mode): metadata.annotations[ovn.kubernetes.io/ip_address]: Invalid value: \"10.17.0.5\": 10.17.0.5 is not inside subnet ovn-default (10.16.0.0/16)"
		if got != want {
			t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("namespace label off: silent", func(t *testing.T) {
		rec.take()
		if err := wc.Create(ctx, outOfRange("silent", "p1")); err != nil {
			t.Fatalf("off mode denied: %v", err)
		}
		if w := rec.take(); len(w) != 0 {
			t.Errorf("off mode warned: %q", w)
		}
	})

	t.Run("cluster audit: cluster-scoped objects follow it, namespace enforce label wins", func(t *testing.T) {
		s.setConfig(t, "mode: audit\n")
		rec.take()
		dup := newSubnet("dup-audit", "10.16.5.0/24")
		if err := wc.Create(ctx, dup, client.DryRunAll); err != nil {
			t.Fatalf("cluster audit denied a subnet: %v", err)
		}
		if got := strings.Join(rec.take(), "\n"); !strings.Contains(got, "[subnet-overlap] would be denied (audit mode): spec.cidrBlock") {
			t.Errorf("warnings = %q", got)
		}
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "strict", Labels: map[string]string{policy.ModeLabel: "enforce"}}}
		if err := s.c.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
		devenvtest.Eventually(t, "strict namespace denies", waitTimeout, func() error {
			err := wc.Create(ctx, outOfRange("strict", "p1"), client.DryRunAll)
			if err == nil || !strings.Contains(err.Error(), "[pod-ip-out-of-range]") {
				return fmt.Errorf("dry-run pod in strict: %v", err)
			}
			return nil
		})
	})

	t.Run("exempt users pass", func(t *testing.T) {
		s.setConfig(t, "exempt: {users: [break-glass]}\n")
		ec, erec := s.warningClient(t, "break-glass")
		if err := ec.Create(ctx, outOfRange("plain", "exempted")); err != nil {
			t.Fatalf("exempt user denied: %v", err)
		}
		if w := erec.take(); len(w) != 0 {
			t.Errorf("exempt user warned: %q", w)
		}
		wantPodDenied(t, wc.Create(ctx, outOfRange("plain", "not-exempted")), "ovn.kubernetes.io/ip_address")
	})

	t.Run("metrics count decisions", func(t *testing.T) {
		if got := s.counter(t, "ipamguard_decisions_total", enforced) - enforced0; got < 2 {
			t.Errorf("enforced pod-ip-out-of-range decisions = %v", got)
		}
		if got := s.counter(t, "ipamguard_decisions_total", audited) - audited0; got != 1 {
			t.Errorf("audited decisions = %v", got)
		}
		if got := s.counter(t, "ipamguard_admission_requests_total", deniedPods) - deniedPods0; got < 2 {
			t.Errorf("denied pod requests = %v", got)
		}
	})
}

// smallSubnet creates namespace fill and the subnet small bound to it, a
// /28: 14 addresses, the gateway takes one, 13 for pods. fillTo creates IP
// objects, as the Kube-OVN controller would for running pods, until avail
// addresses are left.
func smallSubnet(t *testing.T, s *suite) (fillTo func(avail int)) {
	t.Helper()
	ctx := t.Context()
	if err := s.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fill"}}); err != nil {
		t.Fatal(err)
	}
	small := newSubnet("small", "10.120.0.0/28", func(sn *kubeovnv1.Subnet) { sn.Spec.Namespaces = []string{"fill"} })
	if err := s.c.Create(ctx, small); err != nil {
		t.Fatal(err)
	}
	// The IP objects below are judged against the webhook's inventory:
	// it must know the subnet (and the namespace it binds) first.
	devenvtest.Eventually(t, "inventory to see subnet small", waitTimeout, func() error {
		known := false
		s.h.Store.Read(func(r inventory.Reader) {
			_, ok := r.Subnet("small")
			_, nsOK := r.Namespace("fill")
			known = ok && nsOK
		})
		if !known {
			return fmt.Errorf("subnet small or namespace fill not in the inventory yet")
		}
		return nil
	})
	held := 0
	return func(avail int) {
		t.Helper()
		for ; 13-held > avail; held++ {
			ip := &kubeovnv1.IP{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("r%d.fill", held)}, Spec: kubeovnv1.IPSpec{
				PodName: fmt.Sprintf("r%d", held), Namespace: "fill", Subnet: "small", IPAddress: fmt.Sprintf("10.120.0.%d", held+2)}}
			if err := s.c.Create(ctx, ip); err != nil {
				t.Fatal(err)
			}
		}
		s.waitInUse(t, "small", ipam.IPv4, held)
	}
}

// TestExhaustionWarningsOnRealAPIServer: as a subnet fills, pods landing
// in it are warned at the thresholds, and its gauges follow.
func TestExhaustionWarningsOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	fillTo := smallSubnet(t, s)
	wc, rec := s.warningClient(t, "")
	podWarnings := func(name string) string {
		t.Helper()
		rec.take()
		if err := wc.Create(ctx, newPod("fill", name, nil)); err != nil {
			t.Fatalf("pod %s refused: %v", name, err)
		}
		return strings.Join(rec.take(), "\n")
	}
	cases := []struct {
		before int
		want   string // "" = no warning
	}{
		{12, ""},
		{11, "subnet small will have 10 of 13 IPv4 addresses available after this pod (warning: <= 10); expand 10.120.0.0/28 to 10.120.0.0/27"},
		{7, "will have 6 of 13"},
		{6, "will have 5 of 13 IPv4 addresses available after this pod (critical: <= 5)"},
		{1, "will have 0 of 13"},
		{0, `subnet small has no IPv4 address left (0 of 13 available); the pod will hang in ContainerCreating with "Failed to allocate IP"`},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d available", tc.before), func(t *testing.T) {
			fillTo(tc.before)
			got := podWarnings(fmt.Sprintf("p%d", tc.before))
			switch {
			case tc.want == "" && got != "":
				t.Errorf("unexpected warning %q", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("warning %q\nwant it to contain %q", got, tc.want)
			case tc.want != "" && !strings.HasPrefix(got, "[pod-subnet-exhausted] "):
				t.Errorf("warning %q lacks its rule ID", got)
			}
		})
	}

	t.Run("subnet gauges come from the inventory", func(t *testing.T) {
		mfs, err := s.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if hasLabel(m, "subnet", "small") {
					state := ""
					for _, l := range m.GetLabel() {
						if l.GetName() == "state" {
							state = l.GetValue()
						}
					}
					found[mf.GetName()+"/"+state] = m.GetGauge().GetValue()
				}
			}
		}
		want := map[string]float64{
			"ipamguard_subnet_addresses/total": 13, "ipamguard_subnet_addresses/using": 13,
			"ipamguard_subnet_addresses/available": 0, "ipamguard_subnet_threshold_state/": 3,
		}
		for k, v := range want {
			if found[k] != v {
				t.Errorf("%s = %v, want %v (all: %v)", k, found[k], v, found)
			}
		}
	})
}

// TestExhaustedSubnetOnRealAPIServer: a full subnet can be enforced, and
// updates and scale-ups that leave it full warn.
func TestExhaustedSubnetOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	smallSubnet(t, s)(0)
	wc, rec := s.warningClient(t, "")

	t.Run("enforce at zero turns the hang into an error", func(t *testing.T) {
		s.setConfig(t, "rules: {pod-subnet-exhausted: enforce}\n")
		err := wc.Create(ctx, newPod("fill", "refused", nil))
		if err == nil || !strings.Contains(err.Error(), "no IPv4 address left") || !strings.Contains(err.Error(), "[pod-subnet-exhausted]") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("subnet update leaving it low warns; expansion is named", func(t *testing.T) {
		var sn kubeovnv1.Subnet
		if err := s.c.Get(ctx, client.ObjectKey{Name: "small"}, &sn); err != nil {
			t.Fatal(err)
		}
		rec.take()
		// Any update of a subnet left at or under a threshold warns.
		sn.Labels = map[string]string{"touched": "yes"}
		if err := wc.Update(ctx, &sn); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(rec.take(), "\n"); !strings.Contains(got, "[subnet-exhaustion] spec.cidrBlock") || !strings.Contains(got, "exhausted") {
			t.Errorf("warnings = %q", got)
		}
	})

	t.Run("workload scale-up needing more than is left", func(t *testing.T) {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "fill", Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(0)),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
				},
			},
		}
		if err := wc.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		rec.take()
		scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 3}}
		if err := wc.SubResource("scale").Update(ctx, d, client.WithSubResourceBody(scale)); err != nil {
			t.Fatalf("scale refused: %v", err)
		}
		if got := strings.Join(rec.take(), "\n"); !strings.Contains(got, "[pod-subnet-exhausted] spec.replicas") || !strings.Contains(got, "all 3 pods will hang") {
			t.Errorf("warnings = %q", got)
		}
	})
}
