package f5

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/certctl/certctl/connectors/target"
)

// Options are the agent's settings for all BIG-IP targets.
type Options struct {
	// Timeout bounds one HTTP request to a device; 0 means 30 s.
	Timeout time.Duration
	// ProbeWait bounds the TLS handshake check of ValidateDeployment; 0
	// means target.Probe's default.
	ProbeWait time.Duration
	// ChunkSize is the largest upload request in bytes; 0 or anything above
	// the device's 1 MiB limit means 512 KiB.
	ChunkSize int
}

// Connector deploys to BIG-IP devices over iControl REST. It holds no
// per-device state between calls and is safe for concurrent use.
type Connector struct {
	opts Options
}

var (
	_ target.Target     = (*Connector)(nil)
	_ target.Rollbacker = (*Connector)(nil)
)

const maxChunk = 1 << 20

// New returns a Connector with o's defaults filled in.
func New(o Options) *Connector {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.ChunkSize <= 0 || o.ChunkSize > maxChunk {
		o.ChunkSize = 512 << 10
	}
	return &Connector{opts: o}
}

// ValidateConfig checks a JSON config without contacting the device.
func (c *Connector) ValidateConfig(_ context.Context, raw json.RawMessage) error {
	_, err := ParseConfig(raw)
	return err
}

// session opens a session with the device for the steps of one call: a
// client logged in as cfg's user. logout gives the token back, even once
// ctx is cancelled; call it when the steps are done.
func (c *Connector) session(ctx context.Context, cfg Config) (cl *client, logout func(), err error) {
	cl, err = newClient(cfg, c.opts)
	if err != nil {
		return nil, nil, err
	}
	if err := cl.login(ctx, cfg.Username, cfg.Password); err != nil {
		return nil, nil, err
	}
	return cl, func() { cl.logout(context.WithoutCancel(ctx)) }, nil
}

// unsafeName is what may not appear in a BIG-IP object name.
var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// objects are the names of one deployment's objects on the device.
type objects struct {
	cert, key, chain string // bare names; chain is "" without intermediates
}

// objectNames derives the names from the certificate id and serial, so a
// new serial never overwrites what the profile used before (Rollback
// needs it) and a retry of the same deployment finds its own objects.
func objectNames(certID, serial string, withChain bool) objects {
	base := "certctl_" + strings.Trim(unsafeName.ReplaceAllString(certID, "_"), "_") + "_" + strings.ToLower(unsafeName.ReplaceAllString(serial, ""))
	o := objects{cert: base + ".crt", key: base + ".key"}
	if withChain {
		o.chain = base + "_chain.crt"
	}
	return o
}

func full(partition, name string) string {
	if name == "" {
		return ""
	}
	return "/" + partition + "/" + name
}

// restName is the ~partition~name form iControl REST uses in paths.
func restName(partition, name string) string { return "~" + partition + "~" + name }

