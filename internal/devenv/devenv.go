// Package devenv runs a local Kubernetes control plane (etcd and kube-apiserver
// built by `make envtest-assets`) with the Kube-OVN CRDs and, optionally, the
// generated ipamguard webhook configurations installed. It backs `make run`
// (cmd/ipamguard-dev), the envtest suites and the e2e tests.
package devenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
)

// AssetsEnv names the environment variable that points at the directory holding
// kube-apiserver, etcd and kubectl. The Makefile exports it.
const AssetsEnv = "IPAMGUARD_ASSETS"

// Names of the binaries `make envtest-assets` builds into the assets directory.
const (
	APIServerBinary = "kube-apiserver"
	EtcdBinary      = "etcd"
	KubectlBinary   = "kubectl"
)

// ErrAssetsMissing is wrapped by Start and CheckAssets when a control-plane
// binary is absent, so callers (tests) can tell "not built" from "broken".
var ErrAssetsMissing = errors.New("envtest assets missing")

// Timeouts for the control-plane processes. Starting kube-apiserver takes a few
// seconds on a warm machine; the generous bound covers a loaded CI runner.
const (
	controlPlaneStartTimeout = 90 * time.Second
	controlPlaneStopTimeout  = 20 * time.Second
)

// Options configures Start. The zero value starts a control plane with the
// CRDs of this repository and no webhooks.
type Options struct {
	// AssetsDir holds kube-apiserver, etcd and kubectl.
	// Default: $IPAMGUARD_ASSETS, else <repo>/bin.
	AssetsDir string
	// CRDPaths are files or directories with CRD manifests.
	// Default: <repo>/config/crd/bases.
	CRDPaths []string
	// WebhookPaths are files or directories with generated webhook
	// configurations; they are installed under the install's names
	// (InstallNamePrefix) and their service references are rewritten to
	// https://WebhookHost:WebhookPort. Nil installs no webhooks.
	WebhookPaths []string
	// WebhookHost is where the webhook will listen. Default 127.0.0.1.
	WebhookHost string
	// WebhookPort is where the webhook will listen; 0 picks a free loopback port.
	WebhookPort int
	// ControlPlaneOutput, when set, receives stdout and stderr of etcd and
	// kube-apiserver. Nil discards them.
	ControlPlaneOutput io.Writer
	// Log receives progress messages. The zero value discards them.
	Log logr.Logger
}

// Env is a running local control plane. Stop it with Stop.
type Env struct {
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Client talks to the API server with Scheme.
	Client client.Client
	// Scheme holds the client-go types and kubeovn.io/v1.
	Scheme *runtime.Scheme
	// Kubeconfig is an admin kubeconfig equivalent to Config, for kubectl and
	// for the webhook process.
	Kubeconfig []byte

	// WebhookHost and WebhookPort are where the API server expects the webhook
	// to serve HTTPS.
	WebhookHost string
	WebhookPort int
	// WebhookCertDir holds tls.crt and tls.key for the webhook, signed by
	// WebhookCAData, which the installed webhook configurations trust.
	WebhookCertDir string
	WebhookCAData  []byte
	// WebhookClientCAFile is the CA certificate (PEM) that issued the
	// client certificate the API server presents to every webhook that
	// asks for one (common name WebhookClientCommonName), as configured by
	// an AdmissionConfiguration: a webhook started with it as client CA
	// accepts the API server and no one else.
	WebhookClientCAFile string

	// AssetsDir is the resolved directory of the control-plane binaries.
	AssetsDir string
	// KubectlPath is the pinned kubectl from AssetsDir.
	KubectlPath string

	te  *envtest.Environment
	log logr.Logger
	// clientAuthDir holds WebhookClientCAFile and the API server's client
	// certificate; Stop removes it.
	clientAuthDir string
	stopOnce      sync.Once
	stopErr       error
}

