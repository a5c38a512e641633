package keywrap

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// FieldPrefix starts the stored form of a sealed config field (a target's
// password, an issuer's token): "sealed:v2:" and the standard base64 of a
// value sealed with FieldAAD. ("sealed:v1:" was a target's password bound
// to its target and field only.)
const FieldPrefix = "sealed:v2:"

// The kinds of record a sealed config field belongs to (FieldAAD).
const (
	FieldKindTarget = "target"
	FieldKindIssuer = "issuer"
)

// FieldAAD is the additional data a secret field of a connector's config is
// sealed with. It binds the value to the kind of record ("target",
// "issuer"), the record's id, the field's name and the agent the value is
// for ("" when the servers use it, as they do an issuer's): a value copied
// into another record or field, or opened for another agent, does not
// open. Each part is length-prefixed, so no two different tuples give the
// same bytes.
func FieldAAD(kind, ownerID, field, agentID string) []byte {
	var b strings.Builder
	b.WriteString("certctl/config-secret/v2")
	for _, part := range []string{kind, ownerID, field, agentID} {
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(len(part)))
		b.WriteByte(':')
		b.WriteString(part)
	}
	return []byte(b.String())
}

// FormatField returns the stored form of sealed: FieldPrefix and base64.
func FormatField(sealed []byte) string {
	return FieldPrefix + base64.StdEncoding.EncodeToString(sealed)
}

// ParseField returns the sealed bytes of value, the stored form of a
// sealed field. ok is false when value does not start with FieldPrefix;
// err reports one that does but is not base64.
func ParseField(value string) (sealed []byte, ok bool, err error) {
	rest, ok := strings.CutPrefix(value, FieldPrefix)
	if !ok {
		return nil, false, nil
	}
	sealed, err = base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, true, fmt.Errorf("%w: the sealed field is not base64: %v", ErrMalformed, err)
	}
	return sealed, true, nil
}
