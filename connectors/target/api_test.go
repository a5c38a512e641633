package target_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
)

func TestAPIClient_NoProxyNoRedirect(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
	}))
	t.Cleanup(srv.Close)

	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	cl := target.APIClient(tc, 5*time.Second)
	t.Cleanup(cl.CloseIdleConnections)
	assert.Equal(t, 5*time.Second, cl.Timeout)
	assert.Nil(t, cl.Transport.(*http.Transport).Proxy, "no proxy from the environment")
	res, err := cl.Get(srv.URL)
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusFound, res.StatusCode, "the redirect is the answer, not followed")
}
