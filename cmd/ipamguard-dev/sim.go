package main

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	"github.com/ipamguard/ipamguard/internal/devenv"
	"github.com/ipamguard/ipamguard/internal/simovn"
)

// simSyncTimeout bounds the wait for the simulator's caches.
const simSyncTimeout = 30 * time.Second

// simulator is simovn running in this process, standing in for the
// Kube-OVN controller's IP allocation (there is none on the local control
// plane, so pods would never get addresses).
type simulator struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Start has returned
	err    error         // valid after done is closed
}

// startSimulator starts simovn against cfg and waits until it has synced.
// It runs under its own context: stop ends it, so that it is gone before
// the control plane it talks to.
func startSimulator(ctx context.Context, cfg *rest.Config, log logr.Logger) (*simulator, error) {
	sim, err := simovn.New(cfg, simovn.Options{
		DefaultVPC:    devenv.DefaultVpc,
		DefaultSubnet: devenv.DefaultSubnet,
		Log:           log,
	})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &simulator{cancel: cancel, done: make(chan struct{})}
	go func() {
		s.err = sim.Start(runCtx)
		close(s.done)
	}()
	syncCtx, syncCancel := context.WithTimeout(ctx, simSyncTimeout)
	defer syncCancel()
	synced := make(chan bool, 1)
	go func() { synced <- sim.WaitSynced(syncCtx) }()
	select {
	case ok := <-synced:
		if ok {
			return s, nil
		}
		err = fmt.Errorf("simulated Kube-OVN did not sync within %s: %w", simSyncTimeout, syncCtx.Err())
	case <-s.done:
		syncCancel()
		<-synced
		err = fmt.Errorf("simulated Kube-OVN exited while starting: %v", s.exitErr())
	}
	if stopErr := s.stop(); stopErr != nil {
		log.Error(stopErr, "stop simulated Kube-OVN")
	}
	return nil, err
}

// exited is closed when the simulator stopped; nil (never ready) when s is nil.
func (s *simulator) exited() <-chan struct{} {
	if s == nil {
		return nil
	}
	return s.done
}

// exitErr describes how the simulator ended; call it after done is closed.
func (s *simulator) exitErr() error {
	if s.err == nil {
		return fmt.Errorf("stopped without an error")
	}
	return s.err
}

// stop ends the simulator and waits for it. It is safe on a nil s.
func (s *simulator) stop() error {
	if s == nil {
		return nil
	}
	s.cancel()
	<-s.done
	if s.err != nil {
		return fmt.Errorf("simulated Kube-OVN: %w", s.err)
	}
	return nil
}
