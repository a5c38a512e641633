package webserver

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/certctl/certctl/connectors/target"
)

// Connector deploys to one kind of host target (NGINX, Apache, HAProxy or
// Files) on the agent's host. It holds no state between calls and is safe
// for concurrent use; the agent runs one deployment per target at a time.
type Connector struct {
	kind kind
	opts target.HostOptions
}

var (
	_ target.Target     = (*Connector)(nil)
	_ target.Rollbacker = (*Connector)(nil)
)

// NewNGINX returns the NGINX connector: cert_path gets the leaf and
// intermediates (ssl_certificate), key_path the key; it validates with
// "nginx -t" and reloads with "nginx -s reload" unless configured otherwise.
// Every connector here writes only inside o.AllowedDirs and runs only the
// command lines o.Runner allows.
func NewNGINX(o target.HostOptions) *Connector { return &Connector{kind: nginxKind, opts: o} }

// NewApache returns the Apache httpd connector: cert_path gets the leaf and
// intermediates (SSLCertificateFile, Apache 2.4.8 and later), key_path the
// key; it validates with "apachectl configtest" and reloads with "apachectl
// graceful" unless configured otherwise.
func NewApache(o target.HostOptions) *Connector { return &Connector{kind: apacheKind, opts: o} }

// NewHAProxy returns the HAProxy connector: pem_path gets leaf,
// intermediates and key in one file (what a bind line's crt reads); it
// validates with "haproxy -c -f /etc/haproxy/haproxy.cfg" and reloads with
// "systemctl reload haproxy" unless configured otherwise.
func NewHAProxy(o target.HostOptions) *Connector { return &Connector{kind: haproxyKind, opts: o} }

// NewFiles returns the generic files connector: any of cert_path (leaf),
// chain_path (intermediates), fullchain_path (both) and key_path, then the
// optional validate_command and reload_command.
func NewFiles(o target.HostOptions) *Connector { return &Connector{kind: filesKind, opts: o} }

// Type returns the target type the connector serves, e.g. "NGINX".
func (c *Connector) Type() string { return c.kind.Name }

// ValidateConfig checks config: its fields, paths (against the agent's
// allowed and protected directories) and commands (syntax, and the agent's
// allowed_commands, whole), without touching the files or running
// anything. What the allow-lists refuse is a *target.NotAllowedError.
func (c *Connector) ValidateConfig(_ context.Context, config json.RawMessage) error {
	_, err := parseConfig(c.kind, c.opts, config)
	return err
}

