package localca

import (
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"

	"github.com/certctl/certctl/connectors/issuer"
)

// The Local CA's certificates and CRLs are linted with zlint v3 (RFC 5280
// and the RFCs it leans on; the CA/Browser Forum's Baseline Requirements
// for a CA with public_url and organization): no warning, no error.

// lintEpoch dates every certificate linted here: zlint applies a lint by
// the certificate's notBefore, so a fixed date keeps these results from
// changing with the calendar (the Baseline Requirements shorten TLS
// lifetimes to 100 days in March 2027 and 47 in March 2029; a 90-day leaf
// draws a warning from 2029).
var lintEpoch = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// rfcSources are the lint sources of RFC 5280 and the RFCs its profile
// refers to (algorithms, keys, IDNs).
var rfcSources = lint.SourceList{lint.RFC5280, lint.RFC5480, lint.RFC3279, lint.RFC5891, lint.RFC8813}

// cabfExcluded are the CA/Browser Forum lints deliberately not applied,
// with why.
var cabfExcluded = map[string]string{
	// RFC 5280 4.2.1.2 says end-entity certificates SHOULD carry a subject
	// key identifier (w_ext_subject_key_identifier_missing_sub_cert warns
	// without one); the BRs (7.1.2.7.6) say NOT RECOMMENDED. The Local CA
	// follows RFC 5280: one of the two warns whatever it does.
	"w_ext_subject_key_identifier_not_recommended_subscriber": "RFC 5280 asks for a leaf subject key identifier, the BRs advise against it",
	// The BRs (7.1.2.7.2) call a subscriber's commonName NOT RECOMMENDED,
	// not forbidden. certctl's certificates are named by their common name
	// (a required field), software still reads it, and it is always one of
	// the SANs (e_subject_common_name_not_exactly_from_san passes).
	"w_subject_common_name_included": "the leaf's common name is kept, always one of its SANs",
}

// cabfExcludedEd25519 is excluded for Ed25519 leaves only: the BRs
// (7.1.3.1) allow RSA and ECDSA subscriber keys, and a site that asks for
// an Ed25519 key has chosen to leave that profile.
const cabfExcludedEd25519 = "e_algorithm_identifier_improper_encoding"

// cabfHTTPOnly are the BR lints that want CRL and AIA URLs in http://: they
// fire for an https public_url, the cluster's own API (see
// TestZlint_HTTPSPublicURL).
var cabfHTTPOnly = []string{
	"e_aia_ca_issuers_must_have_http_only", "e_ca_aia_non_http_url", "e_crl_distrib_points_not_http",
	"e_sub_ca_crl_distribution_points_does_not_contain_url", "e_sub_cert_crl_distribution_points_does_not_contain_url",
	"w_sub_cert_aia_does_not_contain_issuing_ca_url",
}

// rfcHTTPOnly are RFC 5280's (4.2.1.13, 4.2.2.1): CRL and caIssuers
// locations SHOULD include an HTTP (or LDAP) URI.
var rfcHTTPOnly = []string{"w_distribution_point_missing_ldap_or_uri", "w_ext_aia_access_location_missing"}

func lintRegistry(t testing.TB, sources lint.SourceList, exclude []string) lint.Registry {
	t.Helper()
	reg, err := lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: sources, ExcludeNames: exclude})
	require.NoError(t, err)
	require.NotEmpty(t, reg.Names(), "no lint of %v", sources)
	return reg
}

// findings are the lints of rs that warn or worse, as "name: details".
func findings(rs *zlint.ResultSet) []string {
	var out []string
	for name, r := range rs.Results {
		if r.Status >= lint.Warn {
			out = append(out, fmt.Sprintf("%s (%s): %s", name, r.Status, r.Details))
		}
	}
	sort.Strings(out)
	return out
}

// lintCert lints the certificate der with reg and returns what warns or worse.
func lintCert(t testing.TB, reg lint.Registry, der []byte) []string {
	t.Helper()
	c, err := zx509.ParseCertificate(der)
	require.NoError(t, err)
	return findings(zlint.LintCertificateEx(c, reg))
}

func lintCRL(t testing.TB, reg lint.Registry, der []byte) []string {
	t.Helper()
	crl, err := zx509.ParseRevocationList(der)
	require.NoError(t, err)
	return findings(zlint.LintRevocationListEx(crl, reg))
}

// lintedCert is one certificate the Local CA made, named for messages.
type lintedCert struct {
	name string
	der  []byte
}

