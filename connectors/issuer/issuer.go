package issuer

import (
	"context"
	"encoding/json"
	"io"
	"math/big"
	"time"
)

// Issuer is a certificate authority certctl issues through. Implementations
// are safe for concurrent use. They keep no record of what they issued or
// revoked: the caller records results and revocations in the replicated
// state, and passes back what an operation needs (a CRL's revoked serials).
type Issuer interface {
	// ValidateConfig reports whether config is a valid configuration for
	// this issuer's type; a *ConfigError names the offending field.
	ValidateConfig(ctx context.Context, config json.RawMessage) error
	// IssueCertificate signs a certificate for the names in req, binding the
	// public key of req.CSRPEM. Errors are *RequestError or *CSRError for a
	// request the issuer refuses, anything else for a failure to issue.
	IssueCertificate(ctx context.Context, req IssuanceRequest) (*IssuanceResult, error)
	// RenewCertificate issues the successor of an existing certificate.
	RenewCertificate(ctx context.Context, req RenewalRequest) (*IssuanceResult, error)
	// RevokeCertificate tells the CA that a certificate is revoked.
	RevokeCertificate(ctx context.Context, req RevocationRequest) error
	// GetOrderStatus reports on an order started by IssueCertificate or
	// RenewCertificate (IssuanceResult.OrderID).
	GetOrderStatus(ctx context.Context, orderID string) (*OrderStatus, error)
}

// CRLSigner is implemented by issuers that sign their own certificate
// revocation lists (the Local CA). The caller keeps the revocations and the
// CRL number; the issuer only signs.
type CRLSigner interface {
	// CRL returns a DER-encoded CRL listing revoked, valid from thisUpdate
	// to nextUpdate, with CRL number number.
	CRL(ctx context.Context, revoked []RevokedSerial, thisUpdate, nextUpdate time.Time, number *big.Int) ([]byte, error)
}

// RootCRLSigner is implemented by issuers whose issuing CA was signed by a
// root of their own (the Local CA): the root signs the CRL that covers the
// issuing CA, for relying parties that check revocation along the whole
// chain.
type RootCRLSigner interface {
	// RootCRL returns the root's DER-encoded CRL, valid from thisUpdate to
	// nextUpdate, with CRL number number.
	RootCRL(ctx context.Context, thisUpdate, nextUpdate time.Time, number *big.Int) ([]byte, error)
}

// ChainProvider is implemented by issuers that can give their CA
// certificates, for clients that must trust them.
type ChainProvider interface {
	// CAChainPEM returns the CA certificates in PEM, the issuing CA first
	// and the root last.
	CAChainPEM() (string, error)
}

// MaterialMaker is the capability of an issuer type whose issuers need
// material made once, by certctl, before they can be built: the Local CA's
// root and intermediate (a CA account key would be another). The caller
// asks for it when Build fails with ErrNoMaterial, stores what it gets in
// the replicated state once (the first stored wins, should two nodes
// race), and hands it back in Stored.Material to every later Build.
type MaterialMaker interface {
	// MakeMaterial makes the material of issuer s (s.Material is nil). now
	// and rand are the caller's; every secret in the result is sealed, since
	// it is stored as given.
	MakeMaterial(ctx context.Context, s Stored, now time.Time, rand io.Reader) (*Material, error)
}

// Material is what a MaterialMaker made for one issuer.
type Material struct {
	// Data is stored as given and handed back as Stored.Material; it holds
	// nothing secret in the clear.
	Data json.RawMessage
	// KEKID names the key-encryption key its secrets are sealed under
	// (keywrap.KeyID); it tells two nodes with different KEK files apart.
	KEKID string
	// Summary says what was made, for the log (e.g. "ECDSA-P384 root and
	// intermediate"); no secret.
	Summary string
}

// IssuanceRequest asks for one certificate.
type IssuanceRequest struct {
	// CommonName goes in the subject; when it is a DNS name or an IP address
	// it is also added to the subject alternative names. Up to 64 characters.
	// It may be empty when SANs is not.
	CommonName string
	// SANs are DNS names (a leading "*." for a wildcard), IP addresses,
	// e-mail addresses (anything with "@") and URIs (anything with "://").
	SANs []string
	// CSRPEM is the PEM certificate request whose public key the
	// certificate binds. Its names must all be among CommonName and SANs;
	// its other contents (extensions, other subject fields) are ignored.
	CSRPEM string
	// Serial is the certificate's serial number. The lifecycle engine draws
	// it with NewSerial before proposing the issuance through Raft, so that
	// every replica records the same one. When nil, an issuer that chooses
	// its own serials draws one; a CA that assigns serials itself (ACME)
	// ignores it. It must be positive and at most 20 octets.
	Serial *big.Int
	// NotBefore is the start of validity; zero means the issuer's clock,
	// backdated a little for clock skew.
	NotBefore time.Time
	// NotAfter is the end of validity; zero means NotBefore plus Validity.
	NotAfter time.Time
	// Validity is the lifetime wanted when NotAfter is zero; zero means the
	// issuer's configured default.
	Validity time.Duration
	// CertificateID is the managed certificate the request is for, when
	// there is one: an ACME issuer whose HTTP-01 answers are served by the
	// agents hands them to the agents of its targets.
	CertificateID string
}

// RenewalRequest asks for the successor of a certificate. Issuers that keep
// no per-certificate state treat it as a new issuance.
type RenewalRequest struct {
	IssuanceRequest
	// PreviousSerial is the hex serial number of the certificate being
	// renewed, for issuers and audit trails that link the two.
	PreviousSerial string
	// PreviousCertPEM is the certificate being renewed, when known: an
	// ACME issuer names it in the order's "replaces" (RFC 9773 §5).
	PreviousCertPEM string
}

// IssuanceResult is a signed certificate.
type IssuanceResult struct {
	// CertPEM is the certificate alone.
	CertPEM string
	// ChainPEM is the chain a server sends after the certificate: the
	// issuing CA certificates, without the root.
	ChainPEM string
	// SerialNumber is the serial in lowercase hex (FormatSerial).
	SerialNumber string
	NotBefore    time.Time
	NotAfter     time.Time
	// FingerprintSHA256 is the lowercase hex SHA-256 of the certificate's DER.
	FingerprintSHA256 string
	// OrderID names the order for GetOrderStatus.
	OrderID string
}

// RevocationRequest revokes one certificate.
type RevocationRequest struct {
	// Serial is the certificate's serial in hex (FormatSerial).
	Serial string
	// Reason is an RFC 5280 reason name (ParseReason); empty means
	// "unspecified".
	Reason string
	// RevokedAt is when the revocation took effect, fixed by the caller.
	RevokedAt time.Time
	// CertPEM is the certificate, for a CA that revokes what it is shown
	// (ACME); issuers that keep their own records may ignore it.
	CertPEM string
}

// RevokedSerial is one entry of a CRL.
type RevokedSerial struct {
	Serial    *big.Int
	RevokedAt time.Time
	Reason    Reason
}

// Order statuses reported by GetOrderStatus.
const (
	OrderPending    = "pending"
	OrderProcessing = "processing"
	OrderCompleted  = "completed"
	OrderFailed     = "failed"
)

// OrderStatus is where an order stands.
type OrderStatus struct {
	OrderID string
	// Status is one of OrderPending, OrderProcessing, OrderCompleted and
	// OrderFailed.
	Status string
	// Message says more, for a person.
	Message string
	// Result is the certificate of a completed order, when the issuer still
	// has it; nil otherwise.
	Result *IssuanceResult
}
