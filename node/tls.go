package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node/clusterca"
)

// Sealer seals and opens secrets under the nodes' key-encryption key;
// *keywrap.Box implements it. The cluster CA's key exists only sealed by it.
type Sealer interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(sealed, additionalData []byte) ([]byte, error)
}

// Files of a node's TLS identity, in the data dir's tls/ (0700): the
// cluster CA's certificate, and the node's certificate with its key in one
// file (0600), so that one rename replaces both and a crash never leaves a
// certificate beside a key of another.
func tlsDir(dataDir string) string       { return filepath.Join(dataDir, "tls") }
func caCertPath(dataDir string) string   { return filepath.Join(tlsDir(dataDir), "ca.crt") }
func nodeCertPath(dataDir string) string { return filepath.Join(tlsDir(dataDir), "node.pem") }

// caKeyAAD binds the sealed cluster CA key to its purpose and cluster.
func caKeyAAD(clusterID string) []byte { return []byte("certctl cluster ca key\x00" + clusterID) }

// identityTLS is a node's TLS identity: the cluster CA and its own
// certificate, swapped whole when the certificate is renewed.
type identityTLS struct {
	ca   *clusterca.CA
	cert *tls.Certificate // leaf, then the CA: a joining node pins the CA
	leaf *x509.Certificate
}

// tlsState holds the current identity; nil until Open has one.
type tlsState struct {
	cur atomic.Pointer[identityTLS]
}

func (s *tlsState) load() *identityTLS { return s.cur.Load() }

