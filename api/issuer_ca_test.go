package api_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// TestAPI_IssuerCA answers the dashboard's question about an issuer's CA
// in JSON: has_material false (200, not the 404 of /.well-known/pki) before
// the Local CA has made its CA, then the chain's and the CRL's dates as the
// /.well-known routes serve them, and the CRL's revoked count after a
// revocation. Readers only, and never a key.
func TestAPI_IssuerCA(t *testing.T) {
	w, _, _ := issuanceWorld(t, true)
	id := w.ref.issuer
	path := "/api/v1/issuers/" + id + "/ca"
	read := func() wire.IssuerCA {
		t.Helper()
		a := w.mustAs(t, w.viewer, 200, "GET", path, nil)
		var out wire.IssuerCA
		require.NoError(t, json.Unmarshal(a.raw, &out))
		return out
	}

	none := read()
	assert.Equal(t, wire.IssuerCA{IssuerID: id}, none, "an issuer that has not made its CA")
	assert.Equal(t, 404, w.as(t, "", "GET", "/.well-known/pki/ca/"+id, nil).status, "what the dashboard read before")

	w.must(t, 200, "POST", "/api/v1/issuers/"+id+"/test", nil)
	made := read()
	require.True(t, made.HasMaterial)
	caCerts := pemCerts(t, string(w.mustAs(t, "", 200, "GET", "/.well-known/pki/ca/"+id, nil).raw))
	require.Len(t, caCerts, 2)
	require.NotNil(t, made.CANotAfter)
	require.NotNil(t, made.RootNotAfter)
	assert.True(t, caCerts[0].NotAfter.Equal(*made.CANotAfter), "the issuing CA's expiry")
	assert.True(t, caCerts[1].NotAfter.Equal(*made.RootNotAfter), "the root's expiry")
	require.NotNil(t, made.CRLThisUpdate)
	require.NotNil(t, made.CRLNextUpdate)
	assert.True(t, made.CRLNextUpdate.After(*made.CRLThisUpdate))
	require.NotNil(t, made.RevokedCount)
	assert.Zero(t, *made.RevokedCount)

	certID := w.cert(t, w.admin, w.ref, nil)
	w.propose(t, &fsm.RecordVersion{Version: fsmtest.Version("ver-ca-1", certID, 7, time.Now().Add(-time.Hour), 90*24*time.Hour)})
	w.must(t, 200, "POST", "/api/v1/certificates/"+certID+"/revoke", map[string]any{"reason": "keyCompromise"})
	revoked := read()
	require.NotNil(t, revoked.RevokedCount)
	assert.Equal(t, 1, *revoked.RevokedCount, "the revoked serial is on the CRL")

	// Who may ask: any reader; nobody without a key; no key in the answer.
	for _, key := range []string{w.viewer, w.operator, w.admin} {
		a := w.as(t, key, "GET", path, nil)
		assert.Equal(t, 200, a.status)
		assert.NotContains(t, string(a.raw), "PRIVATE")
		assert.NotContains(t, string(a.raw), "key")
	}
	assert.Equal(t, 401, w.as(t, "", "GET", path, nil).status)
	assert.Equal(t, 404, w.as(t, w.viewer, "GET", "/api/v1/issuers/iss-nope/ca", nil).status)
}
