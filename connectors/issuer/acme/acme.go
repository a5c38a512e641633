package acme

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/lego"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/keywrap"
)

// Answer is the answer to one HTTP-01 challenge, published for every node
// to serve while the CA validates.
type Answer struct {
	IssuerID         string
	Token            string
	KeyAuthorization string
	ExpiresAt        time.Time
	// CertificateID is the certificate the order is for; with Responder
	// ResponderAgent its targets' agents serve the answer.
	CertificateID string
	Responder     string
}

// Challenges publishes HTTP-01 answers where every node serves them: cmd's
// implementation writes them through Raft (fsm.PutACMEChallenge), so
// Publish returns only once the answer is committed. Safe for concurrent
// use.
type Challenges interface {
	Publish(ctx context.Context, a Answer) error
	Withdraw(ctx context.Context, issuerID, token string) error
}

// Options tune the connector; zero fields take their defaults.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OrderTimeout bounds the wait for a finalized order's certificate;
	// default 30s.
	OrderTimeout time.Duration
	// AnswerLife is how long a published HTTP-01 answer lives; default 10m.
	AnswerLife time.Duration
	// HTTPTimeout bounds each request to the CA; default 30s.
	HTTPTimeout time.Duration
	// DNSHooks are the absolute paths of the programs a dns-01 config may
	// name as dns_hook (the server's acme_dns_hooks): set by whoever
	// administers the nodes, never through the API. None: no hook runs.
	DNSHooks []string
	// AgentWait bounds the wait for an agent to confirm it serves an
	// HTTP-01 answer (http01_responder: agent); default 20s.
	AgentWait time.Duration
}

// connector is what every ACME issuer of a node shares.
type connector struct {
	kek        []byte
	challenges Challenges
	opts       Options
}

// errNoKEK is why a node without a KEK builds no ACME issuer.
var errNoKEK = fmt.Errorf("acme: an ACME account key exists only sealed: %w", keywrap.ErrNoKEK)

// Connector returns the ACME issuer.Connector, to register in cmd's
// issuer.Registry. kek seals the account keys (a copy is kept);
// challenges publishes HTTP-01 answers (nil: orders fail naming it).
func Connector(kek []byte, challenges Challenges, opts Options) issuer.Connector {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OrderTimeout <= 0 {
		opts.OrderTimeout = 30 * time.Second
	}
	if opts.AnswerLife <= 0 {
		opts.AnswerLife = 10 * time.Minute
	}
	if opts.HTTPTimeout <= 0 {
		opts.HTTPTimeout = 30 * time.Second
	}
	c := &connector{kek: bytes.Clone(kek), challenges: challenges, opts: opts}
	return issuer.Connector{
		Type:           Type,
		ValidateConfig: ValidateConfig,
		Secrets:        Secrets,
		Material:       maker{c: c},
		New:            c.build,
	}
}

// build builds an issuer from its stored record; it opens the account key
// and talks to no one.
func (c *connector) build(_ context.Context, s issuer.Stored) (issuer.Issuer, error) {
	if len(c.kek) == 0 {
		return nil, errNoKEK
	}
	cfg, err := ParseConfig(s.Config)
	if err != nil {
		return nil, err
	}
	if len(s.Material) == 0 {
		return nil, fmt.Errorf("acme: issuer %q has no ACME account yet: %w", s.ID, issuer.ErrNoMaterial)
	}
	var a Account
	if err := json.Unmarshal(s.Material, &a); err != nil {
		return nil, fmt.Errorf("acme: the stored account of issuer %q is unreadable: %w", s.ID, err)
	}
	key, err := a.openKey(c.kek, s.ID)
	if err != nil {
		return nil, err
	}
	return &Issuer{c: c, id: s.ID, cfg: cfg, account: a, user: &user{email: cfg.Email, key: key,
		reg: &legoacme.ExtendedAccount{Location: a.URL}}}, nil
}

