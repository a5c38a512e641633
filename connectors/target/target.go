package target

import (
	"context"
	"encoding/json"
	"time"
)

// Target deploys certificates to one kind of system. Its methods are safe for
// concurrent use; the agent runs one deployment per target at a time.
type Target interface {
	// ValidateConfig checks a target's config without touching the system.
	// Errors are *ConfigError naming the field.
	ValidateConfig(ctx context.Context, config json.RawMessage) error
	// DeployCertificate installs the certificate, chain and key of req and
	// makes the system use them (validate its configuration, reload). When it
	// fails it has already restored what it replaced; the error says why, with
	// the output of the command or device that refused (*CommandError, ...).
	DeployCertificate(ctx context.Context, req DeploymentRequest) (*DeploymentResult, error)
	// ValidateDeployment checks that the system now serves the certificate
	// of req: with a TLS handshake to the configured endpoint where there is
	// one, comparing the served certificate's SHA-256 fingerprint. A
	// mismatch is a result with Valid false, not an error; an error means the
	// check itself could not run.
	ValidateDeployment(ctx context.Context, req ValidationRequest) (*ValidationResult, error)
}

// Rollbacker is a Target that can put back what a deployment replaced, from
// the StateDir that deployment used. Every built-in target is one.
type Rollbacker interface {
	// Rollback restores what the deployment kept in req.StateDir and makes
	// the system use it again. It is idempotent, and a no-op when StateDir
	// holds nothing (the deployment never got as far as changing anything).
	Rollback(ctx context.Context, req RollbackRequest) (*RollbackResult, error)
}

// DeploymentRequest is one certificate to deploy to one target.
type DeploymentRequest struct {
	TargetID      string
	Config        json.RawMessage
	CertificateID string
	CommonName    string
	SANs          []string
	// CertPEM is the leaf certificate alone; ChainPEM the intermediates, in
	// order, possibly empty.
	CertPEM  string
	ChainPEM string
	// KeyPath is the private key's file on this host (PEM, 0600). The
	// connector copies or uploads it where the system needs it; nothing it
	// returns carries the key.
	KeyPath string
	// SerialNumber (hex) and FingerprintSHA256 (hex of the leaf's DER, lower
	// case) identify the certificate being deployed.
	SerialNumber      string
	FingerprintSHA256 string
	// StateDir is a directory (0700) private to this deployment that
	// survives a restart of the agent: the connector keeps there what it
	// replaces, for Rollback.
	StateDir string
}

// DeploymentResult says what a deployment did, for the job's record.
type DeploymentResult struct {
	// Message is a one-line summary for a person.
	Message string `json:"message"`
	// Files are the paths written on this host, if any.
	Files []string `json:"files,omitempty"`
	// Output is what the validate and reload commands (or the device) said,
	// trimmed to MaxOutput bytes.
	Output string `json:"output,omitempty"`
	// Details are connector-specific facts (object names on a device, the
	// thumbprint bound to a site, ...).
	Details map[string]string `json:"details,omitempty"`
}

// ValidationRequest asks whether a target serves a certificate.
type ValidationRequest struct {
	TargetID          string
	Config            json.RawMessage
	CertificateID     string
	CommonName        string
	SerialNumber      string
	FingerprintSHA256 string
}

// ValidationResult is the outcome of ValidateDeployment, stored on the job.
type ValidationResult struct {
	Valid bool `json:"valid"`
	// Method is how it was checked: "tls" (a handshake), "files" (the
	// deployed files read back), "api" (the device's own answer).
	Method string `json:"method"`
	// Endpoint and ServerName are the address dialled and the SNI sent, for
	// Method "tls".
	Endpoint   string `json:"endpoint,omitempty"`
	ServerName string `json:"server_name,omitempty"`
	// ExpectedFingerprint is the deployed certificate's; ServedFingerprint
	// and ServedSerial what the system presented.
	ExpectedFingerprint string    `json:"expected_fingerprint"`
	ServedFingerprint   string    `json:"served_fingerprint,omitempty"`
	ServedSerial        string    `json:"served_serial,omitempty"`
	Message             string    `json:"message"`
	CheckedAt           time.Time `json:"checked_at"`
}

// RollbackRequest names the deployment to undo by its StateDir.
type RollbackRequest struct {
	TargetID      string
	Config        json.RawMessage
	CertificateID string
	StateDir      string
}

// RollbackResult says what a rollback restored.
type RollbackResult struct {
	Message string   `json:"message"`
	Files   []string `json:"files,omitempty"`
	Output  string   `json:"output,omitempty"`
}

// MaxOutput bounds the command output kept in results and errors: enough
// for nginx's or apachectl's complaint, not a log file.
const MaxOutput = 4096

// TrimOutput returns out cut to its last MaxOutput bytes (the end of a
// command's output says why it failed), without a trailing newline.
func TrimOutput(out []byte) string {
	if len(out) > MaxOutput {
		out = append([]byte("…"), out[len(out)-MaxOutput:]...)
	}
	for len(out) > 0 && (out[len(out)-1] == '\n' || out[len(out)-1] == '\r') {
		out = out[:len(out)-1]
	}
	return string(out)
}
