package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stubIssuer records how it was built.
type stubIssuer struct {
	Issuer
	id     string
	config json.RawMessage
}

func stubConstructor(ctx context.Context, id string, config json.RawMessage) (Issuer, error) {
	return &stubIssuer{id: id, config: config}, nil
}

func TestRegistry_Build(t *testing.T) {
	reg := NewRegistry()
	require.NoError(t, reg.Register("ACME", stubConstructor, nil))

	for _, typ := range []string{"ACME", "acme", "Acme"} {
		built, err := reg.Build(t.Context(), "iss-acme", typ, json.RawMessage(`{"email":"pki@example.com"}`))
		require.NoError(t, err, typ)
		stub := built.(*stubIssuer)
		assert.Equal(t, "iss-acme", stub.id)
		assert.JSONEq(t, `{"email":"pki@example.com"}`, string(stub.config))
	}
}

func TestRegistry_UnknownType(t *testing.T) {
	reg := NewRegistry()
	_, err := reg.Build(t.Context(), "iss-1", "GenericCA", nil)
	require.ErrorIs(t, err, ErrUnknownType)
	assert.Equal(t, `issuer: unknown issuer type "GenericCA" for issuer "iss-1" (this node knows: none)`, err.Error())

	require.NoError(t, reg.Register("VaultPKI", stubConstructor, nil))
	require.NoError(t, reg.Register("ACME", stubConstructor, nil))
	_, err = reg.Build(t.Context(), "iss-1", "stepca", nil)
	require.ErrorIs(t, err, ErrUnknownType)
	assert.Contains(t, err.Error(), "this node knows: ACME, VaultPKI")

	assert.ErrorIs(t, reg.ValidateConfig(t.Context(), "nope", nil), ErrUnknownType)
}

func TestRegistry_Register(t *testing.T) {
	reg := NewRegistry()
	require.NoError(t, reg.Register("GenericCA", stubConstructor, nil))
	assert.ErrorContains(t, reg.Register("genericca", stubConstructor, nil), `already registered as "GenericCA"`)
	assert.Error(t, reg.Register("", stubConstructor, nil))
	assert.Error(t, reg.Register("  ", stubConstructor, nil))
	assert.Error(t, reg.Register("X", nil, nil))
	assert.Equal(t, []string{"GenericCA"}, reg.Types())
}

func TestRegistry_BuildErrors(t *testing.T) {
	reg := NewRegistry()
	boom := &ConfigError{Field: "url", Reason: "required"}
	require.NoError(t, reg.Register("Broken", func(context.Context, string, json.RawMessage) (Issuer, error) { return nil, boom }, nil))

	_, err := reg.Build(t.Context(), "iss-b", "broken", nil)
	require.ErrorIs(t, err, ErrInvalidConfig)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "url", ce.Field)
	assert.Equal(t, `issuer: build Broken issuer "iss-b": issuer: invalid config: url: required`, err.Error())

	_, err = reg.Build(t.Context(), "", "broken", nil)
	assert.ErrorIs(t, err, ErrInvalidRequest)
}

func TestRegistry_ValidateConfig(t *testing.T) {
	reg := NewRegistry()
	errBad := errors.New("bad config")
	require.NoError(t, reg.Register("Strict", stubConstructor, func(_ context.Context, c json.RawMessage) error {
		if string(c) != "{}" {
			return errBad
		}
		return nil
	}))
	require.NoError(t, reg.Register("Lenient", stubConstructor, nil))

	assert.NoError(t, reg.ValidateConfig(t.Context(), "strict", json.RawMessage(`{}`)))
	assert.ErrorIs(t, reg.ValidateConfig(t.Context(), "STRICT", json.RawMessage(`[]`)), errBad)
	assert.NoError(t, reg.ValidateConfig(t.Context(), "lenient", json.RawMessage(`anything`)))
}

func TestRegistry_Concurrent(t *testing.T) {
	reg := NewRegistry()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			_, _ = reg.Build(t.Context(), "iss", "acme", nil)
			_ = reg.Types()
		}
	}()
	require.NoError(t, reg.Register("ACME", stubConstructor, nil))
	<-done
}
