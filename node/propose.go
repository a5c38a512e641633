package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/certctl/certctl/fsm"
)

// maxReroutes bounds how often one proposal follows a change of leader.
const maxReroutes = 5

// Propose commits cmd through raft from any node and returns the index of
// its entry. On the leader it applies cmd directly; on a follower it forwards
// cmd to the leader and then waits until this node has applied the entry, so
// a read on this node right after sees the write.
//
// The error is a domain rejection (*fsm.Error; the entry was applied and
// changed nothing), ErrNoLeader (no leader within Config.LeaderWait or ctx;
// nothing written), ErrLeadershipLost (outcome unknown), ErrUnauthorized,
// ErrClosed, or ctx's error. A proposal that meets a change of leader is
// sent again to the new one; when the outcome is unknown that happens only
// if cmd has a RequestID, which makes the retry a no-op for the fsm.
func (n *Node) Propose(ctx context.Context, cmd *fsm.Command) (uint64, error) {
	data, err := cmd.Encode()
	if err != nil {
		return 0, fmt.Errorf("node: encode command: %w", err)
	}
	return n.propose(ctx, data, cmd.RequestID != "")
}

func (n *Node) propose(ctx context.Context, data []byte, idempotent bool) (uint64, error) {
	r, err := n.raftOrErr()
	if err != nil {
		return 0, err
	}
	var lastErr error
	unknownRetried := false
	for attempt := 0; attempt <= maxReroutes; attempt++ {
		changed := n.leaderChange()
		target, err := n.waitLeader(ctx, r)
		if err != nil {
			return 0, giveUp(err, lastErr)
		}
		var idx uint64
		if target.self {
			idx, err = n.applyLocal(ctx, r, data)
		} else {
			idx, err = n.forward(ctx, target, data)
		}
		var domain *fsm.Error
		switch {
		case err == nil, errors.As(err, &domain):
			return idx, err
		case errors.Is(err, ErrNotLeader):
			// Nothing was written: the node we asked no longer leads.
		case errors.Is(err, ErrLeadershipLost) && idempotent && !unknownRetried:
			unknownRetried = true
		default:
			return idx, err
		}
		lastErr = err
		n.forgetLeader(target)
		// Give the cluster a moment to settle on the next leader; any
		// change seen here ends the wait at once.
		select {
		case <-changed:
		case <-time.After(rerouteBackoff(attempt)):
		case <-ctx.Done():
			return 0, giveUp(fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err()), lastErr)
		}
	}
	return 0, giveUp(fmt.Errorf("%w: the leader kept changing", ErrNoLeader), lastErr)
}

// giveUp is the error of a proposal that ends with err after an earlier
// attempt failed with prev. If prev left the outcome unknown, so does the
// proposal, whatever err says.
func giveUp(err, prev error) error {
	switch {
	case prev == nil:
		return err
	case errors.Is(prev, ErrLeadershipLost):
		return fmt.Errorf("%w (then: %v)", prev, err)
	default:
		return fmt.Errorf("%w (after: %v)", err, prev)
	}
}

func rerouteBackoff(attempt int) time.Duration {
	return min(10*time.Millisecond<<attempt, 500*time.Millisecond)
}

// applyLocal applies data on this node, which believes it leads.
func (n *Node) applyLocal(ctx context.Context, r *raft.Raft, data []byte) (uint64, error) {
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return 0, fmt.Errorf("node: %w", context.DeadlineExceeded)
		}
	}
	f := r.Apply(data, timeout)
	if err := waitFuture(ctx, f); err != nil {
		return 0, n.raftError(ctx, err)
	}
	res, ok := f.Response().(*fsm.ApplyResult)
	if !ok {
		return f.Index(), fmt.Errorf("node: unexpected apply response %T", f.Response())
	}
	return f.Index(), res.Err
}

// raftError maps an error of raft's futures to node's sentinels.
func (n *Node) raftError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %v", ErrLeadershipLost, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("node: waiting for commit, outcome unknown: %w", err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		if ctx.Err() != nil {
			return fmt.Errorf("node: raft did not accept the write in time: %w", ctx.Err())
		}
		return fmt.Errorf("node: raft did not accept the write in time: %w", err)
	}
	return fmt.Errorf("node: raft: %w", err)
}

// Barrier returns once this node, as leader, has confirmed its leadership with
// a quorum and applied every committed entry: a read of FSM after it sees
// every write acknowledged before it was called. On a follower it returns
// ErrNotLeader.
func (n *Node) Barrier(ctx context.Context) error {
	r, err := n.raftOrErr()
	if err != nil {
		return err
	}
	if r.State() != raft.Leader {
		return ErrNotLeader
	}
	if err := waitFuture(ctx, r.VerifyLeader()); err != nil {
		return n.raftError(ctx, err)
	}
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	if err := waitFuture(ctx, r.Barrier(timeout)); err != nil {
		return n.raftError(ctx, err)
	}
	return nil
}
