package fsm

import (
	"bytes"
	"encoding/hex"
	"strings"

	bolt "go.etcd.io/bbolt"
)

func (v *CertificateVersion) validate() error {
	if err := ValidID("id", v.ID); err != nil {
		return err
	}
	if err := ValidID("certificate_id", v.CertificateID); err != nil {
		return err
	}
	if err := ValidText("serial_number", v.SerialNumber, 128, true); err != nil {
		return err
	}
	if b, err := hex.DecodeString(v.FingerprintSHA256); err != nil || len(b) != 32 {
		return invalidf("fingerprint_sha256", "fingerprint_sha256 must be 64 hexadecimal characters")
	}
	v.FingerprintSHA256 = strings.ToLower(v.FingerprintSHA256)
	if err := ValidText("pem_chain", v.PEMChain, MaxTextLength, true); err != nil {
		return err
	}
	if err := ValidText("csr_pem", v.CSRPEM, MaxTextLength, false); err != nil {
		return err
	}
	// The original stored server-generated keys in csr_pem; a private key must
	// never enter the replicated state in plaintext.
	if strings.Contains(v.PEMChain, "PRIVATE KEY") || strings.Contains(v.CSRPEM, "PRIVATE KEY") {
		return invalidf("pem_chain", "a certificate version must not contain a private key")
	}
	if v.NotBefore.IsZero() || !v.NotAfter.After(v.NotBefore) {
		return invalidf("not_after", "not_after must be later than not_before")
	}
	return nil
}

// RecordVersion stores a newly issued certificate and makes it current: the
// certificate becomes Active with the version's expiry. SealedKey, for a
// certificate whose key the server made (key_generation "server"), is that
// key sealed under the nodes' key-encryption key: it lands in the same
// transaction as the version, in the server_keys bucket, never in the
// version. A version without one drops any key stored for an older version.
// KeyAgentIDs are the agents the key is for (those of the certificate's
// targets when it was made), recorded with it: the key is handed to no
// other agent, even one a target is later moved to (that agent needs a new
// key, i.e. a new version). The proposer binds the sealed key to them too.
type RecordVersion struct {
	Version     CertificateVersion `json:"version"`
	SealedKey   []byte             `json:"sealed_key,omitempty"`
	KeyAgentIDs []string           `json:"key_agent_ids,omitempty"`
}

// maxSealedKey bounds a sealed server key: an RSA-4096 key in PEM is
// about 3.3 KB.
const maxSealedKey = 16 << 10

// sealedMinLen is the smallest sealed value: a version byte, a 12-byte
// nonce and a 16-byte tag.
const sealedMinLen = 1 + 12 + 16

