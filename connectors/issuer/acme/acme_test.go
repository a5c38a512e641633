package acme_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	legolog "github.com/go-acme/lego/v5/log"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/issuer/acme"
	"github.com/certctl/certctl/connectors/issuer/acme/acmetest"
	"github.com/certctl/certctl/connectors/keywrap"
)

// memAnswers is a Challenges and AnswerReader in memory; published lists
// every token ever published.
type memAnswers struct {
	mu        sync.Mutex
	live      map[string]acme.Answer
	published []string
	drop      bool // publish nothing (a broken store)
}

func (m *memAnswers) Publish(_ context.Context, a acme.Answer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.published = append(m.published, a.Token)
	if !m.drop {
		m.live[a.Token] = a
	}
	return nil
}

func (m *memAnswers) Withdraw(_ context.Context, _, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.live, token)
	return nil
}

func (m *memAnswers) ACMEChallengeAnswer(token string, now time.Time) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.live[token]
	if !ok || !a.ExpiresAt.After(now) {
		return "", false
	}
	return a.KeyAuthorization, true
}

func (m *memAnswers) publishedCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.published)
}

func (m *memAnswers) liveCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.live)
}

// env is pebble, the HTTP-01 handler on the port pebble validates at, and
// an ACME connector.
type env struct {
	pebble  *acmetest.Pebble
	answers *memAnswers
	conn    issuer.Connector
}

