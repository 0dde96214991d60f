package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ipamguard/ipamguard/pkg/audit"
	"github.com/ipamguard/ipamguard/pkg/check"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/diagnose/render"
	"github.com/ipamguard/ipamguard/pkg/snapshot"
)

const doctorHelp = `Diagnose the IP address management of a Kube-OVN cluster: the IP
troubleshooting runbook, automated. Read-only: every fix is a kubectl
command printed beside its finding, never run; a printed deletion carries
the object's UID and resourceVersion as preconditions, so it cannot delete
an object re-created since.

Checks: subnet usage against the thresholds and the stored status,
overlapping CIDRs, duplicate addresses, zombie IP objects (told apart from
those kept on purpose), pods stuck creating and their events, allocation
latency.

The cluster's state is read:
  - live, from the API server of the kubeconfig's context (--kubeconfig,
    --context, --as, ... as for kubectl): Subnets, IPs, IPPools, Vpcs, Vips,
    Namespaces, Nodes, Pods, StatefulSets, KubeVirt VMs, ServiceCIDRs and
    warning events about pods, in pages of --chunk-size;
  - or from --snapshot FILE ("kubectl ipam snapshot -o FILE", or manifests
    and lists as "kubectl get -o json|yaml" writes them), without contacting
    an API server.
A list the API server forbids or that times out does not stop the doctor:
the report names it, and the exit status is 4.

The whole cluster is always read (a zombie is only a zombie against every
pod); -n NAMESPACE shows only the findings about objects in that namespace,
and those about cluster-scoped objects alone.

Exit status: 0 clean, 1 warnings only, 2 usage or input error (also: the
cluster could not be reached), 3 critical findings, 4 incomplete (a list was
forbidden or timed out; the report says which).

Usage:
  kubectl ipam doctor [--snapshot FILE] [-o text|json|yaml|openreports] [flags]

Flags:
`

// doctorFlags are the doctor's own flags.
type doctorFlags struct {
	output        string
	serviceCIDRs  []string
	allNamespaces bool
	quiet         bool
	warnAvailable uint64
	critAvailable uint64
	slow, failed  time.Duration
	configPath    string
	webhookNS     string
}

