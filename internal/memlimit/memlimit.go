// Package memlimit sets the Go runtime's soft memory limit from the
// container's cgroup memory limit.
//
// The webhook's live heap grows with the cluster (about 180 MiB at 10k
// subnets, 100k IP objects and 110k pods), and the initial informer list
// briefly holds the untransformed objects too. With the default GOGC the
// heap may grow to twice the live heap before a collection; in a container
// with a memory limit that is an OOM kill waiting to happen. A soft limit
// a little under the container's makes the collector work harder instead.
// An explicit GOMEMLIMIT always wins.
package memlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// CgroupFile is where cgroup v2 exposes the container's memory limit.
const CgroupFile = "/sys/fs/cgroup/memory.max"

// Result says what Set did.
type Result struct {
	// Limit is the soft limit set, in bytes; 0 when none was set.
	Limit int64
	// Cgroup is the cgroup limit read, in bytes; 0 when there is none.
	Cgroup int64
	// Reason explains a limit not set ("GOMEMLIMIT is set", "no cgroup
	// memory limit", "disabled").
	Reason string
}

// Set sets the runtime's soft memory limit to ratio times the cgroup
// memory limit read from file, unless the GOMEMLIMIT environment variable
// is set or ratio is 0. A missing file or "max" is no limit, not an error;
// a ratio outside [0, 1] or an unreadable value is.
func Set(file string, ratio float64) (Result, error) {
	switch {
	case ratio < 0 || ratio > 1 || math.IsNaN(ratio):
		return Result{}, fmt.Errorf("memory limit ratio %v: must be between 0 and 1", ratio)
	case ratio == 0:
		return Result{Reason: "disabled"}, nil
	case os.Getenv("GOMEMLIMIT") != "":
		return Result{Reason: "GOMEMLIMIT is set"}, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return Result{Reason: "no cgroup memory limit"}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("read cgroup memory limit: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return Result{Reason: "no cgroup memory limit"}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return Result{}, fmt.Errorf("cgroup memory limit %q in %s: not a positive number of bytes", s, file)
	}
	limit := int64(float64(n) * ratio)
	debug.SetMemoryLimit(limit)
	return Result{Limit: limit, Cgroup: n}, nil
}
