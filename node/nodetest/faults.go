package nodetest

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/certctl/certctl/node"
)

// Network injects network faults between the raft transports of in-process
// nodes: give each node Wrap(its id) as node.Config.WrapStream (WithNetwork
// does it for a Cluster), then Cut, Isolate and Heal links between them.
//
// A cut link behaves as a partition does to TCP, roughly: nothing crosses
// it, yet nothing fails at once.
//   - A dial across it sends a SYN that is lost. Like Linux, the dial sends
//     it again 1, 3, 7, 15 and 31 s after it started and connects at the
//     first of those after the heal; it fails when its timeout runs out.
//   - A connection that writes, or waits for an answer, while its link is
//     cut stalls: writes succeed (the kernel buffers them), reads return
//     nothing. After the heal its data flows again at its next
//     retransmission: 0.2, 0.6, 1.4, 3.0, 6.2, ... s after it first lost
//     data (an RTO of 200 ms, doubling). Nothing is lost or reordered; a
//     read deadline that passes first fails the read, as it would.
//   - A connection idle for the whole cut is untouched.
//
// Only the dialling side is wrapped: every raft connection is dialled by the
// node that sends requests on it, so its wrapper holds both directions.
type Network struct {
	mu    sync.Mutex
	ids   map[string]string // raft address -> node id
	cut   map[link]bool
	delay map[link]time.Duration
	mtu   map[link]int
	conns map[*faultConn]struct{}
}

// link is an unordered pair of node ids.
type link struct{ a, b string }

func linkOf(a, b string) link {
	if a > b {
		a, b = b, a
	}
	return link{a, b}
}

// NewNetwork returns a Network with every link up.
func NewNetwork() *Network {
	return &Network{ids: map[string]string{}, cut: map[link]bool{}, delay: map[link]time.Duration{}, mtu: map[link]int{}, conns: map[*faultConn]struct{}{}}
}

// WithNetwork puts every member of a Cluster on nw.
func WithNetwork(nw *Network) Option {
	return WithConfig(func(c *node.Config) { c.WrapStream = nw.Wrap(c.NodeID) })
}

// Wrap returns the node.Config.WrapStream of node id.
func (nw *Network) Wrap(id string) func(raft.StreamLayer) raft.StreamLayer {
	return func(s raft.StreamLayer) raft.StreamLayer {
		nw.mu.Lock()
		nw.ids[s.Addr().String()] = id
		nw.mu.Unlock()
		return &faultLayer{StreamLayer: s, nw: nw, id: id}
	}
}

// Cut partitions nodes a and b from each other.
func (nw *Network) Cut(a, b string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.cutLocked(linkOf(a, b))
}

// Isolate cuts id from every other node the Network knows.
func (nw *Network) Isolate(id string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, other := range nw.ids {
		if other != id {
			nw.cutLocked(linkOf(id, other))
		}
	}
}

func (nw *Network) cutLocked(l link) {
	nw.cut[l] = true
	// A connection waiting for an answer now would lose it.
	for c := range nw.conns {
		if c.link == l {
			c.stallIfReading()
		}
	}
}

// DropLarge makes the link between a and b lose every write larger than
// size bytes, as a path MTU black hole does (a router drops the large
// packets and the ICMP that would say so): small frames such as raft's
// heartbeats cross, and a connection that writes a large one stalls as it
// would on a cut link. Heal ends it.
func (nw *Network) DropLarge(a, b string, size int) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.mtu[linkOf(a, b)] = size
}

// Heal brings every link up and ends DropLarge. Stalled connections resume
// at their next retransmission.
func (nw *Network) Heal() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	clear(nw.cut)
	clear(nw.mtu)
	now := time.Now()
	for c := range nw.conns {
		c.scheduleRevival(now)
	}
}

// Delay holds every write between a and b for d before it is sent (0 ends
// the delay).
func (nw *Network) Delay(a, b string, d time.Duration) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.delay[linkOf(a, b)] = d
}

func (nw *Network) isCut(l link) bool {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.cut[l]
}

func (nw *Network) mtuOf(l link) int {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.mtu[l]
}

func (nw *Network) delayOf(l link) time.Duration {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.delay[l]
}

func (nw *Network) peerOf(addr string) string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.ids[addr]
}

// synRetries are when Linux sends a SYN again after a dial starts.
var synRetries = []time.Duration{0, 1 * time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second, 31 * time.Second}

const (
	rtoInitial = 200 * time.Millisecond
	rtoMax     = 120 * time.Second
)

type faultLayer struct {
	raft.StreamLayer
	nw *Network
	id string
}

