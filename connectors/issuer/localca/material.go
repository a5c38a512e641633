package localca

import (
	"crypto"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/keywrap"
)

// Lifetimes of the CA certificates.
const (
	RootValidity         = 10 * 365 * 24 * time.Hour
	IntermediateValidity = 5 * 365 * 24 * time.Hour
	// caBackdate absorbs clock skew between the node that makes the CA and
	// the hosts that check it.
	caBackdate = time.Hour
	rootSuffix = " Root"
)

// Key roles, part of the additional data each sealed key is bound to.
const (
	roleRoot         = "root"
	roleIntermediate = "intermediate"
)

// ErrNoMaterial reports an issuer whose CA has not been made yet; it
// matches issuer.ErrNoMaterial.
var ErrNoMaterial = fmt.Errorf("localca: no CA material (%w)", issuer.ErrNoMaterial)

// ErrKEKMismatch reports CA material sealed under a KEK other than the one
// given: every node of a cluster needs the same KEK file.
var ErrKEKMismatch = errors.New("localca: CA material sealed under another key-encryption key")

// CAMaterial is a Local CA's root and intermediate: the certificates in PEM
// and the private keys sealed (keywrap, PKCS #8 inside) under a KEK. It is
// what the caller stores in Raft; it holds nothing secret in the clear.
type CAMaterial struct {
	// KeyType is the CA keys' type, e.g. "ECDSA-P384".
	KeyType             string `json:"key_type"`
	RootCertPEM         string `json:"root_cert_pem"`
	IntermediateCertPEM string `json:"intermediate_cert_pem"`
	// RootKeySealed and IntermediateKeySealed are bound to the issuer id
	// and the key's role (sealAAD).
	RootKeySealed         []byte `json:"root_key_sealed"`
	IntermediateKeySealed []byte `json:"intermediate_key_sealed"`
	// KEKID is keywrap.KeyID of the KEK that sealed the keys.
	KEKID string `json:"kek_id"`
}

// NewCA makes the CA of issuer issuerID: a self-signed root named
// commonName + " Root" and an intermediate named commonName signed by it,
// both of keyType (ECDSA-P384 when empty; RSA-3072 or RSA-4096), valid from
// now (backdated an hour) for RootValidity and IntermediateValidity. Their
// keys are sealed under kek and bound to issuerID. rand (crypto/rand when
// nil) draws the serials; key generation always uses a secure source (Go
// 1.26). The caller stores the result through Raft, once. NewCA makes an
// intermediate without name constraints; NewCAFor takes them from a config.
func NewCA(issuerID, commonName, keyType string, kek []byte, now time.Time, rand io.Reader) (*CAMaterial, error) {
	return NewCAFor(Config{ID: issuerID, CACommonName: commonName, KeyType: keyType}, kek, now, rand)
}

