// Command bench runs ipamguard's performance measurements (make bench) and
// writes their summary:
//
//	go run ./hack/bench [-out docs/perf] [-count 6] [-load-duration 60s]
//
// Steps, each size in its own process so only one inventory is live:
//  1. go test -bench BenchmarkAdmission (ipamguard and the baseline) with
//     -count for benchstat, into <out>/bench.txt; benchstat -col /impl
//     into <out>/benchstat.txt;
//  2. go test -bench BenchmarkHostile: one admission of each hostile
//     shape of issue 12 (test/bench/hostile) through the handlers, into
//     <out>/hostile.txt, against the target of 50 ms and 16 MiB;
//  3. per-request percentiles (p50/p99/p99.9) of every case, size and
//     implementation (bench.Percentiles), into <out>/percentiles.json;
//  4. memory with informer caches and with the Store alone
//     (bench.MeasureMemory), into <out>/memory.json;
//  5. the HTTPS load test (cmd/ipamguard-load), into <out>/load.json;
//  6. go test -bench BenchmarkDoctorSnapshot (pkg/diagnose) at 10k/100k/100k
//     and 10k/1M/1M, each in its own process, into <out>/doctor.txt
//     (issue 14's target: <= 5 s and <= 2 GiB at 1M);
//  7. test/soak's TestReservationCost (issue 15) with -count rounds (at
//     most 6): what the API-backed reservations cost a fixed-address pod
//     creation through a real API server, into <out>/reservations.json
//     (targets: added p99 <= 5 ms, rate >= 70 % of the rate without);
//  8. <out>/summary.md (tables of medians, machine, targets) and
//     <out>/latency-vs-inventory.png.
//
// The subcommands "percentiles" and "memory" are the child processes of
// steps 3 and 4.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ipamguard/ipamguard/test/bench"
	"github.com/ipamguard/ipamguard/test/bench/fixture"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "percentiles":
			check(percentilesCmd(os.Args[2:]))
			return
		case "memory":
			check(memoryCmd(os.Args[2:]))
			return
		}
	}
	check(runAll(os.Args[1:]))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func percentilesCmd(args []string) error {
	fs := flag.NewFlagSet("percentiles", flag.ExitOnError)
	size := fs.String("size", "", "size")
	out := fs.String("out", "", "JSON lines file to append to")
	budget := fs.Duration("budget", 3*time.Second, "time per case (ipamguard)")
	baseBudget := fs.Duration("baseline-budget", 20*time.Second, "time per case (baseline)")
	impl := fs.String("impl", bench.ImplIpamguard, "implementation: ipamguard (in a process holding only its Store) or baseline")
	_ = fs.Parse(args)
	sz, ok := fixture.SizeByName(*size)
	if !ok {
		return fmt.Errorf("unknown size %q", *size)
	}
	var e *bench.Env
	if *impl == bench.ImplIpamguard {
		e = bench.OursOnly(sz)
	} else {
		e = bench.EnvFor(sz)
	}
	fh, err := os.OpenFile(*out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer fh.Close()
	for _, c := range fixture.Cases() {
		for _, impl := range []string{*impl} {
			var st bench.Stats
			if impl == bench.ImplIpamguard {
				st = bench.Percentiles(e, impl, c, 500, 2000, 200_000, *budget)
			} else {
				st = bench.Percentiles(e, impl, c, 2, 10, 2000, *baseBudget)
			}
			fmt.Fprintf(os.Stderr, "  %-9s %-22s %-9s n=%-6d p50 %-10v p99 %-10v p99.9 %-10v allocs/op %.0f outcomes %v\n",
				sz.Name, c.Name, impl, st.N, st.P50, st.P99, st.P999, st.AllocsPerOp, st.Outcomes)
			b, _ := json.Marshal(st)
			fmt.Fprintln(fh, string(b))
		}
	}
	return nil
}

func memoryCmd(args []string) error {
	fs := flag.NewFlagSet("memory", flag.ExitOnError)
	size := fs.String("size", fixture.Size10k100k.Name, "size")
	pods := fs.Int("pods", 100_000, "running pods with address annotations")
	informers := fs.Bool("informers", true, "go through informers with the cache transforms")
	out := fs.String("out", "", "JSON lines file to append to")
	_ = fs.Parse(args)
	sz, ok := fixture.SizeByName(*size)
	if !ok {
		return fmt.Errorf("unknown size %q", *size)
	}
	r := bench.MeasureMemory(sz, *pods, *informers)
	b, _ := json.Marshal(r)
	fmt.Fprintln(os.Stderr, "  memory:", string(b))
	fh, err := os.OpenFile(*out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer fh.Close()
	_, err = fmt.Fprintln(fh, string(b))
	return err
}

type opts struct {
	out          string
	count        int
	benchtime    string
	sizes        []string
	loadDuration time.Duration
	loadConns    []int
	skip         map[string]bool
}

func runAll(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	var o opts
	var sizes, skip, conns string
	fs.StringVar(&o.out, "out", "docs/perf", "output directory")
	fs.IntVar(&o.count, "count", 6, "go test -count for the benchmarks (benchstat wants >= 6)")
	fs.StringVar(&o.benchtime, "benchtime", "1s", "go test -benchtime")
	fs.StringVar(&sizes, "sizes", "1k-100k,10k-100k,10k-1M", "sizes to run")
	fs.DurationVar(&o.loadDuration, "load-duration", 60*time.Second, "load test duration")
	fs.StringVar(&conns, "load-conns", "8,16", "load test runs: keep-alive connections of each (the first runs -load-duration, the others a third of it)")
	fs.StringVar(&skip, "skip", "", "steps to skip: bench,hostile,percentiles,memory,load,doctor,reservations")
	_ = fs.Parse(args)
	o.sizes = strings.Split(sizes, ",")
	o.skip = map[string]bool{}
	for _, s := range strings.Split(skip, ",") {
		o.skip[s] = true
	}
	for _, c := range strings.Split(conns, ",") {
		n, err := strconv.Atoi(c)
		if err != nil {
			return fmt.Errorf("-load-conns: %w", err)
		}
		o.loadConns = append(o.loadConns, n)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	machine := machineInfo()
	loads := map[string]string{}
	step := func(name string, fn func() error) error {
		if o.skip[name] {
			fmt.Fprintln(os.Stderr, "== skipping", name)
			return nil
		}
		fmt.Fprintln(os.Stderr, "==", name, "(load average", loadavg()+")")
		before := loadavg()
		t0 := time.Now()
		err := fn()
		loads[name] = fmt.Sprintf("%s before, %s after, %s", before, loadavg(), time.Since(t0).Round(time.Second))
		return err
	}
	benchFile := filepath.Join(o.out, "bench.txt")
	if err := step("bench", func() error {
		_ = os.Remove(benchFile)
		for _, s := range o.sizes {
			fmt.Fprintln(os.Stderr, "  size", s)
			cmd := exec.Command("go", "test", "-run", "^$", "-bench", "BenchmarkAdmission/size="+regexp.QuoteMeta(s)+"/",
				"-count", strconv.Itoa(o.count), "-benchtime", o.benchtime, "-benchmem", "-timeout", "3h", "./test/bench/")
			if err := appendOutput(cmd, benchFile); err != nil {
				return err
			}
		}
		cmd := exec.Command("go", "run", "golang.org/x/perf/cmd/benchstat@latest", "-col", "/impl", benchFile)
		b, err := cmd.Output()
		if err != nil {
			b = []byte(fmt.Sprintf("benchstat failed: %v\n", err))
		}
		return os.WriteFile(filepath.Join(o.out, "benchstat.txt"), b, 0o644)
	}); err != nil {
		return err
	}
	hostileFile := filepath.Join(o.out, "hostile.txt")
	if err := step("hostile", func() error {
		_ = os.Remove(hostileFile)
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", "BenchmarkHostile", "-count", strconv.Itoa(min(o.count, 3)),
			"-benchtime", o.benchtime, "-benchmem", "-timeout", "1h", "./test/bench/")
		return appendOutput(cmd, hostileFile)
	}); err != nil {
		return err
	}
	pctFile := filepath.Join(o.out, "percentiles.json")
	if err := step("percentiles", func() error {
		_ = os.Remove(pctFile)
		for _, s := range o.sizes {
			for _, impl := range []string{bench.ImplIpamguard, bench.ImplBaseline} {
				cmd := exec.Command(self, "percentiles", "-size", s, "-impl", impl, "-out", pctFile)
				cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
				if err := cmd.Run(); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		return err
	}
	memFile := filepath.Join(o.out, "memory.json")
	if err := step("memory", func() error {
		_ = os.Remove(memFile)
		for _, inf := range []string{"true", "false"} {
			cmd := exec.Command(self, "memory", "-size", fixture.Size10k100k.Name, "-pods", "100000", "-informers="+inf, "-out", memFile)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	loadFile := filepath.Join(o.out, "load.json")
	if err := step("load", func() error {
		_ = os.Remove(loadFile)
		bin := filepath.Join(os.TempDir(), "ipamguard-load")
		if b, err := exec.Command("go", "build", "-o", bin, "./cmd/ipamguard-load").CombinedOutput(); err != nil {
			return fmt.Errorf("build load generator: %v: %s", err, b)
		}
		for i, c := range o.loadConns {
			d := o.loadDuration
			if i > 0 {
				d /= 3
			}
			tmp := loadFile + ".tmp"
			cmd := exec.Command(bin, "-size", fixture.Size10k100k.Name, "-conns", strconv.Itoa(c), "-duration", d.String(), "-out", tmp)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return err
			}
			b, err := os.ReadFile(tmp)
			if err != nil {
				return err
			}
			_ = os.Remove(tmp)
			if err := appendLine(loadFile, compact(b)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	doctorFile := filepath.Join(o.out, "doctor.txt")
	if err := step("doctor", func() error { return runDoctor(doctorFile, min(o.count, 5)) }); err != nil {
		return err
	}
	if err := step("reservations", func() error {
		return runReservationCost(filepath.Join(o.out, "reservations.json"), min(o.count, 6))
	}); err != nil {
		return err
	}
	return summarize(o, machine, loads)
}

func compact(b []byte) string {
	var v any
	_ = json.Unmarshal(b, &v)
	out, _ := json.Marshal(v)
	return string(out)
}

func appendLine(path, line string) error {
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer fh.Close()
	_, err = fmt.Fprintln(fh, line)
	return err
}

func appendOutput(cmd *exec.Cmd, path string) error {
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer fh.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	pw.Close()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		fmt.Fprintln(fh, sc.Text())
		if strings.HasPrefix(sc.Text(), "Benchmark") {
			fmt.Fprintln(os.Stderr, "  ", sc.Text())
		}
	}
	return cmd.Wait()
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func machineInfo() string {
	model := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]); len(f) >= 2 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	gover, _ := exec.Command("go", "version").Output()
	return fmt.Sprintf("%s, %d cores (GOMAXPROCS %d), %s RAM, Linux %s, %s", model, runtime.NumCPU(), runtime.GOMAXPROCS(0),
		mem, strings.TrimSpace(string(kernel)), strings.TrimSpace(strings.TrimPrefix(string(gover), "go version ")))
}

// benchKey identifies one benchmark.
type benchKey struct{ size, cas, impl string }

type benchVals struct{ ns, allocs, bytes []float64 }

var benchLine = regexp.MustCompile(`^BenchmarkAdmission/size=([^/]+)/case=([^/]+)/impl=([a-z]+)(-\d+)?\s+\d+\s+([\d.]+) ns/op\s+([\d.]+) B/op\s+([\d.]+) allocs/op`)

func readBench(path string) map[benchKey]*benchVals {
	out := map[benchKey]*benchVals{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		k := benchKey{m[1], m[2], m[3]}
		v := out[k]
		if v == nil {
			v = &benchVals{}
			out[k] = v
		}
		ns, _ := strconv.ParseFloat(m[5], 64)
		by, _ := strconv.ParseFloat(m[6], 64)
		al, _ := strconv.ParseFloat(m[7], 64)
		v.ns, v.bytes, v.allocs = append(v.ns, ns), append(v.bytes, by), append(v.allocs, al)
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func readLines[T any](path string) []T {
	var out []T
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		var v T
		if strings.TrimSpace(line) != "" && json.Unmarshal([]byte(line), &v) == nil {
			out = append(out, v)
		}
	}
	return out
}

func us(ns float64) string {
	switch {
	case math.IsNaN(ns):
		return "–"
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.1f ms", ns/1e6)
	}
	return fmt.Sprintf("%.0f µs", ns/1e3)
}

// num formats a figure, or "–" when it was not measured in this run (NaN,
// infinite, or a ratio against a missing measurement).
func num(v float64, format string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) || v == 0 {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

func summarize(o opts, machine string, loads map[string]string) error {
	benches := readBench(filepath.Join(o.out, "bench.txt"))
	pcts := readLines[bench.Stats](filepath.Join(o.out, "percentiles.json"))
	mems := readLines[bench.MemReport](filepath.Join(o.out, "memory.json"))
	type loadRep struct {
		Size                     string
		Conns                    int
		Duration                 time.Duration
		Requests                 int
		Throughput               float64
		P50, P90, P99, P999, Max time.Duration
		Errors, Unexpected       int
	}
	loadsRep := readLines[loadRep](filepath.Join(o.out, "load.json"))
	pct := map[benchKey]bench.Stats{}
	for _, p := range pcts {
		pct[benchKey{p.Size, p.Case, p.Impl}] = p
	}

	var w strings.Builder
	fmt.Fprintf(&w, "<!-- generated by `go run ./hack/bench` (make bench) on %s -->\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&w, "Machine: %s.\n\n", machine)
	fmt.Fprintf(&w, "Load average during each step (1, 5, 15 min; other work on the machine shows here): \n")
	for _, k := range []string{"bench", "hostile", "percentiles", "memory", "load", "doctor", "reservations"} {
		if v, ok := loads[k]; ok {
			fmt.Fprintf(&w, "- %s: %s\n", k, v)
		}
	}
	fmt.Fprintf(&w, "\n### Handler latency, raw AdmissionReview bytes to response bytes\n\n")
	fmt.Fprintf(&w, "Mean = median over %d `go test -bench` runs of ns/op; p50/p99 from %s (individually timed requests). Baseline: list and deep-copy everything, scan linearly.\n\n", o.count, "bench.Percentiles")
	fmt.Fprintf(&w, "| size (subnets/IPs) | case | ipamguard mean | p50 | p99 | allocs/op | B/op | baseline mean | baseline p99 | baseline allocs/op | baseline / ipamguard |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range o.sizes {
		for _, c := range fixture.Cases() {
			ours, base := benches[benchKey{s, c.Name, bench.ImplIpamguard}], benches[benchKey{s, c.Name, bench.ImplBaseline}]
			po, pb := pct[benchKey{s, c.Name, bench.ImplIpamguard}], pct[benchKey{s, c.Name, bench.ImplBaseline}]
			m := func(v *benchVals, f func(*benchVals) []float64) float64 {
				if v == nil {
					return math.NaN()
				}
				return median(f(v))
			}
			ns := func(v *benchVals) []float64 { return v.ns }
			al := func(v *benchVals) []float64 { return v.allocs }
			by := func(v *benchVals) []float64 { return v.bytes }
			ratio := m(base, ns) / m(ours, ns)
			dur := func(d time.Duration) string {
				if d == 0 {
					return "–"
				}
				return us(float64(d))
			}
			fmt.Fprintf(&w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s, c.Name,
				us(m(ours, ns)), dur(po.P50), dur(po.P99), num(m(ours, al), "%.0f"), num(m(ours, by), "%.0f"),
				us(m(base, ns)), dur(pb.P99), num(m(base, al), "%.0f"), num(ratio, "%.0fx"))
		}
	}

	writeHostile(&w, filepath.Join(o.out, "hostile.txt"), o.count)

	// Scaling: 10k/1M over 10k/100k and 10k/100k over 1k/100k, by p50 and mean.
	fmt.Fprintf(&w, "\n### Growth (ipamguard)\n\n| case | mean 10k/100k ÷ 1k/100k | mean 10k/1M ÷ 10k/100k | p99 10k/1M ÷ 10k/100k |\n|---|---:|---:|---:|\n")
	for _, c := range fixture.Cases() {
		g := func(a, b string) float64 {
			x, y := benches[benchKey{a, c.Name, bench.ImplIpamguard}], benches[benchKey{b, c.Name, bench.ImplIpamguard}]
			if x == nil || y == nil {
				return math.NaN()
			}
			return median(x.ns) / median(y.ns)
		}
		p := func(a, b string) float64 {
			x, y := pct[benchKey{a, c.Name, bench.ImplIpamguard}], pct[benchKey{b, c.Name, bench.ImplIpamguard}]
			return float64(x.P99) / float64(y.P99)
		}
		fmt.Fprintf(&w, "| %s | %s | %s | %s |\n", c.Name, num(g("10k-100k", "1k-100k"), "%.2fx"),
			num(g("10k-1M", "10k-100k"), "%.2fx"), num(p("10k-1M", "10k-100k"), "%.2fx"))
	}

	if len(mems) > 0 {
		fmt.Fprintf(&w, "\n### Memory, 10k subnets / 100k IP objects / 110k pods with address annotations\n\n| what is cached | objects | sync | heap (live, after GC) | heap in use | RSS | peak RSS |\n|---|---|---:|---:|---:|---:|---:|\n")
		for _, r := range mems {
			what := "informers with cmd/webhook's transforms + Store"
			sync := r.SyncTime.Round(time.Millisecond).String()
			if !r.Informers {
				what, sync = "Store only", "–"
			}
			fmt.Fprintf(&w, "| %s | %v | %s | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB |\n", what, objects(r.Objects), sync,
				mibf(r.HeapAlloc), mibf(r.HeapInuse), mibf(r.RSS), mibf(r.PeakRSS))
		}
	}
	if len(loadsRep) > 0 {
		fmt.Fprintf(&w, "\n### HTTPS load test (size 10k-100k, loopback, TLS 1.3, HTTP/1.1 keep-alive)\n\n| connections | duration | requests | throughput | p50 | p90 | p99 | p99.9 | max | errors | unexpected outcomes |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, l := range loadsRep {
			fmt.Fprintf(&w, "| %d | %s | %d | %.0f/s | %s | %s | %s | %s | %s | %d | %d |\n", l.Conns, l.Duration.Round(100*time.Millisecond),
				l.Requests, l.Throughput, us(float64(l.P50)), us(float64(l.P90)), us(float64(l.P99)), us(float64(l.P999)), us(float64(l.Max)), l.Errors, l.Unexpected)
		}
	}
	writeDoctor(&w, filepath.Join(o.out, "doctor.txt"))
	writeReservationCost(&w, filepath.Join(o.out, "reservations.json"))
	if b, err := os.ReadFile(filepath.Join(o.out, "benchstat.txt")); err == nil {
		fmt.Fprintf(&w, "\n### benchstat -col /impl (ipamguard vs baseline)\n\n```\n%s```\n", b)
	}
	if err := os.WriteFile(filepath.Join(o.out, "summary.md"), []byte(w.String()), 0o644); err != nil {
		return err
	}
	fmt.Println(w.String())
	return plot(o, pct)
}

func objects(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	return strings.Join(parts, ", ")
}

func mibf(b uint64) float64 { return float64(b) / (1 << 20) }

var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {23, 190, 207, 255},
}

func plot(o opts, pct map[benchKey]bench.Stats) error {
	p := &Plot{
		Title:  "ipamguard admission latency vs inventory size (2 cores)",
		YLabel: "solid: ipamguard p99; dashed: baseline (list, deep copy, scan) p50; log scale",
		XLabel: o.sizes, YMin: 1e-5, YMax: 10,
	}
	for i, c := range fixture.Cases() {
		for _, impl := range []string{bench.ImplIpamguard, bench.ImplBaseline} {
			s := Series{Label: c.Name, Color: palette[i%len(palette)], Dashed: impl == bench.ImplBaseline}
			if s.Dashed {
				s.Label = ""
			}
			for _, sz := range o.sizes {
				st, ok := pct[benchKey{sz, c.Name, impl}]
				v := float64(st.P99) / 1e9
				if impl == bench.ImplBaseline {
					v = float64(st.P50) / 1e9
				}
				if !ok || v <= 0 {
					v = math.NaN()
				}
				s.Y = append(s.Y, v)
			}
			if s.Label == "" {
				// Dashed lines share the legend entry of their case.
				p.Series = append(p.Series, s)
				continue
			}
			p.Series = append(p.Series, s)
		}
	}
	// Legend: only the solid entries are labelled.
	var legend []Series
	var lines []Series
	for _, s := range p.Series {
		if s.Label != "" {
			legend = append(legend, s)
		}
		lines = append(lines, s)
	}
	p.Series = lines
	p.legend = legend
	return p.WritePNG(filepath.Join(o.out, "latency-vs-inventory.png"))
}

// hostileLine is one BenchmarkHostile result (SetBytes adds MB/s).
var hostileLine = regexp.MustCompile(`^BenchmarkHostile/shape=([^/\s]+/n=\d+)(-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+[\d.]+ MB/s)?\s+([\d.]+) B/op\s+([\d.]+) allocs/op`)

// Targets of issue 12 for one admission of a hostile shape.
const (
	hostileMaxNs    = 50e6
	hostileMaxBytes = 16 << 20
)

// writeHostile writes the hostile shapes' table: medians of ns/op, B/op
// and allocs/op, and whether each is within the target.
func writeHostile(w *strings.Builder, path string, count int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	vals := map[string]*benchVals{}
	var order []string
	var storeNs, readWait []float64
	for line := range strings.SplitSeq(string(b), "\n") {
		if m := inventoryLine.FindStringSubmatch(line); m != nil {
			ns, _ := strconv.ParseFloat(m[2], 64)
			wait, _ := strconv.ParseFloat(m[3], 64)
			storeNs, readWait = append(storeNs, ns), append(readWait, wait)
			continue
		}
		m := hostileLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v := vals[m[1]]
		if v == nil {
			v = &benchVals{}
			vals[m[1]] = v
			order = append(order, m[1])
		}
		ns, _ := strconv.ParseFloat(m[3], 64)
		by, _ := strconv.ParseFloat(m[4], 64)
		al, _ := strconv.ParseFloat(m[5], 64)
		v.ns, v.bytes, v.allocs = append(v.ns, ns), append(v.bytes, by), append(v.allocs, al)
	}
	if len(order) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### Hostile inputs (issue 12), one admission through the handlers\n\n")
	fmt.Fprintf(w, "Median of %d runs of `BenchmarkHostile` (test/bench/hostile: the shapes, their verdicts; n is the issue's size, then the largest the API server accepts). Target: <= 50 ms and <= 16 MiB allocated per admission.\n\n", min(count, 3))
	fmt.Fprintf(w, "| shape | n | time/op | allocated/op | allocs/op | within target |\n|---|---:|---:|---:|---:|---|\n")
	for _, key := range order {
		v := vals[key]
		name, n, _ := strings.Cut(key, "/n=")
		ns, by, al := median(v.ns), median(v.bytes), median(v.allocs)
		ok := "yes"
		if ns > hostileMaxNs || by > hostileMaxBytes {
			ok = "**no**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.1f MiB | %.0f | %s |\n", name, n, us(ns), by/(1<<20), al, ok)
	}
	if len(storeNs) > 0 {
		fmt.Fprintf(w, "\nInformer side (`BenchmarkHostileInventory`): storing a Subnet of 20,000 namespaceSelectors beside 1,000 namespaces takes %s, "+
			"evaluated outside the inventory's write lock; the longest an admission's read waited meanwhile: %s.\n", us(median(storeNs)), us(median(readWait)))
	}
}

// inventoryLine is the BenchmarkHostileInventory result.
var inventoryLine = regexp.MustCompile(`^BenchmarkHostileInventory(-\d+)?\s+\d+\s+([\d.]+) ns/op\s+([\d.]+) max-read-wait-ns`)
