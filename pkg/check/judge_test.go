package check_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/check"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/policy"
)

// judgeState is a cluster with subnet s1 (10.0.0.0/24) whose 10.0.0.10 is
// held by pod app/holder's IP object, read at now.
func judgeState(now time.Time, pods ...diagnose.Pod) *diagnose.State {
	var sn kubeovnv1.Subnet
	sn.Name = "s1"
	sn.Spec = kubeovnv1.SubnetSpec{CIDRBlock: "10.0.0.0/24", Gateway: "10.0.0.1", Protocol: kubeovnv1.ProtocolIPv4, Provider: "ovn", Namespaces: []string{"app"}}
	var ip kubeovnv1.IP
	ip.Name = "holder.app"
	ip.CreationTimestamp = metav1.NewTime(now.Add(-time.Hour))
	ip.Spec = kubeovnv1.IPSpec{PodName: "holder", Namespace: "app", Subnet: "s1", IPAddress: "10.0.0.10", V4IPAddress: "10.0.0.10"}
	return &diagnose.State{
		Time:       now,
		Subnets:    []kubeovnv1.Subnet{sn},
		IPs:        []kubeovnv1.IP{ip},
		Namespaces: []diagnose.Meta{{Name: "app"}},
		Pods:       pods,
	}
}

// judgePod is a pod of namespace app created age before now asking for
// addr in subnet s1.
func judgePod(name, addr string, now time.Time, age time.Duration) diagnose.Pod {
	var p diagnose.Pod
	p.Namespace, p.Name, p.UID, p.ResourceVersion = "app", name, "uid-"+name, "5"
	p.CreationTimestamp = metav1.NewTime(now.Add(-age))
	p.NodeName, p.Phase = "n1", "Pending"
	p.Annotations = map[string]string{"ovn.kubernetes.io/logical_switch": "s1", "ovn.kubernetes.io/ip_address": addr}
	return p
}

func judgeOne(t *testing.T, j *check.PodJudge, p *diagnose.Pod) []string {
	t.Helper()
	reasons, err := j.Judge(context.Background(), p)
	if err != nil {
		t.Fatalf("judge %s: %v", p.Name, err)
	}
	return reasons
}

func wantRefused(t *testing.T, reasons []string, rule, text string) {
	t.Helper()
	for _, r := range reasons {
		if strings.Contains(r, "["+rule+"]") && strings.Contains(r, text) {
			return
		}
	}
	t.Errorf("reasons %q: want one of rule %s saying %q", reasons, rule, text)
}

func TestJudgePendingPods(t *testing.T) {
	t.Parallel()
	now := time.Now()
	taken := judgePod("taken", "10.0.0.10", now, time.Hour)
	outside := judgePod("outside", "10.9.0.5", now, time.Hour)
	free := judgePod("free", "10.0.0.20", now, time.Hour)
	gateway := judgePod("gw", "10.0.0.1", now, time.Hour)
	// The holder's own pod, re-created (a StatefulSet's): its IP object is
	// its own.
	holder := judgePod("holder", "10.0.0.10", now, time.Minute)
	s := judgeState(now, taken, outside, free, gateway, holder)
	j, err := check.NewPodJudge(check.Options{}, s)
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, judgeOne(t, j, &taken), "pod-ip-taken", "10.0.0.10")
	wantRefused(t, judgeOne(t, j, &outside), "pod-ip-out-of-range", "10.9.0.5")
	wantRefused(t, judgeOne(t, j, &gateway), "pod-ip-reserved", "10.0.0.1")
	if r := judgeOne(t, j, &free); len(r) != 0 {
		t.Errorf("free address in range refused: %q", r)
	}
	if r := judgeOne(t, j, &holder); len(r) != 0 {
		t.Errorf("pod refused for its own IP object: %q", r)
	}
}

