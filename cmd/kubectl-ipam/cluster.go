package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ipamguard/ipamguard/pkg/clusterstate"
)

// clusterFlags are the flags of every command that reads a cluster's
// state (check, doctor; snapshot without --snapshot and --offline): kubectl's
// standard flags (k8s.io/cli-runtime's ConfigFlags: --kubeconfig,
// --context, --cluster, --user, -n, --as, --as-group, --request-timeout,
// ...) and where the state comes from:
//
//   - --snapshot FILE: from files (the state `kubectl ipam snapshot` or
//     `kubectl get -o yaml` writes); the API server is not contacted;
//   - otherwise live, from the API server of the kubeconfig's context;
//   - --offline: never from an API server: from --snapshot files if given,
//     else from nowhere (the manifests alone).
//
// With none of them and no kubeconfig, there is no state to judge
// against, and that is a usage error rather than a silent fallback.
//
// A command that models who sends a request (check) takes --as and
// --as-group out with takeRequester before it connects; for the others
// they impersonate, as in kubectl.
type clusterFlags struct {
	kube      *genericclioptions.ConfigFlags
	snapshot  []string
	offline   bool
	chunkSize int64

	// kubeSet and stateSet hold the flags, for help output in two groups.
	kubeSet, stateSet *pflag.FlagSet
}

func newClusterFlags() *clusterFlags {
	f := newLiveFlags()
	f.stateSet.StringArrayVar(&f.snapshot, "snapshot", nil, "judge against the cluster state in `FILE` (a file, directory or - as for -f: the output of \"kubectl ipam snapshot\",\nor of \"kubectl get subnets,ips,ippools,vpcs,vips,nodes,namespaces,pods -A -o yaml\") instead of the live cluster; repeatable")
	f.stateSet.BoolVar(&f.offline, "offline", false, "never contact an API server: judge against --snapshot files if given, else against the manifests alone")
	return f
}

// newLiveFlags are the flags of a command that only reads the live
// cluster (snapshot): kubectl's and --chunk-size.
func newLiveFlags() *clusterFlags {
	f := &clusterFlags{kube: genericclioptions.NewConfigFlags(false)}
	f.kubeSet = pflag.NewFlagSet("kubectl", pflag.ContinueOnError)
	f.kube.AddFlags(f.kubeSet)
	f.stateSet = pflag.NewFlagSet("state", pflag.ContinueOnError)
	f.stateSet.Int64Var(&f.chunkSize, "chunk-size", clusterstate.DefaultChunkSize, "objects per page when listing the live cluster (as kubectl get --chunk-size)")
	return f
}

// addTo adds the flags to fs.
func (f *clusterFlags) addTo(fs *pflag.FlagSet) {
	fs.AddFlagSet(f.stateSet)
	fs.AddFlagSet(f.kubeSet)
}

// source is where a command reads the cluster state from.
type source string

const (
	fromLive     source = "live"
	fromSnapshot source = "snapshot"
	fromNothing  source = "none"
)

// errNoCluster is the usage error of a command with no state to judge
// against.
var errNoCluster = errors.New("no cluster to judge against: no --snapshot, and no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config or in-cluster); " +
	"give --snapshot FILE, a kubeconfig, or --offline to judge the manifests alone")

// source resolves where the state comes from, without contacting the API
// server. A live state needs a usable kubeconfig context.
func (f *clusterFlags) source() (source, error) {
	if f.chunkSize < 0 {
		return "", fmt.Errorf("--chunk-size %d: must not be negative", f.chunkSize)
	}
	if c := *f.kube.ClusterName; c != "" && looksLikeFile(c) {
		return "", fmt.Errorf("--cluster %q: --cluster is kubectl's flag and names a cluster of the kubeconfig; the cluster state file is given with --snapshot %s", c, c)
	}
	switch {
	case len(f.snapshot) > 0:
		return fromSnapshot, nil
	case f.offline:
		return fromNothing, nil
	}
	ok, err := f.configured()
	switch {
	case err != nil:
		return "", fmt.Errorf("kubeconfig: %w", err)
	case !ok:
		return "", errNoCluster
	}
	if _, err := f.kube.ToRESTConfig(); err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	return fromLive, nil
}

// configured reports whether a cluster is configured at all: a kubeconfig
// with a cluster or context, --server, or in-cluster credentials. Without
// one, kubectl would talk to its built-in default, http://localhost:8080;
// a check refuses to guess instead.
func (f *clusterFlags) configured() (bool, error) {
	if *f.kube.APIServer != "" {
		return true, nil
	}
	raw, err := f.kube.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return false, err
	}
	if len(raw.Clusters) > 0 || len(raw.Contexts) > 0 {
		return true, nil
	}
	_, err = rest.InClusterConfig()
	return err == nil, nil
}

