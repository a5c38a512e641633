package issuance

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// A Local CA whose config names no crl_url still puts a CRL distribution
// point in its leaves: the node's own CRL endpoint.
func TestIssuance_DefaultCRLDistributionPoint(t *testing.T) {
	h := newHarness(t)
	s := h.serviceWith(Config{NodeID: "n1", KEK: h.kek, CRLBaseURL: "http://10.0.0.1:8443/"}, registry(t, h.kek))
	cert := *h.certificate(fsmtest.CertificateID)
	cert.KeyGeneration = "server"
	h.must(&fsm.UpdateCertificate{Certificate: cert})
	h.claim("job-1", fsm.JobRenewal)
	require.NoError(t, s.Issue(context.Background(), *h.job("job-1"), *h.certificate(fsmtest.CertificateID)))

	versions, err := h.f.CertificateVersions(fsmtest.CertificateID, fsm.Page{})
	require.NoError(t, err)
	require.Equal(t, 1, versions.Total)
	block, _ := pem.Decode([]byte(versions.Items[0].PEMChain))
	leaf, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	assert.Equal(t, []string{"http://10.0.0.1:8443/.well-known/pki/crl/" + fsmtest.IssuerID}, leaf.CRLDistributionPoints)
}

// TestIssuance_CRLFromTheState: the Local CA's CRL lists the state's
// revocations, is cached until one arrives, and is numbered with the raft
// index it reflects.
func TestIssuance_CRLFromTheState(t *testing.T) {
	h := newHarness(t)
	s := h.service("n1")
	ctx := context.Background()
	_, err := s.CRL(ctx, fsmtest.IssuerID)
	require.ErrorIs(t, err, fsm.ErrNotFound, "no CA made by a public endpoint")
	rec, err := h.f.Issuer(fsmtest.IssuerID)
	require.NoError(t, err)
	require.NoError(t, s.TestIssuer(ctx, rec))

	der, err := s.CRL(ctx, fsmtest.IssuerID)
	require.NoError(t, err)
	crl, err := x509.ParseRevocationList(der)
	require.NoError(t, err)
	assert.Empty(t, crl.RevokedCertificateEntries)
	again, err := s.CRL(ctx, fsmtest.IssuerID)
	require.NoError(t, err)
	assert.Equal(t, der, again, "cached")

	v := fsmtest.Version("ver-1", fsmtest.CertificateID, 7, t0, 90*24*time.Hour)
	h.must(&fsm.RecordVersion{Version: v})
	h.must(&fsm.RevokeCertificate{CertificateID: fsmtest.CertificateID, Reason: "keyCompromise"})
	der, err = s.CRL(ctx, fsmtest.IssuerID)
	require.NoError(t, err)
	crl, err = x509.ParseRevocationList(der)
	require.NoError(t, err)
	require.Len(t, crl.RevokedCertificateEntries, 1)
	assert.Equal(t, v.SerialNumber, fmt.Sprintf("%016x", crl.RevokedCertificateEntries[0].SerialNumber))
	assert.Equal(t, 1, crl.RevokedCertificateEntries[0].ReasonCode)
	assert.Equal(t, new(big.Int).SetUint64(h.f.AppliedIndex()), crl.Number)
	assert.Equal(t, t0.Add(CRLValidity).UTC().Truncate(time.Second), crl.NextUpdate)
}

// fakeCA is an issuer type the service knows nothing about, with every
// optional capability: the service must drive it exactly as it drives the
// Local CA (ACME and Vault PKI plug in the same way).
type fakeCA struct{ made int }

// plainIssuer has no optional capability.
type plainIssuer struct{ issuer.Issuer }

type fakeIssuer struct {
	issuer.Issuer
	s issuer.Stored
}

func (f *fakeIssuer) CRL(_ context.Context, revoked []issuer.RevokedSerial, _, _ time.Time, number *big.Int) ([]byte, error) {
	return []byte("crl of " + f.s.ID + " #" + number.String() + " from " + string(f.s.Material) + " at " + f.s.CRLURL), nil
}

func (f *fakeIssuer) CAChainPEM() (string, error) {
	return "chain of " + f.s.ID + " from " + string(f.s.Material), nil
}

func (c *fakeCA) MakeMaterial(_ context.Context, s issuer.Stored, _ time.Time, _ io.Reader) (*issuer.Material, error) {
	c.made++
	return &issuer.Material{Data: json.RawMessage(`{"for":"` + s.ID + `"}`), KEKID: "k1", Summary: "a fake CA"}, nil
}

func (c *fakeCA) connector() issuer.Connector {
	return issuer.Connector{Type: "StepCA", Material: c, New: func(_ context.Context, s issuer.Stored) (issuer.Issuer, error) {
		if s.Material == nil {
			return nil, issuer.ErrNoMaterial
		}
		return &fakeIssuer{s: s}, nil
	}}
}

