package pgimport

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/certctl/certctl/api/wire"
)

// TestCanon_OriginalSpellings: the original's spellings map onto ours; an
// unknown one is passed on as it is, for the cluster to refuse by name.
func TestCanon_OriginalSpellings(t *testing.T) {
	assert.Equal(t, wire.CertificateStatus("RenewalInProgress"), canon("renewal_in_progress", wire.CertificateStatuses(), nil))
	assert.Equal(t, wire.CertificateStatus("Active"), canon("active", wire.CertificateStatuses(), nil))
	assert.Equal(t, wire.IssuerGenericCA, canon("local", wire.IssuerTypes(), issuerAliases))
	assert.Equal(t, wire.IssuerGenericCA, canon("generic_ca", wire.IssuerTypes(), issuerAliases))
	assert.Equal(t, wire.IssuerACME, canon("acme", wire.IssuerTypes(), issuerAliases))
	assert.Equal(t, wire.NotificationType("ExpirationWarning"), canon("expiration_warning", wire.NotificationTypes(), nil))
	assert.Equal(t, wire.PolicyRenewalLeadTime, canon("renewal_window", wire.PolicyRuleTypes(), ruleAliases))
	assert.Equal(t, wire.PolicyRuleType("ownership"), canon("ownership", wire.PolicyRuleTypes(), ruleAliases))
	assert.JSONEq(t, `{"lead_time_days": 14}`, string(ruleConfig(wire.PolicyRenewalLeadTime, json.RawMessage(`{"min_days": 14}`))))
	assert.JSONEq(t, `{"max_days": 90}`, string(ruleConfig(wire.PolicyCertificateLifetime, json.RawMessage(`{"max_days": 90}`))))
}

// TestFingerprintAndKeyHash: colon-hex fingerprints become hex; a key hash
// that is no SHA-256 is dropped with a warning naming the agent.
func TestFingerprintAndKeyHash(t *testing.T) {
	var warned []string
	warn := func(s string) { warned = append(warned, s) }
	fp := "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
	assert.Equal(t, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", fingerprint("cv-1", "sha256:"+fp, "", warn))
	assert.Equal(t, "ab12", fingerprint("cv-2", "sha256:AB12", "not a PEM", warn), "left for the cluster to refuse with the PEM")
	assert.Empty(t, warned)
	assert.Equal(t, "", keyHash("ag-1", "demo_hash_1", warn))
	assert.Len(t, warned, 1)
	assert.Contains(t, warned[0], "certctl key create --name ag-1 --role agent --agent ag-1")
	h := "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
	assert.Equal(t, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", keyHash("ag-2", h, warn))
}
