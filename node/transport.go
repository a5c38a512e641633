package node

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

const (
	transportMaxPool = 3
	// handshakeTimeout bounds a TLS handshake on the raft port, so a peer
	// that connects and says nothing holds no goroutine for long.
	handshakeTimeout = 10 * time.Second
)

// streamLayer is the connection layer under raft's NetworkTransport: TCP
// with mutual TLS 1.3 between node certificates of the cluster CA. Both ends
// check the other's certificate (Node.verifyPeerChain): a peer without one,
// with one of another CA, of a removed node or of a node that is not a
// member is refused at the handshake, before raft reads a byte.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config
	client    func(raft.ServerAddress) *tls.Config
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// Accept returns the next connection; its TLS handshake runs on the first
// read, in raft's goroutine for that connection, not in the accept loop.
func (s *streamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &handshakeConn{Conn: tls.Server(c, s.server)}, nil
}

func (s *streamLayer) Close() error   { return s.ln.Close() }
func (s *streamLayer) Addr() net.Addr { return s.advertise }

func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return tls.DialWithDialer(d, "tcp", string(addr), s.client(addr))
}

// handshakeConn completes the server handshake, bounded in time, before the
// first read or write.
type handshakeConn struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (c *handshakeConn) handshake() error {
	c.once.Do(func() {
		_ = c.Conn.SetDeadline(time.Now().Add(handshakeTimeout))
		c.err = c.Conn.Handshake()
		_ = c.Conn.SetDeadline(time.Time{})
	})
	return c.err
}

func (c *handshakeConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *handshakeConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// listenRaft binds bind and resolves the address other nodes dial:
// advertise when given, else the bound address, which must then be a
// concrete IP.
func listenRaft(bind, advertise string) (net.Listener, net.Addr, error) {
	var adv net.Addr
	if advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			return nil, nil, fmt.Errorf("node: resolve raft advertise address %q: %w", advertise, err)
		}
		adv = a
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, nil, fmt.Errorf("node: listen for raft on %s: %w", bind, err)
	}
	if adv == nil {
		adv = ln.Addr()
	}
	if a, ok := adv.(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() || a.Port == 0 {
		ln.Close()
		return nil, nil, fmt.Errorf("node: raft address %s cannot be dialled by other nodes: set RaftAdvertise", adv)
	}
	return ln, adv, nil
}

// newTransport builds raft's network transport over the mutual-TLS stream
// layer on ln.
func (n *Node) newTransport(ln net.Listener, adv net.Addr) *raft.NetworkTransport {
	stream := &streamLayer{ln: ln, advertise: adv, server: n.raftServerTLS(), client: n.raftClientTLS}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  n.cfg.wrapStream(stream),
		MaxPool: transportMaxPool,
		// 1 turns pipelined replication off. With raft v1.7.3's default
		// (2) the pipeline's channels are unbuffered, and when its
		// response decoder stops (a response lost in a partition, a
		// follower with a newer term) while a request is in flight, the
		// sender and the decoder wait on each other for good: replication
		// to that follower wedges, heartbeats go on, and raft's Shutdown
		// waits forever (hashicorp/raft issue 612; grafana/pyroscope turned
		// pipelining off for it). TestNode_PartitionHealCloseNeverWedges
		// reproduces it. Raft's own measurements (PR 541) show pipelining
		// gains nothing on a LAN.
		MaxRPCsInFlight: 1,
		Timeout:         n.cfg.TransportTimeout,
		Logger:          newHCLog(n.cfg.Logger, "raft-net"),
	})
}
