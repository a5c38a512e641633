package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node/clusterca"
)

// JoinRequest is a new node's request for a node certificate, sent with a
// join token to any member (JoinPath).
type JoinRequest struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	// CSR is the node's certificate request, PEM; its key never leaves the
	// node.
	CSR string `json:"csr"`
	// Hosts are names the node's certificate carries besides the hosts of
	// its addresses (its tls_sans).
	Hosts []string `json:"hosts,omitempty"`
	// Token is the join token the request carried; the API sets it from
	// the Authorization header.
	Token string `json:"-"`
}

// JoinResponse is the answer to a join: the node's certificate and the
// cluster CA's.
type JoinResponse struct {
	ClusterID string     `json:"cluster_id"`
	Leader    LeaderInfo `json:"leader"`
	CertPEM   string     `json:"cert_pem"`
	CAPEM     string     `json:"ca_pem"`
}

// AddVoterRequest asks the leader to make a node with a certificate of this
// cluster a voter (AddVoterPath, node certificate only).
type AddVoterRequest struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
}

// LeaderInfo names a node and its addresses.
type LeaderInfo struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
}

func validAddrs(raftAddr, apiAddr string) error {
	for _, f := range []struct{ name, v string }{{"raft_addr", raftAddr}, {"api_addr", apiAddr}} {
		if _, _, err := net.SplitHostPort(f.v); err != nil {
			return &fsm.Error{Code: fsm.CodeInvalid, Field: f.name, Message: fmt.Sprintf("%s %q is not host:port", f.name, f.v)}
		}
	}
	return nil
}

func (req JoinRequest) validate() ([]byte, error) {
	if err := fsm.ValidID("node_id", req.NodeID); err != nil {
		return nil, err
	}
	if err := validAddrs(req.RaftAddr, req.APIAddr); err != nil {
		return nil, err
	}
	for _, h := range req.Hosts {
		if err := validTLSHost(h); err != nil {
			return nil, &fsm.Error{Code: fsm.CodeInvalid, Field: "hosts", Message: err.Error()}
		}
	}
	b, _ := pem.Decode([]byte(req.CSR))
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Field: "csr", Message: "csr must be a PEM CERTIFICATE REQUEST"}
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Field: "csr", Message: "csr: " + err.Error()}
	}
	if len(csr.URIs) != 1 || csr.URIs[0].String() != clusterca.NodeURI(req.NodeID).String() {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Field: "csr", Message: "the csr must name node " + req.NodeID + " (URI " + clusterca.NodeURI(req.NodeID).String() + ")"}
	}
	return b.Bytes, nil
}

// HandleJoin admits a new node on any member: it checks the join token's
// form, signs the node's CSR with the cluster CA and proposes
// ConsumeJoinToken, which spends one use of the token and records the node
// as a member with that certificate; the state machine refuses an unknown,
// expired, revoked or used-up token (ErrUnauthorized, 401). The token is
// checked here and goes no further: only its hash is proposed. The node then
// asks to become a voter with its new certificate (HandleAddVoter).
func (n *Node) HandleJoin(ctx context.Context, req JoinRequest) (JoinResponse, error) {
	tok, err := clusterca.ParseJoinToken(req.Token)
	if err != nil {
		return JoinResponse{}, fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	if tok.CAFingerprint != n.CAFingerprint() {
		return JoinResponse{}, fmt.Errorf("%w: the join token is for another cluster (its CA fingerprint is not this cluster's)", ErrUnauthorized)
	}
	csrDER, err := req.validate()
	if err != nil {
		return JoinResponse{}, err
	}
	r, err := n.raftOrErr()
	if err != nil {
		return JoinResponse{}, err
	}
	cf := r.GetConfiguration()
	if err := waitFuture(ctx, cf); err != nil {
		return JoinResponse{}, n.raftError(ctx, err)
	}
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == req.NodeID {
			return JoinResponse{}, &fsm.Error{Code: fsm.CodeConflict, Resource: "cluster_member", ID: req.NodeID,
				Message: fmt.Sprintf("node %s is a member of this cluster; to join again under this id, remove it first (certctl operator raft remove-peer %s)", req.NodeID, req.NodeID)}
		}
	}
	clusterID, err := n.waitClusterID(ctx)
	if err != nil {
		return JoinResponse{}, err
	}
	ca, err := n.signingCA()
	if err != nil {
		return JoinResponse{}, err
	}
	hosts := append([]string{hostOf(req.RaftAddr), hostOf(req.APIAddr)}, req.Hosts...)
	cert, err := ca.SignNode(csrDER, req.NodeID, hosts, n.cfg.Now())
	if err != nil {
		return JoinResponse{}, &fsm.Error{Code: fsm.CodeInvalid, Field: "csr", Message: err.Error()}
	}
	m := fsm.Member{NodeID: req.NodeID, RaftAddr: req.RaftAddr, APIAddr: req.APIAddr}
	if _, err := n.proposeAs(ctx, "node:"+req.NodeID, &fsm.ConsumeJoinToken{ID: tok.ID, Hash: tok.SecretHash(), Member: m,
		CertSerial: clusterca.Serial(cert), CertNotAfter: cert.NotAfter}); err != nil {
		var domain *fsm.Error
		if errors.As(err, &domain) && domain.Code == fsm.CodeUnauthorized {
			return JoinResponse{}, fmt.Errorf("%w: %s", ErrUnauthorized, domain.Message)
		}
		return JoinResponse{}, err
	}
	n.log.Info("admitted a node", "joiner", req.NodeID, "raft_addr", req.RaftAddr, "api_addr", req.APIAddr, "join_token", tok.ID, "serial", clusterca.Serial(cert))
	lid, lraft, lapi := n.Leader()
	return JoinResponse{
		ClusterID: clusterID,
		Leader:    LeaderInfo{NodeID: lid, RaftAddr: lraft, APIAddr: lapi},
		CertPEM:   string(clusterca.EncodeCert(cert)),
		CAPEM:     string(ca.CertPEM()),
	}, nil
}

