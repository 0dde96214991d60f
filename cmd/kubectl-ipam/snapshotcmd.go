package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/ipamguard/ipamguard/pkg/audit"
	"github.com/ipamguard/ipamguard/pkg/diagnose"
	"github.com/ipamguard/ipamguard/pkg/snapshot"
)

const snapshotHelp = `Write the cluster state the doctor and check read, from the live cluster
of the kubeconfig's context, to a file: Subnets, IPs, IPPools, Vpcs, Vips,
Namespaces (labels), Nodes (InternalIPs), Pods (IPAM annotations, owners,
node, phase, IPs), StatefulSets, KubeVirt VMs, ServiceCIDRs, warning
events about pods, and the webhook's address reservations (the Leases in
--webhook-namespace); every object stripped to what the checks read. The
snapshot is stamped with the cluster's identity (the kube-system namespace
UID) and the time it was read.

Read it back with "kubectl ipam doctor --snapshot FILE",
"kubectl ipam check -f ... --snapshot FILE" or
"kubectl ipam reservations --snapshot FILE".

Exit status: 0 written, 2 usage error or the cluster could not be read,
4 written but incomplete (a list was forbidden or timed out: the snapshot
names it, and the doctor reading it exits 4 too).

Usage:
  kubectl ipam snapshot [-o FILE] [flags]

Flags:
`

func runSnapshot(args []string, stdout, stderr io.Writer) int {
	own := pflag.NewFlagSet("snapshot", pflag.ContinueOnError)
	var (
		output string
		quiet  bool
	)
	own.StringVarP(&output, "output", "o", "-", "the `FILE` to write (- for standard output); written whole or not at all")
	own.BoolVarP(&quiet, "quiet", "q", false, "no progress line or notes on stderr")
	var webhookNS string
	bindWebhookNamespace(own, &webhookNS)
	cf := newLiveFlags()
	fs, code, done := parseFlags("snapshot", snapshotHelp, own, cf, args, stderr)
	if done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "kubectl ipam snapshot: error: "+format+"\n", a...)
		return diagnose.ExitUsage
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q (the file is given with -o)", fs.Arg(0))
	}
	if _, err := cf.source(); err != nil {
		if errors.Is(err, errNoCluster) {
			return fail("no cluster to read: no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config or in-cluster)")
		}
		return fail("%v", err)
	}
	l, err := cf.connect()
	if err != nil {
		return fail("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	out, commit, err := createOutput(output, stdout)
	if err != nil {
		return fail("%v", err)
	}
	meta := snapshot.Metadata{Time: time.Now().UTC()}
	// Before any list, for the document's head; a user who may not read
	// it gets a snapshot without one (and the namespaces' gap says why).
	meta.ClusterID, _ = l.reader.ClusterID(ctx)
	prog := newProgress(stderr, quiet)
	w, err := snapshot.NewWriter(out, meta)
	if err != nil {
		commit(false)
		return fail("%v", err)
	}
	found, err := audit.Stream(ctx, l.reader, w.Add, prog.report, reservationResources(webhookNS)...)
	prog.clear()
	if err != nil {
		commit(false)
		return fail("%v", err)
	}
	var gaps []snapshot.Gap
	for _, g := range found {
		gaps = append(gaps, snapshot.Gap{Resource: g.Resource, Reason: g.Reason})
	}
	if err := w.Close(gaps); err != nil {
		commit(false)
		return fail("%v", err)
	}
	if err := commit(true); err != nil {
		return fail("%v", err)
	}
	if !quiet {
		where := output
		if output == "-" {
			where = "standard output"
		}
		prog.note("wrote %d objects of the cluster at %s%s to %s", w.Items(), l.reader.Server(), contextNote(l.context), where)
	}
	for _, g := range gaps {
		fmt.Fprintf(stderr, "warning: incomplete snapshot: %s: %s\n", g.Resource, g.Reason)
	}
	if len(gaps) > 0 {
		return diagnose.ExitIncomplete
	}
	return exitOK
}

// createOutput opens where a snapshot goes: stdout for "-", else a
// temporary file beside path that commit(true) renames to path, so a
// failed snapshot never leaves a truncated file behind (commit(false)
// removes it).
func createOutput(path string, stdout io.Writer) (io.Writer, func(ok bool) error, error) {
	if path == "-" {
		return stdout, func(bool) error { return nil }, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, nil, fmt.Errorf("-o %s: %w", path, unwrapPath(err))
	}
	commit := func(ok bool) error {
		cerr := f.Close()
		if !ok {
			os.Remove(f.Name())
			return nil
		}
		// The file keeps CreateTemp's 0600: it holds pod annotations,
		// event messages and the cluster's identity.
		if cerr == nil {
			cerr = os.Rename(f.Name(), path)
		}
		if cerr != nil {
			os.Remove(f.Name())
			return fmt.Errorf("-o %s: %w", path, cerr)
		}
		return nil
	}
	return f, commit, nil
}
