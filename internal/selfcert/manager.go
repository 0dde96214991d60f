package selfcert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Observer receives what the Manager does, for metrics. cert is "serving"
// or "ca".
type Observer interface {
	// SetExpiry is called with the NotAfter of the serving certificate
	// this replica serves and of the CA that signs new ones.
	SetExpiry(cert string, notAfter time.Time)
	// ObserveRotation counts a certificate the leader made.
	ObserveRotation(cert string)
}

// Options configure a Manager.
type Options struct {
	// Client talks to the API server with the webhook's identity.
	Client kubernetes.Interface
	// Namespace and SecretName locate the Secret (the webhook's own
	// namespace).
	Namespace, SecretName string
	// Names are the serving certificate's names (ServiceNames).
	Names Names
	// ValidatingWebhooks and MutatingWebhooks name the webhook
	// configurations whose every webhook gets the CA bundle.
	ValidatingWebhooks, MutatingWebhooks []string
	// Policy sets lifetimes and overlap.
	Policy Policy
	// Resync is how often the leader checks the Secret and the caBundles
	// even when no watch reported a change; default DefaultResync.
	Resync time.Duration
	// Settle is how long the leader waits after adding a CA to the
	// caBundles before it writes a certificate from that CA (the API
	// servers read webhook configurations through a watch); default
	// DefaultSettle.
	Settle time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Log receives loads, rotations and errors.
	Log logr.Logger
	// Observer, if set, receives expiries and rotations.
	Observer Observer
}

// Defaults of Options.
const (
	DefaultResync = time.Minute
	DefaultSettle = 2 * time.Second
	// DefaultSecretName is the Secret's name without a kustomize or Helm
	// prefix.
	DefaultSecretName = "webhook-server-cert"
)

// Backoff after a failed step of the leader.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Manager keeps the serving certificate: Serve, on every replica, loads it
// from the Secret; Lead, on the leader, writes the Secret and the caBundles.
type Manager struct {
	o       Options
	current atomic.Pointer[served]
	// loading orders the loads of the watch and of the periodic read.
	loading sync.Mutex
	// poke wakes the leader's loop (buffer 1: pokes coalesce).
	poke chan struct{}
}

// served is a loaded serving certificate.
type served struct {
	cert *tls.Certificate
	leaf *x509.Certificate
	raw  []byte
}

