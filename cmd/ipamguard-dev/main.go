// Command ipamguard-dev is `make run`: it starts a local kube-apiserver and
// etcd with the Kube-OVN CRDs and the generated ipamguard webhook
// configuration, runs the webhook binary against it, seeds a fresh-install
// shape, with --plant-problems plants every problem `kubectl ipam doctor`
// diagnoses (internal/devenv/plant, the webhook bypassed), starts a
// simulated Kube-OVN IP allocation (internal/simovn, unless
// --simulate-kube-ovn=false) so that pods get addresses and IP objects,
// prints how to use it, and stays in the foreground until Ctrl-C.
//
// The last line it prints on stdout once everything is up is exactly
// "ipamguard-dev: ready"; tests wait for it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/devenv/plant"
	"github.com/ipamguard/ipamguard/internal/leader"
)

// ReadyLine is printed on stdout when the environment is usable.
const ReadyLine = "ipamguard-dev: ready"

const (
	// readyTimeout bounds the wait for the webhook's /readyz.
	readyTimeout = 60 * time.Second
	// seedTimeout bounds creating the fresh-install objects.
	seedTimeout = 30 * time.Second
	// childStopTimeout is how long the webhook gets between SIGTERM and SIGKILL.
	childStopTimeout = 10 * time.Second
	// loopback is the only address anything here binds to.
	loopback = "127.0.0.1"
	// certSecret holds the webhook's self-managed CA and serving
	// certificate, in the namespace of the webhook's identity.
	certSecret = "ipamguard-webhook-server-cert"
)

// config holds the command-line flags.
type config struct {
	assetsDir     string
	webhookBinary string
	runDir        string
	webhookPort   int
	metricsPort   int
	healthPort    int
	// simulate runs internal/simovn, a stand-in for the Kube-OVN
	// controller's IP allocation.
	simulate bool
	// plant plants every problem the doctor diagnoses
	// (internal/devenv/plant) once the environment is up.
	plant bool
}

func main() {
	var cfg config
	fs := flag.NewFlagSet("ipamguard-dev", flag.ContinueOnError)
	fs.StringVar(&cfg.assetsDir, "assets", "", "directory with kube-apiserver, etcd and kubectl (default $"+devenv.AssetsEnv+", else <repo>/bin)")
	fs.StringVar(&cfg.webhookBinary, "webhook-binary", "bin/ipamguard-webhook", "path of the webhook binary to run")
	fs.StringVar(&cfg.runDir, "run-dir", ".run", "directory for the kubeconfig and logs")
	fs.IntVar(&cfg.webhookPort, "webhook-port", 9443, "webhook HTTPS port on "+loopback)
	fs.IntVar(&cfg.metricsPort, "metrics-port", 8080, "webhook metrics port on "+loopback)
	fs.IntVar(&cfg.healthPort, "health-port", 8081, "webhook health probe port on "+loopback)
	fs.BoolVar(&cfg.simulate, "simulate-kube-ovn", true, "give pods addresses and IP objects like the Kube-OVN controller would (a simulation for demos and tests; there is no OVN)")
	fs.BoolVar(&cfg.plant, "plant-problems", false, "plant every problem \"kubectl ipam doctor\" diagnoses (zombie and duplicate IP objects, stale and impossible subnet statuses, overlapping subnets, stuck and refused pods) beside what Kube-OVN keeps on purpose, bypassing the webhook, and print how to run the doctor")
	// Console output for people; info level keeps envtest's debug chatter out.
	opts := zap.Options{Development: true, Level: zapcore.InfoLevel}
	opts.BindFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}

	log := zap.New(zap.UseFlagOptions(&opts), zap.WriteTo(os.Stderr)).WithName("ipamguard-dev")
	// envtest logs through controller-runtime's logger; without this it
	// complains that SetLogger was never called.
	ctrllog.SetLogger(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log, os.Stdout); err != nil {
		// Plain text, not a log record: the error may quote the webhook's log.
		fmt.Fprintf(os.Stderr, "ipamguard-dev: %v\n", err)
		stop()
		os.Exit(1)
	}
}

