// Package emailtest runs Mailpit, a real SMTP server with an HTTP API, for
// tests of the e-mail notifier and of what sends through it. It is for tests
// only and never linked into certctl.
package emailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Binary finds Mailpit: $MAILPIT, bin/tools/mailpit of this repository (make
// test-deps installs it there) or the PATH. Without one the test fails and
// says how to get it: a test that needs a real SMTP server never skips.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("MAILPIT"); p != "" {
		return p
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		p := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "bin", "tools", "mailpit")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	t.Fatal("mailpit not found: run make test-deps (it installs it into bin/tools), or set MAILPIT")
	return ""
}

// Mailpit is a running Mailpit bound to 127.0.0.1.
type Mailpit struct {
	// SMTPPort is its SMTP port on 127.0.0.1.
	SMTPPort int
	// API is the base URL of its HTTP API.
	API string
}

// FreePort is a loopback port nothing listens on.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs Mailpit on 127.0.0.1 free ports, accepting any login, with
// extra flags, until the test ends. Mailpit refuses
// --smtp-auth-allow-insecure together with a required TLS, so callers give
// it where none is.
func Start(t testing.TB, extra ...string) *Mailpit {
	t.Helper()
	bin := Binary(t)
	m := &Mailpit{SMTPPort: FreePort(t)}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	m.API = "http://" + httpAddr
	dir := t.TempDir()
	args := append([]string{"--smtp", fmt.Sprintf("127.0.0.1:%d", m.SMTPPort), "--listen", httpAddr,
		"--database", filepath.Join(dir, "mailpit.db"), "--smtp-auth-accept-any",
		"--smtp-disable-rdns", "--quiet"}, extra...)
	cmd := exec.Command(bin, args...)
	out, err := os.Create(filepath.Join(dir, "mailpit.log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			log, _ := os.ReadFile(out.Name())
			t.Logf("mailpit log:\n%s", log)
		}
	})
	require.Eventually(t, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		resp, err := http.Get(m.API + "/api/v1/messages")
		if err != nil {
			return false
		}
		resp.Body.Close()
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", m.SMTPPort), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond, "mailpit starts")
	select {
	case <-exited:
		t.Fatal("mailpit exited")
	default:
	}
	return m
}

// Message is a message as Mailpit's API returns it.
type Message struct {
	ID      string
	Subject string
	From    struct{ Address string }
	To      []struct{ Address string }
	Text    string
}

// Messages returns what Mailpit received, newest first, each with its text.
func (m *Mailpit) Messages(t testing.TB) []Message {
	t.Helper()
	var list struct{ Messages []Message }
	m.get(t, "/api/v1/messages", &list)
	for i := range list.Messages {
		var full Message
		m.get(t, "/api/v1/message/"+list.Messages[i].ID, &full)
		list.Messages[i].Text = full.Text
	}
	return list.Messages
}

func (m *Mailpit) get(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get(m.API + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, path)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

// SelfSigned writes a certificate for 127.0.0.1 and localhost and its key,
// and returns their paths; the certificate is also the CA file a client
// trusts.
func SelfSigned(t testing.TB) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}
