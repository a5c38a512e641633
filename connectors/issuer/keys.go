package issuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"strings"
)

// KeyType names a key algorithm and size, as configs and the API spell it.
type KeyType string

// The key types certctl makes.
const (
	KeyECDSAP256 KeyType = "ECDSA-P256"
	KeyECDSAP384 KeyType = "ECDSA-P384"
	KeyRSA2048   KeyType = "RSA-2048"
	KeyRSA3072   KeyType = "RSA-3072"
	KeyRSA4096   KeyType = "RSA-4096"
	KeyEd25519   KeyType = "Ed25519"
)

// DefaultKeyType is what GenerateKey makes when no type is given, as the
// agent does.
const DefaultKeyType = KeyECDSAP256

var keyTypes = []KeyType{KeyECDSAP256, KeyECDSAP384, KeyRSA2048, KeyRSA3072, KeyRSA4096, KeyEd25519}

// ParseKeyType reads a key type in any letter case, with or without the
// hyphen ("ecdsa-p256", "RSA2048"), and also accepts "P-256"/"P256" and
// "P-384"/"P384". Empty is an error: callers apply their own default.
func ParseKeyType(s string) (KeyType, error) {
	norm := strings.ToUpper(strings.NewReplacer("-", "", "_", "", " ", "").Replace(s))
	switch norm {
	case "P256", "ECP256":
		return KeyECDSAP256, nil
	case "P384", "ECP384":
		return KeyECDSAP384, nil
	}
	for _, kt := range keyTypes {
		if norm == strings.ToUpper(strings.ReplaceAll(string(kt), "-", "")) {
			return kt, nil
		}
	}
	names := make([]string, len(keyTypes))
	for i, kt := range keyTypes {
		names[i] = string(kt)
	}
	return "", requestErrorf("key_type", "%q is not a key type (one of %s)", s, strings.Join(names, ", "))
}

// GenerateKey makes a private key of keyType (ParseKeyType; empty means
// DefaultKeyType), for certificates whose key the server generates. The
// caller seals the key (keywrap) before it is stored anywhere. rand is
// passed to crypto/*.GenerateKey, which since Go 1.26 ignore it and always
// use a secure source.
func GenerateKey(keyType string, rand io.Reader) (crypto.Signer, error) {
	kt := DefaultKeyType
	if keyType != "" {
		var err error
		if kt, err = ParseKeyType(keyType); err != nil {
			return nil, err
		}
	}
	return kt.Generate(rand)
}

// Generate makes a private key of type kt from r (crypto/rand when nil);
// see GenerateKey about r.
func (kt KeyType) Generate(r io.Reader) (crypto.Signer, error) {
	if r == nil {
		r = rand.Reader
	}
	var (
		key crypto.Signer
		err error
	)
	switch kt {
	case KeyECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), r)
	case KeyECDSAP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), r)
	case KeyRSA2048:
		key, err = rsa.GenerateKey(r, 2048)
	case KeyRSA3072:
		key, err = rsa.GenerateKey(r, 3072)
	case KeyRSA4096:
		key, err = rsa.GenerateKey(r, 4096)
	case KeyEd25519:
		_, key, err = ed25519.GenerateKey(r)
	default:
		return nil, requestErrorf("key_type", "%q is not a key type", string(kt))
	}
	if err != nil {
		return nil, fmt.Errorf("issuer: generate %s key: %w", kt, err)
	}
	return key, nil
}

// CSRFor makes a PEM certificate request signed by signer for commonName
// and sans (sorted by kind as ParseNames does), the request a server-side
// issuance hands to IssueCertificate.
func CSRFor(signer crypto.Signer, commonName string, sans []string) (string, error) {
	names, err := ParseNames(commonName, sans)
	if err != nil {
		return "", err
	}
	tmpl := &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: commonName},
		DNSNames:       names.DNSNames,
		IPAddresses:    names.IPAddresses,
		EmailAddresses: names.EmailAddresses,
		URIs:           names.URIs,
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, signer)
	if err != nil {
		return "", fmt.Errorf("issuer: create CSR: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

// KeyTypeOf names the key type of a public key, for checking that a CSR or
// certificate carries the kind of key its certificate asks for. A key of a
// kind or size certctl does not make is an error.
func KeyTypeOf(pub any) (KeyType, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return KeyECDSAP256, nil
		case elliptic.P384():
			return KeyECDSAP384, nil
		}
		return "", fmt.Errorf("issuer: ECDSA key on curve %s is not a key type certctl makes", k.Curve.Params().Name)
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return KeyRSA2048, nil
		case 3072:
			return KeyRSA3072, nil
		case 4096:
			return KeyRSA4096, nil
		}
		return "", fmt.Errorf("issuer: RSA key of %d bits is not a key type certctl makes", k.N.BitLen())
	case ed25519.PublicKey:
		return KeyEd25519, nil
	}
	return "", fmt.Errorf("issuer: %T is not a key type certctl makes", pub)
}