// run brings everything up, waits for ctx to end or the webhook to exit, and
// tears everything down again. Every process it started is stopped before it
// returns, also when startup fails halfway.
func run(ctx context.Context, cfg config, log logr.Logger, out io.Writer) (retErr error) {
	runDir, err := filepath.Abs(cfg.runDir)
	if err != nil {
		return fmt.Errorf("run dir: %w", err)
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return fmt.Errorf("create run dir: %w", err)
	}
	webhookBinary, err := checkExecutable(cfg.webhookBinary)
	if err != nil {
		return fmt.Errorf("webhook binary (run make build): %w", err)
	}
	root, err := devenv.RepoRoot()
	if err != nil {
		return err
	}
	webhookManifests := filepath.Join(root, "config", "webhook")
	if _, err := os.Stat(webhookManifests); err != nil {
		return fmt.Errorf("webhook manifests (run make manifests): %w", err)
	}

	cpLog, err := os.Create(filepath.Join(runDir, "controlplane.log"))
	if err != nil {
		return fmt.Errorf("create control plane log: %w", err)
	}
	defer cpLog.Close()

	began := time.Now()
	env, err := devenv.Start(ctx, devenv.Options{
		AssetsDir:          cfg.assetsDir,
		WebhookPaths:       []string{webhookManifests},
		WebhookHost:        loopback,
		WebhookPort:        cfg.webhookPort,
		ControlPlaneOutput: cpLog,
		Log:                log,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := env.Stop(); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	kubeconfig := filepath.Join(runDir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}

	// The webhook runs as the install's ServiceAccount, with the RBAC of
	// the install without cert-manager and nothing more, and a token
	// renewed as the kubelet renews a pod's (the kubeconfig above, for
	// kubectl, is the admin's).
	id, err := installWebhookIdentity(ctx, env, root, runDir)
	if err != nil {
		return err
	}
	renewCtx, stopRenewing := context.WithCancel(ctx)
	renewed := id.keepTokenFresh(renewCtx, env, tokenCheckEvery, log.WithName("identity"))
	defer func() {
		stopRenewing()
		<-renewed
	}()
	healthAddr := fmt.Sprintf("%s:%d", loopback, cfg.healthPort)
	metricsAddr := fmt.Sprintf("%s:%d", loopback, cfg.metricsPort)
	webhookLog := filepath.Join(runDir, "webhook.log")
	// The API server presents a client certificate (devenv's admission
	// configuration) and the webhook accepts no other caller, as a
	// cluster's should: that keeps the in-flight reservations on.
	// The serving certificate is self-managed, as without cert-manager in a
	// cluster: the webhook keeps its CA and certificate in a Secret of its
	// namespace and puts the CA into the caBundle of the configurations
	// devenv installed (which call it at a loopback URL, hence the SANs).
	child, err := startChild(log, webhookBinary, webhookLog, []string{
		"--kubeconfig", id.KubeconfigPath,
		"--cert-mode", "self-managed",
		"--cert-secret", certSecret,
		"--cert-service-name", "",
		"--cert-extra-sans", env.WebhookHost + ",localhost",
		"--cert-validating-webhooks", devenv.ValidatingWebhookConfiguration,
		"--cert-mutating-webhooks", devenv.MutatingWebhookConfiguration,
		"--client-ca-file", env.WebhookClientCAFile,
		"--client-cn", devenv.WebhookClientCommonName,
		"--webhook-host", env.WebhookHost,
		"--webhook-port", fmt.Sprint(env.WebhookPort),
		"--metrics-bind-address", metricsAddr,
		"--health-probe-bind-address", healthAddr,
		// Outside a pod the webhook cannot tell its namespace.
		"--leader-election-namespace", id.Namespace,
	}, id.KubeconfigPath)
	if err != nil {
		return err
	}
	defer func() {
		if err := child.stop(childStopTimeout); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	if err := waitChildReady(ctx, child, "http://"+healthAddr+"/readyz", webhookLog); err != nil {
		return err
	}
	seedCtx, cancel := context.WithTimeout(ctx, seedTimeout)
	err = devenv.Seed(seedCtx, env.Client)
	cancel()
	if err != nil {
		return fmt.Errorf("%w\n%s", err, tailSection(webhookLog))
	}
	var planted *plant.Planted
	if cfg.plant {
		p, err := plantProblems(ctx, env.Client, cfg.simulate)
		if err != nil {
			return err
		}
		planted = &p
	}
	var sim *simulator
	if cfg.simulate {
		if sim, err = startSimulator(ctx, env.Config, log.WithName("simovn")); err != nil {
			return err
		}
		// Registered after the webhook's and the control plane's stops, so
		// it runs first: the simulator goes before what it talks to.
		defer func() {
			if err := sim.stop(); err != nil {
				retErr = errors.Join(retErr, err)
			}
		}()
	}
	log.Info("environment ready", "took", time.Since(began).Round(time.Millisecond).String())

	printBanner(out, banner{kubeconfig: kubeconfig, metricsURL: "http://" + metricsAddr + "/metrics", webhookLog: webhookLog,
		namespace: id.Namespace, serviceAccount: id.ServiceAccount, webhookKubeconfig: id.KubeconfigPath, simulate: cfg.simulate})
	if planted != nil {
		printPlanted(out, kubeconfig, *planted)
	}
	fmt.Fprintln(out, ReadyLine)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return nil
	case <-child.done:
		return fmt.Errorf("webhook exited unexpectedly: %w\n%s", child.exitErr(), tailSection(webhookLog))
	case <-sim.exited():
		// The deferred stop adds the simulator's error.
		return errors.New("simulated Kube-OVN exited unexpectedly")
	}
}

// waitChildReady waits for url to answer 200, failing early with the
// child's log when the child exits first.
func waitChildReady(ctx context.Context, child *childProcess, url, logPath string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	ready := make(chan error, 1)
	go func() { ready <- devenv.WaitReady(ctx, url) }()
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("webhook not ready: %w\n%s", err, tailSection(logPath))
		}
		return nil
	case <-child.done:
		cancel()
		<-ready
		return fmt.Errorf("webhook exited before it was ready: %w\n%s", child.exitErr(), tailSection(logPath))
	}
}

