package localca

import (
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
)

// refused requires that ca refuses req with an *issuer.RequestError naming
// field and containing each of want.
func refused(t *testing.T, ca *testCA, req issuer.IssuanceRequest, field string, want ...string) {
	t.Helper()
	if req.CSRPEM == "" {
		req.CSRPEM = makeCSR(t, ecKey(t, elliptic.P256()), "")
	}
	res, err := ca.iss.IssueCertificate(t.Context(), req)
	require.Error(t, err, "issued %+v", res)
	require.ErrorIs(t, err, issuer.ErrInvalidRequest)
	var re *issuer.RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, field, re.Field, "%v", err)
	for _, w := range want {
		assert.Contains(t, err.Error(), w)
	}
}

// TestIssue_RefusesPublicSuffixes: no wildcard directly under a public
// suffix (ICANN or private, or a TLD the list does not know), and no name
// that is an ICANN public suffix; a wildcard under a domain of one's own is
// fine.
func TestIssue_RefusesPublicSuffixes(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	for _, name := range []string{"*.com", "*.co.uk", "*.github.io", "*.corp", "*.COM"} {
		t.Run(name, func(t *testing.T) {
			refused(t, ca, issuer.IssuanceRequest{CommonName: "www.example.com", SANs: []string{"www.example.com", name}},
				"sans", "public suffix", "name a domain of your own")
			refused(t, ca, issuer.IssuanceRequest{CommonName: name}, "common_name", "public suffix")
		})
	}
	for _, name := range []string{"com", "co.uk"} {
		refused(t, ca, issuer.IssuanceRequest{CommonName: "www.example.com", SANs: []string{name}}, "sans", "is a public suffix")
	}
	for _, name := range []string{"*.example.com", "*.example.co.uk", "*.internal.example.corp", "localhost", "myhost"} {
		_, leaf := issue(t, ca, issuer.IssuanceRequest{SANs: []string{name}, CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "")})
		assert.Equal(t, []string{name}, leaf.DNSNames)
	}
}

// TestIssue_IPSANs: IP addresses are refused unless allow_ip_sans, naming
// the setting; with it they are signed.
func TestIssue_IPSANs(t *testing.T) {
	strict := newTestCA(t, "", Config{})
	refused(t, strict, issuer.IssuanceRequest{CommonName: "www.example.com", SANs: []string{"10.0.0.1"}}, "sans", "allow_ip_sans: true")
	refused(t, strict, issuer.IssuanceRequest{CommonName: "10.0.0.1"}, "common_name", "allow_ip_sans")
	refused(t, strict, issuer.IssuanceRequest{CommonName: "www.example.com", SANs: []string{"2001:db8::1"}}, "sans", "allow_ip_sans")

	open := newTestCA(t, "", Config{AllowIPSANs: true})
	res, leaf := issue(t, open, issuer.IssuanceRequest{CommonName: "www.example.com", SANs: []string{"10.0.0.1"},
		CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "www.example.com")})
	require.Len(t, leaf.IPAddresses, 1)
	assert.Equal(t, "10.0.0.1", leaf.IPAddresses[0].String())
	opensslVerify(t, open, res.CertPEM, "-x509_strict")
}

// TestIssue_RefusesNonDNSNames: a common name that is neither a DNS name nor
// an IP address, and a name whose last label is all digits, are refused.
func TestIssue_RefusesNonDNSNames(t *testing.T) {
	ca := newTestCA(t, "", Config{AllowIPSANs: true})
	for _, cn := range []string{"Payments Service", "under_score.example.com", "www.example.com.", "a..example.com", "-x.example.com", "www.*.example.com"} {
		refused(t, ca, issuer.IssuanceRequest{CommonName: cn, SANs: []string{"pay.example.com"}}, "common_name", "is not a DNS name")
	}
	refused(t, ca, issuer.IssuanceRequest{CommonName: "www.example.com", SANs: []string{"10.0.0.300"}}, "sans", "last label is all digits")
	refused(t, ca, issuer.IssuanceRequest{CommonName: "1.2.3.4.5"}, "common_name", "is not a DNS name")
}

