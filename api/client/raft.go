package client

import (
	"context"
	"errors"
	"net/http"

	"github.com/certctl/certctl/api/wire"
)

// RaftPeers returns the raft configuration as the answering server sees it:
// every peer with its addresses, suffrage, whether it leads, and its last
// log index and health as it reports them itself. It needs an admin key.
func (c *Client) RaftPeers(ctx context.Context) (*wire.RaftPeers, error) {
	p, err := get[wire.RaftPeers](ctx, c, apiPath("cluster", "peers"))
	if err == nil && p.Peers == nil {
		p.Peers = []wire.RaftPeer{}
	}
	return p, err
}

// RemovePeer takes node id out of the cluster: out of the raft
// configuration and the member records. Only the leader can do it, so the
// call goes to the leader (found with RaftPeers). An id that is in neither
// is IsNotFound. It needs an admin key.
func (c *Client) RemovePeer(ctx context.Context, id string) error {
	path := apiPath("cluster", "members", id)
	return c.onLeader(ctx, func(lc *Client) error { return lc.remove(ctx, path) })
}

// TransferLeader hands leadership to the voter id, or to the most
// up-to-date follower when id is "", and returns the leader afterwards. The
// call goes to the leader. It needs an admin key.
func (c *Client) TransferLeader(ctx context.Context, id string) (*wire.TransferLeaderResponse, error) {
	var out wire.TransferLeaderResponse
	err := c.onLeader(ctx, func(lc *Client) error {
		return lc.do(ctx, http.MethodPost, apiPath("cluster", "transfer-leader"), nil, wire.TransferLeaderRequest{NodeID: id}, &out, http.StatusOK)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// onLeader runs call against the leader's API, as the answering server
// names it, retrying when leadership moves in between (a 503). The API key
// goes only to members of the cluster the client already talks to. When no
// leader is known, or its address cannot be reached as recorded (a member
// behind a proxy), call runs on c's own servers, which answer 503 unless
// one of them leads.
func (c *Client) onLeader(ctx context.Context, call func(*Client) error) error {
	var err error
	for range 3 {
		var peers *wire.RaftPeers
		peers, err = c.RaftPeers(ctx)
		if err != nil {
			return err
		}
		leader := ""
		for _, p := range peers.Peers {
			if p.Leader {
				leader = p.APIAddr
			}
		}
		if leader == "" {
			return call(c)
		}
		lc, ferr := c.ForServer(leader)
		if ferr != nil {
			return call(c)
		}
		err = call(lc)
		var apiErr *APIError
		switch {
		case err == nil:
			return nil
		case !errors.As(err, &apiErr):
			return call(c) // the leader's recorded address is not reachable from here
		case apiErr.Status != http.StatusServiceUnavailable:
			return err
		}
		if perr := c.pause(ctx, 1, 0); perr != nil {
			return err
		}
	}
	return err
}
