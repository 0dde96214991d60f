// Command ipamguard-webhook serves ipamguard's admission webhooks.
//
// It wires flags and the config file into a controller-runtime manager; the
// rules live in pkg/validate.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ipamguard/ipamguard/internal/leader"
	"github.com/ipamguard/ipamguard/internal/memlimit"
	"github.com/ipamguard/ipamguard/internal/version"
	kubeovnv1 "github.com/ipamguard/ipamguard/pkg/apis/kubeovn/v1"
	"github.com/ipamguard/ipamguard/pkg/audit"
	"github.com/ipamguard/ipamguard/pkg/clusterstate"
	"github.com/ipamguard/ipamguard/pkg/config"
	"github.com/ipamguard/ipamguard/pkg/inventory"
	"github.com/ipamguard/ipamguard/pkg/metrics"
	"github.com/ipamguard/ipamguard/pkg/reserve"
	ipamwebhook "github.com/ipamguard/ipamguard/pkg/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ipamguard-webhook:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		host        string
		port        int
		certDir     string
		configPath  string
		metricsAddr string
		probeAddr   string
		enableHTTP2 bool
		configPoll  time.Duration
		memRatio    float64
		clientCA    string
		clientCNs   string

		reservations   string
		reservationTTL time.Duration
		confirmWindow  time.Duration

		inventoryDigest bool
		pprofAddr       string

		auditInterval   time.Duration
		auditReports    bool
		auditMaxResults int
		auditMaxObjects int

		certs certFlags
	)
	flag.StringVar(&host, "webhook-host", "", "address the webhook server listens on (empty: all)")
	flag.IntVar(&port, "webhook-port", 9443, "port the webhook server listens on")
	flag.StringVar(&certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "with --cert-mode=dir, the directory holding tls.crt and tls.key; changes are picked up without a restart")
	certs.bind(flag.CommandLine)
	flag.StringVar(&configPath, "config", "", "path of the ipamguard config file (empty: built-in defaults)")
	flag.DurationVar(&configPoll, "config-poll-interval", 5*time.Second, "how often the config file is checked for changes")
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of the /metrics endpoint (0 disables it)")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	flag.BoolVar(&enableHTTP2, "enable-http2", false, "serve HTTP/2 (off by default: HTTP/2 rapid-reset and stream-cancel attacks, CVE-2023-44487)")
	flag.StringVar(&clientCA, "client-ca-file", "", "PEM CA certificates that issue the API server's client certificate; when set, callers without such a certificate are refused during the TLS handshake and API reservations are trusted until their TTL (empty: callers are not verified; a reservation refuses another pod only once its holder pod is confirmed in the API server, see --reservation-confirm-window, and --reservations=memory is off)")
	flag.StringVar(&clientCNs, "client-cn", ipamwebhook.DefaultClientCommonName, "comma-separated common names accepted in callers' certificates with --client-ca-file (empty: any certificate the CA issued)")
	flag.StringVar(&reservations, "reservations", string(ipamwebhook.ReservationsAPI), "where the Pod webhook reserves the fixed addresses of pods it admits: api (one Lease per address in the webhook's namespace, shared by every replica: of pods created at once with one address exactly one is admitted; without --client-ca-file, holders are confirmed), memory (in this process only: exact with one replica; only with --client-ca-file) or off")
	flag.DurationVar(&reservationTTL, "reservation-ttl", reserve.APITTL, "with --reservations=api, how long a reservation whose pod has not appeared holds its address before another pod may take it over")
	flag.DurationVar(&confirmWindow, "reservation-confirm-window", reserve.ConfirmWindow, "with --reservations=api and no --client-ca-file, how long a request waits, on this replica's clock and once for all its addresses, for the holders of the reservations in its way to be confirmed (their pods may be in flight); a holder not confirmed by then is taken over: the most one forged admission request can delay a real pod, and the time within which an admitted pod must be persisted for exactly one to win. A forger re-forging one address without pause can still deny that address (a takeover lost at the deadline is refused); only --client-ca-file prevents it (100ms to 1s)")
	flag.BoolVar(&inventoryDigest, "inventory-digest", false, "serve /debug/inventory-digest on the metrics address: a hash and counts of the inventory (no object data), which tests compare with one computed from a fresh list of the cluster; each request costs a pass over the inventory")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "address of the Go profiler's /debug/pprof endpoints, for measuring memory and CPU (empty: off; never expose it outside the pod)")
	// 0.7, not 0.9: at 90 % the collector lets the heap grow to the limit
	// during the initial sync, and a replica syncing 10k subnets / 100k IP
	// objects / 110k pods peaked at 94 % of the shipped 512 MiB; at 70 %
	// it peaks at 74 % (test/soak TestStartupMemoryAtScale,
	// docs/performance.md).
	flag.Float64Var(&memRatio, "memory-limit-ratio", 0.7, "set the Go soft memory limit to this fraction of the container's cgroup memory limit (0 disables; GOMEMLIMIT, if set, wins)")
	flag.DurationVar(&auditInterval, "audit-interval", audit.DefaultInterval, "how often the leader replica runs the doctor's checks on the cluster (the continuous audit: ipamguard_findings); 0 disables it")
	flag.IntVar(&auditMaxObjects, "audit-max-objects", audit.DefaultMaxObjects, "the audit skips a run (logged, counted as an error) when the cluster has more objects than this: each run holds a copy of what it reads, about 1.2 KB per pod or IP object, on top of the inventory; raise it with the memory limit (0: no bound)")
	flag.BoolVar(&auditReports, "audit-reports", false, "also write the audit's findings as one openreports.io ClusterReport (needs the openreports CRDs; without them, metrics only)")
	flag.IntVar(&auditMaxResults, "audit-report-max-results", audit.DefaultMaxResults, "results kept in the ClusterReport, most severe first (the summary counts all)")
	leaderCfg := leader.DefaultConfig()
	leaderCfg.BindFlags(flag.CommandLine)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	showVersion := flag.Bool("version", false, "print the version, source commit and Go version, then exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("ipamguard-webhook", version.Get())
		return nil
	}

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	ml, err := memlimit.Set(memRatio, memlimit.CgroupFiles...)
	if err != nil {
		return fmt.Errorf("--memory-limit-ratio: %w", err)
	}
	if ml.Limit > 0 {
		log.Info("Go soft memory limit set from the cgroup", "limitBytes", ml.Limit, "cgroupBytes", ml.Cgroup, "file", ml.File, "ratio", memRatio)
	} else {
		log.Info("no Go soft memory limit set", "reason", ml.Reason)
	}

	live, err := config.LoadLive(configPath)
	if err != nil {
		return err
	}
	cfg := live.Get()

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("build scheme: %w", err)
	}
	if err := kubeovnv1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("build scheme: %w", err)
	}

	tlsOpts := []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 }}
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}

	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	leaderCfg, err = leaderCfg.Resolve(os.Getenv, leader.ServiceAccountNamespaceFile)
	if err != nil {
		return err
	}
	podNamespace := leaderCfg.Namespace
	if podNamespace == "" {
		podNamespace = os.Getenv(leader.NamespaceEnv)
	}
	// With self-managed certificates the serving certificate comes from
	// memory (GetCertificate) and --cert-dir is not read.
	selfCerts, err := certs.manager(restCfg, podNamespace, ctrl.Log.WithName("certs"))
	if err != nil {
		return err
	}
	if selfCerts != nil {
		tlsOpts = append(tlsOpts, selfCerts.TLSOpt)
	}
	auth := ipamwebhook.ClientAuth{CAFile: clientCA, CommonNames: splitList(clientCNs), Log: ctrl.Log.WithName("client-auth")}
	srvOpts := webhook.Options{
		Host:    host,
		Port:    port,
		CertDir: certDir,
		TLSOpts: tlsOpts,
	}
	servingCheck, err := auth.Apply(&srvOpts)
	if err != nil {
		return fmt.Errorf("--client-ca-file: %w", err)
	}
	if auth.Enabled() {
		log.Info("callers verified: only client certificates issued by the client CA are accepted", "clientCAFile", clientCA, "commonNames", auth.CommonNames)
	} else {
		log.Info("callers are not verified (no --client-ca-file): an address reservation refuses another pod only once its holder pod is confirmed in the API server, or while it is younger than the confirmation window")
	}
	resMode, err := ipamwebhook.ParseReservationMode(reservations)
	if err != nil {
		return fmt.Errorf("--reservations: %w", err)
	}
	if reservationTTL < 10*time.Second || reservationTTL > 24*time.Hour {
		// Shorter, replicas' clock skew eats the reservation; longer
		// overflows the Lease's duration and blocks addresses for days.
		return fmt.Errorf("--reservation-ttl %s: must be between 10s and 24h", reservationTTL)
	}
	resNamespace := podNamespace
	if err := reserve.CheckWindow(confirmWindow); err != nil {
		return fmt.Errorf("--reservation-confirm-window: %w", err)
	}
	if resMode == ipamwebhook.ReservationsAPI {
		if resNamespace == "" {
			return fmt.Errorf("--reservations=api keeps its Leases in the webhook's namespace: set $%s or --leader-election-namespace", leader.NamespaceEnv)
		}
		if !leaderCfg.Enabled {
			log.Info("leader election is off: this replica cleans up expired reservations itself; run one replica only, or turn leader election on")
		}
	}
	resActive := resMode == ipamwebhook.ReservationsAPI || resMode == ipamwebhook.ReservationsMemory && auth.Enabled()
	holders := "trusted until the TTL (callers verified)"
	switch {
	case !resActive:
		holders = "none kept"
	case !auth.Enabled():
		holders = "confirmed: another pod is refused once the holder pod exists, live, and asks for the address; an unconfirmed holder is waited for up to the window, then taken over"
	}
	log.Info("reservations", "mode", resMode, "namespace", resNamespace, "ttl", reservationTTL, "active", resActive, "holders", holders, "confirmWindow", confirmWindow)
	if resMode == ipamwebhook.ReservationsMemory && !auth.Enabled() {
		log.Info("--reservations=memory needs --client-ca-file (a table in memory cannot confirm holders): no reservations are kept; use --reservations=api")
	}
	log.Info("leader election", "enabled", leaderCfg.Enabled, "namespace", leaderCfg.Namespace, "lease", leaderCfg.LeaseName)
	mgrOpts := ctrl.Options{
		Scheme:                 scheme,
		WebhookServer:          webhook.NewServer(srvOpts),
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
		PprofBindAddress:       pprofAddr,
		Cache:                  inventory.CacheOptions(),
	}
	// The webhook servers, caches and probes run on every replica; only
	// what is added through leader.Add waits for the lease.
	leaderCfg.Apply(&mgrOpts)
	mgr, err := ctrl.NewManager(restCfg, mgrOpts)
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}

	m, err := metrics.New(crmetrics.Registry)
	if err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	if err := leader.Track(mgr, m.SetLeader); err != nil {
		return fmt.Errorf("track leader election: %w", err)
	}
	if selfCerts != nil {
		if err := certs.wire(mgr, selfCerts, crmetrics.Registry); err != nil {
			return err
		}
	}
	// Every load is counted; a successful one also publishes its
	// thresholds, which the subnet alerts compare with.
	observeLoad := func(ok bool) {
		m.ObserveReload(ok, time.Now())
		if ok {
			t := live.Get().Thresholds
			m.SetThresholds(t.Warning, t.Critical)
		}
	}
	observeLoad(true)

	ctx := ctrl.SetupSignalHandler()
	h, err := ipamwebhook.Setup(ctx, mgr, ipamwebhook.Options{
		Config: live, Metrics: m, CallersVerified: auth.Enabled(), ServingCheck: servingCheck,
		Reservations: resMode, ReservationNamespace: resNamespace, ReservationTTL: reservationTTL, ConfirmWindow: confirmWindow,
	})
	if err != nil {
		return err
	}
	if h.Leases != nil {
		h.Leases.ObserveDuration = m.ObserveReservationDuration
		clean := func(ctx context.Context) error {
			return h.CleanReservations(ctx, ipamwebhook.CleanupInterval, ctrl.Log.WithName("reservations"))
		}
		if err := leader.Add(mgr, "reservations", clean); err != nil {
			return fmt.Errorf("reservations cleanup: %w", err)
		}
		// How the API server serves Leases (and Pods) is found out at the
		// start, on every replica, not by the first fixed-address
		// admission inside its budget. Until it works, the first use
		// finds it out.
		warm := func(ctx context.Context) error {
			log := ctrl.Log.WithName("reservations")
			for logged := false; ; logged = true {
				err := h.Leases.Warm()
				if err == nil {
					return nil
				}
				if !logged {
					log.Error(err, "warm the reservations' clients; trying again every second")
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Second):
				}
			}
		}
		if err := leader.Everywhere(mgr, warm); err != nil {
			return fmt.Errorf("reservations warm-up: %w", err)
		}
	}
	m.SetSubnetSource(h.SubnetUsage)
	if inventoryDigest {
		if err := mgr.AddMetricsServerExtraHandler("/debug/inventory-digest", inventory.DigestHandler(h.Store, h.Feed.HasSynced)); err != nil {
			return fmt.Errorf("--inventory-digest: %w", err)
		}
	}
	if auditInterval > 0 {
		var extra []clusterstate.Resource
		if resMode == ipamwebhook.ReservationsAPI {
			extra = append(extra, clusterstate.ReservationLeases(resNamespace))
		}
		if err := addAudit(mgr, restCfg, live.Get, m, auditInterval, auditReports, auditMaxResults, auditMaxObjects, extra, h.Feed.HasSynced); err != nil {
			return err
		}
	}
	if configPath != "" {
		go live.Watch(ctx, configPath, configPoll, ctrl.Log.WithName("config"), observeLoad)
	}
	log.Info("starting", "webhookPort", port, "certMode", certs.mode, "certDir", certDir, "config", configPath, "defaultVPC", cfg.Defaults.VPC)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	return nil
}

// addAudit runs the continuous audit on the leader replica: the doctor's
// read and checks every interval, with the webhook's own identity. Its
// first run waits for the inventory's initial sync (synced): both read the
// whole cluster, and together they tripled a large cluster's time to ready
// and raised the replica's peak memory.
func addAudit(mgr ctrl.Manager, restCfg *rest.Config, cfg func() *config.Config, m *metrics.Metrics, interval time.Duration, reports bool, maxResults, maxObjects int, extra []clusterstate.Resource, synced func() bool) error {
	reader, err := clusterstate.NewReader(restCfg, 0)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	a := &audit.Auditor{Interval: interval, Reader: reader, Config: cfg, Metrics: m, MaxResults: maxResults, MaxObjects: maxObjects, Extra: extra,
		Log: ctrl.Log.WithName("audit")}
	if reports {
		a.Reports = mgr.GetClient()
	}
	run := func(ctx context.Context) error {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for !synced() {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
		return a.Run(ctx)
	}
	if err := leader.Add(mgr, "audit", run); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
