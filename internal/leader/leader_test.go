package leader_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/ipamguard/ipamguard/internal/leader"
)

// parse binds a default Config to a fresh flag set and parses args.
func parse(t *testing.T, args ...string) leader.Config {
	t.Helper()
	c := leader.DefaultConfig()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return c
}

func TestFlagDefaults(t *testing.T) {
	t.Parallel()
	got := parse(t)
	want := leader.Config{
		Enabled:       true,
		LeaseName:     "ipamguard-leader",
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
	}
	if got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	got := parse(t, "--leader-elect=false", "--leader-election-namespace=ops", "--leader-election-id=other",
		"--leader-election-lease-duration=30s", "--leader-election-renew-deadline=20s", "--leader-election-retry-period=4s")
	want := leader.Config{
		Enabled:       false,
		Namespace:     "ops",
		LeaseName:     "other",
		LeaseDuration: 30 * time.Second,
		RenewDeadline: 20 * time.Second,
		RetryPeriod:   4 * time.Second,
	}
	if got != want {
		t.Errorf("parsed = %+v, want %+v", got, want)
	}
}

// env is a getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestResolveNamespace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	saFile := filepath.Join(dir, "namespace")
	if err := os.WriteFile(saFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string
		want    string // resolved namespace
		wantErr []string
	}{
		{name: "flag wins", args: []string{"--leader-election-namespace=from-flag"}, env: map[string]string{"POD_NAMESPACE": "from-env"}, file: saFile, want: "from-flag"},
		{name: "POD_NAMESPACE before the service account file", env: map[string]string{"POD_NAMESPACE": "from-env"}, file: saFile, want: "from-env"},
		{name: "service account file, trimmed", file: saFile, want: "from-file"},
		{name: "blank POD_NAMESPACE is unset", env: map[string]string{"POD_NAMESPACE": " "}, file: saFile, want: "from-file"},
		{name: "outside a pod", file: missing, wantErr: []string{"--leader-election-namespace", "POD_NAMESPACE", missing, "--leader-elect=false"}},
		{name: "empty service account file", file: emptyFile, wantErr: []string{emptyFile, "is empty"}},
		{name: "invalid namespace", args: []string{"--leader-election-namespace=Not_A_Namespace"}, file: missing, wantErr: []string{`namespace "Not_A_Namespace" of the Lease`}},
		{name: "disabled needs no namespace", args: []string{"--leader-elect=false"}, file: missing, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parse(t, tt.args...).Resolve(env(tt.env), tt.file)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Resolve = %+v, want an error", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got.Namespace != tt.want {
				t.Errorf("namespace = %q, want %q", got.Namespace, tt.want)
			}
		})
	}
}

func TestResolveChecksSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" for valid
	}{
		{name: "defaults"},
		{name: "empty lease name", args: []string{"--leader-election-id="}, wantErr: "--leader-election-id is empty"},
		{name: "invalid lease name", args: []string{"--leader-election-id=Leader!"}, wantErr: `--leader-election-id "Leader!"`},
		{name: "lease not longer than renew deadline", args: []string{"--leader-election-lease-duration=10s"}, wantErr: "--leader-election-lease-duration 10s must be longer than --leader-election-renew-deadline 10s"},
		{name: "renew deadline within retry jitter", args: []string{"--leader-election-renew-deadline=2s", "--leader-election-lease-duration=3s"}, wantErr: "--leader-election-renew-deadline 2s must be longer than 1.2 × --leader-election-retry-period"},
		{name: "zero retry period", args: []string{"--leader-election-retry-period=0s"}, wantErr: "--leader-election-retry-period 0s must be positive"},
		{name: "short but consistent", args: []string{"--leader-election-lease-duration=3s", "--leader-election-renew-deadline=2s", "--leader-election-retry-period=500ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--leader-election-namespace=ns"}, tt.args...)
			_, err := parse(t, args...).Resolve(env(nil), "/nonexistent")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Resolve: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Resolve error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	c, err := parse(t, "--leader-election-namespace=ops").Resolve(env(nil), "/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	var o manager.Options
	c.Apply(&o)
	if !o.LeaderElection || o.LeaderElectionNamespace != "ops" || o.LeaderElectionID != leader.DefaultLeaseName ||
		o.LeaderElectionResourceLock != "leases" || !o.LeaderElectionReleaseOnCancel {
		t.Errorf("Apply set %+v", o)
	}
	if o.LeaseDuration == nil || *o.LeaseDuration != c.LeaseDuration || o.RenewDeadline == nil || *o.RenewDeadline != c.RenewDeadline ||
		o.RetryPeriod == nil || *o.RetryPeriod != c.RetryPeriod {
		t.Errorf("Apply timing = %v %v %v, want %s %s %s", o.LeaseDuration, o.RenewDeadline, o.RetryPeriod, c.LeaseDuration, c.RenewDeadline, c.RetryPeriod)
	}

	off := parse(t, "--leader-elect=false")
	o = manager.Options{LeaderElection: true}
	off.Apply(&o)
	if o.LeaderElection {
		t.Error("Apply of a disabled Config left leader election on")
	}
}
