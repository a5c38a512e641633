package targettest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
)

// CertificateID is the managed certificate every Deployment deploys.
const CertificateID = "mc-www"

// Context returns a context that ends after 30 s or with the test.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Deployment is the request deploying c to targetID with cfg, for
// CertificateID, named by c's common name, with a fresh 0700 StateDir.
func Deployment(t testing.TB, targetID string, cfg json.RawMessage, c Issued) target.DeploymentRequest {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	require.NoError(t, os.Mkdir(dir, 0o700))
	return target.DeploymentRequest{TargetID: targetID, Config: cfg, CertificateID: CertificateID, CommonName: c.Cert.Subject.CommonName,
		CertPEM: c.CertPEM, ChainPEM: c.ChainPEM, KeyPath: c.KeyPath, SerialNumber: c.Serial, FingerprintSHA256: c.Fingerprint, StateDir: dir}
}

// Validation is the check that req's certificate is served.
func Validation(req target.DeploymentRequest) target.ValidationRequest {
	return target.ValidationRequest{TargetID: req.TargetID, Config: req.Config, CertificateID: req.CertificateID,
		CommonName: req.CommonName, SerialNumber: req.SerialNumber, FingerprintSHA256: req.FingerprintSHA256}
}

// Rollback is the undoing of req.
func Rollback(req target.DeploymentRequest) target.RollbackRequest {
	return target.RollbackRequest{TargetID: req.TargetID, Config: req.Config, CertificateID: req.CertificateID, StateDir: req.StateDir}
}

// ServeTLS answers TLS handshakes on 127.0.0.1 with c, as the system a
// connector deployed c to would, until the test ends; it returns the
// address.
func ServeTLS(t testing.TB, c Issued) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key}}})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_ = conn.(*tls.Conn).Handshake()
			_ = conn.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}
