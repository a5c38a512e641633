package node

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// waitUntil runs fn in a goroutine of its own and reports whether it
// returned by deadline. When it did not, fn goes on running: Close uses this
// only for steps after which the process exits.
func waitUntil(deadline time.Time, fn func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// stopRelay stops the goroutine relaying incoming RPCs to raft and waits for
// it, with n.mu held.
func (n *Node) stopRelay() {
	if n.relayStop == nil {
		return
	}
	close(n.relayStop)
	<-n.relayDone
	n.relayStop, n.relayDone = nil, nil
}

// raftGoroutines summarises where hashicorp/raft's goroutines in this process
// are blocked: for each, the innermost raft function on its stack, counted,
// such as "(*netPipeline).AppendEntries×1, (*Raft).heartbeat×2". It is what
// a node that cannot stop logs instead of a full goroutine dump.
func raftGoroutines() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	const pkg = "github.com/hashicorp/raft."
	counts := map[string]int{}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		for _, line := range strings.Split(string(g), "\n") {
			if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "created by ") {
				continue
			}
			if i := strings.Index(line, pkg); i >= 0 {
				fn := line[i+len(pkg):]
				if p := strings.LastIndexByte(fn, '('); p > 0 && strings.HasSuffix(fn, ")") {
					fn = fn[:p] // drop the arguments
				}
				counts[fn]++
				break
			}
		}
	}
	if len(counts) == 0 {
		return "none"
	}
	var out []string
	for fn, c := range counts {
		out = append(out, fmt.Sprintf("%s×%d", fn, c))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}
