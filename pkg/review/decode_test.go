package review

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// The decoder used here must read every object the API server sends the
// way Kubernetes' own decoder (sigs.k8s.io/json, used by the API server
// and controller-runtime) reads it. These tests decode the same bytes both
// ways and compare.

func fullPod() *corev1.Pod {
	yes := true
	grace := int64(30)
	ts := metav1.NewTime(time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC))
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-0", Namespace: "team-a", GenerateName: "web-", UID: "1f0c", ResourceVersion: "42",
			CreationTimestamp: ts, DeletionGracePeriodSeconds: &grace,
			Labels: map[string]string{"app": "web", "statefulset.kubernetes.io/pod-name": "web-0"},
			Annotations: map[string]string{"ovn.kubernetes.io/ip_address": "10.16.0.7", "ovn.kubernetes.io/logical_switch": "ovn-default",
				"eth1.ovn.kubernetes.io/ip_address": "fd00::7", "k": ""},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "9a", Controller: &yes, BlockOwnerDeletion: &yes}},
			Finalizers:      []string{"x/y"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate,
				APIVersion: "v1", Time: &ts, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{".":{},"f:app":{}}}}`)}}},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "web", Image: "nginx:1.27", Args: []string{"-g", "daemon off;"},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
				Env:   []corev1.EnvVar{{Name: "A", Value: "b"}, {Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.1"), corev1.ResourceMemory: resource.MustParse("1e8")},
				},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}}, PeriodSeconds: 5},
				LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}},
			}},
			Volumes:       []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: resource.NewQuantity(1<<30, resource.BinarySI)}}}},
			NodeSelector:  map[string]string{"kubernetes.io/os": "linux"},
			Tolerations:   []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			Affinity:      &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 10, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}}},
			HostNetwork:   false,
			Priority:      new(int32(1000)),
			SchedulerName: "default-scheduler",
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: ts}},
			PodIPs: []corev1.PodIP{{IP: "10.16.0.7"}}},
	}
}

func objects() map[string]any {
	pod := fullPod()
	three := int32(3)
	return map[string]any{
		"Pod": pod,
		"Deployment": &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a"},
			Spec: appsv1.DeploymentSpec{Replicas: &three, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec},
				Strategy: appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: new(intstr.FromString("25%"))}}}},
		"CronJob": &batchv1.CronJob{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
			ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "team-a"},
			Spec: batchv1.CronJobSpec{Schedule: "0 1 * * *", ConcurrencyPolicy: batchv1.ForbidConcurrent,
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Parallelism: &three, Template: corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec}}}}},
		"Subnet": &kubeovnv1.Subnet{TypeMeta: metav1.TypeMeta{APIVersion: "kubeovn.io/v1", Kind: "Subnet"},
			ObjectMeta: metav1.ObjectMeta{Name: "team-a"},
			Spec: kubeovnv1.SubnetSpec{Vpc: "vpc-a", Protocol: "Dual", Namespaces: []string{"team-a"}, CIDRBlock: "10.60.0.0/24,fd00:60::/64",
				Gateway: "10.60.0.1,fd00:60::1", ExcludeIps: []string{"10.60.0.1", "10.60.0.100..10.60.0.120"}, Provider: "ovn",
				NamespaceSelectors: []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}}},
				Mtu:                1400, EnableLb: new(true)}},
		"IP": &kubeovnv1.IP{TypeMeta: metav1.TypeMeta{APIVersion: "kubeovn.io/v1", Kind: "IP"},
			ObjectMeta: metav1.ObjectMeta{Name: "web-0.team-a"},
			Spec: kubeovnv1.IPSpec{PodName: "web-0", Namespace: "team-a", Subnet: "team-a", IPAddress: "10.60.0.7,fd00:60::7",
				V4IPAddress: "10.60.0.7", V6IPAddress: "fd00:60::7", MacAddress: "00:00:00:aa:bb:cc", AttachIPs: []string{}, PodType: "StatefulSet"}},
		"AdmissionReview": &admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Operation: admissionv1.Update,
				Object: rawOf(pod), OldObject: rawOf(pod), DryRun: new(false)}},
	}
}

func rawOf(v any) (r runtime.RawExtension) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	r.Raw = b
	return r
}

// kubeDecode decodes as Kubernetes does.
func kubeDecode(data []byte, v any) error {
	return kjson.UnmarshalCaseSensitivePreserveInts(data, v)
}

func TestDecodeAgreesWithKubernetesOnObjects(t *testing.T) {
	for name, obj := range objects() {
		t.Run(name, func(t *testing.T) {
			data, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			typ := reflect.TypeOf(obj).Elem()
			want, got := reflect.New(typ).Interface(), reflect.New(typ).Interface()
			if err := kubeDecode(data, want); err != nil {
				t.Fatalf("Kubernetes decoder: %v", err)
			}
			if err := Unmarshal(data, got); err != nil {
				t.Fatalf("review.Unmarshal: %v", err)
			}
			if !equality.Semantic.DeepEqual(got, want) {
				t.Errorf("decoded differently:\n got %+v\nwant %+v", got, want)
			}
			if !equality.Semantic.DeepEqual(got, obj) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", got, obj)
			}
		})
	}
}

// TestDecodeAgreesWithKubernetesOnEdgeCases covers input shapes that
// struct round trips do not produce.
func TestDecodeAgreesWithKubernetesOnEdgeCases(t *testing.T) {
	docs := map[string]string{
		"nulls":               `{"metadata":{"name":"a","labels":null,"annotations":null,"ownerReferences":null,"creationTimestamp":null},"spec":{"cidrBlock":"10.0.0.0/24","excludeIps":null,"enableLb":null,"namespaceSelectors":null}}`,
		"empty collections":   `{"metadata":{"labels":{},"annotations":{}},"spec":{"excludeIps":[],"namespaces":[]}}`,
		"unknown fields":      `{"metadata":{"name":"a","futureField":{"x":[1,2,{"y":null}]}},"spec":{"cidrBlock":"10.0.0.0/24","nextGen":true},"extra":"x"}`,
		"case mismatch":       `{"Metadata":{"name":"a"},"metadata":{"Name":"b","name":"c"},"spec":{"CIDRBlock":"x","cidrBlock":"y"}}`,
		"float counters":      `{"status":{"v4availableIPs":253.0,"v4usingIPs":1e2,"v6availableIPs":1.8446744073709552e19,"v6usingIPs":"3"}}`,
		"duplicate scalar":    `{"metadata":{"name":"a","name":"b"}}`,
		"duplicate object":    `{"metadata":{"labels":{"a":"1"}},"metadata":{"annotations":{"b":"2"}}}`,
		"escapes":             `{"metadata":{"name":"a\u00e9\n\"b","annotations":{"k\u002fx":"v\\w"}}}`,
		"whitespace":          " \n\t{ \"metadata\" : { \"name\" : \"a\" } } \n",
		"empty strings":       `{"metadata":{"name":""},"spec":{"cidrBlock":"","gateway":""}}`,
		"null object":         `null`,
		"large mtu":           `{"spec":{"mtu":4294967295}}`,
		"conditions and time": `{"status":{"conditions":[{"type":"Ready","status":"True","lastUpdateTime":"2026-11-27T14:00:00Z","lastTransitionTime":null,"reason":"","message":"ok"}]}}`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			var want, got kubeovnv1.Subnet
			werr := kubeDecode([]byte(doc), &want)
			gerr := Unmarshal([]byte(doc), &got)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("Kubernetes decoder error %v, review.Unmarshal error %v", werr, gerr)
			}
			if !equality.Semantic.DeepEqual(got, want) {
				t.Errorf("decoded differently:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestDecodeRefusesWhatKubernetesRefuses: malformed documents and wrong
// types are errors both ways.
func TestDecodeRefusesWhatKubernetesRefuses(t *testing.T) {
	for _, doc := range []string{
		`{"metadata":{"name":"a"}`,
		`{"metadata":{"name":5}}`,
		`{"spec":{"mtu":-1}}`,
		`{"spec":{"mtu":"1400"}}`,
		`{"spec":{"mtu":4294967296}}`,
		`{"metadata":{"labels":["a"]}}`,
		`{"status":{"v4availableIPs":true}}`,
		`{"metadata":{"name":"a"}} trailing`,
		``,
	} {
		var want, got kubeovnv1.Subnet
		werr := kubeDecode([]byte(doc), &want)
		gerr := Unmarshal([]byte(doc), &got)
		if werr == nil || gerr == nil {
			t.Errorf("%q: Kubernetes decoder error %v, review.Unmarshal error %v; want both to refuse", doc, werr, gerr)
		}
	}
}
