// Command kubectl-ipam is the ipamguard kubectl plugin. On PATH it runs as
// `kubectl ipam`:
//
//	kubectl ipam check -f manifests/ [--snapshot FILE | --offline] [--config ipamguard.yaml] [-o json]
//	kubectl ipam doctor [--snapshot FILE] [-n NS | -A] [-o text|json|yaml|openreports] [--service-cidr CIDR]
//	kubectl ipam snapshot [-o FILE]
//	kubectl ipam reservations [ADDRESS...] [--subnet NAME] [-n NS] [--snapshot FILE] [-o text|json]
//	                   [kubectl's flags: --kubeconfig, --context, -n, --as, --as-group, --request-timeout, ...]
//
// check judges manifests before they are applied with the webhook's rules
// (pkg/check), against the live cluster of the kubeconfig's context
// (pkg/clusterstate), a --snapshot file, or with --offline the manifests
// alone. doctor diagnoses the state a cluster is already in (pkg/diagnose,
// printed by pkg/diagnose/render), live or from a --snapshot file; snapshot
// writes that state to a file (pkg/snapshot); reservations lists the
// webhook's address reservations (pkg/reservation). kubectl's flags own
// --cluster (a kubeconfig cluster): the state file is --snapshot FILE for
// check and doctor alike.
//
// Exit status of check: 0 nothing denied, 1 something denied, 2 usage or
// input error. Of doctor: 0 clean, 1 warnings only, 2 usage or input
// error, 3 critical findings, 4 incomplete (a list was forbidden or timed
// out). Of snapshot: 0 written, 2 error, 4 written but incomplete.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/spf13/pflag"

	"github.com/ipamguard/ipamguard/internal/version"
	"github.com/ipamguard/ipamguard/pkg/check"
	"github.com/ipamguard/ipamguard/pkg/clusterstate"
	"github.com/ipamguard/ipamguard/pkg/config"
)

// Exit statuses.
const (
	exitOK     = 0
	exitDenied = 1
	exitUsage  = 2
)

const usage = `kubectl ipam: ipamguard's kubectl plugin.

Usage:
  kubectl ipam check -f FILE|DIR|- [flags]   judge manifests with the webhook's rules before applying them
  kubectl ipam doctor [--snapshot FILE]      diagnose the cluster's IP address management (read-only; fixes printed)
  kubectl ipam snapshot [-o FILE]            write the cluster state doctor and check read to a file
  kubectl ipam reservations [ADDRESS...]     list the webhook's address reservations (who holds what, until when)
  kubectl ipam version                       print the version, source commit and Go version

kubectl's flags (--kubeconfig, --context, -n, --as, ...) apply to each; the
cluster state file is --snapshot FILE (--cluster is kubectl's: a kubeconfig
cluster). Run "kubectl ipam COMMAND --help" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return runCheck(args[1:], stdin, stdout, stderr)
	case "doctor":
		return runDoctor(args[1:], stdin, stdout, stderr)
	case "snapshot":
		return runSnapshot(args[1:], stdout, stderr)
	case "reservations":
		return runReservations(args[1:], stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "version", "--version":
		fmt.Fprintln(stdout, "kubectl-ipam", version.Get())
		return exitOK
	}
	fmt.Fprintf(stderr, "kubectl ipam: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

const checkHelp = `Judge manifests before they are applied, with exactly the rules of the
ipamguard webhook. Manifests are applied in order (files as given,
directories recursively in lexical order, documents in file order): each
object is judged against the cluster's state plus the manifest objects
accepted before it; an object that already exists is judged as an
update; a denied object is not applied.

The cluster's state is read:
  - from --snapshot FILE (repeatable), without contacting an API server;
  - else live, from the API server of the kubeconfig's current context
    (--kubeconfig, --context, ... as for kubectl): Subnets, IPs, IPPools,
    Vpcs, Vips, Namespaces, Nodes and Pods (metadata), and the workloads
    the manifests name;
  - with --offline and no --snapshot, from nowhere: the manifests alone.
With neither --snapshot, a kubeconfig nor --offline, check refuses to run.

Judged: Subnet, IP, IPPool (kubeovn.io/v1), Pod, Deployment, ReplicaSet,
StatefulSet, DaemonSet, Job, CronJob. Namespace, Node, Vpc and Vip objects
feed the inventory. Other kinds are skipped.

The requests are judged as sent by --as (and --as-group), as the API server
would make them from impersonation; live without --as, by the kubeconfig's
own user (as "kubectl auth whoami" tells). The configuration's user and
group exemptions apply to them. --as never changes who reads the cluster.

Exit status: 0 nothing denied, 1 something denied, 2 usage or input error
(also: the cluster could not be read, naming what).

Usage:
  kubectl ipam check -f FILE|DIR|- [-f ...] [flags]