// loadIdentityTLS reads tls/ of dataDir; found is false when it holds none.
func loadIdentityTLS(dataDir string) (id *identityTLS, found bool, err error) {
	caPEM, err := os.ReadFile(caCertPath(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("node: read cluster CA: %w", err)
	}
	ca, err := clusterca.Parse(caPEM, nil)
	if err != nil {
		return nil, false, fmt.Errorf("node: %s: %w", caCertPath(dataDir), err)
	}
	pair, err := os.ReadFile(nodeCertPath(dataDir))
	if err != nil {
		return nil, false, fmt.Errorf("node: read node certificate: %w", err)
	}
	defer clear(pair)
	id, err = newIdentityTLS(ca, pair, pair)
	if err != nil {
		return nil, false, fmt.Errorf("node: %s: %w", tlsDir(dataDir), err)
	}
	return id, true, nil
}

func newIdentityTLS(ca *clusterca.CA, certPEM, keyPEM []byte) (*identityTLS, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("node certificate and key: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	pair.Leaf = leaf
	pair.Certificate = append(pair.Certificate[:1], ca.Cert.Raw)
	return &identityTLS{ca: ca, cert: &pair, leaf: leaf}, nil
}

// saveIdentityTLS writes the CA's certificate, then the node's certificate
// and key together (0600), each file atomically, into tls/ (0700).
func saveIdentityTLS(dataDir string, caPEM, certPEM, keyPEM []byte) error {
	dir := tlsDir(dataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("node: create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := writeFileAtomic(caCertPath(dataDir), caPEM, 0o644); err != nil {
		return err
	}
	pair := append(append([]byte{}, certPEM...), keyPEM...)
	defer clear(pair)
	return writeFileAtomic(nodeCertPath(dataDir), pair, 0o600)
}

// writeFileAtomic replaces path with data (mode): a temporary file in the
// same directory, fsync, rename, fsync of the directory. A crash leaves the
// old file or the new one, never a mix.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("node: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	for _, step := range []func() error{
		func() error { return tmp.Chmod(mode) },
		func() error { _, err := tmp.Write(data); return err },
		tmp.Sync,
	} {
		if err := step(); err != nil {
			tmp.Close()
			return fmt.Errorf("node: write %s: %w", path, err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("node: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("node: write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// certHosts are the names a node certificate carries besides the node's id:
// the hosts of its raft and API addresses and the operator's extra names.
func (n *Node) certHosts(raftAddr string) []string {
	var hosts []string
	for _, a := range []string{raftAddr, n.cfg.APIAddr} {
		if h, _, err := net.SplitHostPort(a); err == nil && h != "" {
			if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
				continue
			}
			hosts = append(hosts, h)
		}
	}
	return append(hosts, n.cfg.TLSHosts...)
}

// issueSelf makes a new key and a node certificate for this node signed by
// ca (which holds its key), saves both and uses them.
func (n *Node) issueSelf(ca *clusterca.CA) (*identityTLS, error) {
	p, err := n.issueSelfPending(ca)
	if err != nil {
		return nil, err
	}
	if err := n.commitPending(p); err != nil {
		return nil, err
	}
	return p.identityTLS, nil
}

// signingCA opens the cluster CA's key from the replicated state. Every node
// holds the same key-encryption key, so any node can sign.
func (n *Node) signingCA() (*clusterca.CA, error) {
	stored, err := n.fsm.ClusterCA()
	if err != nil {
		return nil, err
	}
	clusterID, err := n.fsm.ClusterID()
	if err != nil {
		return nil, err
	}
	if n.cfg.Sealer == nil {
		return nil, errors.New("node: this node has no key-encryption key and cannot open the cluster CA's key")
	}
	sealed, err := base64.StdEncoding.DecodeString(stored.SealedKey)
	if err != nil {
		return nil, fmt.Errorf("node: the stored cluster CA key is not base64: %w", err)
	}
	keyPEM, err := n.cfg.Sealer.Open(sealed, caKeyAAD(clusterID))
	if err != nil {
		return nil, fmt.Errorf("node: open the cluster CA's key (is --kek-file the cluster's key-encryption key?): %w", err)
	}
	defer clear(keyPEM)
	return clusterca.Parse([]byte(stored.CertPEM), keyPEM)
}

// peerAllowed decides whether the node a verified certificate names may
// speak to this one: its certificate must not be revoked (it left the
// cluster), and it must be a voter of the raft configuration or a recorded
// member (certified by a join, about to be added). A node that hears from
// no leader accepts any node of the cluster whose certificate is not
// revoked: it may have missed a join while it was down, and refusing the
// newcomer, should it lead by now, would keep it behind for good.
func (n *Node) peerAllowed(nodeID string, leaf *x509.Certificate) error {
	revoked, err := n.fsm.NodeCertRevoked(clusterca.Serial(leaf))
	if err != nil {
		return err
	}
	if revoked {
		return &clusterca.PeerError{Reason: fmt.Sprintf("the certificate of node %s (serial %s) was revoked when it left the cluster", nodeID, clusterca.Serial(leaf))}
	}
	if nodeID == n.cfg.NodeID {
		return nil
	}
	r := n.raft.Load()
	if r == nil {
		return nil // joining or opening: no configuration to check against yet
	}
	servers := r.GetConfiguration().Configuration().Servers
	if len(servers) == 0 {
		return nil
	}
	if slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == nodeID }) {
		return nil
	}
	if _, err := n.fsm.Member(nodeID); err == nil {
		return nil
	}
	if _, lid := r.LeaderWithID(); lid == "" {
		n.log.Warn("accepting a node this node does not know yet: it hears from no leader and may be behind", "peer", nodeID)
		return nil
	}
	return &clusterca.PeerError{Reason: fmt.Sprintf("node %s is not a member of this cluster", nodeID)}
}

// verifyPeerChain checks a handshake's certificates: a node certificate of
// the cluster CA, of a node that may speak (peerAllowed). want, when not
// empty, is the node the caller meant to reach.
func (n *Node) verifyPeerChain(rawCerts [][]byte, want string) (string, error) {
	id := n.tls.load()
	if id == nil {
		return "", &clusterca.PeerError{Reason: "this node has no TLS identity yet"}
	}
	chain := make([]*x509.Certificate, 0, len(rawCerts))
	for _, raw := range rawCerts {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return "", &clusterca.PeerError{Reason: "unparsable certificate: " + err.Error()}
		}
		chain = append(chain, c)
	}
	nodeID, err := id.ca.VerifyNode(chain, n.cfg.Now())
	if err != nil {
		return "", err
	}
	if want != "" && nodeID != want {
		return "", &clusterca.PeerError{Reason: fmt.Sprintf("expected node %s, the certificate names node %s", want, nodeID)}
	}
	if err := n.peerAllowed(nodeID, chain[0]); err != nil {
		return "", err
	}
	return nodeID, nil
}

// raftServerTLS is the raft listener's configuration: TLS 1.3, a node
// certificate required of the dialer.
func (n *Node) raftServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAnyClientCert, // verified below, against the cluster CA and the membership
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return n.currentCert()
		},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := n.verifyPeerChain(raw, "")
			if err != nil {
				n.log.Warn("refused a raft connection", "err", err)
			}
			return err
		},
	}
}

