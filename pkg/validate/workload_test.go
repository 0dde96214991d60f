package validate

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/ipam"
	"github.com/ipamguard/ipamguard/pkg/policy"
	"github.com/ipamguard/ipamguard/pkg/settings"
)

const (
	attPoolKey = "net1.default.ovn.kubernetes.io/ip_pool"
	restartKey = "kubectl.kubernetes.io/restartedAt"
)

// tmplPath is the field path of a template annotation in a workload.
func tmplPath(key string) string {
	return TemplateMetaPath(KindDeployment).Child("annotations").Key(key).String()
}

func cronPath(key string) string {
	return TemplateMetaPath(KindCronJob).Child("annotations").Key(key).String()
}

// workloadFixture extends podFixture() with dual-stack and IPv6 pools.
func workloadFixture() *inventory.Store {
	s := podFixture()
	s.UpsertIPPool(&kubeovnv1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "dual-pool"},
		Spec: kubeovnv1.IPPoolSpec{Subnet: "dual", IPs: []string{"10.80.0.20..10.80.0.21", "fd00:80::/64"}}})
	s.UpsertIPPool(&kubeovnv1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "v6-pool"},
		Spec: kubeovnv1.IPPoolSpec{Subnet: "dual", IPs: []string{"fd00:80::10..fd00:80::11"}}})
	return s
}

// wl is a valid baseline workload of the kind in namespace apps, changed
// by the mutators.
func wl(kind string, replicas *int32, ann map[string]string, mutate ...func(*WorkloadInput)) WorkloadInput {
	in := WorkloadInput{Kind: kind, Namespace: "apps", Name: "w", Replicas: replicas, Annotations: ann}
	for _, m := range mutate {
		m(&in)
	}
	return in
}

func in(ns string) func(*WorkloadInput) { return func(w *WorkloadInput) { w.Namespace = ns } }

func policyOf(p string) func(*WorkloadInput) {
	return func(w *WorkloadInput) { w.ConcurrencyPolicy = p }
}

