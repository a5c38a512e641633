package node

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

const transportMaxPool = 3

// streamLayer is the connection layer under raft's NetworkTransport. The TCP
// layer here is where the mTLS layer plugs in: wrap the listener and the
// dialer, keep Addr the advertised address.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func (s *streamLayer) Accept() (net.Conn, error) { return s.ln.Accept() }
func (s *streamLayer) Close() error              { return s.ln.Close() }
func (s *streamLayer) Addr() net.Addr            { return s.advertise }

func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}

// newTCPStreamLayer binds bind and resolves the address other nodes dial:
// advertise when given, else the bound address, which must then be a
// concrete IP.
func newTCPStreamLayer(bind, advertise string) (*streamLayer, error) {
	var adv net.Addr
	if advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			return nil, fmt.Errorf("node: resolve raft advertise address %q: %w", advertise, err)
		}
		adv = a
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("node: listen for raft on %s: %w", bind, err)
	}
	if adv == nil {
		adv = ln.Addr()
	}
	if a, ok := adv.(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() || a.Port == 0 {
		ln.Close()
		return nil, fmt.Errorf("node: raft address %s cannot be dialled by other nodes: set RaftAdvertise", adv)
	}
	return &streamLayer{ln: ln, advertise: adv}, nil
}

// newTransport builds raft's network transport over the TCP stream layer.
func newTransport(cfg Config) (*raft.NetworkTransport, error) {
	stream, err := newTCPStreamLayer(cfg.RaftAddr, cfg.RaftAdvertise)
	if err != nil {
		return nil, err
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  cfg.wrapStream(stream),
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
		Timeout:         cfg.TransportTimeout,
		Logger:          newHCLog(cfg.Logger, "raft-net"),
	}), nil
}
