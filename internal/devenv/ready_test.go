package devenv

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitReadyTurnsReady(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "informers not synced", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := WaitReady(ctx, srv.URL+"/readyz"); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("probed %d times, want 3", got)
	}
}

func TestWaitReadyTimesOut(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel()
	err := WaitReady(ctx, srv.URL+"/readyz")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady = %v, want DeadlineExceeded", err)
	}
}

func TestWaitReadyRejectsBadURL(t *testing.T) {
	t.Parallel()
	if err := WaitReady(t.Context(), "http://[::1"); err == nil {
		t.Fatal("WaitReady with a malformed URL succeeded")
	}
}