func newEnv(t testing.TB, opts acmetest.Options) *env {
	t.Helper()
	answers := &memAnswers{live: map[string]acme.Answer{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: acme.ChallengeHandler(answers, acme.HandlerOptions{Wait: -1}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	opts.HTTPPort = ln.Addr().(*net.TCPAddr).Port
	kek, err := keywrap.NewKEK(nil)
	require.NoError(t, err)
	return &env{pebble: acmetest.Start(t, opts), answers: answers, conn: acme.Connector(kek, answers, acme.Options{})}
}

func (e *env) config(extra map[string]any) json.RawMessage {
	cfg := map[string]any{"directory_url": e.pebble.DirectoryURL, "ca_bundle": e.pebble.CABundle, "email": "pki@example.com",
		"eab_kid": acmetest.EABKID, "eab_hmac_key": acmetest.EABHMACKey, "terms_of_service_agreed": true}
	for k, v := range extra {
		if v == nil {
			delete(cfg, k)
		} else {
			cfg[k] = v
		}
	}
	raw, _ := json.Marshal(cfg)
	return raw
}

// issuerFor makes the account of issuer id (as the issuance service does:
// MakeMaterial, then Build with it) and builds it.
func (e *env) issuerFor(t testing.TB, id string, config json.RawMessage) issuer.Issuer {
	t.Helper()
	s := issuer.Stored{ID: id, Config: config}
	_, err := e.conn.New(t.Context(), s)
	require.ErrorIs(t, err, issuer.ErrNoMaterial, "no account yet")
	m, err := e.conn.Material.MakeMaterial(t.Context(), s, time.Now(), rand.Reader)
	require.NoError(t, err)
	assert.NotContains(t, string(m.Data), "PRIVATE KEY")
	s.Material = m.Data
	iss, err := e.conn.New(t.Context(), s)
	require.NoError(t, err)
	return iss
}

func csrFor(t testing.TB, names ...string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// TestACME_IssueRenewRevokeAgainstPebble: with EAB required and a fifth of
// pebble's requests refused with badNonce, an account is registered once,
// a certificate is ordered from a CSR over HTTP-01 (answered by the
// handler from the published answers, withdrawn afterwards), its chain
// verifies against pebble's root; a renewal is a new certificate; a
// revocation with a reason is what pebble records.
func TestACME_IssueRenewRevokeAgainstPebble(t *testing.T) {
	e := newEnv(t, acmetest.Options{NonceReject: 20})
	iss := e.issuerFor(t, "iss-acme", e.config(nil))

	req := issuer.IssuanceRequest{CommonName: "web.example.com", SANs: []string{"www.example.com"},
		CSRPEM: csrFor(t, "web.example.com", "www.example.com")}
	res, err := iss.IssueCertificate(t.Context(), req)
	require.NoError(t, err)
	leaf := e.pebble.Verify(t, res.CertPEM+res.ChainPEM, "www.example.com")
	assert.Equal(t, issuer.FormatSerial(leaf.SerialNumber), res.SerialNumber)
	assert.NotEmpty(t, res.OrderID)
	assert.Equal(t, 2, e.answers.publishedCount(), "one HTTP-01 answer per name")
	assert.Zero(t, e.answers.liveCount(), "answers are withdrawn after the order")
	assert.Equal(t, "Valid", e.pebble.Status(t, res.SerialNumber).Status)

	renewed, err := iss.RenewCertificate(t.Context(), issuer.RenewalRequest{IssuanceRequest: req, PreviousSerial: res.SerialNumber})
	require.NoError(t, err)
	assert.NotEqual(t, res.SerialNumber, renewed.SerialNumber)
	e.pebble.Verify(t, renewed.CertPEM+renewed.ChainPEM, "web.example.com")

	err = iss.RevokeCertificate(t.Context(), issuer.RevocationRequest{Serial: res.SerialNumber, Reason: "keyCompromise", CertPEM: res.CertPEM})
	require.NoError(t, err)
	st := e.pebble.Status(t, res.SerialNumber)
	assert.Equal(t, "Revoked", st.Status)
	require.NotNil(t, st.Reason)
	assert.EqualValues(t, issuer.ReasonKeyCompromise, *st.Reason)
	require.NoError(t, iss.RevokeCertificate(t.Context(), issuer.RevocationRequest{Serial: res.SerialNumber, Reason: "keyCompromise", CertPEM: res.CertPEM}),
		"revoking again is not an error")
}

// TestACME_AccountNeedsEAB: pebble requires External Account Binding; an
// issuer without it is told which field to set, and one with a wrong key
// gets the CA's refusal, final.
func TestACME_AccountNeedsEAB(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	s := issuer.Stored{ID: "iss-noeab", Config: e.config(map[string]any{"eab_kid": nil, "eab_hmac_key": nil})}
	_, err := e.conn.Material.MakeMaterial(t.Context(), s, time.Now(), rand.Reader)
	var ce *issuer.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "eab_kid", ce.Field)

	s.Config = e.config(map[string]any{"eab_hmac_key": "b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH"})
	_, err = e.conn.Material.MakeMaterial(t.Context(), s, time.Now(), rand.Reader)
	var caErr *issuer.CAError
	require.ErrorAs(t, err, &caErr)
	assert.True(t, caErr.Final, "%v", err)
	assert.ErrorIs(t, err, issuer.ErrInvalidRequest, "a final refusal is not retried")

	s.Config = e.config(map[string]any{"terms_of_service_agreed": false})
	_, err = e.conn.Material.MakeMaterial(t.Context(), s, time.Now(), rand.Reader)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "terms_of_service_agreed", ce.Field)
}

// TestACME_CARefusalsAreFinalWithItsMessage: a name the CA's policy refuses
// (rejectedIdentifier) and a challenge nobody answers (unauthorized) fail
// with the CA's own message, as errors that are not retried.
func TestACME_CARefusalsAreFinalWithItsMessage(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	iss := e.issuerFor(t, "iss-acme", e.config(nil))

	name := "host." + acmetest.BlockedDomain
	_, err := iss.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: name, CSRPEM: csrFor(t, name)})
	var caErr *issuer.CAError
	require.ErrorAs(t, err, &caErr)
	assert.Equal(t, "urn:ietf:params:acme:error:rejectedIdentifier", caErr.Type)
	assert.Contains(t, err.Error(), "forbidden", "the CA's own message")
	assert.ErrorIs(t, err, issuer.ErrInvalidRequest)

	e.answers.mu.Lock()
	e.answers.drop = true
	e.answers.mu.Unlock()
	_, err = iss.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: "nobody.example.com", CSRPEM: csrFor(t, "nobody.example.com")})
	require.ErrorAs(t, err, &caErr)
	assert.Equal(t, "urn:ietf:params:acme:error:unauthorized", caErr.Type, "%v", err)
	assert.ErrorIs(t, err, issuer.ErrInvalidRequest)
}

// TestACME_ProfileOffered: a profile the CA offers is ordered; one it does
// not offer is refused naming the field and the CA's profiles.
func TestACME_ProfileOffered(t *testing.T) {
	e := newEnv(t, acmetest.Options{Profiles: map[string]string{"shortlived": "seven days"}})
	iss := e.issuerFor(t, "iss-acme", e.config(map[string]any{"profile": "shortlived"}))
	res, err := iss.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: "p.example.com", CSRPEM: csrFor(t, "p.example.com")})
	require.NoError(t, err)
	assert.InDelta(t, 7*24*time.Hour, res.NotAfter.Sub(res.NotBefore), float64(time.Hour), "the profile's lifetime")

	other := e.issuerFor(t, "iss-acme2", e.config(map[string]any{"profile": "nope"}))
	_, err = other.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: "p.example.com", CSRPEM: csrFor(t, "p.example.com")})
	var ce *issuer.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "profile", ce.Field)
	assert.Contains(t, ce.Reason, "shortlived")
}

