package localca

import (
	"crypto/elliptic"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/keywrap"
)

func TestRevokeCertificate_ValidatesReason(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	serial := "7f3a9c0e5b2d4e6f8a1b2c3d4e5f6071"
	for _, reason := range []string{"", "unspecified", "keyCompromise", "caCompromise", "cACompromise", "affiliationChanged",
		"superseded", "cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise", "KEYCOMPROMISE"} {
		assert.NoError(t, ca.iss.RevokeCertificate(t.Context(), issuer.RevocationRequest{Serial: serial, Reason: reason, RevokedAt: time.Now()}), reason)
	}
	for _, reason := range []string{"stolen", "removeFromCRL", "key compromise"} {
		err := ca.iss.RevokeCertificate(t.Context(), issuer.RevocationRequest{Serial: serial, Reason: reason})
		var re *issuer.RequestError
		require.ErrorAs(t, err, &re, reason)
		assert.Equal(t, "reason", re.Field)
	}
	err := ca.iss.RevokeCertificate(t.Context(), issuer.RevocationRequest{Serial: "not-hex", Reason: "superseded"})
	assert.ErrorIs(t, err, issuer.ErrInvalidRequest)
}

func TestGetOrderStatus(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	res, _ := issue(t, ca, issuer.IssuanceRequest{CommonName: "o.example.com", CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "o.example.com")})

	st, err := ca.iss.GetOrderStatus(t.Context(), res.OrderID)
	require.NoError(t, err)
	assert.Equal(t, res.OrderID, st.OrderID)
	assert.Equal(t, issuer.OrderCompleted, st.Status)
	assert.Nil(t, st.Result)

	_, err = ca.iss.GetOrderStatus(t.Context(), "")
	assert.ErrorIs(t, err, issuer.ErrInvalidRequest)
	_, err = ca.iss.GetOrderStatus(t.Context(), "order-1")
	assert.ErrorIs(t, err, issuer.ErrInvalidRequest)
}

func TestCAChainPEM_IntermediateThenRoot(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	chain, err := ca.iss.CAChainPEM()
	require.NoError(t, err)
	first := mustParseCert(t, chain)
	assert.Equal(t, ca.inter.Raw, first.Raw)
	rest := strings.TrimPrefix(chain, ca.material.IntermediateCertPEM)
	require.NotEqual(t, chain, rest)
	assert.Equal(t, ca.root.Raw, mustParseCert(t, rest).Raw)
}

