package node

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/certctl/certctl/fsm"
)

// raftFSM is the fsm as raft sees it. It differs from *fsm.FSM in one way:
// Snapshot returns at once and the fsm's own snapshot (a bbolt read
// transaction) is opened only when raft persists it.
//
// Why: raft takes a snapshot in two steps, Snapshot on the FSM goroutine,
// then Persist on the snapshot goroutine after asking the main loop for the
// configuration. A follower's main loop may meanwhile be installing a
// snapshot from the leader, which waits for the FSM goroutine's Restore,
// which closes the bbolt file and so waits for every read transaction,
// including the one Snapshot opened: a deadlock. Opening the transaction in
// Persist breaks the cycle, since Persist waits on nothing of raft's.
//
// The state persisted is then at an index at or after the one raft records
// for the snapshot. That is safe here because the fsm stores its applied
// index in the same file and skips entries at or below it: entries raft
// replays after a restore that the snapshot already holds are no-ops.
type raftFSM struct {
	*fsm.FSM
}

var _ raft.BatchingFSM = raftFSM{}

func (f raftFSM) Snapshot() (raft.FSMSnapshot, error) {
	return &lazySnapshot{f: f.FSM}, nil
}

type lazySnapshot struct {
	f    *fsm.FSM
	snap raft.FSMSnapshot
}

func (s *lazySnapshot) Persist(sink raft.SnapshotSink) error {
	snap, err := s.f.Snapshot()
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("node: open snapshot: %w", err)
	}
	s.snap = snap
	return snap.Persist(sink)
}

func (s *lazySnapshot) Release() {
	if s.snap != nil {
		s.snap.Release()
	}
}

// catchUpFromSnapshot restores f from the newest snapshot when f is behind
// it. Raft starts applying after the newest snapshot's index and, with
// NoSnapshotRestoreOnStart, trusts the fsm to hold everything up to there;
// a state.db that lost ground (replaced, or restored from an old copy) would
// otherwise silently miss entries.
func catchUpFromSnapshot(f *fsm.FSM, snaps raft.SnapshotStore) (restored bool, err error) {
	list, err := snaps.List()
	if err != nil {
		return false, fmt.Errorf("node: list snapshots: %w", err)
	}
	if len(list) == 0 || list[0].Index <= f.AppliedIndex() {
		return false, nil
	}
	meta, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return false, fmt.Errorf("node: open snapshot %s: %w", list[0].ID, err)
	}
	// Restore closes rc.
	if err := f.Restore(rc); err != nil {
		return false, fmt.Errorf("node: restore state from snapshot %s (index %d): %w", meta.ID, meta.Index, err)
	}
	return true, nil
}

// snapshotIfDue takes a snapshot soon after a restart if the log already
// holds SnapshotThreshold entries past the newest snapshot. Raft only checks
// the threshold every SnapshotInterval (with jitter), so without this a node
// restarting more often than that (a crash loop, a rolling upgrade of many
// small steps) would never snapshot and its log would grow without bound.
func (n *Node) snapshotIfDue(r *raft.Raft, snaps raft.SnapshotStore) {
	var lastSnap uint64
	if list, err := snaps.List(); err == nil && len(list) > 0 {
		lastSnap = list[0].Index
	}
	if r.LastIndex()-lastSnap < n.cfg.SnapshotThreshold {
		return
	}
	// Raft can snapshot only once it has applied an entry since start.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for r.AppliedIndex() <= lastSnap {
		select {
		case <-tick.C:
		case <-n.life.Done():
			return
		}
	}
	for attempt := 0; attempt < 5; attempt++ {
		err := waitFuture(n.life, r.Snapshot())
		if err == nil {
			n.log.Info("took the snapshot due since before the restart", "last_index", r.LastIndex())
			return
		}
		if n.life.Err() != nil {
			return
		}
		n.log.Debug("snapshot after restart not possible yet", "err", err)
		if !sleepCtx(n.life, time.Second) {
			return
		}
	}
}
