package target

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ParseCertificates decodes the leaf (certPEM, one certificate) and the
// chain (chainPEM, zero or more) of a deployment. Anything in them that is
// not a certificate is an error: these bytes end up in files a server
// parses.
func ParseCertificates(certPEM, chainPEM string) (leaf *x509.Certificate, chain []*x509.Certificate, err error) {
	certs, err := parsePEMCertificates("certificate", certPEM)
	if err != nil {
		return nil, nil, err
	}
	if len(certs) != 1 {
		return nil, nil, fmt.Errorf("target: the certificate PEM holds %d certificates, want the leaf alone", len(certs))
	}
	chain, err = parsePEMCertificates("chain", chainPEM)
	return certs[0], chain, err
}

func parsePEMCertificates(what, s string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("target: the %s PEM holds a %q block, want certificates only", what, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("target: the %s PEM: %w", what, err)
		}
		certs = append(certs, c)
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("target: the %s PEM has trailing data that is not PEM", what)
	}
	return certs, nil
}

// Fingerprint returns the lower-case hex SHA-256 of c's DER, the form of
// DeploymentRequest.FingerprintSHA256.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// NormalFingerprint returns fp, a hex SHA-256 fingerprint, in Fingerprint's
// form: lower case, without colons. Compare fingerprints in this form.
func NormalFingerprint(fp string) string {
	return strings.ToLower(strings.ReplaceAll(fp, ":", ""))
}

// ReadKeyFor reads the PEM private key at keyPath (PKCS #8, SEC 1 or
// PKCS #1) and returns it after checking that it is the key of cert; a
// different key is an error matching ErrKeyMismatch. Errors never hold key
// bytes. The caller owns the returned bytes and should not keep them.
func ReadKeyFor(cert *x509.Certificate, keyPath string) ([]byte, error) {
	if keyPath == "" {
		return nil, errors.New("target: the deployment names no local private key")
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("target: read the local private key: %w", err)
	}
	key, err := parsePrivateKey(data)
	if err != nil {
		clear(data)
		return nil, fmt.Errorf("target: the local private key at %s: %w", keyPath, err)
	}
	if k, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(key.Public()) {
		clear(data)
		return nil, fmt.Errorf("%w: certificate %s (serial %x, %q) does not match the local key at %s; nothing was deployed: issue the certificate again from this agent's CSR",
			ErrKeyMismatch, Fingerprint(cert), cert.SerialNumber, cert.Subject.CommonName, keyPath)
	}
	return data, nil
}

// ParsePrivateKey decodes a PEM private key as ReadKeyFor reads it (PKCS #8,
// SEC 1 or PKCS #1, unencrypted), for a connector that must hand the key
// itself to an encoder (a PKCS #12 for a Windows host). Errors never hold key
// bytes.
func ParsePrivateKey(keyPEM []byte) (crypto.Signer, error) {
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("target: the private key: %w", err)
	}
	return key, nil
}

func parsePrivateKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("not PEM")
	}
	var (
		key any
		err error
	)
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("a %q block is not a private key this agent reads (PKCS #8, EC or RSA, unencrypted)", b.Type)
	}
	if err != nil {
		return nil, errors.New("the key does not parse") // the parser's message is not needed, and must not echo the key
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
	return s, nil
}