// Issuer is one ACME issuer: its config and opened account. Safe for
// concurrent use; each operation makes its own lego client.
type Issuer struct {
	c       *connector
	id      string
	cfg     Config
	account Account
	user    *user
}

var _ issuer.Issuer = (*Issuer)(nil)

// ValidateConfig implements issuer.Issuer.
func (i *Issuer) ValidateConfig(ctx context.Context, config json.RawMessage) error {
	return ValidateConfig(ctx, config)
}

// session returns a lego client acting as the issuer's account. An account
// registered at another directory (the config's directory_url changed) is
// registered at this one with the same key first.
func (i *Issuer) session(ctx context.Context) (*lego.Client, error) {
	u := i.user
	if i.account.DirectoryURL != i.cfg.DirectoryURL {
		url, err := i.c.register(ctx, i.cfg, i.user.key)
		if err != nil {
			return nil, err
		}
		u = &user{email: i.cfg.Email, key: i.user.key, reg: &legoacme.ExtendedAccount{Location: url}}
	}
	client, err := i.c.client(i.cfg, u)
	if err != nil {
		return nil, err
	}
	if i.cfg.Profile != "" {
		if p := client.GetServerMetadata().Profiles; len(p) > 0 {
			if _, ok := p[i.cfg.Profile]; !ok {
				names := make([]string, 0, len(p))
				for n := range p {
					names = append(names, n)
				}
				return nil, &issuer.ConfigError{Field: "profile", Reason: fmt.Sprintf("the CA offers no profile %q (it offers: %s)", i.cfg.Profile, strings.Join(names, ", "))}
			}
		}
	}
	return client, nil
}

// IssueCertificate orders a certificate for the names of req.CSRPEM and
// binds its key, validating each name with the config's challenge.
func (i *Issuer) IssueCertificate(ctx context.Context, req issuer.IssuanceRequest) (*issuer.IssuanceResult, error) {
	return i.issue(ctx, req, "")
}

// issue orders the certificate of IssueCertificate; replaces, when set,
// is the ARI certificate id of the certificate it replaces (ari.go).
func (i *Issuer) issue(ctx context.Context, req issuer.IssuanceRequest, replaces string) (*issuer.IssuanceResult, error) {
	if i.c.challenges == nil && i.cfg.Challenge == ChallengeHTTP01 {
		return nil, errors.New("acme: this node publishes no HTTP-01 answers (no acme challenge store wired)")
	}
	allowed, err := issuer.ParseNames(req.CommonName, req.SANs)
	if err != nil {
		return nil, err
	}
	csr, err := issuer.VerifyCSR(req.CSRPEM, req.CommonName, allowed)
	if err != nil {
		return nil, err
	}
	client, err := i.session(ctx)
	if err != nil {
		return nil, err
	}
	if i.cfg.Challenge == ChallengeDNS01 {
		err = i.setDNS01(client)
	} else {
		err = client.Challenge.SetHTTP01Provider(&publisher{i: i, certID: req.CertificateID})
	}
	if err != nil {
		return nil, err
	}
	res, err := client.Certificate.ObtainForCSR(ctx, certificate.ObtainForCSRRequest{CSR: csr, Profile: i.cfg.Profile, ReplacesCertID: replaces})
	if err != nil {
		return nil, caError("issue a certificate for "+strings.Join(names(csr), ", "), err)
	}
	return result(res)
}

// RevokeCertificate revokes req.CertPEM at the CA with req.Reason. A
// certificate the CA reports revoked already is not an error.
func (i *Issuer) RevokeCertificate(ctx context.Context, req issuer.RevocationRequest) error {
	if req.CertPEM == "" {
		return &issuer.RequestError{Field: "cert_pem", Reason: "an ACME CA revokes a certificate it is shown"}
	}
	reason, err := issuer.ParseReason(req.Reason)
	if err != nil {
		return err
	}
	client, err := i.session(ctx)
	if err != nil {
		return err
	}
	code := uint(reason)
	err = client.Certificate.RevokeWithReason(ctx, []byte(req.CertPEM), &code)
	var pd *legoacme.ProblemDetails
	if errors.As(err, &pd) && pd.Type == legoacme.AlreadyRevokedErrorType {
		return nil
	}
	if err != nil {
		return caError("revoke certificate "+req.Serial, err)
	}
	return nil
}

