package issuer

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// MinRSABits is the smallest RSA modulus accepted in a CSR.
const MinRSABits = 2048

// maxRSABits bounds the work a hostile CSR can cause.
const maxRSABits = 8192

// ParseCSR decodes one PEM certificate request ("CERTIFICATE REQUEST" or
// "NEW CERTIFICATE REQUEST", nothing but white space around it), parses it
// and checks its self-signature. Failures are a *CSRError.
func ParseCSR(csrPEM string) (*x509.CertificateRequest, error) {
	block, rest := pem.Decode([]byte(csrPEM))
	if block == nil {
		return nil, &CSRError{Reason: "no PEM block found"}
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, &CSRError{Reason: fmt.Sprintf("PEM block is %q, want \"CERTIFICATE REQUEST\"", block.Type)}
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, &CSRError{Reason: "data after the certificate request"}
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, &CSRError{Reason: "malformed certificate request", Err: err}
	}
	// Check the key before the signature: checking a signature under an
	// outsized RSA key is the expensive part.
	if err := CheckPublicKey(csr.PublicKey); err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, &CSRError{Reason: "signature does not verify", Err: err}
	}
	return csr, nil
}

// CheckPublicKey reports whether pub may be certified: ECDSA on P-256 or
// P-384, RSA of MinRSABits to 8192 bits, or Ed25519. Anything else is a
// *CSRError matching ErrKeyNotAllowed.
func CheckPublicKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return &CSRError{Reason: fmt.Sprintf("ECDSA curve %s is not allowed (P-256 or P-384)", k.Curve.Params().Name), Err: ErrKeyNotAllowed}
		}
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < MinRSABits || bits > maxRSABits {
			return &CSRError{Reason: fmt.Sprintf("RSA key of %d bits is not allowed (%d to %d)", bits, MinRSABits, maxRSABits), Err: ErrKeyNotAllowed}
		}
	case ed25519.PublicKey:
	default:
		return &CSRError{Reason: fmt.Sprintf("public key type %T is not allowed (ECDSA P-256/P-384, RSA, Ed25519)", pub), Err: ErrKeyNotAllowed}
	}
	return nil
}

// CheckCSRNames reports whether every name in csr is among allowed (built
// by ParseNames from the request) or is the request's commonName: the CSR
// may name fewer names than the request, never others. The certificate's
// names come from the request, so the check only refuses a CSR that asks for
// something else. A refusal is a *CSRError matching ErrNameNotAllowed.
func CheckCSRNames(csr *x509.CertificateRequest, commonName string, allowed Names) error {
	refuse := func(kind, name string) error {
		return &CSRError{Reason: fmt.Sprintf("CSR names %s %q, which the request does not", kind, name), Err: ErrNameNotAllowed}
	}
	if cn := csr.Subject.CommonName; cn != "" && cn != commonName && !allowed.HasDNS(cn) && !allowed.HasIP(parseIP(cn)) {
		return refuse("common name", cn)
	}
	for _, d := range csr.DNSNames {
		if !allowed.HasDNS(d) {
			return refuse("DNS name", d)
		}
	}
	for _, ip := range csr.IPAddresses {
		if !allowed.HasIP(ip) {
			return refuse("IP address", ip.String())
		}
	}
	for _, e := range csr.EmailAddresses {
		if !allowed.HasEmail(e) {
			return refuse("e-mail address", e)
		}
	}
	for _, u := range csr.URIs {
		if !allowed.HasURI(u) {
			return refuse("URI", u.String())
		}
	}
	return nil
}

// VerifyCSR is ParseCSR then CheckCSRNames: what an issuer checks before
// signing a request's CSR.
func VerifyCSR(csrPEM, commonName string, allowed Names) (*x509.CertificateRequest, error) {
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	if err := CheckCSRNames(csr, commonName, allowed); err != nil {
		return nil, err
	}
	return csr, nil
}
