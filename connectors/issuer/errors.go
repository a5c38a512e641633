package issuer

import (
	"errors"
	"fmt"
)

// Sentinels, matched with errors.Is. The typed errors below match them too.
var (
	// ErrInvalidConfig: an issuer's config is unusable (*ConfigError).
	ErrInvalidConfig = errors.New("issuer: invalid config")
	// ErrInvalidRequest: a request is malformed (*RequestError).
	ErrInvalidRequest = errors.New("issuer: invalid request")
	// ErrInvalidCSR: a certificate request is refused (*CSRError).
	ErrInvalidCSR = errors.New("issuer: invalid CSR")
	// ErrKeyNotAllowed: a public key's type or size is not allowed; a
	// *CSRError for such a key matches both it and ErrInvalidCSR.
	ErrKeyNotAllowed = errors.New("issuer: key type not allowed")
	// ErrNameNotAllowed: a CSR names something the request does not; a
	// *CSRError for it matches both it and ErrInvalidCSR.
	ErrNameNotAllowed = errors.New("issuer: name not requested")
	// ErrUnknownType: the registry has no constructor for an issuer type.
	ErrUnknownType = errors.New("issuer: unknown issuer type")
	// ErrNoMaterial: an issuer of a type with a MaterialMaker has none
	// yet; its caller makes it and builds again.
	ErrNoMaterial = errors.New("issuer: no material made yet")
)

// ConfigError is an invalid field of an issuer's config.
type ConfigError struct {
	// Field is the config's JSON field name, e.g. "validity_days".
	Field string
	// Reason says what is wrong, for a person.
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("issuer: invalid config: %s: %s", e.Field, e.Reason)
}

// Is makes a *ConfigError match ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// RequestError is an invalid field of a request.
type RequestError struct {
	// Field names the request's field in snake case, e.g. "serial".
	Field  string
	Reason string
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("issuer: invalid request: %s: %s", e.Field, e.Reason)
}

// Is makes a *RequestError match ErrInvalidRequest.
func (e *RequestError) Is(target error) bool { return target == ErrInvalidRequest }

// CSRError is a certificate request the issuer refuses.
type CSRError struct {
	// Reason says what is wrong, for a person.
	Reason string
	// Err is the cause, if any: ErrKeyNotAllowed, ErrNameNotAllowed, or an
	// error from crypto/x509.
	Err error
}

func (e *CSRError) Error() string {
	if e.Err != nil && e.Err != ErrKeyNotAllowed && e.Err != ErrNameNotAllowed {
		return fmt.Sprintf("issuer: invalid CSR: %s: %v", e.Reason, e.Err)
	}
	return "issuer: invalid CSR: " + e.Reason
}

// Is makes a *CSRError match ErrInvalidCSR.
func (e *CSRError) Is(target error) bool { return target == ErrInvalidCSR }

// Unwrap returns the cause.
func (e *CSRError) Unwrap() error { return e.Err }

func requestErrorf(field, format string, args ...any) error {
	return &RequestError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
