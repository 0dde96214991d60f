package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
)

// logTailLines is how much of the webhook log an error report quotes.
const logTailLines = 30

// childProcess is the webhook running in its own process group, so that a
// terminal's Ctrl-C reaches only ipamguard-dev, which then stops the webhook
// before the API server it talks to.
type childProcess struct {
	cmd     *exec.Cmd
	log     logr.Logger
	logFile *os.File
	stderr  *prefixWriter
	done    chan struct{} // closed when the process has been waited for
	waitErr error         // valid after done is closed
	stopped bool          // set by stop before signalling
	mu      sync.Mutex
}

// startChild starts binary with args, writing its output to logPath and,
// prefixed with "webhook | ", to our stderr.
func startChild(log logr.Logger, binary, logPath string, args []string, kubeconfig string) (*childProcess, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create webhook log: %w", err)
	}
	c := &childProcess{
		log:     log,
		logFile: f,
		stderr:  &prefixWriter{w: os.Stderr, prefix: "webhook | "},
		done:    make(chan struct{}),
	}
	out := io.MultiWriter(f, c.stderr)
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Do not hang in Wait if something the webhook spawned keeps its output open.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start webhook %s: %w", binary, err)
	}
	c.cmd = cmd
	log.Info("webhook started", "pid", cmd.Process.Pid, "binary", binary, "args", strings.Join(args, " "), "log", logPath)
	go func() {
		c.waitErr = cmd.Wait()
		c.stderr.Flush()
		f.Close()
		close(c.done)
	}()
	return c, nil
}

// exitErr describes how the process ended; call it after done is closed.
func (c *childProcess) exitErr() error {
	if c.waitErr == nil {
		return errors.New("exit status 0")
	}
	return c.waitErr
}

// stop sends SIGTERM to the child's process group, waits up to timeout, then
// sends SIGKILL. It returns an error if the child had to be killed or did not
// exit cleanly on SIGTERM.
func (c *childProcess) stop(timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	pgid := c.cmd.Process.Pid // Setpgid: the group id is the child's pid

	select {
	case <-c.done:
		// Already gone (e.g. it crashed): still sweep its group.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return nil
	default:
	}

	c.log.Info("stopping webhook", "pid", pgid)
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal webhook: %w", err)
	}
	select {
	case <-c.done:
		// Reap anything the webhook itself may have started.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		if cleanExit(c.waitErr) {
			return nil
		}
		return fmt.Errorf("webhook exited with %w after SIGTERM", c.waitErr)
	case <-time.After(timeout):
	}
	c.log.Info("webhook did not stop in time; killing it", "pid", pgid, "timeout", timeout.String())
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill webhook: %w", err)
	}
	<-c.done
	return fmt.Errorf("webhook did not stop within %s of SIGTERM and was killed", timeout)
}

// cleanExit accepts exit status 0 and death by the SIGTERM we sent.
func cleanExit(err error) bool {
	if err == nil {
		return true
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM
}

// tailSection formats the last lines of the file at path for an error report.
func tailSection(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	text := strings.TrimRight(string(data), "\n")
	if text == "" {
		return fmt.Sprintf("(%s is empty)", path)
	}
	lines := strings.Split(text, "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return fmt.Sprintf("--- last %d lines of %s ---\n%s", len(lines), path, strings.Join(lines, "\n"))
}

// prefixWriter writes each complete line to w with prefix, keeping partial
// lines until they are completed or flushed.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

// Write implements io.Writer. It never fails: losing the echo on our stderr
// must not stop the copy into the log file.
func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		_, _ = fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// Flush writes a pending partial line.
func (p *prefixWriter) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		_, _ = fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf)
		p.buf = nil
	}
}
