package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/certctl/certctl/connectors/notifier"
	"github.com/certctl/certctl/connectors/notifier/email"
	"github.com/certctl/certctl/connectors/notifier/webhook"
)

// emailSettings is the config file's notify_email mapping. It has no flag
// and no environment variable: the password comes from a file.
type emailSettings struct {
	SMTPHost     string `yaml:"smtp_host"`
	SMTPPort     int    `yaml:"smtp_port"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	FromAddress  string `yaml:"from_address"`
	TLS          string `yaml:"tls"`
	CAFile       string `yaml:"ca_file"`
	LinkBaseURL  string `yaml:"link_base_url"`
}

// webhookSettings is the config file's notify_webhook mapping, file-only
// like notify_email; the HMAC secret comes from a file.
type webhookSettings struct {
	URL        string            `yaml:"url"`
	SecretFile string            `yaml:"secret_file"`
	Headers    map[string]string `yaml:"headers"`
}

// readSecret returns the trimmed content of the file named by key's path.
func readSecret(key, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", key, path)
	}
	return s, nil
}

// notifiers builds the registry of the configured notifiers: Email from
// notify_email, Webhook from notify_webhook; a channel left out has none, and
// its notifications fail (never sent) until one is configured.
func (cfg *serverConfig) notifiers() (*notifier.Registry, error) {
	reg := notifier.NewRegistry()
	if e := cfg.NotifyEmail; e != nil {
		c := email.Config{SMTPHost: e.SMTPHost, SMTPPort: e.SMTPPort, Username: e.Username, FromAddress: e.FromAddress,
			TLS: e.TLS, CAFile: e.CAFile, LinkBaseURL: e.LinkBaseURL}
		if e.PasswordFile != "" {
			pw, err := readSecret("notify_email.password_file", e.PasswordFile)
			if err != nil {
				return nil, err
			}
			c.Password = pw
		}
		n, err := email.New(c, nil)
		if err != nil {
			return nil, fmt.Errorf("notify_email: %w", err)
		}
		if err := reg.Register(email.Channel, n); err != nil {
			return nil, err
		}
	}
	if w := cfg.NotifyWebhook; w != nil {
		c := webhook.Config{URL: w.URL, Headers: w.Headers}
		if w.SecretFile != "" {
			s, err := readSecret("notify_webhook.secret_file", w.SecretFile)
			if err != nil {
				return nil, err
			}
			c.Secret = s
		}
		n, err := webhook.New(c, nil)
		if err != nil {
			return nil, fmt.Errorf("notify_webhook: %w", err)
		}
		if err := reg.Register(webhook.Channel, n); err != nil {
			return nil, err
		}
	}
	return reg, nil
}
