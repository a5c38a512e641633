package main

import (
	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/issuer/acme"
	"github.com/certctl/certctl/connectors/issuer/localca"
	"github.com/certctl/certctl/connectors/target"
	"github.com/certctl/certctl/connectors/target/f5"
	"github.com/certctl/certctl/connectors/target/iis"
)

// targetSecrets is what the API seals and redacts in target configs: the
// secret fields each target connector declares beside its Config, under
// the type name it declares. The server stores target configs but runs no
// target connector; the agent (cmd/certctl-agent/targets.go) registers the
// same types under the same names.
func targetSecrets() *target.SecretTable {
	return target.NewSecretTable(map[string]target.Secrets{f5.Type: f5.Secrets(), iis.Type: iis.Secrets()})
}

// issuerRegistry is the node's one registry of issuer connectors, handed
// to the issuance service (which builds issuers through it) and the API
// (which checks configs with it, and seals and redacts the secret fields
// each connector declares). The Local CA's keys and ACME account keys are
// sealed under kek; ACME's HTTP-01 answers are published through
// challenges; a dns-01 config may run only the dnsHooks (acme_dns_hooks).
// The types whose connector this build lacks are declared
// (their secrets) by package issuer until it arrives.
func issuerRegistry(kek []byte, challenges acme.Challenges, dnsHooks ...string) (*issuer.Registry, error) {
	return issuer.NewRegistry(append([]issuer.Connector{localca.Connector(kek), acme.Connector(kek, challenges, acme.Options{DNSHooks: dnsHooks})},
		issuer.Planned()...)...)
}
