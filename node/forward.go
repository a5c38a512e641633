package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/certctl/certctl/fsm"
)

// Paths and headers of the node-to-node HTTP protocol, served by the API.
const (
	// ProposePath receives a forwarded write: POST, body = an encoded
	// fsm.Command, answer = ForwardResponse.
	ProposePath = "/internal/v1/propose"
	// JoinPath receives a JoinRequest with a join token: POST, answer =
	// JoinResponse.
	JoinPath = "/api/v1/cluster/join"
	// AddVoterPath receives an AddVoterRequest from a node admitted by a
	// join (node certificate): POST, answer = LeaderInfo.
	AddVoterPath = "/internal/v1/add-voter"
	// ClusterPath answers at least {"cluster_id": "..."}.
	ClusterPath = "/api/v1/cluster"
	// ForwardedHeader names the node that forwarded a request. A request that
	// carries it is never forwarded again (the hop guard).
	ForwardedHeader = "X-Certctl-Forwarded"
)

// maxCommandBytes bounds a forwarded command and any answer read from a peer.
const maxCommandBytes = 16 << 20

// ForwardResponse is the leader's answer to a forwarded write. Error is the
// domain rejection of the command (the entry was applied and changed
// nothing) or, with a non-200 status, a node error answered through the
// error table (DescribeError).
type ForwardResponse struct {
	Index uint64     `json:"index"`
	Error *fsm.Error `json:"error"`
}

// ApplyForwarded applies a command that node peer forwarded, on the leader.
// The command's actor is who peer authenticated; the leader records peer as
// the node that vouched for it (Command.Via), whatever the body says. A node
// may change only its own member record and may not name or re-key the
// cluster (ErrForbidden). It never forwards: on a follower it returns
// ErrNotLeader, and the sender retries on the leader it finds next. A domain
// rejection travels in the response; the error is for node failures only.
func (n *Node) ApplyForwarded(ctx context.Context, peer string, body []byte) (ForwardResponse, error) {
	r, err := n.raftOrErr()
	if err != nil {
		return ForwardResponse{}, err
	}
	if r.State() != raft.Leader {
		return ForwardResponse{}, ErrNotLeader
	}
	// A malformed command never reaches the log, wherever it comes from.
	cmd, payload, err := fsm.DecodeCommand(body)
	if err != nil {
		var domain *fsm.Error
		if errors.As(err, &domain) {
			return ForwardResponse{Error: domain}, nil
		}
		return ForwardResponse{}, err
	}
	if err := peerMayPropose(peer, payload); err != nil {
		return ForwardResponse{}, err
	}
	// The text rules are the proposer's (NewCommand); a forwarded write
	// meets them again here, before it can reach the log.
	if err := fsm.CheckText(payload); err != nil {
		var domain *fsm.Error
		if errors.As(err, &domain) {
			return ForwardResponse{Error: domain}, nil
		}
		return ForwardResponse{}, err
	}
	cmd.Via = peer
	data, err := cmd.Encode()
	if err != nil {
		return ForwardResponse{}, fmt.Errorf("node: encode command: %w", err)
	}
	idx, err := n.applyLocal(ctx, r, data)
	var domain *fsm.Error
	if errors.As(err, &domain) {
		return ForwardResponse{Index: idx, Error: domain}, nil
	}
	if err != nil {
		return ForwardResponse{}, err
	}
	return ForwardResponse{Index: idx}, nil
}

// peerMayPropose refuses what another node may not ask of the leader: a
// change of a member record other than its own, the cluster's id and CA,
// and removals (the leader's own act, on an admin's request).
func peerMayPropose(peer string, p fsm.Payload) error {
	switch c := p.(type) {
	case *fsm.RegisterMember:
		if c.Member.NodeID != peer {
			return fmt.Errorf("%w: node %s may not change the member record of node %s", ErrForbidden, peer, c.Member.NodeID)
		}
	case *fsm.RecordNodeCert:
		if c.NodeID != peer {
			return fmt.Errorf("%w: node %s may not record a certificate of node %s", ErrForbidden, peer, c.NodeID)
		}
	case *fsm.InitCluster, *fsm.SetClusterCA, *fsm.RemoveMember:
		return fmt.Errorf("%w: only the leader proposes %s", ErrForbidden, p.CommandType())
	}
	return nil
}