// HandleAddVoter makes the node a voter, on the leader. peer is the node the
// request's certificate names; forwardedBy is set when another node relays
// the request (it was checked there). A node may only add itself. On a
// follower it forwards the request once to the leader.
func (n *Node) HandleAddVoter(ctx context.Context, peer, forwardedBy string, req AddVoterRequest) (LeaderInfo, error) {
	if err := fsm.ValidID("node_id", req.NodeID); err != nil {
		return LeaderInfo{}, err
	}
	if err := validAddrs(req.RaftAddr, req.APIAddr); err != nil {
		return LeaderInfo{}, err
	}
	if forwardedBy == "" && peer != req.NodeID {
		return LeaderInfo{}, fmt.Errorf("%w: node %s may only add itself, not %s", ErrForbidden, peer, req.NodeID)
	}
	r, err := n.raftOrErr()
	if err != nil {
		return LeaderInfo{}, err
	}
	if r.State() != raft.Leader {
		if forwardedBy != "" {
			return LeaderInfo{}, ErrNotLeader
		}
		l, err := n.waitLeader(ctx, r)
		if err != nil {
			return LeaderInfo{}, err
		}
		if !l.self {
			return n.postAddVoter(ctx, l.apiAddr, req, true)
		}
	}
	if req.NodeID == n.cfg.NodeID || req.RaftAddr == n.RaftAddr() {
		return LeaderInfo{}, &fsm.Error{Code: fsm.CodeConflict, Resource: "cluster_member", ID: req.NodeID,
			Message: fmt.Sprintf("node %s at %s is the leader of this cluster; a joining node needs its own id and address", n.cfg.NodeID, n.RaftAddr())}
	}
	// The leader has applied every write it acknowledged, the joiner's
	// admission (ConsumeJoinToken) included.
	if _, err := n.fsm.Member(req.NodeID); err != nil {
		return LeaderInfo{}, fmt.Errorf("%w: node %s was not admitted with a join token: %v", ErrForbidden, req.NodeID, err)
	}
	if err := n.addVoter(ctx, r, req); err != nil {
		return LeaderInfo{}, err
	}
	m := fsm.Member{NodeID: req.NodeID, RaftAddr: req.RaftAddr, APIAddr: req.APIAddr}
	if _, err := n.proposeSystem(ctx, &fsm.RegisterMember{Member: m}); err != nil {
		return LeaderInfo{}, fmt.Errorf("node: record member %s: %w", req.NodeID, err)
	}
	n.log.Info("node joined", "joiner", req.NodeID, "raft_addr", req.RaftAddr, "api_addr", req.APIAddr)
	return LeaderInfo{NodeID: n.cfg.NodeID, RaftAddr: n.RaftAddr(), APIAddr: n.cfg.APIAddr}, nil
}

func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

// waitClusterID waits for the leader's first duty (InitCluster) to land.
func (n *Node) waitClusterID(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		id, err := n.fsm.ClusterID()
		if err != nil {
			return "", err
		}
		if id != "" {
			return id, nil
		}
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return "", fmt.Errorf("%w: the cluster has no id yet: %w", ErrNoLeader, ctx.Err())
		}
	}
}