// New checks o and returns a Manager.
func New(o Options) (*Manager, error) {
	var errs []error
	if o.Client == nil {
		errs = append(errs, errors.New("no API client"))
	}
	if o.Namespace == "" {
		errs = append(errs, errors.New("no namespace for the certificate Secret (--cert-secret-namespace, $POD_NAMESPACE)"))
	}
	for _, msg := range validation.IsDNS1123Subdomain(o.SecretName) {
		errs = append(errs, fmt.Errorf("--cert-secret %q: %s", o.SecretName, msg))
	}
	if len(o.Names.DNS) == 0 && len(o.Names.IPs) == 0 {
		errs = append(errs, errors.New("the serving certificate has no names: set --cert-service-name or --cert-extra-sans"))
	}
	for _, n := range o.Names.DNS {
		if msgs := validation.IsDNS1123Subdomain(n); len(msgs) > 0 && validation.IsWildcardDNS1123Subdomain(n) != nil {
			errs = append(errs, fmt.Errorf("serving certificate name %q: %s", n, msgs[0]))
		}
	}
	if len(o.ValidatingWebhooks)+len(o.MutatingWebhooks) == 0 {
		errs = append(errs, errors.New("no webhook configuration to put the CA bundle into (--cert-validating-webhooks, --cert-mutating-webhooks)"))
	}
	if o.Policy == (Policy{}) {
		o.Policy = DefaultPolicy()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("self-managed certificates: %w", err)
	}
	if o.Resync <= 0 {
		o.Resync = DefaultResync
	}
	if o.Settle <= 0 {
		o.Settle = DefaultSettle
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	return &Manager{o: o, poke: make(chan struct{}, 1)}, nil
}

// GetCertificate is the tls.Config hook that serves the certificate
// loaded last. Before the first, handshakes fail (and the readiness probe
// with them).
func (m *Manager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := m.current.Load()
	if s == nil {
		return nil, fmt.Errorf("no serving certificate yet: Secret %s/%s has none", m.o.Namespace, m.o.SecretName)
	}
	return s.cert, nil
}

// TLSOpt sets GetCertificate on a tls.Config (controller-runtime's webhook
// server then does not read --cert-dir).
func (m *Manager) TLSOpt(c *tls.Config) { c.GetCertificate = m.GetCertificate }

// ReadyCheck fails until a serving certificate valid now is loaded.
func (m *Manager) ReadyCheck(*http.Request) error {
	s := m.current.Load()
	if s == nil {
		return fmt.Errorf("no serving certificate loaded from Secret %s/%s yet", m.o.Namespace, m.o.SecretName)
	}
	if now := m.o.Now(); !now.Before(s.leaf.NotAfter) {
		return fmt.Errorf("serving certificate expired %s", s.leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// Serving returns the certificate served now, nil before the first load.
func (m *Manager) Serving() *x509.Certificate {
	if s := m.current.Load(); s != nil {
		return s.leaf
	}
	return nil
}

// Serve watches the Secret until ctx ends and serves each valid
// certificate it holds from the next handshake on; an invalid or deleted
// Secret leaves the last good one in force. Every replica runs it. It
// also reads the Secret every half overlap: the leader drops the old CA
// from the caBundles one overlap after it issued a certificate of the new
// one, and a replica whose watch stalled unnoticed must have loaded the
// new certificate by then.
func (m *Manager) Serve(ctx context.Context) error {
	go m.poll(ctx, max(m.o.Policy.Overlap/2, time.Second))
	lw := cache.NewListWatchFromClient(m.o.Client.CoreV1().RESTClient(), "secrets", m.o.Namespace,
		fields.OneTermEqualSelector("metadata.name", m.o.SecretName))
	return m.watch(ctx, lw, &corev1.Secret{}, func(obj any) {
		if s, ok := obj.(*corev1.Secret); ok {
			m.load(s, false)
		}
		m.wake()
	})
}

// poll reads the Secret every interval until ctx ends and loads it.
// Errors are logged: the watch and the next poll try again.
func (m *Manager) poll(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, interval)
		s, err := m.o.Client.CoreV1().Secrets(m.o.Namespace).Get(rctx, m.o.SecretName, metav1.GetOptions{})
		cancel()
		switch {
		case err == nil:
			m.load(s, true)
		case !apierrors.IsNotFound(err) && ctx.Err() == nil:
			m.o.Log.Error(err, "read the serving certificate's Secret", "secret", m.o.SecretName)
		}
	}
}

// load serves the Secret's certificate if it is valid and new.
//
// polled says s comes from the periodic read, which may have read it just
// before the watch delivered a newer one: a polled certificate issued
// before the one served does not replace it (the watch, which delivers in
// order, may).
func (m *Manager) load(s *corev1.Secret, polled bool) {
	m.loading.Lock()
	defer m.loading.Unlock()
	crt, key := s.Data[CertKey], s.Data[KeyKey]
	if cur := m.current.Load(); cur != nil && bytes.Equal(cur.raw, append(slices.Clone(crt), key...)) {
		return
	}
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		m.o.Log.Error(err, "Secret holds no usable serving certificate; keeping the last one", "secret", s.Name)
		return
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			m.o.Log.Error(err, "parse serving certificate", "secret", s.Name)
			return
		}
	}
	if cur := m.current.Load(); polled && cur != nil && leaf.NotBefore.Before(cur.leaf.NotBefore) {
		return
	}
	if !m.o.Now().Before(leaf.NotAfter) {
		m.o.Log.Error(nil, "Secret's serving certificate has expired; keeping the last one", "secret", s.Name, "notAfter", leaf.NotAfter)
		return
	}
	m.current.Store(&served{cert: &pair, leaf: leaf, raw: append(slices.Clone(crt), key...)})
	m.o.Log.Info("serving certificate loaded", "secret", s.Name, "serial", leaf.SerialNumber.Text(16), "notAfter", leaf.NotAfter.UTC(), "issuer", leaf.Issuer.CommonName)
	if m.o.Observer != nil {
		m.o.Observer.SetExpiry("serving", leaf.NotAfter)
		if cas, err := ParseCerts(s.Data[CACertKey]); err == nil {
			m.o.Observer.SetExpiry("ca", cas[0].NotAfter)
		}
	}
}

func (m *Manager) wake() {
	select {
	case m.poke <- struct{}{}:
	default:
	}
}

