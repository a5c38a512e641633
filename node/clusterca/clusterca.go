// Package clusterca is the cluster's own root of trust: the CA that signs the
// certificates nodes present to each other (raft and node-to-node HTTP) and to
// clients of the API, the node certificates themselves, and the checks a node
// makes of a peer's certificate. It never signs a certificate the site
// manages (that is what issuers do) and it keeps no state: the CA's key is
// sealed and replicated by its callers.
package clusterca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Lifetimes. A node renews its certificate once a third of it is left.
const (
	CALifetime   = 20 * 365 * 24 * time.Hour
	NodeLifetime = 90 * 24 * time.Hour
	// clockSkew back-dates NotBefore so a node whose clock is a little
	// behind the signer's accepts a fresh certificate.
	clockSkew = 5 * time.Minute
)

// ServerName is the TLS server name nodes ask for when they call each other
// (and a joining node when it calls the node it joins through): it selects
// the node certificate on a listener that may serve the operator's own
// certificate to everyone else.
const ServerName = "node.certctl.internal"

// nodeURIScheme and nodeURIHost make a node's identity a URI SAN,
// spiffe://certctl/node/<node id>: node ids are not always DNS names.
const (
	nodeURIScheme = "spiffe"
	nodeURIHost   = "certctl"
	nodeURIPrefix = "/node/"
)

// CA is the cluster CA: its certificate and, where it may sign, its key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer // nil on a CA parsed without its key
}