// DeployCertificate writes the files of req, each atomically, after saving
// the ones it replaces into req.StateDir; runs the validate command, then
// the reload command. When a step fails it puts the saved files back (and
// reloads again if the reload failed) before returning the error, which
// carries the command's output. A certificate that is not for the key at
// req.KeyPath is refused before anything is written.
func (c *Connector) DeployCertificate(ctx context.Context, req target.DeploymentRequest) (*target.DeploymentResult, error) {
	s, err := parseConfig(c.kind, c.opts, req.Config)
	if err != nil {
		return nil, err
	}
	leaf, chain, err := target.ParseCertificates(req.CertPEM, req.ChainPEM)
	if err != nil {
		return nil, fmt.Errorf("webserver: %w", err)
	}
	if want := target.NormalFingerprint(req.FingerprintSHA256); want != "" && want != target.Fingerprint(leaf) {
		return nil, fmt.Errorf("webserver: the certificate's SHA-256 fingerprint is %s, but the deployment is for %s: nothing was deployed",
			target.Fingerprint(leaf), want)
	}
	var key []byte
	if s.KeyPath != "" || s.PEMPath != "" || req.KeyPath != "" {
		if key, err = target.ReadKeyFor(leaf, req.KeyPath); err != nil {
			return nil, fmt.Errorf("webserver: %w", err)
		}
		defer clear(key)
	}
	uid, gid, err := s.owner.IDs()
	if err != nil {
		return nil, err
	}
	files := c.files(s, leaf, chain, key, uid, gid)
	defer func() {
		for _, f := range files {
			clear(f.Data)
		}
	}()
	protected := append([]string{req.StateDir, req.KeyPath}, c.opts.ProtectedDirs...)
	paths := make([]string, len(files))
	for i, f := range files {
		if err := target.CheckPathOnDisk(f.field, f.Path, c.opts.AllowedDirs, protected); err != nil {
			return nil, err
		}
		paths[i] = f.Path
	}

	if err := target.Backup(req.StateDir, paths); err != nil {
		return nil, fmt.Errorf("webserver: nothing was changed: %w", err)
	}
	for _, f := range files {
		if err := target.WriteFileAtomic(f.File); err != nil {
			return nil, c.undo(ctx, s, req.StateDir, false, fmt.Errorf("webserver: %w", err))
		}
	}
	var output []string
	if s.ValidateCommand != "" {
		out, err := c.opts.Runner.Run(ctx, "validate_command", s.ValidateCommand, s.files())
		if err != nil {
			return nil, c.undo(ctx, s, req.StateDir, false,
				fmt.Errorf("webserver: %s refused the new files: %w", c.kind.Name, err))
		}
		output = append(output, labelled("validate_command", out))
	}
	if s.ReloadCommand != "" {
		out, err := c.opts.Runner.Run(ctx, "reload_command", s.ReloadCommand, s.files())
		if err != nil {
			return nil, c.undo(ctx, s, req.StateDir, true,
				fmt.Errorf("webserver: %s did not reload: %w", c.kind.Name, err))
		}
		output = append(output, labelled("reload_command", out))
	}
	msg := fmt.Sprintf("%s: wrote certificate %x (%s) to %s", c.kind.Name, leaf.SerialNumber, leaf.Subject.CommonName, strings.Join(paths, ", "))
	switch {
	case s.ReloadCommand != "":
		msg += "; reloaded"
	case s.ValidateCommand != "":
		msg += "; validated"
	}
	return &target.DeploymentResult{Message: msg, Files: paths, Output: target.TrimOutput([]byte(strings.Join(output, "\n")))}, nil
}

// undo puts back the files saved in stateDir after step failed and, when
// the server was (perhaps) reloaded with the new files, reloads it again.
func (c *Connector) undo(ctx context.Context, s settings, stateDir string, reload bool, step error) error {
	if _, _, err := target.Restore(stateDir); err != nil {
		return errors.Join(step, fmt.Errorf("webserver: the previous files could not all be restored, restore them by hand from %s: %w", stateDir, err))
	}
	if reload {
		// The deployment's context may be what ran out; the Runner's own
		// timeout still bounds this.
		if _, err := c.opts.Runner.Run(context.WithoutCancel(ctx), "reload_command", s.ReloadCommand, s.files()); err != nil {
			return errors.Join(step, fmt.Errorf("webserver: the previous files are restored, but reloading with them failed too: %w", err))
		}
		return fmt.Errorf("%w (the previous files are restored and reloaded)", step)
	}
	return fmt.Errorf("%w (the previous files are restored)", step)
}

// ValidateDeployment checks that the target serves req's certificate: with
// a TLS handshake to endpoint when the config has one (SNI server_name, or
// the certificate's common name), otherwise by reading the deployed
// certificate file back (Method "files").
func (c *Connector) ValidateDeployment(ctx context.Context, req target.ValidationRequest) (*target.ValidationResult, error) {
	s, err := parseConfig(c.kind, c.opts, req.Config)
	if err != nil {
		return nil, err
	}
	want := target.NormalFingerprint(req.FingerprintSHA256)
	if s.Endpoint != "" {
		serverName := s.ServerName
		if serverName == "" {
			serverName = req.CommonName
		}
		return target.Probe{Endpoint: s.Endpoint, ServerName: serverName, Want: want, Wait: c.opts.ProbeWait}.Run(ctx)
	}
	field, path := s.leafFile()
	if path == "" {
		return nil, target.Configf("endpoint", "this target writes no file holding the certificate: set endpoint to check it with a TLS handshake")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("webserver: read back %s: %w", field, err)
	}
	res := &target.ValidationResult{Method: "files", ExpectedFingerprint: want, CheckedAt: time.Now().UTC()}
	served, err := firstCertificate(data)
	if err != nil {
		res.Message = fmt.Sprintf("%s %s holds no certificate: %v", field, path, err)
		return res, nil
	}
	res.ServedFingerprint = target.Fingerprint(served)
	res.ServedSerial = fmt.Sprintf("%x", served.SerialNumber)
	res.Valid = res.ServedFingerprint == want
	if res.Valid {
		res.Message = fmt.Sprintf("%s %s holds the deployed certificate (serial %s)", field, path, res.ServedSerial)
	} else {
		res.Message = fmt.Sprintf("%s %s holds certificate %s (serial %s), not the deployed %s", field, path, res.ServedFingerprint, res.ServedSerial, want)
	}
	return res, nil
}