// looksLikeFile reports whether a --cluster value is a state file (the
// flag's meaning before kubectl's flags were adopted), not a kubeconfig
// cluster name.
func looksLikeFile(v string) bool {
	switch strings.ToLower(filepath.Ext(v)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	if v == "-" {
		return true
	}
	_, err := os.Stat(v)
	return err == nil
}

// namespace is the namespace of namespaced objects that name none: -n, or
// the kubeconfig context's namespace, or "default", as kubectl apply
// decides it.
func (f *clusterFlags) namespace() (string, error) {
	ns, _, err := f.kube.ToRawKubeConfigLoader().Namespace()
	switch {
	case clientcmd.IsEmptyConfig(err):
		return "default", nil
	case err != nil:
		return "", fmt.Errorf("kubeconfig: %w", err)
	case ns == "":
		return "default", nil
	}
	return ns, nil
}

// requester is who a command models as sending a request.
type requester struct {
	user   string
	groups []string
	// given is true when --as named the user.
	given bool
}

// describeRequester rewords the help of --as and --as-group for commands
// that model who sends a request (takeRequester).
func (f *clusterFlags) describeRequester() {
	f.kubeSet.Lookup("as").Usage = "who applies the manifests: a user, or system:serviceaccount:NAMESPACE:NAME; the configuration's user and group exemptions apply to it (the cluster is still read as the kubeconfig's user)"
	f.kubeSet.Lookup("as-group").Usage = "a group of the --as user (repeatable); without it, a service account gets its groups, as the API server gives them"
}

// takeRequester takes --as, --as-group, --as-uid and --as-user-extra out
// of kubectl's flags. For check they name who applies the manifests (the
// user and groups of the admission requests the webhook would see), not an
// identity to read the cluster with: the cluster is read with the
// kubeconfig's own identity, standing in for the webhook's view, as a
// server-side dry run as another user is judged by webhooks that see the
// whole cluster. Groups (and the UID) without a user are refused, as the
// API server refuses them.
func (f *clusterFlags) takeRequester() (requester, error) {
	k := f.kube
	r := requester{user: *k.Impersonate, groups: append([]string(nil), *k.ImpersonateGroup...), given: *k.Impersonate != ""}
	if !r.given && (len(*k.ImpersonateGroup) > 0 || *k.ImpersonateUID != "" || len(*k.ImpersonateUserExtra) > 0) {
		return requester{}, errors.New("--as-group, --as-uid and --as-user-extra need --as: the API server refuses to impersonate groups without a user")
	}
	*k.Impersonate, *k.ImpersonateUID = "", ""
	*k.ImpersonateGroup, *k.ImpersonateUserExtra = nil, nil
	if r.given {
		u := clusterstate.Impersonated(r.user, r.groups)
		r.user, r.groups = u.Name, u.Groups
	}
	return r, nil
}

// live is a connection to the cluster of the kubeconfig's context.
type live struct {
	reader  *clusterstate.Reader
	context string
}

// connect prepares the reads from the live cluster (nothing is sent yet).
func (f *clusterFlags) connect() (*live, error) {
	cfg, err := f.kube.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	rd, err := clusterstate.NewReader(cfg, f.chunkSize)
	if err != nil {
		return nil, err
	}
	l := &live{reader: rd}
	if raw, err := f.kube.ToRawKubeConfigLoader().RawConfig(); err == nil {
		l.context = raw.CurrentContext
		if c := *f.kube.Context; c != "" {
			l.context = c
		}
	}
	return l, nil
}

// read lists the inventory the rules need, then reads the objects refs
// name that exist (the old objects of updates that are not listed, such
// as workloads).
func (l *live) read(ctx context.Context, refs []clusterstate.Ref) ([]clusterstate.Object, error) {
	objs, err := l.reader.Read(ctx, clusterstate.Inventory())
	if err != nil {
		return nil, err
	}
	more, err := l.reader.Fetch(ctx, refs)
	if err != nil {
		return nil, err
	}
	return append(objs, more...), nil
}

// parseFlags parses the arguments of command name (check, doctor,
// snapshot): its own flags, then the cluster-state and kubectl flags of
// cf. --help prints help and every flag group. done reports that the
// command ends here with status code (help: 0; a bad flag: 2, with the
// error on stderr).
func parseFlags(name, help string, own *pflag.FlagSet, cf *clusterFlags, args []string, stderr io.Writer) (fs *pflag.FlagSet, code int, done bool) {
	fs = pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.AddFlagSet(own)
	cf.addTo(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, help)
		fmt.Fprint(stderr, own.FlagUsages())
		if state := cf.stateSet.FlagUsages(); state != "" {
			fmt.Fprint(stderr, "\nCluster state:\n"+state)
		}
		fmt.Fprint(stderr, "\nkubectl's flags:\n"+cf.kubeSet.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return fs, exitOK, true
		}
		fmt.Fprintf(stderr, "kubectl ipam %s: error: %v\nRun \"kubectl ipam %s --help\" for usage.\n", name, err, name)
		return fs, exitUsage, true
	}
	return fs, 0, false
}