// Start launches etcd and kube-apiserver, installs the CRDs and webhook
// configurations, and returns the running environment. On any error nothing
// is left running. If ctx ends during startup, Start waits for the processes
// it already launched to stop and returns ctx's error.
func Start(ctx context.Context, o Options) (*Env, error) {
	if err := o.defaults(); err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	log := o.Log
	if err := CheckAssets(o.AssetsDir); err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("start control plane: register client-go types: %w", err)
	}
	if err := kubeovnv1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("start control plane: register kubeovn.io/v1: %w", err)
	}

	mutating, validating, err := readWebhookConfigurations(o.WebhookPaths)
	if err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	te := &envtest.Environment{
		Scheme:                   scheme,
		BinaryAssetsDirectory:    o.AssetsDir,
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: controlPlaneStartTimeout,
		ControlPlaneStopTimeout:  controlPlaneStopTimeout,
		CRDInstallOptions: envtest.CRDInstallOptions{
			Paths:              o.CRDPaths,
			ErrorIfPathMissing: true,
		},
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			MutatingWebhooks:   mutating,
			ValidatingWebhooks: validating,
			LocalServingHost:   o.WebhookHost,
			LocalServingPort:   o.WebhookPort,
		},
	}
	// Pin the binaries explicitly: envtest would otherwise let
	// KUBEBUILDER_ASSETS or TEST_ASSET_* from the caller's shell win.
	apiServer := te.ControlPlane.GetAPIServer()
	apiServer.Path = filepath.Join(o.AssetsDir, APIServerBinary)
	te.ControlPlane.Etcd = &envtest.Etcd{Path: filepath.Join(o.AssetsDir, EtcdBinary)}
	te.ControlPlane.KubectlPath = filepath.Join(o.AssetsDir, KubectlBinary)
	if o.ControlPlaneOutput != nil {
		apiServer.Out, apiServer.Err = o.ControlPlaneOutput, o.ControlPlaneOutput
		te.ControlPlane.Etcd.Out, te.ControlPlane.Etcd.Err = o.ControlPlaneOutput, o.ControlPlaneOutput
	}

	e := &Env{
		Scheme:      scheme,
		AssetsDir:   o.AssetsDir,
		KubectlPath: te.ControlPlane.KubectlPath,
		te:          te,
		log:         log,
	}
	// The API server presents a client certificate to webhooks that ask
	// for one, so the webhook can verify its callers here as in a cluster.
	dir, err := os.MkdirTemp("", "ipamguard-webhook-client-")
	if err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	e.clientAuthDir = dir
	admissionConfig, clientCA, err := writeWebhookClientAuth(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	e.WebhookClientCAFile = clientCA
	apiServer.Configure().Set("admission-control-config-file", admissionConfig)

	log.Info("starting control plane", "assets", o.AssetsDir, "crds", o.CRDPaths, "webhooks", o.WebhookPaths)
	began := time.Now()
	// envtest.Start takes no context; run it aside so a cancelled ctx returns
	// promptly once the processes it launched have been stopped again.
	startErr := make(chan error, 1)
	go func() {
		_, err := te.Start()
		startErr <- err
	}()
	select {
	case err = <-startErr:
	case <-ctx.Done():
		log.Info("startup cancelled; waiting for the control plane to come up before stopping it")
		<-startErr
		err = ctx.Err()
	}
	if err == nil {
		err = e.finishStart()
	}
	if err != nil {
		if stopErr := e.Stop(); stopErr != nil {
			log.Error(stopErr, "stop control plane after failed start")
		}
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	log.Info("control plane ready", "host", e.Config.Host, "took", time.Since(began).Round(time.Millisecond).String(),
		"webhook", fmt.Sprintf("%s:%d", e.WebhookHost, e.WebhookPort))
	return e, nil
}

// finishStart fills the connection details of a started environment.
func (e *Env) finishStart() error {
	admin, err := e.te.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}},
		&rest.Config{QPS: 100, Burst: 200})
	if err != nil {
		return fmt.Errorf("provision admin user: %w", err)
	}
	e.Config = admin.Config()
	if e.Kubeconfig, err = admin.KubeConfig(); err != nil {
		return fmt.Errorf("render admin kubeconfig: %w", err)
	}
	if e.Client, err = client.New(e.Config, client.Options{Scheme: e.Scheme}); err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	w := e.te.WebhookInstallOptions
	e.WebhookHost, e.WebhookPort = w.LocalServingHost, w.LocalServingPort
	e.WebhookCertDir, e.WebhookCAData = w.LocalServingCertDir, w.LocalServingCAData
	return nil
}