func TestParseConfig(t *testing.T) {
	ok := []struct {
		name string
		raw  string
		want Config
	}{
		{"null", `null`, Config{CACommonName: DefaultCommonName, ValidityDays: 90, MaxValidityDays: 397, KeyType: "ECDSA-P384"}},
		{"empty", ``, Config{CACommonName: DefaultCommonName, ValidityDays: 90, MaxValidityDays: 397, KeyType: "ECDSA-P384"}},
		{"demo", `{"ca_common_name":"CertCtl Demo CA","validity_days":90}`, Config{CACommonName: "CertCtl Demo CA", ValidityDays: 90, MaxValidityDays: 397, KeyType: "ECDSA-P384"}},
		{"long validity written before max_validity_days", `{"validity_days":825}`, Config{CACommonName: DefaultCommonName, ValidityDays: 825, MaxValidityDays: 825, KeyType: "ECDSA-P384"}},
		{"all fields", `{"ca_common_name":"X","validity_days":30,"max_validity_days":90,"key_type":"rsa-3072","crl_url":"http://n1:8080/.well-known/pki/crl/iss-local",` +
			`"allow_ip_sans":true,"permitted_dns_domains":["example.com",".corp.example.net"],"permitted_ip_ranges":["10.0.0.0/8","fd00::/8"]}`,
			Config{CACommonName: "X", ValidityDays: 30, MaxValidityDays: 90, KeyType: "RSA-3072", CRLURL: "http://n1:8080/.well-known/pki/crl/iss-local",
				AllowIPSANs: true, PermittedDNSDomains: []string{"example.com", ".corp.example.net"}, PermittedIPRanges: []string{"10.0.0.0/8", "fd00::/8"}}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig(json.RawMessage(tt.raw))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	bad := []struct {
		name, raw, field string
	}{
		{"negative validity", `{"validity_days":-1}`, "validity_days"},
		{"validity too long", `{"validity_days":3651}`, "validity_days"},
		{"validity as a string", `{"validity_days":"90"}`, "validity_days"},
		{"leaf key type", `{"key_type":"ECDSA-P256"}`, "key_type"},
		{"unknown key type", `{"key_type":"DSA-1024"}`, "key_type"},
		{"ftp CRL URL", `{"crl_url":"ftp://x/crl"}`, "crl_url"},
		{"max validity too long", `{"max_validity_days":3651}`, "max_validity_days"},
		{"negative max validity", `{"max_validity_days":-5}`, "max_validity_days"},
		{"validity above the max", `{"validity_days":398,"max_validity_days":397}`, "validity_days"},
		{"wildcard domain", `{"permitted_dns_domains":["*.example.com"]}`, "permitted_dns_domains"},
		{"IP as a domain", `{"permitted_dns_domains":["10.0.0.1"]}`, "permitted_dns_domains"},
		{"bad domain", `{"permitted_dns_domains":["exa mple.com"]}`, "permitted_dns_domains"},
		{"domains as a string", `{"permitted_dns_domains":"example.com"}`, "permitted_dns_domains"},
		{"range without a mask", `{"allow_ip_sans":true,"permitted_ip_ranges":["10.0.0.1"]}`, "permitted_ip_ranges"},
		{"range with host bits", `{"allow_ip_sans":true,"permitted_ip_ranges":["10.0.0.1/8"]}`, "permitted_ip_ranges"},
		{"ranges without allow_ip_sans", `{"permitted_ip_ranges":["10.0.0.0/8"]}`, "permitted_ip_ranges"},
		{"allow_ip_sans as a string", `{"allow_ip_sans":"yes"}`, "allow_ip_sans"},
		{"relative CRL URL", `{"crl_url":"/crl/iss-local"}`, "crl_url"},
		{"long common name", `{"ca_common_name":"` + strings.Repeat("n", 60) + `"}`, "ca_common_name"},
		{"misspelt field", `{"validity_day":30}`, "validity_day"},
		{"not an object", `[1,2]`, "config"},
		{"two objects", `{} {}`, "config"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(json.RawMessage(tt.raw))
			require.ErrorIs(t, err, issuer.ErrInvalidConfig)
			var ce *issuer.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.field, ce.Field)
			assert.Contains(t, err.Error(), tt.field)

			ca := newTestCA(t, "", Config{})
			assert.ErrorIs(t, ca.iss.ValidateConfig(t.Context(), json.RawMessage(tt.raw)), issuer.ErrInvalidConfig)
		})
	}
}