// watch runs an informer of lw until ctx ends, calling changed on every
// add, update and delete.
func (m *Manager) watch(ctx context.Context, lw cache.ListerWatcher, obj runtime.Object, changed func(any)) error {
	inf := cache.NewSharedIndexInformer(lw, obj, 0, cache.Indexers{})
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    changed,
		UpdateFunc: func(_, n any) { changed(n) },
		DeleteFunc: func(any) { m.wake() },
	})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	inf.Run(ctx.Done())
	return nil
}

// Lead keeps the Secret and the caBundles right until ctx ends: at once,
// when a watch reports a change of the Secret or of a webhook
// configuration, when a certificate is due and every Resync. Only the
// leader runs it; errors are logged and retried with a backoff.
func (m *Manager) Lead(ctx context.Context) error {
	for _, name := range m.o.ValidatingWebhooks {
		go m.watchConfig(ctx, m.o.Client.AdmissionregistrationV1().RESTClient(), "validatingwebhookconfigurations", name, &admissionv1.ValidatingWebhookConfiguration{})
	}
	for _, name := range m.o.MutatingWebhooks {
		go m.watchConfig(ctx, m.o.Client.AdmissionregistrationV1().RESTClient(), "mutatingwebhookconfigurations", name, &admissionv1.MutatingWebhookConfiguration{})
	}
	backoff := minBackoff
	for {
		next, err := m.Reconcile(ctx)
		wait := m.o.Resync
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.o.Log.Error(err, "self-managed certificates: retrying", "in", backoff.String())
			wait, backoff = backoff, min(2*backoff, maxBackoff)
		} else {
			backoff = minBackoff
			if d := next.Sub(m.o.Now()); !next.IsZero() && d < wait {
				wait = max(d, 0)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-m.poke:
		case <-t.C:
		}
		t.Stop()
	}
}

func (m *Manager) watchConfig(ctx context.Context, c rest.Interface, resource, name string, obj runtime.Object) {
	lw := cache.NewListWatchFromClient(c, resource, "", fields.OneTermEqualSelector("metadata.name", name))
	if err := m.watch(ctx, lw, obj, func(any) { m.wake() }); err != nil {
		m.o.Log.Error(err, "watch webhook configuration", "resource", resource, "name", name)
	}
}

// Reconcile is one step of the leader: it reads the caBundles and the
// Secret, writes the Secret when Policy.Plan says so, and puts the
// Secret's ca.crt into every webhook of the configured configurations. It
// returns when it wants to run again at the latest.
func (m *Manager) Reconcile(ctx context.Context) (time.Time, error) {
	now := m.o.Now()
	configs, err := m.readConfigs(ctx)
	if err != nil {
		return time.Time{}, err
	}
	sec, err := m.o.Client.CoreV1().Secrets(m.o.Namespace).Get(ctx, m.o.SecretName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		sec = nil
	case err != nil:
		return time.Time{}, fmt.Errorf("read Secret %s/%s: %w", m.o.Namespace, m.o.SecretName, err)
	}
	var data map[string][]byte
	if sec != nil {
		data = sec.Data
	}
	trusted := configs.trusted()
	plan, err := m.o.Policy.Plan(now, data, m.o.Names, trusted)
	if err != nil {
		return time.Time{}, fmt.Errorf("plan certificates: %w", err)
	}
	if plan.Data != nil {
		// A CA is trusted by the callers before anything it signed is
		// served: first every CA of the old and new bundle, then the
		// Secret, then the new bundle alone.
		newBundle, _ := ParseCerts(plan.Data[CACertKey])
		union := validCAs(now, append(slices.Clone(newBundle), trusted...))
		if len(union) > len(validCAs(now, trusted)) {
			if err := m.patchConfigs(ctx, configs, EncodeCerts(union)); err != nil {
				return time.Time{}, err
			}
			if plan.NewServing {
				select {
				case <-ctx.Done():
					return time.Time{}, ctx.Err()
				case <-time.After(m.o.Settle):
				}
			}
			if configs, err = m.readConfigs(ctx); err != nil {
				return time.Time{}, err
			}
		}
		if sec, err = m.writeSecret(ctx, sec, plan.Data); err != nil {
			return time.Time{}, err
		}
		m.o.Log.Info("certificate Secret updated", "secret", m.o.SecretName, "reasons", plan.Reasons, "newCA", plan.NewCA, "newServingCertificate", plan.NewServing, "next", plan.Next.UTC())
		if m.o.Observer != nil {
			if plan.NewCA {
				m.o.Observer.ObserveRotation("ca")
			}
			if plan.NewServing {
				m.o.Observer.ObserveRotation("serving")
			}
		}
	}
	if err := m.patchConfigs(ctx, configs, sec.Data[CACertKey]); err != nil {
		return time.Time{}, err
	}
	return plan.Next, nil
}

