package issuance

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// issueServerKeyJob issues certificate fsmtest.CertificateID, whose key the
// server makes, through job jobID.
func issueServerKeyJob(t *testing.T, h *harness, s *Service, jobID string) {
	t.Helper()
	h.claim(jobID, fsm.JobRenewal)
	require.NoError(t, s.Issue(context.Background(), *h.job(jobID), *h.certificate(fsmtest.CertificateID)))
}

// TestIssuance_ServerKeyGoesOnlyToTheAgentItWasMadeFor: a server-made key
// opens for the agent of the certificate's target when it was made, for no
// other; once the target is moved to another agent, that agent gets no key
// (and the sealed key, re-bound to it, does not open) until a renewal makes
// a new key for it, which the first agent then does not get.
func TestIssuance_ServerKeyGoesOnlyToTheAgentItWasMadeFor(t *testing.T) {
	h := newHarness(t)
	s := h.service("n1")
	ctx := context.Background()
	cert := *h.certificate(fsmtest.CertificateID)
	cert.KeyGeneration = "server"
	h.must(&fsm.UpdateCertificate{Certificate: cert})
	const other = "agent-2"
	h.must(&fsm.RegisterAgent{Agent: fsmtest.Agent(other, "other")})
	issueServerKeyJob(t, h, s, "job-1")

	_, _, err := s.OpenServerKey(ctx, fsmtest.CertificateID, fsmtest.AgentID)
	require.NoError(t, err)
	_, _, err = s.OpenServerKey(ctx, fsmtest.CertificateID, other)
	require.ErrorIs(t, err, fsm.ErrState)
	assert.Contains(t, err.Error(), "renew the certificate")

	tgt, err := h.f.Target(fsmtest.TargetID)
	require.NoError(t, err)
	tgt.AgentID = other
	h.must(&fsm.UpdateTarget{Target: *tgt})
	_, _, err = s.OpenServerKey(ctx, fsmtest.CertificateID, other)
	require.ErrorIs(t, err, fsm.ErrState, "a moved target does not carry the key to its new agent")
	stored, err := h.f.ServerKey(fsmtest.CertificateID)
	require.NoError(t, err)
	_, err = keywrap.Open(s.cfg.KEK, stored.SealedKey, ServerKeyAAD(fsmtest.CertificateID, stored.VersionID, []string{other}))
	require.ErrorIs(t, err, keywrap.ErrOpen, "the sealed key is bound to its agents: re-bound, it does not open")

	issueServerKeyJob(t, h, s, "job-2")
	keyPEM, versionID, err := s.OpenServerKey(ctx, fsmtest.CertificateID, other)
	require.NoError(t, err, "a renewal makes a key for the new agent")
	assert.NotEmpty(t, keyPEM)
	assert.NotEqual(t, stored.VersionID, versionID)
	_, _, err = s.OpenServerKey(ctx, fsmtest.CertificateID, fsmtest.AgentID)
	require.ErrorIs(t, err, fsm.ErrState, "the first agent does not get the new key")
}

// TestIssuance_ServerKeyWithoutAgentsGoesToNone: a key recorded before keys
// were bound to agents (no agent ids) is handed to no agent.
func TestIssuance_ServerKeyWithoutAgentsGoesToNone(t *testing.T) {
	h := newHarness(t)
	s := h.service("n1")
	sealed, err := keywrap.Seal(s.cfg.KEK, []byte("der"), []byte("certctl/server-key/"+fsmtest.CertificateID+"/ver-old"))
	require.NoError(t, err)
	h.must(&fsm.RecordVersion{Version: fsmtest.Version("ver-old", fsmtest.CertificateID, 1, t0, 90*24*time.Hour), SealedKey: sealed})
	_, _, err = s.OpenServerKey(context.Background(), fsmtest.CertificateID, fsmtest.AgentID)
	require.ErrorIs(t, err, fsm.ErrState)
	assert.Contains(t, err.Error(), "made for no agent")
}

// TestIssuance_IssuerSecretsOpenedForTheConnector: the connector of an
// issuer whose config holds a sealed secret is built with the secret in the
// clear; a sealed value copied from another issuer or field, or a node
// without the KEK, fails the build naming the issuer and field.
func TestIssuance_IssuerSecretsOpenedForTheConnector(t *testing.T) {
	h := newHarness(t)
	var built json.RawMessage
	acme := issuer.Connector{Type: "ACME", New: func(_ context.Context, st issuer.Stored) (issuer.Issuer, error) {
		built = st.Config
		return nil, nil
	}}
	s := h.service("n1", acme)
	ctx := context.Background()
	seal := func(issuerID, field, value string) string {
		sealed, err := keywrap.Seal(s.cfg.KEK, []byte(value), keywrap.FieldAAD(keywrap.FieldKindIssuer, issuerID, field, ""))
		require.NoError(t, err)
		return keywrap.FormatField(sealed)
	}
	create := func(id string, config map[string]any) *fsm.Issuer {
		raw, err := json.Marshal(config)
		require.NoError(t, err)
		rec := fsm.Issuer{ID: id, Name: id, Type: "ACME", Config: raw, Enabled: true}
		h.must(&fsm.CreateIssuer{Issuer: rec})
		got, err := h.f.Issuer(id)
		require.NoError(t, err)
		return got
	}

	good := create("iss-acme", map[string]any{"directory_url": "https://acme.internal/dir", "eab_kid": "kid-1",
		"eab_hmac_key": seal("iss-acme", "eab_hmac_key", "hmac-s3cret")})
	require.NoError(t, s.TestIssuer(ctx, good))
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(built, &cfg))
	assert.Equal(t, "hmac-s3cret", cfg["eab_hmac_key"], "the connector gets the secret opened")
	assert.Equal(t, "kid-1", cfg["eab_kid"])

	copied := create("iss-copy", map[string]any{"eab_hmac_key": seal("iss-acme", "eab_hmac_key", "hmac-s3cret")})
	err := s.TestIssuer(ctx, copied)
	require.ErrorIs(t, err, keywrap.ErrOpen, "a value sealed for another issuer does not open")
	assert.Contains(t, err.Error(), "iss-copy")
	moved := create("iss-moved", map[string]any{"token": seal("iss-moved", "eab_hmac_key", "hmac-s3cret")})
	require.ErrorIs(t, s.TestIssuer(ctx, moved), keywrap.ErrOpen, "nor one moved to another field")

	noKEK := h.serviceWith(Config{NodeID: "n1"}, registry(t, nil, acme))
	err = noKEK.TestIssuer(ctx, good)
	require.ErrorIs(t, err, ErrNoKEK)
	assert.Contains(t, err.Error(), "eab_hmac_key")
}
