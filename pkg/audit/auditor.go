package audit

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ipamguard/ipamguard/pkg/clusterstate"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/diagnose/render"
	"github.com/ipamguard/ipamguard/pkg/metrics"
	"github.com/ipamguard/ipamguard/pkg/snapshot"
)

// The continuous audit lists what the doctor reads and may write its
// report. controller-gen builds the webhook's ClusterRole from these.
//
// +kubebuilder:rbac:groups="",resources=pods;nodes;namespaces;events,verbs=list
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=list
// +kubebuilder:rbac:groups=kubevirt.io,resources=virtualmachines;virtualmachineinstances,verbs=list
// +kubebuilder:rbac:groups=networking.k8s.io,resources=servicecidrs,verbs=list
// +kubebuilder:rbac:groups=kubeovn.io,resources=subnets;ips;ippools;vpcs;vips;iptables-eips;ovn-eips,verbs=list

// DefaultInterval is how often the audit runs by default.
const DefaultInterval = 5 * time.Minute

// DefaultMaxResults caps the results of the written ClusterReport (most
// severe first), keeping it far below the API server's object size limit;
// the summary still counts every finding.
const DefaultMaxResults = 1000

// DefaultMaxObjects bounds what one run reads (pods, IP objects and the
// rest): each run holds a stripped copy of it, about 1.2 KB a pod or IP
// object, beside the webhook's inventory, and the webhook's memory limit
// is sized for the inventory. A larger cluster is audited by
// `kubectl ipam doctor` out of band, or with this raised together with the
// limit.
const DefaultMaxObjects = 50000

// ErrTooLarge is the error of a run that stopped at MaxObjects.
var ErrTooLarge = errors.New("the cluster has more objects than the audit may hold (--audit-max-objects)")

// maxReportBytes bounds the encoded ClusterReport, well below the API
// server's 1.5 MiB request limit.
const maxReportBytes = 800 << 10

// FieldOwner is the field manager of the written report.
const FieldOwner = "ipamguard-audit"

// Auditor runs the doctor periodically. Run it on the leader only
// (internal/leader.Add): one replica exports the findings and writes the
// report.
type Auditor struct {
	// Interval between the end of one run and the start of the next.
	Interval time.Duration
	// Reader reads the cluster (the webhook's service account).
	Reader *clusterstate.Reader
	// Config returns the configuration in force (the judge of pending
	// pods uses it); nil: the defaults.
	Config func() *config.Config
	// Metrics receives each run's finding counts; nil records nothing.
	Metrics *metrics.Metrics
	// Reports, when set, writes the report as one openreports.io
	// ClusterReport (server-side apply); without the CRD installed, the
	// audit keeps to metrics and says so once.
	Reports client.Client
	// MaxResults caps the ClusterReport's results; 0: DefaultMaxResults.
	MaxResults int
	// MaxObjects stops a run that reads more objects (ErrTooLarge);
	// 0: no bound.
	MaxObjects int
	// Extra are read after the doctor's inventory: the webhook's own
	// address reservations (clusterstate.ReservationLeases), for the
	// reservation-stale check.
	Extra []clusterstate.Resource
	// Options returns the checks' options for a run judged at now; nil:
	// diagnose.DefaultOptions.
	Options func(now time.Time) diagnose.Options
	Log     logr.Logger

	mu        sync.Mutex
	last      *diagnose.Report
	noReports bool
}

