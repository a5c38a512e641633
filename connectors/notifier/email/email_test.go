package email_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/notifier"
	"github.com/certctl/certctl/connectors/notifier/email"
	"github.com/certctl/certctl/connectors/notifier/email/emailtest"
)

func alert() notifier.Alert {
	exp := time.Date(2026, 12, 12, 0, 0, 0, 0, time.UTC)
	return notifier.Alert{ID: "ne-1", Type: "ExpirationWarning", CertificateID: "mc-web", CertificateName: "web-frontend",
		CommonName: "www.example.com", DaysLeft: 14, ExpiresAt: &exp, Message: "Certificate web-frontend expires in 14 days.",
		Recipients: []string{"owner@example.com", "Ops <ops@example.com>"}}
}

func TestEmail_SendAlertSTARTTLS(t *testing.T) {
	cert, key := emailtest.SelfSigned(t)
	mp := emailtest.Start(t, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls")
	n, err := email.New(email.Config{SMTPHost: "127.0.0.1", SMTPPort: mp.SMTPPort, Username: "certctl", Password: "pw",
		FromAddress: "certctl <certctl@example.org>", CAFile: cert, LinkBaseURL: "https://certctl.example/certificates/"}, nil)
	require.NoError(t, err)

	require.NoError(t, n.SendAlert(context.Background(), alert()))
	msgs := mp.Messages(t)
	require.Len(t, msgs, 1)
	m := msgs[0]
	assert.Equal(t, "[certctl] Certificate web-frontend expires in 14 days", m.Subject)
	assert.Equal(t, "certctl@example.org", m.From.Address)
	require.Len(t, m.To, 2)
	assert.Equal(t, "owner@example.com", m.To[0].Address)
	assert.Equal(t, "ops@example.com", m.To[1].Address)
	assert.Contains(t, m.Text, "Certificate: web-frontend")
	assert.Contains(t, m.Text, "Days left: 14")
	assert.Contains(t, m.Text, "Link: https://certctl.example/certificates/mc-web")
	assert.Contains(t, m.Text, "Common name: www.example.com")
}

func TestEmail_SendEventImplicitTLS(t *testing.T) {
	cert, key := emailtest.SelfSigned(t)
	mp := emailtest.Start(t, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-tls")
	n, err := email.New(email.Config{SMTPHost: "127.0.0.1", SMTPPort: mp.SMTPPort, TLS: "implicit",
		FromAddress: "certctl@example.org", CAFile: cert}, nil)
	require.NoError(t, err)

	require.NoError(t, n.SendEvent(context.Background(), notifier.Event{ID: "ne-2", Type: "RenewalSuccess",
		CertificateID: "mc-web", CertificateName: "web-frontend", Message: "Renewed.", Recipients: []string{"owner@example.com"}}))
	msgs := mp.Messages(t)
	require.Len(t, msgs, 1)
	assert.Equal(t, "[certctl] RenewalSuccess: web-frontend", msgs[0].Subject)
	assert.Contains(t, msgs[0].Text, "Renewed.")
}

func TestEmail_PlainOnlyWhenAsked(t *testing.T) {
	mp := emailtest.Start(t, "--smtp-auth-allow-insecure") // no TLS at all
	cfg := email.Config{SMTPHost: "127.0.0.1", SMTPPort: mp.SMTPPort, FromAddress: "certctl@example.org"}

	n, err := email.New(cfg, nil)
	require.NoError(t, err)
	err = n.SendAlert(context.Background(), alert())
	require.ErrorIs(t, err, notifier.ErrDelivery)
	assert.ErrorContains(t, err, "STARTTLS", "STARTTLS is required unless tls is none")
	assert.Empty(t, mp.Messages(t))

	cfg.TLS = "none"
	n, err = email.New(cfg, nil)
	require.NoError(t, err)
	require.NoError(t, n.SendAlert(context.Background(), alert()))
	assert.Len(t, mp.Messages(t), 1)
}

func TestEmail_UntrustedServerCertificate(t *testing.T) {
	cert, key := emailtest.SelfSigned(t)
	other, _ := emailtest.SelfSigned(t)
	mp := emailtest.Start(t, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-auth-allow-insecure")
	n, err := email.New(email.Config{SMTPHost: "127.0.0.1", SMTPPort: mp.SMTPPort, FromAddress: "certctl@example.org", CAFile: other}, nil)
	require.NoError(t, err)
	assert.ErrorIs(t, n.SendAlert(context.Background(), alert()), notifier.ErrDelivery)
	assert.Empty(t, mp.Messages(t))
}

func TestEmail_ServerDown(t *testing.T) {
	port := emailtest.FreePort(t)
	n, err := email.New(email.Config{SMTPHost: "127.0.0.1", SMTPPort: port, FromAddress: "certctl@example.org", TimeoutSeconds: 2}, nil)
	require.NoError(t, err)
	err = n.SendAlert(context.Background(), alert())
	require.ErrorIs(t, err, notifier.ErrDelivery)
	assert.ErrorContains(t, err, "127.0.0.1:"+strconv.Itoa(port))
}

func TestEmail_NoRecipient(t *testing.T) {
	n, err := email.New(email.Config{SMTPHost: "127.0.0.1", FromAddress: "certctl@example.org"}, nil)
	require.NoError(t, err)
	a := alert()
	a.Recipients = nil
	assert.ErrorContains(t, n.SendAlert(context.Background(), a), "no recipient")
}

func TestEmail_ValidateConfig(t *testing.T) {
	for _, tc := range []struct{ name, config, field string }{
		{"no host", `{"from_address":"a@example.org"}`, "smtp_host"},
		{"host with port", `{"smtp_host":"mail:25","from_address":"a@example.org"}`, "smtp_host"},
		{"bad port", `{"smtp_host":"mail","smtp_port":70000,"from_address":"a@example.org"}`, "smtp_port"},
		{"bad tls", `{"smtp_host":"mail","tls":"ssl","from_address":"a@example.org"}`, "tls"},
		{"no from", `{"smtp_host":"mail"}`, "from_address"},
		{"password in clear", `{"smtp_host":"mail","tls":"none","username":"u","password":"p","from_address":"a@example.org"}`, "tls"},
		{"password alone", `{"smtp_host":"mail","password":"x","from_address":"a@example.org"}`, "username"},
		{"missing ca file", `{"smtp_host":"mail","ca_file":"/nonexistent/ca.pem","from_address":"a@example.org"}`, "ca_file"},
		{"bad link", `{"smtp_host":"mail","link_base_url":"certctl/certs","from_address":"a@example.org"}`, "link_base_url"},
		{"unknown field", `{"smtp_host":"mail","from_address":"a@example.org","port":25}`, "config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := email.ValidateConfig(context.Background(), json.RawMessage(tc.config))
			var ce *notifier.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
		})
	}
	assert.NoError(t, email.ValidateConfig(context.Background(),
		json.RawMessage(`{"smtp_host":"mail.example.org","smtp_port":465,"tls":"implicit","username":"u","password":"p","from_address":"certctl@example.org"}`)))
}
