// Package diagnose is ipamguard's doctor: it reads the state a cluster is
// already in (State: Subnets, IP objects, IPPools, Vpcs, Vips, Nodes, Pods,
// owners and IPAM events, live or from a snapshot) and reports what is
// wrong with its address management as Findings, each with a stable check
// ID, a severity, the objects involved (with UID and resourceVersion) and
// the kubectl commands that fix it, printed and never run.
//
// The checks automate the Kube-OVN IP troubleshooting runbook: subnet
// usage against thresholds and stored status, overlaps in one routing
// scope, duplicate addresses, zombie IP objects (told apart from those
// kept on purpose), pods stuck creating, pending pods whose static-IP
// annotations the webhook would refuse now, and allocation latency.
//
// Run is the one-shot doctor (kubectl ipam doctor); the webhook runs the
// same Run on its inventory for the continuous audit.
package diagnose
