package acme_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/issuer/acme/acmetest"
)

// TestACME_RenewalInfoFromPebble: pebble serves ACME Renewal Information;
// the connector reports its default window (inside the certificate's
// validity, with pebble's Retry-After), then the window set through
// pebble's management interface; a renewal names the certificate it
// replaces, and renewing the same certificate again (pebble: already
// replaced) still gets a certificate.
func TestACME_RenewalInfoFromPebble(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	iss := e.issuerFor(t, "iss-ari", e.config(nil))
	ri, ok := iss.(issuer.RenewalInformer)
	require.True(t, ok, "the ACME issuer asks for renewal information")

	req := issuer.IssuanceRequest{CommonName: "ari.example.com", CSRPEM: csrFor(t, "ari.example.com")}
	res, err := iss.IssueCertificate(t.Context(), req)
	require.NoError(t, err)

	got, err := ri.RenewalInfo(t.Context(), res.CertPEM)
	require.NoError(t, err)
	assert.True(t, got.WindowStart.After(res.NotBefore) && got.WindowEnd.Before(res.NotAfter),
		"pebble's own window lies inside the validity: %v..%v in %v..%v", got.WindowStart, got.WindowEnd, res.NotBefore, res.NotAfter)
	assert.Equal(t, 6*time.Hour, got.RetryAfter, "pebble's Retry-After")

	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	e.pebble.SetRenewalInfo(t, res.CertPEM, start, start.Add(time.Hour), "https://ca.example/incident")
	got, err = ri.RenewalInfo(t.Context(), res.CertPEM)
	require.NoError(t, err)
	assert.True(t, start.Equal(got.WindowStart), "%v", got.WindowStart)
	assert.True(t, start.Add(time.Hour).Equal(got.WindowEnd), "%v", got.WindowEnd)
	assert.Equal(t, "https://ca.example/incident", got.ExplanationURL)

	rr := issuer.RenewalRequest{IssuanceRequest: req, PreviousSerial: res.SerialNumber, PreviousCertPEM: res.CertPEM}
	renewed, err := iss.RenewCertificate(t.Context(), rr)
	require.NoError(t, err)
	assert.NotEqual(t, res.SerialNumber, renewed.SerialNumber)
	again, err := iss.RenewCertificate(t.Context(), rr)
	require.NoError(t, err, "a certificate replaced already is renewed without naming it")
	assert.NotEqual(t, renewed.SerialNumber, again.SerialNumber)

	_, err = ri.RenewalInfo(t.Context(), "not a certificate")
	var re *issuer.RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "cert_pem", re.Field)
}

// TestACME_NoRenewalInfoWithoutTheEndpoint: a CA whose directory lacks
// renewalInfo (pebble's, with the entry removed) gives
// issuer.ErrNoRenewalInfo, and renewals go on as before.
func TestACME_NoRenewalInfoWithoutTheEndpoint(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM([]byte(e.pebble.CABundle)))
	upstream := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	dir := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := upstream.Get(e.pebble.DirectoryURL)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var d map[string]any
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, &d); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		delete(d, "renewalInfo")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(d)
	}))
	t.Cleanup(dir.Close)
	bundle := e.pebble.CABundle + string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: dir.Certificate().Raw}))
	iss := e.issuerFor(t, "iss-noari", e.config(map[string]any{"directory_url": dir.URL + "/dir", "ca_bundle": bundle}))

	req := issuer.IssuanceRequest{CommonName: "noari.example.com", CSRPEM: csrFor(t, "noari.example.com")}
	res, err := iss.IssueCertificate(t.Context(), req)
	require.NoError(t, err)
	_, err = iss.(issuer.RenewalInformer).RenewalInfo(t.Context(), res.CertPEM)
	require.ErrorIs(t, err, issuer.ErrNoRenewalInfo)

	renewed, err := iss.RenewCertificate(t.Context(), issuer.RenewalRequest{IssuanceRequest: req, PreviousSerial: res.SerialNumber, PreviousCertPEM: res.CertPEM})
	require.NoError(t, err)
	assert.NotEqual(t, res.SerialNumber, renewed.SerialNumber)
}