// addVoter makes req a voter, cleaning up stale entries for its id or address.
func (n *Node) addVoter(ctx context.Context, r *raft.Raft, req AddVoterRequest) error {
	id, addr := raft.ServerID(req.NodeID), raft.ServerAddress(req.RaftAddr)
	cf := r.GetConfiguration()
	if err := waitFuture(ctx, cf); err != nil {
		return n.raftError(ctx, err)
	}
	for _, s := range cf.Configuration().Servers {
		switch {
		case s.ID == id && s.Address == addr:
			if s.Suffrage == raft.Voter {
				return nil
			}
			// A non-voter at the right address: AddVoter promotes it.
		case s.ID == id || s.Address == addr:
			n.log.Info("removing stale server before join", "id", s.ID, "addr", s.Address, "joiner", id)
			if err := waitFuture(ctx, r.RemoveServer(s.ID, 0, n.cfg.ApplyTimeout)); err != nil {
				return n.raftError(ctx, err)
			}
			if s.ID != id {
				if err := n.removeMember(ctx, string(s.ID)); err != nil {
					return err
				}
			}
		}
	}
	if err := waitFuture(ctx, r.AddVoter(id, addr, 0, n.cfg.ApplyTimeout)); err != nil {
		return n.raftError(ctx, err)
	}
	return nil
}

// Remove takes a node out of the cluster: out of the raft configuration and
// out of the members bucket. It runs on the leader (ErrNotLeader elsewhere).
// Removing the leader itself records the removal first; the leader then
// steps down and shuts its raft down. A node id unknown to both returns the
// fsm's not-found error.
func (n *Node) Remove(ctx context.Context, nodeID string) error {
	r, err := n.raftOrErr()
	if err != nil {
		return err
	}
	if r.State() != raft.Leader {
		return ErrNotLeader
	}
	cf := r.GetConfiguration()
	if err := waitFuture(ctx, cf); err != nil {
		return n.raftError(ctx, err)
	}
	inConfig := false
	for _, s := range cf.Configuration().Servers {
		inConfig = inConfig || string(s.ID) == nodeID
	}
	if !inConfig {
		_, err := n.proposeSystem(ctx, &fsm.RemoveMember{NodeID: nodeID})
		return err
	}
	if nodeID == n.cfg.NodeID {
		if err := n.removeMember(ctx, nodeID); err != nil {
			return err
		}
		return n.raftError(ctx, waitFuture(ctx, r.RemoveServer(raft.ServerID(nodeID), 0, n.cfg.ApplyTimeout)))
	}
	if err := waitFuture(ctx, r.RemoveServer(raft.ServerID(nodeID), 0, n.cfg.ApplyTimeout)); err != nil {
		return n.raftError(ctx, err)
	}
	n.log.Info("node removed", "removed", nodeID)
	return n.removeMember(ctx, nodeID)
}

// removeMember proposes RemoveMember, treating an absent member as done.
func (n *Node) removeMember(ctx context.Context, nodeID string) error {
	_, err := n.proposeSystem(ctx, &fsm.RemoveMember{NodeID: nodeID})
	if errors.Is(err, fsm.ErrNotFound) {
		return nil
	}
	return err
}

// certify buys this node's certificate with the join token from the nodes
// at Config.JoinAddrs, in turn and with backoff, for up to
// Config.JoinTimeout, and saves it with the cluster CA. The node it asks is
// checked against the CA fingerprint in the token before anything is sent.
// A refused token or request ends it at once.
func (n *Node) certify(ctx context.Context, raftAddr string) error {
	if n.cfg.JoinToken == "" {
		return errors.New("node: joining a cluster needs a join token (certctl operator join-token create on a member)")
	}
	tok, err := clusterca.ParseJoinToken(n.cfg.JoinToken)
	if err != nil {
		return err
	}
	key, err := clusterca.NewNodeKey()
	if err != nil {
		return err
	}
	csr, err := clusterca.NodeCSR(key, n.cfg.NodeID)
	if err != nil {
		return err
	}
	keyPEM, err := clusterca.MarshalKey(key)
	if err != nil {
		return err
	}
	defer clear(keyPEM)
	req := JoinRequest{NodeID: n.cfg.NodeID, RaftAddr: raftAddr, APIAddr: n.cfg.APIAddr, Hosts: n.cfg.TLSHosts,
		CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))}
	client := pinnedClient(tok.CAFingerprint)
	defer client.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(ctx, n.cfg.JoinTimeout)
	defer cancel()
	backoff := 100 * time.Millisecond
	var lastErr error
	for {
		for _, addr := range n.cfg.JoinAddrs {
			resp, err := n.postJoin(ctx, client, addr, req, tok)
			if err == nil {
				return n.acceptJoin(resp, tok, keyPEM)
			}
			if fatalJoinError(err) {
				return refusal(addr, "the join", err)
			}
			n.log.Debug("join attempt failed", "addr", addr, "err", err)
			lastErr = err
		}
		if !sleepCtx(ctx, backoff) {
			return fmt.Errorf("node: could not join the cluster via %s within %s: %w",
				strings.Join(n.cfg.JoinAddrs, ", "), n.cfg.JoinTimeout, lastErr)
		}
		backoff = min(2*backoff, 3*time.Second)
	}
}

