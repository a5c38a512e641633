package f5

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/certctl/certctl/connectors/target"
)

// material is what a deployment sends, in PEM: the leaf, the chain (nil
// without intermediates) and the key.
type material struct {
	certPEM, chainPEM, keyPEM []byte
}

// loadMaterial checks the request's certificates and reads the key at
// keyPath, refusing one that is not the certificate's (target.ErrKeyMismatch)
// before anything is sent. The PEM is re-encoded so that the device gets
// certificates only.
func loadMaterial(certPEM, chainPEM, keyPath string) (*material, *x509.Certificate, error) {
	leaf, chain, err := target.ParseCertificates(certPEM, chainPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("f5: %w", err)
	}
	key, err := target.ReadKeyFor(leaf, keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("f5: %w", err)
	}
	m := &material{certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), keyPEM: key}
	for _, c := range chain {
		m.chainPEM = append(m.chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return m, leaf, nil
}
