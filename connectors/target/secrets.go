package target

import "github.com/certctl/certctl/connectors/internal/secretspec"

// Secrets declares which fields of a connector's config hold secrets and
// which say where those secrets are sent (see secretspec.Spec). A
// connector package whose config holds a secret exports
// `func Secrets() target.Secrets` beside its Config: the server, which
// stores target configs but builds no target connector, seals and redacts
// exactly those fields, and clears them when the target's agent or a
// destination field changes without them being given again.
type Secrets = secretspec.Spec

// SecretTable holds the Secrets of each target type, by type name compared
// without regard to case; cmd fills one from the connector packages. Its
// SecretFields method is what the API asks. A nil table declares none.
type SecretTable = secretspec.Table

// NewSecretTable returns the table of the declarations given by type.
func NewSecretTable(byType map[string]Secrets) *SecretTable { return secretspec.NewTable(byType) }
