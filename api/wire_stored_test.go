package api_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// The API serves a certificate's stored bytes as they are (one, and the
// lists an index pages): they must be exactly what the client decodes as a
// wire.Certificate and would encode again, with no field more or less.
func TestWire_StoredCertificateIsWireCertificate(t *testing.T) {
	f := fsmtest.Open(t)
	fsmtest.Seed(fsmtest.NewLog(t, f))
	one, err := f.CertificateJSON(fsmtest.CertificateID)
	require.NoError(t, err)
	list, err := f.CertificatesJSON(fsm.CertificateFilter{}, fsm.Page{})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	for _, raw := range [][]byte{one, list.Items[0]} {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var c wire.Certificate
		require.NoError(t, dec.Decode(&c))
		again, err := json.Marshal(&c)
		require.NoError(t, err)
		assert.Equal(t, string(raw), string(again))
		assert.Equal(t, []string{fsmtest.TargetID}, c.TargetIDs)
	}
}
