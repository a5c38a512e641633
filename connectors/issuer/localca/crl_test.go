package localca

import (
	"crypto/elliptic"
	"crypto/x509"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
)

// TestCRL_TwoRevokedSerials revokes two issued certificates and checks the
// CRL with crypto/x509 and with openssl, including that openssl then refuses
// the revoked leaf and accepts a good one.
func TestCRL_TwoRevokedSerials(t *testing.T) {
	ca := newTestCA(t, "", Config{CRLURL: testCRLURL})
	key := ecKey(t, elliptic.P256())
	csr := makeCSR(t, key, "a.example.com")
	revoked1, _ := issue(t, ca, issuer.IssuanceRequest{CommonName: "a.example.com", CSRPEM: csr})
	revoked2, _ := issue(t, ca, issuer.IssuanceRequest{CommonName: "a.example.com", CSRPEM: csr})
	good, _ := issue(t, ca, issuer.IssuanceRequest{CommonName: "a.example.com", CSRPEM: csr})

	s1, err := issuer.ParseSerial(revoked1.SerialNumber)
	require.NoError(t, err)
	s2, err := issuer.ParseSerial(revoked2.SerialNumber)
	require.NoError(t, err)
	at1 := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	at2 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	thisUpdate := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	nextUpdate := thisUpdate.Add(24 * time.Hour)

	der, err := ca.iss.CRL(t.Context(), []issuer.RevokedSerial{
		{Serial: s1, RevokedAt: at1, Reason: issuer.ReasonKeyCompromise},
		{Serial: s2, RevokedAt: at2, Reason: issuer.ReasonSuperseded},
	}, thisUpdate, nextUpdate, big.NewInt(42))
	require.NoError(t, err)

	crl, err := x509.ParseRevocationList(der)
	require.NoError(t, err)
	require.NoError(t, crl.CheckSignatureFrom(ca.inter))
	assert.Error(t, crl.CheckSignatureFrom(ca.root), "signed by the intermediate, not the root")
	assert.Equal(t, ca.inter.Subject.String(), crl.Issuer.String())
	assert.Equal(t, ca.inter.SubjectKeyId, crl.AuthorityKeyId)
	assert.Equal(t, 0, big.NewInt(42).Cmp(crl.Number))
	assert.Equal(t, thisUpdate, crl.ThisUpdate)
	assert.Equal(t, nextUpdate, crl.NextUpdate)
	assert.Equal(t, x509.ECDSAWithSHA384, crl.SignatureAlgorithm)
	require.Len(t, crl.RevokedCertificateEntries, 2)
	e1, e2 := crl.RevokedCertificateEntries[0], crl.RevokedCertificateEntries[1]
	assert.Equal(t, 0, s1.Cmp(e1.SerialNumber))
	assert.Equal(t, at1, e1.RevocationTime)
	assert.Equal(t, 1, e1.ReasonCode)
	assert.Equal(t, 0, s2.Cmp(e2.SerialNumber))
	assert.Equal(t, at2, e2.RevocationTime)
	assert.Equal(t, 4, e2.ReasonCode)

	// openssl reads it, lists both serials with their reasons, and checks
	// its signature against the intermediate.
	dir := t.TempDir()
	crlPath := writeFile(t, dir, "crl.der", der)
	out, err := openssl(t, "crl", "-inform", "DER", "-in", crlPath, "-text", "-noout")
	require.NoError(t, err, out)
	for _, want := range []string{
		"Serial Number: " + strings.ToUpper(revoked1.SerialNumber),
		"Serial Number: " + strings.ToUpper(revoked2.SerialNumber),
		"Key Compromise", "Superseded",
		"X509v3 CRL Number", "42",
		"X509v3 Authority Key Identifier",
		"Issuer: CN = certctl Test CA",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, strings.ToUpper(good.SerialNumber))

	interPath := writeFile(t, dir, "intermediate.pem", []byte(ca.material.IntermediateCertPEM))
	out, err = openssl(t, "crl", "-inform", "DER", "-in", crlPath, "-CAfile", interPath, "-noout")
	require.NoError(t, err, out)
	assert.Contains(t, out, "verify OK")
	rootPath := writeFile(t, dir, "root.pem", []byte(ca.material.RootCertPEM))
	out, err = openssl(t, "crl", "-inform", "DER", "-in", crlPath, "-CAfile", rootPath, "-noout")
	assert.False(t, err == nil && strings.Contains(out, "verify OK"), "the root must not verify the CRL:\n%s", out)

	// With the CRL, openssl refuses a revoked leaf and accepts a good one.
	crlPEM := writeFile(t, dir, "crl.pem", pemBlock("X509 CRL", der))
	for _, c := range []struct {
		res     *issuer.IssuanceResult
		revoked bool
	}{{revoked1, true}, {revoked2, true}, {good, false}} {
		leaf := writeFile(t, dir, c.res.SerialNumber+".pem", []byte(c.res.CertPEM))
		out, err := openssl(t, "verify", "-crl_check", "-CRLfile", crlPEM, "-CAfile", rootPath, "-untrusted", interPath, leaf)
		if c.revoked {
			assert.Error(t, err, out)
			assert.Contains(t, out, "certificate revoked")
		} else {
			require.NoError(t, err, out)
			assert.Contains(t, out, filepath.Base(leaf)+": OK")
		}
	}
}

