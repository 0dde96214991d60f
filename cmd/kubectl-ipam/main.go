// Command kubectl-ipam is the ipamguard kubectl plugin. On PATH it runs as
// `kubectl ipam`:
//
//	kubectl ipam check -f manifests/ [--cluster cluster.yaml] [--config ipamguard.yaml] [-o json]
//
// check judges manifests before they are applied with the webhook's rules
// (pkg/check); doctor and snapshot are not implemented yet.
//
// Exit status: 0 nothing denied, 1 something denied, 2 usage or input
// error.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/ipamguard/ipamguard/pkg/check"
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
  kubectl ipam check -f FILE|DIR|- [flags]   judge manifests offline with the webhook's rules
  kubectl ipam doctor                        live diagnosis (not implemented yet)
  kubectl ipam snapshot                      inventory snapshot (not implemented yet)

Run "kubectl ipam check --help" for the flags of check.
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
	case "doctor", "snapshot":
		fmt.Fprintf(stderr, "kubectl ipam %s: not implemented yet; only \"kubectl ipam check\" is available in this version\n", args[0])
		return exitUsage
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "kubectl ipam: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

const checkHelp = `Judge manifests before they are applied, with exactly the rules of the
ipamguard webhook. Manifests are applied in order (files as given,
directories recursively in lexical order, documents in file order): each
object is judged against the cluster objects (--cluster) plus the manifest
objects accepted before it; an object that already exists is judged as an
update; a denied object is not applied.

Judged: Subnet, IP, IPPool (kubeovn.io/v1), Pod, Deployment, ReplicaSet,
StatefulSet, DaemonSet, Job, CronJob. Namespace, Node, Vpc and Vip objects
feed the inventory. Other kinds are skipped.

Offline, users and groups are unknown: only namespace exemptions of the
configuration apply.

Exit status: 0 nothing denied, 1 something denied, 2 usage or input error.

Usage:
  kubectl ipam check -f FILE|DIR|- [-f ...] [flags]

Flags:
`

func runCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		files, cluster []string
		configPath     string
		output         string
		namespace      string
	)
	fs.StringArrayVarP(&files, "filename", "f", nil, "manifest file, directory (recursive: .yaml, .yml, .json) or - for stdin; repeatable")
	fs.StringArrayVar(&cluster, "cluster", nil, "objects already in the cluster, e.g. the output of\n`kubectl get subnets,ips,ippools,vpcs,vips,nodes,namespaces,pods -A -o yaml`; repeatable")
	fs.StringVar(&configPath, "config", "", "the webhook's configuration file (defaults, thresholds, mode, rules, exemptions)")
	fs.StringVarP(&output, "output", "o", "text", "output format: text or json")
	fs.StringVarP(&namespace, "namespace", "n", "default", "namespace of namespaced objects that name none")
	fs.Usage = func() {
		fmt.Fprint(stderr, checkHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "kubectl ipam check: error: %v\nRun \"kubectl ipam check --help\" for usage.\n", err)
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "kubectl ipam check: error: "+format+"\n", a...)
		return exitUsage
	}
	switch {
	case fs.NArg() > 0:
		return fail("unexpected argument %q (manifests are given with -f)", fs.Arg(0))
	case len(files) == 0:
		return fail("no manifests: give -f FILE, -f DIR or -f - (stdin)")
	case output != "text" && output != "json":
		return fail("--output %q: must be text or json", output)
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		return fail("%v", err)
	}
	rd := &check.Reader{Stdin: stdin}
	clusterObjs, err := rd.ReadPaths(cluster)
	if err != nil {
		return fail("--cluster %v", err)
	}
	manifests, err := rd.ReadPaths(files)
	if err != nil {
		return fail("%v", err)
	}
	rep, err := check.Run(check.Options{Config: cfg, Namespace: namespace}, clusterObjs, manifests)
	if err != nil {
		return fail("%v", err)
	}
	if output == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		if len(cluster) == 0 {
			fmt.Fprintln(stderr, "note: no --cluster given: judged against the manifests alone (objects already in the cluster are unknown)")
		}
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
