package target

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
)

// DecodeConfig decodes raw, a target's JSON config, into v (a pointer to
// the connector's Config) strictly: an unknown field, a value of the wrong
// JSON type, anything that is not one JSON object and data after it are
// *ConfigError naming the field. fields are the names v takes, listed in
// the unknown-field error so that the operator can check the spelling. v
// may be partly filled when it returns an error.
func DecodeConfig(raw json.RawMessage, v any, fields []string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Configf(te.Field, "must be a JSON %s, not %s", te.Type, te.Value)
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return Configf(strings.Trim(field, `"`), "unknown field: check its spelling (%s)", strings.Join(fields, ", "))
		}
		return Configf("config", "not a JSON object: %v", err)
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		return Configf("config", "trailing data after the JSON object")
	}
	return nil
}

// LoadRoots reads the PEM bundle at path, the value of config field field,
// as the roots that verify a device's or host's management certificate.
// Errors are *ConfigError on field.
func LoadRoots(field, path string) (*x509.CertPool, error) {
	pemData, err := os.ReadFile(path)
	if err != nil {
		return nil, Configf(field, "%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, Configf(field, "%s holds no PEM certificate", path)
	}
	return pool, nil
}