// Run audits now and then every Interval until ctx ends. A failed run is
// logged and counted; the next run comes all the same.
func (a *Auditor) Run(ctx context.Context) error {
	interval := cmp.Or(a.Interval, DefaultInterval)
	a.Log.Info("continuous audit started", "interval", interval.String(), "reports", a.Reports != nil)
	defer a.Metrics.ClearAudit()
	for {
		if _, err := a.RunOnce(ctx); err != nil && ctx.Err() == nil {
			a.Log.Error(err, "audit run failed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// RunOnce reads the cluster, runs the checks, exports the counts and, when
// enabled, writes the report. It returns the report.
func (a *Auditor) RunOnce(ctx context.Context) (*diagnose.Report, error) {
	start := time.Now()
	s := &diagnose.State{Time: start.UTC()}
	if err := a.read(ctx, s); err != nil {
		a.Metrics.ObserveAudit(nil, time.Since(start), time.Now(), false, err)
		return nil, fmt.Errorf("read the cluster: %w", err)
	}
	opts := diagnose.DefaultOptions(s.Time)
	if a.Options != nil {
		opts = a.Options(s.Time)
	}
	opts.Ctx = ctx
	var cfg *config.Config
	if a.Config != nil {
		cfg = a.Config()
	}
	rep, err := Diagnose(s, cfg, opts)
	if err != nil {
		a.Metrics.ObserveAudit(nil, time.Since(start), time.Now(), false, err)
		return nil, err
	}
	for _, g := range rep.Incomplete {
		a.Log.Info("audit could not read a resource; findings that need it are missing", "resource", g.Resource, "reason", g.Reason)
	}
	a.Metrics.ObserveAudit(Counts(rep), time.Since(start), time.Now(), len(rep.Incomplete) > 0, nil)
	a.mu.Lock()
	a.last = rep
	a.mu.Unlock()
	if err := a.writeReport(ctx, rep); err != nil {
		a.Log.Error(err, "write the audit report")
	}
	a.Log.V(1).Info("audit run", "duration", time.Since(start).String(), "critical", rep.Summary.Critical,
		"warning", rep.Summary.Warning, "info", rep.Summary.Info, "incomplete", len(rep.Incomplete))
	return rep, nil
}

// read is Read, stopped at MaxObjects.
func (a *Auditor) read(ctx context.Context, s *diagnose.State) error {
	visit := snapshot.Stripped(s.Add)
	if a.MaxObjects > 0 {
		n, inner := 0, visit
		visit = func(apiVersion, kind string, raw []byte) error {
			if n++; n > a.MaxObjects {
				return ErrTooLarge
			}
			return inner(apiVersion, kind, raw)
		}
	}
	err := readInto(ctx, a.Reader, s, visit, nil, a.Extra...)
	if errors.Is(err, ErrTooLarge) {
		return fmt.Errorf("stopped after %d objects: %w", a.MaxObjects, ErrTooLarge)
	}
	return err
}

// Last returns the report of the last successful run, or nil.
func (a *Auditor) Last() *diagnose.Report {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// Counts are the report's findings counted by check and severity, sorted:
// what ipamguard_findings exports.
func Counts(r *diagnose.Report) []metrics.FindingCount {
	idx := map[[2]string]int{}
	var out []metrics.FindingCount
	for i := range r.Findings {
		k := [2]string{r.Findings[i].Check, string(r.Findings[i].Severity)}
		j, ok := idx[k]
		if !ok {
			j = len(out)
			idx[k] = j
			out = append(out, metrics.FindingCount{Check: k[0], Severity: k[1]})
		}
		out[j].N++
	}
	slices.SortFunc(out, func(a, b metrics.FindingCount) int {
		return cmp.Or(cmp.Compare(a.Check, b.Check), cmp.Compare(a.Severity, b.Severity))
	})
	return out
}

// writeReport applies the report as one ClusterReport named
// render.ReportName, holding every finding (namespaced ones too: one
// object for one writer).
func (a *Auditor) writeReport(ctx context.Context, rep *diagnose.Report) error {
	if a.Reports == nil || a.noReports {
		return nil
	}
	// Results are capped by count and then by encoded size: long hints and
	// many subjects make a result a few KiB, and an object over etcd's
	// limit would fail every run, when the cluster is worst off.
	limit := cmp.Or(a.MaxResults, DefaultMaxResults)
	var m map[string]any
	for {
		cr, _ := render.OpenReports(rep, render.Options{MaxResults: limit, ClusterOnly: true})
		raw, err := json.Marshal(cr)
		if err != nil {
			return fmt.Errorf("encode the ClusterReport: %w", err)
		}
		if len(raw) <= maxReportBytes || limit <= 1 {
			if m, err = runtime.DefaultUnstructuredConverter.ToUnstructured(cr); err != nil {
				return fmt.Errorf("encode the ClusterReport: %w", err)
			}
			break
		}
		limit /= 2
	}
	u := &unstructured.Unstructured{Object: m}
	delete(u.Object["metadata"].(map[string]any), "creationTimestamp")
	err := a.Reports.Patch(ctx, u, client.Apply, client.FieldOwner(FieldOwner), client.ForceOwnership)
	var noKind *meta.NoKindMatchError
	if errors.As(err, &noKind) || meta.IsNoMatchError(err) {
		a.noReports = true
		a.Log.Info("the openreports.io ClusterReport CRD is not installed: the audit exports metrics only (install the CRD and restart to get reports)")
		return nil
	}
	if err != nil {
		return fmt.Errorf("apply ClusterReport %s: %w", render.ReportName, err)
	}
	return nil
}
