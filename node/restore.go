package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/raft"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node/backup"
)

// The checks a snapshot file must pass before it is restored, in order. A
// refusal names the one that failed (SnapshotRefusedError.Check).
const (
	RestoreCheckFormat    = backup.CheckFormat   // magic line, format version, header
	RestoreCheckChecksum  = backup.CheckChecksum // body size and SHA-256
	RestoreCheckRecords   = backup.CheckRecords  // the body is a state file whose every record decodes
	RestoreCheckHeader    = backup.CheckHeader   // the header describes the body
	RestoreCheckSchema    = "schema"             // the stored schema is not newer than this binary's
	RestoreCheckClusterID = "cluster_id"         // the snapshot is of this cluster
)

// SnapshotRefusedError refuses a snapshot file before anything was
// restored: the state of every node is untouched. Check names the check that
// failed (RestoreCheck*), Err says how.
type SnapshotRefusedError struct {
	Check string
	Err   error
}

func (e *SnapshotRefusedError) Error() string {
	return fmt.Sprintf("snapshot refused, nothing was restored (%s check failed): %v", e.Check, e.Err)
}

func (e *SnapshotRefusedError) Unwrap() error { return e.Err }

func refused(check string, err error) error { return &SnapshotRefusedError{Check: check, Err: err} }

// ErrRestoreRunning refuses a restore while another one is under way.
var ErrRestoreRunning = errors.New("node: another snapshot restore is under way on this leader; wait for it to finish")

// RestoreOptions are the choices of a restore into a running cluster.
type RestoreOptions struct {
	// AllowOtherCluster restores a snapshot saved by another cluster (its
	// data: the running cluster keeps its own id, CA and members). The
	// key-encryption key must be the same, or the sealed secrets and the
	// audit chain of the snapshot cannot be read.
	AllowOtherCluster bool
	// Timeout bounds raft's restore, after the file was checked; 0 means
	// 5 minutes.
	Timeout time.Duration
}

// RestoreResult describes a restore that took place.
type RestoreResult struct {
	Header backup.Header `json:"header"`
	// Index is the raft index of the restore: every node holds the
	// snapshot's state from there on.
	Index uint64 `json:"index"`
}

// stagedSnapshot is a snapshot file checked and its body spooled to a
// temporary file in the data dir, ready for raft.
type stagedSnapshot struct {
	header  *backup.Header
	summary fsm.StateSummary
	path    string
}

func (s *stagedSnapshot) remove() { os.Remove(s.path) }

// stageSnapshot reads a snapshot file from r and checks it whole before
// anything is changed: the format, the body's size and checksum (while it is
// spooled to a temporary file in dir, so the body is never held in memory),
// that every record decodes, that the header describes the body, that the
// stored schema is one this binary reads and, when cluster is not empty and
// allowOther is false, that the snapshot is of that cluster. A failed check
// is a *SnapshotRefusedError; a failure to read r or to write dir is
// returned as it is.
func stageSnapshot(r io.Reader, dir, cluster string, allowOther bool) (*stagedSnapshot, error) {
	h, body, err := backup.Read(r)
	if err != nil {
		return nil, refused(RestoreCheckFormat, err)
	}
	tmp, err := os.CreateTemp(dir, ".restore-*.db")
	if err != nil {
		return nil, fmt.Errorf("node: spool snapshot: %w", err)
	}
	s := &stagedSnapshot{header: h, path: tmp.Name()}
	_, err = io.Copy(tmp, body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		s.remove()
		if errors.Is(err, backup.ErrChecksum) || errors.Is(err, backup.ErrTruncated) || errors.Is(err, backup.ErrTooLong) {
			return nil, refused(RestoreCheckChecksum, err)
		}
		return nil, fmt.Errorf("node: spool snapshot: %w", err)
	}
	sum, err := fsm.InspectFile(s.path)
	if err != nil {
		s.remove()
		var se *fsm.SchemaError
		if errors.As(err, &se) {
			se.Path = "the snapshot"
			return nil, refused(RestoreCheckSchema, err)
		}
		return nil, refused(RestoreCheckRecords, err)
	}
	s.summary = sum
	if err := backup.Agrees(h, sum); err != nil {
		s.remove()
		return nil, refused(RestoreCheckHeader, err)
	}
	if cluster != "" && sum.ClusterID != cluster && !allowOther {
		s.remove()
		return nil, refused(RestoreCheckClusterID, fmt.Errorf("the snapshot is of cluster %s, this is cluster %s; "+
			"to restore another cluster's data here, say so (certctl snapshot restore --force-cluster-id)", sum.ClusterID, cluster))
	}
	return s, nil
}