// TestACME_DNS01ThroughRFC2136: with challenge dns-01 the TXT record is
// written by a TSIG-signed RFC 2136 update to the site's DNS server,
// checked there, validated by pebble (which resolves at that server) and
// removed afterwards; a wrong TSIG secret is refused by the server and the
// order fails with a clear error, not a certificate.
func TestACME_DNS01ThroughRFC2136(t *testing.T) {
	zone := acmetest.StartDNS(t, "example.com")
	e := newEnv(t, acmetest.Options{DNSServer: zone.Addr})
	dnsCfg := map[string]any{"challenge": "dns-01", "dns_server": zone.Addr, "dns_zone": "example.com",
		"dns_tsig_key": acmetest.TSIGKey, "dns_tsig_secret": acmetest.TSIGSecret, "dns_propagation_seconds": 10}
	iss := e.issuerFor(t, "iss-dns", e.config(dnsCfg))
	res, err := iss.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: "dns.example.com", CSRPEM: csrFor(t, "dns.example.com")})
	require.NoError(t, err)
	e.pebble.Verify(t, res.CertPEM+res.ChainPEM, "dns.example.com")
	assert.Empty(t, zone.TXT("_acme-challenge.dns.example.com"), "the record is removed after the order")
	assert.Zero(t, e.answers.publishedCount(), "no HTTP-01 answer for a dns-01 issuer")
	assert.Zero(t, zone.Refused())

	dnsCfg["dns_tsig_secret"] = "d3Jvbmctc2VjcmV0LW9mLXRoZS10ZXN0LWRucy0xMjM0NTY="
	bad := e.issuerFor(t, "iss-dns-bad", e.config(dnsCfg))
	_, err = bad.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: "bad.example.com", CSRPEM: csrFor(t, "bad.example.com")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dnsupdate", "the DNS update's failure is named")
	assert.NotZero(t, zone.Refused(), "the server refused the badly signed update")
}

// TestACME_DNS01Hook: a dns-01 issuer may run a hook only when the node
// allows its path (acme_dns_hooks); an allowed one writes the record,
// runs without the server's environment, and cleans up.
func TestACME_DNS01Hook(t *testing.T) {
	t.Setenv("CERTCTL_JOIN_TOKEN", "join-secret-of-the-server")
	dir := t.TempDir()
	zone := acmetest.StartDNS(t, "example.com")
	records := filepath.Join(dir, "records")
	zone.SetFile(records)
	script := filepath.Join(dir, "hook.sh")
	require.NoError(t, os.WriteFile(script, []byte(`#!/bin/sh
f=`+records+`
env > `+filepath.Join(dir, "env")+`
case "$1" in
present) echo "$2 $3" >> "$f" ;;
cleanup) grep -v "^$2 " "$f" > "$f.tmp"; mv "$f.tmp" "$f" ;;
*) echo "unknown action $1" >&2; exit 2 ;;
esac
`), 0o700))
	e := newEnv(t, acmetest.Options{DNSServer: zone.Addr})
	cfg := e.config(map[string]any{"challenge": "dns-01", "dns_server": zone.Addr, "dns_hook": script, "dns_propagation_seconds": 10})

	iss := e.issuerFor(t, "iss-hook", cfg)
	_, err := iss.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: "hook.example.com", CSRPEM: csrFor(t, "hook.example.com")})
	var ce *issuer.ConfigError
	require.ErrorAs(t, err, &ce, "a hook the node does not allow never runs")
	assert.Equal(t, "dns_hook", ce.Field)
	assert.NoFileExists(t, filepath.Join(dir, "env"))

	kek, err := keywrap.NewKEK(nil)
	require.NoError(t, err)
	e.conn = acme.Connector(kek, e.answers, acme.Options{DNSHooks: []string{script}})
	iss = e.issuerFor(t, "iss-hook", cfg)
	res, err := iss.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: "hook.example.com", CSRPEM: csrFor(t, "hook.example.com")})
	require.NoError(t, err)
	e.pebble.Verify(t, res.CertPEM+res.ChainPEM, "hook.example.com")
	assert.Empty(t, zone.TXT("_acme-challenge.hook.example.com"), "the hook cleaned up")
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	require.NoError(t, err)
	assert.NotContains(t, string(env), "join-secret-of-the-server", "the hook does not get the server's environment")
}

func TestMain(m *testing.M) {
	// lego logs every step at Info on stdout.
	legolog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}
