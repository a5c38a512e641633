package scheduler

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/issuer/localca"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// onlyExampleOrg is a rule of severity Error the seeded certificate
// (www.example.com) breaks.
func onlyExampleOrg(severity wire.Severity) fsm.PolicyRule {
	return fsm.PolicyRule{ID: "rule-domains", Name: "Only example.org", Type: wire.PolicyAllowedDomains,
		Config: []byte(`{"allowed_domains":["example.org"]}`), Enabled: true, Severity: severity}
}

// TestJobs_PolicyRefusedIssuanceNeverReachesTheIssuer: a certificate that
// breaks a rule of severity Error, set after it was created, is reported;
// its issuance job fails for good at the first attempt naming the rule,
// with the certificate Failed and its owner alerted, and neither the
// issuance service nor the Local CA is ever called (no CA made, no version).
// Once the rule only warns, the same job flow issues it.
func TestJobs_PolicyRefusedIssuanceNeverReachesTheIssuer(t *testing.T) {
	h, service := localCAHarness(t)
	svc := service("n1")
	iss := &issuance{fn: svc.Issue}
	h.s.cfg.Issuance = iss
	cert := *h.certificate(fsmtest.CertificateID)
	cert.KeyGeneration = "server" // issued by the job itself, no agent needed
	h.must(&fsm.UpdateCertificate{Certificate: cert})

	h.must(&fsm.CreatePolicyRule{Rule: onlyExampleOrg(fsm.SeverityError), Sweep: true})
	require.NoError(t, h.s.reevaluatePolicies(context.Background()))
	vs, err := h.f.Violations(fsm.ViolationFilter{CertificateID: fsmtest.CertificateID, RuleID: "rule-domains"}, fsm.Page{})
	require.NoError(t, err)
	require.Equal(t, 1, vs.Total, "the existing certificate is reported by the sweep that follows the rule")

	job := fsmtest.Job("job-1", fsm.JobIssuance)
	job.MaxAttempts = 4
	h.must(&fsm.CreateJobs{Jobs: []fsm.Job{job}})
	h.processJobs()

	assert.Empty(t, iss.Calls(), "the issuance service is never called")
	j := h.job("job-1")
	assert.Equal(t, fsm.JobFailed, j.Status, "failed for good, no retry")
	assert.Equal(t, 1, j.Attempts)
	for _, s := range []string{"policy rule rule-domains", `"Only example.org"`, "type AllowedDomains", "name www.example.com is not within the allowed domains"} {
		assert.Contains(t, j.LastError, s)
	}
	c := h.certificate(fsmtest.CertificateID)
	assert.Equal(t, fsm.CertFailed, c.Status)
	assert.Contains(t, c.StatusReason, "issuance failed after 1 attempt(s)")
	assert.Contains(t, c.StatusReason, "policy rule rule-domains")
	alerts := h.notifications(fsm.NotificationFilter{Type: "RenewalFailure"})
	require.Len(t, alerts, 1)
	assert.Contains(t, alerts[0].Message, "policy rule rule-domains")
	assert.Zero(t, h.prop.count(fsm.CommandSetIssuerMaterial), "the Local CA was never built")
	assert.Zero(t, h.prop.count(fsm.CommandRecordVersion))

	// The issuance service refuses on its own too.
	h.must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-direct", fsm.JobIssuance)}})
	h.must(&fsm.ClaimJob{JobID: "job-direct", Holder: holderOf("n1"), LeaseUntil: h.clock.Now().Add(DefaultLeaseDuration)})
	err = svc.Issue(context.Background(), *h.job("job-direct"), *h.certificate(fsmtest.CertificateID))
	require.ErrorIs(t, err, fsm.ErrPolicy)
	assert.Zero(t, h.prop.count(fsm.CommandSetIssuerMaterial))
	h.must(&fsm.CancelJob{JobID: "job-direct"})

	// The rule only warns now: the same flow issues.
	h.must(&fsm.UpdatePolicyRule{Rule: onlyExampleOrg(fsm.SeverityWarning), Sweep: true})
	h.must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-2", fsm.JobIssuance)}})
	h.processJobs()
	assert.Len(t, iss.Calls(), 1)
	assert.Equal(t, fsm.JobCompleted, h.job("job-2").Status)
	versions, err := h.f.CertificateVersions(fsmtest.CertificateID, fsm.Page{})
	require.NoError(t, err)
	assert.Equal(t, 1, versions.Total)
}

