package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/ipamguard/ipamguard/internal/devenv/devenvtest"
	"github.com/ipamguard/ipamguard/pkg/policy"
)

func TestWatchReloadsAndKeepsLastGood(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	write := func(s string) {
		t.Helper()
		// Like a ConfigMap mount: write elsewhere, then rename into place.
		tmp := filepath.Join(dir, ".tmp")
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("mode: enforce\n")
	live, err := LoadLive(path)
	if err != nil {
		t.Fatal(err)
	}
	var ok, failed atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go live.Watch(ctx, path, 10*time.Millisecond, testr.New(t), func(good bool) {
		if good {
			ok.Add(1)
		} else {
			failed.Add(1)
		}
	})
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		devenvtest.Eventually(t, what, 5*time.Second, func() error {
			if !cond() {
				return fmt.Errorf("mode %s, %d reloads, %d rejections", live.Get().Policy.Mode, ok.Load(), failed.Load())
			}
			return nil
		})
	}

	write("mode: audit\nrules: {subnet-overlap: warn}\n")
	waitFor("reload", func() bool { return live.Get().Policy.Mode == policy.ModeAudit })
	if live.Get().Policy.Action(policy.SubnetOverlap) != policy.Warn {
		t.Errorf("rule action not reloaded")
	}

	write("mode: audit\nrules: {no-such-rule: warn}\n")
	waitFor("rejection", func() bool { return failed.Load() == 1 })
	if live.Get().Policy.Mode != policy.ModeAudit || live.Get().Policy.Action(policy.SubnetOverlap) != policy.Warn {
		t.Errorf("an invalid file changed the configuration in force")
	}

	write("defaults: {vpc: other}\n")
	waitFor("vpc change rejection", func() bool { return failed.Load() == 2 })
	if live.Get().Defaults.VPC != "ovn-cluster" {
		t.Errorf("defaults.vpc changed without a restart")
	}

	write("mode: off\n")
	// The callback runs after the swap: wait for it, not for the swap.
	waitFor("second reload reported", func() bool { return ok.Load() == 2 })
	if live.Get().Policy.Mode != policy.ModeOff {
		t.Errorf("mode after reload = %s", live.Get().Policy.Mode)
	}
	if failed.Load() != 2 {
		t.Errorf("rejected reloads = %d, want 2", failed.Load())
	}
}