// caCertificates makes a CA of keyType with cfg at lintEpoch and every kind
// of certificate it makes: its root, its intermediate, leaves for keys of
// every type the server makes (issuer.GenerateKey) and for agents' CSRs
// (Go's, as the agent makes them, and openssl's). It returns them with the
// CA's two CRLs.
func caCertificates(t *testing.T, keyType string, cfg Config, names ...string) (*testCA, []lintedCert, [][]byte) {
	t.Helper()
	kek := testKEK(t)
	cfg.ID = testIssuerID
	if cfg.CACommonName == "" {
		cfg.CACommonName = "certctl Test CA"
	}
	cfg.KeyType = keyType
	m, err := NewCAFor(cfg, kek, lintEpoch, nil)
	require.NoError(t, err)
	iss, err := New(cfg, m, kek, WithClock(func() time.Time { return lintEpoch }))
	require.NoError(t, err)
	ca := &testCA{material: m, kek: kek, iss: iss, root: mustParseCert(t, m.RootCertPEM), inter: mustParseCert(t, m.IntermediateCertPEM)}
	certs := []lintedCert{{"root", ca.root.Raw}, {"intermediate", ca.inter.Raw}}

	if len(names) == 0 {
		names = []string{"www.example.com", "api.example.com", "*.apps.example.com"}
	}
	cn := names[0]
	for _, kt := range []issuer.KeyType{issuer.KeyECDSAP256, issuer.KeyECDSAP384, issuer.KeyRSA2048, issuer.KeyRSA3072, issuer.KeyRSA4096, issuer.KeyEd25519} {
		key, err := issuer.GenerateKey(string(kt), nil)
		require.NoError(t, err)
		csr, err := issuer.CSRFor(key, cn, names[1:])
		require.NoError(t, err)
		_, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: cn, SANs: names[1:], CSRPEM: csr})
		certs = append(certs, lintedCert{"server-made " + string(kt) + " leaf", leaf.Raw})
	}
	for kt, key := range map[string]crypto.Signer{"ECDSA-P256": ecKey(t, elliptic.P256()), "RSA-2048": rsaKey(t, 2048)} {
		csr, err := issuer.CSRFor(key, cn, names[1:])
		require.NoError(t, err)
		_, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: cn, SANs: names[1:], CSRPEM: csr})
		certs = append(certs, lintedCert{"agent CSR " + kt + " leaf", leaf.Raw})
	}
	if cfg.AllowIPSANs {
		opensslCSR, err := os.ReadFile("testdata/openssl-p256.csr")
		require.NoError(t, err)
		_, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: "app.example.com", SANs: []string{"www.app.example.com", "10.0.0.7"}, CSRPEM: string(opensslCSR)})
		certs = append(certs, lintedCert{"openssl CSR leaf", leaf.Raw})
	}

	revoked := []issuer.RevokedSerial{
		{Serial: big.NewInt(0x7f3a9c0e), RevokedAt: lintEpoch.Add(-time.Hour), Reason: issuer.ReasonKeyCompromise},
		{Serial: big.NewInt(0x1234), RevokedAt: lintEpoch.Add(-time.Minute), Reason: issuer.ReasonUnspecified},
	}
	interCRL, err := iss.CRL(t.Context(), revoked, lintEpoch, lintEpoch.Add(7*24*time.Hour), big.NewInt(7))
	require.NoError(t, err)
	rootCRL, err := iss.RootCRL(t.Context(), lintEpoch, lintEpoch.Add(7*24*time.Hour), big.NewInt(8))
	require.NoError(t, err)
	return ca, certs, [][]byte{interCRL, rootCRL}
}

// caKeyTypeNames are the CA key types, each linted.
var caKeyTypeNames = []string{"ECDSA-P384", "RSA-3072", "RSA-4096"}

// TestZlint_RFC5280_DefaultProfile lints what a CA made without any of the
// profile's fields makes (every issuer made before they existed): no RFC
// lint warns.
func TestZlint_RFC5280_DefaultProfile(t *testing.T) {
	reg := lintRegistry(t, rfcSources, nil)
	for _, kt := range caKeyTypeNames {
		t.Run(kt, func(t *testing.T) {
			_, certs, crls := caCertificates(t, kt, Config{AllowIPSANs: true}, "www.example.com", "10.1.2.3", "api.example.com")
			for _, c := range certs {
				assert.Empty(t, lintCert(t, reg, c.der), "%s", c.name)
			}
			for n, crl := range crls {
				assert.Empty(t, lintCRL(t, reg, crl), "CRL %d", n)
			}
		})
	}
}