// TestIssue_MaxValidity: a lifetime above max_validity_days is refused,
// naming the setting and the field of the request, never shortened; up to it
// is signed. Without the field the cap is 397 days.
func TestIssue_MaxValidity(t *testing.T) {
	ca := newTestCA(t, "", Config{MaxValidityDays: 30})
	assert.Equal(t, 30, ca.iss.Config().ValidityDays, "a lower cap lowers the default lifetime")
	day := 24 * time.Hour
	refused(t, ca, issuer.IssuanceRequest{CommonName: "v.example.com", Validity: 31 * day}, "validity",
		"a lifetime of 31 days exceeds this CA's max_validity_days 30", "ask for at most 30 days")
	now := time.Now().UTC().Truncate(time.Second)
	refused(t, ca, issuer.IssuanceRequest{CommonName: "v.example.com", NotBefore: now, NotAfter: now.Add(30*day + time.Hour)}, "not_after",
		"max_validity_days 30")

	csr := makeCSR(t, ecKey(t, elliptic.P256()), "v.example.com")
	_, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: "v.example.com", Validity: 30 * day, CSRPEM: csr})
	assert.Equal(t, 30*day+leafBackdate, leaf.NotAfter.Sub(leaf.NotBefore), "the cap, plus the backdating for clock skew")
	_, leaf = issue(t, ca, issuer.IssuanceRequest{CommonName: "v.example.com", CSRPEM: csr})
	assert.Equal(t, 30*day+leafBackdate, leaf.NotAfter.Sub(leaf.NotBefore))

	def := newTestCA(t, "", Config{})
	refused(t, def, issuer.IssuanceRequest{CommonName: "v.example.com", Validity: 398 * day}, "validity", "max_validity_days 397")
	issue(t, def, issuer.IssuanceRequest{CommonName: "v.example.com", Validity: 397 * day, CSRPEM: csr})
}

// constrainedCA makes a CA whose intermediate carries cfg's name
// constraints, and its Issuer.
func constrainedCA(t *testing.T, cfg Config) *testCA {
	t.Helper()
	kek := testKEK(t)
	cfg.ID, cfg.CACommonName = testIssuerID, "Constrained CA"
	m, err := NewCAFor(cfg, kek, time.Now(), nil)
	require.NoError(t, err)
	iss, err := New(cfg, m, kek)
	require.NoError(t, err)
	return &testCA{material: m, kek: kek, iss: iss, root: mustParseCert(t, m.RootCertPEM), inter: mustParseCert(t, m.IntermediateCertPEM)}
}