// DeployCertificate uploads and installs the certificate, chain and key,
// then switches the profile in one transaction and saves the configuration.
// It refuses a key that does not match the certificate before any request.
// The profile switch is the last step and atomic: on any error the profile
// still uses what it used before.
func (c *Connector) DeployCertificate(ctx context.Context, req target.DeploymentRequest) (*target.DeploymentResult, error) {
	cfg, err := ParseConfig(req.Config)
	if err != nil {
		return nil, err
	}
	if req.StateDir == "" {
		return nil, fmt.Errorf("f5: the deployment has no StateDir to keep the previous profile in")
	}
	m, leaf, err := loadMaterial(req.CertPEM, req.ChainPEM, req.KeyPath)
	if err != nil {
		return nil, err
	}
	defer clear(m.keyPEM)
	serial := req.SerialNumber
	if serial == "" {
		serial = leaf.SerialNumber.Text(16)
	}
	names := objectNames(req.CertificateID, serial, m.chainPEM != nil)

	cl, logout, err := c.session(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer logout()

	prev, err := getChain(ctx, cl, cfg)
	if err != nil {
		return nil, err
	}
	// A retry of this deployment finds the state of its first attempt: keep
	// that one, it is what the profile used before certctl touched it.
	kept, err := target.ReadState[state](req.StateDir, stateFile)
	if err != nil {
		return nil, err
	}
	var files []string
	if kept == nil {
		path, err := target.WriteState(req.StateDir, stateFile, state{Profile: cfg.profilePath(), CertKeyChain: prev})
		if err != nil {
			return nil, err
		}
		files = append(files, path)
	}

	var notes []string
	var uploaded []string
	cleanup := func() {
		// The uploaded key would otherwise stay readable in the REST
		// downloads folder; a failure to remove it is reported, not fatal.
		for _, n := range uploaded {
			if err := removeUpload(context.WithoutCancel(ctx), cl, n); err != nil {
				notes = append(notes, fmt.Sprintf("could not remove %s%s: %v", downloadsDir, n, err))
			}
		}
		uploaded = nil
	}
	defer cleanup()
	for _, u := range []struct {
		name, kind string
		data       []byte
	}{{names.key, "key", m.keyPEM}, {names.cert, "cert", m.certPEM}, {names.chain, "cert", m.chainPEM}} {
		if u.name == "" {
			continue
		}
		exists, err := installed(ctx, cl, u.kind, cfg.Partition, u.name)
		if err != nil {
			return nil, err
		}
		if exists {
			continue
		}
		uploaded = append(uploaded, u.name)
		if err := cl.upload(ctx, u.name, u.data, c.opts.ChunkSize); err != nil {
			return nil, err
		}
		if err := install(ctx, cl, u.kind, cfg.Partition, u.name); err != nil {
			return nil, err
		}
	}
	cleanup()

	next, err := nextChain(ctx, cl, prev, chainEntry{Cert: full(cfg.Partition, names.cert), Key: full(cfg.Partition, names.key),
		Chain: full(cfg.Partition, names.chain)}, keyType(leaf))
	if err != nil {
		return nil, err
	}
	replaced := ""
	for i, e := range next {
		if e.Cert == full(cfg.Partition, names.cert) && i < len(prev) && prev[i].Name == e.Name {
			replaced = prev[i].Cert
		}
	}
	if err := switchChain(ctx, cl, cfg, next); err != nil {
		return nil, err
	}
	if err := saveConfig(ctx, cl); err != nil {
		// The running configuration has switched but would not survive a
		// reboot: switch back, so that the device is as it was.
		if rerr := switchChain(context.WithoutCancel(ctx), cl, cfg, prev); rerr != nil {
			return nil, fmt.Errorf("%w; switching the profile back failed too, roll back this deployment: %v", err, rerr)
		}
		return nil, err
	}

	return &target.DeploymentResult{
		Message: fmt.Sprintf("BIG-IP %s: profile %s now uses %s", cfg.Host, full(cfg.Partition, cfg.SSLProfile), full(cfg.Partition, names.cert)),
		Files:   files,
		Output:  target.TrimOutput([]byte(strings.Join(notes, "\n"))),
		Details: map[string]string{
			"profile":            full(cfg.Partition, cfg.SSLProfile),
			"cert":               full(cfg.Partition, names.cert),
			"key":                full(cfg.Partition, names.key),
			"chain":              full(cfg.Partition, names.chain),
			"previous_cert":      replaced,
			"fingerprint_sha256": target.Fingerprint(leaf),
		},
	}, nil
}

// keyType is BIG-IP's keyType of the certificate's key.
func keyType(leaf *x509.Certificate) string {
	switch leaf.PublicKeyAlgorithm {
	case x509.RSA:
		return "rsa-private"
	case x509.ECDSA:
		return "ec-private"
	default:
		return strings.ToLower(leaf.PublicKeyAlgorithm.String()) + "-private"
	}
}

// nextChain is prev with the new certificate in place of the entry of the
// same key type: a profile may serve an RSA and an ECDSA certificate side
// by side, and deploying one must keep the other. A profile of one entry
// has it replaced whatever its type.
func nextChain(ctx context.Context, cl *client, prev []chainEntry, e chainEntry, typ string) ([]chainEntry, error) {
	if len(prev) <= 1 {
		e.Name = "default"
		if len(prev) == 1 && prev[0].Name != "" {
			e.Name = prev[0].Name
		}
		return []chainEntry{e}, nil
	}
	next := make([]chainEntry, 0, len(prev)+1)
	replaced := false
	for _, p := range prev {
		var k struct {
			KeyType string `json:"keyType"`
		}
		if err := cl.call(ctx, http.MethodGet, keyPath+"/"+strings.ReplaceAll(p.Key, "/", "~"), nil, nil, &k); err != nil {
			return nil, fmt.Errorf("f5: read the type of key %s used by the profile: %w", p.Key, err)
		}
		if !replaced && k.KeyType == typ {
			e.Name, replaced = p.Name, true
			next = append(next, e)
			continue
		}
		next = append(next, p)
	}
	if !replaced {
		e.Name = strings.TrimSuffix(path.Base(e.Cert), ".crt")
		next = append(next, e)
	}
	return next, nil
}

func firstField(chain []chainEntry, f func(chainEntry) string) string {
	if len(chain) == 0 {
		return ""
	}
	return f(chain[0])
}

// getChain reads the profile's certKeyChain.
func getChain(ctx context.Context, cl *client, cfg Config) ([]chainEntry, error) {
	var p struct {
		CertKeyChain []chainEntry `json:"certKeyChain"`
	}
	if err := cl.call(ctx, http.MethodGet, cfg.profilePath(), nil, nil, &p); err != nil {
		if IsNotFound(err) {
			return nil, fmt.Errorf("f5: client-ssl profile %s does not exist on %s: check ssl_profile and partition (%w)", full(cfg.Partition, cfg.SSLProfile), cfg.Host, err)
		}
		return nil, err
	}
	return p.CertKeyChain, nil
}

func installed(ctx context.Context, cl *client, kind, partition, name string) (bool, error) {
	path := certPath
	if kind == "key" {
		path = keyPath
	}
	err := cl.call(ctx, http.MethodGet, path+"/"+restName(partition, name), nil, nil, nil)
	if IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// install makes an uploaded file a sys crypto key or cert.
func install(ctx context.Context, cl *client, kind, partition, name string) error {
	path := certPath
	if kind == "key" {
		path = keyPath
	}
	body := map[string]string{"command": "install", "name": full(partition, name), "from-local-file": downloadsDir + name}
	if err := cl.call(ctx, http.MethodPost, path, nil, body, nil); err != nil {
		return fmt.Errorf("f5: install %s %s: %w", kind, full(partition, name), err)
	}
	return nil
}

func removeUpload(ctx context.Context, cl *client, name string) error {
	return cl.call(ctx, http.MethodPost, rmPath, nil, map[string]string{"command": "run", "utilCmdArgs": downloadsDir + name}, nil)
}

func saveConfig(ctx context.Context, cl *client) error {
	if err := cl.call(ctx, http.MethodPost, saveConfPath, nil, map[string]string{"command": "save"}, nil); err != nil {
		return fmt.Errorf("f5: save the configuration: %w", err)
	}
	return nil
}

// switchChain sets the profile's certKeyChain inside one transaction, which
// BIG-IP applies whole or not at all: a profile never pairs a new cert with
// an old key.
func switchChain(ctx context.Context, cl *client, cfg Config, chain []chainEntry) error {
	var tx struct {
		TransID json.Number `json:"transId"`
	}
	if err := cl.call(ctx, http.MethodPost, txPath, nil, struct{}{}, &tx); err != nil {
		return fmt.Errorf("f5: start a transaction: %w", err)
	}
	id := tx.TransID.String()
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return fmt.Errorf("f5: the device answered transaction id %q", id)
	}
	hdr := http.Header{txHeader: {id}}
	if chain == nil {
		chain = []chainEntry{}
	}
	if err := cl.call(ctx, http.MethodPatch, cfg.profilePath(), hdr, map[string]any{"certKeyChain": chain}, nil); err != nil {
		return fmt.Errorf("f5: queue the profile change in transaction %s: %w", id, err)
	}
	// The commit itself must not carry the coordination header, or the
	// device would queue it as one more command.
	var res struct {
		State         string `json:"state"`
		FailureReason string `json:"failureReason"`
	}
	if err := cl.call(ctx, http.MethodPatch, txPath+"/"+id, nil, map[string]string{"state": "VALIDATING"}, &res); err != nil {
		return fmt.Errorf("f5: commit transaction %s switching profile %s: %w", id, full(cfg.Partition, cfg.SSLProfile), err)
	}
	if res.State != "" && res.State != "COMPLETED" {
		return fmt.Errorf("f5: transaction %s switching profile %s ended %s: %s", id, full(cfg.Partition, cfg.SSLProfile), res.State, res.FailureReason)
	}
	return nil
}

// ValidateDeployment asks the device whether the profile names the objects
// of req's certificate (Method "api"); with endpoint configured, it then
// checks with a TLS handshake that the virtual server serves it.
func (c *Connector) ValidateDeployment(ctx context.Context, req target.ValidationRequest) (*target.ValidationResult, error) {
	cfg, err := ParseConfig(req.Config)
	if err != nil {
		return nil, err
	}
	want := target.NormalFingerprint(req.FingerprintSHA256)
	cl, logout, err := c.session(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer logout()
	chain, err := getChain(ctx, cl, cfg)
	if err != nil {
		return nil, err
	}
	names := objectNames(req.CertificateID, req.SerialNumber, false)
	res := &target.ValidationResult{Method: "api", ExpectedFingerprint: want, CheckedAt: time.Now().UTC()}
	profile := full(cfg.Partition, cfg.SSLProfile)
	wantCert, wantKey := full(cfg.Partition, names.cert), full(cfg.Partition, names.key)
	for _, e := range chain {
		if e.Cert == wantCert && e.Key == wantKey {
			res.Valid = true
		}
	}
	if !res.Valid {
		res.Message = fmt.Sprintf("profile %s uses %s, not %s", profile, firstField(chain, func(e chainEntry) string { return e.Cert }), wantCert)
		return res, nil
	}
	res.Message = fmt.Sprintf("profile %s uses %s", profile, wantCert)
	if cfg.Endpoint == "" {
		return res, nil
	}
	return target.Probe{Endpoint: cfg.Endpoint, ServerName: cfg.ServerName, Want: want, Wait: c.opts.ProbeWait}.Run(ctx)
}

// Rollback switches the profile back to the certKeyChain kept by the
// deployment. The new objects stay installed: they are harmless, and a
// retried deployment reuses them.
func (c *Connector) Rollback(ctx context.Context, req target.RollbackRequest) (*target.RollbackResult, error) {
	st, nothing, err := target.KeptState[state](req.StateDir, stateFile)
	if err != nil || nothing != nil {
		return nothing, err
	}
	cfg, err := ParseConfig(req.Config)
	if err != nil {
		return nil, err
	}
	if st.Profile != cfg.profilePath() {
		return nil, fmt.Errorf("f5: the kept state is for %s but the target now names %s: restore it by hand", st.Profile, cfg.profilePath())
	}
	cl, logout, err := c.session(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer logout()
	if err := switchChain(ctx, cl, cfg, st.CertKeyChain); err != nil {
		return nil, err
	}
	if err := saveConfig(ctx, cl); err != nil {
		return nil, err
	}
	return &target.RollbackResult{Message: fmt.Sprintf("BIG-IP %s: profile %s uses %s again", cfg.Host, full(cfg.Partition, cfg.SSLProfile),
		firstField(st.CertKeyChain, func(e chainEntry) string { return e.Cert }))}, nil
}