func runDoctor(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	defaults := diagnose.DefaultOptions(time.Time{})
	var df doctorFlags
	own := pflag.NewFlagSet("doctor", pflag.ContinueOnError)
	own.StringVarP(&df.output, "output", "o", "text", "output format: "+strings.Join(render.Formats, ", "))
	own.StringArrayVar(&df.serviceCIDRs, "service-cidr", nil, "a Service `CIDR` of the cluster, for the overlap check (repeatable; added to the ServiceCIDR objects read)")
	own.BoolVarP(&df.allNamespaces, "all-namespaces", "A", false, "show the findings of every namespace (the default; overrides -n)")
	own.BoolVarP(&df.quiet, "quiet", "q", false, "no progress line or notes on stderr")
	own.Uint64Var(&df.warnAvailable, "warn-available", defaults.WarnAvailable, "a subnet family with this many available addresses or fewer is in warning")
	own.Uint64Var(&df.critAvailable, "critical-available", defaults.CriticalAvailable, "a subnet family with this many available addresses or fewer is critical")
	own.DurationVar(&df.slow, "slow-allocation", defaults.SlowAllocation, "allocation latency (pod created → IP object created) above which a pod is slow")
	own.StringVar(&df.configPath, "config", "", "the webhook's configuration `FILE` (defaults, mode, rules, exemptions): pods Kube-OVN has not allocated yet are judged with it, as the webhook would judge them now")
	own.DurationVar(&df.failed, "failed-allocation", defaults.FailedAllocation, "allocation latency above which (or never) allocation failed")
	bindWebhookNamespace(own, &df.webhookNS)
	cf := newClusterFlags()
	cf.stateSet.Lookup("snapshot").Usage = "diagnose the cluster state in `FILE` (the output of \"kubectl ipam snapshot\", or manifests and lists as\n\"kubectl get -o json|yaml\" writes them; a file, directory or -) instead of the live cluster; repeatable"
	cf.stateSet.Lookup("offline").Usage = "never contact an API server (needs --snapshot)"
	cf.kubeSet.Lookup("namespace").Usage = "show only the findings about objects in this namespace (and about cluster-scoped objects alone); the whole cluster is read"

	fs, code, done := parseFlags("doctor", doctorHelp, own, cf, args, stderr)
	if done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "kubectl ipam doctor: error: "+format+"\n", a...)
		return diagnose.ExitUsage
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if !slices.Contains(render.Formats, df.output) {
		return fail("--output %q: must be one of %s", df.output, strings.Join(render.Formats, ", "))
	}
	if df.critAvailable > df.warnAvailable {
		return fail("--critical-available %d is above --warn-available %d", df.critAvailable, df.warnAvailable)
	}
	if df.slow <= 0 || df.failed < df.slow {
		return fail("--slow-allocation %v and --failed-allocation %v: both must be positive, the second not below the first", df.slow, df.failed)
	}
	var extraCIDRs []netip.Prefix
	for _, c := range df.serviceCIDRs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return fail("--service-cidr %q: %v", c, err)
		}
		extraCIDRs = append(extraCIDRs, p.Masked())
	}
	cfg, err := config.Load(df.configPath)
	if err != nil {
		return fail("%v", err)
	}
	if cf.offline && len(cf.snapshot) == 0 {
		return fail("--offline needs --snapshot FILE: the doctor has nothing to diagnose without a cluster state")
	}
	src, err := cf.source()
	if errors.Is(err, errNoCluster) {
		return fail("no cluster to diagnose: no --snapshot, and no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config or in-cluster)")
	}
	if err != nil {
		return fail("%v", err)
	}
	namespace := ""
	if fs.Changed("namespace") && !df.allNamespaces {
		namespace = *cf.kube.Namespace
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	state := &diagnose.State{}
	prog := newProgress(stderr, df.quiet)
	if src == fromSnapshot {
		if err := readSnapshots(cf.snapshot, stdin, state); err != nil {
			return fail("--snapshot %v", err)
		}
	} else {
		l, err := cf.connect()
		if err != nil {
			return fail("%v", err)
		}
		state.Time = time.Now().UTC()
		err = audit.Read(ctx, l.reader, state, prog.report, reservationResources(df.webhookNS)...)
		prog.clear()
		if err != nil {
			return fail("%v", err)
		}
		if !df.quiet {
			prog.note("diagnosed the live cluster at %s%s", l.reader.Server(), contextNote(l.context))
		}
	}
	state.Compact()
	state.ServiceCIDRs = append(state.ServiceCIDRs, extraCIDRs...)

	now := state.Time
	if now.IsZero() {
		now = time.Now().UTC()
	}
	opts := diagnose.DefaultOptions(now)
	opts.WarnAvailable, opts.CriticalAvailable = df.warnAvailable, df.critAvailable
	opts.SlowAllocation, opts.FailedAllocation = df.slow, df.failed
	opts.Ctx = ctx
	rep, err := audit.Diagnose(state, cfg, opts)
	if err != nil {
		return fail("%v", err)
	}
	if namespace != "" {
		onlyNamespace(rep, namespace)
	}
	ro := render.Options{}
	if f, ok := stdout.(*os.File); ok && isTerminal(f) {
		ro.Color = os.Getenv("NO_COLOR") == ""
		ro.Width = terminalWidth(f)
	}
	if err := render.Write(stdout, rep, df.output, ro); err != nil {
		return fail("%v", err)
	}
	return rep.ExitCode()
}

func contextNote(context string) string {
	if context == "" {
		return ""
	}
	return fmt.Sprintf(" (context %q)", context)
}

// readSnapshots reads the state from --snapshot paths into state. A JSON
// snapshot or List is streamed item by item; anything else (YAML,
// directories, single objects) is read as manifests, as check reads them.
// readSnapshots reads the snapshot files (or manifests) at paths into
// state; with kinds, the objects of a snapshot file of other kinds are
// only checked, not decoded (a command that needs a few objects of a
// large snapshot).
func readSnapshots(paths []string, stdin io.Reader, state *diagnose.State, kinds ...string) error {
	rd := &check.Reader{Stdin: stdin}
	for _, p := range paths {
		if err := readSnapshot(p, rd, state, kinds); err != nil {
			return err
		}
	}
	return nil
}