// handMadeLeaf signs a leaf for the names given with the intermediate's key
// directly, as a thief of that key (or a bug past the checks) would: no
// check of this package runs.
func handMadeLeaf(t *testing.T, ca *testCA, dns []string, ips []net.IP) string {
	t.Helper()
	key := ecKey(t, elliptic.P256())
	cn := ""
	if len(dns) > 0 {
		cn = dns[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns, IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(nil, tmpl, ca.inter, key.Public(), ca.iss.signer)
	require.NoError(t, err)
	return string(pemBlock("CERTIFICATE", der))
}

// opensslRejects runs openssl verify on leafPEM and requires it to fail
// with want in its output.
func opensslRejects(t *testing.T, ca *testCA, leafPEM, want string) {
	t.Helper()
	dir := t.TempDir()
	root := writeFile(t, dir, "root.pem", []byte(ca.material.RootCertPEM))
	inter := writeFile(t, dir, "intermediate.pem", []byte(ca.material.IntermediateCertPEM))
	leaf := writeFile(t, dir, "leaf.pem", []byte(leafPEM))
	out, err := openssl(t, "verify", "-CAfile", root, "-untrusted", inter, leaf)
	require.Error(t, err, "openssl accepted a leaf outside the name constraints:\n%s", out)
	assert.NotContains(t, out, leaf+": OK")
	assert.Contains(t, out, want)
}

// TestNameConstraints_DNS: permitted_dns_domains are in the intermediate as
// critical name constraints, with every IP address excluded; the CA refuses
// names outside them; a leaf outside signed by hand with the intermediate's
// key is rejected by openssl and by crypto/x509, and one inside passes.
func TestNameConstraints_DNS(t *testing.T) {
	ca := constrainedCA(t, Config{PermittedDNSDomains: []string{"example.com", ".corp.example.net"}})

	assert.Equal(t, []string{"example.com", ".corp.example.net"}, ca.inter.PermittedDNSDomains)
	assert.True(t, ca.inter.PermittedDNSDomainsCritical, "RFC 5280: name constraints are critical")
	require.Len(t, ca.inter.ExcludedIPRanges, 2, "a name-constrained CA signs no IP address")
	assert.Equal(t, "0.0.0.0/0", ca.inter.ExcludedIPRanges[0].String())
	assert.Equal(t, "::/0", ca.inter.ExcludedIPRanges[1].String())
	assert.Empty(t, ca.root.PermittedDNSDomains, "the root is not constrained")
	text, err := openssl(t, "x509", "-noout", "-ext", "nameConstraints", "-in", writeFile(t, t.TempDir(), "i.pem", []byte(ca.material.IntermediateCertPEM)))
	require.NoError(t, err, text)
	assert.Contains(t, text, "critical")
	assert.Contains(t, text, "DNS:example.com")

	// The CA itself refuses names outside, whatever the CSR says.
	refused(t, ca, issuer.IssuanceRequest{CommonName: "www.google.com"}, "common_name", "outside this CA's permitted_dns_domains", "example.com")
	refused(t, ca, issuer.IssuanceRequest{CommonName: "corp.example.net"}, "common_name", "permitted_dns_domains")
	refused(t, ca, issuer.IssuanceRequest{CommonName: "www.example.com", SANs: []string{"notexample.com"}}, "sans", "permitted_dns_domains")

	// Inside: issued, and verifies.
	res, _ := issue(t, ca, issuer.IssuanceRequest{CommonName: "www.example.com", SANs: []string{"*.api.example.com", "db.corp.example.net"},
		CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "www.example.com")})
	opensslVerify(t, ca, res.CertPEM, "-x509_strict")

	// By hand, bypassing the CA: inside passes, outside fails.
	opensslVerify(t, ca, handMadeLeaf(t, ca, []string{"shop.example.com"}, nil))
	opensslRejects(t, ca, handMadeLeaf(t, ca, []string{"www.google.com"}, nil), "permitted subtree violation")
	opensslRejects(t, ca, handMadeLeaf(t, ca, []string{"www.example.com"}, []net.IP{net.ParseIP("10.0.0.1")}), "excluded subtree violation")

	roots, inters := ca.pools()
	outside := mustParseCert(t, handMadeLeaf(t, ca, []string{"www.google.com"}, nil))
	_, err = outside.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters})
	var inv x509.CertificateInvalidError
	require.ErrorAs(t, err, &inv)
	assert.Equal(t, x509.CANotAuthorizedForThisName, inv.Reason)
}

// TestNameConstraints_IP: permitted_ip_ranges (with allow_ip_sans) are in
// the intermediate; an address outside is refused by the CA and, signed by
// hand, rejected by openssl.
func TestNameConstraints_IP(t *testing.T) {
	ca := constrainedCA(t, Config{AllowIPSANs: true, PermittedDNSDomains: []string{"example.com"}, PermittedIPRanges: []string{"10.0.0.0/8"}})
	require.Len(t, ca.inter.PermittedIPRanges, 1)
	assert.Equal(t, "10.0.0.0/8", ca.inter.PermittedIPRanges[0].String())
	assert.Empty(t, ca.inter.ExcludedIPRanges)

	refused(t, ca, issuer.IssuanceRequest{CommonName: "www.example.com", SANs: []string{"192.168.1.1"}}, "sans", "permitted_ip_ranges (10.0.0.0/8)")
	res, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: "www.example.com", SANs: []string{"10.1.2.3"},
		CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "www.example.com")})
	assert.Equal(t, "10.1.2.3", leaf.IPAddresses[0].String())
	opensslVerify(t, ca, res.CertPEM)
	opensslRejects(t, ca, handMadeLeaf(t, ca, []string{"www.example.com"}, []net.IP{net.ParseIP("192.168.1.1")}), "permitted subtree violation")
}

// TestNameConstraints_ConfigOnOldCA: a CA made without constraints keeps
// its unconstrained intermediate when its config gains them later, but it
// refuses names outside the config's lists all the same.
func TestNameConstraints_ConfigOnOldCA(t *testing.T) {
	ca := newTestCA(t, "", Config{PermittedDNSDomains: []string{"example.com"}})
	assert.Empty(t, ca.inter.PermittedDNSDomains)
	refused(t, ca, issuer.IssuanceRequest{CommonName: "www.google.com"}, "common_name", "permitted_dns_domains")
	issue(t, ca, issuer.IssuanceRequest{CommonName: "www.example.com", CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "")})
	assert.False(t, strings.Contains(ca.material.IntermediateCertPEM, "example.com"))
}