// acceptJoin checks the answer to a join and saves the identity it holds.
func (n *Node) acceptJoin(resp JoinResponse, tok clusterca.JoinToken, keyPEM []byte) error {
	ca, err := clusterca.Parse([]byte(resp.CAPEM), nil)
	if err != nil {
		return fmt.Errorf("node: join answer: %w", err)
	}
	if ca.Fingerprint() != tok.CAFingerprint {
		return fmt.Errorf("node: join answer: the CA is not the one the join token names")
	}
	id, err := newIdentityTLS(ca, []byte(resp.CertPEM), keyPEM)
	if err != nil {
		return fmt.Errorf("node: join answer: %w", err)
	}
	if _, err := ca.VerifyNode([]*x509.Certificate{id.leaf}, n.cfg.Now()); err != nil {
		return fmt.Errorf("node: join answer: %w", err)
	}
	if err := n.checkIdentity(id); err != nil {
		return err
	}
	if resp.ClusterID == "" {
		return errors.New("node: join answer has no cluster id")
	}
	if err := saveIdentityTLS(n.cfg.DataDir, []byte(resp.CAPEM), []byte(resp.CertPEM), keyPEM); err != nil {
		return err
	}
	n.tls.cur.Store(id)
	return n.recordClusterID(resp.ClusterID)
}

// pinnedClient is the client of a join: it trusts the server only if it
// presents a chain holding the CA whose SHA-256 is fingerprint, and a leaf
// signed by it (the CA fingerprint travels in the join token).
func pinnedClient(fingerprint string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout: 5 * time.Second,
		TLSClientConfig: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			ServerName:         clusterca.ServerName,
			InsecureSkipVerify: true, // verified below against the pinned CA
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				var chain []*x509.Certificate
				var pinned *x509.Certificate
				for _, r := range raw {
					c, err := x509.ParseCertificate(r)
					if err != nil {
						return err
					}
					chain = append(chain, c)
					if clusterca.Fingerprint(c) == fingerprint {
						pinned = c
					}
				}
				if pinned == nil {
					return errPinMismatch
				}
				_, err := (&clusterca.CA{Cert: pinned}).VerifyNode(chain, time.Now())
				return err
			},
		},
	}}
}

// RefusedError is a join (or the request to become a voter) that the
// member at Addr refused for good; Message is what it said. It unwraps to
// the cause (ErrUnauthorized for a bad join token).
type RefusedError struct {
	Addr, What, Message string
	Err                 error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("node: %s refused %s: %s", e.Addr, e.What, e.Message)
}

func (e *RefusedError) Unwrap() error { return e.Err }

func refusal(addr, what string, err error) error {
	msg := err.Error()
	var re *RemoteError
	if errors.As(err, &re) && re.Message != "" {
		msg = strings.TrimPrefix(re.Message, "node: unauthorized: ")
	}
	return &RefusedError{Addr: addr, What: what, Message: msg, Err: err}
}

// errPinMismatch: the node a join went to is not of the cluster the token
// names (a wrong address, or someone in between).
var errPinMismatch = errors.New("node: the server's certificate is not from the cluster CA the join token names; refusing to send the token")

// fatalJoinError reports whether retrying a join cannot help.
func fatalJoinError(err error) bool {
	if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) || errors.Is(err, errPinMismatch) {
		return true
	}
	var re *RemoteError
	return errors.As(err, &re) && re.Status >= 400 && re.Status < 500 && re.Status != http.StatusRequestTimeout && re.Status != http.StatusTooManyRequests
}

