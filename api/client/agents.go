package client

import (
	"context"

	"github.com/certctl/certctl/api/wire"
)

// ListAgents returns one page of agents.
func (c *Client) ListAgents(ctx context.Context, opts ListOptions) (*wire.List[wire.Agent], error) {
	return list[wire.Agent](ctx, c, apiPath("agents"), opts.query())
}

// GetAgent returns the agent id.
func (c *Client) GetAgent(ctx context.Context, id string) (*wire.Agent, error) {
	return get[wire.Agent](ctx, c, apiPath("agents", id))
}

type registerAgentRequest struct {
	Name     string `json:"name"`
	Hostname string `json:"hostname"`
}

// RegisterAgent registers an agent and returns it with its API key, which
// the server shows this once.
func (c *Client) RegisterAgent(ctx context.Context, name, hostname string) (*wire.AgentRegistration, error) {
	return create[wire.AgentRegistration](ctx, c, apiPath("agents"), registerAgentRequest{Name: name, Hostname: hostname})
}

// RetireAgent retires agent id: its key stops working and its heartbeat and
// work calls answer 410 Gone from then on.
func (c *Client) RetireAgent(ctx context.Context, id string) error {
	return c.remove(ctx, apiPath("agents", id))
}
