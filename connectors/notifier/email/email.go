package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"

	"github.com/certctl/certctl/connectors/notifier"
)

// Channel is the channel this notifier serves.
const Channel = "Email"

// Notifier sends alerts and events by e-mail. It is safe for concurrent use:
// each send opens its own SMTP session.
type Notifier struct {
	cfg Config
	tls *tls.Config
	now func() time.Time
}

var _ notifier.Notifier = (*Notifier)(nil)

// New returns the e-mail notifier of cfg. now stamps the Date header; nil
// means time.Now.
func New(cfg Config, now func() time.Time) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Notifier{cfg: cfg, tls: tc, now: now}, nil
}

// ValidateConfig checks a JSON config for an e-mail notifier.
func (n *Notifier) ValidateConfig(ctx context.Context, raw json.RawMessage) error {
	return ValidateConfig(ctx, raw)
}

// SendAlert mails a to its recipients.
func (n *Notifier) SendAlert(ctx context.Context, a notifier.Alert) error {
	return n.send(ctx, a.Recipients, alertSubject(a), n.alertBody(a))
}

// SendEvent mails e to its recipients.
func (n *Notifier) SendEvent(ctx context.Context, e notifier.Event) error {
	subject := "[certctl] " + e.Type
	if name := firstOf(e.CertificateName, e.CommonName, e.CertificateID); name != "" {
		subject += ": " + name
	}
	var b strings.Builder
	b.WriteString(e.Message + "\n\n")
	writeField(&b, "Certificate", firstOf(e.CertificateName, e.CertificateID))
	writeField(&b, "Common name", e.CommonName)
	writeField(&b, "Link", n.link(e.Link, e.CertificateID))
	return n.send(ctx, e.Recipients, subject, b.String())
}

func alertSubject(a notifier.Alert) string {
	name := firstOf(a.CertificateName, a.CommonName, a.CertificateID)
	switch {
	case a.Type == "ExpirationWarning" && a.ExpiresAt != nil && a.DaysLeft < 0:
		return fmt.Sprintf("[certctl] Certificate %s has expired", name)
	case a.Type == "ExpirationWarning" && a.ExpiresAt != nil:
		return fmt.Sprintf("[certctl] Certificate %s expires in %s", name, days(a.DaysLeft))
	case name != "":
		return fmt.Sprintf("[certctl] %s: %s", a.Type, name)
	default:
		return "[certctl] " + a.Type
	}
}

func (n *Notifier) alertBody(a notifier.Alert) string {
	var b strings.Builder
	b.WriteString(a.Message + "\n\n")
	writeField(&b, "Certificate", firstOf(a.CertificateName, a.CertificateID))
	writeField(&b, "Common name", a.CommonName)
	if a.ExpiresAt != nil {
		writeField(&b, "Expires", a.ExpiresAt.UTC().Format(time.RFC1123))
		writeField(&b, "Days left", fmt.Sprint(a.DaysLeft))
	}
	writeField(&b, "Link", n.link(a.Link, a.CertificateID))
	return b.String()
}

// link is the given link, or one built from LinkBaseURL for certID.
func (n *Notifier) link(given, certID string) string {
	if given != "" || certID == "" || n.cfg.LinkBaseURL == "" {
		return given
	}
	return strings.TrimRight(n.cfg.LinkBaseURL, "/") + "/" + certID
}

func days(d int) string {
	if d == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", d)
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func writeField(b *strings.Builder, name, value string) {
	if value != "" {
		fmt.Fprintf(b, "%s: %s\n", name, value)
	}
}

// send delivers one message to rcpts within the configured timeout.
func (n *Notifier) send(ctx context.Context, rcpts []string, subject, body string) error {
	if len(rcpts) == 0 {
		return &notifier.DeliveryError{Channel: Channel, Reason: "the notification has no recipient (does the certificate's owner have an e-mail address?)"}
	}
	from, err := mail.ParseAddress(n.cfg.FromAddress)
	if err != nil {
		return notifier.Configf("from_address", "%v", err)
	}
	to := make([]*mail.Address, 0, len(rcpts))
	for _, r := range rcpts {
		a, err := mail.ParseAddress(r)
		if err != nil {
			return &notifier.DeliveryError{Channel: Channel, Reason: fmt.Sprintf("recipient %q", r), Err: err}
		}
		to = append(to, a)
	}
	msg, err := n.message(from, to, subject, body)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, n.cfg.timeout())
	defer cancel()
	conn, err := n.dial(ctx)
	if err != nil {
		return &notifier.DeliveryError{Channel: Channel, Reason: "connect to " + n.cfg.addr(), Err: err}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) }) // cancel unblocks
	defer stop()
	if err := n.session(conn, from.Address, to, msg); err != nil {
		return &notifier.DeliveryError{Channel: Channel, Reason: "SMTP " + n.cfg.addr(), Err: err}
	}
	return nil
}

func (n *Notifier) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{}
	if n.cfg.TLS == TLSImplicit {
		td := &tls.Dialer{NetDialer: d, Config: n.tls}
		return td.DialContext(ctx, "tcp", n.cfg.addr())
	}
	return d.DialContext(ctx, "tcp", n.cfg.addr())
}

// session runs one SMTP session on conn.
func (n *Notifier) session(conn net.Conn, from string, to []*mail.Address, msg []byte) error {
	c, err := smtp.NewClient(conn, n.cfg.SMTPHost)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(heloName); err != nil {
		return err
	}
	if n.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("the server does not offer STARTTLS (set tls: implicit for port 465, or tls: none for a relay on this host)")
		}
		if err := c.StartTLS(n.tls); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if n.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("the server does not offer AUTH, but a username is configured")
		}
		// PlainAuth refuses to send the password unencrypted unless the
		// server is this host.
		if err := c.Auth(smtp.PlainAuth("", n.cfg.Username, n.cfg.Password, n.cfg.SMTPHost)); err != nil {
			return fmt.Errorf("AUTH PLAIN: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, a := range to {
		if err := c.Rcpt(a.Address); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", a.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return c.Quit()
}

// heloName is the name given in EHLO: relays check the sender's address,
// not this name, and a host name would only leak the appliance's.
const heloName = "localhost"

// message is the RFC 5322 message: plain UTF-8 text, quoted-printable.
func (n *Notifier) message(from *mail.Address, to []*mail.Address, subject, body string) ([]byte, error) {
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from.String())
	addrs := make([]string, len(to))
	for i, a := range to {
		addrs[i] = a.String()
	}
	header("To", strings.Join(addrs, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", strings.Map(noControl, subject)))
	header("Date", n.now().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// noControl drops control characters (CR, LF: header injection) from a header.
func noControl(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return -1
	}
	return r
}
