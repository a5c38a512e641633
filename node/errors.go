package node

import (
	"errors"
	"fmt"
)

// Sentinels for errors.Is.
var (
	// ErrNotLeader: the operation runs only on the leader and this node is
	// not it. Nothing was written.
	ErrNotLeader = errors.New("node: not the leader")
	// ErrNoLeader: no leader was known (or its API address was not) within
	// the wait. Nothing was written.
	ErrNoLeader = errors.New("node: no leader")
	// ErrLeadershipLost: the leader was deposed while committing; the write
	// may or may not have been applied. A retry with the same request id is
	// safe because the fsm deduplicates by request id.
	ErrLeadershipLost = errors.New("node: leadership lost while committing; outcome unknown")
	// ErrUnauthorized: a join carried no valid join token, or a
	// node-to-node request no certificate of a node of this cluster.
	ErrUnauthorized = errors.New("node: unauthorized")
	// ErrForbidden: a node asked for what only another node may ask (to
	// change another node's membership).
	ErrForbidden = errors.New("node: forbidden")
	// ErrClosed: the node is closed or not open.
	ErrClosed = errors.New("node: closed")
	// ErrTimeout: the cluster did not answer within the caller's deadline;
	// a write may or may not have been applied. A peer's "timeout" answer
	// comes back as it.
	ErrTimeout = errors.New("node: the cluster did not answer in time")
	// ErrShutdownTimeout: Close gave up waiting within
	// Config.ShutdownTimeout; the error says for what.
	ErrShutdownTimeout = errors.New("node: shutdown timed out")
)

// ClusterMismatchError refuses to start a data dir that belongs to another
// cluster than the one at JoinAddr.
type ClusterMismatchError struct {
	DataDir       string
	LocalCluster  string
	JoinAddr      string
	RemoteCluster string
}

func (e *ClusterMismatchError) Error() string {
	return fmt.Sprintf("node: data dir %s belongs to cluster %s but the cluster at %s is %s; use an empty data dir to join it",
		e.DataDir, e.LocalCluster, e.JoinAddr, e.RemoteCluster)
}

// NodeIDMismatchError refuses to start a data dir written by another node id.
type NodeIDMismatchError struct {
	DataDir    string
	Recorded   string
	Configured string
}

func (e *NodeIDMismatchError) Error() string {
	return fmt.Sprintf("node: data dir %s belongs to node %q but this node is configured as %q; configure node id %q or use an empty data dir",
		e.DataDir, e.Recorded, e.Configured, e.Recorded)
}

// RemoteError is a failure reported by another node's API: Status is the
// HTTP status, Code the stable error code from its body when there was one.
type RemoteError struct {
	Addr    string
	Status  int
	Code    string
	Message string
}

func (e *RemoteError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "no message"
	}
	if e.Code != "" {
		return fmt.Sprintf("node: %s answered %d (%s): %s", e.Addr, e.Status, e.Code, msg)
	}
	return fmt.Sprintf("node: %s answered %d: %s", e.Addr, e.Status, msg)
}
