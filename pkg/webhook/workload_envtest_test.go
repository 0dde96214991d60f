package webhook_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
)

const (
	workloadWebhook = "vworkload.ipamguard.io"
	poolKey         = "ovn.kubernetes.io/ip_pool"
	// tmplIP is the field of a pod template's fixed address.
	tmplIP = "spec.template.metadata.annotations[" + ipKey + "]"
)

// warningRecorder keeps the Warning headers the API server returns.
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

var podTemplate = corev1.PodTemplateSpec{
	ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "w"}},
	Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}, RestartPolicy: corev1.RestartPolicyOnFailure},
}

func template(ann map[string]string) corev1.PodTemplateSpec {
	t := *podTemplate.DeepCopy()
	t.Annotations = ann
	t.Spec.RestartPolicy = corev1.RestartPolicyAlways
	return t
}

func newDeployment(name string, replicas int32, ann map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "wl", Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}},
			Template: template(ann),
		},
	}
}

func newStatefulSet(name string, replicas int32, ann map[string]string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "wl", Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}},
			Template: template(ann),
		},
	}
}

func newCronJob(name string, policy batchv1.ConcurrencyPolicy, ann map[string]string) *batchv1.CronJob {
	t := *podTemplate.DeepCopy()
	t.Annotations = ann
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "wl", Name: name},
		Spec: batchv1.CronJobSpec{
			Schedule:          "*/5 * * * *",
			ConcurrencyPolicy: policy,
			JobTemplate:       batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: t}},
		},
	}
}

// wantWorkloadDenied asserts a 422 from the workload webhook with a cause
// on field and the texts.
func wantWorkloadDenied(t *testing.T, err error, field string, contains ...string) {
	t.Helper()
	wantDeniedBy(t, workloadWebhook, err, http.StatusUnprocessableEntity, field, contains...)
}

// workloadNamespace creates the namespace of the workload tests and waits
// until the webhook judges templates there: once the inventory holds the
// default subnet, an address outside it is refused at Deployment apply time.
func workloadNamespace(t *testing.T, s *suite) {
	t.Helper()
	ctx := t.Context()
	if err := s.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "wl"}}); err != nil {
		t.Fatal(err)
	}
	devenvtest.Eventually(t, "workload webhook judging templates", waitTimeout, func() error {
		err := s.c.Create(ctx, newDeployment("probe", 1, map[string]string{ipKey: "10.17.0.5"}), client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "[pod-ip-out-of-range]") {
			return fmt.Errorf("dry-run deployment with an out-of-range address: %v", err)
		}
		return nil
	})
}

// TestWorkloadScaleOnRealAPIServer: a fixed address allows one replica,
// whether the Deployment or its scale subresource asks for more; a pool
// smaller than the replicas warns.
func TestWorkloadScaleOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	c := s.c
	workloadNamespace(t, s)
	if err := c.Create(ctx, newDeployment("web1", 1, map[string]string{ipKey: "10.16.0.5"})); err != nil {
		t.Fatalf("create web1: %v", err)
	}

	t.Run("scaling the fixed-ip deployment up is refused on spec.replicas", func(t *testing.T) {
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: "wl", Name: "web1"}, &d); err != nil {
			t.Fatal(err)
		}
		d.Spec.Replicas = ptr.To[int32](3)
		wantWorkloadDenied(t, c.Update(ctx, &d), "spec.replicas", "[workload-static-ip]")
	})

	t.Run("scaling the fixed-ip deployment through the scale subresource is refused", func(t *testing.T) {
		// kubectl scale and autoscalers write the Scale, which has no
		// template: the webhook reads the Deployment's.
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: "wl", Name: "web1"}, &d); err != nil {
			t.Fatal(err)
		}
		err := c.SubResource("scale").Update(ctx, &d, client.WithSubResourceBody(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 3}}))
		wantDeniedBy(t, "vworkloadcapacity.ipamguard.io", err, http.StatusUnprocessableEntity, "spec.replicas",
			"3 replicas run at once, but only one pod can hold", "[workload-static-ip]")
		if err := c.Get(ctx, client.ObjectKey{Namespace: "wl", Name: "web1"}, &d); err != nil || *d.Spec.Replicas != 1 {
			t.Errorf("replicas after the refused scale: %v (%v), want 1", d.Spec.Replicas, err)
		}
		// Scaling down, or to the one replica the address allows, passes.
		if err := c.SubResource("scale").Update(ctx, &d, client.WithSubResourceBody(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 0}})); err != nil {
			t.Fatalf("scale to 0 refused: %v", err)
		}
		if err := c.SubResource("scale").Update(ctx, &d, client.WithSubResourceBody(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 1}})); err != nil {
			t.Fatalf("scale back to 1 refused: %v", err)
		}
	})

	t.Run("scaling a pooled statefulset past its pool warns through the scale subresource", func(t *testing.T) {
		wc, rec := s.warningClient(t, "")
		sts := newStatefulSet("pooled-db", 2, map[string]string{poolKey: "10.16.0.60;10.16.0.61"})
		if err := wc.Create(ctx, sts); err != nil {
			t.Fatal(err)
		}
		rec.take()
		if err := wc.SubResource("scale").Update(ctx, sts, client.WithSubResourceBody(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 4}})); err != nil {
			t.Fatalf("a warn rule refused the scale: %v", err)
		}
		if got := strings.Join(rec.take(), "\n"); !strings.Contains(got, "[workload-pool-size] spec.replicas") || !strings.Contains(got, "for 4 replicas") {
			t.Errorf("warnings = %q", got)
		}
	})
}