// leaderAddr is where writes go: this node, or another's API address.
type leaderAddr struct {
	id      string
	apiAddr string
	self    bool
}

// Leader returns the current leader's node id, raft address and API address
// as this node knows them; empty strings when no leader is known (apiAddr is
// empty too while the leader's member record has not reached this node).
func (n *Node) Leader() (id, raftAddr, apiAddr string) {
	r := n.raft.Load()
	if r == nil {
		return "", "", ""
	}
	addr, sid := r.LeaderWithID()
	if sid == "" {
		return "", "", ""
	}
	l, ok := n.lookupLeader(r)
	if ok && l.id == string(sid) {
		apiAddr = l.apiAddr
	}
	return string(sid), string(addr), apiAddr
}

// LeaderAPIAddr returns the API address of the current leader, or "" when
// no leader (or its address) is known.
func (n *Node) LeaderAPIAddr() string {
	_, _, api := n.Leader()
	return api
}

// IsLeader reports whether this node is the raft leader right now.
func (n *Node) IsLeader() bool {
	r := n.raft.Load()
	return r != nil && r.State() == raft.Leader
}

// lookupLeader resolves raft's current leader to where writes go, caching
// the API address until the leader changes.
func (n *Node) lookupLeader(r *raft.Raft) (leaderAddr, bool) {
	_, sid := r.LeaderWithID()
	if sid == "" {
		return leaderAddr{}, false
	}
	id := string(sid)
	if id == n.cfg.NodeID {
		return leaderAddr{id: id, apiAddr: n.cfg.APIAddr, self: true}, true
	}
	n.leaderMu.Lock()
	c := n.leaderCache
	n.leaderMu.Unlock()
	if c.id == id {
		return c, true
	}
	m, err := n.fsm.Member(id)
	if err != nil || m.APIAddr == "" {
		return leaderAddr{}, false
	}
	l := leaderAddr{id: id, apiAddr: m.APIAddr}
	n.leaderMu.Lock()
	n.leaderCache = l
	n.leaderMu.Unlock()
	return l, true
}

// forgetLeader drops the cached address of l after it failed us.
func (n *Node) forgetLeader(l leaderAddr) {
	n.leaderMu.Lock()
	if n.leaderCache == l {
		n.leaderCache = leaderAddr{}
	}
	n.leaderMu.Unlock()
}

// waitLeader returns where to send a write, waiting up to Config.LeaderWait
// (and never past ctx) for a leader whose API address is known.
func (n *Node) waitLeader(ctx context.Context, r *raft.Raft) (leaderAddr, error) {
	if l, ok := n.lookupLeader(r); ok {
		return l, nil
	}
	timer := time.NewTimer(n.cfg.LeaderWait)
	defer timer.Stop()
	// A leader's member record can arrive without a change of leader, so
	// poll as well as listen.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		changed := n.leaderChange()
		if l, ok := n.lookupLeader(r); ok {
			return l, nil
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-timer.C:
			return leaderAddr{}, fmt.Errorf("%w after %s", ErrNoLeader, n.cfg.LeaderWait)
		case <-ctx.Done():
			return leaderAddr{}, fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
		case <-n.life.Done():
			return leaderAddr{}, ErrClosed
		}
	}
}

