package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/certctl/certctl/fsm"
)

// leaderHook is a function registered with RunOnLeader.
type leaderHook struct {
	name string
	fn   func(ctx context.Context)
}

// RunOnLeader registers fn to run, in its own goroutine, each time this node
// becomes the leader. fn starts once this node's state machine has applied
// every entry committed before its term (a raft barrier), and its ctx is
// cancelled the moment leadership is lost or the node closes; fn must return
// promptly then. Close waits for fn to return. fn may return early; it runs
// again only at the next leadership gain. Register before Open: a function
// registered later first runs at the next leadership gain.
func (n *Node) RunOnLeader(name string, fn func(ctx context.Context)) {
	n.hooksMu.Lock()
	defer n.hooksMu.Unlock()
	n.hooks = append(n.hooks, leaderHook{name: name, fn: fn})
}

// TransferLeadership hands leadership to the most up-to-date follower and
// waits until this node sees another leader. It is what Close does first;
// use it alone before maintenance. On a follower it returns ErrNotLeader.
func (n *Node) TransferLeadership(ctx context.Context) error {
	r, err := n.raftOrErr()
	if err != nil {
		return err
	}
	if r.State() != raft.Leader {
		return ErrNotLeader
	}
	changed := n.leaderChange()
	if err := waitFuture(ctx, r.LeadershipTransfer()); err != nil {
		return n.raftError(ctx, fmt.Errorf("leadership transfer: %w", err))
	}
	for {
		if _, id := r.LeaderWithID(); id != "" && string(id) != n.cfg.NodeID {
			return nil
		}
		select {
		case <-changed:
			changed = n.leaderChange()
		case <-ctx.Done():
			return fmt.Errorf("node: no new leader seen after the transfer: %w", ctx.Err())
		}
	}
}

// leaderChange returns a channel closed at the next change of leader seen by
// this node (including "no leader").
func (n *Node) leaderChange() <-chan struct{} {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	return n.leaderChanged
}

// noteLeaderChange wakes everything waiting on leaderChange and forgets the
// cached leader address.
func (n *Node) noteLeaderChange() {
	n.leaderMu.Lock()
	close(n.leaderChanged)
	n.leaderChanged = make(chan struct{})
	n.leaderCache = leaderAddr{}
	n.leaderMu.Unlock()
}

// startWatchers starts the goroutines that follow raft: the stall check,
// leader observations, the RunOnLeader functions of each term as leader, and
// the recording of the cluster id.
// They stop when n.life is cancelled.
func (n *Node) startWatchers(r *raft.Raft) {
	obsCh := make(chan raft.Observation, 16)
	n.obs = raft.NewObserver(obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(n.obs)

	n.wg.Add(4)
	go func() {
		defer n.wg.Done()
		tick := time.NewTicker(max(n.cfg.StallTimeout/5, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				n.watch.check(r)
			case <-n.life.Done():
				return
			}
		}
	}()
	go func() {
		defer n.wg.Done()
		for {
			select {
			case o := <-obsCh:
				n.noteLeaderChange()
				// LeaderCh keeps only the latest transition, so a quick
				// loss and regain can reach the leadership loop as a
				// single "true". Observations are a second witness: end
				// the term's functions as soon as raft no longer leads.
				if lo, ok := o.Data.(raft.LeaderObservation); ok && string(lo.LeaderID) != n.cfg.NodeID && r.State() != raft.Leader {
					n.cancelTerm()
				}
			case <-n.life.Done():
				return
			}
		}
	}()
	go func() {
		defer n.wg.Done()
		n.leadershipLoop(r)
	}()
	go func() {
		defer n.wg.Done()
		n.recordClusterIDWhenKnown()
	}()
}

// leadershipLoop owns raft's LeaderCh (a single-consumer channel that keeps
// only the latest transition): each gain starts a leaderTerm running the
// RunOnLeader functions; each loss, and Close, cancels it and waits for them.
func (n *Node) leadershipLoop(r *raft.Raft) {
	var cur *leaderTerm
	stop := func() {
		if cur != nil {
			cur.cancel()
			<-cur.done
			cur = nil
			n.setTerm(nil)
		}
	}
	defer stop()
	for {
		select {
		case leader := <-r.LeaderCh():
			// A true after a true means leadership was lost and regained
			// in between: start afresh either way.
			stop()
			if leader {
				n.log.Info("became leader", "term", r.CurrentTerm())
				cur = n.startTerm(r)
				n.setTerm(cur)
			} else {
				n.log.Info("lost leadership")
			}
		case <-n.life.Done():
			return
		}
	}
}

// leaderTerm is one stretch of leadership: the RunOnLeader functions started
// at its gain, and the means to stop them and wait for them.
type leaderTerm struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	running map[string]int // what runs now, by name: the barrier, then each function
}

// enter and leave count what runs under name, for Close to tell what it
// waits for.
func (s *leaderTerm) enter(name string) {
	s.mu.Lock()
	s.running[name]++
	s.mu.Unlock()
}

func (s *leaderTerm) leave(name string) {
	s.mu.Lock()
	if s.running[name]--; s.running[name] <= 0 {
		delete(s.running, name)
	}
	s.mu.Unlock()
}