// postJoin sends req to the join endpoint at addr with the token.
func (n *Node) postJoin(ctx context.Context, client *http.Client, addr string, req JoinRequest, tok clusterca.JoinToken) (JoinResponse, error) {
	var resp JoinResponse
	err := postJSON(ctx, client, n.apiURL(addr, JoinPath), req, &resp, func(h http.Header) {
		h.Set("Authorization", "Bearer "+tok.String())
	})
	return resp, err
}

// addSelf asks the cluster, with this node's new certificate, to make it a
// voter, through the nodes at JoinAddrs in turn, for up to JoinTimeout.
func (n *Node) addSelf(ctx context.Context, raftAddr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.JoinTimeout)
	defer cancel()
	req := AddVoterRequest{NodeID: n.cfg.NodeID, RaftAddr: raftAddr, APIAddr: n.cfg.APIAddr}
	backoff := 100 * time.Millisecond
	var lastErr error
	for {
		for _, addr := range n.cfg.JoinAddrs {
			l, err := n.postAddVoter(ctx, addr, req, false)
			if err == nil {
				return l.NodeID, nil
			}
			if fatalJoinError(err) {
				return "", refusal(addr, "this node as a voter", err)
			}
			n.log.Debug("add-voter attempt failed", "addr", addr, "err", err)
			lastErr = err
		}
		if !sleepCtx(ctx, backoff) {
			return "", fmt.Errorf("node: could not become a voter via %s within %s: %w",
				strings.Join(n.cfg.JoinAddrs, ", "), n.cfg.JoinTimeout, lastErr)
		}
		backoff = min(2*backoff, 3*time.Second)
	}
}

// postAddVoter sends req to AddVoterPath at addr over mutual TLS.
func (n *Node) postAddVoter(ctx context.Context, addr string, req AddVoterRequest, forwarded bool) (LeaderInfo, error) {
	var l LeaderInfo
	err := postJSON(ctx, n.peers, n.apiURL(addr, AddVoterPath), req, &l, func(h http.Header) {
		if forwarded {
			h.Set(ForwardedHeader, n.cfg.NodeID)
		}
	})
	return l, err
}

// postJSON posts body as JSON to url and decodes a 200 answer into out.
func postJSON(ctx context.Context, client *http.Client, url string, body, out any, header func(http.Header)) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("node: encode request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("node: request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	header(hr.Header)
	res, err := client.Do(hr)
	if err != nil {
		return fmt.Errorf("node: %s: %w", url, err)
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("node: %s: %w", url, err)
	}
	if res.StatusCode != http.StatusOK {
		return remoteError(hr.URL.Host, res.StatusCode, rb)
	}
	if err := json.Unmarshal(rb, out); err != nil {
		return fmt.Errorf("node: undecodable answer from %s: %w", url, err)
	}
	return nil
}

// clusterCheckTimeout bounds the start-up check of the cluster id, so a
// restart is never held up by unreachable peers.
const clusterCheckTimeout = 5 * time.Second

// checkCluster asks the nodes at JoinAddrs which cluster they belong to and
// refuses to start if the first that answers names another one than local.
// If none answers in time the node starts anyway.
func (n *Node) checkCluster(ctx context.Context, local string) error {
	ctx, cancel := context.WithTimeout(ctx, clusterCheckTimeout)
	defer cancel()
	for _, addr := range n.cfg.JoinAddrs {
		remote, err := n.remoteClusterID(ctx, addr)
		var pe *clusterca.PeerError
		if errors.As(err, &pe) && pe.ForeignCA {
			return &ClusterMismatchError{DataDir: n.cfg.DataDir, LocalCluster: local, JoinAddr: addr,
				RemoteCluster: "another cluster (its node certificate is not from this cluster's CA)"}
		}
		if err != nil {
			n.log.Debug("cluster id check: no answer", "addr", addr, "err", err)
			continue
		}
		if remote == "" {
			continue
		}
		if remote != local {
			return &ClusterMismatchError{DataDir: n.cfg.DataDir, LocalCluster: local, JoinAddr: addr, RemoteCluster: remote}
		}
		return nil
	}
	n.log.Warn("no join address answered; starting without checking the cluster id", "join_addrs", n.cfg.JoinAddrs)
	return nil
}

// remoteClusterID reads the cluster id the API at addr reports.
func (n *Node) remoteClusterID(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, n.apiURL(addr, ClusterPath), nil)
	if err != nil {
		return "", err
	}
	res, err := n.peers.Do(hr)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", remoteError(addr, res.StatusCode, b)
	}
	var info struct {
		ClusterID string `json:"cluster_id"`
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return "", fmt.Errorf("node: undecodable cluster info from %s: %w", addr, err)
	}
	return info.ClusterID, nil
}