func TestWorkloadCreate(t *testing.T) {
	t.Parallel()
	store := workloadFixture()
	d := settings.FreshInstall()
	one, two, three := ptr.To[int32](1), ptr.To[int32](2), ptr.To[int32](3)
	fix := "use ip_pool with one address per replica, or ';'-separated groups for a StatefulSet"
	cases := []struct {
		name string
		in   WorkloadInput
		want []want
	}{
		{name: "no annotations", in: wl(KindDeployment, three, nil)},
		{name: "single replica fixed ip passes", in: wl(KindDeployment, one, map[string]string{ipKey: "10.16.0.5"})},
		{name: "nil replicas is one", in: wl(KindDeployment, nil, map[string]string{ipKey: "10.16.0.5"})},
		{name: "zero replicas", in: wl(KindDeployment, ptr.To[int32](0), map[string]string{ipKey: "10.16.0.5"})},
		{name: "deployment: fixed ip for 3 replicas", in: wl(KindDeployment, three, map[string]string{ipKey: "10.16.0.5"}),
			want: []want{{policy.WorkloadStaticIP, tmplPath(ipKey), []string{`Invalid value: "10.16.0.5": 3 replicas run at once, but only one pod can hold the fixed address; the other 2 would wait for it forever; ` + fix}}}},
		{name: "replicaset: fixed ip for 2 replicas", in: wl(KindReplicaSet, two, map[string]string{ipKey: "10.16.0.5"}),
			want: []want{{policy.WorkloadStaticIP, tmplPath(ipKey), []string{"2 replicas run at once", "the other pod would wait"}}}},
		{name: "statefulset: fixed ip for 3 replicas", in: wl(KindStatefulSet, three, map[string]string{ipKey: "10.16.0.5"}),
			want: []want{{policy.WorkloadStaticIP, tmplPath(ipKey), []string{"3 replicas", fix}}}},
		{name: "statefulset: fixed ip for 1 replica", in: wl(KindStatefulSet, one, map[string]string{ipKey: "10.16.0.5"})},
		{name: "daemonset: any fixed ip", in: wl(KindDaemonSet, nil, map[string]string{ipKey: "10.16.0.5"}),
			want: []want{{policy.WorkloadStaticIP, tmplPath(ipKey), []string{"a DaemonSet runs one pod on every node, but only one pod can hold the fixed address; the others would wait for it forever; use ip_pool with one address per node"}}}},
		{name: "job: default parallelism", in: wl(KindJob, nil, map[string]string{ipKey: "10.16.0.5"})},
		{name: "job: parallelism 2", in: wl(KindJob, two, map[string]string{ipKey: "10.16.0.5"}),
			want: []want{{policy.WorkloadStaticIP, tmplPath(ipKey), []string{"parallelism 2 runs 2 pods at once"}}}},
		{name: "cronjob: default concurrency lets runs overlap", in: wl(KindCronJob, nil, map[string]string{ipKey: "10.16.0.5"}),
			want: []want{{policy.WorkloadStaticIP, cronPath(ipKey), []string{"concurrencyPolicy Allow (the default)", "or set concurrencyPolicy: Forbid"}}}},
		{name: "cronjob: explicit Allow", in: wl(KindCronJob, nil, map[string]string{ipKey: "10.16.0.5"}, policyOf("Allow")),
			want: []want{{policy.WorkloadStaticIP, cronPath(ipKey), nil}}},
		{name: "cronjob: Forbid, one pod per run", in: wl(KindCronJob, nil, map[string]string{ipKey: "10.16.0.5"}, policyOf("Forbid"))},
		{name: "cronjob: Replace, one pod per run", in: wl(KindCronJob, one, map[string]string{ipKey: "10.16.0.5"}, policyOf("Replace"))},
		{name: "cronjob: Forbid with parallelism 2", in: wl(KindCronJob, two, map[string]string{ipKey: "10.16.0.5"}, policyOf("Forbid")),
			want: []want{{policy.WorkloadStaticIP, cronPath(ipKey), []string{"parallelism 2"}}}},
		{name: "ipv6 fixed ip", in: wl(KindDeployment, two, map[string]string{lsKey: "v6only", ipKey: "fd00:66::5"}),
			want: []want{{policy.WorkloadStaticIP, tmplPath(ipKey), []string{"fd00:66::5"}}}},
		{name: "dual stack fixed ip is one finding", in: wl(KindDeployment, two, map[string]string{lsKey: "dual", ipKey: "10.80.0.9,fd00:80::9"}),
			want: []want{{policy.WorkloadStaticIP, tmplPath(ipKey), []string{"10.80.0.9,fd00:80::9"}}}},
		{name: "attachment with an interface suffix", in: wl(KindDeployment, two, map[string]string{ifKey: "192.168.50.9"}, in("default")),
			want: []want{{policy.WorkloadStaticIP, tmplPath(ifKey), []string{`"192.168.50.9"`}}}},
		{name: "primary and attachment both fixed", in: wl(KindDeployment, two, map[string]string{ipKey: "10.16.0.5", attKey: "192.168.50.9"}, in("default")),
			want: []want{{policy.WorkloadStaticIP, tmplPath(ipKey), nil}, {policy.WorkloadStaticIP, tmplPath(attKey), nil}}},
		{name: "template judged like a pod: out of range", in: wl(KindDeployment, one, map[string]string{ipKey: "10.17.0.5"}),
			want: []want{{policy.PodIPOutOfRange, tmplPath(ipKey), []string{"10.17.0.5 is not inside subnet ovn-default (10.16.0.0/16)"}}}},
		{name: "template judged like a pod: cronjob path", in: wl(KindCronJob, nil, map[string]string{ipKey: "10.16.0.1"}, policyOf("Forbid")),
			want: []want{{policy.PodIPReserved, cronPath(ipKey), []string{"gateway"}}}},
		{name: "template tenancy", in: wl(KindDeployment, one, map[string]string{lsKey: "team-a"}),
			want: []want{{policy.TenantSubnet, tmplPath(lsKey), []string{"not to namespace apps"}}}},
		{name: "template ippool tenancy", in: wl(KindDeployment, one, map[string]string{poolKey: "pool-a", lsKey: "tenant-a"}, in("default")),
			want: []want{{policy.TenantIPPool, tmplPath(poolKey), nil}}},
		{name: "template taken checks are the pods'", in: wl(KindDeployment, one, map[string]string{ipKey: "10.16.0.21"}, in("web"))},
		{name: "invalid and shared: both reported", in: wl(KindDeployment, three, map[string]string{ipKey: "10.17.0.5"}),
			want: []want{{policy.PodIPOutOfRange, tmplPath(ipKey), nil}, {policy.WorkloadStaticIP, tmplPath(ipKey), nil}}},

		{name: "pool: flat list short", in: wl(KindDeployment, three, map[string]string{poolKey: "10.16.0.5,10.16.0.6"}),
			want: []want{{policy.WorkloadPoolSize, tmplPath(poolKey), []string{"ip_pool has 2 addresses for 3 replicas; the third pod will wait for an address"}}}},
		{name: "pool: flat list large enough", in: wl(KindDeployment, three, map[string]string{poolKey: "10.16.0.5,10.16.0.6,10.16.0.7"})},
		{name: "pool: duplicates count once", in: wl(KindDeployment, two, map[string]string{poolKey: "10.16.0.5, 10.16.0.5"}),
			want: []want{{policy.WorkloadPoolSize, tmplPath(poolKey), []string{"ip_pool has 1 address for 2 replicas; the second pod"}}}},
		{name: "pool: ipv6 list short by several", in: wl(KindDeployment, ptr.To[int32](5), map[string]string{lsKey: "v6only", poolKey: "fd00:66::5,fd00:66::6"}),
			want: []want{{policy.WorkloadPoolSize, tmplPath(poolKey), []string{"ip_pool has 2 addresses for 5 replicas; 3 pods will wait for an address"}}}},
		{name: "pool: dual stack list short in one family", in: wl(KindDeployment, two, map[string]string{lsKey: "dual", poolKey: "10.80.0.10,10.80.0.11,fd00:80::10"}),
			want: []want{{policy.WorkloadPoolSize, tmplPath(poolKey), []string{"ip_pool has 1 IPv6 address for 2 replicas; the second pod"}}}},
		{name: "pool: dual stack list large enough", in: wl(KindDeployment, two, map[string]string{lsKey: "dual", poolKey: "10.80.0.10,fd00:80::10,10.80.0.11,fd00:80::11"})},
		{name: "pool: statefulset groups >= replicas pass", in: wl(KindStatefulSet, three, map[string]string{lsKey: "dual", poolKey: "10.80.0.10,fd00:80::10;10.80.0.11,fd00:80::11;10.80.0.12,fd00:80::12"})},
		{name: "pool: statefulset more groups than replicas", in: wl(KindStatefulSet, two, map[string]string{poolKey: "10.16.0.5;10.16.0.6;10.16.0.7"})},
		{name: "pool: statefulset groups below ordinals.start are never used", in: wl(KindStatefulSet, three, map[string]string{poolKey: "10.16.0.5;10.16.0.6;10.16.0.7"}, func(w *WorkloadInput) { w.StartOrdinal = 10 }),
			want: []want{{policy.WorkloadPoolSize, tmplPath(poolKey), []string{"ip_pool has 3 groups for ordinals 10 to 12 (ordinals.start 10); pod N takes group N, so 3 pods will wait"}}}},
		{name: "pool: statefulset groups cover ordinals.start", in: wl(KindStatefulSet, two, map[string]string{poolKey: "10.16.0.5;10.16.0.6;10.16.0.7"}, func(w *WorkloadInput) { w.StartOrdinal = 1 })},
		{name: "pool: statefulset groups short", in: wl(KindStatefulSet, three, map[string]string{lsKey: "dual", poolKey: "10.80.0.10,fd00:80::10;10.80.0.11,fd00:80::11"}),
			want: []want{{policy.WorkloadPoolSize, tmplPath(poolKey), []string{"ip_pool has 2 groups for 3 replicas; the third pod will wait for an address"}}}},
		{name: "pool: statefulset flat list counts per family", in: wl(KindStatefulSet, three, map[string]string{poolKey: "10.16.0.5,10.16.0.6"}),
			want: []want{{policy.WorkloadPoolSize, tmplPath(poolKey), []string{"ip_pool has 2 addresses for 3 replicas"}}}},
		{name: "pool: named ippool large enough", in: wl(KindDeployment, ptr.To[int32](11), map[string]string{poolKey: "open-pool", lsKey: "tenant-a"})},
		{name: "pool: named ippool short", in: wl(KindDeployment, ptr.To[int32](12), map[string]string{poolKey: "open-pool", lsKey: "tenant-a"}),
			want: []want{{policy.WorkloadPoolSize, tmplPath(poolKey), []string{"IPPool open-pool has 11 addresses for 12 replicas; the 12th pod will wait for an address"}}}},
		{name: "pool: named dual stack ippool short in ipv4, ipv6 saturates", in: wl(KindDeployment, three, map[string]string{poolKey: "dual-pool", lsKey: "dual"}),
			want: []want{{policy.WorkloadPoolSize, tmplPath(poolKey), []string{"IPPool dual-pool has 2 IPv4 addresses for 3 replicas; the third pod"}}}},
		{name: "pool: named ipv6 ippool short", in: wl(KindDeployment, ptr.To[int32](5), map[string]string{poolKey: "v6-pool", lsKey: "dual"}),
			want: []want{{policy.WorkloadPoolSize, tmplPath(poolKey), []string{"IPPool v6-pool has 2 addresses for 5 replicas; 3 pods will wait"}}}},
		{name: "pool: missing ippool is the template check's", in: wl(KindDeployment, three, map[string]string{poolKey: "nope"}),
			want: []want{{policy.PodIPInvalid, tmplPath(poolKey), []string{"does not exist"}}}},
		{name: "pool: job parallelism", in: wl(KindJob, three, map[string]string{poolKey: "10.16.0.5,10.16.0.6"}),
			want: []want{{policy.WorkloadPoolSize, tmplPath(poolKey), []string{"ip_pool has 2 addresses for 3 parallel pods"}}}},
		{name: "pool: cronjob jobTemplate parallelism", in: wl(KindCronJob, three, map[string]string{poolKey: "10.16.0.5,10.16.0.6"}, policyOf("Forbid")),
			want: []want{{policy.WorkloadPoolSize, cronPath(poolKey), []string{"for 3 parallel pods"}}}},
		{name: "pool: cronjob with overlapping runs has no count", in: wl(KindCronJob, nil, map[string]string{poolKey: "10.16.0.5,10.16.0.6"})},
		{name: "pool: daemonset has no count", in: wl(KindDaemonSet, nil, map[string]string{poolKey: "10.16.0.5,10.16.0.6"})},
		{name: "pool: attachment network", in: wl(KindDeployment, three, map[string]string{attPoolKey: "192.168.50.9,192.168.50.10"}, in("default")),
			want: []want{{policy.WorkloadPoolSize, tmplPath(attPoolKey), []string{"ip_pool has 2 addresses for 3 replicas"}}}},
		// Kube-OVN has no per-interface ip_pool: the key means nothing.
		{name: "pool: an interface suffix on ip_pool is not read", in: wl(KindDeployment, three, map[string]string{attPoolKey + ".eth1": "192.168.50.9,192.168.50.10"}, in("default"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []policy.Finding
			store.Read(func(r inventory.Reader) { got = WorkloadCreate(cx(r, d), nil, valPtr(tc.in)).Findings })
			check(t, got, tc.want)
		})
	}
}

func TestWorkloadUpdate(t *testing.T) {
	t.Parallel()
	store := workloadFixture()
	d := settings.FreshInstall()
	n := func(v int32) *int32 { return &v }
	fixed := map[string]string{ipKey: "10.16.0.5"}
	groups3 := "10.16.0.5;10.16.0.6;10.16.0.7"
	cases := []struct {
		name     string
		old, new WorkloadInput
		want     []want
	}{
		{name: "scaling a statefulset with enough groups passes",
			old: wl(KindStatefulSet, n(2), map[string]string{poolKey: groups3}), new: wl(KindStatefulSet, n(3), map[string]string{poolKey: groups3})},
		{name: "scaling a fixed-ip deployment up is refused on spec.replicas",
			old: wl(KindDeployment, n(1), fixed), new: wl(KindDeployment, n(3), fixed),
			want: []want{{policy.WorkloadStaticIP, "spec.replicas", []string{"spec.replicas: Invalid value: 3: 3 replicas run at once, but only one pod can hold the fixed address 10.16.0.5 of template annotation ovn.kubernetes.io/ip_address"}}}},
		{name: "scaling a fixed-ip deployment down passes",
			old: wl(KindDeployment, n(3), fixed), new: wl(KindDeployment, n(1), fixed)},
		{name: "an already-shared fixed ip is not re-judged on scaling",
			old: wl(KindDeployment, n(3), fixed), new: wl(KindDeployment, n(5), fixed)},
		{name: "unrelated template edits on an invalid workload are not re-judged",
			old: wl(KindDeployment, n(3), map[string]string{ipKey: "10.17.0.5"}),
			new: wl(KindDeployment, n(3), map[string]string{ipKey: "10.17.0.5", restartKey: "2026-01-01T00:00:00Z"})},
		{name: "changing the fixed ip of a shared template is judged",
			old: wl(KindDeployment, n(3), fixed), new: wl(KindDeployment, n(3), map[string]string{ipKey: "10.17.0.6"}),
			want: []want{{policy.PodIPOutOfRange, tmplPath(ipKey), nil}, {policy.WorkloadStaticIP, tmplPath(ipKey), nil}}},
		{name: "adding a fixed ip to a multi-replica deployment",
			old: wl(KindDeployment, n(3), nil), new: wl(KindDeployment, n(3), fixed),
			want: []want{{policy.WorkloadStaticIP, tmplPath(ipKey), nil}}},
		{name: "cronjob switched to Allow",
			old: wl(KindCronJob, nil, fixed, policyOf("Forbid")), new: wl(KindCronJob, nil, fixed),
			want: []want{{policy.WorkloadStaticIP, "spec.concurrencyPolicy", []string{`spec.concurrencyPolicy: Invalid value: "Allow"`}}}},
		{name: "job parallelism raised",
			old: wl(KindJob, nil, fixed), new: wl(KindJob, n(2), fixed),
			want: []want{{policy.WorkloadStaticIP, "spec.parallelism", nil}}},
		{name: "scaling past the pool warns on spec.replicas",
			old:  wl(KindDeployment, n(3), map[string]string{poolKey: "10.16.0.5,10.16.0.6,10.16.0.7"}),
			new:  wl(KindDeployment, n(4), map[string]string{poolKey: "10.16.0.5,10.16.0.6,10.16.0.7"}),
			want: []want{{policy.WorkloadPoolSize, "spec.replicas", []string{"ip_pool has 3 addresses for 4 replicas; the fourth pod"}}}},
		{name: "an already-short pool is not re-warned on scaling",
			old: wl(KindDeployment, n(4), map[string]string{poolKey: "10.16.0.5,10.16.0.6,10.16.0.7"}),
			new: wl(KindDeployment, n(5), map[string]string{poolKey: "10.16.0.5,10.16.0.6,10.16.0.7"})},
		{name: "shrinking the pool below the replicas warns on the annotation",
			old:  wl(KindDeployment, n(3), map[string]string{poolKey: "10.16.0.5,10.16.0.6,10.16.0.7"}),
			new:  wl(KindDeployment, n(3), map[string]string{poolKey: "10.16.0.5,10.16.0.6"}),
			want: []want{{policy.WorkloadPoolSize, tmplPath(poolKey), nil}}},

		{name: "statefulset: changing the groups of running pods is refused",
			old: wl(KindStatefulSet, n(3), map[string]string{poolKey: groups3}),
			new: wl(KindStatefulSet, n(3), map[string]string{poolKey: "10.16.0.15;10.16.0.16;10.16.0.17"}),
			want: []want{{policy.StatefulSetIPChange, tmplPath(poolKey), []string{
				`changing ip_pool from "10.16.0.5;10.16.0.6;10.16.0.7" to "10.16.0.15;10.16.0.16;10.16.0.17" of a StatefulSet with 3 replicas`,
				"kube-ovn#5259", "delete and recreate the StatefulSet, or scale it to 0 first"}}}},
		{name: "statefulset: dual stack groups changed",
			old:  wl(KindStatefulSet, n(2), map[string]string{lsKey: "dual", poolKey: "10.80.0.10,fd00:80::10;10.80.0.11,fd00:80::11"}),
			new:  wl(KindStatefulSet, n(2), map[string]string{lsKey: "dual", poolKey: "10.80.0.10,fd00:80::10;10.80.0.11,fd00:80::99"}),
			want: []want{{policy.StatefulSetIPChange, tmplPath(poolKey), nil}}},
		{name: "statefulset: appending a group for a scale-up passes",
			old: wl(KindStatefulSet, n(2), map[string]string{poolKey: "10.16.0.5;10.16.0.6"}),
			new: wl(KindStatefulSet, n(3), map[string]string{poolKey: groups3})},
		{name: "statefulset: changing a group beyond the running ordinals passes",
			old: wl(KindStatefulSet, n(2), map[string]string{poolKey: groups3}),
			new: wl(KindStatefulSet, n(2), map[string]string{poolKey: "10.16.0.5; 10.16.0.6;10.16.0.9"})},
		{name: "statefulset: dropping a held group is refused",
			old:  wl(KindStatefulSet, n(3), map[string]string{poolKey: groups3}),
			new:  wl(KindStatefulSet, n(3), map[string]string{poolKey: "10.16.0.5;10.16.0.6"}),
			want: []want{{policy.WorkloadPoolSize, tmplPath(poolKey), nil}, {policy.StatefulSetIPChange, tmplPath(poolKey), nil}}},
		{name: "statefulset: changing ip_address of the default one replica",
			old: wl(KindStatefulSet, nil, fixed), new: wl(KindStatefulSet, nil, map[string]string{ipKey: "10.16.0.6"}),
			want: []want{{policy.StatefulSetIPChange, tmplPath(ipKey), []string{`changing ip_address from "10.16.0.5" to "10.16.0.6" of a StatefulSet with 1 replica:`}}}},
		{name: "statefulset: adding a fixed ip",
			old: wl(KindStatefulSet, n(1), nil), new: wl(KindStatefulSet, n(1), fixed),
			want: []want{{policy.StatefulSetIPChange, tmplPath(ipKey), []string{`adding ip_address "10.16.0.5"`}}}},
		{name: "statefulset: removing an attachment's ip by interface",
			old: wl(KindStatefulSet, n(1), map[string]string{ifKey: "192.168.50.9"}, in("default")), new: wl(KindStatefulSet, n(1), nil, in("default")),
			want: []want{{policy.StatefulSetIPChange, tmplPath(ifKey), []string{`removing ip_address.eth1 "192.168.50.9"`}}}},
		{name: "statefulset: ipv6 ip change",
			old: wl(KindStatefulSet, n(1), map[string]string{lsKey: "v6only", ipKey: "fd00:66::5"}), new: wl(KindStatefulSet, n(1), map[string]string{lsKey: "v6only", ipKey: "fd00:66::6"}),
			want: []want{{policy.StatefulSetIPChange, tmplPath(ipKey), []string{"fd00:66::6"}}}},
		{name: "statefulset: change allowed at zero replicas",
			old: wl(KindStatefulSet, n(0), map[string]string{poolKey: groups3}), new: wl(KindStatefulSet, n(0), map[string]string{poolKey: "10.16.0.15;10.16.0.16;10.16.0.17"})},
		{name: "statefulset: scaling from zero with a new pool passes",
			old: wl(KindStatefulSet, n(0), map[string]string{poolKey: groups3}), new: wl(KindStatefulSet, n(3), map[string]string{poolKey: "10.16.0.15;10.16.0.16;10.16.0.17"})},
		{name: "statefulset: logical_switch change is not an ip change",
			old: wl(KindStatefulSet, n(1), map[string]string{lsKey: "tenant-a"}), new: wl(KindStatefulSet, n(1), map[string]string{lsKey: "tenant-b"})},
		{name: "deployment: changing the fixed ip of one replica passes",
			old: wl(KindDeployment, n(1), fixed), new: wl(KindDeployment, n(1), map[string]string{ipKey: "10.16.0.6"})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []policy.Finding
			store.Read(func(r inventory.Reader) { got = WorkloadUpdate(cx(r, d), valPtr(tc.old), valPtr(tc.new)).Findings })
			check(t, got, tc.want)
		})
	}
}

func TestRangeLenSaturates(t *testing.T) {
	t.Parallel()
	s := workloadFixture()
	var pool *inventory.IPPool
	s.Read(func(r inventory.Reader) { pool, _ = r.IPPool("dual-pool") })
	got := ipam.SetSize(pool.Set)
	if got[0] != 2 || got[1] != ^uint64(0) {
		t.Errorf("SetSize = %v, want [2 max]", got)
	}
	for n, w := range map[int]string{1: "first", 10: "tenth", 11: "11th", 12: "12th", 21: "21st", 22: "22nd", 23: "23rd", 111: "111th"} {
		if g := ordinal(n); g != w {
			t.Errorf("ordinal(%d) = %s, want %s", n, g, w)
		}
	}
}
