package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/notifier"
	"github.com/certctl/certctl/connectors/notifier/webhook"
)

// received is one POST as the receiver saw it.
type received struct {
	header http.Header
	body   []byte
}

// serve runs a real HTTP server on 127.0.0.1 answering status, and returns
// its URL and the requests it receives.
func serve(t *testing.T, status int) (string, <-chan received) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	got := make(chan received, 10)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/hooks/certctl" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		got <- received{r.Header.Clone(), body}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, http.StatusText(status))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/hooks/certctl", got
}

func alert() notifier.Alert {
	exp := time.Date(2026, 12, 12, 0, 0, 0, 0, time.UTC)
	return notifier.Alert{ID: "ne-1", Type: "ExpirationWarning", CertificateID: "mc-1", CertificateName: "www",
		CommonName: "www.example.com", DaysLeft: 14, ExpiresAt: &exp, Message: "www.example.com expires in 14 days",
		Recipients: []string{"owner@example.com"}, CreatedAt: exp.Add(-14 * 24 * time.Hour)}
}

func TestWebhook_SendAlertSigned(t *testing.T) {
	url, got := serve(t, http.StatusNoContent)
	n, err := webhook.New(webhook.Config{URL: url, Secret: "s3cret", Headers: map[string]string{"X-Team": "pki"}}, nil)
	require.NoError(t, err)

	require.NoError(t, n.SendAlert(context.Background(), alert()))
	r := <-got
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, "pki", r.header.Get("X-Team"))
	sig := r.header.Get("X-Certctl-Signature")
	assert.Regexp(t, `^sha256=[0-9a-f]{64}$`, sig)
	assert.True(t, webhook.Verify("s3cret", r.body, sig), "the receiver verifies the signature with the secret")
	assert.False(t, webhook.Verify("wrong", r.body, sig), "a wrong secret fails verification")
	assert.False(t, webhook.Verify("s3cret", append(r.body, ' '), sig), "a changed body fails verification")

	var p webhook.Payload
	require.NoError(t, json.Unmarshal(r.body, &p))
	assert.Equal(t, "alert", p.Kind)
	require.NotNil(t, p.Alert)
	assert.Equal(t, "www", p.Alert.CertificateName)
	assert.Equal(t, 14, p.Alert.DaysLeft)
}

func TestWebhook_SendEvent(t *testing.T) {
	url, got := serve(t, http.StatusOK)
	n, err := webhook.New(webhook.Config{URL: url}, nil)
	require.NoError(t, err)
	require.NoError(t, n.SendEvent(context.Background(), notifier.Event{ID: "ne-2", Type: "RenewalSuccess", CertificateID: "mc-1", Message: "renewed"}))
	r := <-got
	assert.Empty(t, r.header.Get("X-Certctl-Signature"), "no secret, no signature")
	var p webhook.Payload
	require.NoError(t, json.Unmarshal(r.body, &p))
	assert.Equal(t, "event", p.Kind)
	assert.Equal(t, "RenewalSuccess", p.Event.Type)
}

func TestWebhook_Non2xxIsAnError(t *testing.T) {
	url, _ := serve(t, http.StatusServiceUnavailable)
	n, err := webhook.New(webhook.Config{URL: url, Secret: "x"}, nil)
	require.NoError(t, err)
	err = n.SendAlert(context.Background(), alert())
	require.ErrorIs(t, err, notifier.ErrDelivery)
	assert.ErrorContains(t, err, "503")
}

func TestWebhook_Unreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	n, err := webhook.New(webhook.Config{URL: "http://" + addr + "/hook", TimeoutSeconds: 2}, nil)
	require.NoError(t, err)
	assert.ErrorIs(t, n.SendAlert(context.Background(), alert()), notifier.ErrDelivery)
}

func TestWebhook_ValidateConfig(t *testing.T) {
	for _, tc := range []struct{ name, config, field string }{
		{"no url", `{}`, "url"},
		{"bad scheme", `{"url":"ftp://x/y"}`, "url"},
		{"reserved header", `{"url":"https://x/y","headers":{"X-Certctl-Signature":"forged"}}`, "headers"},
		{"header injection", `{"url":"https://x/y","headers":{"X-A":"b\r\nX-B: c"}}`, "headers"},
		{"unknown field", `{"url":"https://x/y","sekret":"x"}`, "config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.ValidateConfig(context.Background(), json.RawMessage(tc.config))
			var ce *notifier.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
			assert.ErrorIs(t, err, notifier.ErrInvalidConfig)
		})
	}
	assert.NoError(t, webhook.ValidateConfig(context.Background(), json.RawMessage(`{"url":"https://hooks.example/x","secret":"s","headers":{"Authorization":"Bearer t"}}`)))
}
