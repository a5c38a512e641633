package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
)

// Layout of a data dir. Every path is built here.
const (
	raftDirName      = "raft"
	raftDBName       = "raft.db"
	stateDBName      = "state.db"
	identityFileName = "node.json"
	snapDirName      = "snapshots" // raft's file snapshot store adds it to raft/

	snapshotsRetained = 2
	logCacheSize      = 512
)

func raftDir(dataDir string) string      { return filepath.Join(dataDir, raftDirName) }
func raftDBPath(dataDir string) string   { return filepath.Join(dataDir, raftDirName, raftDBName) }
func snapDir(dataDir string) string      { return filepath.Join(dataDir, raftDirName, snapDirName) }
func statePath(dataDir string) string    { return filepath.Join(dataDir, stateDBName) }
func identityPath(dataDir string) string { return filepath.Join(dataDir, identityFileName) }

// raftStores are raft's log, stable and snapshot stores in a data dir:
// raft/raft.db (raft-boltdb, behind a log cache) and raft/snapshots.
type raftStores struct {
	bolt  *raftboltdb.BoltStore
	logs  raft.LogStore
	snaps *raft.FileSnapshotStore
}

// privateDir makes dir, and its missing parents, with mode 0700, and takes
// group and other access away from one that exists: a data dir holds the raft
// log, the state and snapshots, which nobody but the node's user may read.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("node: create %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("node: make %s private (mode 0700): %w", dir, err)
		}
	}
	return nil
}

func openRaftStores(cfg Config) (*raftStores, error) {
	if err := privateDir(raftDir(cfg.DataDir)); err != nil {
		return nil, err
	}
	// raft's file snapshot store makes its directory 0755: make it first.
	if err := privateDir(snapDir(cfg.DataDir)); err != nil {
		return nil, err
	}
	path := raftDBPath(cfg.DataDir)
	b, err := raftboltdb.New(raftboltdb.Options{
		Path:        path,
		NoSync:      cfg.NoSync,
		BoltOptions: &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType},
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("node: %s is locked by another process: is another certctl running on this data dir?", path)
		}
		return nil, fmt.Errorf("node: open %s: %w", path, err)
	}
	cache, err := raft.NewLogCache(logCacheSize, b)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("node: log cache: %w", err)
	}
	// The file snapshot store adds "snapshots" to the base directory.
	snaps, err := raft.NewFileSnapshotStoreWithLogger(raftDir(cfg.DataDir), snapshotsRetained, newHCLog(cfg.Logger, "raft-snapshot"))
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("node: snapshot store: %w", err)
	}
	return &raftStores{bolt: b, logs: cache, snaps: snaps}, nil
}

func (s *raftStores) hasState() (bool, error) {
	ok, err := raft.HasExistingState(s.logs, s.bolt, s.snaps)
	if err != nil {
		return false, fmt.Errorf("node: read raft state: %w", err)
	}
	return ok, nil
}

func (s *raftStores) Close() error { return s.bolt.Close() }

// identity is node.json: which node and which cluster a data dir belongs to.
type identity struct {
	NodeID    string `json:"node_id"`
	ClusterID string `json:"cluster_id"`
}

// readIdentity returns the data dir's node.json, or found=false if none.
func readIdentity(dataDir string) (id identity, found bool, err error) {
	b, err := os.ReadFile(identityPath(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return identity{}, false, nil
	}
	if err != nil {
		return identity{}, false, fmt.Errorf("node: read %s: %w", identityPath(dataDir), err)
	}
	if err := json.Unmarshal(b, &id); err != nil {
		return identity{}, false, fmt.Errorf("node: %s is corrupt: %w", identityPath(dataDir), err)
	}
	return id, true, nil
}

// writeIdentity replaces node.json atomically.
func writeIdentity(dataDir string, id identity) error {
	path := identityPath(dataDir)
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return fmt.Errorf("node: encode %s: %w", path, err)
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}
