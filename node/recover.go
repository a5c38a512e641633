package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"

	"github.com/hashicorp/raft"

	"github.com/certctl/certctl/fsm"
)

// RecoverConfig is what Recover needs: the stopped node's data dir and, when
// entries of its log still have to be applied, the audit key its state
// machine chains audit events with (the same as the running node's).
type RecoverConfig struct {
	// DataDir is the node's data dir. Required.
	DataDir string
	// NodeID, when set, must be the id node.json records; empty means that one.
	NodeID string
	// RaftAddr is the address the node advertises for raft once restarted
	// (its advertise_addr, else raft_addr); empty means the address the
	// latest configuration in its log gives it.
	RaftAddr string
	// AuditKey keys the audit chain (keywrap.AuditKey of the cluster's KEK).
	// It is needed only when the log holds entries the state file has not
	// applied yet; Recover says so when it is missing.
	AuditKey []byte
	// Logger receives raft's logs of the recovery. Nil means none.
	Logger *slog.Logger
}

// RecoverResult says what Recover did.
type RecoverResult struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	// Index and Term are those of the last entry the state now holds, the
	// index of the snapshot that carries the new configuration.
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// Applied counts the log entries applied by the recovery (those the
	// node had logged but not yet applied when it stopped).
	Applied int `json:"applied"`
	// Dropped are the servers of the old configuration no longer in it.
	Dropped []string `json:"dropped"`
}

// ErrNoRaftState: the data dir holds no raft state to recover.
var ErrNoRaftState = errors.New("node: the data dir holds no raft state")

// Recover turns the stopped node at cfg.DataDir into a cluster of itself
// alone, keeping all its data: for a cluster that lost its quorum for good.
// It runs hashicorp/raft's RecoverCluster on the node's own stores and state
// machine: every entry of its log is applied, a snapshot is written whose
// configuration names this node as the only voter, and the log is compacted.
// At its next start the node elects itself and takes writes; new nodes then
// join it with join tokens. The node must be stopped (its files are locked
// while it runs, and Recover says so).
//
// The state file is kept as it is rather than rebuilt from the newest
// snapshot (as raft would do): it already holds everything up to its applied
// index, and applying an entry at or below it is a no-op.
func Recover(cfg RecoverConfig) (RecoverResult, error) {
	if cfg.DataDir == "" {
		return RecoverResult{}, errors.New("node: recover: the data dir is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ident, found, err := readIdentity(cfg.DataDir)
	if err != nil {
		return RecoverResult{}, err
	}
	if !found || ident.NodeID == "" {
		return RecoverResult{}, fmt.Errorf("%w: %s has no %s; is it the data dir of a certctl node?", ErrNoRaftState, cfg.DataDir, identityFileName)
	}
	if cfg.NodeID != "" && cfg.NodeID != ident.NodeID {
		return RecoverResult{}, &NodeIDMismatchError{DataDir: cfg.DataDir, Recorded: ident.NodeID, Configured: cfg.NodeID}
	}
	if _, err := os.Stat(raftDBPath(cfg.DataDir)); err != nil {
		return RecoverResult{}, fmt.Errorf("%w: %v", ErrNoRaftState, err)
	}
	ncfg := Config{NodeID: ident.NodeID, DataDir: cfg.DataDir, Logger: log}.withDefaults()
	stores, err := openRaftStores(ncfg)
	if err != nil {
		return RecoverResult{}, err
	}
	defer stores.Close()
	if ok, err := stores.hasState(); err != nil {
		return RecoverResult{}, err
	} else if !ok {
		return RecoverResult{}, fmt.Errorf("%w: %s is empty", ErrNoRaftState, raftDBPath(cfg.DataDir))
	}
	f, err := fsm.Open(statePath(cfg.DataDir), fsm.Options{AuditKey: cfg.AuditKey})
	if err != nil {
		return RecoverResult{}, err
	}
	defer f.Close()
	if _, err := catchUpFromSnapshot(f, stores.snaps); err != nil {
		return RecoverResult{}, err
	}

	old, err := lastConfiguration(ncfg, f, stores)
	if err != nil {
		return RecoverResult{}, err
	}
	addr := cfg.RaftAddr
	var dropped []string
	for _, s := range old.Servers {
		if string(s.ID) == ident.NodeID {
			if addr == "" {
				addr = string(s.Address)
			}
			continue
		}
		dropped = append(dropped, string(s.ID))
	}
	if addr == "" {
		return RecoverResult{}, fmt.Errorf("node: recover: node %s is not in the latest configuration of its log, so its raft address is unknown: give it (advertise_addr or raft_addr of --config)", ident.NodeID)
	}
	if err := validHostPort("raft address", addr); err != nil {
		return RecoverResult{}, err
	}

	pending, err := pendingCommands(f, stores.logs)
	if err != nil {
		return RecoverResult{}, err
	}
	if pending > 0 && len(cfg.AuditKey) == 0 {
		return RecoverResult{}, fmt.Errorf("node: recover: the log holds %d entries the state file has not applied yet; applying them writes audit events, "+
			"which need the cluster's key-encryption key: give --config (with kek_file) or --kek-file", pending)
	}

	conf := ncfg.raftConfig()
	_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
	defer trans.Close()
	next := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(ident.NodeID), Address: raft.ServerAddress(addr)}}}
	if err := raft.RecoverCluster(conf, recoverFSM{raftFSM{f}}, stores.logs, stores.bolt, stores.snaps, trans, next); err != nil {
		return RecoverResult{}, fmt.Errorf("node: recover: %w", err)
	}
	res := RecoverResult{NodeID: ident.NodeID, RaftAddr: addr, Applied: pending, Dropped: dropped}
	if list, err := stores.snaps.List(); err == nil && len(list) > 0 {
		res.Index, res.Term = list[0].Index, list[0].Term
	}
	if res.Dropped == nil {
		res.Dropped = []string{}
	}
	slices.Sort(res.Dropped)
	return res, nil
}

