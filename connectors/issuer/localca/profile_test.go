package localca

import (
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/keywrap"
)

func oids(t *testing.T, s ...string) []x509.OID {
	t.Helper()
	var out []x509.OID
	for _, v := range s {
		oid, err := x509.ParseOID(v)
		require.NoError(t, err)
		out = append(out, oid)
	}
	return out
}

// TestProfile_Extensions checks what each field puts where: the subject
// fields in the root and intermediate, the URLs under public_url in the
// intermediate (the root's) and the leaves (the intermediate's), the
// policies in the intermediate and the leaves.
func TestProfile_Extensions(t *testing.T) {
	cfg := profileConfig("http://pki.example.com/")
	cfg.OrganizationalUnit = "PKI"
	ca := newTestCAFor(t, cfg)
	root, inter := ca.root, ca.inter

	for _, c := range []*x509.Certificate{root, inter} {
		assert.Equal(t, []string{"Example Site Operations"}, c.Subject.Organization)
		assert.Equal(t, []string{"PKI"}, c.Subject.OrganizationalUnit)
		assert.Equal(t, []string{"DE"}, c.Subject.Country)
	}
	assert.Equal(t, "certctl Local CA Root", root.Subject.CommonName)
	assert.Equal(t, "certctl Local CA", inter.Subject.CommonName)
	assert.Equal(t, -1, root.MaxPathLen, "a CA/B profile root writes no path length")
	assert.Equal(t, root.SubjectKeyId, root.AuthorityKeyId)
	assert.Empty(t, root.Policies)
	assert.Empty(t, root.CRLDistributionPoints)

	assert.Equal(t, []string{"http://pki.example.com/.well-known/pki/ca/iss-local/root"}, inter.IssuingCertificateURL)
	assert.Equal(t, []string{"http://pki.example.com/.well-known/pki/crl/iss-local/root"}, inter.CRLDistributionPoints)
	assert.Equal(t, oids(t, PolicyDomainValidated, "1.3.6.1.4.1.99999.1.1"), inter.Policies)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, inter.ExtKeyUsage)
	assert.Equal(t, root.SubjectKeyId, inter.AuthorityKeyId)

	_, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: "www.example.com", CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "www.example.com")})
	assert.Equal(t, "CN=www.example.com", leaf.Subject.String(), "a leaf's subject is its common name alone")
	assert.Equal(t, []string{"http://pki.example.com/.well-known/pki/ca/iss-local/intermediate"}, leaf.IssuingCertificateURL)
	assert.Equal(t, []string{"http://pki.example.com/.well-known/pki/crl/iss-local"}, leaf.CRLDistributionPoints)
	assert.Equal(t, oids(t, PolicyDomainValidated, "1.3.6.1.4.1.99999.1.1"), leaf.Policies)
	assert.Equal(t, inter.SubjectKeyId, leaf.AuthorityKeyId)
	assert.Len(t, leaf.SubjectKeyId, 20)

	// crl_url still names the leaves' distribution point.
	cfg.CRLURL = "http://crl.example.com/local.crl"
	cfg.ID = testIssuerID
	iss, err := New(cfg, ca.material, ca.kek)
	require.NoError(t, err)
	ca.iss = iss
	_, leaf = issue(t, ca, issuer.IssuanceRequest{CommonName: "www.example.com", CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "www.example.com")})
	assert.Equal(t, []string{"http://crl.example.com/local.crl"}, leaf.CRLDistributionPoints)
}

// TestProfile_PoliciesWithoutPublicURL: policy_oids alone go in as given,
// without the CA/Browser Forum's identifier.
func TestProfile_PoliciesWithoutPublicURL(t *testing.T) {
	ca := newTestCAFor(t, Config{PolicyOIDs: []string{"1.2.3.4"}})
	assert.Equal(t, oids(t, "1.2.3.4"), ca.inter.Policies)
	assert.Empty(t, ca.inter.ExtKeyUsage)
	assert.Empty(t, ca.inter.IssuingCertificateURL)
	_, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: "www.example.com", CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "www.example.com")})
	assert.Equal(t, oids(t, "1.2.3.4"), leaf.Policies)
	assert.Empty(t, leaf.IssuingCertificateURL)
}