// TestIssuance_CapabilitiesAreGeneric: an issuer type that makes material,
// signs CRLs and publishes a chain gets its material made once, on its
// first test and never by a public endpoint, and serves both through the
// service; a type without the capabilities is told so.
func TestIssuance_CapabilitiesAreGeneric(t *testing.T) {
	h := newHarness(t)
	ca := &fakeCA{}
	s := h.serviceWith(Config{NodeID: "n1", KEK: h.kek, CRLBaseURL: "https://n1:8443"}, registry(t, h.kek, ca.connector(),
		issuer.Connector{Type: "ACME", New: func(context.Context, issuer.Stored) (issuer.Issuer, error) { return plainIssuer{}, nil }}))
	ctx := context.Background()
	h.must(&fsm.CreateIssuer{Issuer: fsm.Issuer{ID: "iss-step", Name: "step", Type: "StepCA", Config: json.RawMessage(`{}`), Enabled: true}})
	h.must(&fsm.CreateIssuer{Issuer: fsm.Issuer{ID: "iss-acme", Name: "acme", Type: "ACME", Config: json.RawMessage(`{}`), Enabled: true}})

	_, err := s.CAChain(ctx, "iss-step")
	require.ErrorIs(t, err, fsm.ErrNotFound)
	assert.Zero(t, ca.made, "a public endpoint makes nothing")
	rec, err := h.f.Issuer("iss-step")
	require.NoError(t, err)
	require.NoError(t, s.TestIssuer(ctx, rec))
	require.NoError(t, s.TestIssuer(ctx, rec))
	assert.Equal(t, 1, ca.made, "made once")
	stored, err := h.f.IssuerMaterial("iss-step")
	require.NoError(t, err)
	assert.JSONEq(t, `{"for":"iss-step"}`, string(stored))

	chain, err := s.CAChain(ctx, "iss-step")
	require.NoError(t, err)
	assert.Equal(t, `chain of iss-step from {"for":"iss-step"}`, chain)
	crl, err := s.CRL(ctx, "iss-step")
	require.NoError(t, err)
	assert.Contains(t, string(crl), `from {"for":"iss-step"} at https://n1:8443/.well-known/pki/crl/iss-step`)

	_, err = s.CRL(ctx, "iss-acme")
	assert.Equal(t, fsm.CodeState, fsm.CodeOf(err))
	assert.ErrorContains(t, err, "does not sign its own CRL")
	_, err = s.CAChain(ctx, "iss-acme")
	assert.ErrorContains(t, err, "does not publish its CA chain")
}

// TestIssuance_RootCRLAndCACerts: the Local CA's root signs a CRL that
// covers its intermediate, cached like the intermediate's; its CA
// certificates come one at a time in DER; neither is made by asking.
func TestIssuance_RootCRLAndCACerts(t *testing.T) {
	h := newHarness(t)
	s := h.serviceWith(Config{NodeID: "n1", KEK: h.kek}, registry(t, h.kek,
		issuer.Connector{Type: "ACME", New: func(context.Context, issuer.Stored) (issuer.Issuer, error) { return plainIssuer{}, nil }}))
	ctx := context.Background()
	_, err := s.RootCRL(ctx, fsmtest.IssuerID)
	require.ErrorIs(t, err, fsm.ErrNotFound, "no CA made by a public endpoint")
	_, err = s.CACert(ctx, fsmtest.IssuerID, CARoot)
	require.ErrorIs(t, err, fsm.ErrNotFound)
	rec, err := h.f.Issuer(fsmtest.IssuerID)
	require.NoError(t, err)
	require.NoError(t, s.TestIssuer(ctx, rec))

	rootDER, err := s.CACert(ctx, fsmtest.IssuerID, CARoot)
	require.NoError(t, err)
	root, err := x509.ParseCertificate(rootDER)
	require.NoError(t, err)
	interDER, err := s.CACert(ctx, fsmtest.IssuerID, CAIntermediate)
	require.NoError(t, err)
	inter, err := x509.ParseCertificate(interDER)
	require.NoError(t, err)
	assert.Equal(t, "Harness CA Root", root.Subject.CommonName)
	assert.Equal(t, "Harness CA", inter.Subject.CommonName)
	require.NoError(t, inter.CheckSignatureFrom(root))
	_, err = s.CACert(ctx, fsmtest.IssuerID, "leaf")
	require.ErrorIs(t, err, fsm.ErrNotFound)

	der, err := s.RootCRL(ctx, fsmtest.IssuerID)
	require.NoError(t, err)
	crl, err := x509.ParseRevocationList(der)
	require.NoError(t, err)
	require.NoError(t, crl.CheckSignatureFrom(root), "the root signs it")
	assert.Empty(t, crl.RevokedCertificateEntries)
	assert.Equal(t, new(big.Int).SetUint64(h.f.AppliedIndex()), crl.Number)
	assert.Equal(t, t0.Add(CRLValidity).UTC().Truncate(time.Second), crl.NextUpdate)
	again, err := s.RootCRL(ctx, fsmtest.IssuerID)
	require.NoError(t, err)
	assert.Equal(t, der, again, "cached")

	// Another node's service signs its own, with the same root.
	other, err := h.service("n2").RootCRL(ctx, fsmtest.IssuerID)
	require.NoError(t, err)
	crl, err = x509.ParseRevocationList(other)
	require.NoError(t, err)
	require.NoError(t, crl.CheckSignatureFrom(root))

	h.must(&fsm.CreateIssuer{Issuer: fsm.Issuer{ID: "iss-acme", Name: "acme", Type: "ACME", Config: json.RawMessage(`{}`), Enabled: true}})
	_, err = s.RootCRL(ctx, "iss-acme")
	require.ErrorIs(t, err, fsm.ErrNotFound)
	assert.ErrorContains(t, err, "no root of its own")
	_, err = s.RootCRL(ctx, "iss-none")
	require.ErrorIs(t, err, fsm.ErrNotFound)
}
