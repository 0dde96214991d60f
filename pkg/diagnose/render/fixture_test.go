package render

import (
	"time"

	"github.com/ipamguard/ipamguard/pkg/diagnose"
)

func ptr[T any](v T) *T { return &v }

// sample is a hand-made report with every section: an incomplete gap, a
// subnet table with dual stack, stored status that disagrees (and one that
// is impossible) and a name too long for 100 columns, latency, findings of
// every severity with cluster-scoped and namespaced objects, multi-line
// fix commands (heredocs) and related findings.
func sample() *diagnose.Report {
	ipWeb := diagnose.ObjectRef{APIVersion: "kubeovn.io/v1", Kind: "IP", Name: "web-0.shop.tenant-a-net", UID: "0f5c7e62-1111-4a4b-8c1d-000000000001", ResourceVersion: "48121"}
	vip := diagnose.ObjectRef{APIVersion: "kubeovn.io/v1", Kind: "Vip", Name: "vip-lb", UID: "0f5c7e62-1111-4a4b-8c1d-000000000002", ResourceVersion: "48200"}
	subnet := diagnose.ObjectRef{APIVersion: "kubeovn.io/v1", Kind: "Subnet", Name: "tenant-a-net", UID: "0f5c7e62-1111-4a4b-8c1d-000000000003", ResourceVersion: "51002"}
	staging := diagnose.ObjectRef{APIVersion: "kubeovn.io/v1", Kind: "Subnet", Name: "staging", UID: "0f5c7e62-1111-4a4b-8c1d-000000000004", ResourceVersion: "51777"}
	stuck := diagnose.ObjectRef{APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: "web-3", UID: "0f5c7e62-1111-4a4b-8c1d-000000000005", ResourceVersion: "52010"}
	zombie := diagnose.ObjectRef{APIVersion: "kubeovn.io/v1", Kind: "IP", Name: "old-7d9f.shop", UID: "0f5c7e62-1111-4a4b-8c1d-000000000006", ResourceVersion: "30111"}
	batch := diagnose.ObjectRef{APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: "batch-7", UID: "0f5c7e62-1111-4a4b-8c1d-000000000007", ResourceVersion: "52100"}
	api := diagnose.ObjectRef{APIVersion: "v1", Kind: "Pod", Namespace: "team-b", Name: "api-1", UID: "0f5c7e62-1111-4a4b-8c1d-000000000008", ResourceVersion: "52222"}
	ipDB := diagnose.ObjectRef{APIVersion: "kubeovn.io/v1", Kind: "IP", Name: "db-0.data", UID: "0f5c7e62-1111-4a4b-8c1d-000000000009", ResourceVersion: "20001"}
	sts := diagnose.ObjectRef{APIVersion: "apps/v1", Kind: "StatefulSet", Namespace: "data", Name: "db", UID: "0f5c7e62-1111-4a4b-8c1d-00000000000a", ResourceVersion: "19000"}
	ipNode := diagnose.ObjectRef{APIVersion: "kubeovn.io/v1", Kind: "IP", Name: "node-worker-1", UID: "0f5c7e62-1111-4a4b-8c1d-00000000000b", ResourceVersion: "101"}
	node := diagnose.ObjectRef{APIVersion: "v1", Kind: "Node", Name: "worker-1", UID: "0f5c7e62-1111-4a4b-8c1d-00000000000c", ResourceVersion: "99881"}

	return &diagnose.Report{
		ClusterID: "8a1f6c2e-0d4b-4c1e-9b7a-3f2d1e0c9b8a",
		Time:      time.Date(2026, 12, 7, 0, 30, 0, 0, time.UTC),
		Subnets: []diagnose.SubnetRow{
			{Name: "join", Vpc: "ovn-cluster", State: "healthy", Families: []diagnose.FamilyUsage{
				{CIDR: "100.64.0.0/16", Total: 65533, Used: 3, Available: 65530},
			}},
			{Name: "ovn-default", Vpc: "ovn-cluster", State: "healthy", Families: []diagnose.FamilyUsage{
				{CIDR: "10.16.0.0/16", Total: 65533, Used: 1234, Available: 64299},
			}},
			{Name: "staging", Vpc: "ovn-cluster", State: "warning", Families: []diagnose.FamilyUsage{
				{CIDR: "10.20.0.0/28", Total: 13, Used: 4, Available: 9, StoredUsing: ptr(-3.0), StoredAvailable: ptr(16.0)},
			}},
			{Name: "storage-replication-network-for-the-analytics-team-zone-b", Vpc: "analytics", State: "healthy", Families: []diagnose.FamilyUsage{
				{CIDR: "172.30.128.0/20", Total: 4093, Used: 512, Available: 3581},
			}},
			{Name: "tenant-a-net", Vpc: "tenant-a", State: "critical", Families: []diagnose.FamilyUsage{
				{CIDR: "10.100.0.0/24", Total: 253, Used: 248, Available: 5, StoredUsing: ptr(12.0), StoredAvailable: ptr(241.0)},
				{CIDR: "fd00:10:100::/120", Total: 255, Used: 248, Available: 7},
			}},
		},
		Latency: []diagnose.LatencyRow{
			{Subnet: "ovn-default", Pods: 1200, P50: 850 * time.Millisecond, P95: 1900 * time.Millisecond, Max: 4230 * time.Millisecond},
			{Subnet: "staging", Pods: 0},
			{Subnet: "tenant-a-net", Pods: 40, P50: 2400 * time.Millisecond, P95: 11300 * time.Millisecond, Max: 130 * time.Second, Missing: 3},
		},
		Findings: []diagnose.Finding{
			{
				Check: diagnose.CheckDuplicate, Severity: diagnose.Critical, Subnet: "tenant-a-net",
				Message: "10.100.0.7 is held twice in subnet tenant-a-net: by IP web-0.shop.tenant-a-net and by Vip vip-lb",
				Objects: []diagnose.ObjectRef{ipWeb, vip},
				Fix:     []string{diagnose.DeleteCommand(vip)},
				Hint:    "the Vip was created with an address Kube-OVN had already given to pod shop/web-0; delete the Vip and recreate it without spec.v4ip",
				ID:      "duplicate-address/IP/web-0.shop.tenant-a-net",
			},
			{
				Check: diagnose.CheckStuckPod, Severity: diagnose.Critical, Subnet: "tenant-a-net",
				Message: "pod shop/web-3 has been creating for 12m: kube-ovn-cni reports \"NoAvailableAddress\" (no available IP in subnet tenant-a-net)",
				Objects: []diagnose.ObjectRef{stuck},
				Hint:    "free addresses in subnet tenant-a-net or expand it; the pod starts by itself once an address is free",
				Related: []string{"subnet-usage/Subnet/tenant-a-net"},
				ID:      "pod-stuck-creating/Pod/shop/web-3",
			},
			{
				Check: diagnose.CheckSubnetUsage, Severity: diagnose.Critical, Subnet: "tenant-a-net",
				Message: "subnet tenant-a-net has 5 IPv4 addresses available (critical at 5 or fewer)",
				Objects: []diagnose.ObjectRef{subnet},
				Hint:    "expand spec.cidrBlock (Kube-OVN allows growing a subnet's CIDR), remove entries from spec.excludeIps, or move workloads to another subnet",
				ID:      "subnet-usage/Subnet/tenant-a-net",
			},
			{
				Check: diagnose.CheckNoAllocation, Severity: diagnose.Warning, Subnet: "tenant-a-net",
				Message: "pod shop/batch-7 was created 15m ago and never got an IP object",
				Objects: []diagnose.ObjectRef{batch},
				Related: []string{"subnet-usage/Subnet/tenant-a-net"},
				ID:      "allocation-missing/Pod/shop/batch-7",
			},
			{
				Check: diagnose.CheckRefusedAnnotation, Severity: diagnose.Warning, Subnet: "ovn-default",
				Message: "pod team-b/api-1 asks for 10.16.0.1 (ovn.kubernetes.io/ip_address), the gateway of subnet ovn-default: the webhook would refuse it now",
				Objects: []diagnose.ObjectRef{api},
				Hint:    "change the pod template's ovn.kubernetes.io/ip_address annotation to a free address of the subnet",
				ID:      "pod-annotation-refused/Pod/team-b/api-1",
			},
			{
				Check: diagnose.CheckSubnetStatus, Severity: diagnose.Warning, Subnet: "staging",
				Message: "subnet staging stores usingIPs -3 and availableIPs 16, impossible for 13 addresses; the IP objects hold 4",
				Objects: []diagnose.ObjectRef{staging},
				Fix: []string{
					"kubectl get ips -l ovn.kubernetes.io/subnet=staging",
					"kubectl get subnet staging -o jsonpath='{.status.v4usingIPs}/{.status.v4availableIPs}{\"\\n\"}'",
				},
				Hint: "the status is advisory: compare it with the IP objects below; kube-ovn-controller recounts it when it next syncs the subnet",
				ID:   "subnet-status/Subnet/staging",
			},
			{
				Check: diagnose.CheckZombie, Severity: diagnose.Warning, Subnet: "ovn-default",
				Message: "IP old-7d9f.shop holds 10.16.0.44 for pod shop/old-7d9f, which is gone",
				Objects: []diagnose.ObjectRef{zombie},
				Fix:     []string{diagnose.DeleteCommand(zombie)},
				ID:      "zombie-ip/IP/old-7d9f.shop",
			},
			{
				Check: diagnose.CheckKept, Severity: diagnose.Info, Subnet: "ovn-default",
				Message: "IP db-0.data is kept for StatefulSet data/db ordinal 0 (keep-ip while the StatefulSet wants it)",
				Objects: []diagnose.ObjectRef{ipDB, sts},
				ID:      "kept-ip/IP/db-0.data",
			},
			{
				Check: diagnose.CheckKept, Severity: diagnose.Info, Subnet: "join",
				Message: "IP node-worker-1 is the join port of node worker-1",
				Objects: []diagnose.ObjectRef{ipNode, node},
				ID:      "kept-ip/IP/node-worker-1",
			},
		},
		Incomplete: []diagnose.Gap{
			{Resource: "events", Reason: `events is forbidden: User "dev" cannot list resource "events" in API group "" at the cluster scope`},
		},
		Summary: diagnose.Summary{Critical: 3, Warning: 4, Info: 2},
	}
}
