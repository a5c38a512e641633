package f5test_test

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

	"github.com/certctl/certctl/connectors/target/f5/f5test"
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

func TestBIGIP_ViolationFailsTheTest(t *testing.T) {
	rec := &recorder{TB: t}
	dev := f5test.StartBIGIP(rec)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM([]byte(dev.CAPEM)))
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	req, err := http.NewRequest(http.MethodPost, "https://"+dev.Addr+"/mgmt/shared/authn/login", strings.NewReader(`{}`))
	require.NoError(t, err)
	req.SetBasicAuth(f5test.Username, f5test.Password)
	resp, err := cl.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	require.Len(t, dev.Violations(), 1)
	assert.Contains(t, dev.Violations()[0], "Authorization header")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Equal(t, []string{"fake BIG-IP: " + dev.Violations()[0]}, rec.errors)
	assert.Equal(t, f5test.DefaultCert, dev.Profile(f5test.ProfilePath)[0].Cert)
}