// profileConfig is a config with the whole profile: public_url (http, as
// the BRs want), organization, country, policies and name constraints.
func profileConfig(publicURL string) Config {
	return Config{
		Organization:        "Example Site Operations",
		Country:             "DE",
		PublicURL:           publicURL,
		PolicyOIDs:          []string{"1.3.6.1.4.1.99999.1.1"},
		PermittedDNSDomains: []string{"example.com"},
	}
}

// cabfFindings lints c with reg and drops what cabfExcludedEd25519 allows
// an Ed25519 leaf.
func cabfFindings(t *testing.T, reg lint.Registry, c lintedCert) []string {
	t.Helper()
	var out []string
	for _, f := range lintCert(t, reg, c.der) {
		if strings.Contains(c.name, "Ed25519") && lintName(f) == cabfExcludedEd25519 {
			continue
		}
		out = append(out, f)
	}
	return out
}

func lintName(finding string) string {
	name, _, _ := strings.Cut(finding, " ")
	return name
}

// TestZlint_CABF_Profile lints every certificate and CRL of a CA with
// public_url and organization set against RFC 5280 and the CA/Browser
// Forum's Baseline Requirements: nothing warns but cabfExcluded (and
// cabfExcludedEd25519 for Ed25519 leaves).
func TestZlint_CABF_Profile(t *testing.T) {
	sources := append(slices.Clone(rfcSources), lint.CABFBaselineRequirements)
	reg := lintRegistry(t, sources, slices.Sorted(maps.Keys(cabfExcluded)))
	for _, kt := range caKeyTypeNames {
		t.Run(kt, func(t *testing.T) {
			_, certs, crls := caCertificates(t, kt, profileConfig("http://pki.example.com"))
			for _, c := range certs {
				assert.Empty(t, cabfFindings(t, reg, c), "%s", c.name)
			}
			for n, crl := range crls {
				assert.Empty(t, lintCRL(t, reg, crl), "CRL %d", n)
			}
		})
	}
	// The exclusions hide nothing else: without them, only they report.
	all := lintRegistry(t, sources, nil)
	_, certs, _ := caCertificates(t, "ECDSA-P384", profileConfig("http://pki.example.com"))
	fired := map[string]bool{}
	for _, c := range certs {
		for _, f := range lintCert(t, all, c.der) {
			fired[lintName(f)] = true
			if lintName(f) != cabfExcludedEd25519 || !strings.Contains(c.name, "Ed25519") {
				assert.Contains(t, cabfExcluded, lintName(f), "%s: %s", c.name, f)
			}
		}
	}
	for name := range cabfExcluded {
		assert.True(t, fired[name], "excluded lint %s no longer fires: remove its exclusion", name)
	}
}

// TestZlint_HTTPSPublicURL: with an https public_url (the cluster's own
// API) the lints that want CRL and AIA locations in http:// fire, RFC
// 5280's warnings and the BRs' errors, and nothing else does.
func TestZlint_HTTPSPublicURL(t *testing.T) {
	reg := lintRegistry(t, append(slices.Clone(rfcSources), lint.CABFBaselineRequirements), slices.Sorted(maps.Keys(cabfExcluded)))
	_, certs, _ := caCertificates(t, "ECDSA-P384", profileConfig("https://pki.example.com:8443"))
	fired := map[string]bool{}
	for _, c := range certs {
		for _, f := range cabfFindings(t, reg, c) {
			fired[lintName(f)] = true
			assert.Contains(t, append(slices.Clone(cabfHTTPOnly), rfcHTTPOnly...), lintName(f), "%s: %s", c.name, f)
		}
	}
	for _, name := range rfcHTTPOnly {
		assert.True(t, fired[name], "%s does not fire for https URLs", name)
	}
}