// TestProfile_DefaultUnchanged: a config without the new fields (every
// issuer made before them) makes and signs what it always did: subjects of
// a common name, a root allowing one CA below it, no AIA, no policies, no
// EKU on the intermediate, a leaf's distribution point from crl_url or the
// node's address only.
func TestProfile_DefaultUnchanged(t *testing.T) {
	ca := newTestCAFor(t, Config{})
	assert.Equal(t, "CN=certctl Local CA Root", ca.root.Subject.String())
	assert.Equal(t, "CN=certctl Local CA", ca.inter.Subject.String())
	assert.Equal(t, 1, ca.root.MaxPathLen)
	assert.True(t, ca.inter.MaxPathLenZero)
	for _, c := range []*x509.Certificate{ca.root, ca.inter} {
		assert.Empty(t, c.IssuingCertificateURL)
		assert.Empty(t, c.CRLDistributionPoints)
		assert.Empty(t, c.Policies)
		assert.Empty(t, c.ExtKeyUsage)
	}
	_, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: "www.example.com", CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "www.example.com")})
	assert.Empty(t, leaf.IssuingCertificateURL)
	assert.Empty(t, leaf.CRLDistributionPoints)
	assert.Empty(t, leaf.Policies)

	// Built through the connector, the node's CRL address fills in.
	material, err := json.Marshal(ca.material)
	require.NoError(t, err)
	reg, err := issuer.NewRegistry(Connector(ca.kek))
	require.NoError(t, err)
	built, err := reg.Build(t.Context(), Type, issuer.Stored{ID: testIssuerID, Config: json.RawMessage(`{}`), Material: material, CRLURL: "https://n1:8443/.well-known/pki/crl/iss-local"})
	require.NoError(t, err)
	res, err := built.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: "www.example.com", CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "www.example.com")})
	require.NoError(t, err)
	assert.Equal(t, []string{"https://n1:8443/.well-known/pki/crl/iss-local"}, mustParseCert(t, res.CertPEM).CRLDistributionPoints)
	// public_url takes precedence over the node's address.
	built, err = reg.Build(t.Context(), Type, issuer.Stored{ID: testIssuerID, Config: json.RawMessage(`{"public_url":"http://pki.example.com"}`), Material: material, CRLURL: "https://n1:8443/.well-known/pki/crl/iss-local"})
	require.NoError(t, err)
	res, err = built.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: "www.example.com", CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "www.example.com")})
	require.NoError(t, err)
	leaf = mustParseCert(t, res.CertPEM)
	assert.Equal(t, []string{"http://pki.example.com/.well-known/pki/crl/iss-local"}, leaf.CRLDistributionPoints)
	assert.Equal(t, []string{"http://pki.example.com/.well-known/pki/ca/iss-local/intermediate"}, leaf.IssuingCertificateURL)
}

// TestRootCRL is signed by the root, names it, lists nothing, and needs the
// KEK the material was sealed under.
func TestRootCRL(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	now := time.Now().UTC().Truncate(time.Second)
	der, err := ca.iss.RootCRL(t.Context(), now, now.Add(time.Hour), big.NewInt(42))
	require.NoError(t, err)
	crl, err := x509.ParseRevocationList(der)
	require.NoError(t, err)
	require.NoError(t, crl.CheckSignatureFrom(ca.root))
	assert.Error(t, crl.CheckSignatureFrom(ca.inter))
	assert.Equal(t, ca.root.RawSubject, crl.RawIssuer)
	assert.Equal(t, ca.root.SubjectKeyId, crl.AuthorityKeyId)
	assert.Empty(t, crl.RevokedCertificateEntries)
	assert.Equal(t, int64(42), crl.Number.Int64())
	assert.Equal(t, now, crl.ThisUpdate)

	_, err = ca.iss.RootCRL(t.Context(), now, now, big.NewInt(1))
	assert.ErrorIs(t, err, issuer.ErrInvalidRequest)
	_, err = ca.iss.RootCRL(t.Context(), now, now.Add(time.Hour), nil)
	assert.ErrorIs(t, err, issuer.ErrInvalidRequest)

	// A root key that does not open (altered material) fails the CRL, not
	// the issuer: leaves still sign.
	m := *ca.material
	m.RootKeySealed = append([]byte(nil), m.RootKeySealed...)
	m.RootKeySealed[len(m.RootKeySealed)-1] ^= 1
	iss, err := New(Config{ID: testIssuerID}, &m, ca.kek)
	require.NoError(t, err)
	_, err = iss.RootCRL(t.Context(), now, now.Add(time.Hour), big.NewInt(1))
	assert.ErrorIs(t, err, keywrap.ErrOpen)
}