// TestStatefulSetIPChangeOnRealAPIServer: the addresses of a running
// StatefulSet cannot change under it, not even by removing the annotation;
// scaling it can.
func TestStatefulSetIPChangeOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	c := s.c
	workloadNamespace(t, s)

	var sts appsv1.StatefulSet
	t.Run("statefulset with a group per replica passes", func(t *testing.T) {
		if err := c.Create(ctx, newStatefulSet("db", 3, map[string]string{poolKey: "10.16.0.10;10.16.0.11;10.16.0.12"})); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "wl", Name: "db"}, &sts); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("statefulset ip change refused", func(t *testing.T) {
		changed := sts.DeepCopy()
		changed.Spec.Template.Annotations[poolKey] = "10.16.0.20;10.16.0.21;10.16.0.22"
		wantWorkloadDenied(t, c.Update(ctx, changed), "spec.template.metadata.annotations["+poolKey+"]",
			"of a StatefulSet with 3 replicas", "delete and recreate the StatefulSet, or scale it to 0 first [statefulset-ip-change]")
	})

	t.Run("statefulset scaling without annotation changes passes", func(t *testing.T) {
		scaled := sts.DeepCopy()
		scaled.Spec.Replicas = ptr.To[int32](2)
		if err := c.Update(ctx, scaled); err != nil {
			t.Fatalf("scale refused: %v", err)
		}
	})

	t.Run("removing the annotation reaches the webhook through oldObject", func(t *testing.T) {
		one := newStatefulSet("single", 1, map[string]string{ipKey: "10.16.0.30"})
		if err := c.Create(ctx, one); err != nil {
			t.Fatal(err)
		}
		one.Spec.Template.Annotations = nil
		wantWorkloadDenied(t, c.Update(ctx, one), tmplIP, `removing ip_address "10.16.0.30"`, "[statefulset-ip-change]")
	})
}