// runningLeaderFuncs names what the current leader term still runs: the
// start-of-term barrier or the RunOnLeader functions that have not returned.
func (n *Node) runningLeaderFuncs() []string {
	n.termMu.Lock()
	s := n.term
	n.termMu.Unlock()
	if s == nil {
		return []string{"node's own goroutines (no leader term)"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.running))
	for name := range s.running {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func (n *Node) setTerm(s *leaderTerm) {
	n.termMu.Lock()
	n.term = s
	n.termMu.Unlock()
}

// cancelTerm cancels the running term's ctx without waiting for its
// functions; the leadership loop waits for them before starting another.
func (n *Node) cancelTerm() {
	n.termMu.Lock()
	if n.term != nil {
		n.term.cancel()
	}
	n.termMu.Unlock()
}

func (n *Node) startTerm(r *raft.Raft) *leaderTerm {
	ctx, cancel := context.WithCancel(n.life)
	s := &leaderTerm{cancel: cancel, done: make(chan struct{}), running: map[string]int{}}
	n.hooksMu.Lock()
	hooks := append([]leaderHook(nil), n.hooks...)
	n.hooksMu.Unlock()
	const barrier = "barrier at the start of leadership"
	s.enter(barrier)
	go func() {
		defer close(s.done)
		err := n.barrierRetry(ctx, r)
		s.leave(barrier)
		if err != nil {
			return
		}
		var wg sync.WaitGroup
		for _, h := range hooks {
			wg.Add(1)
			s.enter(h.name)
			go func() {
				defer wg.Done()
				defer s.leave(h.name)
				n.log.Debug("leader function starting", "name", h.name)
				h.fn(ctx)
			}()
		}
		wg.Wait()
	}()
	return s
}

// barrierRetry waits until the fsm has applied everything committed before
// this term, retrying while this term lasts.
func (n *Node) barrierRetry(ctx context.Context, r *raft.Raft) error {
	for {
		err := waitFuture(ctx, r.Barrier(n.cfg.ApplyTimeout))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || r.State() != raft.Leader {
			return err
		}
		n.log.Warn("barrier at the start of leadership failed; retrying", "err", err)
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// tendMembership is the leader's own duty: name the cluster if it has no id
// yet, and record this node's addresses if they are missing or changed.
// Both proposals are idempotent; it retries until they land or leadership
// ends.
func (n *Node) tendMembership(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for {
		err := n.tendMembershipOnce(ctx)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("recording cluster membership failed; retrying", "err", err, "in", backoff)
		if !sleepCtx(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (n *Node) tendMembershipOnce(ctx context.Context) error {
	id, err := n.fsm.ClusterID()
	if err != nil {
		return err
	}
	if id == "" {
		// The bootstrapping node chose the id when it made the cluster CA.
		n.identMu.Lock()
		id = n.ident.ClusterID
		n.identMu.Unlock()
		if id == "" {
			id = randomHex(8)
		}
		if _, err := n.proposeSystem(ctx, &fsm.InitCluster{ClusterID: id}); err != nil {
			return fmt.Errorf("node: initialise cluster: %w", err)
		}
		n.log.Info("initialised cluster", "cluster_id", id)
	}
	if err := n.replicateClusterCA(ctx); err != nil {
		return err
	}
	self := fsm.Member{NodeID: n.cfg.NodeID, RaftAddr: n.RaftAddr(), APIAddr: n.cfg.APIAddr}
	m, err := n.fsm.Member(self.NodeID)
	switch {
	case err == nil && m.RaftAddr == self.RaftAddr && m.APIAddr == self.APIAddr:
		return nil
	case err != nil && !errors.Is(err, fsm.ErrNotFound):
		return err
	}
	if _, err := n.proposeSystem(ctx, &fsm.RegisterMember{Member: self}); err != nil {
		return fmt.Errorf("node: register this node: %w", err)
	}
	return nil
}

// proposeSystem proposes a command node issues on its own behalf, with a
// fresh request id so a retry after a lost leadership is a no-op.
func (n *Node) proposeSystem(ctx context.Context, p fsm.Payload) (uint64, error) {
	return n.proposeAs(ctx, "node:"+n.cfg.NodeID, p)
}

// proposeAs is proposeSystem with another system actor.
func (n *Node) proposeAs(ctx context.Context, actor string, p fsm.Payload) (uint64, error) {
	cmd, err := fsm.NewCommand(fsm.Meta{
		RequestID: "node-" + randomHex(12),
		Time:      n.cfg.Now(),
		Actor:     actor,
		ActorType: fsm.ActorSystem,
	}, p)
	if err != nil {
		return 0, err
	}
	return n.Propose(ctx, cmd)
}

// recordClusterIDWhenKnown writes node.json as soon as the state machine
// knows the cluster id, whichever way it learns it (bootstrap, join,
// replication, restart).
func (n *Node) recordClusterIDWhenKnown() {
	for {
		// Read the index first: an entry applied between the two reads then
		// ends the wait at once instead of being missed.
		applied := n.fsm.AppliedIndex()
		id, err := n.fsm.ClusterID()
		if err != nil {
			return // the state file is closing
		}
		if id != "" {
			if err := n.recordClusterID(id); err != nil {
				n.log.Error("cannot record the cluster id", "err", err)
			}
			return
		}
		if err := n.fsm.WaitApplied(n.life, applied+1); err != nil {
			return
		}
	}
}

// recordClusterID writes node.json with id unless it already says so.
func (n *Node) recordClusterID(id string) error {
	n.identMu.Lock()
	defer n.identMu.Unlock()
	if n.ident.ClusterID == id && n.ident.NodeID == n.cfg.NodeID {
		return nil
	}
	next := identity{NodeID: n.cfg.NodeID, ClusterID: id}
	if err := writeIdentity(n.cfg.DataDir, next); err != nil {
		return err
	}
	n.ident = next
	return nil
}

// randomHex returns 2*nbytes hex characters from crypto/rand.
func randomHex(nbytes int) string {
	b := make([]byte, nbytes)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

// sleepCtx waits d or until ctx ends; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitFuture waits for f or ctx, whichever ends first. When ctx ends first the
// operation continues inside raft and its outcome is unknown.
func waitFuture(ctx context.Context, f raft.Future) error {
	if ctx.Done() == nil {
		return f.Error()
	}
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