// raftClientTLS is the configuration of a raft dial to addr: the server
// must be the node the configuration has at addr.
func (n *Node) raftClientTLS(addr raft.ServerAddress) *tls.Config {
	want := ""
	if r := n.raft.Load(); r != nil {
		for _, s := range r.GetConfiguration().Configuration().Servers {
			if s.Address == addr {
				want = string(s.ID)
			}
		}
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ServerName:         clusterca.ServerName,
		InsecureSkipVerify: true, // verified below: the cluster CA, the node named, its membership
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return n.currentCert()
		},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := n.verifyPeerChain(raw, want)
			return err
		},
	}
}

func (n *Node) currentCert() (*tls.Certificate, error) {
	id := n.tls.load()
	if id == nil {
		return nil, errors.New("node: no node certificate yet")
	}
	return id.cert, nil
}

// ServerTLSConfig is the configuration of the API's HTTPS listener. Callers
// asking for clusterca.ServerName (other nodes, a joining node) get the node
// certificate with the CA; everyone else gets operator's certificate when it
// returns one, else the node certificate. A client certificate is asked
// for, not required: nodes present theirs (PeerNode reads it), people and
// agents present none. operator may be nil.
func (n *Node) ServerTLSConfig(operator func() *tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		ClientAuth: tls.RequestClientCert,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if hello.ServerName != clusterca.ServerName && operator != nil {
				if c := operator(); c != nil {
					return c, nil
				}
			}
			return n.currentCert()
		},
	}
}

// PeerNode returns the node whose certificate r's TLS connection presented,
// when it is a node of this cluster that may speak (see peerAllowed). It is
// how /internal/... and node-to-node reads authenticate: never by a token.
func (n *Node) PeerNode(r *http.Request) (string, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", &clusterca.PeerError{Reason: "no node certificate presented"}
	}
	leaf := r.TLS.PeerCertificates[0]
	// Every request on a connection shares its certificates: the chain is
	// verified once per connection, membership and revocation every time.
	if id, ok := n.verifiedPeers.Load(leaf); ok && n.cfg.Now().Before(leaf.NotAfter) {
		if err := n.peerAllowed(id.(string), leaf); err != nil {
			return "", err
		}
		return id.(string), nil
	}
	raw := make([][]byte, len(r.TLS.PeerCertificates))
	for i, c := range r.TLS.PeerCertificates {
		raw[i] = c.Raw
	}
	id, err := n.verifyPeerChain(raw, "")
	if err != nil {
		return "", err
	}
	if n.verifiedCount.Add(1) > maxVerifiedPeers {
		n.verifiedPeers.Clear()
		n.verifiedCount.Store(0)
	}
	n.verifiedPeers.Store(leaf, id)
	return id, nil
}

// maxVerifiedPeers bounds the cache of verified peer certificates: a few
// per node and connection in a healthy cluster.
const maxVerifiedPeers = 1024

// newPeerTransport is the one client of node-to-node HTTP: mutual TLS with
// the node certificate, the server verified as a node of the cluster CA,
// keep-alive with a pool deep enough that 128 concurrent writes to the
// leader never open a connection each.
func (n *Node) newPeerTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil, // node-to-node traffic never goes through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
		// HTTP/1.1 with a pool of connections, not HTTP/2: multiplexing
		// every forwarded write over one connection cost a quarter of the
		// creates/s through a follower at 64 clients (BenchmarkClusterCreate).
		ForceAttemptHTTP2: false,
		TLSNextProto:      map[string]func(string, *tls.Conn) http.RoundTripper{},
		TLSClientConfig: &tls.Config{
			MinVersion:         tls.VersionTLS13,
			ServerName:         clusterca.ServerName,
			InsecureSkipVerify: true, // verified below
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return n.currentCert()
			},
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				_, err := n.verifyPeerChain(raw, "")
				return err
			},
		},
	}
}

// PeerTransport is the transport of node-to-node HTTP (mutual TLS between
// nodes of this cluster). The API uses it to reach other nodes.
func (n *Node) PeerTransport() http.RoundTripper { return n.peers.Transport }