// New makes a cluster CA for clusterID, valid from now for CALifetime, with
// an ECDSA P-256 key returned in PKCS#8 PEM for the caller to seal. The CA
// may sign only end-entity certificates (MaxPathLen 0).
func New(clusterID string, now time.Time) (*CA, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("clusterca: key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	return selfSign(caTemplate(clusterID, serial, now.Add(-clockSkew), now.Add(CALifetime)), key)
}

// derivedEpoch is the NotBefore of every derived CA, so that all nodes make
// the same certificate.
var derivedEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Derive makes the cluster CA of clusterID from seed (secret, shared by
// every node: derived from the key-encryption key) deterministically: an
// Ed25519 key from HKDF(seed, clusterID) and a self-signed certificate whose
// every field follows from it, so that every node of a cluster upgraded from
// a certctl without TLS between nodes makes the same CA on its own, with no
// node to ask. The key is returned in PKCS#8 PEM for the caller to seal.
func Derive(clusterID string, seed []byte) (*CA, []byte, error) {
	if len(seed) < 32 || clusterID == "" {
		return nil, nil, errors.New("clusterca: a derived CA needs a 32-byte seed and a cluster id")
	}
	keySeed, err := hkdf.Key(sha256.New, seed, nil, "certctl cluster ca key\x00"+clusterID, ed25519.SeedSize)
	if err != nil {
		return nil, nil, err
	}
	defer clear(keySeed)
	key := ed25519.NewKeyFromSeed(keySeed)
	sum := sha256.Sum256(key.Public().(ed25519.PublicKey))
	tmpl := caTemplate(clusterID, new(big.Int).SetBytes(sum[:16]), derivedEpoch, derivedEpoch.Add(CALifetime))
	tmpl.SubjectKeyId = sum[:20]
	// Ed25519 signatures are deterministic: no randomness reaches the DER.
	return selfSign(tmpl, key)
}

// selfSign makes the CA of tmpl with key, and the key in PKCS#8 PEM.
func selfSign(tmpl *x509.Certificate, key crypto.Signer) (*CA, []byte, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("clusterca: self-sign: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := MarshalKey(key)
	if err != nil {
		return nil, nil, err
	}
	return &CA{Cert: cert, Key: key}, keyPEM, nil
}

// caTemplate is the certificate of a cluster CA: it signs end-entity
// certificates only (MaxPathLen 0).
func caTemplate(clusterID string, serial *big.Int, notBefore, notAfter time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "certctl cluster CA " + clusterID, Organization: []string{"certctl"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
}

// Parse reads a CA certificate and, when keyPEM is not empty, its key, which
// must match.
func Parse(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, errors.New("clusterca: the certificate is not a CA")
	}
	ca := &CA{Cert: cert}
	if len(keyPEM) == 0 {
		return ca, nil
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, errors.New("clusterca: the key does not match the CA certificate")
	}
	ca.Key = key
	return ca, nil
}

// CertPEM returns the CA certificate in PEM.
func (ca *CA) CertPEM() []byte { return EncodeCert(ca.Cert) }

// Fingerprint returns the SHA-256 of the CA certificate's DER, hex.
func (ca *CA) Fingerprint() string { return Fingerprint(ca.Cert) }

// Pool returns a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// SignNode signs a node certificate for nodeID from csrDER. The certificate
// names the node (URI SAN) and hosts (DNS names or IP addresses, the node's
// addresses and the operator's tls_sans), serves and authenticates TLS
// (server and client auth), and is valid for NodeLifetime from now.
func (ca *CA) SignNode(csrDER []byte, nodeID string, hosts []string, now time.Time) (*x509.Certificate, error) {
	if ca.Key == nil {
		return nil, errors.New("clusterca: this CA was loaded without its key and cannot sign")
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("clusterca: certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("clusterca: certificate request signature: %w", err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, errors.New("clusterca: a node key must be ECDSA P-256 or P-384")
		}
	default:
		return nil, fmt.Errorf("clusterca: a node key must be ECDSA, not %T", csr.PublicKey)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: nodeID, Organization: []string{"certctl node"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     minTime(now.Add(NodeLifetime), ca.Cert.NotAfter),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{NodeURI(nodeID)},
		DNSNames:     []string{ServerName},
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("clusterca: sign node certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// NewNodeKey makes a node's key: ECDSA P-256, made where it is used.
func NewNodeKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// NodeCSR returns a DER certificate request of key for nodeID.
func NodeCSR(key crypto.Signer, nodeID string) ([]byte, error) {
	return x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: nodeID},
		URIs:    []*url.URL{NodeURI(nodeID)},
	}, key)
}

// NodeURI is the URI SAN that names nodeID.
func NodeURI(nodeID string) *url.URL {
	return &url.URL{Scheme: nodeURIScheme, Host: nodeURIHost, Path: nodeURIPrefix + nodeID}
}

// NodeID returns the node a certificate names, from its URI SAN.
func NodeID(cert *x509.Certificate) (string, bool) {
	for _, u := range cert.URIs {
		if u.Scheme == nodeURIScheme && u.Host == nodeURIHost && strings.HasPrefix(u.Path, nodeURIPrefix) {
			id := strings.TrimPrefix(u.Path, nodeURIPrefix)
			if id != "" && !strings.Contains(id, "/") {
				return id, true
			}
		}
	}
	return "", false
}

// Serial returns a certificate's serial number as lower-case hex, as the
// state machine records it.
func Serial(cert *x509.Certificate) string { return hex.EncodeToString(cert.SerialNumber.Bytes()) }

// PeerError says why a peer's certificate was refused.
type PeerError struct {
	Reason string
	// ForeignCA is set when the certificate is not from this CA at all: the
	// peer belongs to another cluster (or to no cluster).
	ForeignCA bool
}

func (e *PeerError) Error() string { return "clusterca: peer refused: " + e.Reason }

// VerifyNode checks that chain (leaf first, as presented in a TLS handshake)
// is a node certificate of this CA valid at now, and returns the node it
// names. It does not decide whether that node may speak: the caller checks
// membership and revocation.
func (ca *CA) VerifyNode(chain []*x509.Certificate, now time.Time) (string, error) {
	if len(chain) == 0 {
		return "", &PeerError{Reason: "no certificate presented (a node certificate of the cluster CA is required)"}
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         ca.Pool(),
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return "", &PeerError{Reason: "certificate not signed by this cluster's CA: " + err.Error(), ForeignCA: true}
	}
	id, ok := NodeID(leaf)
	if !ok {
		return "", &PeerError{Reason: "certificate names no node"}
	}
	return id, nil
}

// Fingerprint returns the SHA-256 of cert's DER, hex.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// ParseCert reads the first certificate of a PEM block list.
func ParseCert(certPEM []byte) (*x509.Certificate, error) {
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("clusterca: no PEM certificate")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

// EncodeCert returns cert in PEM.
func EncodeCert(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// MarshalKey returns key as PKCS#8 PEM.
func MarshalKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("clusterca: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKey reads a PKCS#8 PEM key.
func ParseKey(keyPEM []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return nil, errors.New("clusterca: no PEM key")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("clusterca: key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("clusterca: key of type %T cannot sign", k)
	}
	return s, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("clusterca: serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
