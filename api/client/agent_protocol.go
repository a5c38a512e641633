package client

import (
	"context"
	"net/http"

	"github.com/certctl/certctl/api/wire"
)

// The calls below are the agent protocol, made by certctl-agent with its
// own key. A retired agent gets an error for which IsGone is true.

// Heartbeat reports that agent agentID is alive, with its version and host.
func (c *Client) Heartbeat(ctx context.Context, agentID string, hb wire.HeartbeatRequest) error {
	return c.action(ctx, apiPath("agents", agentID, "heartbeat"), hb, http.StatusOK)
}

// Work returns the jobs waiting for agent agentID; Jobs is never nil.
func (c *Client) Work(ctx context.Context, agentID string) (*wire.WorkResponse, error) {
	w, err := get[wire.WorkResponse](ctx, c, apiPath("agents", agentID, "work"))
	if err == nil && w.Jobs == nil {
		w.Jobs = []wire.WorkItem{}
	}
	return w, err
}

// SubmitCSR sends the certificate signing request of agent agentID (202);
// the server signs it and completes the job waiting for it.
func (c *Client) SubmitCSR(ctx context.Context, agentID string, req wire.CSRRequest) error {
	return c.do(ctx, http.MethodPost, apiPath("agents", agentID, "csr"), nil, req, nil, http.StatusAccepted)
}

// PickupCertificate returns the issued certificate certID (leaf and chain in
// PEM) for agent agentID; it is an IsNotFound error until issued.
func (c *Client) PickupCertificate(ctx context.Context, agentID, certID string) (*wire.CertificatePickup, error) {
	return get[wire.CertificatePickup](ctx, c, apiPath("agents", agentID, "certificates", certID))
}

// ReportJobStatus reports the outcome of job jobID run by agent agentID:
// status Completed or Failed, with an error message when it failed.
func (c *Client) ReportJobStatus(ctx context.Context, agentID, jobID string, st wire.JobStatusRequest) error {
	return c.action(ctx, apiPath("agents", agentID, "jobs", jobID, "status"), st, http.StatusOK)
}

// ACMEChallenges lists the ACME HTTP-01 answers agent agentID is to serve
// on its host (issuers with http01_responder agent).
func (c *Client) ACMEChallenges(ctx context.Context, agentID string) (*wire.ACMEChallengesResponse, error) {
	r, err := get[wire.ACMEChallengesResponse](ctx, c, apiPath("agents", agentID, "acme-challenges"))
	if err == nil && r.Challenges == nil {
		r.Challenges = []wire.ACMEChallenge{}
	}
	return r, err
}

// ConfirmACMEChallenge tells the cluster agent agentID serves the answer of
// token, so the order asks the CA to validate.
func (c *Client) ConfirmACMEChallenge(ctx context.Context, agentID, token string) error {
	return c.action(ctx, apiPath("agents", agentID, "acme-challenges", token, "served"), nil, http.StatusOK)
}
