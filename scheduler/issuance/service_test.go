package issuance

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// TestIssuance_RacingNodesShareOneCA: a node that made a CA after another
// stored its own uses the stored one; the state keeps the first.
func TestIssuance_RacingNodesShareOneCA(t *testing.T) {
	h := newHarness(t)
	a, b := h.service("n1"), h.service("n2")
	ctx := context.Background()
	rec, err := h.f.Issuer(fsmtest.IssuerID)
	require.NoError(t, err)

	_, err = a.CAChain(ctx, fsmtest.IssuerID)
	require.ErrorIs(t, err, fsm.ErrNotFound, "the public endpoints never make a CA")
	assert.Zero(t, h.prop.count(fsm.CommandSetIssuerMaterial))
	require.NoError(t, a.TestIssuer(ctx, rec), "the first test makes the CA")
	first, err := h.f.IssuerMaterial(fsmtest.IssuerID)
	require.NoError(t, err)
	require.NoError(t, b.makeMaterial(ctx, rec, issuer.Stored{ID: rec.ID, Config: rec.Config}), "losing the race is not an error")
	after, err := h.f.IssuerMaterial(fsmtest.IssuerID)
	require.NoError(t, err)
	assert.Equal(t, first, after, "the stored CA is never replaced")
	assert.Equal(t, 2, h.prop.count(fsm.CommandSetIssuerMaterial))
	assert.Len(t, h.audit("issuer_material_created", fsmtest.IssuerID), 1)

	chainA, err := a.CAChain(ctx, fsmtest.IssuerID)
	require.NoError(t, err)
	chainB, err := b.CAChain(ctx, fsmtest.IssuerID)
	require.NoError(t, err)
	assert.Equal(t, chainA, chainB, "both nodes serve the same CA")
}

// TestIssuance_IssueHandsTheJobToTheTargetsAgent: a renewal queued without
// an agent is bound to the agent of the certificate's target and parked.
func TestIssuance_IssueHandsTheJobToTheTargetsAgent(t *testing.T) {
	h := newHarness(t)
	s := h.service("n1")
	h.claim("job-1", fsm.JobRenewal)
	require.NoError(t, s.Issue(context.Background(), *h.job("job-1"), *h.certificate(fsmtest.CertificateID)))
	j := h.job("job-1")
	assert.Equal(t, fsm.JobAwaitingCSR, j.Status)
	assert.Equal(t, fsmtest.AgentID, j.AgentID)
}

// TestIssuance_IssueRefuses names what is missing: an agent to make the
// key, a KEK for the Local CA.
func TestIssuance_IssueRefuses(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.must(&fsm.UnmapTarget{CertificateID: fsmtest.CertificateID, TargetID: fsmtest.TargetID})
	h.must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", fsm.JobRenewal)}})
	err := h.service("n1").Issue(ctx, *h.job("job-1"), *h.certificate(fsmtest.CertificateID))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no target served by an agent")

	noKEK := h.serviceWith(Config{NodeID: "n1"}, registry(t, nil))
	err = noKEK.Issue(ctx, *h.job("job-1"), *h.certificate(fsmtest.CertificateID))
	require.ErrorIs(t, err, ErrNoKEK)
	assert.Contains(t, err.Error(), "--kek-file")
}

// TestIssuance_ServerKey: a certificate with a server-side key is issued by
// Issue itself: one version whose key is stored only sealed, opened again
// with the KEK; a second attempt of the same job adds nothing.
func TestIssuance_ServerKey(t *testing.T) {
	h := newHarness(t)
	s := h.service("n1")
	ctx := context.Background()
	cert := *h.certificate(fsmtest.CertificateID)
	cert.KeyGeneration = "server"
	h.must(&fsm.UpdateCertificate{Certificate: cert})
	h.claim("job-1", fsm.JobRenewal)

	require.NoError(t, s.Issue(ctx, *h.job("job-1"), *h.certificate(fsmtest.CertificateID)))
	versions, err := h.f.CertificateVersions(fsmtest.CertificateID, fsm.Page{})
	require.NoError(t, err)
	require.Equal(t, 1, versions.Total)
	v := versions.Items[0]
	assert.NotContains(t, v.PEMChain+v.CSRPEM, "PRIVATE KEY")

	keyPEM, versionID, err := s.OpenServerKey(ctx, fsmtest.CertificateID, fsmtest.AgentID)
	require.NoError(t, err)
	assert.Equal(t, v.ID, versionID)
	block, _ := pem.Decode(keyPEM)
	require.NotNil(t, block)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	leafBlock, _ := pem.Decode([]byte(v.PEMChain))
	leaf, err := x509.ParseCertificate(leafBlock.Bytes)
	require.NoError(t, err)
	assert.True(t, key.(*ecdsa.PrivateKey).PublicKey.Equal(leaf.PublicKey), "the stored key is the certificate's")
	stored, err := h.f.ServerKey(fsmtest.CertificateID)
	require.NoError(t, err)
	assert.False(t, bytes.Contains(stored.SealedKey, block.Bytes), "stored sealed")
	assert.Equal(t, []string{fsmtest.AgentID}, stored.AgentIDs, "made for the agent of the certificate's target")
	deploys, err := h.f.Jobs(fsm.JobFilter{Type: fsm.JobDeployment}, fsm.Page{})
	require.NoError(t, err)
	assert.Equal(t, 1, deploys.Total)

	// Worked again (a failover took it over): nothing more is recorded.
	require.NoError(t, s.Issue(ctx, *h.job("job-1"), *h.certificate(fsmtest.CertificateID)))
	versions, err = h.f.CertificateVersions(fsmtest.CertificateID, fsm.Page{})
	require.NoError(t, err)
	assert.Equal(t, 1, versions.Total)
	assert.Len(t, h.audit("certificate_issued", fsmtest.CertificateID), 1)
	deploys, err = h.f.Jobs(fsm.JobFilter{Type: fsm.JobDeployment}, fsm.Page{})
	require.NoError(t, err)
	assert.Equal(t, 1, deploys.Total)
}
