package iis

import (
	"context"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // Windows names certificates by their SHA-1 thumbprint
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/certctl/certctl/connectors/target"
)

// Options are the agent's settings for all IIS targets.
type Options struct {
	// Timeout bounds one WinRM HTTP request; 0 means 90 s. The host is
	// asked to answer a Receive within Timeout less 30 s.
	Timeout time.Duration
	// CommandTimeout bounds one remote script; 0 means 5 minutes.
	CommandTimeout time.Duration
	// ProbeWait bounds the TLS handshake check of ValidateDeployment; 0
	// means target.Probe's default.
	ProbeWait time.Duration
}

// Connector deploys to IIS hosts over WinRM. It holds no per-host state
// between calls and is safe for concurrent use.
type Connector struct {
	opts Options
}

var (
	_ target.Target     = (*Connector)(nil)
	_ target.Rollbacker = (*Connector)(nil)
)

// New returns a Connector with o's defaults filled in.
func New(o Options) *Connector {
	if o.Timeout <= 0 {
		o.Timeout = 90 * time.Second
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 5 * time.Minute
	}
	return &Connector{opts: o}
}

// ValidateConfig checks a JSON config without contacting the host.
func (c *Connector) ValidateConfig(_ context.Context, raw json.RawMessage) error {
	_, err := ParseConfig(raw)
	return err
}

func (c *Connector) client(cfg Config) (*wsman, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case cfg.WinRMCAFile != "":
		roots, err := target.LoadRoots("winrm_ca_file", cfg.WinRMCAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = roots
	case cfg.WinRMInsecureSkipVerify:
		tc.InsecureSkipVerify = true //nolint:gosec // the operator asked for it explicitly in the target's config
	}
	op := c.opts.Timeout - 30*time.Second
	if op < 5*time.Second {
		op = c.opts.Timeout / 2
	}
	if op < time.Second {
		op = time.Second
	}
	return &wsman{
		endpoint:  cfg.wsmanURL(),
		user:      cfg.WinRMUsername,
		password:  cfg.WinRMPassword,
		opTimeout: op,
		http:      target.APIClient(tc, c.opts.Timeout),
	}, nil
}

// session opens a shell on the host for the steps of one call.
func (c *Connector) session(ctx context.Context, cfg Config) (*shell, func(), error) {
	w, err := c.client(cfg)
	if err != nil {
		return nil, nil, err
	}
	sh, err := w.openShell(ctx)
	if err != nil {
		w.http.CloseIdleConnections()
		return nil, nil, err
	}
	return sh, func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		_ = sh.Close(ctx)
		w.http.CloseIdleConnections()
	}, nil
}

// runScript runs one script through powershell and returns its stdout.
func (c *Connector) runScript(ctx context.Context, sh *shell, step string, s string) ([]byte, error) {
	cmd, args, err := encodedCommand(s)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.CommandTimeout)
	defer cancel()
	out, _, err := sh.run(ctx, cmd, args...)
	if err != nil {
		return out, fmt.Errorf("iis: %s: %w", step, err)
	}
	return out, nil
}

// binding is what the host reports of the binding's certificate.
type binding struct {
	thumbprint, store, sha256 string
}

func (c *Connector) query(ctx context.Context, sh *shell, cfg Config) (binding, error) {
	out, err := c.runScript(ctx, sh, fmt.Sprintf("read binding %s of site %q", cfg.BindingInfo, cfg.SiteName),
		script("query", []param{{"Site", cfg.SiteName}, {"BindingInfo", cfg.BindingInfo}}, queryBody))
	if err != nil {
		return binding{}, err
	}
	thumb, ok := outputValue(out, "certctl-bound-thumbprint")
	if !ok {
		return binding{}, fmt.Errorf("iis: the host's answer about binding %s names no thumbprint: %s", cfg.BindingInfo, target.TrimOutput(out))
	}
	store, _ := outputValue(out, "certctl-bound-store")
	sum, _ := outputValue(out, "certctl-bound-sha256")
	return binding{thumbprint: strings.ToUpper(thumb), store: store, sha256: strings.ToLower(sum)}, nil
}

// stateFile, in the deployment's StateDir, is what Rollback restores.
const stateFile = "iis-previous-binding.json"

