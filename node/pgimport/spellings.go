package pgimport

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

// squash folds a spelling for comparison: lower case, without '_', '-',
// ' ' and '.', so that "renewal_in_progress" meets "RenewalInProgress".
func squash(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', ' ', '.':
			return -1
		}
		return r
	}, strings.ToLower(s))
}

// canon returns the member of all that s spells, an alias's member, or s
// unchanged (the cluster then refuses it, naming the accepted values).
func canon[T ~string](s string, all []T, alias map[string]T) T {
	k := squash(s)
	if a, ok := alias[k]; ok {
		return a
	}
	for _, v := range all {
		if squash(string(v)) == k {
			return v
		}
	}
	return T(s)
}

// issuerAliases are the original's issuer type names: its Local CA was
// "local" (a "generic CA"), its step-ca "stepca".
var issuerAliases = map[string]wire.IssuerType{
	"local": wire.IssuerGenericCA, "localca": wire.IssuerGenericCA, "genericca": wire.IssuerGenericCA,
	"vault": wire.IssuerVaultPKI, "vaultpki": wire.IssuerVaultPKI, "stepca": wire.IssuerStepCA,
}

// ruleAliases are the original's informal policy rule types (its seed
// data's): each maps onto the rule of the same meaning here.
var ruleAliases = map[string]wire.PolicyRuleType{
	"environment": wire.PolicyAllowedEnvironments, "environments": wire.PolicyAllowedEnvironments,
	"lifetime": wire.PolicyCertificateLifetime, "maxlifetime": wire.PolicyCertificateLifetime,
	"renewalwindow": wire.PolicyRenewalLeadTime, "renewalleadtime": wire.PolicyRenewalLeadTime,
	"issuer": wire.PolicyAllowedIssuers, "issuers": wire.PolicyAllowedIssuers,
	"domain": wire.PolicyAllowedDomains, "domains": wire.PolicyAllowedDomains,
	"metadata": wire.PolicyRequiredMetadata, "tags": wire.PolicyRequiredMetadata,
}

// ruleConfig maps the original's config of a renewal-window rule
// ({"min_days": n}) onto RenewalLeadTime's ({"lead_time_days": n}); other
// configs are kept as they are.
func ruleConfig(typ wire.PolicyRuleType, config json.RawMessage) json.RawMessage {
	if typ != wire.PolicyRenewalLeadTime || len(config) == 0 {
		return config
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(config, &m) != nil {
		return config
	}
	if _, ok := m["lead_time_days"]; ok {
		return config
	}
	if v, ok := m["min_days"]; ok {
		m["lead_time_days"] = v
		delete(m, "min_days")
		if b, err := json.Marshal(m); err == nil {
			return b
		}
	}
	return config
}

// fingerprint normalises the original's fingerprint of a certificate
// ("sha256:AB:CD...", upper case) to 64 lower-case hex digits. When the
// value is no SHA-256 at all and the PEM is sound, the certificate's own
// fingerprint is used and a warning says so.
func fingerprint(versionID, value, pemChain string, warn func(string)) string {
	v := strings.ToLower(strings.TrimSpace(value))
	v = strings.TrimPrefix(v, "sha256:")
	v = strings.ReplaceAll(v, ":", "")
	if len(v) == 64 && strings.Trim(v, "0123456789abcdef") == "" {
		return v
	}
	fp, err := fsm.CertificateFingerprint(pemChain)
	if err != nil {
		return v // the cluster refuses the PEM, naming what is wrong
	}
	warn(fmt.Sprintf("certificate_versions %s: fingerprint_sha256 %q is not a SHA-256; the certificate's own (%s) is used", versionID, value, fp))
	return fp
}

// keyHash is an agent's api_key_hash as the appliance takes it (64 hex
// digits), or "" with a warning when it is none: then the agent is
// imported without a key and needs a new one.
func keyHash(agentID, value string, warn func(string)) string {
	v := strings.ToLower(strings.TrimSpace(value))
	if len(v) == 64 && strings.Trim(v, "0123456789abcdef") == "" {
		return v
	}
	warn(fmt.Sprintf("agents %s: api_key_hash is not a hex SHA-256 of a key (placeholder data?), so no key was carried over: "+
		"give the agent a new one with certctl key create --name %s --role agent --agent %s", agentID, agentID, agentID))
	return ""
}