func readSnapshot(path string, rd *check.Reader, state *diagnose.State, kinds []string) error {
	var (
		open func() (io.ReadCloser, error)
		name = path
		size int64
	)
	switch info, err := os.Stat(path); {
	case path == "-":
		// Standard input cannot be read twice: it is held, to be read as
		// manifests if it is no JSON document.
		data, err := io.ReadAll(rd.Stdin)
		if err != nil {
			return fmt.Errorf("%s: %w", check.StdinName, err)
		}
		name = check.StdinName
		open = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		size = int64(len(data))
		rd = &check.Reader{Stdin: bytes.NewReader(data)}
	case err != nil:
		return fmt.Errorf("%s: %w", path, unwrapPath(err))
	case info.IsDir():
		return addManifests(path, rd, state)
	default:
		open = func() (io.ReadCloser, error) { return os.Open(path) }
		size = info.Size()
	}
	f, err := open()
	if err != nil {
		return fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	defer f.Close()
	// Held before the state's slices are reserved: their allocation
	// would otherwise start a collection that scans them as they fill.
	release := diagnose.HoldCollection(size)
	if rs, ok := f.(io.ReadSeeker); ok && kinds == nil {
		state.Reserve(snapshot.TailCounts(rs))
	}
	br := bufio.NewReaderSize(f, 1<<16)
	if !startsWithObject(br) {
		release()
		return addManifests(path, rd, state)
	}
	// Items are decoded on every core, applied in file order.
	h, err := snapshot.ReadParallel(br, 0, func() func(apiVersion, kind string, raw []byte) (diagnose.Object, error) {
		decode := new(diagnose.Decoder).Decode
		if kinds == nil {
			return decode
		}
		return func(apiVersion, kind string, raw []byte) (diagnose.Object, error) {
			if !slices.Contains(kinds, kind) {
				// Not decoded: the reader checks its syntax.
				return diagnose.Object{}, nil
			}
			return decode(apiVersion, kind, raw)
		}
	}, func(o *diagnose.Object) error {
		state.Apply(o)
		return nil
	})
	release()
	var ie *snapshot.ItemError
	switch {
	case errors.As(err, &ie):
		return fmt.Errorf("%s: %w", name, err)
	case err != nil && h.Items == 0 && !h.Snapshot() && !strings.HasSuffix(h.Kind, "List"):
		// One JSON object, or a stream of them: manifests.
		return addManifests(path, rd, state)
	case err != nil:
		return fmt.Errorf("%s: %w", name, err)
	}
	if h.Snapshot() {
		if state.ClusterID == "" {
			state.ClusterID = h.Metadata.ClusterID
		}
		if state.Time.IsZero() || h.Metadata.Time.Before(state.Time) {
			state.Time = h.Metadata.Time
		}
		for _, g := range h.Incomplete {
			state.Incomplete = append(state.Incomplete, diagnose.Gap{Resource: g.Resource, Reason: g.Reason})
		}
	}
	return nil
}

// addManifests reads path as check does and strips each object into the
// state.
func addManifests(path string, rd *check.Reader, state *diagnose.State) error {
	objs, err := rd.ReadPaths([]string{path})
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		name := path
		if path == "-" {
			name = check.StdinName
		}
		return fmt.Errorf("%s: holds no object (an empty cluster is still a snapshot with items: [])", name)
	}
	add := snapshot.Stripped(state.Add)
	for _, o := range objs {
		if err := add(o.APIVersion, o.Kind, o.Raw); err != nil {
			return fmt.Errorf("%s: %s", o.Source, snapshot.Describe(err))
		}
	}
	return nil
}

// startsWithObject reports whether the first byte after white space is
// '{' (JSON), without consuming it.
func startsWithObject(br *bufio.Reader) bool {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return false
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		_ = br.UnreadByte()
		return b == '{'
	}
}

// unwrapPath drops the path an *os.PathError repeats.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// onlyNamespace keeps the findings about objects in namespace, and those
// whose objects are all cluster-scoped, and counts them again.
func onlyNamespace(r *diagnose.Report, namespace string) {
	kept := r.Findings[:0]
	for _, f := range r.Findings {
		namespaced, in := false, false
		for _, o := range f.Objects {
			if o.Namespace != "" {
				namespaced = true
				in = in || o.Namespace == namespace
			}
		}
		if in || !namespaced {
			kept = append(kept, f)
		}
	}
	r.Findings = kept
	r.Summary = diagnose.Summary{}
	for _, f := range kept {
		switch f.Severity {
		case diagnose.Critical:
			r.Summary.Critical++
		case diagnose.Warning:
			r.Summary.Warning++
		default:
			r.Summary.Info++
		}
	}
}