// forward sends an encoded command to the leader's API and, once it is
// committed, waits until this node has applied it.
func (n *Node) forward(ctx context.Context, l leaderAddr, data []byte) (uint64, error) {
	resp, err := n.postForward(ctx, l, data)
	if err != nil {
		return 0, err
	}
	// Close ends the wait too: the state file is about to go.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(n.life, cancel)
	defer stop()
	if err := n.fsm.WaitApplied(wctx, resp.Index); err != nil {
		if n.life.Err() != nil && ctx.Err() == nil {
			return resp.Index, fmt.Errorf("node: entry %d is committed; closed before applying it here: %w", resp.Index, ErrClosed)
		}
		return resp.Index, fmt.Errorf("node: entry %d is committed but not yet applied on this node: %w", resp.Index, err)
	}
	if resp.Error != nil {
		return resp.Index, resp.Error
	}
	return resp.Index, nil
}

func (n *Node) postForward(ctx context.Context, l leaderAddr, data []byte) (ForwardResponse, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*n.cfg.ApplyTimeout)
		defer cancel()
	}
	url := n.apiURL(l.apiAddr, ProposePath)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return ForwardResponse{}, fmt.Errorf("node: forward: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(ForwardedHeader, n.cfg.NodeID)
	res, err := n.peers.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ForwardResponse{}, fmt.Errorf("node: forward to leader %s, outcome unknown: %w", l.id, ctx.Err())
		}
		if isDialError(err) {
			// The request never left: nothing was written.
			return ForwardResponse{}, fmt.Errorf("%w: leader %s at %s unreachable: %v", ErrNotLeader, l.id, l.apiAddr, err)
		}
		return ForwardResponse{}, fmt.Errorf("%w: forward to leader %s at %s: %v", ErrLeadershipLost, l.id, l.apiAddr, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxCommandBytes))
	if err != nil {
		return ForwardResponse{}, fmt.Errorf("%w: read answer of leader %s: %v", ErrLeadershipLost, l.id, err)
	}
	var fr ForwardResponse
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &fr); err != nil {
			return ForwardResponse{}, fmt.Errorf("node: undecodable answer from leader %s: %w", l.id, err)
		}
		return fr, nil
	}
	return ForwardResponse{}, remoteError(l.apiAddr, res.StatusCode, body)
}

// remoteError turns a peer's error answer into node's sentinels where the
// code (or else the status) says which one, else a *RemoteError. A node of
// an older release may still answer "not_leader".
func remoteError(addr string, status int, body []byte) error {
	code, msg := decodeErrorBody(body)
	re := &RemoteError{Addr: addr, Status: status, Code: code, Message: msg}
	switch code {
	case "not_leader", CodeNoLeader:
		return fmt.Errorf("%w: %w", ErrNotLeader, re)
	case CodeLeadershipLost:
		return fmt.Errorf("%w: %w", ErrLeadershipLost, re)
	case CodeTimeout:
		return fmt.Errorf("%w: %w", ErrTimeout, re)
	case CodeUnauthorized:
		return fmt.Errorf("%w: %w", ErrUnauthorized, re)
	case CodeForbidden:
		return fmt.Errorf("%w: %w", ErrForbidden, re)
	}
	switch status {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", ErrUnauthorized, re)
	case http.StatusForbidden:
		return fmt.Errorf("%w: %w", ErrForbidden, re)
	case http.StatusServiceUnavailable:
		return fmt.Errorf("%w: %w", ErrNotLeader, re)
	}
	return re
}

// decodeErrorBody reads {"error": {"code", "message"}} or {"code", "message"}.
func decodeErrorBody(body []byte) (code, msg string) {
	var nested struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &nested) == nil && nested.Error != nil {
		return nested.Error.Code, nested.Error.Message
	}
	var flat struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &flat) == nil && (flat.Code != "" || flat.Message != "") {
		return flat.Code, flat.Message
	}
	return "", strings.TrimSpace(string(body[:min(len(body), 512)]))
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// apiURL builds the URL of path on the API at addr, which is host:port or an
// https URL (JoinAddrs may be either). Node-to-node HTTP is HTTPS only.
func (n *Node) apiURL(addr, path string) string {
	if rest, ok := strings.CutPrefix(addr, "https://"); ok {
		addr = strings.TrimRight(rest, "/")
	}
	return n.PeerURL(addr, path).String()
}