// lastConfiguration reads the latest raft configuration the stores hold,
// without starting raft.
func lastConfiguration(cfg Config, f *fsm.FSM, s *raftStores) (raft.Configuration, error) {
	_, trans := raft.NewInmemTransport("")
	defer trans.Close()
	c, err := raft.GetConfiguration(cfg.raftConfig(), recoverFSM{raftFSM{f}}, s.logs, s.bolt, s.snaps, trans)
	if err != nil {
		return raft.Configuration{}, fmt.Errorf("node: read the raft configuration: %w", err)
	}
	return c, nil
}

// pendingCommands counts the command entries of the log past the state
// file's applied index.
func pendingCommands(f *fsm.FSM, logs raft.LogStore) (int, error) {
	first, err := logs.FirstIndex()
	if err != nil {
		return 0, fmt.Errorf("node: read the raft log: %w", err)
	}
	last, err := logs.LastIndex()
	if err != nil {
		return 0, fmt.Errorf("node: read the raft log: %w", err)
	}
	n := 0
	for i := max(first, f.AppliedIndex()+1); i <= last && i > 0; i++ {
		var e raft.Log
		if err := logs.GetLog(i, &e); err != nil {
			return 0, fmt.Errorf("node: read raft log entry %d: %w", i, err)
		}
		if e.Type == raft.LogCommand {
			n++
		}
	}
	return n, nil
}

// recoverFSM is the state machine as Recover hands it to raft: a restore of
// a snapshot is a no-op, because catchUpFromSnapshot has already brought
// the state file to (or past) the newest snapshot, the one raft restores.
type recoverFSM struct{ raftFSM }

func (recoverFSM) Restore(rc io.ReadCloser) error {
	_, err := io.Copy(io.Discard, rc)
	rc.Close()
	return err
}

// Snapshot returns a snapshot that releases itself once persisted:
// RecoverCluster persists the snapshot it takes but never releases it, and
// the fsm's snapshot holds a bbolt read transaction, which the state file's
// Close would wait for forever.
func (f recoverFSM) Snapshot() (raft.FSMSnapshot, error) {
	s, err := f.raftFSM.Snapshot()
	if err != nil {
		return nil, err
	}
	return selfReleasing{s}, nil
}

type selfReleasing struct{ raft.FSMSnapshot }

func (s selfReleasing) Persist(sink raft.SnapshotSink) error {
	defer s.FSMSnapshot.Release()
	return s.FSMSnapshot.Persist(sink)
}

func (selfReleasing) Release() {}