// TestZlint_WithoutProfileCABFReports shows the lints see what the profile
// fixes: a CA made without it draws the reports the profile removes.
func TestZlint_WithoutProfileCABFReports(t *testing.T) {
	reg := lintRegistry(t, lint.SourceList{lint.CABFBaselineRequirements}, nil)
	_, certs, _ := caCertificates(t, "ECDSA-P384", Config{})
	byCert := map[string][]string{}
	for _, c := range certs {
		for _, f := range lintCert(t, reg, c.der) {
			name, _, _ := strings.Cut(f, " ")
			byCert[c.name] = append(byCert[c.name], name)
		}
	}
	assert.Subset(t, byCert["root"], []string{"e_ca_organization_name_missing", "e_ca_country_name_missing"})
	assert.Subset(t, byCert["intermediate"], []string{"e_ca_organization_name_missing", "w_sub_ca_aia_missing", "e_sub_ca_crl_distribution_points_missing", "e_invalid_ca_certificate_policies"})
	assert.Subset(t, byCert["server-made ECDSA-P256 leaf"], []string{"e_sub_cert_aia_missing", "e_sub_cert_certificate_policies_missing"})
}

func pemFile(t *testing.T, dir, name string, der ...[]byte) string {
	t.Helper()
	var b strings.Builder
	for _, d := range der {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d}))
	}
	return writeFile(t, dir, name, []byte(b.String()))
}

// TestOpenSSL_CRLCheckAll verifies leaves with openssl verify -crl_check_all
// and both CRLs: a leaf passes, a revoked one fails, and without the root's
// CRL every leaf fails. A CA made before the profile's fields (no
// public_url) works the same: the CRLs come from -CRLfile.
func TestOpenSSL_CRLCheckAll(t *testing.T) {
	requireOpenSSL(t)
	for name, cfg := range map[string]Config{"profile": profileConfig("http://pki.example.com"), "default": {}} {
		t.Run(name, func(t *testing.T) {
			ca := newTestCAFor(t, cfg)
			_, good := issue(t, ca, issuer.IssuanceRequest{CommonName: "good.example.com", CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "good.example.com")})
			_, bad := issue(t, ca, issuer.IssuanceRequest{CommonName: "bad.example.com", CSRPEM: makeCSR(t, rsaKey(t, 2048), "bad.example.com")})
			now := time.Now()
			interCRL, err := ca.iss.CRL(t.Context(), []issuer.RevokedSerial{{Serial: bad.SerialNumber, RevokedAt: now.Add(-time.Second), Reason: issuer.ReasonKeyCompromise}},
				now.Add(-time.Minute), now.Add(7*24*time.Hour), big.NewInt(2))
			require.NoError(t, err)
			rootCRL, err := ca.iss.RootCRL(t.Context(), now.Add(-time.Minute), now.Add(7*24*time.Hour), big.NewInt(3))
			require.NoError(t, err)

			dir := t.TempDir()
			root := pemFile(t, dir, "root.pem", ca.root.Raw)
			inter := pemFile(t, dir, "intermediate.pem", ca.inter.Raw)
			rootCRLFile := writeFile(t, dir, "root.crl", pemBlock("X509 CRL", rootCRL))
			interCRLFile := writeFile(t, dir, "intermediate.crl", pemBlock("X509 CRL", interCRL))
			verify := func(leaf *x509.Certificate, crls ...string) (string, error) {
				path := pemFile(t, dir, leaf.Subject.CommonName+".pem", leaf.Raw)
				args := []string{"verify", "-crl_check_all", "-x509_strict", "-purpose", "sslserver", "-CAfile", root, "-untrusted", inter}
				for _, c := range crls {
					args = append(args, "-CRLfile", c)
				}
				return openssl(t, append(args, path)...)
			}

			out, err := verify(good, rootCRLFile, interCRLFile)
			require.NoError(t, err, out)
			assert.Contains(t, out, ": OK")

			out, err = verify(bad, rootCRLFile, interCRLFile)
			require.Error(t, err, "a revoked leaf must not verify: %s", out)
			assert.Contains(t, out, "certificate revoked")

			out, err = verify(good, interCRLFile)
			require.Error(t, err, "without the root's CRL the intermediate's status is unknown: %s", out)
			assert.Contains(t, out, "unable to get certificate CRL")
		})
	}
}

// newTestCAFor is newTestCA with the CA made from cfg (NewCAFor).
func newTestCAFor(t testing.TB, cfg Config, opts ...Option) *testCA {
	t.Helper()
	kek := testKEK(t)
	cfg.ID = testIssuerID
	m, err := NewCAFor(cfg, kek, time.Now(), rand.Reader)
	require.NoError(t, err)
	iss, err := New(cfg, m, kek, opts...)
	require.NoError(t, err)
	return &testCA{material: m, kek: kek, iss: iss, root: mustParseCert(t, m.RootCertPEM), inter: mustParseCert(t, m.IntermediateCertPEM)}
}
