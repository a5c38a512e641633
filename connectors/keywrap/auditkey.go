package keywrap

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// auditKeyInfo binds the derived key to its one use: the HMAC links of the
// audit chain. A new scheme of links gets a new info string, never this one.
const auditKeyInfo = "certctl audit chain v1"

// AuditKeySize is the length of the audit chain's key in bytes.
const AuditKeySize = 32

// AuditKey derives the key of the audit chain's HMAC-SHA256 links from kek
// with HKDF-SHA256 (RFC 5869, no salt, info "certctl audit chain v1"). Every
// node of a cluster holds the same KEK and so derives the same key, which
// keeps the nodes' chains identical. The key never leaves the process: the
// caller owns the returned slice, clears it when done and never logs it.
func AuditKey(kek []byte) ([]byte, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKEK, len(kek), KEKSize)
	}
	return hkdf.Key(sha256.New, kek, nil, auditKeyInfo, AuditKeySize)
}

// clusterCASeedInfo binds the derived seed to its one use: the cluster CA
// of a cluster upgraded from a certctl without TLS between nodes.
const clusterCASeedInfo = "certctl cluster ca seed v1"

// ClusterCASeed derives, like AuditKey, the seed from which every node of a
// cluster that has no cluster CA yet derives the same one (see
// clusterca.Derive). The caller owns and clears the slice.
func ClusterCASeed(kek []byte) ([]byte, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKEK, len(kek), KEKSize)
	}
	return hkdf.Key(sha256.New, kek, nil, clusterCASeedInfo, 32)
}