// TestWorkloadTemplateOnRealAPIServer: pod templates are judged when the
// workload is applied, not when its pods hang; workloads without
// annotations and controller-made ReplicaSets are not sent to the webhook.
// It runs last of the workload tests: its final check reads the API
// server's matchCondition metrics of every request so far.
func TestWorkloadTemplateOnRealAPIServer(t *testing.T) {
	s := useSuite(t)
	ctx := t.Context()
	c := s.c
	workloadNamespace(t, s)

	t.Run("out-of-range template refused at apply time", func(t *testing.T) {
		wantWorkloadDenied(t, c.Create(ctx, newDeployment("oor", 1, map[string]string{ipKey: "10.17.0.5"})), tmplIP,
			`Deployment.apps "oor" is invalid`, "10.17.0.5 is not inside subnet ovn-default (10.16.0.0/16) [pod-ip-out-of-range]")
	})

	t.Run("fixed ip with 3 replicas refused", func(t *testing.T) {
		wantWorkloadDenied(t, c.Create(ctx, newDeployment("web3", 3, map[string]string{ipKey: "10.16.0.5"})), tmplIP,
			"3 replicas run at once, but only one pod can hold the fixed address",
			"use ip_pool with one address per replica, or ';'-separated groups for a StatefulSet [workload-static-ip]")
	})

	t.Run("fixed ip with 1 replica and no annotations pass", func(t *testing.T) {
		for _, d := range []*appsv1.Deployment{
			newDeployment("web1", 1, map[string]string{ipKey: "10.16.0.5"}),
			newDeployment("plain", 3, nil),
		} {
			if err := c.Create(ctx, d); err != nil {
				t.Fatalf("create %s: %v", d.Name, err)
			}
		}
	})

	t.Run("a workload without annotations is updated without a call", func(t *testing.T) {
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: "wl", Name: "plain"}, &d); err != nil {
			t.Fatal(err)
		}
		d.Spec.Replicas = ptr.To[int32](5)
		if err := c.Update(ctx, &d); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a deployment's replicaset is not judged again", func(t *testing.T) {
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: "wl", Name: "legacy-abc", OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "Deployment", Name: "legacy", UID: "00000000-0000-0000-0000-000000000001", Controller: ptr.To(true)}}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}},
				Template: template(map[string]string{ipKey: "10.16.0.6"})},
		}
		if err := c.Create(ctx, rs); err != nil {
			t.Fatalf("controller-made replicaset refused: %v", err)
		}
	})

	t.Run("cronjob with default concurrency refused", func(t *testing.T) {
		wantWorkloadDenied(t, c.Create(ctx, newCronJob("nightly", "", map[string]string{ipKey: "10.16.0.40"})),
			"spec.jobTemplate.spec.template.metadata.annotations["+ipKey+"]",
			"concurrencyPolicy Allow (the default) lets runs overlap", "concurrencyPolicy: Forbid [workload-static-ip]")
		if err := c.Create(ctx, newCronJob("nightly", batchv1.ForbidConcurrent, map[string]string{ipKey: "10.16.0.40"})); err != nil {
			t.Fatalf("Forbid cronjob refused: %v", err)
		}
	})

	t.Run("pool size warning reaches the client", func(t *testing.T) {
		wc, rec := s.warningClient(t, "")
		if err := wc.Create(ctx, newDeployment("pooled", 3, map[string]string{poolKey: "10.16.0.50,10.16.0.51"})); err != nil {
			t.Fatalf("a warn rule refused the request: %v", err)
		}
		want := "[workload-pool-size] spec.template.metadata.annotations[" + poolKey + `]: Invalid value: "10.16.0.50,10.16.0.51": ip_pool has 2 addresses for 3 replicas; the third pod will wait for an address`
		got := rec.take()
		if len(got) != 1 || got[0] != want {
			t.Errorf("warnings = %q\nwant [%q]", got, want)
		}
	})

	// Every request above went through the matchCondition; none may have
	// failed to evaluate (with failurePolicy Ignore an error would skip
	// the webhook silently), and the workload without annotations was
	// excluded by a false condition on CREATE (oldObject null) and UPDATE.
	t.Run("matchConditions evaluate without errors", func(t *testing.T) {
		cs, err := kubernetes.NewForConfig(s.env.Config)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(nil, 1<<20)
		excluded := map[string]bool{}
		for sc.Scan() {
			line := sc.Text()
			if !strings.Contains(line, `name="`+workloadWebhook+`"`) {
				continue
			}
			if strings.HasPrefix(line, "apiserver_admission_match_condition_evaluation_errors_total") {
				t.Errorf("matchCondition errors: %s", line)
			}
			if strings.HasPrefix(line, "apiserver_admission_match_condition_exclusions_total") {
				for _, op := range []string{"CREATE", "UPDATE"} {
					excluded[op] = excluded[op] || strings.Contains(line, `operation="`+op+`"`)
				}
			}
		}
		if !excluded["CREATE"] || !excluded["UPDATE"] {
			t.Errorf("exclusions by the matchCondition: %v, want CREATE and UPDATE", excluded)
		}
	})
}
