package issuer

import "github.com/certctl/certctl/connectors/internal/secretspec"

// Secrets declares which fields of an issuer's config hold secrets and
// which say where those secrets are sent (see secretspec.Spec). A
// connector declares them in its Connector; the API seals and redacts
// exactly those fields (Registry.SecretFields), and the issuance service
// opens them for the connector when it builds it.
type Secrets = secretspec.Spec

// Planned returns the Connectors of the issuer types whose connector this
// build does not have yet (Vault PKI, step-ca): a type name and the
// secrets of its config, no constructor. Their configs are stored now, so
// their secrets must be sealed now; each connector takes its declaration
// over when it arrives, and its entry leaves this list. The field names are
// the original product's (REFERENCE: eab_hmac, token) and those the issue
// and the CAs' own tools use (eab_hmac_key, AppRole secret_id, a step-ca
// provisioner's password).
func Planned() []Connector {
	return []Connector{
		{Type: "VaultPKI", Secrets: Secrets{
			Secret:      []string{"token", "secret_id", "password"},
			Destination: []string{"addr", "address", "ca_file", "insecure_skip_verify"},
		}},
		{Type: "StepCA", Secrets: Secrets{
			Secret:      []string{"password", "provisioner_password", "token"},
			Destination: []string{"ca_url", "root", "fingerprint", "ca_file", "insecure_skip_verify"},
		}},
	}
}