// checkExecutable returns the absolute path of an executable regular file.
func checkExecutable(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", abs)
	}
	return abs, nil
}

// banner is what printBanner tells.
type banner struct {
	kubeconfig, metricsURL, webhookLog string
	// namespace and serviceAccount name the webhook's identity,
	// webhookKubeconfig its kubeconfig.
	namespace, serviceAccount, webhookKubeconfig string
	simulate                                     bool
}

// printBanner tells the user how to reach the environment.
func printBanner(w io.Writer, b banner) {
	fmt.Fprintf(w, `
ipamguard is running on a local control plane with a fresh Kube-OVN install shape
(vpc ovn-cluster, subnets ovn-default 10.16.0.0/16 and join 100.64.0.0/16).

  export KUBECONFIG=%s
  metrics:     %s
  webhook log: %s
  identity:    system:serviceaccount:%s:%s, with the install's RBAC (kubeconfig %s)
  leader:      kubectl -n %s get lease %s
  certificate: kubectl -n %s get secret %s   (self-managed: CA and serving certificate)

Try (kubectl from bin/):
  # refused: overlaps ovn-default
  echo '{"apiVersion":"kubeovn.io/v1","kind":"Subnet","metadata":{"name":"dup"},"spec":{"cidrBlock":"10.16.5.0/24"}}' | kubectl apply -f -
  # accepted
  echo '{"apiVersion":"kubeovn.io/v1","kind":"Subnet","metadata":{"name":"tenant-a"},"spec":{"cidrBlock":"10.70.0.0/24"}}' | kubectl apply -f -
  # shrink, checked against the addresses in use
  kubectl patch subnet tenant-a --type merge -p '{"spec":{"cidrBlock":"10.70.0.0/25"}}'
  kubectl get subnets
`, b.kubeconfig, b.metricsURL, b.webhookLog, b.namespace, b.serviceAccount, b.webhookKubeconfig,
		b.namespace, leader.DefaultLeaseName, b.namespace, certSecret)
	if b.simulate {
		fmt.Fprint(w, `
Pods get addresses from a simulated Kube-OVN controller (demo only; --simulate-kube-ovn=false
turns it off). Fill a small subnet and watch the warnings at 10 and 5 available:
  kubectl create namespace demo
  echo '{"apiVersion":"kubeovn.io/v1","kind":"Subnet","metadata":{"name":"demo"},"spec":{"cidrBlock":"10.71.0.0/28","namespaces":["demo"]}}' | kubectl apply -f -
  for i in $(seq 1 14); do kubectl -n demo run p$i --image=registry.k8s.io/pause:3.10; done
  kubectl get ips -l ovn.kubernetes.io/subnet=demo
  kubectl -n demo get events --field-selector reason=AcquireAddressFailed   # p14: no available IP
  kubectl -n demo delete pod p3   # frees 10.71.0.4; p14 takes it
`)
	} else {
		fmt.Fprint(w, `
No Kube-OVN controller runs here (--simulate-kube-ovn=false): pods get no addresses and no IP objects.
`)
	}
	fmt.Fprint(w, `
Ctrl-C stops everything.
`)
}
