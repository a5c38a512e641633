package node

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// replWatch is the stall check: it follows the raft RPCs this node sends and
// receives, and tells whether replication makes progress where raft itself
// would say nothing. Raft keeps a follower's match index and the time of its
// replication RPCs to itself, and a follower whose replication has stopped
// still gets heartbeats, so it never calls an election: the stall would go
// unseen.
//
//   - On the leader, a follower is stalled when it answers (heartbeats count)
//     within StallTimeout but its log has not advanced for StallTimeout while
//     the commit index is past it.
//   - On a follower, replication from the leader is stalled when heartbeats
//     arrive but no other AppendEntries has for StallTimeout. A healthy leader
//     sends one at least every CommitTimeout, even with nothing to replicate,
//     to carry its commit index; heartbeats never carry it.
//
// All methods are safe for concurrent use.
type replWatch struct {
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time

	mu sync.Mutex
	// leader side
	term  uint64 // the term peers was filled in; a new term starts afresh
	peers map[raft.ServerID]*peerProgress
	// follower side
	since         time.Time // the follower's baseline: open, or leader change
	leader        raft.ServerID
	lastHeartbeat time.Time
	lastAppend    time.Time
	followerStall bool
	// results of the last check
	stalledPeers []string
	stalls       uint64
}

// peerProgress is what the leader knows of one follower's replication.
type peerProgress struct {
	contact    time.Time // last answer of any kind
	match      uint64    // highest index it acknowledged holding
	matchMoved time.Time // when match last advanced (or the peer was first seen)
	stalled    bool
}

func newReplWatch(timeout time.Duration, log *slog.Logger) *replWatch {
	w := &replWatch{timeout: timeout, log: log, now: time.Now, peers: map[raft.ServerID]*peerProgress{}}
	w.since = w.now()
	return w
}

// isHeartbeat is raft's own test (net_transport.go) for an AppendEntries
// that only asserts leadership.
func isHeartbeat(req *raft.AppendEntriesRequest) bool {
	return req.PrevLogEntry == 0 && req.PrevLogTerm == 0 && len(req.Entries) == 0 && req.LeaderCommitIndex == 0
}

// answered records a follower's answer to an AppendEntries this node sent.
func (w *replWatch) answered(id raft.ServerID, req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if req.Term != w.term {
		if req.Term < w.term {
			return // a late answer from an earlier term
		}
		w.term = req.Term
		clear(w.peers)
	}
	p := w.peers[id]
	if p == nil {
		p = &peerProgress{matchMoved: now}
		w.peers[id] = p
	}
	p.contact = now
	if !isHeartbeat(req) && resp.Success {
		if m := req.PrevLogEntry + uint64(len(req.Entries)); m > p.match {
			p.match, p.matchMoved = m, now
		}
	}
}

// heartbeatReceived records a heartbeat from the leader.
func (w *replWatch) heartbeatReceived() {
	now := w.now()
	w.mu.Lock()
	w.lastHeartbeat = now
	w.mu.Unlock()
}

// appendReceived records an AppendEntries from the leader that is not a
// heartbeat.
func (w *replWatch) appendReceived() {
	now := w.now()
	w.mu.Lock()
	w.lastAppend = now
	w.mu.Unlock()
}

// check updates the stall state from raft's current view and logs each
// change. The node calls it every fraction of the timeout.
func (w *replWatch) check(r *raft.Raft) {
	state := r.State()
	commit := r.CommitIndex()
	_, leader := r.LeaderWithID()
	now := w.now()

	w.mu.Lock()
	defer w.mu.Unlock()
	var stalled []string
	for id, p := range w.peers {
		inContact := now.Sub(p.contact) < w.timeout
		s := state == raft.Leader && inContact && p.match < commit && now.Sub(p.matchMoved) >= w.timeout
		switch {
		case s && !p.stalled:
			w.stalls++
			w.log.Warn("replication to a follower has stalled: it answers heartbeats but its log has not advanced",
				"follower", id, "match_index", p.match, "commit_index", commit, "for", now.Sub(p.matchMoved).Round(time.Millisecond))
		case !s && p.stalled:
			w.log.Info("replication to a follower is moving again", "follower", id, "match_index", p.match, "commit_index", commit)
		}
		p.stalled = s
		if s {
			stalled = append(stalled, string(id))
		}
	}
	slices.Sort(stalled)
	w.stalledPeers = stalled

	if leader != w.leader {
		w.leader, w.since = leader, now
	}
	lastRepl := w.lastAppend
	if lastRepl.Before(w.since) {
		lastRepl = w.since
	}
	fs := state == raft.Follower && leader != "" &&
		now.Sub(w.lastHeartbeat) < w.timeout && now.Sub(lastRepl) >= w.timeout
	switch {
	case fs && !w.followerStall:
		w.stalls++
		w.log.Warn("replication from the leader has stalled: its heartbeats arrive but no entries or commit index have",
			"leader", leader, "commit_index", commit, "for", now.Sub(lastRepl).Round(time.Millisecond))
	case !fs && w.followerStall:
		w.log.Info("replication from the leader is moving again", "leader", leader, "commit_index", commit)
	}
	w.followerStall = fs
}

// stallStats is the stall check's part of NodeStats.
func (w *replWatch) stallStats() (stalled bool, peers []string, stalls uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.followerStall || len(w.stalledPeers) > 0, slices.Clone(w.stalledPeers), w.stalls
}

// watchedTransport is raft's network transport with the stall check's taps:
// the answers to the AppendEntries this node sends, the heartbeats it
// receives, and the other RPCs it receives, which it relays to raft through
// a goroutine of its own (Consumer). Every other method is the transport's,
// so raft sees the same capabilities (pre-vote, close).
type watchedTransport struct {
	*raft.NetworkTransport
	w   *replWatch
	out chan raft.RPC
}

func newWatchedTransport(t *raft.NetworkTransport, w *replWatch) *watchedTransport {
	return &watchedTransport{NetworkTransport: t, w: w, out: make(chan raft.RPC)}
}

func (t *watchedTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	err := t.NetworkTransport.AppendEntries(id, target, req, resp)
	if err == nil {
		t.w.answered(id, req, resp)
	}
	return err
}

func (t *watchedTransport) SetHeartbeatHandler(cb func(raft.RPC)) {
	if cb == nil {
		t.NetworkTransport.SetHeartbeatHandler(nil)
		return
	}
	t.NetworkTransport.SetHeartbeatHandler(func(rpc raft.RPC) {
		t.w.heartbeatReceived()
		cb(rpc)
	})
}

// Consumer is the channel raft reads incoming RPCs from; relay fills it.
func (t *watchedTransport) Consumer() <-chan raft.RPC { return t.out }

// relay hands the transport's incoming RPCs to raft, noting the
// AppendEntries among them, until stop is closed.
func (t *watchedTransport) relay(stop <-chan struct{}) {
	in := t.NetworkTransport.Consumer()
	for {
		select {
		case rpc := <-in:
			if req, ok := rpc.Command.(*raft.AppendEntriesRequest); ok {
				if isHeartbeat(req) {
					t.w.heartbeatReceived() // no heartbeat handler set
				} else {
					t.w.appendReceived()
				}
			}
			select {
			case t.out <- rpc:
			case <-stop:
				return
			}
		case <-stop:
			return
		}
	}
}