// PeerURL is the URL of path on the API of the node at apiAddr (host:port,
// as recorded in the members bucket).
func (n *Node) PeerURL(apiAddr, path string) *url.URL {
	return &url.URL{Scheme: "https", Host: apiAddr, Path: path}
}

// CACertPEM returns the cluster CA certificate in PEM, or nil before this
// node has a TLS identity.
func (n *Node) CACertPEM() []byte {
	if id := n.tls.load(); id != nil {
		return id.ca.CertPEM()
	}
	return nil
}

// CAFingerprint returns the SHA-256 of the cluster CA's DER, hex.
func (n *Node) CAFingerprint() string {
	if id := n.tls.load(); id != nil {
		return id.ca.Fingerprint()
	}
	return ""
}

// NodeCertificate returns this node's current certificate, or nil.
func (n *Node) NodeCertificate() *x509.Certificate {
	if id := n.tls.load(); id != nil {
		return id.leaf
	}
	return nil
}

// renewCertLoop renews this node's certificate once a third of its lifetime
// is left, checking hourly, until the node closes.
func (n *Node) renewCertLoop() {
	defer n.wg.Done()
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		if err := n.renewCertIfDue(n.life); err != nil && n.life.Err() == nil {
			n.log.Warn("renewing the node certificate failed; retrying within the hour", "err", err)
		}
		select {
		case <-n.life.Done():
			return
		case <-tick.C:
		}
	}
}

// renewCertIfDue signs a new node certificate for this node with the
// cluster CA (any node can: the key is sealed under the shared
// key-encryption key), records it, then uses it.
func (n *Node) renewCertIfDue(ctx context.Context) error {
	cur := n.tls.load()
	if cur == nil {
		return nil
	}
	life := cur.leaf.NotAfter.Sub(cur.leaf.NotBefore)
	if n.cfg.Now().Before(cur.leaf.NotAfter.Add(-life / 3)) {
		return nil
	}
	ca, err := n.signingCA()
	if err != nil {
		return err
	}
	next, err := n.issueSelfPending(ca)
	if err != nil {
		return err
	}
	if !n.cfg.Now().Before(cur.leaf.NotAfter) {
		// Expired (the node was down that long): no peer takes it any
		// more, so a record could not reach the leader. Use the new one
		// now and record it once the cluster answers.
		if err := n.commitPending(next); err != nil {
			return err
		}
		n.wg.Add(1) // counted by renewCertLoop's own entry, never from zero
		go n.recordOwnCert()
		n.log.Warn("the node certificate had expired; signed a new one with the cluster CA", "serial", clusterca.Serial(next.leaf), "not_after", next.leaf.NotAfter)
		return nil
	}
	// Recorded before it is used: a removal from now on revokes it too.
	if _, err := n.proposeSystem(ctx, &fsm.RecordNodeCert{NodeID: n.cfg.NodeID, Serial: clusterca.Serial(next.leaf), NotAfter: next.leaf.NotAfter}); err != nil {
		return fmt.Errorf("node: record the renewed node certificate: %w", err)
	}
	if err := n.commitPending(next); err != nil {
		return err
	}
	n.log.Info("renewed the node certificate", "serial", clusterca.Serial(next.leaf), "not_after", next.leaf.NotAfter)
	return nil
}

// pendingIdentity is a renewed identity not yet in use.
type pendingIdentity struct {
	*identityTLS
	certPEM, keyPEM []byte
}