// TestRegistry_BuildsGenericCA wires the Local CA as cmd does and builds it
// from an issuer's stored type (in any letter case), config and material.
func TestRegistry_BuildsGenericCA(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	material, err := json.Marshal(ca.material)
	require.NoError(t, err)

	reg, err := issuer.NewRegistry(Connector(ca.kek))
	require.NoError(t, err)

	config := json.RawMessage(`{"ca_common_name":"certctl Test CA","validity_days":30}`)
	for _, typ := range []string{"genericca", "GenericCA", "GENERICCA"} {
		built, err := reg.Build(t.Context(), typ, issuer.Stored{ID: testIssuerID, Config: config, Material: material})
		require.NoError(t, err, typ)
		lca, ok := built.(*Issuer)
		require.True(t, ok, "built a %T", built)
		assert.Equal(t, testIssuerID, lca.Config().ID)
		assert.Equal(t, 30, lca.Config().ValidityDays)
		assert.Empty(t, lca.Config().CRLURL)
		_, isCRL := built.(issuer.CRLSigner)
		_, isChain := built.(issuer.ChainProvider)
		assert.True(t, isCRL && isChain)

		res, err := built.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: "reg.example.com", CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "reg.example.com")})
		require.NoError(t, err)
		opensslVerify(t, ca, res.CertPEM, "-x509_strict")
	}

	_, err = reg.Build(t.Context(), "vault", issuer.Stored{ID: "iss-x", Config: config})
	require.ErrorIs(t, err, issuer.ErrUnknownType)
	assert.Equal(t, `issuer: unknown issuer type "vault" for issuer "iss-x" (this node knows: GenericCA)`, err.Error())

	_, err = reg.Build(t.Context(), "GenericCA", issuer.Stored{ID: "iss-new", Config: config})
	assert.ErrorIs(t, err, ErrNoMaterial)
	assert.ErrorIs(t, err, issuer.ErrNoMaterial, "the registry's callers know no Local CA")

	_, err = reg.Build(t.Context(), "GenericCA", issuer.Stored{ID: testIssuerID, Config: json.RawMessage(`{"validity_days":-3}`), Material: material})
	assert.ErrorIs(t, err, issuer.ErrInvalidConfig)
	_, err = reg.Build(t.Context(), "GenericCA", issuer.Stored{ID: testIssuerID, Config: config, Material: json.RawMessage(`[1]`)})
	assert.ErrorContains(t, err, "unreadable")

	// The CRL URL the caller serves is the default distribution point; the
	// config's own wins.
	built, err := reg.Build(t.Context(), "GenericCA", issuer.Stored{ID: testIssuerID, Config: config, Material: material, CRLURL: "http://10.0.0.1:8443/.well-known/pki/crl/" + testIssuerID})
	require.NoError(t, err)
	assert.Equal(t, "http://10.0.0.1:8443/.well-known/pki/crl/"+testIssuerID, built.(*Issuer).Config().CRLURL)
	built, err = reg.Build(t.Context(), "GenericCA", issuer.Stored{ID: testIssuerID, Config: json.RawMessage(`{"crl_url":"http://ca.example.net/crl"}`), Material: material, CRLURL: "http://10.0.0.1:8443/x"})
	require.NoError(t, err)
	assert.Equal(t, "http://ca.example.net/crl", built.(*Issuer).Config().CRLURL)

	assert.NoError(t, reg.ValidateConfig(t.Context(), "genericca", config))
	assert.ErrorIs(t, reg.ValidateConfig(t.Context(), "genericca", json.RawMessage(`{"url":"x"}`)), issuer.ErrInvalidConfig)
	secret, _ := reg.SecretFields("GenericCA")
	assert.Empty(t, secret, "the Local CA's keys are its material, not config secrets")
}

// TestConnector_MakesMaterial: the connector's MaterialMaker makes the CA
// of an issuer from its config, sealed under the connector's KEK, and the
// connector then builds from it; without a KEK, neither works.
func TestConnector_MakesMaterial(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	reg, err := issuer.NewRegistry(Connector(ca.kek))
	require.NoError(t, err)
	maker, ok := reg.MaterialMaker("genericca")
	require.True(t, ok)
	s := issuer.Stored{ID: "iss-made", Config: json.RawMessage(`{"ca_common_name":"Made CA","key_type":"RSA-3072"}`)}
	m, err := maker.MakeMaterial(t.Context(), s, time.Now(), nil)
	require.NoError(t, err)
	assert.Equal(t, keywrap.KeyID(ca.kek), m.KEKID)
	assert.Contains(t, m.Summary, "RSA-3072")
	assert.NotContains(t, string(m.Data), "PRIVATE KEY")
	s.Material = m.Data
	built, err := reg.Build(t.Context(), "GenericCA", s)
	require.NoError(t, err)
	chain, err := built.(issuer.ChainProvider).CAChainPEM()
	require.NoError(t, err)
	assert.Contains(t, chain, "BEGIN CERTIFICATE")
	assert.Equal(t, "Made CA", built.(*Issuer).inter.Subject.CommonName)

	bare, err := issuer.NewRegistry(Connector(nil))
	require.NoError(t, err)
	_, err = bare.Build(t.Context(), "GenericCA", s)
	assert.ErrorIs(t, err, keywrap.ErrNoKEK)
	assert.ErrorContains(t, err, "--kek-file")
	maker, _ = bare.MaterialMaker("GenericCA")
	_, err = maker.MakeMaterial(t.Context(), s, time.Now(), nil)
	assert.ErrorIs(t, err, keywrap.ErrNoKEK)
}
