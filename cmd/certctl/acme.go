package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/certctl/certctl/connectors/issuer/acme"
	"github.com/certctl/certctl/fsm"
)

// proposer commits a command through Raft (*node.Node).
type proposer interface {
	Propose(ctx context.Context, cmd *fsm.Command) (uint64, error)
}

// acmeChallenges publishes ACME HTTP-01 answers through Raft, so that
// every node serves them (acme.ChallengeHandler on acme_http_addr).
type acmeChallenges struct {
	nodeID string
	n      proposer
	now    func() time.Time
	// state reads the agents' confirmations (*fsm.FSM); nil: none.
	state interface {
		ACMEChallengeServedBy(token string) (string, bool)
	}
}

var (
	_ acme.Challenges    = (*acmeChallenges)(nil)
	_ acme.ServedChecker = (*acmeChallenges)(nil)
)

// ServedBy returns the agent that confirmed it serves token, from this
// node's replicated state.
func (c *acmeChallenges) ServedBy(token string) (string, bool) {
	if c.state == nil {
		return "", false
	}
	return c.state.ACMEChallengeServedBy(token)
}

func (c *acmeChallenges) propose(ctx context.Context, requestID string, p fsm.Payload) error {
	cmd, err := fsm.NewCommand(fsm.Meta{Actor: "scheduler/" + c.nodeID, ActorType: fsm.ActorSystem,
		RequestID: requestID, Time: c.now()}, p)
	if err != nil {
		return err
	}
	_, err = c.n.Propose(ctx, cmd)
	return err
}

// Publish commits the answer; it returns once it is applied on the leader.
func (c *acmeChallenges) Publish(ctx context.Context, a acme.Answer) error {
	err := c.propose(ctx, "acme-challenge/"+a.Token+"/put", &fsm.PutACMEChallenge{Challenge: fsm.ACMEChallenge{
		Token: a.Token, KeyAuthorization: a.KeyAuthorization, IssuerID: a.IssuerID, ExpiresAt: a.ExpiresAt,
		CertificateID: a.CertificateID, Responder: a.Responder}})
	if err != nil {
		return fmt.Errorf("acme: publish the HTTP-01 answer for issuer %s: %w", a.IssuerID, err)
	}
	return nil
}

// Withdraw takes the answer down.
func (c *acmeChallenges) Withdraw(ctx context.Context, issuerID, token string) error {
	if err := c.propose(ctx, "acme-challenge/"+token+"/delete", &fsm.DeleteACMEChallenge{Token: token}); err != nil {
		return fmt.Errorf("acme: withdraw the HTTP-01 answer for issuer %s: %w", issuerID, err)
	}
	return nil
}

// serveACMEHTTP serves the HTTP-01 answers of the replicated state on addr
// (plain HTTP, as RFC 8555 §8.3 has the CA fetch them) until stop is
// called.
func serveACMEHTTP(addr string, answers acme.AnswerReader, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("acme http-01: listen on %s: %w (choose another --acme-http-addr)", addr, err)
	}
	srv := newHTTPServer(acme.ChallengeHandler(answers, acme.HandlerOptions{}), log)
	go func() { _ = srv.Serve(ln) }()
	log.Info("acme http-01 answers served", "addr", ln.Addr().String())
	return func() { shutdownHTTP(srv) }, nil
}
