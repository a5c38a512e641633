package issuer

import "github.com/certctl/certctl/connectors/internal/secretspec"

// Secrets declares which fields of an issuer's config hold secrets and
// which say where those secrets are sent (see secretspec.Spec). A
// connector package whose config holds a secret exports
// `func Secrets() issuer.Secrets` beside its Config; the API seals and
// redacts exactly those fields, and the issuance service opens them for the
// connector when it builds it.
type Secrets = secretspec.Spec

// SecretTable holds the Secrets of each issuer type, by type name compared
// without regard to case; cmd fills one. A nil table declares none.
type SecretTable = secretspec.Table

// NewSecretTable returns the table of the declarations given by type.
func NewSecretTable(byType map[string]Secrets) *SecretTable { return secretspec.NewTable(byType) }

// PlannedSecrets returns the declarations of the issuer types whose
// connector this build does not have yet (ACME, Vault PKI, step-ca), by
// type. Their configs are stored now, so their secrets must be sealed now;
// each connector takes its declaration over (its own Secrets, from its
// Config) when it arrives, and its entry leaves this table. The field names
// are the original product's (REFERENCE: eab_hmac, token) and those the
// issue and the CAs' own tools use (eab_hmac_key, AppRole secret_id, a
// step-ca provisioner's password).
func PlannedSecrets() map[string]Secrets {
	return map[string]Secrets{
		"ACME": {
			Secret:      []string{"eab_hmac", "eab_hmac_key"},
			Destination: []string{"directory_url", "ca_file", "insecure_skip_verify"},
		},
		"VaultPKI": {
			Secret:      []string{"token", "secret_id", "password"},
			Destination: []string{"addr", "address", "ca_file", "insecure_skip_verify"},
		},
		"StepCA": {
			Secret:      []string{"password", "provisioner_password", "token"},
			Destination: []string{"ca_url", "root", "fingerprint", "ca_file", "insecure_skip_verify"},
		},
	}
}
