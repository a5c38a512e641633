package f5

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// material is what a deployment sends: the leaf, the chain and the key, in
// PEM. Its String never shows the key.
type material struct {
	leaf     *x509.Certificate
	certPEM  []byte
	chainPEM []byte // nil when there are no intermediates
	keyPEM   []byte
}

func (m *material) String() string { return "f5 material for serial " + m.leaf.SerialNumber.Text(16) }

// loadMaterial parses the request's PEM and reads the key at keyPath,
// refusing a key that is not the certificate's before anything is sent.
func loadMaterial(certPEM, chainPEM, keyPath string) (*material, error) {
	leaf, err := firstCert([]byte(certPEM))
	if err != nil {
		return nil, fmt.Errorf("f5: the certificate to deploy: %w", err)
	}
	m := &material{leaf: leaf, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})}
	for rest := []byte(chainPEM); ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return nil, fmt.Errorf("f5: the chain: %w", err)
		}
		m.chainPEM = append(m.chainPEM, pem.EncodeToMemory(b)...)
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("f5: read the private key: %w", err)
	}
	key, block, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("f5: the private key at %s: %w", keyPath, err)
	}
	pub, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("f5: the private key at %s is of an unsupported type", keyPath)
	}
	if eq, ok := pub.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("f5: the private key at %s does not match the public key of certificate serial %s: nothing was sent", keyPath, leaf.SerialNumber.Text(16))
	}
	m.keyPEM = pem.EncodeToMemory(block)
	return m, nil
}

func firstCert(data []byte) (*x509.Certificate, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

// parseKey returns the first private key of data and its PEM block.
// Errors never quote the data.
func parseKey(data []byte) (any, *pem.Block, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, nil, errors.New("no PEM private key (PKCS#8, PKCS#1 or SEC 1) found")
		}
		var key any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, nil, errors.New("the " + b.Type + " block does not parse (encrypted keys are not supported)")
		}
		return key, b, nil
	}
}