// Restore replaces the state of every node of the cluster with the snapshot
// file read from r, through raft's user restore. It runs on the leader only
// (ErrNotLeader elsewhere) and one at a time (ErrRestoreRunning).
//
// The whole file is checked first (see stageSnapshot); a refusal is a
// *SnapshotRefusedError and leaves the cluster untouched. The cluster keeps
// its own identity: its id, cluster CA, members, join tokens and revoked node
// certificates are carried into the snapshot's state in place of the
// snapshot's own (fsm.CarryIdentity), so the nodes, their certificates and
// the raft configuration go on working. Raft then writes the state as a new
// snapshot at an index past its last one, restores the leader's fsm from it
// and sends it to every follower.
func (n *Node) Restore(ctx context.Context, r io.Reader, opts RestoreOptions) (*RestoreResult, error) {
	rf, err := n.raftOrErr()
	if err != nil {
		return nil, err
	}
	if rf.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	if !n.restoring.CompareAndSwap(false, true) {
		return nil, ErrRestoreRunning
	}
	defer n.restoring.Store(false)
	cluster, err := n.fsm.ClusterID()
	if err != nil {
		return nil, err
	}
	st, err := stageSnapshot(r, n.cfg.DataDir, cluster, opts.AllowOtherCluster)
	if err != nil {
		return nil, err
	}
	defer st.remove()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := n.fsm.CarryIdentity(st.path, nil); err != nil {
		return nil, err
	}
	fi, err := os.Stat(st.path)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	f, err := os.Open(st.path)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	defer f.Close()
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: st.summary.AppliedIndex, Term: st.summary.AppliedTerm, Size: fi.Size()}
	n.log.Warn("restoring a snapshot into the cluster", "snapshot_cluster_id", st.header.ClusterID, "snapshot_index", st.header.Index,
		"snapshot_created_at", st.header.CreatedAt, "snapshot_node_id", st.header.NodeID, "bytes", fi.Size())
	start := time.Now()
	if err := rf.Restore(meta, f, timeout); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return nil, fmt.Errorf("%w: %v", ErrLeadershipLost, err)
		}
		return nil, fmt.Errorf("node: raft restore: %w", err)
	}
	res := &RestoreResult{Header: *st.header, Index: rf.LastIndex()}
	n.log.Warn("restored a snapshot into the cluster", "index", res.Index, "took", time.Since(start).Round(time.Millisecond))
	return res, nil
}

// seedFromSnapshot makes an empty data dir hold the snapshot file at path as
// the newest raft snapshot of a new cluster of this node alone, at the
// snapshot's own index, so that Open restores the state from it and raft
// continues the log after it. The saved cluster's other members are
// forgotten and their node certificates revoked (fsm.ForgetMembers): the
// other nodes join the new cluster afresh with join tokens.
func (n *Node) seedFromSnapshot(path string, snaps raft.SnapshotStore, raftAddr string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("node: restore from %s: %w", path, err)
	}
	defer f.Close()
	st, err := stageSnapshot(f, n.cfg.DataDir, "", true)
	if err != nil {
		return fmt.Errorf("node: restore from %s: %w", path, err)
	}
	defer st.remove()
	removed, err := fsm.ForgetMembers(st.path, []string{n.cfg.NodeID}, n.cfg.Now())
	if err != nil {
		return err
	}
	body, err := os.Open(st.path)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	defer body.Close()
	// The file snapshot store asks a transport only to encode the
	// configuration's addresses; an in-memory one encodes them as the
	// network transport does.
	_, enc := raft.NewInmemTransport(raft.ServerAddress(raftAddr))
	defer enc.Close()
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(n.cfg.NodeID), Address: raft.ServerAddress(raftAddr)}}}
	idx := st.summary.AppliedIndex
	if idx == 0 {
		idx = 1
	}
	// A new cluster: its term starts at 1 whatever the saved cluster's was.
	sink, err := snaps.Create(raft.SnapshotVersionMax, idx, 1, conf, idx, enc)
	if err != nil {
		return fmt.Errorf("node: write the restored snapshot: %w", err)
	}
	if _, err := io.Copy(sink, body); err != nil {
		sink.Cancel()
		return fmt.Errorf("node: write the restored snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("node: write the restored snapshot: %w", err)
	}
	n.log.Warn("seeded a new cluster of this node from a snapshot", "path", path, "cluster_id", st.header.ClusterID,
		"snapshot_index", st.header.Index, "snapshot_created_at", st.header.CreatedAt, "forgotten_members", removed)
	return nil
}
