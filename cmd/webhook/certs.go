package main

import (
	"flag"
	"fmt"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ipamguard/ipamguard/internal/leader"
	"github.com/ipamguard/ipamguard/internal/selfcert"
	"github.com/ipamguard/ipamguard/pkg/metrics"
)

// Certificate modes (--cert-mode).
const (
	certModeDir         = "dir"
	certModeSelfManaged = "self-managed"
)

// certFlags are the flags of the serving certificate's source.
type certFlags struct {
	mode                 string
	secret, secretNS     string
	service, serviceNS   string
	extraSANs            string
	validating, mutating string
	policy               selfcert.Policy
}

func (c *certFlags) bind(fs *flag.FlagSet) {
	c.policy = selfcert.DefaultPolicy()
	fs.StringVar(&c.mode, "cert-mode", certModeDir, "where the serving certificate comes from: dir (tls.crt and tls.key in --cert-dir, e.g. cert-manager's Secret mounted) or self-managed (the leader keeps a CA and certificate in --cert-secret and the CA in the caBundle of the webhook configurations; every replica serves it from memory)")
	fs.StringVar(&c.secret, "cert-secret", "ipamguard-"+selfcert.DefaultSecretName, "with --cert-mode=self-managed, the Secret holding the CA and serving certificate")
	fs.StringVar(&c.secretNS, "cert-secret-namespace", "", "namespace of --cert-secret (empty: the webhook's own, as for the leader election Lease)")
	fs.StringVar(&c.service, "cert-service-name", "ipamguard-webhook-service", "with --cert-mode=self-managed, the Service the API server calls: the certificate is for <name>.<namespace>.svc[.cluster.local] (empty: only --cert-extra-sans)")
	fs.StringVar(&c.serviceNS, "cert-service-namespace", "", "namespace of --cert-service-name (empty: that of --cert-secret)")
	fs.StringVar(&c.extraSANs, "cert-extra-sans", "", "comma-separated extra names of the serving certificate: IP addresses and DNS names (e.g. 127.0.0.1,localhost when the API server calls a URL)")
	fs.StringVar(&c.validating, "cert-validating-webhooks", "ipamguard-validating-webhook-configuration", "comma-separated ValidatingWebhookConfigurations whose every webhook gets the CA bundle")
	fs.StringVar(&c.mutating, "cert-mutating-webhooks", "ipamguard-mutating-webhook-configuration", "comma-separated MutatingWebhookConfigurations whose every webhook gets the CA bundle")
	fs.DurationVar(&c.policy.CAValidity, "cert-ca-validity", c.policy.CAValidity, "lifetime of the self-managed CA; a new one is made, and trusted beside the old, when a third is left")
	fs.DurationVar(&c.policy.ServingValidity, "cert-validity", c.policy.ServingValidity, "lifetime of the self-managed serving certificate; renewed when a third is left")
	fs.DurationVar(&c.policy.Overlap, "cert-overlap", c.policy.Overlap, "how long a new CA is trusted before a certificate it signed is served, and an old one after (API servers and replicas catching up)")
}

// manager returns the self-managed certificate Manager, or nil with
// --cert-mode=dir. The flags are checked here, before anything starts.
func (c *certFlags) manager(cfg *rest.Config, podNamespace string, log logr.Logger) (*selfcert.Manager, error) {
	switch c.mode {
	case certModeDir:
		return nil, nil
	case certModeSelfManaged:
	default:
		return nil, fmt.Errorf("--cert-mode %q: must be %s or %s", c.mode, certModeDir, certModeSelfManaged)
	}
	if err := c.policy.Validate(); err != nil {
		return nil, err
	}
	ns := c.secretNS
	if ns == "" {
		ns = podNamespace
	}
	if ns == "" {
		return nil, fmt.Errorf("--cert-mode=self-managed keeps its Secret in the webhook's namespace: set $%s, --leader-election-namespace or --cert-secret-namespace", leader.NamespaceEnv)
	}
	svcNS := c.serviceNS
	if svcNS == "" {
		svcNS = ns
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("self-managed certificates: API client: %w", err)
	}
	return selfcert.New(selfcert.Options{
		Client:             cs,
		Namespace:          ns,
		SecretName:         c.secret,
		Names:              selfcert.ServiceNames(c.service, svcNS, splitList(c.extraSANs)),
		ValidatingWebhooks: splitList(c.validating),
		MutatingWebhooks:   splitList(c.mutating),
		Policy:             c.policy,
		Log:                log,
	})
}

// wire runs the Secret's watch on every replica and the writer on the
// leader, gates readiness on a loaded certificate and registers the
// certificate metrics.
func (c *certFlags) wire(mgr ctrl.Manager, m *selfcert.Manager, reg prometheus.Registerer) error {
	cm, err := metrics.NewCertMetrics(reg)
	if err != nil {
		return fmt.Errorf("register certificate metrics: %w", err)
	}
	m.SetObserver(cm)
	if err := leader.Everywhere(mgr, m.Serve); err != nil {
		return fmt.Errorf("self-managed certificates: %w", err)
	}
	if err := leader.Add(mgr, "certificates", m.Lead); err != nil {
		return fmt.Errorf("self-managed certificates: %w", err)
	}
	if err := mgr.AddReadyzCheck("serving-certificate", m.ReadyCheck); err != nil {
		return fmt.Errorf("add certificate readiness check: %w", err)
	}
	return nil
}
