package main

import (
	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/target"
	"github.com/certctl/certctl/connectors/target/f5"
	"github.com/certctl/certctl/connectors/target/iis"
)

// targetSecrets is what the API seals and redacts in target configs: the
// secret fields each target connector declares beside its Config. The
// server stores target configs but runs no target connector; the agent
// (cmd/certctl-agent/targets.go) registers the same types.
func targetSecrets() *target.SecretTable {
	return target.NewSecretTable(map[string]target.Secrets{"F5": f5.Secrets(), "IIS": iis.Secrets()})
}

// issuerSecrets is what the API seals and redacts in issuer configs, and
// the issuance service opens for the connector. The Local CA has none (its
// keys are sealed material of their own); the types whose connector this
// build lacks are declared in package issuer until it arrives.
func issuerSecrets() *issuer.SecretTable {
	return issuer.NewSecretTable(issuer.PlannedSecrets())
}
