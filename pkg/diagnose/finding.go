package diagnose

import (
	"cmp"
	"slices"
	"time"
)

// Severity orders findings: Critical breaks or is about to break
// allocation, Warning needs attention, Info is kept for the record (what is
// kept on purpose, and why).
type Severity string

// Severities, most severe first.
const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

// rank is the sort order of a severity: lower is more severe.
func (s Severity) rank() int {
	switch s {
	case Critical:
		return 0
	case Warning:
		return 1
	}
	return 2
}

// Check IDs are stable: scripts, alerts and report consumers key on them.
const (
	CheckSubnetUsage       = "subnet-usage"       // available addresses at or below the thresholds
	CheckSubnetStatus      = "subnet-status"      // stored status disagrees with the IP objects or is impossible
	CheckOverlap           = "overlap"            // two CIDRs overlap in one routing scope
	CheckDuplicate         = "duplicate-address"  // one address held twice in one subnet
	CheckZombie            = "zombie-ip"          // IP object whose owner is gone
	CheckSuspiciousKept    = "suspicious-kept-ip" // kept on purpose, but the reason looks gone
	CheckKept              = "kept-ip"            // kept on purpose (info)
	CheckStuckPod          = "pod-stuck-creating" // pod stuck creating with an IPAM event
	CheckRefusedAnnotation = "pod-annotation-refused"
	CheckSlowAllocation    = "allocation-slow"    // pod created → IP object created slower than the thresholds
	CheckNoAllocation      = "allocation-missing" // pod never got an IP object
	CheckStaleReservation  = "reservation-stale"  // the webhook's reservation outlived its lifetime
)

// ObjectRef names one object involved in a finding, pinned to the version
// the doctor saw.
type ObjectRef struct {
	APIVersion      string `json:"apiVersion"`
	Kind            string `json:"kind"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name"`
	UID             string `json:"uid,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

// Finding is one problem (or, at Info, one thing kept on purpose).
type Finding struct {
	// Check is the stable ID of the check (Check* constants).
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	// Subnet is the subnet the finding is about, if any: reports group and
	// metrics count by it.
	Subnet string `json:"subnet,omitempty"`
	// Message says what is wrong and what Kube-OVN does about it.
	Message string `json:"message"`
	// Objects are the objects involved, the one to act on first.
	Objects []ObjectRef `json:"objects"`
	// Fix are kubectl commands that clear the finding, in order; printed,
	// never run. Deletions carry the object's UID and resourceVersion as
	// preconditions. Empty when the fix needs a human decision (Hint
	// says which).
	Fix []string `json:"fix,omitempty"`
	// Hint is advice when no command can be printed, or beside it.
	Hint string `json:"hint,omitempty"`
	// Related are the IDs of findings that explain this one (a stuck pod's
	// event explained by an exhausted subnet).
	Related []string `json:"related,omitempty"`
	// ID identifies the finding within one report (check/first object).
	ID string `json:"id"`
}

// Gap is a part of the state the doctor could not read: the findings that
// need it are missing, and the report is incomplete.
type Gap struct {
	Resource string `json:"resource"`
	Reason   string `json:"reason"`
}

// Report is the doctor's result.
type Report struct {
	// ClusterID is the UID of the kube-system namespace, when known.
	ClusterID string    `json:"clusterID,omitempty"`
	Time      time.Time `json:"time"`
	// Subnets is the subnet table, by name.
	Subnets []SubnetRow `json:"subnets"`
	// Latency is allocation latency per subnet, by name.
	Latency  []LatencyRow `json:"latency,omitempty"`
	Findings []Finding    `json:"findings"`
	// Incomplete lists what could not be read.
	Incomplete []Gap   `json:"incomplete,omitempty"`
	Summary    Summary `json:"summary"`
}

// Summary counts findings by severity.
type Summary struct {
	Critical int `json:"critical"`
	Warning  int `json:"warning"`
	Info     int `json:"info"`
}

// FamilyUsage is the address count of one family of a subnet, computed from
// its CIDR, excludeIps, IP objects and Vips.
type FamilyUsage struct {
	CIDR      string `json:"cidr"`
	Total     uint64 `json:"total"`
	Used      uint64 `json:"used"`
	Available uint64 `json:"available"`
	// Status is the stored status counter pair when it disagrees with the
	// computed one or is impossible; nil when it agrees.
	StoredUsing     *float64 `json:"storedUsing,omitempty"`
	StoredAvailable *float64 `json:"storedAvailable,omitempty"`
}

// SubnetRow is one line of the subnet table.
type SubnetRow struct {
	Name string `json:"name"`
	Vpc  string `json:"vpc"`
	// Families holds IPv4 then IPv6, as the CIDR block has them.
	Families []FamilyUsage `json:"families"`
	// State is healthy, warning or critical by the available-address
	// thresholds (the lowest family decides).
	State string `json:"state"`
}

// LatencyRow is allocation latency (pod created → IP object created) in one
// subnet.
type LatencyRow struct {
	Subnet  string        `json:"subnet"`
	Pods    int           `json:"pods"`
	P50     time.Duration `json:"p50"`
	P95     time.Duration `json:"p95"`
	Max     time.Duration `json:"max"`
	Missing int           `json:"missing"`
}

// Exit statuses of the doctor.
const (
	ExitClean      = 0
	ExitWarnings   = 1
	ExitUsage      = 2
	ExitCritical   = 3
	ExitIncomplete = 4
)

// ExitCode is the doctor's exit status for the report: incomplete wins (the
// findings may be missing some), then critical, then warnings.
func (r *Report) ExitCode() int {
	switch {
	case len(r.Incomplete) > 0:
		return ExitIncomplete
	case r.Summary.Critical > 0:
		return ExitCritical
	case r.Summary.Warning > 0:
		return ExitWarnings
	}
	return ExitClean
}

// finish sorts the findings (severity, check, subnet, first object) and
// fills IDs and the summary.
func (r *Report) finish() {
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.Severity.rank(), b.Severity.rank()),
			cmp.Compare(a.Check, b.Check),
			cmp.Compare(a.Subnet, b.Subnet),
			compareFirst(a.Objects, b.Objects),
			cmp.Compare(a.Message, b.Message),
		)
	})
	r.Summary = Summary{}
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.ID == "" {
			f.ID = findingID(f)
		}
		switch f.Severity {
		case Critical:
			r.Summary.Critical++
		case Warning:
			r.Summary.Warning++
		default:
			r.Summary.Info++
		}
	}
}

func compareFirst(a, b []ObjectRef) int {
	if len(a) == 0 || len(b) == 0 {
		return cmp.Compare(len(a), len(b))
	}
	return cmp.Or(cmp.Compare(a[0].Kind, b[0].Kind), cmp.Compare(a[0].Namespace, b[0].Namespace), cmp.Compare(a[0].Name, b[0].Name))
}

// findingID is check/kind/namespace/name of the first object, or
// check/subnet: stable across runs while the objects are.
func findingID(f *Finding) string {
	if len(f.Objects) == 0 {
		return f.Check + "/" + f.Subnet
	}
	o := f.Objects[0]
	id := f.Check + "/" + o.Kind + "/"
	if o.Namespace != "" {
		id += o.Namespace + "/"
	}
	return id + o.Name
}
