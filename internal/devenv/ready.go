package devenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"time"
)

// readyPollInterval is how often WaitReady asks.
const readyPollInterval = 200 * time.Millisecond

// WaitReady polls url with GET until it answers 200 OK or ctx ends. HTTPS
// certificates are not verified: this is a local probe that sends no
// credentials and reads nothing but the status code, like a kubelet probe.
func WaitReady(ctx context.Context, url string) error {
	if _, err := http.NewRequest(http.MethodGet, url, nil); err != nil {
		return fmt.Errorf("wait for %s: %w", url, err)
	}
	hc := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // see doc comment
			DisableKeepAlives: true,
			Proxy:             nil, // loopback probes must not go through HTTP(S)_PROXY
		},
	}
	defer hc.CloseIdleConnections()

	var last error
	for {
		last = probe(ctx, hc, url)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last: %v)", url, ctx.Err(), last)
		case <-time.After(readyPollInterval):
		}
	}
}

// probe makes one request and returns nil on 200 OK.
func probe(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s: %s", resp.Status, body)
	}
	return nil
}