func TestParseConfig_Profile(t *testing.T) {
	got, err := ParseConfig(json.RawMessage(`{"organization":"Example Ops","organizational_unit":"PKI","country":"DE","public_url":"https://pki.example.com:8443/base","policy_oids":["1.3.6.1.4.1.99999.1.1","2.999.1"]}`))
	require.NoError(t, err)
	assert.Equal(t, "Example Ops", got.Organization)
	assert.Equal(t, "PKI", got.OrganizationalUnit)
	assert.Equal(t, "DE", got.Country)
	assert.Equal(t, "https://pki.example.com:8443/base", got.PublicURL)
	assert.Equal(t, []string{"1.3.6.1.4.1.99999.1.1", "2.999.1"}, got.PolicyOIDs)

	bad := []struct{ name, raw, field string }{
		{"lowercase country", `{"country":"de"}`, "country"},
		{"three-letter country", `{"country":"DEU"}`, "country"},
		{"one-letter country", `{"country":"D"}`, "country"},
		{"country digits", `{"country":"D1"}`, "country"},
		{"long organization", `{"organization":"` + strings.Repeat("ö", 65) + `"}`, "organization"},
		{"organization with a newline", `{"organization":"Example\nOps"}`, "organization"},
		{"organization padded", `{"organization":" Example"}`, "organization"},
		{"unit with a control", `{"organizational_unit":"PKI\u0007"}`, "organizational_unit"},
		{"relative public URL", `{"public_url":"/pki"}`, "public_url"},
		{"public URL without a scheme", `{"public_url":"pki.example.com"}`, "public_url"},
		{"ftp public URL", `{"public_url":"ftp://pki.example.com"}`, "public_url"},
		{"public URL with a query", `{"public_url":"https://pki.example.com/?x=1"}`, "public_url"},
		{"public URL with a fragment", `{"public_url":"https://pki.example.com/#x"}`, "public_url"},
		{"public URL with a password", `{"public_url":"https://u:p@pki.example.com"}`, "public_url"},
		{"public URL with a space", `{"public_url":"https://pki.example.com/a b"}`, "public_url"},
		{"public URL not ASCII", `{"public_url":"https://pki.exämple.com"}`, "public_url"},
		{"public URL without a host", `{"public_url":"https://:8443"}`, "public_url"},
		{"OID one arc", `{"policy_oids":["1"]}`, "policy_oids"},
		{"OID letters", `{"policy_oids":["1.3.a"]}`, "policy_oids"},
		{"OID leading zero", `{"policy_oids":["1.03.6"]}`, "policy_oids"},
		{"OID first arc 3", `{"policy_oids":["3.1"]}`, "policy_oids"},
		{"OID second arc 40", `{"policy_oids":["1.40.1"]}`, "policy_oids"},
		{"OID empty arc", `{"policy_oids":["1..3"]}`, "policy_oids"},
		{"anyPolicy", `{"policy_oids":["2.5.29.32.0"]}`, "policy_oids"},
		{"CA/B reserved", `{"policy_oids":["2.23.140.1.2.2"]}`, "policy_oids"},
		{"duplicate OID", `{"policy_oids":["1.2.3","1.2.3"]}`, "policy_oids"},
		{"too many OIDs", `{"policy_oids":["1.2.1","1.2.2","1.2.3","1.2.4","1.2.5","1.2.6","1.2.7","1.2.8","1.2.9","1.2.10","1.2.11"]}`, "policy_oids"},
		{"OIDs as a string", `{"policy_oids":"1.2.3"}`, "policy_oids"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(json.RawMessage(tt.raw))
			var ce *issuer.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.field, ce.Field, "%v", err)
		})
	}
}
