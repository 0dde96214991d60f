package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// procInfo identifies a process across PID reuse.
type procInfo struct {
	pid       int
	ppid      int
	state     byte
	startTime uint64
	cmdline   string
}

func (p procInfo) String() string {
	return fmt.Sprintf("pid %d (%s)", p.pid, p.cmdline)
}

// listProcs reads every process visible in /proc.
func listProcs() ([]procInfo, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("read /proc: %w", err)
	}
	var out []procInfo
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// readProc reads one process; ok is false when it is gone.
func readProc(pid int) (procInfo, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, false
	}
	// comm may hold spaces and parentheses: the fields start after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return procInfo{}, false
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
	if len(f) < 20 {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return procInfo{
		pid:       pid,
		ppid:      ppid,
		state:     f[0][0],
		startTime: start,
		cmdline:   strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))),
	}, true
}

// descendants returns the live processes below root.
func descendants(root int) ([]procInfo, error) {
	all, err := listProcs()
	if err != nil {
		return nil, err
	}
	children := map[int][]procInfo{}
	for _, p := range all {
		children[p.ppid] = append(children[p.ppid], p)
	}
	var out []procInfo
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out, nil
}

// survivors returns the processes of procs that still run (same PID and
// start time, not a zombie) and any live process whose command line mentions
// one of marks.
func survivors(procs []procInfo, marks ...string) ([]procInfo, error) {
	var out []procInfo
	seen := map[int]bool{}
	for _, p := range procs {
		if now, ok := readProc(p.pid); ok && now.startTime == p.startTime && now.state != 'Z' {
			out = append(out, now)
			seen[p.pid] = true
		}
	}
	all, err := listProcs()
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	for _, p := range all {
		if seen[p.pid] || p.pid == self || p.state == 'Z' {
			continue
		}
		for _, m := range marks {
			if m != "" && strings.Contains(p.cmdline, m) {
				out = append(out, p)
				break
			}
		}
	}
	return out, nil
}

// TestLeakCheck makes sure the leak check sees a leaked process, so a
// passing TestKubectl means something.
func TestLeakCheck(t *testing.T) {
	t.Parallel()
	mark := t.TempDir()
	cmd := exec.Command("/bin/sh", "-c", "exec sleep 30", mark)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	kids, err := descendants(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var sleeper []procInfo
	for _, p := range kids {
		if p.pid == cmd.Process.Pid {
			sleeper = append(sleeper, p)
		}
	}
	if len(sleeper) != 1 {
		t.Fatalf("descendants of the test do not include pid %d: %v", cmd.Process.Pid, kids)
	}
	if left, err := survivors(sleeper); err != nil || len(left) != 1 {
		t.Fatalf("survivors(running sleep) = %v, %v; want it", left, err)
	}

	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if left, err := survivors(sleeper, mark); err != nil || len(left) != 0 {
		t.Fatalf("survivors(killed sleep) = %v, %v; want none", left, err)
	}
}