// Rollback puts back the files saved in req.StateDir and runs the reload
// command. A StateDir without a backup changes nothing.
func (c *Connector) Rollback(ctx context.Context, req target.RollbackRequest) (*target.RollbackResult, error) {
	s, err := parseConfig(c.kind, c.opts, req.Config)
	if err != nil {
		return nil, err
	}
	restored, found, err := target.Restore(req.StateDir)
	if err != nil {
		return nil, fmt.Errorf("webserver: rollback: %w", err)
	}
	if !found {
		return &target.RollbackResult{Message: c.kind.Name + ": nothing to roll back, the deployment saved no files"}, nil
	}
	res := &target.RollbackResult{Files: restored,
		Message: fmt.Sprintf("%s: restored %s", c.kind.Name, strings.Join(restored, ", "))}
	if s.ReloadCommand != "" {
		out, err := c.opts.Runner.Run(ctx, "reload_command", s.ReloadCommand, s.files())
		if err != nil {
			return nil, fmt.Errorf("webserver: rollback: the previous files are restored, but %s did not reload: %w", c.kind.Name, err)
		}
		res.Output = labelled("reload_command", out)
		res.Message += "; reloaded"
	}
	return res, nil
}

// file is a File with the config field it comes from.
type file struct {
	target.File
	field string
}

// files lays out what the kind writes. Certificates are encoded again from
// their DER so nothing but certificates reaches the server's files.
func (c *Connector) files(s settings, leaf *x509.Certificate, chain []*x509.Certificate, key []byte, uid, gid int) []file {
	leafPEM := encode(leaf)
	chainPEM := encode(chain...)
	fullPEM := append(append([]byte{}, leafPEM...), chainPEM...)
	if len(key) > 0 && key[len(key)-1] != '\n' {
		key = append(bytes.Clone(key), '\n')
		defer clear(key)
	}
	var out []file
	add := func(field, path string, data []byte, mode os.FileMode) {
		if path != "" {
			out = append(out, file{field: field, File: target.File{Path: path, Data: data, Mode: mode, UID: uid, GID: gid}})
		}
	}
	add("key_path", s.KeyPath, bytes.Clone(key), s.keyMode)
	add("chain_path", s.ChainPath, chainPEM, s.certMode)
	if c.kind.Name == filesKind.Name {
		add("cert_path", s.CertPath, leafPEM, s.certMode)
		add("fullchain_path", s.FullchainPath, fullPEM, s.certMode)
	} else {
		add("cert_path", s.CertPath, fullPEM, s.certMode)
	}
	add("pem_path", s.PEMPath, append(bytes.Clone(fullPEM), key...), s.keyMode)
	return out
}

// leafFile is the written file whose first certificate is the leaf.
func (s settings) leafFile() (field, path string) {
	for _, p := range []fieldValue{{"cert_path", s.CertPath}, {"fullchain_path", s.FullchainPath}, {"pem_path", s.PEMPath}} {
		if p.value != "" {
			return p.field, p.value
		}
	}
	return "", ""
}

func encode(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func firstCertificate(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no CERTIFICATE block")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

func labelled(field, out string) string {
	if out == "" {
		return field + ": (no output)"
	}
	return field + ": " + out
}
