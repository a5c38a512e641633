package acme

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/certctl/certctl/connectors/issuer"
)

// HTTP-01 answered by the agent on its host (http01_responder: agent).
//
// The answer is published through Challenges like the nodes' (replicated,
// with the certificate's id and Responder "agent"); the agents of the
// certificate's targets fetch it through the agent protocol, serve it on
// their own listener or webroot and confirm; only once one of them has
// confirmed does Present return and lego tell the CA to validate. An
// answer no agent confirms within Options.AgentWait fails the order
// before the CA is asked, with an error saying what to check.

// Values of Config.HTTP01Responder.
const (
	ResponderCluster = "cluster"
	ResponderAgent   = "agent"
)

// ServedChecker is implemented by a Challenges whose answers agents may
// confirm (cmd's, reading the replicated state).
type ServedChecker interface {
	// ServedBy returns the agent that confirmed it serves token.
	ServedBy(token string) (agentID string, ok bool)
}

// errNoAgentResponder: this node's Challenges cannot see confirmations.
var errNoAgentResponder = errors.New("acme: this node cannot hand HTTP-01 answers to agents (no confirmation reader wired)")

func (c Config) validateResponder() error {
	switch c.HTTP01Responder {
	case "", ResponderCluster, ResponderAgent:
	default:
		return &issuer.ConfigError{Field: "http01_responder", Reason: fmt.Sprintf("%q: use cluster (every node answers on its acme_http_addr) or agent (the agent of the certificate's targets answers on its host)", c.HTTP01Responder)}
	}
	if c.HTTP01Responder == ResponderAgent && c.Challenge != ChallengeHTTP01 {
		return &issuer.ConfigError{Field: "http01_responder", Reason: "only an http-01 challenge has a responder; remove it or set challenge to http-01"}
	}
	return nil
}

// presentByAgent publishes the answer for the certificate's agents and
// waits until one confirms it serves it.
func (p *publisher) presentByAgent(ctx context.Context, domain, token, keyAuth string) error {
	checker, ok := p.i.c.challenges.(ServedChecker)
	if !ok {
		return errNoAgentResponder
	}
	if p.certID == "" {
		return &issuer.RequestError{Field: "certificate_id", Reason: "http01_responder agent answers for a managed certificate's agents; this order has no certificate"}
	}
	err := p.i.c.challenges.Publish(ctx, Answer{IssuerID: p.i.id, Token: token, KeyAuthorization: keyAuth,
		ExpiresAt: p.i.c.opts.Now().Add(p.i.c.opts.AnswerLife), CertificateID: p.certID, Responder: ResponderAgent})
	if err != nil {
		return err
	}
	// lego cleans up only the challenges it presented: an answer no agent
	// confirmed is withdrawn here.
	confirmed := false
	defer func() {
		if !confirmed {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = p.i.c.challenges.Withdraw(wctx, p.i.id, token)
		}
	}()
	wait := p.i.c.opts.AgentWait
	if wait <= 0 {
		wait = 20 * time.Second
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, ok := checker.ServedBy(token); ok {
			confirmed = true
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("acme: waiting for an agent to serve the HTTP-01 answer for %s: %w", domain, ctx.Err())
		case <-deadline.C:
			return &issuer.RequestError{Field: "http01_responder", Reason: fmt.Sprintf(
				"no agent of certificate %s's targets confirmed it serves the HTTP-01 answer for %s within %s: run certctl-agent there with -acme-http-addr or -acme-webroot, reachable by the CA at http://%s/.well-known/acme-challenge/",
				p.certID, domain, wait, domain)}
		case <-tick.C:
		}
	}
}
