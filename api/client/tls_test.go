package client

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/client/clienttest"
)

func TestConfig_PlainHTTPOnlyOnThisHost(t *testing.T) {
	tests := []struct {
		server   string
		insecure bool
		refused  bool
	}{
		{"http://10.0.0.1:8443", false, true},
		{"http://certctl.example.com:8443", false, true},
		{"http://127.0.0.1:8443", false, false},
		{"http://127.0.0.2:8443", false, false},
		{"http://localhost:8443", false, false},
		{"http://[::1]:8443", false, false},
		{"https://10.0.0.1:8443", false, false},
		{"10.0.0.1:8443", false, false}, // no scheme: https
		{"http://10.0.0.1:8443", true, false},
	}
	for _, tt := range tests {
		err := Config{Servers: []string{"https://10.0.0.9:8443", tt.server}, InsecureHTTP: tt.insecure}.Validate()
		if tt.refused {
			require.ErrorIs(t, err, ErrInsecureHTTP, tt.server)
			assert.Contains(t, err.Error(), tt.server)
			assert.Contains(t, err.Error(), "https://")
		} else {
			assert.NoError(t, err, tt.server)
		}
	}
	c, err := New(Config{Servers: []string{"10.0.0.1:8443"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"https://10.0.0.1:8443"}, c.Servers())
}

// countingTLSServer is an HTTPS server of ca that counts the requests it
// gets.
type countingTLSServer struct {
	url  string
	mu   sync.Mutex
	hits []*http.Request
}

func newCountingTLSServer(t *testing.T, ca *clienttest.CA, body string) *countingTLSServer {
	s := &countingTLSServer{}
	srv := clienttest.NewTLSServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits = append(s.hits, r.Clone(context.Background()))
		s.mu.Unlock()
		if r.URL.Path == ClusterCAPath {
			w.Header().Set("Content-Type", "application/x-pem-file")
			_, _ = io.WriteString(w, body)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"auth_type":"api-key","required":true}`)
	}))
	s.url = srv.URL
	return s
}

func (s *countingTLSServer) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.hits...)
}

func TestClient_RootCAsTrustsThemOnly(t *testing.T) {
	ours := clienttest.NewCA(t, "our cluster CA")
	theirs := clienttest.NewCA(t, "another CA")
	good := newCountingTLSServer(t, ours, string(ours.PEM))
	bad := newCountingTLSServer(t, theirs, string(theirs.PEM))
	pool := x509.NewCertPool()
	pool.AddCert(ours.Cert)

	c, err := New(Config{Servers: []string{good.url}, RootCAs: pool, Backoff: time.Millisecond})
	require.NoError(t, err)
	_, err = c.AuthInfo(context.Background())
	require.NoError(t, err)

	c, err = New(Config{Servers: []string{bad.url}, RootCAs: pool, Backoff: time.Millisecond})
	require.NoError(t, err)
	_, err = c.AuthInfo(context.Background())
	require.ErrorIs(t, err, ErrUntrustedServer)
	assert.False(t, errors.Is(err, ErrUnreachable), "an untrusted server is not retried as if down")
	assert.Contains(t, err.Error(), "x509: certificate signed by unknown authority")
	assert.Empty(t, bad.requests(), "nothing is sent to a server that is not trusted")

	// Without RootCAs the system's CAs are trusted, which know neither.
	c, err = New(Config{Servers: []string{good.url}})
	require.NoError(t, err)
	_, err = c.AuthInfo(context.Background())
	require.ErrorIs(t, err, ErrUntrustedServer)
}

func TestClient_ClusterCA(t *testing.T) {
	ca := clienttest.NewCA(t, "cluster CA")
	srv := newCountingTLSServer(t, ca, string(ca.PEM))
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	c, err := New(Config{Servers: []string{srv.url}, RootCAs: pool, APIKey: "k"})
	require.NoError(t, err)
	got, err := c.ClusterCA(context.Background())
	require.NoError(t, err)
	assert.Equal(t, ca.PEM, got)
	assert.Equal(t, "application/x-pem-file", srv.requests()[0].Header.Get("Accept"))

	notPEM := newCountingTLSServer(t, ca, "<html>proxy error</html>")
	c, err = New(Config{Servers: []string{notPEM.url}, RootCAs: pool})
	require.NoError(t, err)
	_, err = c.ClusterCA(context.Background())
	assert.ErrorContains(t, err, "holds text that is not PEM")
}

func TestFetchClusterCA_Pinned(t *testing.T) {
	ca := clienttest.NewCA(t, "cluster CA")
	other := clienttest.NewCA(t, "other CA")
	srv := newCountingTLSServer(t, ca, string(other.PEM)+string(ca.PEM))
	pin, err := ParseFingerprint(ca.Fingerprint)
	require.NoError(t, err)

	got, err := FetchClusterCA(context.Background(), Config{Servers: []string{srv.url}, APIKey: "k-secret"}, pin)
	require.NoError(t, err)
	assert.Equal(t, string(other.PEM)+string(ca.PEM), string(got))
	reqs := srv.requests()
	require.Len(t, reqs, 2, "once to find the pinned CA, once verified by it")
	for _, r := range reqs {
		assert.Empty(t, r.Header.Get("Authorization"), "no credential goes to a server not yet trusted")
	}

	wrong, err := ParseFingerprint(other.Fingerprint)
	require.NoError(t, err)
	srvOnlyCA := newCountingTLSServer(t, ca, string(ca.PEM))
	_, err = FetchClusterCA(context.Background(), Config{Servers: []string{srvOnlyCA.url}}, wrong)
	require.ErrorIs(t, err, ErrFingerprintMismatch)
	assert.Contains(t, err.Error(), ca.Fingerprint, "names what the server holds")
	assert.Contains(t, err.Error(), other.Fingerprint, "and what was expected")
	assert.Len(t, srvOnlyCA.requests(), 1)
}

// TestFetchClusterCA_RelayedBundle: a server that relays the genuine bundle
// but presents a certificate of another CA is not trusted.
func TestFetchClusterCA_RelayedBundle(t *testing.T) {
	ca := clienttest.NewCA(t, "cluster CA")
	attacker := clienttest.NewCA(t, "attacker CA")
	srv := newCountingTLSServer(t, attacker, string(ca.PEM))
	pin, err := ParseFingerprint(ca.Fingerprint)
	require.NoError(t, err)
	_, err = FetchClusterCA(context.Background(), Config{Servers: []string{srv.url}}, pin)
	require.ErrorIs(t, err, ErrUntrustedServer)
	assert.Contains(t, err.Error(), "x509")
}

func TestFetchClusterCA_NextServerWhenOneIsDown(t *testing.T) {
	ca := clienttest.NewCA(t, "cluster CA")
	srv := newCountingTLSServer(t, ca, string(ca.PEM))
	pin, err := ParseFingerprint("SHA256:" + strings.ToUpper(ca.Fingerprint))
	require.NoError(t, err)
	got, err := FetchClusterCA(context.Background(), Config{Servers: []string{closedServerURL(t), srv.url}}, pin)
	require.NoError(t, err)
	assert.Equal(t, ca.PEM, got)
}

func TestParseFingerprint(t *testing.T) {
	const hex64 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	for _, in := range []string{hex64, strings.ToUpper(hex64), "sha256:" + hex64, " 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff "} {
		pin, err := ParseFingerprint(in)
		require.NoError(t, err, in)
		assert.Equal(t, byte(0xff), pin[31], in)
	}
	for _, in := range []string{"", "abc", hex64[:62], hex64 + "00", "zz" + hex64[2:]} {
		_, err := ParseFingerprint(in)
		assert.ErrorContains(t, err, "64 hex digits", in)
	}
}

func TestParseBundle(t *testing.T) {
	ca := clienttest.NewCA(t, "cluster CA")
	certs, err := ParseBundle(append(append([]byte{}, ca.PEM...), ca.PEM...))
	require.NoError(t, err)
	assert.Len(t, certs, 2)
	_, err = ParseBundle(nil)
	assert.ErrorContains(t, err, "no PEM certificate")
	_, err = ParseBundle([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	assert.ErrorContains(t, err, `"PRIVATE KEY" PEM block`)
}

func TestClient_JoinTokens(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			answer(201, `{"id":"jt-1","token":"s3cret","expires_at":"2026-02-03T05:00:00Z","uses":2,"uses_left":2,`+
				`"created_at":"2026-02-03T04:00:00Z","created_by":"admin"}`)(w, r)
		case http.MethodGet:
			answer(200, `{"data":[{"id":"jt-1","expires_at":"2026-02-03T05:00:00Z","uses":2,"uses_left":1,`+
				`"created_at":"2026-02-03T04:00:00Z","created_by":"admin","revoked_at":"2026-02-03T04:30:00Z"}],"total":1,"page":1,"per_page":50}`)(w, r)
		case http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	c := newTestClient(t, f.URL)
	ctx := context.Background()

	jt, err := c.CreateJoinToken(ctx, 90*time.Minute, 2)
	require.NoError(t, err)
	assert.Equal(t, "s3cret", jt.Token)
	assert.Equal(t, 2, jt.UsesLeft)
	_, err = c.CreateJoinToken(ctx, 0, 0)
	require.NoError(t, err)
	l, err := c.ListJoinTokens(ctx, ListOptions{PerPage: 10})
	require.NoError(t, err)
	require.Len(t, l.Data, 1)
	require.NotNil(t, l.Data[0].RevokedAt)
	assert.Equal(t, 1, l.Data[0].UsesLeft)
	require.NoError(t, c.RevokeJoinToken(ctx, "jt-1"))
	assert.ErrorIs(t, c.RevokeJoinToken(ctx, ""), ErrEmptyID)

	reqs := f.requests()
	require.Len(t, reqs, 4)
	assert.Equal(t, "/api/v1/cluster/join-tokens", reqs[0].Path)
	assert.JSONEq(t, `{"ttl":"1h30m","uses":2}`, reqs[0].Body)
	assert.JSONEq(t, `{}`, reqs[1].Body, "zero values leave the server's defaults")
	assert.Equal(t, "GET /api/v1/cluster/join-tokens per_page=10", reqs[2].Method+" "+reqs[2].Path+" "+reqs[2].RawQuery)
	assert.Equal(t, "DELETE /api/v1/cluster/join-tokens/jt-1", reqs[3].Method+" "+reqs[3].Path)
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 90 * time.Minute: "1h30m", 168 * time.Hour: "168h", 90 * time.Second: "1m30s", 30 * time.Second: "30s"} {
		assert.Equal(t, want, shortDuration(d))
		back, err := time.ParseDuration(want)
		require.NoError(t, err)
		assert.Equal(t, d, back)
	}
}
