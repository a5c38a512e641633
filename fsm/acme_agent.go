package fsm

import (
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ACMEResponderAgent is the ACMEChallenge.Responder of an answer the agents
// of the certificate's targets serve on their hosts (issuer config
// http01_responder: agent), for names the CA must reach directly.
const ACMEResponderAgent = "agent"

// validateResponder checks the agent-responder fields of a challenge.
func validateResponder(c *ACMEChallenge) error {
	switch c.Responder {
	case "":
		if c.CertificateID != "" {
			return ValidID("certificate_id", c.CertificateID)
		}
		return nil
	case ACMEResponderAgent:
		return ValidID("certificate_id", c.CertificateID)
	}
	return invalidf("responder", "an ACME challenge's responder is empty (the nodes) or %q", ACMEResponderAgent)
}

// ConfirmACMEChallenge records that AgentID serves the answer of Token on
// its host, so the order may tell the CA to validate. Only an agent of one
// of the challenge's certificate's targets may confirm, and only an answer
// published for the agents.
type ConfirmACMEChallenge struct {
	Token   string `json:"token"`
	AgentID string `json:"agent_id"`
}

func (ConfirmACMEChallenge) CommandType() CommandType { return CommandConfirmACMEChallenge }
func (p *ConfirmACMEChallenge) Validate() error {
	if !ValidACMEToken(p.Token) {
		return invalidf("token", "an ACME token is 1 to %d base64url characters", maxACMETokenLength)
	}
	return ValidID("agent_id", p.AgentID)
}
func (p *ConfirmACMEChallenge) apply(t *txn) (any, error) {
	b := t.bucket(bucketACMEChallenges)
	var c ACMEChallenge
	found, err := getJSON(b, []byte(p.Token), &c)
	if err != nil {
		return nil, err
	}
	now := t.now()
	if !found || !c.ExpiresAt.After(now) || c.Responder != ACMEResponderAgent || !agentServes(t.tx, p.AgentID, c.CertificateID) {
		// One answer for all: an agent learns nothing of tokens not its own.
		return nil, &Error{Code: CodeNotFound, Resource: "acme challenge", ID: p.Token,
			Message: "no live ACME challenge " + p.Token + " for agent " + p.AgentID}
	}
	if c.ServedBy != "" {
		return nil, nil // confirmed already (another agent, or a retry)
	}
	c.ServedBy, c.ServedAt = p.AgentID, &now
	putJSON(b, []byte(p.Token), c)
	t.audit("acme_challenge_served", "certificate", c.CertificateID, map[string]any{"token": p.Token, "agent_id": p.AgentID})
	return nil, nil
}

// agentServes reports whether a target of certificate certID belongs to
// agentID.
func agentServes(tx *bolt.Tx, agentID, certID string) bool {
	cert, err := certStore{&txn{tx: tx}}.get(certID)
	if err != nil {
		return false
	}
	tb := tx.Bucket(bucketTargets)
	for _, tid := range cert.TargetIDs {
		var tg Target
		if ok, err := getJSON(tb, []byte(tid), &tg); err == nil && ok && tg.AgentID == agentID {
			return true
		}
	}
	return false
}

// ACMEChallengesForAgent returns the live answers published for the agents
// (Responder "agent") of certificates mapped to a target of agentID, by
// token: what that agent must serve, and nothing else.
func (f *FSM) ACMEChallengesForAgent(agentID string, now time.Time) ([]ACMEChallenge, error) {
	out := []ACMEChallenge{}
	err := f.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketACMEChallenges)
		if b == nil {
			return nil
		}
		serves := map[string]bool{}
		return b.ForEach(func(_, v []byte) error {
			var c ACMEChallenge
			if unmarshalStored(v, &c) != nil || c.Responder != ACMEResponderAgent || !c.ExpiresAt.After(now) {
				return nil
			}
			ok, seen := serves[c.CertificateID]
			if !seen {
				ok = agentServes(tx, agentID, c.CertificateID)
				serves[c.CertificateID] = ok
			}
			if ok {
				out = append(out, c)
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b ACMEChallenge) int {
		if a.Token < b.Token {
			return -1
		}
		return 1
	})
	return out, err
}

// ACMEChallengeServedBy returns the agent that confirmed it serves token,
// if one did.
func (f *FSM) ACMEChallengeServedBy(token string) (agentID string, ok bool) {
	if !ValidACMEToken(token) {
		return "", false
	}
	_ = f.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketACMEChallenges)
		if b == nil {
			return nil
		}
		var c ACMEChallenge
		if found, err := getJSON(b, []byte(token), &c); err == nil && found && c.ServedBy != "" {
			agentID, ok = c.ServedBy, true
		}
		return nil
	})
	return agentID, ok
}
