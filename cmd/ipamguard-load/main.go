// Command ipamguard-load is ipamguard's HTTPS load test.
//
//	ipamguard-load [flags]          start a fixture server as a child process, load it, report
//	ipamguard-load serve [flags]    run the fixture server only (prints "ready <url> <ca-file>")
//	ipamguard-load run -url -ca     load a running server
//
// The fixture server is controller-runtime's webhook.Server (the server the
// ipamguard-webhook binary runs, with the same TLS options: TLS >= 1.2,
// HTTP/1.1 only) serving ipamguard's production handlers
// (webhook.HandlersByPath, the wiring of webhook.Setup) over an
// inventory fed straight from test/bench/fixture instead of informers, with
// a freshly generated self-signed certificate. It listens on 127.0.0.1 only.
//
// The load generator keeps -conns keep-alive connections busy (closed loop)
// with a mix of AdmissionReviews like a cluster's (mostly pods), for at
// most -duration and -requests, and reports throughput, latency
// percentiles, errors (transport errors, non-200, undecodable responses,
// wrong UID, 4xx/5xx admission results) and unexpected outcomes.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ipamguard/ipamguard/test/bench"
	"github.com/ipamguard/ipamguard/test/bench/fixture"
)

func main() {
	args := os.Args[1:]
	mode := "all"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		mode, args = args[0], args[1:]
	}
	var err error
	switch mode {
	case "serve":
		err = serve(args)
	case "run":
		err = runCmd(args)
	case "all":
		err = all(args)
	default:
		err = fmt.Errorf("unknown mode %q (serve, run, or none)", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipamguard-load:", err)
		os.Exit(1)
	}
}

// Mix is the share of each case in the load, in percent: pods dominate a
// cluster's admissions, most without fixed addresses; subnet changes are
// rare operator actions.
var Mix = []struct {
	Case   fixture.Case
	Weight int
}{
	{fixture.PodPlain, 50},
	{fixture.PodStatic, 20},
	{fixture.PodExhaustion, 5},
	{fixture.WorkloadCreate, 15},
	{fixture.SubnetCreate, 3},
	{fixture.SubnetCreateOverlap, 2},
	{fixture.SubnetExpand, 3},
	{fixture.SubnetShrink, 2},
}

func sizeFlag(fs *flag.FlagSet) *string {
	return fs.String("size", fixture.Size10k100k.Name, "inventory size: 1k-100k, 10k-100k, 10k-1M, small")
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	size := sizeFlag(fs)
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the server to this file")
	_ = fs.Parse(args)
	sz, ok := fixture.SizeByName(*size)
	if !ok {
		return fmt.Errorf("unknown size %q", *size)
	}
	if *cpuProfile != "" {
		fh, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(fh); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	bench.SetLogger()
	f := fixture.Generate(sz)
	store := f.NewStore()
	f = nil
	runtime.GC()

	dir, err := os.MkdirTemp("", "ipamguard-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	caFile, err := writeCerts(dir)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	srv := webhook.NewServer(webhook.Options{
		Host: "127.0.0.1", Port: port, CertDir: dir,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			c.MinVersion = tls.VersionTLS12
			c.NextProtos = []string{"http/1.1"}
		}},
	})
	for path, h := range bench.IpamguardHandlers(store, prometheus.NewRegistry()) {
		srv.Register(path, h)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Start(ctx) }()
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	for {
		select {
		case err := <-errc:
			return err
		default:
		}
		if c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true}); err == nil { //nolint:gosec // readiness probe only
			_ = c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Printf("ready %s %s\n", url, caFile)
	return <-errc
}

