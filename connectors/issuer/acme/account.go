package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/registration"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/keywrap"
)

// accountKeyType is the account key's type: ECDSA P-256 (ES256), which
// every ACME CA accepts.
const accountKeyType = "ECDSA-P256"

// Account is an ACME issuer's material: its account key, sealed under the
// KEK, and the account the CA registered for it. It is made once per
// issuer (MakeMaterial), replicated through Raft with SetIssuerMaterial,
// and never holds the key in the clear.
type Account struct {
	// KeyType is accountKeyType.
	KeyType string `json:"key_type"`
	// KEKID is keywrap.KeyID of the KEK that sealed the key.
	KEKID string `json:"kek_id"`
	// KeySealed is the key's PKCS #8 DER sealed under the KEK (AAD
	// accountAAD of the issuer).
	KeySealed []byte `json:"account_key_sealed"`
	// URL is the account's URL at the CA (its "kid").
	URL string `json:"account_url"`
	// DirectoryURL is the directory the account was registered at.
	DirectoryURL string `json:"directory_url"`
}

func accountAAD(issuerID string) []byte {
	return []byte("certctl acme account key\x00" + issuerID)
}

// openKey opens the account key of issuer issuerID.
func (a *Account) openKey(kek []byte, issuerID string) (crypto.Signer, error) {
	if a.KEKID != "" && a.KEKID != keywrap.KeyID(kek) {
		return nil, fmt.Errorf("acme: the account key of issuer %q is sealed under KEK %s, this node has %s: give every node the same --kek-file",
			issuerID, a.KEKID, keywrap.KeyID(kek))
	}
	der, err := keywrap.Open(kek, a.KeySealed, accountAAD(issuerID))
	if err != nil {
		return nil, fmt.Errorf("acme: open the account key of issuer %q: %w", issuerID, err)
	}
	defer clear(der)
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("acme: the account key of issuer %q does not parse: %w", issuerID, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("acme: the account key of issuer %q is a %T", issuerID, key)
	}
	return signer, nil
}

// user is a lego registration.User.
type user struct {
	email string
	key   crypto.Signer
	reg   *legoacme.ExtendedAccount
}

func (u *user) GetEmail() string                           { return u.email }
func (u *user) GetRegistration() *legoacme.ExtendedAccount { return u.reg }
func (u *user) GetPrivateKey() crypto.Signer               { return u.key }

// maker makes an ACME issuer's account: its issuer.MaterialMaker.
type maker struct{ c *connector }

var _ issuer.MaterialMaker = maker{}

// MakeMaterial makes the account key of issuer s, registers it at the CA
// (with its External Account Binding when the config has one, agreeing to
// the terms of service when the config does) and returns it sealed.
func (m maker) MakeMaterial(ctx context.Context, s issuer.Stored, _ time.Time, rand io.Reader) (*issuer.Material, error) {
	if len(m.c.kek) == 0 {
		return nil, errNoKEK
	}
	cfg, err := ParseConfig(s.Config)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, err
	}
	url, err := m.c.register(ctx, cfg, key)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	sealed, err := keywrap.Seal(m.c.kek, der, accountAAD(s.ID))
	if err != nil {
		return nil, err
	}
	a := Account{KeyType: accountKeyType, KEKID: keywrap.KeyID(m.c.kek), KeySealed: sealed, URL: url, DirectoryURL: cfg.DirectoryURL}
	data, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	return &issuer.Material{Data: data, KEKID: a.KEKID, Summary: "ACME account " + url}, nil
}

// register registers key at cfg's CA and returns the account's URL. A key
// the CA knows already gets its existing account back.
func (c *connector) register(ctx context.Context, cfg Config, key crypto.Signer) (string, error) {
	u := &user{email: cfg.Email, key: key}
	client, err := c.client(cfg, u)
	if err != nil {
		return "", err
	}
	meta := client.GetServerMetadata()
	if meta.TermsOfService != "" && !cfg.TermsOfServiceAgreed {
		return "", &issuer.ConfigError{Field: "terms_of_service_agreed",
			Reason: "the CA asks to agree to its terms of service (" + meta.TermsOfService + "): read them, then set terms_of_service_agreed to true"}
	}
	if meta.ExternalAccountRequired && cfg.EABKID == "" {
		return "", &issuer.ConfigError{Field: "eab_kid", Reason: "the CA requires External Account Binding: set eab_kid and eab_hmac_key as the CA gave them"}
	}
	var acct *legoacme.ExtendedAccount
	if cfg.EABKID != "" {
		acct, err = client.Registration.RegisterWithExternalAccountBinding(ctx, registration.RegisterEABOptions{
			TermsOfServiceAgreed: cfg.TermsOfServiceAgreed, Kid: cfg.EABKID, HmacEncoded: cfg.EABHMACKey})
	} else {
		acct, err = client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: cfg.TermsOfServiceAgreed})
	}
	if err != nil {
		return "", caError("register the account", err)
	}
	if acct == nil || acct.Location == "" {
		return "", errors.New("acme: the CA registered the account but gave no account URL")
	}
	return acct.Location, nil
}

// client is a lego client for cfg's directory acting as u.
func (c *connector) client(cfg Config, u *user) (*lego.Client, error) {
	hc, err := c.httpClient(cfg)
	if err != nil {
		return nil, err
	}
	lc := lego.NewConfig(u)
	lc.CADirURL = cfg.DirectoryURL
	lc.HTTPClient = hc
	lc.UserAgent = "certctl"
	lc.Certificate.Timeout = c.opts.OrderTimeout
	client, err := lego.NewClient(lc)
	if err != nil {
		return nil, caError("answer its directory "+cfg.DirectoryURL, err)
	}
	return client, nil
}
