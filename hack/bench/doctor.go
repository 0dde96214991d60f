package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// doctorSizes are the sizes of BenchmarkDoctorSnapshot that make bench
// runs, each in a process of its own so that the larger one's first run
// starts, as `kubectl ipam doctor --snapshot` does, with no heap.
var doctorSizes = []string{"10k-100k-100k", "10k-1M-1M"}

// Issue 14's target for a full offline diagnosis at 10k/1M/1M.
const (
	doctorMaxSeconds = 5
	doctorMaxRSS     = 2 << 30
)

// runDoctor runs BenchmarkDoctorSnapshot (pkg/diagnose), count times a
// size, one run an iteration, into path.
func runDoctor(path string, count int) error {
	_ = os.Remove(path)
	for _, s := range doctorSizes {
		fmt.Fprintln(os.Stderr, "  size", s)
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", "BenchmarkDoctorSnapshot/size="+regexp.QuoteMeta(s)+"$",
			"-benchtime", "1x", "-count", strconv.Itoa(count), "-timeout", "1h", "./pkg/diagnose/")
		// The 1M size runs only when asked for (its fixture takes a
		// minute and 1.7 GB of the temporary directory to write).
		cmd.Env = append(os.Environ(), "IPAMGUARD_BENCH_1M=1")
		if err := appendOutput(cmd, path); err != nil {
			return err
		}
	}
	return nil
}

// doctorLine is one run of BenchmarkDoctorSnapshot.
var doctorLine = regexp.MustCompile(`^BenchmarkDoctorSnapshot/size=([^\s-]+-[^\s-]+-[^\s-]+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op\s+([\d.]+) cpu-s/op\s+([\d.]+) peak-heap-B\s+([\d.]+) peak-rss-B`)

// writeDoctor adds the doctor's table to the summary.
func writeDoctor(w *strings.Builder, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	type runs struct{ ns, cpu, heap, rss []float64 }
	vals := map[string]*runs{}
	for line := range strings.SplitSeq(string(b), "\n") {
		m := doctorLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		r := vals[m[1]]
		if r == nil {
			r = &runs{}
			vals[m[1]] = r
		}
		f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
		r.ns, r.cpu, r.heap, r.rss = append(r.ns, f(m[3])), append(r.cpu, f(m[4])), append(r.heap, f(m[5])), append(r.rss, f(m[6]))
	}
	if len(vals) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### Doctor from a snapshot (issue 14), `BenchmarkDoctorSnapshot`\n\n")
	fmt.Fprintf(w, "Read and decode the snapshot file, judge unallocated pods, run every check, render the text report. Each size in its own process; its first run starts with no heap, as `kubectl ipam doctor --snapshot` does. Target at 10k/1M/1M: <= %d s and <= %d GiB.\n\n", doctorMaxSeconds, doctorMaxRSS>>30)
	fmt.Fprintf(w, "| size (subnets/IPs/pods) | runs | wall, median | wall, first run | wall, range | CPU, median | peak heap | peak RSS | within target |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, s := range doctorSizes {
		r := vals[s]
		if r == nil {
			continue
		}
		lo, hi := slices.Min(r.ns), slices.Max(r.ns)
		ok := "–"
		if s == "10k-1M-1M" {
			ok = "yes"
			if median(r.ns) > doctorMaxSeconds*1e9 || slices.Max(r.rss) > doctorMaxRSS {
				ok = "**no**"
			}
		}
		fmt.Fprintf(w, "| %s | %d | %.2f s | %.2f s | %.2f–%.2f s | %.2f s | %.0f MiB | %.0f MiB | %s |\n", s, len(r.ns),
			median(r.ns)/1e9, r.ns[0]/1e9, lo/1e9, hi/1e9, median(r.cpu), slices.Max(r.heap)/(1<<20), slices.Max(r.rss)/(1<<20), ok)
	}
}
