package fsm

import (
	"bytes"
	"encoding/json"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// SetIssuerMaterial stores the CA material of an issuer that makes its own
// CA (the Local CA): certificates in PEM and private keys sealed under the
// nodes' key-encryption key, never a key in the clear. It is written once:
// a second command with the same material is a no-op returning it, one with
// other material is a conflict, so two leaders racing to make a CA never
// replace one another's (the loser reads back what won).
type SetIssuerMaterial struct {
	IssuerID string          `json:"issuer_id"`
	Material json.RawMessage `json:"material"`
}

func (SetIssuerMaterial) CommandType() CommandType { return CommandSetIssuerMaterial }
func (p *SetIssuerMaterial) Validate() error {
	if err := ValidID("issuer_id", p.IssuerID); err != nil {
		return err
	}
	if len(p.Material) == 0 {
		return invalidf("material", "material is required")
	}
	if len(p.Material) > MaxTextLength {
		return invalidf("material", "material is larger than %d bytes", MaxTextLength)
	}
	if err := validObject("material", p.Material); err != nil {
		return err
	}
	if strings.Contains(string(p.Material), "PRIVATE KEY") {
		return invalidf("material", "issuer material must not contain a private key in the clear")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, p.Material); err != nil {
		return invalidf("material", "material is not valid JSON: %v", err)
	}
	p.Material = buf.Bytes()
	return nil
}
func (p *SetIssuerMaterial) apply(t *txn) (any, error) {
	if err := t.requireExists(bucketIssuers, "issuer", "issuer_id", p.IssuerID); err != nil {
		return nil, err
	}
	b := t.bucket(bucketIssuerMaterial)
	if stored := b.Get([]byte(p.IssuerID)); stored != nil {
		if bytes.Equal(stored, p.Material) {
			return json.RawMessage(bytes.Clone(stored)), nil
		}
		return nil, conflictf("issuer", p.IssuerID, "issuer %q already has its CA material", p.IssuerID)
	}
	must(b.Put([]byte(p.IssuerID), p.Material))
	// Only what names the material goes into the audit trail, never the
	// sealed keys.
	var about struct {
		KeyType string `json:"key_type"`
		KEKID   string `json:"kek_id"`
	}
	_ = json.Unmarshal(p.Material, &about)
	t.audit("issuer_material_created", "issuer", p.IssuerID, map[string]string{"key_type": about.KeyType, "kek_id": about.KEKID})
	return json.RawMessage(bytes.Clone(p.Material)), nil
}

// IssuerMaterial returns the stored CA material of an issuer; ErrNotFound
// when none has been stored yet.
func (f *FSM) IssuerMaterial(issuerID string) (json.RawMessage, error) {
	var out json.RawMessage
	err := f.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketIssuerMaterial).Get([]byte(issuerID))
		if v == nil {
			return notFound("issuer material", issuerID)
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}
