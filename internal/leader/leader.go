// Package leader is the one leader election among the webhook's replicas.
// Work that needs exactly one writer — the continuous audit report, the
// cleanup of reservation objects, self-managed certificates — hangs off it
// with Add; the webhook servers keep serving on every replica.
//
// It is controller-runtime's manager leader election: a coordination.k8s.io
// Lease (DefaultLeaseName) in the webhook's own namespace, renewed by the
// leader and released when the leader stops (ReleaseOnCancel), so a rolling
// update hands over within one retry period instead of one lease duration.
// A leader that cannot renew in time loses the lease and its process exits,
// so two replicas never both believe they lead for longer than the clock
// skew allows.
package leader

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

const (
	// DefaultLeaseName is the name of the Lease the replicas compete for.
	DefaultLeaseName = "ipamguard-leader"
	// NamespaceEnv names the environment variable the Deployment fills with
	// the pod's namespace (downward API, metadata.namespace).
	NamespaceEnv = "POD_NAMESPACE"
	// ServiceAccountNamespaceFile holds the pod's namespace wherever a
	// service account token is mounted at the default path.
	ServiceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
)

// Default lease timing, controller-runtime's: a leader that vanishes
// without releasing the lease is replaced within about 15 s.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Config holds the leader election settings of the process (flags).
type Config struct {
	// Enabled turns leader election on. Off, every replica runs the
	// leader-only work at once: only safe with a single replica.
	Enabled bool
	// Namespace of the Lease. Empty: the pod's own (see Resolve).
	Namespace string
	// LeaseName is the Lease's name; every replica of one installation
	// must use the same one.
	LeaseName string
	// LeaseDuration is how long candidates wait after the last renewal
	// before taking over from a leader that vanished without releasing.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader keeps trying to renew before it
	// gives the lease up (and its process exits).
	RenewDeadline time.Duration
	// RetryPeriod is how often candidates try to acquire the lease and the
	// leader renews it.
	RetryPeriod time.Duration
}

// DefaultConfig returns leader election on, with the default lease name
// and timing and the namespace left to Resolve.
func DefaultConfig() Config {
	return Config{
		Enabled:       true,
		LeaseName:     DefaultLeaseName,
		LeaseDuration: DefaultLeaseDuration,
		RenewDeadline: DefaultRenewDeadline,
		RetryPeriod:   DefaultRetryPeriod,
	}
}

// BindFlags registers the flags that set c on fs, with c's current values
// as their defaults.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.Enabled, "leader-elect", c.Enabled, "elect one replica (Lease "+
		"--leader-election-id) to run the work that needs a single writer; the webhooks serve on every replica either way. "+
		"Turn off only with one replica")
	fs.StringVar(&c.Namespace, "leader-election-namespace", c.Namespace, "namespace of the leader election Lease "+
		"(empty: the pod's own, from $"+NamespaceEnv+" or "+ServiceAccountNamespaceFile+")")
	fs.StringVar(&c.LeaseName, "leader-election-id", c.LeaseName, "name of the leader election Lease; the same for every replica")
	fs.DurationVar(&c.LeaseDuration, "leader-election-lease-duration", c.LeaseDuration,
		"how long candidates wait before taking over from a leader that stopped renewing without releasing the Lease")
	fs.DurationVar(&c.RenewDeadline, "leader-election-renew-deadline", c.RenewDeadline,
		"how long the leader retries renewing before it gives up the Lease and exits")
	fs.DurationVar(&c.RetryPeriod, "leader-election-retry-period", c.RetryPeriod,
		"how often candidates try to acquire the Lease and the leader renews it")
}

// Resolve returns c with an empty Namespace set to the pod's own — the
// environment variable NamespaceEnv as getenv reports it, else the content
// of namespaceFile (ServiceAccountNamespaceFile in a pod) — and checks the
// settings. A disabled Config is returned as it is.
func (c Config) Resolve(getenv func(string) string, namespaceFile string) (Config, error) {
	if !c.Enabled {
		return c, nil
	}
	if c.Namespace == "" {
		ns, err := podNamespace(getenv, namespaceFile)
		if err != nil {
			return c, err
		}
		c.Namespace = ns
	}
	var errs []error
	for _, msg := range validation.IsDNS1123Label(c.Namespace) {
		errs = append(errs, fmt.Errorf("namespace %q of the Lease: %s", c.Namespace, msg))
	}
	if c.LeaseName == "" {
		errs = append(errs, errors.New("--leader-election-id is empty"))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(c.LeaseName) {
			errs = append(errs, fmt.Errorf("--leader-election-id %q: %s", c.LeaseName, msg))
		}
	}
	// What client-go's leader elector insists on, said in flag names and
	// before anything starts.
	if c.RetryPeriod <= 0 {
		errs = append(errs, fmt.Errorf("--leader-election-retry-period %s must be positive", c.RetryPeriod))
	}
	if minRenew := time.Duration(leaderelection.JitterFactor * float64(c.RetryPeriod)); c.RenewDeadline <= minRenew {
		errs = append(errs, fmt.Errorf("--leader-election-renew-deadline %s must be longer than %.1f × --leader-election-retry-period (%s)",
			c.RenewDeadline, leaderelection.JitterFactor, minRenew))
	}
	if c.LeaseDuration <= c.RenewDeadline {
		errs = append(errs, fmt.Errorf("--leader-election-lease-duration %s must be longer than --leader-election-renew-deadline %s",
			c.LeaseDuration, c.RenewDeadline))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("leader election: %w", err)
	}
	return c, nil
}