// Stop stops kube-apiserver and etcd and removes their temporary directories,
// the webhook serving certificates and the API server's webhook client
// certificate. It is safe to call more than once.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		// Not envtest.Environment.Stop: it returns early when removing the
		// certificate directory fails and would then leave the processes running.
		var errs []error
		if err := e.te.ControlPlane.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop kube-apiserver and etcd: %w", err))
		}
		if err := e.te.WebhookInstallOptions.Cleanup(); err != nil {
			errs = append(errs, fmt.Errorf("remove webhook certificates: %w", err))
		}
		if e.clientAuthDir != "" {
			if err := os.RemoveAll(e.clientAuthDir); err != nil {
				errs = append(errs, fmt.Errorf("remove webhook client certificates: %w", err))
			}
		}
		e.stopErr = errors.Join(errs...)
		if e.stopErr == nil {
			e.log.Info("control plane stopped")
		}
	})
	return e.stopErr
}

// WriteKubeconfig writes the admin kubeconfig to path with mode 0600, creating
// the parent directory if needed. The file is replaced atomically.
func (e *Env) WriteKubeconfig(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	f, err := os.CreateTemp(dir, ".kubeconfig-*")
	if err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	// CreateTemp already uses 0600; keep it explicit because the file holds a
	// client key.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	if _, err := f.Write(e.Kubeconfig); err != nil {
		f.Close()
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// defaults fills unset options from the environment and the repository layout.
func (o *Options) defaults() error {
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	if o.WebhookHost == "" {
		o.WebhookHost = "127.0.0.1"
	}
	if o.AssetsDir == "" {
		dir, err := DefaultAssetsDir()
		if err != nil {
			return err
		}
		o.AssetsDir = dir
	}
	// Absolute, so logs and Env.KubectlPath do not depend on the working directory.
	abs, err := filepath.Abs(o.AssetsDir)
	if err != nil {
		return fmt.Errorf("assets directory: %w", err)
	}
	o.AssetsDir = abs
	if len(o.CRDPaths) == 0 {
		root, err := RepoRoot()
		if err != nil {
			return fmt.Errorf("default CRD path: %w", err)
		}
		o.CRDPaths = []string{filepath.Join(root, "config", "crd", "bases")}
	}
	return nil
}

// DefaultAssetsDir returns $IPAMGUARD_ASSETS if set, else <repo>/bin.
func DefaultAssetsDir() (string, error) {
	if dir := os.Getenv(AssetsEnv); dir != "" {
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("default assets directory (set %s or run inside the repository): %w", AssetsEnv, err)
	}
	return filepath.Join(root, "bin"), nil
}

// CheckAssets reports, wrapping ErrAssetsMissing, the first control-plane
// binary missing from dir.
func CheckAssets(dir string) error {
	for _, name := range []string{EtcdBinary, APIServerBinary, KubectlBinary} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("%w: %s not found (run make envtest-assets)", ErrAssetsMissing, p)
		case err != nil:
			return fmt.Errorf("check envtest asset %s: %w", p, err)
		case fi.IsDir() || fi.Mode().Perm()&0o111 == 0:
			return fmt.Errorf("%w: %s is not an executable file (run make envtest-assets)", ErrAssetsMissing, p)
		}
	}
	return nil
}
