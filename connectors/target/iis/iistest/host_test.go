package iistest_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target/iis/iistest"
)

// recorder is a testing.TB whose Errorf is recorded, not reported.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestHost_ViolationFailsTheTest(t *testing.T) {
	rec := &recorder{TB: t}
	host := iistest.StartHost(rec)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM([]byte(host.CAPEM)))
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	req, err := http.NewRequest(http.MethodPost, "https://"+host.Addr+"/wsman", strings.NewReader(`<x/>`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/xml")
	req.SetBasicAuth(iistest.Username, iistest.Password)
	resp, err := cl.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	require.Len(t, host.Violations(), 1)
	assert.Contains(t, host.Violations()[0], `Content-Type "text/xml"`)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Equal(t, []string{"fake WinRM: " + host.Violations()[0]}, rec.errors)
	assert.NotEmpty(t, host.Bound(iistest.Site, iistest.Binding))
}