Flags:
`

func runCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	own := pflag.NewFlagSet("check", pflag.ContinueOnError)
	var (
		files      []string
		configPath string
		output     string
	)
	own.StringArrayVarP(&files, "filename", "f", nil, "manifest file, directory (recursive: .yaml, .yml, .json) or - for stdin; repeatable")
	own.StringVar(&configPath, "config", "", "the webhook's configuration file (defaults, thresholds, mode, rules, exemptions)")
	own.StringVarP(&output, "output", "o", "text", "output format: text or json")
	cf := newClusterFlags()
	cf.describeRequester()
	cf.kubeSet.Lookup("namespace").Usage = "namespace of namespaced objects that name none (default: the kubeconfig context's namespace, else default)"

	fs, code, done := parseFlags("check", checkHelp, own, cf, args, stderr)
	if done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "kubectl ipam check: error: "+format+"\n", a...)
		return exitUsage
	}
	note := func(format string, a ...any) { fmt.Fprintf(stderr, "note: "+format+"\n", a...) }
	switch {
	case fs.NArg() > 0:
		return fail("unexpected argument %q (manifests are given with -f)", fs.Arg(0))
	case len(files) == 0:
		return fail("no manifests: give -f FILE, -f DIR or -f - (stdin)")
	case output != "text" && output != "json":
		return fail("--output %q: must be text or json", output)
	}
	src, err := cf.source()
	if err != nil {
		return fail("%v", err)
	}
	who, err := cf.takeRequester()
	if err != nil {
		return fail("%v", err)
	}
	namespace, err := cf.namespace()
	if err != nil {
		return fail("%v", err)
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		return fail("%v", err)
	}
	rd := &check.Reader{Stdin: stdin}
	manifests, err := rd.ReadPaths(files)
	if err != nil {
		return fail("%v", err)
	}
	opts := check.Options{Config: cfg, Namespace: namespace, User: who.user, Groups: who.groups}
	clusterObjs, err := clusterState(cf, src, rd, manifests, who.given, &opts, note)
	if err != nil {
		return fail("%v", err)
	}
	if opts.User == "" && len(cfg.Policy.Exempt.Users)+len(cfg.Policy.Exempt.Groups) > 0 {
		note("the user applying the manifests is unknown (no --as): the configuration's user and group exemptions do not apply")
	}
	rep, err := check.Run(opts, clusterObjs, manifests)
	if err != nil {
		return fail("%v", err)
	}
	if output == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return fail("write report: %v", err)
	}
	if rep.Denied() {
		return exitDenied
	}
	return exitOK
}

// clusterState reads the objects check judges against from where src
// says, and fills opts.State; live, it also fills opts.User and
// opts.Groups with the kubeconfig's user unless --as gave one (asGiven).
func clusterState(cf *clusterFlags, src source, rd *check.Reader, manifests []check.Object, asGiven bool,
	opts *check.Options, note func(string, ...any)) ([]check.Object, error) {
	switch src {
	case fromSnapshot:
		objs, err := rd.ReadPaths(cf.snapshot)
		if err != nil {
			return nil, fmt.Errorf("--snapshot %w", err)
		}
		opts.State = check.State{Source: string(fromSnapshot), Files: cf.snapshot}
		return objs, nil
	case fromNothing:
		opts.State = check.State{Source: string(fromNothing)}
		note("--offline: judged against the manifests alone (objects already in the cluster are unknown)")
		return nil, nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	l, err := cf.connect()
	if err != nil {
		return nil, err
	}
	// Workloads are not listed: only those the manifests name are read,
	// as the old objects of updates.
	var refs []clusterstate.Ref
	for _, w := range check.Workloads(manifests, opts.Namespace) {
		if res, ok := clusterstate.Workload(w.APIVersion, w.Kind); ok {
			refs = append(refs, clusterstate.Ref{Resource: res, Namespace: w.Namespace, Name: w.Name})
		}
	}
	objs, err := l.read(ctx, refs)
	if err != nil {
		return nil, err
	}
	if !asGiven {
		if u, err := l.reader.WhoAmI(ctx); err != nil {
			note("%v: judged as an unknown user (give --as to name one)", err)
		} else {
			opts.User, opts.Groups = u.Name, u.Groups
		}
	}
	server := l.reader.Server()
	opts.State = check.State{Source: string(fromLive), Server: server, Context: l.context}
	what := "the live cluster at " + server
	if l.context != "" {
		what += fmt.Sprintf(" (context %q)", l.context)
	}
	as := ""
	if opts.User != "" {
		as = ", as user " + opts.User
	}
	note("judged against %s: %d objects read%s", what, len(objs), as)

	from := check.Source{File: "live cluster " + server, Item: -1}
	out := make([]check.Object, len(objs))
	for i, o := range objs {
		out[i] = check.Object{Source: from, APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Raw: o.Raw}
	}
	return out, nil
}