func (n *Node) issueSelfPending(ca *clusterca.CA) (*pendingIdentity, error) {
	key, err := clusterca.NewNodeKey()
	if err != nil {
		return nil, err
	}
	csr, err := clusterca.NodeCSR(key, n.cfg.NodeID)
	if err != nil {
		return nil, err
	}
	cert, err := ca.SignNode(csr, n.cfg.NodeID, n.certHosts(n.RaftAddr()), n.cfg.Now())
	if err != nil {
		return nil, err
	}
	keyPEM, err := clusterca.MarshalKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := clusterca.EncodeCert(cert)
	id, err := newIdentityTLS(&clusterca.CA{Cert: ca.Cert}, certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &pendingIdentity{identityTLS: id, certPEM: certPEM, keyPEM: keyPEM}, nil
}

func (n *Node) commitPending(p *pendingIdentity) error {
	defer clear(p.keyPEM)
	if err := saveIdentityTLS(n.cfg.DataDir, p.ca.CertPEM(), p.certPEM, p.keyPEM); err != nil {
		return err
	}
	n.tls.cur.Store(p.identityTLS)
	// Pooled connections were made with the old certificate.
	n.peers.CloseIdleConnections()
	return nil
}

// sealedCAKeyPath is where the bootstrapping node keeps the cluster CA's
// sealed key until the state holds it.
func sealedCAKeyPath(dataDir string) string { return filepath.Join(tlsDir(dataDir), "ca.key.sealed") }

// replicateClusterCA stores the cluster CA in the replicated state if it is
// not there yet and this node made it (a leader's duty, see tendMembership).
func (n *Node) replicateClusterCA(ctx context.Context) error {
	if _, err := n.fsm.ClusterCA(); err == nil {
		return nil
	} else if !errors.Is(err, fsm.ErrNotFound) {
		return err
	}
	sealed, err := os.ReadFile(sealedCAKeyPath(n.cfg.DataDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil // another node made it; its leadership will replicate it
	}
	if err != nil {
		return fmt.Errorf("node: read the sealed cluster CA key: %w", err)
	}
	id := n.tls.load()
	if id == nil {
		return errors.New("node: no TLS identity to take the cluster CA from")
	}
	// Sealed bytes are binary: base64 keeps them whole in the state's JSON.
	ca := fsm.ClusterCA{CertPEM: string(id.ca.CertPEM()), SealedKey: base64.StdEncoding.EncodeToString(sealed), Fingerprint: id.ca.Fingerprint()}
	if _, err := n.proposeSystem(ctx, &fsm.SetClusterCA{CA: ca}); err != nil {
		return fmt.Errorf("node: replicate the cluster CA: %w", err)
	}
	n.log.Info("replicated the cluster CA", "ca_fingerprint", ca.Fingerprint)
	return nil
}

// recordOwnCert records this node's certificate in its member record if it
// is not there (the bootstrapping node's, or one signed at a restart),
// retrying until it lands or the node closes.
func (n *Node) recordOwnCert() {
	defer n.wg.Done()
	backoff := 100 * time.Millisecond
	for {
		id := n.tls.load()
		if id == nil {
			return
		}
		serial := clusterca.Serial(id.leaf)
		m, err := n.fsm.Member(n.cfg.NodeID)
		if err == nil && slices.Contains(m.CertSerials, serial) {
			return
		}
		ctx, cancel := context.WithTimeout(n.life, 10*time.Second)
		_, err = n.proposeSystem(ctx, &fsm.RecordNodeCert{NodeID: n.cfg.NodeID, Serial: serial, NotAfter: id.leaf.NotAfter})
		cancel()
		if err == nil {
			return
		}
		n.log.Debug("recording this node's certificate failed; retrying", "err", err)
		if !sleepCtx(n.life, backoff) {
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// NewJoinToken makes a join token for this cluster: a fresh id and secret,
// and the cluster CA's fingerprint. Propose fsm.CreateJoinToken with its id
// and SecretHash for it to be accepted.
func (n *Node) NewJoinToken() (clusterca.JoinToken, error) {
	fp := n.CAFingerprint()
	if fp == "" {
		return clusterca.JoinToken{}, errors.New("node: no cluster CA yet")
	}
	return clusterca.NewJoinToken(fp)
}

// CreateJoinToken makes a join token valid for ttl and uses joins and
// proposes it on behalf of the node itself (the token printed at bootstrap).
// The returned string is the only copy of its secret.
func (n *Node) CreateJoinToken(ctx context.Context, ttl time.Duration, uses int) (string, error) {
	tok, err := n.NewJoinToken()
	if err != nil {
		return "", err
	}
	if _, err := n.proposeSystem(ctx, &fsm.CreateJoinToken{ID: tok.ID, Hash: tok.SecretHash(), TTL: ttl, Uses: uses}); err != nil {
		return "", err
	}
	return tok.String(), nil
}

// TLSFiles names the files of a node's TLS identity in dataDir: the cluster
// CA certificate, and the node certificate and its key (one file, both
// PEM). Tools read them (a CLI on the node, tests); nothing but the node
// writes them.
func TLSFiles(dataDir string) (caCert, nodeCert, nodeKey string) {
	return caCertPath(dataDir), nodeCertPath(dataDir), nodeCertPath(dataDir)
}
