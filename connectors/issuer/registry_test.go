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
	stored Stored
}

func stubConstructor(_ context.Context, s Stored) (Issuer, error) {
	return &stubIssuer{stored: s}, nil
}

func stub(typ string) Connector { return Connector{Type: typ, New: stubConstructor} }

func newRegistry(t *testing.T, connectors ...Connector) *Registry {
	t.Helper()
	reg, err := NewRegistry(connectors...)
	require.NoError(t, err)
	return reg
}

func TestRegistry_Build(t *testing.T) {
	reg := newRegistry(t, stub("ACME"))

	for _, typ := range []string{"ACME", "acme", "Acme"} {
		built, err := reg.Build(t.Context(), typ, Stored{ID: "iss-acme", Config: json.RawMessage(`{"email":"pki@example.com"}`), CRLURL: "http://x/crl"})
		require.NoError(t, err, typ)
		s := built.(*stubIssuer).stored
		assert.Equal(t, "iss-acme", s.ID)
		assert.JSONEq(t, `{"email":"pki@example.com"}`, string(s.Config))
		assert.Equal(t, "http://x/crl", s.CRLURL)
	}
}

func TestRegistry_UnknownType(t *testing.T) {
	reg := newRegistry(t)
	_, err := reg.Build(t.Context(), "GenericCA", Stored{ID: "iss-1"})
	require.ErrorIs(t, err, ErrUnknownType)
	assert.Equal(t, `issuer: unknown issuer type "GenericCA" for issuer "iss-1" (this node knows: none)`, err.Error())

	require.NoError(t, reg.Register(stub("VaultPKI")))
	require.NoError(t, reg.Register(stub("ACME")))
	_, err = reg.Build(t.Context(), "stepca", Stored{ID: "iss-1"})
	require.ErrorIs(t, err, ErrUnknownType)
	assert.Contains(t, err.Error(), "this node knows: ACME, VaultPKI")

	assert.ErrorIs(t, reg.ValidateConfig(t.Context(), "nope", nil), ErrUnknownType)
}

// TestRegistry_PlannedTypes: a type declared without a constructor has its
// secrets declared and any config accepted, and builds nothing.
func TestRegistry_PlannedTypes(t *testing.T) {
	reg := newRegistry(t, append([]Connector{stub("GenericCA")}, Planned()...)...)
	assert.Equal(t, []string{"GenericCA"}, reg.Types(), "only what builds")
	_, err := reg.Build(t.Context(), "vaultpki", Stored{ID: "iss-a"})
	require.ErrorIs(t, err, ErrUnknownType)
	assert.Equal(t, `issuer: unknown issuer type "vaultpki" for issuer "iss-a" (this node knows: GenericCA)`, err.Error())
	assert.NoError(t, reg.ValidateConfig(t.Context(), "VaultPKI", json.RawMessage(`{"anything":1}`)))

	secret, dest := reg.SecretFields("VAULTPKI")
	assert.Contains(t, secret, "token")
	assert.Contains(t, dest, "addr")
	secret, dest = reg.SecretFields("GenericCA")
	assert.Empty(t, secret)
	assert.Empty(t, dest)
	secret, _ = reg.SecretFields("Bogus")
	assert.Empty(t, secret)
	_, ok := reg.MaterialMaker("acme")
	assert.False(t, ok)
}

func TestRegistry_Register(t *testing.T) {
	reg := newRegistry(t, stub("GenericCA"))
	assert.ErrorContains(t, reg.Register(stub("genericca")), `already registered as "GenericCA"`)
	assert.Error(t, reg.Register(stub("")))
	assert.Error(t, reg.Register(stub("  ")))
	assert.Equal(t, []string{"GenericCA"}, reg.Types())
	_, err := NewRegistry(stub("ACME"), stub("acme"))
	assert.Error(t, err, "NewRegistry registers each once too")
}

func TestRegistry_BuildErrors(t *testing.T) {
	boom := &ConfigError{Field: "url", Reason: "required"}
	reg := newRegistry(t, Connector{Type: "Broken", New: func(context.Context, Stored) (Issuer, error) { return nil, boom }})

	_, err := reg.Build(t.Context(), "broken", Stored{ID: "iss-b"})
	require.ErrorIs(t, err, ErrInvalidConfig)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "url", ce.Field)
	assert.Equal(t, `issuer: build Broken issuer "iss-b": issuer: invalid config: url: required`, err.Error())

	_, err = reg.Build(t.Context(), "broken", Stored{})
	assert.ErrorIs(t, err, ErrInvalidRequest)
}

func TestRegistry_ValidateConfig(t *testing.T) {
	errBad := errors.New("bad config")
	reg := newRegistry(t, Connector{Type: "Strict", New: stubConstructor, ValidateConfig: func(_ context.Context, c json.RawMessage) error {
		if string(c) != "{}" {
			return errBad
		}
		return nil
	}}, stub("Lenient"))

	assert.NoError(t, reg.ValidateConfig(t.Context(), "strict", json.RawMessage(`{}`)))
	assert.ErrorIs(t, reg.ValidateConfig(t.Context(), "STRICT", json.RawMessage(`[]`)), errBad)
	assert.NoError(t, reg.ValidateConfig(t.Context(), "lenient", json.RawMessage(`anything`)))
}

func TestRegistry_Concurrent(t *testing.T) {
	reg := newRegistry(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			_, _ = reg.Build(t.Context(), "acme", Stored{ID: "iss"})
			_ = reg.Types()
			_, _ = reg.SecretFields("acme")
		}
	}()
	require.NoError(t, reg.Register(stub("ACME")))
	<-done
}