// NewCAFor makes the CA of issuer cfg.ID as NewCA does, from cfg's
// ca_common_name and key_type, and writes cfg's permitted_dns_domains and
// permitted_ip_ranges into the intermediate as critical name constraints
// (with DNS domains only, every IP address excluded). They are fixed then:
// a CA made without them keeps an unconstrained intermediate, whatever its
// config says later (the CA still refuses names outside the config's lists).
func NewCAFor(cfg Config, kek []byte, now time.Time, rand io.Reader) (*CAMaterial, error) {
	issuerID := cfg.ID
	if issuerID == "" {
		return nil, errors.New("localca: NewCA needs the issuer id")
	}
	if now.IsZero() {
		return nil, errors.New("localca: NewCA needs the current time")
	}
	if rand == nil {
		rand = crand.Reader
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kt, err := caKeyType(cfg.KeyType)
	if err != nil {
		return nil, err
	}
	nc, err := cfg.constraints()
	if err != nil {
		return nil, err
	}
	if len(kek) != keywrap.KEKSize {
		return nil, fmt.Errorf("localca: %w: %d bytes, want %d", keywrap.ErrInvalidKEK, len(kek), keywrap.KEKSize)
	}

	start := now.Add(-caBackdate).UTC().Truncate(time.Second)
	rootKey, err := kt.Generate(rand)
	if err != nil {
		return nil, fmt.Errorf("localca: root key: %w", err)
	}
	// A root made for the CA/Browser Forum's profile (public_url) leaves its
	// path length open (BR 7.1.2.1.4: SHOULD NOT be present); otherwise it
	// allows the one intermediate below it, as it always has.
	rootPathLen := 1
	if cfg.PublicURL != "" {
		rootPathLen = -1
	}
	root, err := newCACert(rand, cfg.caSubject(cfg.CACommonName+rootSuffix), start, start.Add(RootValidity), rootPathLen, rootKey.Public(), nil, rootKey, func(tmpl *x509.Certificate) {
		// RFC 5280 4.2.1.1 lets a self-signed certificate carry its own key
		// identifier as the authority's: path builders match on it.
		tmpl.AuthorityKeyId = tmpl.SubjectKeyId
	})
	if err != nil {
		return nil, fmt.Errorf("localca: root certificate: %w", err)
	}
	interKey, err := kt.Generate(rand)
	if err != nil {
		return nil, fmt.Errorf("localca: intermediate key: %w", err)
	}
	inter, err := newCACert(rand, pkix.Name{CommonName: cfg.CACommonName}, start, start.Add(IntermediateValidity), 0, interKey.Public(), root, rootKey, func(tmpl *x509.Certificate) {
		cfg.applyIntermediate(tmpl)
		nc.apply(tmpl)
	})
	if err != nil {
		return nil, fmt.Errorf("localca: intermediate certificate: %w", err)
	}

	rootSealed, err := sealKey(kek, issuerID, roleRoot, rootKey)
	if err != nil {
		return nil, err
	}
	interSealed, err := sealKey(kek, issuerID, roleIntermediate, interKey)
	if err != nil {
		return nil, err
	}
	return &CAMaterial{
		KeyType:               string(kt),
		RootCertPEM:           certPEM(root.Raw),
		IntermediateCertPEM:   certPEM(inter.Raw),
		RootKeySealed:         rootSealed,
		IntermediateKeySealed: interSealed,
		KEKID:                 keywrap.KeyID(kek),
	}, nil
}

// newCACert signs a CA certificate named subject for pub with signer, under
// parent (self signed when nil), allowing maxPathLen CAs below it (-1: no
// limit written); profile
// adds to its template what the config asks for (subject fields, name
// constraints, URLs, policies).
func newCACert(rand io.Reader, subject pkix.Name, notBefore, notAfter time.Time, maxPathLen int, pub crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer, profile func(*x509.Certificate)) (*x509.Certificate, error) {
	serial, err := issuer.NewSerial(rand)
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            maxPathLen,
		MaxPathLenZero:        maxPathLen == 0,
		SubjectKeyId:          ski,
	}
	profile(tmpl)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// subjectKeyID is the first 160 bits of the SHA-256 of the subjectPublicKey
// bit string (RFC 7093, section 2, method 1).
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("localca: subject key id: %w", err)
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, fmt.Errorf("localca: subject key id: %w", err)
	}
	sum := sha256.Sum256(info.PublicKey.Bytes)
	return sum[:20], nil
}

// sealAAD binds a sealed key to its issuer and role.
func sealAAD(issuerID, role string) []byte {
	return []byte("certctl/localca/" + issuerID + "/" + role)
}

func sealKey(kek []byte, issuerID, role string, key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("localca: %s key: %w", role, err)
	}
	defer clear(der)
	sealed, err := keywrap.Seal(kek, der, sealAAD(issuerID, role))
	if err != nil {
		return nil, fmt.Errorf("localca: seal %s key: %w", role, err)
	}
	return sealed, nil
}

// openKey opens the sealed key of role and checks that it is the private key
// of cert.
func (m *CAMaterial) openKey(kek []byte, issuerID, role string, cert *x509.Certificate) (crypto.Signer, error) {
	sealed := m.IntermediateKeySealed
	if role == roleRoot {
		sealed = m.RootKeySealed
	}
	if m.KEKID != "" && len(kek) == keywrap.KEKSize && m.KEKID != keywrap.KeyID(kek) {
		return nil, fmt.Errorf("%w: issuer %q's keys were sealed under KEK %s, this node's KEK is %s; every node needs the same KEK file",
			ErrKEKMismatch, issuerID, m.KEKID, keywrap.KeyID(kek))
	}
	der, err := keywrap.Open(kek, sealed, sealAAD(issuerID, role))
	if err != nil {
		return nil, fmt.Errorf("localca: open issuer %q's %s key: %w", issuerID, role, err)
	}
	defer clear(der)
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("localca: issuer %q's %s key: %w", issuerID, role, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("localca: issuer %q's %s key is a %T, not a signer", issuerID, role, key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("localca: issuer %q's %s key does not match its certificate", issuerID, role)
	}
	return signer, nil
}

// certificates parses and checks the material's certificates: two CA
// certificates, the intermediate signed by the root.
func (m *CAMaterial) certificates() (root, inter *x509.Certificate, err error) {
	if root, err = parseCertPEM(m.RootCertPEM); err != nil {
		return nil, nil, fmt.Errorf("localca: root certificate: %w", err)
	}
	if inter, err = parseCertPEM(m.IntermediateCertPEM); err != nil {
		return nil, nil, fmt.Errorf("localca: intermediate certificate: %w", err)
	}
	if !root.IsCA || !inter.IsCA || inter.KeyUsage&x509.KeyUsageCertSign == 0 || inter.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return nil, nil, errors.New("localca: CA material holds a certificate that is not a signing CA")
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		return nil, nil, fmt.Errorf("localca: intermediate is not signed by the root: %w", err)
	}
	return root, inter, nil
}

func parseCertPEM(text string) (*x509.Certificate, error) {
	block, rest := pem.Decode([]byte(text))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("data after the certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

func certPEM(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
