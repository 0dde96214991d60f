package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"

	"github.com/ipamguard/ipamguard/internal/devenv"
)

const (
	// tokenTTL is the lifetime of the webhook's ServiceAccount token: a
	// pod's projected token's default (an hour).
	tokenTTL = time.Hour
	// tokenCheckEvery is how often keepTokenFresh looks at the clock.
	tokenCheckEvery = time.Minute
	// identityTimeout bounds installing the identity and each renewal.
	identityTimeout = 2 * time.Minute
)

// webhookIdentity is the webhook's identity on the local control plane:
// the shipped install's ServiceAccount and RBAC, with a kubeconfig that
// reads the ServiceAccount's token from a file kept fresh, as a pod's.
type webhookIdentity struct {
	*devenv.Identity
	// KubeconfigPath authenticates as the ServiceAccount with the token
	// at tokenPath.
	KubeconfigPath string
	tokenPath      string
	// renewAt is when the token in the file is due for renewal: at four
	// fifths of its lifetime, as the kubelet renews a projected token.
	renewAt time.Time
}

// renewalDue is when a token issued at issued and ending at expires is
// renewed: at four fifths of its lifetime.
func renewalDue(issued, expires time.Time) time.Time {
	return issued.Add(expires.Sub(issued) * 4 / 5)
}

// installWebhookIdentity creates, in env, the ServiceAccount and RBAC the
// install without cert-manager renders (devenv.SelfCertTree under root:
// the webhook manages its own certificates here), and writes a token and
// a kubeconfig reading it into runDir.
func installWebhookIdentity(ctx context.Context, env *devenv.Env, root, runDir string) (*webhookIdentity, error) {
	ctx, cancel := context.WithTimeout(ctx, identityTimeout)
	defer cancel()
	issued := time.Now()
	id, err := env.InstallIdentity(ctx, filepath.Join(root, devenv.SelfCertTree), tokenTTL)
	if err != nil {
		return nil, err
	}
	w := &webhookIdentity{Identity: id, renewAt: renewalDue(issued, id.TokenExpires),
		KubeconfigPath: filepath.Join(runDir, "webhook.kubeconfig"), tokenPath: filepath.Join(runDir, "webhook.token")}
	if err := writeFileAtomic(w.tokenPath, []byte(id.Config.BearerToken)); err != nil {
		return nil, fmt.Errorf("webhook token: %w", err)
	}
	kc, err := id.KubeconfigWithTokenFile(w.tokenPath)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(w.KubeconfigPath, kc); err != nil {
		return nil, fmt.Errorf("webhook kubeconfig: %w", err)
	}
	return w, nil
}

// keepTokenFresh looks at the wall clock every checkEvery until ctx ends
// and renews the token file once its renewal is due (renewAt). It reads
// the wall clock, not a timer's monotonic one, which stops while a laptop
// sleeps: after a sleep the token is renewed at the next look, not
// minutes after it has lapsed. A failed renewal is logged and tried again
// at the next look (the token in the file stays valid until its own end).
// done is closed on return.
func (w *webhookIdentity) keepTokenFresh(ctx context.Context, env *devenv.Env, checkEvery time.Duration, log logr.Logger) (done <-chan struct{}) {
	d := make(chan struct{})
	go func() {
		defer close(d)
		tick := time.NewTicker(checkEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if time.Now().Round(0).Before(w.renewAt) {
				continue
			}
			if err := w.renew(ctx, env); err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Error(err, "renew the webhook's ServiceAccount token; trying again", "in", checkEvery.String())
				continue
			}
			log.V(1).Info("renewed the webhook's ServiceAccount token", "file", w.tokenPath, "next", w.renewAt)
		}
	}()
	return d
}

// renew writes a new token into the token file and sets when it is due.
func (w *webhookIdentity) renew(ctx context.Context, env *devenv.Env) error {
	ctx, cancel := context.WithTimeout(ctx, identityTimeout)
	defer cancel()
	issued := time.Now()
	token, expires, err := env.RequestToken(ctx, w.Namespace, w.ServiceAccount, tokenTTL)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(w.tokenPath, []byte(token)); err != nil {
		return err
	}
	w.renewAt = renewalDue(issued, expires)
	return nil
}

// writeFileAtomic replaces the file at path with data (mode 0600): a
// reader sees the old content or the new, never a part.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
