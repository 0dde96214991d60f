package config

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Live holds the configuration in force. Handlers read it once per request;
// Watch swaps it when the file changes.
type Live struct {
	p atomic.Pointer[Config]
	// loaded is the file content the configuration in force came from,
	// the baseline Watch compares against.
	loaded []byte
}

// LoadLive reads and validates the file at path (empty path: Default())
// and returns a Live holding it, ready to Watch.
func LoadLive(path string) (*Live, error) {
	if path == "" {
		return NewLive(Default()), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	l := NewLive(c)
	l.loaded = data
	return l, nil
}

// NewLive returns a Live holding c.
func NewLive(c *Config) *Live {
	l := &Live{}
	l.p.Store(c)
	return l
}

// Get returns the configuration in force.
func (l *Live) Get() *Config { return l.p.Load() }

// Set puts c in force, as a reload would.
func (l *Live) Set(c *Config) { l.p.Store(c) }

// Watch re-reads path every interval until ctx ends. A changed file that
// parses replaces the configuration; one that does not is logged with its
// error and the last good configuration stays in force. onReload (may be
// nil) learns of each attempt. ConfigMap mounts swap a symlink, so polling
// the content is more reliable than file events.
func (l *Live) Watch(ctx context.Context, path string, interval time.Duration, log logr.Logger, onReload func(ok bool)) {
	last := l.loaded
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := os.ReadFile(path)
		if err != nil || bytes.Equal(data, last) {
			if err != nil && last != nil {
				log.Error(err, "config file unreadable; keeping the configuration in force", "path", path)
				last = nil
			}
			continue
		}
		last = data
		err = l.reload(data)
		if err != nil {
			log.Error(err, "config file rejected; keeping the last good configuration", "path", path)
		} else {
			log.Info("config reloaded", "path", path)
		}
		if onReload != nil {
			onReload(err == nil)
		}
	}
}

// reload parses data and swaps it in, refusing changes that need a restart.
func (l *Live) reload(data []byte) error {
	c, err := Parse(data)
	if err != nil {
		return err
	}
	if cur := l.Get(); cur != nil && cur.Defaults.VPC != c.Defaults.VPC {
		return fmt.Errorf("defaults.vpc changes from %q to %q: the inventory is keyed by it, restart the webhook to apply", cur.Defaults.VPC, c.Defaults.VPC)
	}
	l.p.Store(c)
	return nil
}