func TestCRL_Empty(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	now := time.Now()
	der, err := ca.iss.CRL(t.Context(), nil, now, now.Add(time.Hour), big.NewInt(1))
	require.NoError(t, err)
	crl, err := x509.ParseRevocationList(der)
	require.NoError(t, err)
	require.NoError(t, crl.CheckSignatureFrom(ca.inter))
	assert.Empty(t, crl.RevokedCertificateEntries)
}

func TestCRL_UnspecifiedReasonOmitted(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	now := time.Now()
	der, err := ca.iss.CRL(t.Context(), []issuer.RevokedSerial{{Serial: big.NewInt(77), RevokedAt: now}}, now, now.Add(time.Hour), big.NewInt(1))
	require.NoError(t, err)
	crl, err := x509.ParseRevocationList(der)
	require.NoError(t, err)
	require.Len(t, crl.RevokedCertificateEntries, 1)
	assert.Empty(t, crl.RevokedCertificateEntries[0].Extensions, "RFC 5280: no reasonCode for unspecified")
}

func TestCRL_Refuses(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	now := time.Now()
	one := big.NewInt(1)
	entry := issuer.RevokedSerial{Serial: big.NewInt(5), RevokedAt: now, Reason: issuer.ReasonKeyCompromise}
	tests := []struct {
		name       string
		revoked    []issuer.RevokedSerial
		this, next time.Time
		number     *big.Int
		wantField  string
	}{
		{"no number", nil, now, now.Add(time.Hour), nil, "number"},
		{"negative number", nil, now, now.Add(time.Hour), big.NewInt(-1), "number"},
		{"number over 20 octets", nil, now, now.Add(time.Hour), new(big.Int).Lsh(one, 160), "number"},
		{"no thisUpdate", nil, time.Time{}, now, one, "this_update"},
		{"nextUpdate not after thisUpdate", nil, now, now, one, "next_update"},
		{"serial twice", []issuer.RevokedSerial{entry, entry}, now, now.Add(time.Hour), one, "revoked"},
		{"no revocation time", []issuer.RevokedSerial{{Serial: big.NewInt(5)}}, now, now.Add(time.Hour), one, "revoked"},
		{"reason 7", []issuer.RevokedSerial{{Serial: big.NewInt(5), RevokedAt: now, Reason: 7}}, now, now.Add(time.Hour), one, "revoked"},
		{"removeFromCRL", []issuer.RevokedSerial{{Serial: big.NewInt(5), RevokedAt: now, Reason: 8}}, now, now.Add(time.Hour), one, "revoked"},
		{"nil serial", []issuer.RevokedSerial{{RevokedAt: now}}, now, now.Add(time.Hour), one, "serial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ca.iss.CRL(t.Context(), tt.revoked, tt.this, tt.next, tt.number)
			var re *issuer.RequestError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.wantField, re.Field)
		})
	}
}
