package devenvtest

import (
	"testing"
	"time"
)

// pollInterval is how often Eventually retries: short next to an API
// server round trip, long enough not to spin.
const pollInterval = 20 * time.Millisecond

// Eventually calls cond until it returns nil and fails t if that does not
// happen within timeout. The failure names what was awaited and the last
// error cond returned, so a timeout says why, not only that. It may be
// called from a t.Cleanup function.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last error: %v", timeout, what, err)
		}
		time.Sleep(pollInterval)
	}
}