func (l *faultLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	peer := l.nw.peerOf(string(addr))
	lk := linkOf(l.id, peer)
	start := time.Now()
	for _, at := range synRetries {
		if timeout > 0 && at >= timeout {
			break
		}
		time.Sleep(time.Until(start.Add(at)))
		if peer == "" || !l.nw.isCut(lk) {
			conn, err := l.StreamLayer.Dial(addr, timeout-time.Since(start))
			if err != nil {
				return nil, err
			}
			return l.nw.track(conn, lk), nil
		}
	}
	time.Sleep(time.Until(start.Add(timeout)))
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
}

func (nw *Network) track(conn net.Conn, l link) *faultConn {
	c := &faultConn{Conn: conn, nw: nw, link: l, closed: make(chan struct{})}
	nw.mu.Lock()
	nw.conns[c] = struct{}{}
	nw.mu.Unlock()
	return c
}

// faultConn is a dialled raft connection on a link of a Network.
type faultConn struct {
	net.Conn
	nw   *Network
	link link

	wmu  sync.Mutex // orders writes, and the flush of held data before them
	werr error      // the flush's error, returned by every later write

	mu       sync.Mutex
	stalled  bool
	lostAt   time.Time     // when it first lost data in this stall
	revived  chan struct{} // closed when the stall ends
	timer    *time.Timer   // the revival, once scheduled
	held     [][]byte      // written during the stall
	deadline time.Time     // the read deadline the user set
	reading  int           // reads in progress on the underlying conn

	closeOnce sync.Once
	closed    chan struct{}
}

// stallLocked starts a stall, with c.mu held.
func (c *faultConn) stallLocked() {
	if c.stalled {
		return
	}
	c.stalled, c.lostAt, c.revived = true, time.Now(), make(chan struct{})
	// End a read already waiting on the underlying connection.
	c.Conn.SetReadDeadline(time.Unix(1, 0))
}

func (c *faultConn) stallIfReading() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reading > 0 {
		c.stallLocked()
	}
}

// scheduleRevival arranges the end of a stall at the first retransmission at
// or after now.
func (c *faultConn) scheduleRevival(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stalled || c.timer != nil {
		return
	}
	at, rto := c.lostAt.Add(rtoInitial), rtoInitial
	for at.Before(now) {
		rto = min(2*rto, rtoMax)
		at = at.Add(rto)
	}
	c.timer = time.AfterFunc(time.Until(at), c.revive)
}

// revive ends a stall: the held data is sent, reads go on.
func (c *faultConn) revive() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	cut := c.nw.isCut(c.link) // lock order: nw.mu before c.mu, never inside it
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timer = nil
	if !c.stalled || cut { // cut again before the retransmission
		return
	}
	for _, b := range c.held {
		if _, err := c.Conn.Write(b); err != nil && c.werr == nil {
			c.werr = err
		}
	}
	c.held = nil
	c.stalled = false
	close(c.revived)
	c.Conn.SetReadDeadline(c.deadline)
}

func (c *faultConn) Write(p []byte) (int, error) {
	if d := c.nw.delayOf(c.link); d > 0 {
		time.Sleep(d)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	cut := c.nw.isCut(c.link)
	if mtu := c.nw.mtuOf(c.link); mtu > 0 && len(p) > mtu {
		cut = true
	}
	c.mu.Lock()
	if cut {
		c.stallLocked()
	}
	if c.stalled {
		c.held = append(c.held, append([]byte(nil), p...))
		c.mu.Unlock()
		return len(p), nil
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *faultConn) Read(p []byte) (int, error) {
	for {
		cut := c.nw.isCut(c.link)
		c.mu.Lock()
		if cut {
			c.stallLocked()
		}
		if c.stalled {
			revived, deadline := c.revived, c.deadline
			c.mu.Unlock()
			if err := c.waitStall(revived, deadline); err != nil {
				return 0, err
			}
			continue
		}
		c.reading++
		c.mu.Unlock()
		n, err := c.Conn.Read(p)
		c.mu.Lock()
		c.reading--
		stalled := c.stalled
		c.mu.Unlock()
		if n == 0 && stalled && errors.Is(err, os.ErrDeadlineExceeded) {
			continue // the stall interrupted this read
		}
		return n, err
	}
}

// waitStall waits for the end of a stall, the read deadline or Close.
func (c *faultConn) waitStall(revived <-chan struct{}, deadline time.Time) error {
	var expired <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-revived:
		return nil
	case <-expired:
		return &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	case <-c.closed:
		return net.ErrClosed
	}
}

func (c *faultConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *faultConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	if c.stalled {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *faultConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.nw.mu.Lock()
		delete(c.nw.conns, c)
		c.nw.mu.Unlock()
		c.mu.Lock()
		if c.timer != nil {
			c.timer.Stop()
		}
		c.mu.Unlock()
	})
	return c.Conn.Close()
}