// GetOrderStatus fetches the certificate of an order (its certificate URL,
// IssuanceResult.OrderID).
func (i *Issuer) GetOrderStatus(ctx context.Context, orderID string) (*issuer.OrderStatus, error) {
	client, err := i.session(ctx)
	if err != nil {
		return nil, err
	}
	res, err := client.Certificate.Get(ctx, orderID, false)
	if err != nil {
		return &issuer.OrderStatus{OrderID: orderID, Status: issuer.OrderFailed, Message: caError("fetch the certificate", err).Error()}, nil
	}
	r, err := result(res)
	if err != nil {
		return nil, err
	}
	return &issuer.OrderStatus{OrderID: orderID, Status: issuer.OrderCompleted, Result: r}, nil
}

// result turns what lego fetched into an IssuanceResult.
func result(res *certificate.Resource) (*issuer.IssuanceResult, error) {
	block, rest := pem.Decode(res.Certificate)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("acme: the CA's answer holds no certificate")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("acme: the CA's certificate does not parse: %w", err)
	}
	chain := string(res.IssuerCertificate)
	if chain == "" {
		chain = string(bytes.TrimLeft(rest, "\n"))
	}
	sum := sha256.Sum256(leaf.Raw)
	return &issuer.IssuanceResult{
		CertPEM:           string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
		ChainPEM:          chain,
		SerialNumber:      issuer.FormatSerial(leaf.SerialNumber),
		NotBefore:         leaf.NotBefore,
		NotAfter:          leaf.NotAfter,
		FingerprintSHA256: hex.EncodeToString(sum[:]),
		OrderID:           res.CertURL,
	}, nil
}

func names(csr *x509.CertificateRequest) []string {
	out := slices.Clone(csr.DNSNames)
	if csr.Subject.CommonName != "" && !slices.Contains(out, csr.Subject.CommonName) {
		out = append([]string{csr.Subject.CommonName}, out...)
	}
	for _, ip := range csr.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// publisher is the HTTP-01 challenge.Provider of one order: Present
// publishes the answer through the connector's Challenges (committed
// before lego tells the CA the challenge is ready), CleanUp withdraws it.
type publisher struct {
	i      *Issuer
	certID string
}

func (p *publisher) Present(ctx context.Context, domain, token, keyAuth string) error {
	if p.i.cfg.HTTP01Responder == ResponderAgent {
		return p.presentByAgent(ctx, domain, token, keyAuth)
	}
	return p.i.c.challenges.Publish(ctx, Answer{IssuerID: p.i.id, Token: token, KeyAuthorization: keyAuth,
		ExpiresAt: p.i.c.opts.Now().Add(p.i.c.opts.AnswerLife), CertificateID: p.certID})
}

func (p *publisher) CleanUp(ctx context.Context, _, token, _ string) error {
	return p.i.c.challenges.Withdraw(ctx, p.i.id, token)
}

// httpClient is the client for cfg's CA: its ca_bundle when set, else
// the system's roots.
func (c *connector) httpClient(cfg Config) (*http.Client, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CABundle != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(cfg.CABundle)) {
			return nil, &issuer.ConfigError{Field: "ca_bundle", Reason: "no PEM certificate in it"}
		}
		tlsCfg.RootCAs = pool
	}
	return &http.Client{
		Timeout: c.opts.HTTPTimeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tlsCfg,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: c.opts.HTTPTimeout,
		},
	}, nil
}