// TestSignCSR_RefusedByPolicy: a rule of severity Error set while a job
// waited for its agent's CSR: the CSR is refused naming the rule, nothing is
// signed or recorded, and the job and the certificate are Failed so the
// agent is not asked again.
func TestSignCSR_RefusedByPolicy(t *testing.T) {
	h, service := localCAHarness(t)
	s := service("n1")
	ctx := context.Background()
	h.must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", fsm.JobRenewal)}})
	h.must(&fsm.ClaimJob{JobID: "job-1", Holder: holderOf("n1"), LeaseUntil: t0.Add(DefaultLeaseDuration)})
	require.NoError(t, s.Issue(ctx, *h.job("job-1"), *h.certificate(fsmtest.CertificateID)))
	require.Equal(t, fsm.JobAwaitingCSR, h.job("job-1").Status)

	h.must(&fsm.CreatePolicyRule{Rule: onlyExampleOrg(fsm.SeverityCritical), Sweep: true})
	cert := *h.certificate(fsmtest.CertificateID)
	key, err := issuer.KeyECDSAP256.Generate(nil)
	require.NoError(t, err)
	csr, err := issuer.CSRFor(key, cert.CommonName, cert.SANs)
	require.NoError(t, err)
	err = s.SignCSR(ctx, fsmtest.AgentID, *h.job("job-1"), cert, csr)
	require.ErrorIs(t, err, fsm.ErrPolicy)
	assert.Contains(t, err.Error(), "policy rule rule-domains")

	j := h.job("job-1")
	assert.Equal(t, fsm.JobFailed, j.Status)
	assert.Contains(t, j.LastError, "policy rule rule-domains")
	c := h.certificate(fsmtest.CertificateID)
	assert.Equal(t, fsm.CertFailed, c.Status)
	assert.Contains(t, c.StatusReason, "issuance refused")
	assert.Zero(t, h.prop.count(fsm.CommandRecordVersion))
	versions, err := h.f.CertificateVersions(fsmtest.CertificateID, fsm.Page{})
	require.NoError(t, err)
	assert.Zero(t, versions.Total)
}

// TestIssuance_MakesConstrainedCA: the Local CA made for an issuer whose
// config names permitted domains and ranges carries them in its intermediate.
func TestIssuance_MakesConstrainedCA(t *testing.T) {
	h, service := localCAHarness(t)
	rec := fsmtest.Issuer(fsmtest.IssuerID, "Local CA")
	rec.Config = json.RawMessage(`{"ca_common_name":"Site CA","allow_ip_sans":true,"permitted_dns_domains":["example.com"],"permitted_ip_ranges":["10.0.0.0/8"]}`)
	h.must(&fsm.UpdateIssuer{Issuer: rec})
	require.NoError(t, service("n1").TestIssuer(context.Background(), &rec))

	raw, err := h.f.IssuerMaterial(fsmtest.IssuerID)
	require.NoError(t, err)
	var m localca.CAMaterial
	require.NoError(t, json.Unmarshal(raw, &m))
	block, _ := pem.Decode([]byte(m.IntermediateCertPEM))
	require.NotNil(t, block)
	inter, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	assert.Equal(t, []string{"example.com"}, inter.PermittedDNSDomains)
	require.Len(t, inter.PermittedIPRanges, 1)
	assert.Equal(t, "10.0.0.0/8", inter.PermittedIPRanges[0].String())
	assert.True(t, inter.PermittedDNSDomainsCritical)
}

// TestJobs_LocalCARefusalIsFinal: a request the Local CA refuses (an IP SAN
// without allow_ip_sans) fails the job for good at once, naming the
// setting; with the setting, the same job flow issues it.
func TestJobs_LocalCARefusalIsFinal(t *testing.T) {
	h, service := localCAHarness(t)
	h.s.cfg.Issuance = service("n1")
	cert := *h.certificate(fsmtest.CertificateID)
	cert.KeyGeneration, cert.SANs = "server", []string{cert.CommonName, "10.0.0.1"}
	h.must(&fsm.UpdateCertificate{Certificate: cert})
	job := fsmtest.Job("job-1", fsm.JobIssuance)
	job.MaxAttempts = 4
	h.must(&fsm.CreateJobs{Jobs: []fsm.Job{job}})
	h.processJobs()
	j := h.job("job-1")
	assert.Equal(t, fsm.JobFailed, j.Status)
	assert.Equal(t, 1, j.Attempts, "no retry of a request the CA refuses")
	assert.Contains(t, j.LastError, "allow_ip_sans")
	assert.Zero(t, h.prop.count(fsm.CommandRecordVersion))

	rec := fsmtest.Issuer(fsmtest.IssuerID, "Local CA")
	rec.Config = json.RawMessage(`{"ca_common_name":"Harness CA","allow_ip_sans":true}`)
	h.must(&fsm.UpdateIssuer{Issuer: rec})
	h.must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-2", fsm.JobIssuance)}})
	h.processJobs()
	require.Equal(t, fsm.JobCompleted, h.job("job-2").Status, h.job("job-2").LastError)
	v, err := h.f.LatestCertificateVersion(fsmtest.CertificateID)
	require.NoError(t, err)
	block, _ := pem.Decode([]byte(v.PEMChain))
	leaf, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	require.Len(t, leaf.IPAddresses, 1)
	assert.Equal(t, "10.0.0.1", leaf.IPAddresses[0].String())
}