func (RecordVersion) CommandType() CommandType { return CommandRecordVersion }
func (p *RecordVersion) Validate() error {
	if err := p.Version.validate(); err != nil {
		return err
	}
	if p.SealedKey == nil {
		if len(p.KeyAgentIDs) > 0 {
			return invalidf("key_agent_ids", "key_agent_ids name the agents of a server key: give sealed_key with them")
		}
		return nil
	}
	for i, id := range p.KeyAgentIDs {
		if err := ValidID("key_agent_ids", id); err != nil {
			return err
		}
		if i > 0 && p.KeyAgentIDs[i-1] >= id {
			return invalidf("key_agent_ids", "key_agent_ids must be sorted and distinct")
		}
	}
	// A sealed value starts with its format version (1); a key in the
	// clear, PEM or DER (0x30), never passes for one.
	switch {
	case bytes.Contains(p.SealedKey, []byte("PRIVATE KEY")):
		return invalidf("sealed_key", "a server key must be sealed, never stored in the clear")
	case len(p.SealedKey) < sealedMinLen || p.SealedKey[0] != 0x01:
		return invalidf("sealed_key", "sealed_key is not a sealed value")
	case len(p.SealedKey) > maxSealedKey:
		return invalidf("sealed_key", "sealed_key is larger than %d bytes", maxSealedKey)
	}
	return nil
}
func (p *RecordVersion) apply(t *txn) (any, error) {
	v := p.Version
	s := certStore{t}
	old, err := s.get(v.CertificateID)
	if err != nil {
		return nil, err
	}
	if old.Status == CertArchived {
		return nil, statef("certificate", old.ID, "certificate %q is archived", old.ID)
	}
	if t.exists(bucketVersions, v.ID) {
		return nil, conflictf("certificate_version", v.ID, "certificate version %q already exists", v.ID)
	}
	if other := t.bucket(bucketVerByFP).Get([]byte(v.FingerprintSHA256)); other != nil {
		return nil, conflictf("certificate_version", v.ID, "a version with fingerprint %s already exists (%s)", v.FingerprintSHA256, other)
	}
	v.CreatedAt = t.now()
	c := *old
	notAfter, now := v.NotAfter, t.now()
	c.ExpiresAt, c.LastRenewalAt = &notAfter, &now
	c.Status, c.StatusReason, c.UpdatedAt = CertActive, "", now
	c.WeakKey = v.WeakKey
	violations, err := planPolicies(t, &c, &v)
	if err != nil {
		return nil, err
	}
	putJSON(t.bucket(bucketVersions), []byte(v.ID), &v)
	must(t.bucket(bucketVerByCert).Put(append(prefix(v.CertificateID), timeIDKey(v.CreatedAt, v.ID)...), nil))
	must(t.bucket(bucketVerByFP).Put([]byte(v.FingerprintSHA256), []byte(v.ID)))
	t.addCount(1, string(bucketVersions))

	keys := t.bucket(bucketServerKeys)
	if p.SealedKey != nil {
		putJSON(keys, []byte(c.ID), &ServerKey{VersionID: v.ID, SealedKey: p.SealedKey, AgentIDs: p.KeyAgentIDs})
	} else if keys.Get([]byte(c.ID)) != nil {
		must(keys.Delete([]byte(c.ID)))
	}

	s.put(old, &c)
	t.audit("certificate_issued", "certificate", c.ID, map[string]any{
		"version_id": v.ID, "serial_number": v.SerialNumber, "not_after": v.NotAfter, "fingerprint_sha256": v.FingerprintSHA256,
	})
	if p.SealedKey != nil {
		// What names the key, never the key.
		t.audit("server_key_recorded", "certificate", c.ID, map[string]any{"version_id": v.ID, "agent_ids": append([]string{}, p.KeyAgentIDs...)})
	}
	applyPolicies(t, &c, violations)
	return v, nil
}

// ServerKey is the sealed key of a certificate whose key the server made,
// for the version it belongs to and the agents it was made for (sorted;
// none when no target of the certificate had an agent, or for a key
// recorded before keys were bound to agents: no agent gets such a key).
type ServerKey struct {
	VersionID string   `json:"version_id"`
	SealedKey []byte   `json:"sealed_key"`
	AgentIDs  []string `json:"agent_ids,omitempty"`
}

// ServerKey returns the sealed key of certificate certID's current version;
// ErrNotFound when the certificate has none (its key is an agent's, or it
// has not been issued).
func (f *FSM) ServerKey(certID string) (*ServerKey, error) {
	var k ServerKey
	err := f.view(func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketServerKeys), []byte(certID), &k)
		if err == nil && !found {
			err = notFound("server key", certID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// CertificateVersion returns the version with id.
func (f *FSM) CertificateVersion(id string) (*CertificateVersion, error) {
	var out CertificateVersion
	err := f.view(func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketVersions), []byte(id), &out)
		if err == nil && !found {
			err = notFound("certificate version", id)
		}
		return err
	})
	return &out, err
}

// CertificateVersions lists a certificate's versions, oldest first.
func (f *FSM) CertificateVersions(certID string, p Page) (List[CertificateVersion], error) {
	var out List[CertificateVersion]
	err := f.view(func(tx *bolt.Tx) (err error) {
		if tx.Bucket(bucketCertificates).Get([]byte(certID)) == nil {
			return notFound("certificate", certID)
		}
		out, err = scanIndex[CertificateVersion](tx, bucketVerByCert, prefix(certID), 8, bucketVersions, p, nil)
		return err
	})
	return out, err
}
