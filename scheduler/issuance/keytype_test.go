package issuance

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// TestKeyTypes_StateAndIssuerAgree: every key_type the state accepts is one
// the issuer package (and so the agent) can make, in the same spelling.
func TestKeyTypes_StateAndIssuerAgree(t *testing.T) {
	for _, name := range fsm.KeyTypes {
		kt, err := issuer.ParseKeyType(string(name))
		require.NoError(t, err, name)
		assert.Equal(t, string(name), string(kt))
	}
}

// TestSignCSR_RefusesAnotherKeyType: a CSR whose key is not the
// certificate's key_type is refused, naming both; the job keeps waiting.
func TestSignCSR_RefusesAnotherKeyType(t *testing.T) {
	h := newHarness(t)
	s := h.service("n1")
	ctx := context.Background()
	cert := *h.certificate(fsmtest.CertificateID)
	cert.KeyType = "RSA-3072"
	h.must(&fsm.UpdateCertificate{Certificate: cert})
	h.claim("job-1", fsm.JobRenewal)
	require.NoError(t, s.Issue(ctx, *h.job("job-1"), *h.certificate(fsmtest.CertificateID)))
	cert = *h.certificate(fsmtest.CertificateID)

	p256, err := issuer.KeyECDSAP256.Generate(nil)
	require.NoError(t, err)
	csr, err := issuer.CSRFor(p256, cert.CommonName, cert.SANs)
	require.NoError(t, err)
	err = s.SignCSR(ctx, fsmtest.AgentID, *h.job("job-1"), cert, csr)
	require.Error(t, err)
	assert.Equal(t, fsm.CodeInvalid, fsm.CodeOf(err))
	assert.Contains(t, err.Error(), "ECDSA-P256")
	assert.Contains(t, err.Error(), "RSA-3072")
	assert.Equal(t, fsm.JobAwaitingCSR, h.job("job-1").Status)

	rsaKey, err := issuer.KeyRSA3072.Generate(nil)
	require.NoError(t, err)
	csr, err = issuer.CSRFor(rsaKey, cert.CommonName, cert.SANs)
	require.NoError(t, err)
	require.NoError(t, s.SignCSR(ctx, fsmtest.AgentID, *h.job("job-1"), cert, csr))
	assert.Equal(t, fsm.JobCompleted, h.job("job-1").Status)
}

// TestIssuance_ServerKeyOfTheCertificatesType: a server-side key is made
// of the certificate's key_type.
func TestIssuance_ServerKeyOfTheCertificatesType(t *testing.T) {
	h := newHarness(t)
	s := h.service("n1")
	ctx := context.Background()
	cert := *h.certificate(fsmtest.CertificateID)
	cert.KeyGeneration, cert.KeyType = "server", "rsa-2048"
	h.must(&fsm.UpdateCertificate{Certificate: cert})
	assert.Equal(t, wire.KeyRSA2048, h.certificate(fsmtest.CertificateID).KeyType, "stored in its canonical spelling")
	h.claim("job-1", fsm.JobRenewal)
	require.NoError(t, s.Issue(ctx, *h.job("job-1"), *h.certificate(fsmtest.CertificateID)))

	keyPEM, _, err := s.OpenServerKey(ctx, fsmtest.CertificateID, fsmtest.AgentID)
	require.NoError(t, err)
	block, _ := pem.Decode(keyPEM)
	require.NotNil(t, block)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	require.IsType(t, &rsa.PrivateKey{}, key)
	assert.Equal(t, 2048, key.(*rsa.PrivateKey).N.BitLen())
}

// TestSignCSR_EveryKeyType: the Local CA signs a CSR of every key_type an
// agent may be asked to make, and the leaf carries that key.
func TestSignCSR_EveryKeyType(t *testing.T) {
	for _, kt := range fsm.KeyTypes {
		t.Run(string(kt), func(t *testing.T) {
			h := newHarness(t)
			s := h.service("n1")
			ctx := context.Background()
			cert := *h.certificate(fsmtest.CertificateID)
			cert.KeyType = kt
			h.must(&fsm.UpdateCertificate{Certificate: cert})
			h.claim("job-1", fsm.JobRenewal)
			require.NoError(t, s.Issue(ctx, *h.job("job-1"), *h.certificate(fsmtest.CertificateID)))
			cert = *h.certificate(fsmtest.CertificateID)
			key, err := issuer.KeyType(kt).Generate(nil)
			require.NoError(t, err)
			csr, err := issuer.CSRFor(key, cert.CommonName, cert.SANs)
			require.NoError(t, err)
			require.NoError(t, s.SignCSR(ctx, fsmtest.AgentID, *h.job("job-1"), cert, csr))
			versions, err := h.f.CertificateVersions(fsmtest.CertificateID, fsm.Page{})
			require.NoError(t, err)
			require.Equal(t, 1, versions.Total)
			block, _ := pem.Decode([]byte(versions.Items[0].PEMChain))
			leaf, err := x509.ParseCertificate(block.Bytes)
			require.NoError(t, err)
			got, err := issuer.KeyTypeOf(leaf.PublicKey)
			require.NoError(t, err)
			assert.Equal(t, string(kt), string(got))
		})
	}
}