// writeCerts writes a throwaway CA and a server certificate for 127.0.0.1.
func writeCerts(dir string) (string, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ipamguard-load CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "ipamguard-webhook"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames: []string{"localhost"}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	files := map[string][]byte{
		"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		"ca.crt":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "ca.crt"), nil
}

// Report is the load test's result.
type Report struct {
	Size          string
	Conns         int
	Duration      time.Duration
	Requests      int
	Throughput    float64 // per second
	P50, P90, P99 time.Duration
	P999, Max     time.Duration
	Errors        int
	FirstErrors   []string
	Unexpected    int
	ByCase        map[string]int
	Outcomes      map[string]int
}

type loadOpts struct {
	url, ca, size, out string
	conns, requests    int
	duration, warmup   time.Duration
}

func loadFlags(fs *flag.FlagSet) *loadOpts {
	o := &loadOpts{}
	fs.StringVar(&o.size, "size", fixture.Size10k100k.Name, "inventory size (must match the server's)")
	fs.IntVar(&o.conns, "conns", 16, "keep-alive connections (concurrent requests)")
	fs.IntVar(&o.requests, "requests", 2_000_000, "stop after this many requests")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "stop after this long")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "unmeasured warm-up before the measurement")
	fs.StringVar(&o.out, "out", "", "write the report as JSON to this file")
	return o
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	o := loadFlags(fs)
	fs.StringVar(&o.url, "url", "", "server URL (https://127.0.0.1:port)")
	fs.StringVar(&o.ca, "ca", "", "CA certificate file")
	_ = fs.Parse(args)
	return load(o)
}

func all(args []string) error {
	fs := flag.NewFlagSet("ipamguard-load", flag.ExitOnError)
	o := loadFlags(fs)
	_ = fs.Parse(args)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "serve", "-size", o.size)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return fmt.Errorf("fixture server did not start: %w", err)
	}
	parts := strings.Fields(line)
	if len(parts) != 3 || parts[0] != "ready" {
		return fmt.Errorf("fixture server said %q", line)
	}
	o.url, o.ca = parts[1], parts[2]
	fmt.Fprintf(os.Stderr, "fixture server (pid %d) ready at %s\n", cmd.Process.Pid, o.url)
	return load(o)
}

type workItem struct {
	path string
	req  fixture.Request
}