// writeSecret creates the Secret or updates it with its resourceVersion as
// precondition (a conflict is an error: the next step reads again).
func (m *Manager) writeSecret(ctx context.Context, old *corev1.Secret, data map[string][]byte) (*corev1.Secret, error) {
	secrets := m.o.Client.CoreV1().Secrets(m.o.Namespace)
	if old == nil {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name: m.o.SecretName, Namespace: m.o.Namespace,
				Labels: map[string]string{"app.kubernetes.io/name": "ipamguard", "app.kubernetes.io/component": "webhook",
					"app.kubernetes.io/managed-by": "ipamguard-webhook"},
			},
			Type: corev1.SecretTypeTLS,
			Data: data,
		}
		out, err := secrets.Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("create Secret %s/%s: %w", m.o.Namespace, m.o.SecretName, err)
		}
		return out, nil
	}
	s := old.DeepCopy()
	s.Data = data
	out, err := secrets.Update(ctx, s, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update Secret %s/%s (resourceVersion %s): %w", m.o.Namespace, m.o.SecretName, old.ResourceVersion, err)
	}
	return out, nil
}

// configs are the webhook configurations read in one step.
type configs struct {
	validating []*admissionv1.ValidatingWebhookConfiguration
	mutating   []*admissionv1.MutatingWebhookConfiguration
}

func (m *Manager) readConfigs(ctx context.Context) (configs, error) {
	var c configs
	api := m.o.Client.AdmissionregistrationV1()
	for _, n := range m.o.ValidatingWebhooks {
		v, err := api.ValidatingWebhookConfigurations().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			return c, fmt.Errorf("read ValidatingWebhookConfiguration %s: %w", n, err)
		}
		c.validating = append(c.validating, v)
	}
	for _, n := range m.o.MutatingWebhooks {
		v, err := api.MutatingWebhookConfigurations().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			return c, fmt.Errorf("read MutatingWebhookConfiguration %s: %w", n, err)
		}
		c.mutating = append(c.mutating, v)
	}
	return c, nil
}

// trusted returns the CA certificates of every caBundle.
func (c configs) trusted() []*x509.Certificate {
	var out []*x509.Certificate
	add := func(b []byte) {
		if certs, err := ParseCerts(b); err == nil {
			out = append(out, certs...)
		}
	}
	for _, v := range c.validating {
		for _, w := range v.Webhooks {
			add(w.ClientConfig.CABundle)
		}
	}
	for _, v := range c.mutating {
		for _, w := range v.Webhooks {
			add(w.ClientConfig.CABundle)
		}
	}
	return out
}

// patchConfigs sets bundle as the caBundle of every webhook of every
// configuration, updating (resourceVersion precondition) only those that
// differ.
func (m *Manager) patchConfigs(ctx context.Context, c configs, bundle []byte) error {
	api := m.o.Client.AdmissionregistrationV1()
	for _, v := range c.validating {
		changed := false
		for i := range v.Webhooks {
			if !bytes.Equal(v.Webhooks[i].ClientConfig.CABundle, bundle) {
				v.Webhooks[i].ClientConfig.CABundle, changed = bundle, true
			}
		}
		if changed {
			if _, err := api.ValidatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("set caBundle of ValidatingWebhookConfiguration %s: %w", v.Name, err)
			}
			m.o.Log.Info("caBundle set", "validatingWebhookConfiguration", v.Name, "cas", len(mustCount(bundle)))
		}
	}
	for _, v := range c.mutating {
		changed := false
		for i := range v.Webhooks {
			if !bytes.Equal(v.Webhooks[i].ClientConfig.CABundle, bundle) {
				v.Webhooks[i].ClientConfig.CABundle, changed = bundle, true
			}
		}
		if changed {
			if _, err := api.MutatingWebhookConfigurations().Update(ctx, v, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("set caBundle of MutatingWebhookConfiguration %s: %w", v.Name, err)
			}
			m.o.Log.Info("caBundle set", "mutatingWebhookConfiguration", v.Name, "cas", len(mustCount(bundle)))
		}
	}
	return nil
}

func mustCount(b []byte) []*x509.Certificate {
	c, _ := ParseCerts(b)
	return c
}

// SetObserver sets the Observer; call it before Serve and Lead start.
func (m *Manager) SetObserver(o Observer) { m.o.Observer = o }
