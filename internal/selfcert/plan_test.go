package selfcert

import (
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"
)

var (
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	names = ServiceNames("ipamguard-webhook-service", "ipamguard-system", []string{"127.0.0.1", "localhost"})
	short = Policy{CAValidity: 30 * time.Hour, ServingValidity: 3 * time.Hour, Overlap: time.Minute}
)

// step plans at now and fails the test on error.
func step(t *testing.T, p Policy, now time.Time, data map[string][]byte, trusted ...*x509.Certificate) Plan {
	t.Helper()
	pl, err := p.Plan(now, data, names, trusted)
	if err != nil {
		t.Fatalf("Plan at %s: %v", now, err)
	}
	return pl
}

func certsOf(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	c, err := ParseCerts(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// verify checks that data's serving certificate chains to a CA of bundle
// for the Service's name.
func verify(t *testing.T, data map[string][]byte, bundle []byte, now time.Time) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		t.Fatal("bundle holds no certificate")
	}
	leaf := certsOf(t, data[CertKey])[0]
	for _, host := range []string{"ipamguard-webhook-service.ipamguard-system.svc", "localhost", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host, CurrentTime: now}); err != nil {
			t.Errorf("serving certificate for %s: %v", host, err)
		}
	}
}

func TestServiceNames(t *testing.T) {
	n := ServiceNames("svc", "ns", []string{"127.0.0.1", "localhost", "", "::1", "127.0.0.1"})
	if got := strings.Join(n.DNS, ","); got != "localhost,svc.ns.svc,svc.ns.svc.cluster.local" {
		t.Errorf("DNS %s", got)
	}
	if len(n.IPs) != 2 || !n.IPs[0].Equal(net.ParseIP("127.0.0.1")) || !n.IPs[1].Equal(net.ParseIP("::1")) {
		t.Errorf("IPs %v", n.IPs)
	}
}

func TestFirstPlanMakesCAAndServing(t *testing.T) {
	pl := step(t, DefaultPolicy(), t0, nil)
	if pl.Data == nil || !pl.NewCA || !pl.NewServing {
		t.Fatalf("plan %+v: want a new CA and serving certificate", pl)
	}
	for _, k := range []string{CertKey, KeyKey, CACertKey, CAKeyKey} {
		if len(pl.Data[k]) == 0 {
			t.Errorf("%s empty", k)
		}
	}
	verify(t, pl.Data, pl.Data[CACertKey], t0)
	ca := certsOf(t, pl.Data[CACertKey])
	if len(ca) != 1 || !ca[0].IsCA {
		t.Fatalf("ca.crt: %d certificates", len(ca))
	}
	leaf := certsOf(t, pl.Data[CertKey])[0]
	if got := leaf.NotAfter.Sub(t0); got != DefaultServingValidity {
		t.Errorf("serving lifetime %s", got)
	}
	if got := ca[0].NotAfter.Sub(t0); got != DefaultCAValidity {
		t.Errorf("CA lifetime %s", got)
	}
	// Renewal when a third is left.
	if want := t0.Add(DefaultServingValidity * 2 / 3); pl.Next.Sub(want).Abs() > time.Minute {
		t.Errorf("next %s, want about %s", pl.Next, want)
	}
	// Stable: nothing to do a moment later.
	if again := step(t, DefaultPolicy(), t0.Add(time.Hour), pl.Data); again.Data != nil {
		t.Errorf("second plan rewrites: %v", again.Reasons)
	}
}

func TestServingRenewedAtTwoThirds(t *testing.T) {
	first := step(t, short, t0, nil)
	if pl := step(t, short, t0.Add(115*time.Minute), first.Data); pl.Data != nil {
		t.Fatalf("renewed early: %v", pl.Reasons)
	}
	pl := step(t, short, t0.Add(2*time.Hour+time.Minute), first.Data)
	if !pl.NewServing || pl.NewCA {
		t.Fatalf("plan %+v: want a new serving certificate from the same CA", pl)
	}
	if string(pl.Data[CACertKey]) != string(first.Data[CACertKey]) || string(pl.Data[CAKeyKey]) != string(first.Data[CAKeyKey]) {
		t.Error("CA changed")
	}
	verify(t, pl.Data, first.Data[CACertKey], t0.Add(2*time.Hour+time.Minute))
}

func TestWrongNamesCorruptAndMismatch(t *testing.T) {
	first := step(t, short, t0, nil)
	cases := map[string]func(map[string][]byte){
		"other names": func(d map[string][]byte) {
			other, _ := IssueServing(t0, time.Hour, mustCA(t, d), ServiceNames("old", "ns", nil))
			d[CertKey] = other.CertPEM()
			d[KeyKey], _ = other.KeyPEM()
		},
		"corrupt tls.crt": func(d map[string][]byte) { d[CertKey] = []byte("garbage") },
		"missing tls.key": func(d map[string][]byte) { delete(d, KeyKey) },
		"key mismatch": func(d map[string][]byte) {
			other, _ := IssueServing(t0, time.Hour, mustCA(t, d), names)
			d[KeyKey], _ = other.KeyPEM()
		},
		"foreign issuer": func(d map[string][]byte) {
			foreign, _ := NewCA(t0, time.Hour, "foreign")
			other, _ := IssueServing(t0, time.Hour, foreign, names)
			d[CertKey] = other.CertPEM()
			d[KeyKey], _ = other.KeyPEM()
		},
	}
	for name, spoil := range cases {
		t.Run(name, func(t *testing.T) {
			d := cloneData(first.Data)
			spoil(d)
			pl := step(t, short, t0.Add(time.Minute), d)
			if !pl.NewServing || pl.NewCA {
				t.Fatalf("plan %+v: want a new serving certificate only", pl)
			}
			verify(t, pl.Data, first.Data[CACertKey], t0.Add(time.Minute))
		})
	}
}

