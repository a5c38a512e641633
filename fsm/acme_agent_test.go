package fsm_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// An agent gets the HTTP-01 answers of its own certificates' orders and no
// other: not those of another agent's certificate, not the nodes' own, not
// an expired one; and it may confirm only those.
func TestFSM_ACMEAnswersOnlyForTheCertificatesAgent(t *testing.T) {
	f := fsmtest.Open(t)
	l := fsmtest.NewLog(t, f)
	fsmtest.Seed(l)
	l.Must(&fsm.RegisterAgent{Agent: fsmtest.Agent("agent-2", "web-02")})
	l.Must(&fsm.CreateTarget{Target: fsmtest.Target("target-2", "nginx-web-02", "agent-2")})
	other := fsmtest.Certificate("mc-2", "other.example.com")
	other.TargetIDs = []string{"target-2"}
	l.Must(&fsm.CreateCertificate{Certificate: other})

	put := func(token, certID, responder string, life time.Duration) {
		l.Must(&fsm.PutACMEChallenge{Challenge: fsm.ACMEChallenge{Token: token, KeyAuthorization: token + ".thumb",
			IssuerID: fsmtest.IssuerID, ExpiresAt: l.Now.Add(life), Responder: responder, CertificateID: certID}})
	}
	put("mine", fsmtest.CertificateID, fsm.ACMEResponderAgent, 10*time.Minute)
	put("theirs", "mc-2", fsm.ACMEResponderAgent, 10*time.Minute)
	put("nodes", fsmtest.CertificateID, "", 10*time.Minute)
	put("short", fsmtest.CertificateID, fsm.ACMEResponderAgent, time.Minute)

	tokens := func(agentID string, now time.Time) []string {
		l, err := f.ACMEChallengesForAgent(agentID, now)
		require.NoError(t, err)
		var out []string
		for _, c := range l {
			out = append(out, c.Token)
		}
		return out
	}
	assert.Equal(t, []string{"mine", "short"}, tokens(fsmtest.AgentID, l.Now))
	assert.Equal(t, []string{"mine"}, tokens(fsmtest.AgentID, l.Now.Add(2*time.Minute)), "an expired answer is not handed out")
	assert.Equal(t, []string{"theirs"}, tokens("agent-2", l.Now))
	assert.Empty(t, tokens("agent-9", l.Now))

	for _, tc := range []struct{ token, agent string }{
		{"theirs", fsmtest.AgentID}, {"mine", "agent-2"}, {"nodes", fsmtest.AgentID}, {"nosuch", fsmtest.AgentID},
	} {
		err := l.Apply(&fsm.ConfirmACMEChallenge{Token: tc.token, AgentID: tc.agent}).Err
		assert.ErrorIs(t, err, fsm.ErrNotFound, "%s confirming %s", tc.agent, tc.token)
	}
	_, ok := f.ACMEChallengeServedBy("theirs")
	assert.False(t, ok)

	l.Must(&fsm.ConfirmACMEChallenge{Token: "mine", AgentID: fsmtest.AgentID})
	l.Must(&fsm.ConfirmACMEChallenge{Token: "mine", AgentID: fsmtest.AgentID}) // a retry
	by, ok := f.ACMEChallengeServedBy("mine")
	require.True(t, ok)
	assert.Equal(t, fsmtest.AgentID, by)

	// Publishing the token again (a new order) clears the confirmation.
	put("mine", fsmtest.CertificateID, fsm.ACMEResponderAgent, 10*time.Minute)
	_, ok = f.ACMEChallengeServedBy("mine")
	assert.False(t, ok, "a republished answer waits for a new confirmation")

	// Unmapped from the agent's target: the agent gets it no longer.
	l.Must(&fsm.UnmapTarget{CertificateID: fsmtest.CertificateID, TargetID: fsmtest.TargetID})
	assert.Empty(t, tokens(fsmtest.AgentID, l.Now))
	assert.ErrorIs(t, l.Apply(&fsm.ConfirmACMEChallenge{Token: "mine", AgentID: fsmtest.AgentID}).Err, fsm.ErrNotFound)
}

// An agent-served answer names its certificate.
func TestFSM_ACMEAgentAnswerNeedsItsCertificate(t *testing.T) {
	l := fsmtest.NewLog(t, fsmtest.Open(t))
	fsmtest.Seed(l)
	ch := fsm.ACMEChallenge{Token: "tok", KeyAuthorization: "tok.thumb", IssuerID: fsmtest.IssuerID,
		ExpiresAt: l.Now.Add(time.Minute), Responder: fsm.ACMEResponderAgent}
	_, err := fsm.NewCommand(l.Meta(), &fsm.PutACMEChallenge{Challenge: ch})
	require.ErrorIs(t, err, fsm.ErrInvalid)
	ch.CertificateID = "mc-404"
	assert.ErrorIs(t, l.Apply(&fsm.PutACMEChallenge{Challenge: ch}).Err, fsm.ErrNotFound)
	ch.Responder = "someone"
	_, err = fsm.NewCommand(l.Meta(), &fsm.PutACMEChallenge{Challenge: ch})
	assert.ErrorIs(t, err, fsm.ErrInvalid)
}