type state struct {
	Site        string `json:"site"`
	BindingInfo string `json:"binding_info"`
	// Thumbprint and Store are the certificate bound before the
	// deployment; Thumbprint is "" when the binding had none.
	Thumbprint string `json:"previous_thumbprint"`
	Store      string `json:"previous_store"`
}

// thumbprint is Windows' name of a certificate: the SHA-1 of its DER.
func thumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw) //nolint:gosec // a name, not a signature
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// buildPFX packs the leaf, chain and key under a fresh random password.
func buildPFX(cfg Config, leaf *x509.Certificate, chain []*x509.Certificate, keyPEM []byte) (pfx []byte, password string, err error) {
	key, err := target.ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, "", err
	}
	var pw [24]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return nil, "", err
	}
	password = base64.RawURLEncoding.EncodeToString(pw[:])
	enc := pkcs12.Modern2023
	if cfg.PFXEncryption == "3des" {
		enc = pkcs12.LegacyDES
	}
	pfx, err = enc.Encode(key, leaf, chain, password)
	if err != nil {
		return nil, "", fmt.Errorf("iis: build the PKCS#12: %w", err)
	}
	return pfx, password, nil
}

// DeployCertificate imports the certificate, chain and key into the
// host's store and binds the certificate to the site's binding. The
// previous thumbprint is kept in StateDir before anything changes. The
// binding switch is the script's last step: when it fails the binding
// still names the previous certificate.
func (c *Connector) DeployCertificate(ctx context.Context, req target.DeploymentRequest) (*target.DeploymentResult, error) {
	cfg, err := ParseConfig(req.Config)
	if err != nil {
		return nil, err
	}
	if req.StateDir == "" {
		return nil, errors.New("iis: the deployment has no StateDir to keep the previous thumbprint in")
	}
	leaf, chain, err := target.ParseCertificates(req.CertPEM, req.ChainPEM)
	if err != nil {
		return nil, err
	}
	keyPEM, err := target.ReadKeyFor(leaf, req.KeyPath)
	if err != nil {
		return nil, err
	}
	pfx, password, err := buildPFX(cfg, leaf, chain, keyPEM)
	clear(keyPEM)
	if err != nil {
		return nil, err
	}
	thumb := thumbprint(leaf)

	sh, closeShell, err := c.session(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer closeShell()

	prev, err := c.query(ctx, sh, cfg)
	if err != nil {
		return nil, err
	}
	// A retry of this deployment finds its first attempt's state: that one
	// names what was bound before certctl touched the binding.
	kept, err := target.ReadState[state](req.StateDir, stateFile)
	if err != nil {
		return nil, err
	}
	var files []string
	if kept == nil {
		path, err := target.WriteState(req.StateDir, stateFile, state{Site: cfg.SiteName, BindingInfo: cfg.BindingInfo, Thumbprint: prev.thumbprint, Store: prev.store})
		if err != nil {
			return nil, err
		}
		files = append(files, path)
	}

	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	file := "certctl-" + hex.EncodeToString(rnd[:]) + ".b64"
	deployed := false
	defer func() {
		if !deployed { // the deploy script removes them itself
			s := script("cleanup", []param{{"File", file}}, cleanupBody)
			_, _ = c.runScript(context.WithoutCancel(ctx), sh, "remove the temporary files", s)
		}
	}()
	b64 := base64.StdEncoding.EncodeToString(pfx)
	for i := 0; i < len(b64); i += uploadChunk {
		mode := "append"
		if i == 0 {
			mode = "create"
		}
		s := script("upload", []param{{"File", file}, {"Mode", mode}, {"Chunk", b64[i:min(i+uploadChunk, len(b64))]}}, uploadBody)
		if _, err := c.runScript(ctx, sh, "send the PKCS#12", s); err != nil {
			return nil, err
		}
	}

	deployed = true
	out, err := c.runScript(ctx, sh, fmt.Sprintf("import into Cert:\\LocalMachine\\%s and bind to %s of site %q", cfg.CertStore, cfg.BindingInfo, cfg.SiteName),
		script("deploy", []param{{"File", file}, {"Password", password}, {"Store", cfg.CertStore}, {"Thumbprint", thumb},
			{"Site", cfg.SiteName}, {"BindingInfo", cfg.BindingInfo}}, deployBody))
	if err != nil {
		return nil, err
	}
	if got, _ := outputValue(out, "certctl-thumbprint"); !strings.EqualFold(got, thumb) {
		return nil, fmt.Errorf("iis: the host reports binding %q, not the deployed %s: %s", got, thumb, target.TrimOutput(out))
	}
	return &target.DeploymentResult{
		Message: fmt.Sprintf("IIS %s: site %q binding %s now uses %s from Cert:\\LocalMachine\\%s", cfg.Hostname, cfg.SiteName, cfg.BindingInfo, thumb, cfg.CertStore),
		Files:   files,
		Output:  target.TrimOutput(out),
		Details: map[string]string{
			"site":                cfg.SiteName,
			"binding_info":        cfg.BindingInfo,
			"cert_store":          cfg.CertStore,
			"thumbprint":          thumb,
			"previous_thumbprint": prev.thumbprint,
		},
	}, nil
}

// ValidateDeployment asks the host which certificate the binding uses and
// compares its SHA-256 with req's (Method "api"); with endpoint
// configured, it then checks with a TLS handshake.
func (c *Connector) ValidateDeployment(ctx context.Context, req target.ValidationRequest) (*target.ValidationResult, error) {
	cfg, err := ParseConfig(req.Config)
	if err != nil {
		return nil, err
	}
	want := target.NormalFingerprint(req.FingerprintSHA256)
	sh, closeShell, err := c.session(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer closeShell()
	b, err := c.query(ctx, sh, cfg)
	if err != nil {
		return nil, err
	}
	res := &target.ValidationResult{Method: "api", ExpectedFingerprint: want, ServedFingerprint: b.sha256, CheckedAt: time.Now().UTC()}
	where := fmt.Sprintf("site %q binding %s", cfg.SiteName, cfg.BindingInfo)
	switch {
	case b.thumbprint == "":
		res.Message = where + " has no certificate"
		return res, nil
	case b.sha256 == "":
		res.Message = fmt.Sprintf("%s names %s, which is not in Cert:\\LocalMachine\\%s", where, b.thumbprint, b.store)
		return res, nil
	case b.sha256 != want:
		res.Message = fmt.Sprintf("%s uses %s (SHA-256 %s), not the deployed certificate", where, b.thumbprint, b.sha256)
		return res, nil
	}
	res.Valid = true
	res.Message = fmt.Sprintf("%s uses the deployed certificate (%s)", where, b.thumbprint)
	if cfg.Endpoint == "" {
		return res, nil
	}
	return target.Probe{Endpoint: cfg.Endpoint, ServerName: cfg.ServerName, Want: want, Wait: c.opts.ProbeWait}.Run(ctx)
}

// Rollback binds the certificate the deployment replaced again. It stays
// in the store, as does the deployed one.
func (c *Connector) Rollback(ctx context.Context, req target.RollbackRequest) (*target.RollbackResult, error) {
	st, nothing, err := target.KeptState[state](req.StateDir, stateFile)
	if err != nil || nothing != nil {
		return nothing, err
	}
	cfg, err := ParseConfig(req.Config)
	if err != nil {
		return nil, err
	}
	if st.Site != cfg.SiteName || st.BindingInfo != cfg.BindingInfo {
		return nil, fmt.Errorf("iis: the kept state is for site %q binding %s but the target now names site %q binding %s: restore it by hand", st.Site, st.BindingInfo, cfg.SiteName, cfg.BindingInfo)
	}
	if st.Thumbprint == "" {
		return nil, fmt.Errorf("iis: site %q binding %s had no certificate before the deployment: there is none to bind again; remove the binding or choose its certificate in IIS Manager", st.Site, st.BindingInfo)
	}
	store := st.Store
	if store == "" || !storeName.MatchString(store) {
		store = cfg.CertStore
	}
	sh, closeShell, err := c.session(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer closeShell()
	out, err := c.runScript(ctx, sh, fmt.Sprintf("bind %s to %s of site %q again", st.Thumbprint, st.BindingInfo, st.Site),
		script("rollback", []param{{"Store", store}, {"Thumbprint", st.Thumbprint}, {"Site", cfg.SiteName}, {"BindingInfo", cfg.BindingInfo}}, rollbackBody))
	if err != nil {
		return nil, err
	}
	return &target.RollbackResult{
		Message: fmt.Sprintf("IIS %s: site %q binding %s uses %s again", cfg.Hostname, st.Site, st.BindingInfo, st.Thumbprint),
		Output:  target.TrimOutput(out),
	}, nil
}