func load(o *loadOpts) error {
	if !strings.HasPrefix(o.url, "https://127.0.0.1:") && !strings.HasPrefix(o.url, "https://localhost:") && !strings.HasPrefix(o.url, "https://[::1]:") {
		return fmt.Errorf("refusing %q: the load test only targets loopback", o.url)
	}
	sz, ok := fixture.SizeByName(o.size)
	if !ok {
		return fmt.Errorf("unknown size %q", o.size)
	}
	pem, err := os.ReadFile(o.ca)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return errors.New("no certificate in CA file")
	}

	// The request mix: 100 slots by weight, each slot cycling through its
	// case's variants.
	f := fixture.Generate(sz)
	byCase := map[string][]fixture.Request{}
	var slots []fixture.Case
	for _, m := range Mix {
		byCase[m.Case.Name] = f.Requests(m.Case, bench.Variants)
		for range m.Weight {
			slots = append(slots, m.Case)
		}
	}
	f = nil
	runtime.GC()

	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConns:        o.conns,
		MaxIdleConnsPerHost: o.conns,
		MaxConnsPerHost:     o.conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	var next atomic.Int64
	var measuring atomic.Bool
	type result struct {
		lat     []time.Duration
		errs    int
		first   []string
		unexp   int
		cases   map[string]int
		outcome map[string]int
	}
	results := make([]*result, o.conns)
	deadline := time.Now().Add(o.warmup + o.duration)
	var measureStart time.Time
	var wg sync.WaitGroup
	for w := range o.conns {
		res := &result{lat: make([]time.Duration, 0, o.requests/o.conns+1), cases: map[string]int{}, outcome: map[string]int{}}
		results[w] = res
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for time.Now().Before(deadline) {
				n := next.Add(1)
				m := measuring.Load()
				if m && int(n) > o.requests {
					return
				}
				c := slots[int(n)%len(slots)]
				vs := byCase[c.Name]
				r := vs[int(n/int64(len(slots)))%len(vs)]
				t0 := time.Now()
				outcome, err := send(client, o.url+c.Path, r, &buf)
				d := time.Since(t0)
				if !m {
					continue
				}
				res.lat = append(res.lat, d)
				res.cases[c.Name]++
				res.outcome[outcome]++
				switch {
				case err != nil:
					res.errs++
					if len(res.first) < 3 {
						res.first = append(res.first, err.Error())
					}
				case outcome != c.Want:
					res.unexp++
				}
			}
		}()
	}
	time.Sleep(o.warmup)
	next.Store(0)
	measureStart = time.Now()
	measuring.Store(true)
	wg.Wait()
	elapsed := time.Since(measureStart)

	rep := Report{Size: o.size, Conns: o.conns, Duration: elapsed, ByCase: map[string]int{}, Outcomes: map[string]int{}}
	var all []time.Duration
	for _, r := range results {
		all = append(all, r.lat...)
		rep.Errors += r.errs
		rep.Unexpected += r.unexp
		rep.FirstErrors = append(rep.FirstErrors, r.first...)
		for k, v := range r.cases {
			rep.ByCase[k] += v
		}
		for k, v := range r.outcome {
			rep.Outcomes[k] += v
		}
	}
	slices.Sort(all)
	rep.Requests = len(all)
	rep.Throughput = float64(len(all)) / elapsed.Seconds()
	rep.P50, rep.P90, rep.P99 = bench.Quantile(all, .5), bench.Quantile(all, .9), bench.Quantile(all, .99)
	rep.P999 = bench.Quantile(all, .999)
	if len(all) > 0 {
		rep.Max = all[len(all)-1]
	}
	if len(rep.FirstErrors) > 5 {
		rep.FirstErrors = rep.FirstErrors[:5]
	}
	fmt.Printf("%d requests in %.1fs over %d keep-alive TLS connections: %.0f/s; latency p50 %v p90 %v p99 %v p99.9 %v max %v; %d errors, %d unexpected outcomes\n",
		rep.Requests, elapsed.Seconds(), o.conns, rep.Throughput, rep.P50, rep.P90, rep.P99, rep.P999, rep.Max, rep.Errors, rep.Unexpected)
	for _, e := range rep.FirstErrors {
		fmt.Println("  error:", e)
	}
	if o.out != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.out, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// send posts one AdmissionReview and classifies the answer.
func send(c *http.Client, url string, r fixture.Request, buf *bytes.Buffer) (string, error) {
	resp, err := c.Post(url, "application/json", bytes.NewReader(r.Body))
	if err != nil {
		return "error", err
	}
	buf.Reset()
	_, err = io.Copy(buf, resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return "error", err
	}
	if resp.StatusCode != http.StatusOK {
		return "error", fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, buf.String())
	}
	return outcome(buf.Bytes(), r.UID)
}

// reviewResponse is the part of an AdmissionReview response the generator
// checks; decoding only it keeps the generator's CPU share small (it runs
// on the same two cores as the server).
type reviewResponse struct {
	Response *struct {
		UID      string   `json:"uid"`
		Allowed  bool     `json:"allowed"`
		Warnings []string `json:"warnings"`
		Status   *struct {
			Code int32 `json:"code"`
		} `json:"status"`
	} `json:"response"`
}

// outcome classifies a response like bench.Outcome.
func outcome(body []byte, uid string) (string, error) {
	var ar reviewResponse
	if err := json.Unmarshal(body, &ar); err != nil {
		return "error", fmt.Errorf("decode response: %w", err)
	}
	r := ar.Response
	switch {
	case r == nil:
		return "error", errors.New("no response")
	case r.UID != uid:
		return "error", fmt.Errorf("response uid %q, want %q", r.UID, uid)
	case !r.Allowed && r.Status != nil && (r.Status.Code >= 500 || r.Status.Code == 400):
		return "error", fmt.Errorf("code %d", r.Status.Code)
	case !r.Allowed:
		return "denied", nil
	case len(r.Warnings) > 0:
		return "warned", nil
	}
	return "allowed", nil
}