func mustCA(t *testing.T, d map[string][]byte) Pair {
	t.Helper()
	ca, problem := currentCA(t0, d, certsOf(t, d[CACertKey]), nil)
	if problem != "" {
		t.Fatal(problem)
	}
	return ca
}

func TestLostCAKeepsTrustedCAs(t *testing.T) {
	first := step(t, short, t0, nil)
	old := certsOf(t, first.Data[CACertKey])
	for name, d := range map[string]map[string][]byte{
		"deleted":     nil,
		"corrupt key": {CACertKey: first.Data[CACertKey], CAKeyKey: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), CertKey: first.Data[CertKey], KeyKey: first.Data[KeyKey]},
	} {
		t.Run(name, func(t *testing.T) {
			now := t0.Add(time.Hour)
			pl := step(t, short, now, d, old...)
			if !pl.NewCA || !pl.NewServing {
				t.Fatalf("plan %+v", pl)
			}
			bundle := certsOf(t, pl.Data[CACertKey])
			if len(bundle) != 2 || !bundle[1].Equal(old[0]) {
				t.Fatalf("ca.crt has %d CAs, want the new one and the one callers trust", len(bundle))
			}
			// The old serving certificate, still held by replicas, stays
			// trusted; the new one too.
			verify(t, first.Data, pl.Data[CACertKey], now)
			verify(t, pl.Data, pl.Data[CACertKey], now)
			// After the overlap the old CA goes.
			later := step(t, short, now.Add(short.Overlap+time.Second), pl.Data)
			if later.NewServing || later.NewCA || len(certsOf(t, later.Data[CACertKey])) != 1 {
				t.Fatalf("after the overlap: %+v", later)
			}
		})
	}
}

func TestCARotationOverlaps(t *testing.T) {
	p := short
	data := step(t, p, t0, nil).Data
	// Keep the serving certificate renewed until the CA is due (at 20h).
	now := t0
	for now.Add(30 * time.Minute).Before(t0.Add(20 * time.Hour)) {
		now = now.Add(30 * time.Minute)
		if pl := step(t, p, now, data); pl.Data != nil {
			if pl.NewCA {
				t.Fatalf("CA renewed at %s", now.Sub(t0))
			}
			data = pl.Data
		}
	}
	oldCA := certsOf(t, data[CACertKey])[0]
	oldServing := data[CertKey]
	now = t0.Add(20*time.Hour + time.Minute)
	pl := step(t, p, now, data)
	if !pl.NewCA || pl.NewServing {
		t.Fatalf("at the CA's renewal: %+v; want a new CA and the same serving certificate", pl)
	}
	bundle := certsOf(t, pl.Data[CACertKey])
	if len(bundle) != 2 || !bundle[1].Equal(oldCA) || string(pl.Data[CertKey]) != string(oldServing) {
		t.Fatalf("phase 1: %d CAs, serving kept %v", len(bundle), string(pl.Data[CertKey]) == string(oldServing))
	}
	data = pl.Data
	// Within the overlap nothing more happens.
	if mid := step(t, p, now.Add(p.Overlap/2), data); mid.Data != nil {
		t.Fatalf("within the overlap: %v", mid.Reasons)
	} else if mid.Next.After(now.Add(p.Overlap + time.Second)) {
		t.Errorf("next %s is after the overlap's end", mid.Next)
	}
	now = now.Add(p.Overlap + time.Second)
	pl = step(t, p, now, data)
	if pl.NewCA || !pl.NewServing {
		t.Fatalf("phase 2: %+v", pl)
	}
	leaf := certsOf(t, pl.Data[CertKey])[0]
	if leaf.CheckSignatureFrom(bundle[0]) != nil {
		t.Fatal("phase 2: serving certificate not from the new CA")
	}
	if len(certsOf(t, pl.Data[CACertKey])) != 2 {
		t.Fatal("phase 2 dropped the old CA")
	}
	// Both serving certificates verify against the bundle of phase 2.
	verify(t, data, pl.Data[CACertKey], now)
	verify(t, pl.Data, pl.Data[CACertKey], now)
	data = pl.Data
	now = now.Add(p.Overlap + time.Second)
	pl = step(t, p, now, data)
	if pl.NewCA || pl.NewServing || len(certsOf(t, pl.Data[CACertKey])) != 1 || !certsOf(t, pl.Data[CACertKey])[0].Equal(bundle[0]) {
		t.Fatalf("phase 3: %+v", pl)
	}
}

func TestExpiredSecret(t *testing.T) {
	first := step(t, short, t0, nil)
	pl := step(t, short, t0.Add(31*time.Hour), first.Data)
	if !pl.NewCA || !pl.NewServing || len(certsOf(t, pl.Data[CACertKey])) != 1 {
		t.Fatalf("expired: %+v", pl)
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p    Policy
		want string
	}{
		{Policy{CAValidity: time.Second, ServingValidity: time.Hour, Overlap: time.Minute}, "--cert-ca-validity 1s"},
		{Policy{CAValidity: time.Hour, ServingValidity: 2 * time.Hour, Overlap: time.Minute}, "--cert-validity 2h0m0s"},
		{Policy{CAValidity: time.Hour, ServingValidity: time.Hour, Overlap: time.Second}, "--cert-overlap 1s"},
		{Policy{CAValidity: time.Hour, ServingValidity: 15 * time.Minute, Overlap: 10 * time.Minute}, "at most a third of --cert-validity"},
	} {
		err := c.p.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.p, err, c.want)
		}
	}
}
