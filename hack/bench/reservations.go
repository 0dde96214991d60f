package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/ipamguard/ipamguard/test/bench"
)

// Issue 15's targets for the API-backed reservations.
const (
	reservationMaxAddedP99 = 5 * time.Millisecond
	reservationMinRatio    = 0.70
)

// runReservationCost runs test/soak's TestReservationCost with rounds
// rounds, its figures into path (bench.ReservationCost as JSON) and its
// log into path with .log for .json.
func runReservationCost(path string, rounds int) error {
	_ = os.Remove(path)
	logPath := strings.TrimSuffix(path, ".json") + ".log"
	_ = os.Remove(logPath)
	cmd := exec.Command("go", "test", "-count=1", "-timeout", "60m", "-v", "-run", "^TestReservationCost$", "./test/soak/")
	cmd.Env = append(os.Environ(), "IPAMGUARD_SOAK=1", "IPAMGUARD_REQUIRE_ENVTEST=1",
		"IPAMGUARD_SOAK_COST_ROUNDS="+strconv.Itoa(rounds), "IPAMGUARD_SOAK_COST_OUT="+path)
	if err := appendOutput(cmd, logPath); err != nil {
		return fmt.Errorf("TestReservationCost (log in %s): %w", logPath, err)
	}
	return nil
}

// writeReservationCost adds the reservations' cost to the summary.
func writeReservationCost(w *strings.Builder, path string) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		fmt.Fprintf(w, "\n### Reservations (issue 15)\n\n%v\n", err)
		return
	}
	var r bench.ReservationCost
	if err := json.Unmarshal(b, &r); err != nil || r.Rounds == 0 {
		if err == nil {
			err = errors.New("no rounds recorded")
		}
		fmt.Fprintf(w, "\n### Reservations (issue 15)\n\n%s: %v\n", path, err)
		return
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	fmt.Fprintf(w, "\n### Reservations in the API server (issue 15), `TestReservationCost`\n\n")
	fmt.Fprintf(w, "One webhook process, running as the install's ServiceAccount with its RBAC (`--reservations=api` against `--reservations=off`, %d rounds, each mode going first in every other round) in front of envtest's API server and etcd, all on this machine's cores with the client. One at a time: %d pods with a fixed address, each followed by one without. Concurrently: %d fixed-address pods by %d workers. Each mode's Leases are deleted before the next mode runs, and what a delete costs is measured separately.\n\n",
		r.Rounds, r.OneAtATime, r.Concurrent, r.Workers)
	fmt.Fprintf(w, "| figure | value | target | within target |\n|---|---:|---:|---|\n")
	fmt.Fprintf(w, "| added latency of a fixed-address pod creation, p50 | %s | | |\n", ms(r.AddedP50))
	fmt.Fprintf(w, "| added latency of a fixed-address pod creation, p99 | %s | <= %s | %s |\n", ms(r.AddedP99), ms(reservationMaxAddedP99), yes(r.AddedP99 <= reservationMaxAddedP99))
	fmt.Fprintf(w, "| pod without a fixed address, p50 / p99, without and with reservations | %s / %s, %s / %s | unchanged | |\n",
		ms(r.PlainP50["off"]), ms(r.PlainP99["off"]), ms(r.PlainP50["api"]), ms(r.PlainP99["api"]))
	var per []string
	for _, x := range r.RatioPerRound {
		per = append(per, fmt.Sprintf("%.0f %%", 100*x))
	}
	fmt.Fprintf(w, "| rate with reservations against without, median of rounds (%s) | %.0f %% (%.0f/s against %.0f/s over all rounds) | >= %.0f %% | %s |\n",
		strings.Join(per, ", "), 100*r.RatioMedian, r.Rate["api"], r.Rate["off"], 100*reservationMinRatio, yes(r.RatioMedian >= reservationMinRatio))
	fmt.Fprintf(w, "| admissions whose reservation took <= 5 ms (the webhook's histogram) | %.1f %% | | |\n", 100*r.Within5ms)
	fmt.Fprintf(w, "\nCPU per concurrent creation (ms), by process:\n\n| mode | client | webhook | kube-apiserver | etcd | all |\n|---|---:|---:|---:|---:|---:|\n")
	for _, mode := range []string{"off", "api"} {
		c := r.CPUPerCreation[mode]
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n", mode, c["client"], c["webhook"], c["kube-apiserver"], c["etcd"], c["all"])
	}
	if r.DeleteCPU > 0 {
		fmt.Fprintf(w, "\nA reservation's delete by the leader's sweep, after its TTL, costs %.2f ms of CPU (API server, etcd, client), and its place in the sweep's lists over its TTL %.2f ms. With both, a fixed-address pod without reservations costs %.0f %% of the CPU it costs with them in a steady state (every reservation created and swept).\n",
			r.DeleteCPU, r.ListCPU, 100*r.SteadyRatio)
	}
}
