package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Node is one certctl process slot: a command line, a data directory and a log
// file that survive restarts of the process. Its methods are safe for
// concurrent use; Start, Stop, Kill and Restart are meant for the test
// goroutine.
type Node struct {
	ID       string
	APIAddr  string // host:port of the HTTP API
	RaftAddr string // host:port of Raft; empty for a --dev node
	DataDir  string
	LogPath  string // stdout and stderr of every run, appended
	// Scheme of the API: https, or http for a --dev node.
	Scheme string

	bin  string
	args []string
	env  []string

	mu      sync.Mutex
	proc    *process
	runs    int
	stopped bool // the test stopped or killed the current run on purpose
}

// process is one run of a Node. done is closed when Wait returned.
type process struct {
	cmd   *exec.Cmd
	log   *os.File
	done  chan struct{}
	err   error // from cmd.Wait, valid once done is closed
	start time.Time
}

// URL returns the base URL of the node's API.
func (n *Node) URL() string {
	if n.Scheme == "" {
		return "https://" + n.APIAddr
	}
	return n.Scheme + "://" + n.APIAddr
}

// Args returns the node's command line, without the binary.
func (n *Node) Args() []string { return append([]string(nil), n.args...) }

// Start runs the node's command line. It returns once the process is started;
// it does not wait for the node to serve.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil && !n.proc.exited() {
		return fmt.Errorf("e2e: node %s already running (pid %d)", n.ID, n.proc.cmd.Process.Pid)
	}
	lf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("e2e: open log: %w", err)
	}
	n.runs++
	fmt.Fprintf(lf, "=== e2e: run %d of %s at %s: %s %s\n", n.runs, n.ID,
		time.Now().Format(time.RFC3339Nano), n.bin, strings.Join(n.args, " "))
	cmd := exec.Command(n.bin, n.args...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.Env = n.env
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("e2e: start %s: %w", n.ID, err)
	}
	p := &process{cmd: cmd, log: lf, done: make(chan struct{}), start: time.Now()}
	go func() { // owned by p: ends when the process exits, waited for through done
		p.err = cmd.Wait()
		fmt.Fprintf(lf, "=== e2e: %s exited: %v\n", n.ID, exitText(p.err))
		lf.Close()
		close(p.done)
	}()
	n.proc = p
	n.stopped = false
	return nil
}

// Running reports whether the current run's process has not exited.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && !n.proc.exited()
}

// Pid returns the pid of the current run, or 0.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return 0
	}
	return n.proc.cmd.Process.Pid
}

// unexpectedExit returns an error when the current run exited although the
// test did not stop it.
func (n *Node) unexpectedExit() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil || n.stopped || !n.proc.exited() {
		return nil
	}
	return fmt.Errorf("e2e: node %s exited unexpectedly: %s", n.ID, exitText(n.proc.err))
}

// Kill sends SIGKILL and waits for the process to be gone.
func (n *Node) Kill() error {
	return n.signalAndWait(syscall.SIGKILL, 10*time.Second)
}

// Stop sends SIGTERM and waits up to timeout for a clean exit. A process still
// alive then is killed, and Stop reports it. A non-zero exit status is an error.
func (n *Node) Stop(timeout time.Duration) error {
	err := n.signalAndWait(syscall.SIGTERM, timeout)
	if err != nil {
		if kerr := n.Kill(); kerr != nil {
			return errors.Join(err, kerr)
		}
		return err
	}
	if code := n.ExitCode(); code != 0 {
		return fmt.Errorf("e2e: node %s exited with status %d after SIGTERM", n.ID, code)
	}
	return nil
}

func (n *Node) signalAndWait(sig syscall.Signal, timeout time.Duration) error {
	n.mu.Lock()
	p := n.proc
	n.stopped = true
	n.mu.Unlock()
	if p == nil || p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("e2e: signal %s: %w", n.ID, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("e2e: node %s still running %s after %v", n.ID, timeout, sig)
	}
}

// WaitExit waits up to timeout for the current run to exit on its own and
// returns its exit code (-1 when killed by a signal).
func (n *Node) WaitExit(timeout time.Duration) (int, error) {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil {
		return 0, fmt.Errorf("e2e: node %s never started", n.ID)
	}
	select {
	case <-p.done:
		n.mu.Lock()
		n.stopped = true
		n.mu.Unlock()
		return p.cmd.ProcessState.ExitCode(), nil
	case <-time.After(timeout):
		return 0, fmt.Errorf("e2e: node %s still running after %s", n.ID, timeout)
	}
}

// ExitCode returns the exit code of the last run, or 0 while it runs.
func (n *Node) ExitCode() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil || !n.proc.exited() {
		return 0
	}
	return n.proc.cmd.ProcessState.ExitCode()
}

// Log returns everything the node's runs wrote so far.
func (n *Node) Log() string {
	b, err := os.ReadFile(n.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// LogTail returns the last lines of the node's log, leaving out the request
// lines of the harness's own polling.
func (n *Node) LogTail(lines int) string {
	b, err := os.ReadFile(n.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	var all []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if !isPollLine(sc.Text()) {
			all = append(all, sc.Text())
		}
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// isPollLine reports whether a log line records one of the harness's polls
// (GET /ready, GET /api/v1/cluster), which would crowd out everything else.
func isPollLine(line string) bool {
	if !strings.Contains(line, "request") {
		return false
	}
	return strings.Contains(line, "path=/ready ") || strings.Contains(line, "path=/api/v1/cluster ") ||
		strings.Contains(line, `"path":"/ready"`) || strings.Contains(line, `"path":"/api/v1/cluster"`)
}