// A pending pod is judged against the state without itself: its own
// request is no holder, another pending pod's is (while it is younger
// than the pending-holder timeout, as of when the state was read).
func TestJudgePendingHolders(t *testing.T) {
	t.Parallel()
	now := time.Now()
	alone := judgePod("alone", "10.0.0.30", now, 30*time.Second)
	j, err := check.NewPodJudge(check.Options{}, judgeState(now, alone))
	if err != nil {
		t.Fatal(err)
	}
	if r := judgeOne(t, j, &alone); len(r) != 0 {
		t.Errorf("a pending pod is refused for its own request: %q", r)
	}

	a, b := judgePod("a", "10.0.0.31", now, 30*time.Second), judgePod("b", "10.0.0.31", now, 20*time.Second)
	j, err = check.NewPodJudge(check.Options{}, judgeState(now, a, b))
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, judgeOne(t, j, &a), "pod-ip-taken", "pending pod app/b")
	wantRefused(t, judgeOne(t, j, &b), "pod-ip-taken", "pending pod app/a")

	// A snapshot read three hours ago: its pods were 30 and 20 seconds
	// old then, so each still held the address at the time of the state.
	then := now.Add(-3 * time.Hour)
	a, b = judgePod("a", "10.0.0.31", then, 30*time.Second), judgePod("b", "10.0.0.31", then, 20*time.Second)
	j, err = check.NewPodJudge(check.Options{}, judgeState(then, a, b))
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, judgeOne(t, j, &a), "pod-ip-taken", "pending pod app/b")

	// Pending for an hour: stuck, no longer a holder (the webhook's
	// pending-holder timeout).
	a, b = judgePod("a", "10.0.0.31", now, time.Hour), judgePod("b", "10.0.0.31", now, time.Hour)
	j, err = check.NewPodJudge(check.Options{}, judgeState(now, a, b))
	if err != nil {
		t.Fatal(err)
	}
	if r := judgeOne(t, j, &a); len(r) != 0 {
		t.Errorf("a pod pending for an hour still holds its address: %q", r)
	}
}

func TestJudgePolicy(t *testing.T) {
	t.Parallel()
	now := time.Now()
	taken := judgePod("taken", "10.0.0.10", now, time.Hour)

	cfg := config.Default()
	cfg.Policy = &policy.Policy{Mode: policy.ModeEnforce, Exempt: policy.Exemptions{Namespaces: []string{"app"}}}
	j, err := check.NewPodJudge(check.Options{Config: cfg}, judgeState(now, taken))
	if err != nil {
		t.Fatal(err)
	}
	if r := judgeOne(t, j, &taken); len(r) != 0 {
		t.Errorf("exempt namespace: refused %q", r)
	}

	// Audit mode: the webhook would warn, not refuse; warnings do not count.
	cfg = config.Default()
	cfg.Policy = &policy.Policy{Mode: policy.ModeAudit}
	j, err = check.NewPodJudge(check.Options{Config: cfg}, judgeState(now, taken))
	if err != nil {
		t.Fatal(err)
	}
	if r := judgeOne(t, j, &taken); len(r) != 0 {
		t.Errorf("audit mode: refused %q", r)
	}
}

func TestJudgeErrors(t *testing.T) {
	t.Parallel()
	if _, err := check.NewPodJudge(check.Options{}, nil); err == nil {
		t.Error("no error for a nil state")
	}
	now := time.Now()
	p := judgePod("p", "10.0.0.10", now, time.Hour)
	j, err := check.NewPodJudge(check.Options{}, judgeState(now, p))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Judge(context.Background(), nil); err == nil {
		t.Error("no error for a nil pod")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r, err := j.Judge(ctx, &p); err == nil {
		t.Errorf("judged %q with a cancelled context", r)
	}
}

// The judge plugs into the doctor: an unallocated pod whose address is
// taken comes out as a refused-annotation finding.
func TestJudgeInDoctor(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s := judgeState(now, judgePod("taken", "10.0.0.10", now, time.Hour), judgePod("free", "10.0.0.20", now, time.Hour))
	j, err := check.NewPodJudge(check.Options{}, s)
	if err != nil {
		t.Fatal(err)
	}
	opts := diagnose.DefaultOptions(now)
	opts.Judge = j.Judge
	r := diagnose.Run(s, opts)
	var refused []string
	for _, f := range r.Findings {
		if f.Check == diagnose.CheckRefusedAnnotation {
			refused = append(refused, f.Objects[0].Name)
			if f.Severity != diagnose.Critical || !strings.Contains(f.Message, "pod-ip-taken") {
				t.Errorf("finding %+v", f)
			}
		}
	}
	if len(refused) != 1 || refused[0] != "taken" {
		t.Errorf("refused pods %v; want [taken]", refused)
	}
}