// podNamespace reads the pod's namespace from the environment, else from
// the service account's namespace file.
func podNamespace(getenv func(string) string, namespaceFile string) (string, error) {
	if ns := strings.TrimSpace(getenv(NamespaceEnv)); ns != "" {
		return ns, nil
	}
	data, err := os.ReadFile(namespaceFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("leader election: no namespace for the Lease: --leader-election-namespace and $%s are empty and %s does not exist "+
			"(not in a pod?); set --leader-election-namespace, or --leader-elect=false for a single replica", NamespaceEnv, namespaceFile)
	case err != nil:
		return "", fmt.Errorf("leader election: read the pod's namespace: %w", err)
	}
	ns := strings.TrimSpace(string(data))
	if ns == "" {
		return "", fmt.Errorf("leader election: %s is empty; set --leader-election-namespace or $%s", namespaceFile, NamespaceEnv)
	}
	return ns, nil
}

// Apply sets the leader election fields of o from c, which Resolve has
// returned. With c disabled it turns leader election off.
func (c Config) Apply(o *manager.Options) {
	o.LeaderElection = c.Enabled
	if !c.Enabled {
		return
	}
	o.LeaderElectionResourceLock = resourcelock.LeasesResourceLock
	o.LeaderElectionNamespace = c.Namespace
	o.LeaderElectionID = c.LeaseName
	// Step down on a clean stop, so the next replica takes over at once.
	// Safe because nothing leader-only outlives the manager: Add's
	// functions have returned by the time the lease is released.
	o.LeaderElectionReleaseOnCancel = true
	o.LeaseDuration = ptr.To(c.LeaseDuration)
	o.RenewDeadline = ptr.To(c.RenewDeadline)
	o.RetryPeriod = ptr.To(c.RetryPeriod)
}

// Add registers fn to run on the replica that holds the lease: it starts
// when this replica is elected (at once when leader election is off) and
// its ctx ends when the manager stops. A replica that loses the lease does
// not keep running: its manager stops with an error and the process exits,
// so fn need not watch for the loss.
//
// A nil return ends only fn; an error stops the manager (the process exits
// and another replica takes over). name identifies fn in logs and errors.
//
// Everything the webhook needs on every replica (servers, caches) must not
// be registered through Add. Note that controller-runtime runs any runnable
// added with mgr.Add that does not implement manager.LeaderElectionRunnable
// on the leader only, too.
func Add(mgr manager.Manager, name string, fn func(ctx context.Context) error) error {
	if name == "" || fn == nil {
		return errors.New("leader.Add: name and fn are required")
	}
	return mgr.Add(&runnable{name: name, fn: fn})
}

// Everywhere registers fn to run on every replica, elected or not, from
// the manager's start until its stop: what mgr.Add would run on the leader
// only unless it says otherwise (see Add). fn returning nil ends only fn.
func Everywhere(mgr manager.Manager, fn func(ctx context.Context) error) error {
	if fn == nil {
		return errors.New("leader.Everywhere: fn is required")
	}
	return mgr.Add(everywhere(fn))
}

// everywhere is a manager.Runnable that runs on every replica.
type everywhere func(context.Context) error

// Start implements manager.Runnable.
func (f everywhere) Start(ctx context.Context) error { return f(ctx) }

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (everywhere) NeedLeaderElection() bool { return false }

// Track calls set(true) when this replica is elected (at once when leader
// election is off) and set(false) when its manager stops, for a metric or
// a log line. set must not block.
func Track(mgr manager.Manager, set func(leading bool)) error {
	if set == nil {
		return errors.New("leader.Track: set is required")
	}
	return Add(mgr, "track", func(ctx context.Context) error {
		set(true)
		<-ctx.Done()
		set(false)
		return nil
	})
}

// runnable is a manager.Runnable that needs leader election.
type runnable struct {
	name string
	fn   func(context.Context) error
}

var _ manager.LeaderElectionRunnable = (*runnable)(nil)

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (*runnable) NeedLeaderElection() bool { return true }

// Start implements manager.Runnable.
func (r *runnable) Start(ctx context.Context) error {
	l := log.FromContext(ctx).WithName("leader").WithValues("work", r.name)
	l.Info("leading: starting leader-only work")
	if err := r.fn(ctx); err != nil {
		return fmt.Errorf("leader-only work %s: %w", r.name, err)
	}
	l.Info("leader-only work finished")
	return nil
}
