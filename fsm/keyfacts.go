package fsm

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strconv"
)

// DescribeKey fills v's KeyAlgorithm, SignatureAlgorithm and WeakKey from the
// first certificate of its PEMChain (the leaf); an unreadable chain leaves
// them empty. A key is weak when it is RSA under 2048 bits or ECDSA on a
// curve under 256 bits, or its certificate is signed with SHA-1 (or MD5).
// Proposers call it before RecordVersion, so that the fact is decided once,
// when the version is written, and read from the record ever after.
func (v *CertificateVersion) DescribeKey() {
	v.KeyAlgorithm, v.SignatureAlgorithm, v.WeakKey = "", "", false
	block, _ := pem.Decode([]byte(v.PEMChain))
	if block == nil || block.Type != "CERTIFICATE" {
		return
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return
	}
	v.SignatureAlgorithm = cert.SignatureAlgorithm.String()
	switch cert.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
		v.WeakKey = true
	}
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		v.KeyAlgorithm = "RSA-" + strconv.Itoa(bits)
		v.WeakKey = v.WeakKey || bits < 2048
	case *ecdsa.PublicKey:
		bits := k.Curve.Params().BitSize
		v.KeyAlgorithm = "ECDSA-P" + strconv.Itoa(bits)
		v.WeakKey = v.WeakKey || bits < 256
	case ed25519.PublicKey:
		v.KeyAlgorithm = "Ed25519"
	default:
		v.KeyAlgorithm = cert.PublicKeyAlgorithm.String()
	}
}
