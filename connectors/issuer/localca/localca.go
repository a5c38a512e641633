package localca

import (
	"bytes"
	"context"
	"crypto"
	crand "crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/keywrap"
)

// Issuer is a Local CA: it signs leaves and CRLs with the intermediate of
// its CAMaterial. It is immutable after New and safe for concurrent use.
type Issuer struct {
	cfg    Config
	root   *x509.Certificate
	inter  *x509.Certificate
	signer crypto.Signer // the intermediate's key
	// kek and rootMaterial open the root's key for the moment RootCRL
	// signs with it; it is not kept open.
	kek          []byte
	rootMaterial *CAMaterial
	chainPEM     string // the intermediate: what a server sends after a leaf
	caChainPEM   string // the intermediate, then the root
	now          func() time.Time
	rand         io.Reader
}

var (
	_ issuer.Issuer        = (*Issuer)(nil)
	_ issuer.CRLSigner     = (*Issuer)(nil)
	_ issuer.ChainProvider = (*Issuer)(nil)
	_ issuer.RootCRLSigner = (*Issuer)(nil)
)

// Option changes a default of New.
type Option func(*Issuer)

// WithClock sets the clock that dates leaves whose request gives no
// NotBefore; the default is time.Now.
func WithClock(now func() time.Time) Option { return func(i *Issuer) { i.now = now } }

// WithRand sets the source of the serials the Issuer draws when a request
// has none; the default is crypto/rand. (Signatures always use a secure
// source since Go 1.26.)
func WithRand(r io.Reader) Option { return func(i *Issuer) { i.rand = r } }

// New returns the Local CA of cfg.ID from its material, opening the
// intermediate's key with kek. cfg takes its defaults; cfg.ID is required.
// New fails with ErrNoMaterial for nil material, ErrKEKMismatch for material
// sealed under another KEK, and keywrap.ErrOpen for material that does not
// open (altered, or sealed for another issuer). New keeps copies of kek and
// of the sealed root key, which RootCRL opens for each signature; the root
// key is never held open.
func New(cfg Config, material *CAMaterial, kek []byte, opts ...Option) (*Issuer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ID == "" {
		return nil, errors.New("localca: Config.ID (the issuer id) is required")
	}
	if material == nil {
		return nil, fmt.Errorf("%w for issuer %q", ErrNoMaterial, cfg.ID)
	}
	if len(kek) != keywrap.KEKSize {
		return nil, fmt.Errorf("localca: %w: %d bytes, want %d", keywrap.ErrInvalidKEK, len(kek), keywrap.KEKSize)
	}
	root, inter, err := material.certificates()
	if err != nil {
		return nil, err
	}
	signer, err := material.openKey(kek, cfg.ID, roleIntermediate, inter)
	if err != nil {
		return nil, err
	}
	i := &Issuer{
		cfg:    cfg,
		root:   root,
		inter:  inter,
		signer: signer,
		kek:    bytes.Clone(kek),
		rootMaterial: &CAMaterial{
			KeyType:       material.KeyType,
			RootCertPEM:   material.RootCertPEM,
			RootKeySealed: bytes.Clone(material.RootKeySealed),
			KEKID:         material.KEKID,
		},
		chainPEM:   certPEM(inter.Raw),
		caChainPEM: certPEM(inter.Raw) + certPEM(root.Raw),
		now:        time.Now,
		rand:       crand.Reader,
	}
	for _, opt := range opts {
		opt(i)
	}
	return i, nil
}

// Config returns the issuer's config, defaults applied.
func (i *Issuer) Config() Config { return i.cfg }

// ValidateConfig checks a GenericCA config (ParseConfig).
func (i *Issuer) ValidateConfig(ctx context.Context, config json.RawMessage) error {
	return ValidateConfig(ctx, config)
}

// IssueCertificate signs a leaf for req (see DESIGN.md for the profile). It
// is synchronous: the result's OrderID, the serial in hex, is complete.
func (i *Issuer) IssueCertificate(ctx context.Context, req issuer.IssuanceRequest) (*issuer.IssuanceResult, error) {
	return i.issue(ctx, req)
}

// RenewCertificate issues a new leaf for req, as IssueCertificate does: the
// Local CA keeps nothing about the certificate being renewed.
func (i *Issuer) RenewCertificate(ctx context.Context, req issuer.RenewalRequest) (*issuer.IssuanceResult, error) {
	return i.issue(ctx, req.IssuanceRequest)
}

// RevokeCertificate checks req's serial and reason name and does nothing
// else: the caller records the revocation through Raft, and the next CRL
// lists it.
func (i *Issuer) RevokeCertificate(ctx context.Context, req issuer.RevocationRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := issuer.ParseSerial(req.Serial); err != nil {
		return err
	}
	_, err := issuer.ParseReason(req.Reason)
	return err
}

// GetOrderStatus reports every well-formed order id (a hex serial, as
// IssuanceResult.OrderID) as completed: the Local CA issues synchronously
// and keeps no orders, so it cannot tell whether it issued that serial. The
// status carries no Result.
func (i *Issuer) GetOrderStatus(ctx context.Context, orderID string) (*issuer.OrderStatus, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := issuer.ParseSerial(orderID); err != nil {
		return nil, &issuer.RequestError{Field: "order_id", Reason: fmt.Sprintf("%q is not a Local CA order id (a hex serial number)", orderID)}
	}
	return &issuer.OrderStatus{
		OrderID: orderID,
		Status:  issuer.OrderCompleted,
		Message: "the Local CA issues synchronously: an order is complete when IssueCertificate returns",
	}, nil
}

// CAChainPEM returns the intermediate then the root, in PEM.
func (i *Issuer) CAChainPEM() (string, error) { return i.caChainPEM, nil }
