package demo

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

// load applies the demo payloads to a fresh state, one entry each.
func load(t *testing.T, now time.Time) *fsm.FSM {
	t.Helper()
	f, err := fsm.Open(filepath.Join(t.TempDir(), "state.db"), fsm.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })

	payloads, err := Payloads(now)
	require.NoError(t, err)
	require.NotEmpty(t, payloads)
	index := uint64(0)
	apply := func(p fsm.Payload) {
		t.Helper()
		index++
		cmd, err := fsm.NewCommand(fsm.Meta{
			RequestID: fmt.Sprintf("demo-load-%d", index),
			Time:      now,
			Actor:     "demo",
			ActorType: fsm.ActorSystem,
		}, p)
		require.NoError(t, err, "payload %d (%s)", index, p.CommandType())
		data, err := cmd.Encode()
		require.NoError(t, err)
		res := f.ApplyBatch([]*raft.Log{{Index: index, Term: 1, Type: raft.LogCommand, Data: data}})
		require.Len(t, res, 1)
		ar, ok := res[0].(*fsm.ApplyResult)
		require.True(t, ok)
		require.NoError(t, ar.Err, "payload %d (%s)", index, p.CommandType())
	}
	for _, p := range payloads {
		apply(p)
	}
	// The policy rules' re-evaluation of the inventory, which the leader's
	// scheduler proposes once the rules changed.
	for {
		b, err := f.NextPolicyBatch(100)
		require.NoError(t, err)
		if b == nil {
			return f
		}
		apply(b)
	}
}

func all() fsm.Page { return fsm.Page{PerPage: fsm.MaxPerPage} }

func TestDemoLoads(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	f := load(t, now)

	wantStatus := map[string]wire.CertificateStatus{
		"mc-api-prod": fsm.CertActive, "mc-web-prod": fsm.CertActive, "mc-pay-prod": fsm.CertActive,
		"mc-dash-prod": fsm.CertActive, "mc-data-prod": fsm.CertActive, "mc-api-stg": fsm.CertActive,
		"mc-web-stg": fsm.CertActive, "mc-wildcard": fsm.CertActive,
		"mc-auth-prod": fsm.CertExpiring, "mc-cdn-prod": fsm.CertExpiring, "mc-mail-prod": fsm.CertExpiring,
		"mc-legacy-prod": fsm.CertExpired, "mc-old-api": fsm.CertExpired,
		"mc-grafana-prod": fsm.CertRenewalInProgress,
		"mc-vpn-prod":     fsm.CertFailed,
	}

	certs, err := f.Certificates(fsm.CertificateFilter{}, all())
	require.NoError(t, err)
	require.Equal(t, 15, certs.Total)
	require.Len(t, certs.Items, 15)

	seen := map[wire.CertificateStatus]bool{}
	var root *x509.Certificate
	for _, c := range certs.Items {
		want, ok := wantStatus[c.ID]
		require.True(t, ok, "unexpected certificate %s", c.ID)
		assert.Equal(t, want, c.Status, c.ID)
		seen[c.Status] = true
		assert.NotEmpty(t, c.TargetIDs, c.ID)
		require.NotNil(t, c.ExpiresAt, c.ID)
		require.NotNil(t, c.LastRenewalAt, c.ID)

		left := c.ExpiresAt.Sub(now)
		switch c.Status {
		case fsm.CertActive:
			assert.True(t, left >= 40*day && left <= 85*day, "%s expires in %s", c.ID, left)
		case fsm.CertExpiring:
			assert.True(t, left >= 5*day && left <= 25*day, "%s expires in %s", c.ID, left)
		case fsm.CertExpired:
			assert.True(t, left < 0, "%s expires in %s", c.ID, left)
		case fsm.CertRenewalInProgress:
			assert.Equal(t, 10*day, left, c.ID)
		case fsm.CertFailed:
			assert.Equal(t, 6*day, left, c.ID)
			assert.NotEmpty(t, c.StatusReason)
		}

		// The version is a real certificate matching its record.
		vs, err := f.CertificateVersions(c.ID, all())
		require.NoError(t, err)
		require.Equal(t, 1, vs.Total, c.ID)
		v := vs.Items[len(vs.Items)-1]
		assert.Equal(t, "cv-"+c.ID+"-1", v.ID)
		assert.Empty(t, v.CSRPEM)
		assert.NotContains(t, v.PEMChain, "PRIVATE KEY")

		leaf, ca := parseChain(t, v.PEMChain)
		if root == nil {
			root = ca
			assert.Equal(t, CACommonName, root.Subject.CommonName)
			assert.True(t, root.IsCA)
			require.NoError(t, root.CheckSignatureFrom(root), "the demo CA is self-signed")
		}
		assert.True(t, root.Equal(ca), "%s is signed by another CA", c.ID)
		sum := sha256.Sum256(leaf.Raw)
		assert.Equal(t, hex.EncodeToString(sum[:]), v.FingerprintSHA256)
		assert.Equal(t, strings.ToLower(v.FingerprintSHA256), v.FingerprintSHA256)
		assert.Equal(t, fmt.Sprintf("%x", leaf.SerialNumber), v.SerialNumber)
		assert.True(t, leaf.NotAfter.Equal(v.NotAfter), c.ID)
		assert.True(t, leaf.NotBefore.Equal(v.NotBefore), c.ID)
		assert.Equal(t, Lifetime, v.NotAfter.Sub(v.NotBefore))
		assert.True(t, c.ExpiresAt.Equal(v.NotAfter), c.ID)
		assert.Equal(t, c.CommonName, leaf.Subject.CommonName)
		assert.ElementsMatch(t, c.SANs, leaf.DNSNames)

		at := now
		if c.Status == fsm.CertExpired {
			at = v.NotAfter.Add(-time.Hour) // verify as of when it was still valid
		}
		roots := x509.NewCertPool()
		roots.AddCert(root)
		_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: at, DNSName: verifyName(c.CommonName)})
		assert.NoError(t, err, "%s does not verify against the demo CA", c.ID)
		if c.Status == fsm.CertExpired {
			_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now})
			assert.Error(t, err, "%s should be expired now", c.ID)
		}
	}
	for _, st := range fsm.CertificateStatuses {
		switch st {
		case fsm.CertPending, fsm.CertRevoked, fsm.CertArchived:
			assert.False(t, seen[st], st)
		default:
			assert.True(t, seen[st], "no certificate is %s", st)
		}
	}
	counts, err := f.CertificatesByStatusCount()
	require.NoError(t, err)
	assert.Equal(t, map[wire.CertificateStatus]int{fsm.CertActive: 8, fsm.CertExpiring: 3, fsm.CertExpired: 2,
		fsm.CertRenewalInProgress: 1, fsm.CertFailed: 1}, counts)

	// Agents.
	agents, err := f.Agents(fsm.AgentFilter{}, all())
	require.NoError(t, err)
	require.Equal(t, 5, agents.Total)
	for _, a := range agents.Items {
		assert.NotEmpty(t, a.Hostname)
		require.NotNil(t, a.LastHeartbeatAt, a.ID)
		if a.ID == "ag-iis-prod" {
			assert.Equal(t, fsm.AgentOffline, a.Status)
			assert.Equal(t, 3*time.Hour, now.Sub(*a.LastHeartbeatAt))
		} else {
			assert.Equal(t, fsm.AgentOnline, a.Status, a.ID)
			assert.Equal(t, 30*time.Second, now.Sub(*a.LastHeartbeatAt))
		}
	}

	// Targets: no credentials in their config.
	targets, err := f.Targets(fsm.TargetFilter{}, all())
	require.NoError(t, err)
	require.Equal(t, 5, targets.Total)
	for _, tg := range targets.Items {
		assert.NotContains(t, string(tg.Config), "password", tg.ID)
	}

	// Jobs.
	jobs, err := f.Jobs(fsm.JobFilter{}, all())
	require.NoError(t, err)
	byID := map[string]fsm.Job{}
	for _, j := range jobs.Items {
		byID[j.ID] = j
	}
	assert.Equal(t, fsm.JobCompleted, byID["job-demo-1"].Status)
	assert.JSONEq(t, `true`, string(mustField(t, byID["job-demo-1"].DeploymentResult, "validated")))
	assert.Equal(t, fsm.JobRunning, byID["job-demo-2"].Status)
	assert.Equal(t, LeaseHolder, byID["job-demo-2"].LeaseHolder)
	require.NotNil(t, byID["job-demo-2"].LeaseExpiresAt)
	assert.True(t, byID["job-demo-2"].LeaseExpiresAt.Equal(now.Add(10*time.Minute)))
	assert.Equal(t, fsm.JobFailed, byID["job-demo-3"].Status)
	assert.NotEmpty(t, byID["job-demo-3"].LastError)
	assert.Equal(t, 1, byID["job-demo-3"].MaxAttempts)
	assert.Equal(t, fsm.JobPending, byID["job-demo-4"].Status)
	assert.Equal(t, "ag-web-prod", byID["job-demo-4"].AgentID)

	api, err := f.Certificate("mc-api-prod")
	require.NoError(t, err)
	assert.NotNil(t, api.LastDeploymentAt, "the completed deployment stamps the certificate")

	// Violations and notifications.
	viol, err := f.Violations(fsm.ViolationFilter{}, all())
	require.NoError(t, err)
	require.Equal(t, 2, viol.Total)
	assert.Equal(t, "pv-mc-legacy-prod-pr-allowed-domains", viol.Items[0].ID)
	assert.Equal(t, fsm.SeverityError, viol.Items[0].Severity)
	assert.Contains(t, viol.Items[0].Message, "legacy.example-corp.net")
	assert.Equal(t, "pv-mc-old-api-pr-required-metadata", viol.Items[1].ID)
	assert.Equal(t, fsm.SeverityWarning, viol.Items[1].Severity)
	assert.Contains(t, viol.Items[1].Message, "service")
	notes, err := f.Notifications(fsm.NotificationFilter{}, all())
	require.NoError(t, err)
	require.Equal(t, 5, notes.Total, "three demo notifications and one per violation")
	policyNotes, err := f.Notifications(fsm.NotificationFilter{Type: "PolicyViolation"}, all())
	require.NoError(t, err)
	require.Equal(t, 2, policyNotes.Total)
	assert.Equal(t, "carol@example.com", policyNotes.Items[0].Recipient)
	assert.Equal(t, "alice@example.com", policyNotes.Items[1].Recipient)
	for _, n := range notes.Items {
		assert.NotEmpty(t, n.DedupKey, n.ID)
		if n.ID == "ne-demo-3" {
			assert.Equal(t, fsm.NotifySent, n.Status)
			assert.NotNil(t, n.SentAt)
		} else {
			assert.Equal(t, fsm.NotifyPending, n.Status, n.ID)
		}
	}

	// Reference data.
	teams, err := f.Teams(all())
	require.NoError(t, err)
	assert.Equal(t, 5, teams.Total)
	owners, err := f.Owners(fsm.OwnerFilter{}, all())
	require.NoError(t, err)
	assert.Equal(t, 5, owners.Total)
	pols, err := f.RenewalPolicies(all())
	require.NoError(t, err)
	assert.Equal(t, 3, pols.Total)
	iss, err := f.Issuers(all())
	require.NoError(t, err)
	require.Equal(t, 3, iss.Total)
	for _, i := range iss.Items {
		assert.Equal(t, i.ID == "iss-local", i.Enabled, i.ID)
	}
	rules, err := f.PolicyRules(all())
	require.NoError(t, err)
	assert.Equal(t, 3, rules.Total)

	av, err := f.VerifyAudit()
	require.NoError(t, err)
	assert.True(t, av.Valid, "%+v", av.Break)
	assert.NotZero(t, av.Events)
}

// Two loads make distinct certificates: keys and serials are fresh each call.
func TestPayloadsFresh(t *testing.T) {
	now := time.Now()
	a, err := Payloads(now)
	require.NoError(t, err)
	b, err := Payloads(now)
	require.NoError(t, err)
	require.Equal(t, len(a), len(b))
	fps := map[string]bool{}
	for _, ps := range [][]fsm.Payload{a, b} {
		for _, p := range ps {
			if rv, ok := p.(*fsm.RecordVersion); ok {
				assert.False(t, fps[rv.Version.FingerprintSHA256])
				fps[rv.Version.FingerprintSHA256] = true
			}
		}
	}
	assert.Len(t, fps, 30)
	load(t, now)
}

func parseChain(t *testing.T, chain string) (leaf, ca *x509.Certificate) {
	t.Helper()
	var certs []*x509.Certificate
	rest := []byte(chain)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		require.Equal(t, "CERTIFICATE", b.Type)
		c, err := x509.ParseCertificate(b.Bytes)
		require.NoError(t, err)
		certs = append(certs, c)
	}
	require.Len(t, certs, 2, "pem_chain is leaf + CA")
	return certs[0], certs[1]
}

// verifyName is a host name the certificate must be valid for.
func verifyName(cn string) string {
	if strings.HasPrefix(cn, "*.") {
		return "www" + cn[1:]
	}
	return cn
}

func mustField(t *testing.T, raw []byte, key string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	v, ok := m[key]
	require.True(t, ok, "missing %s", key)
	return v
}

// TestDemo_LeavesNoJobBehind: every demo job ends where someone takes it on:
// finished, held by the demo's lease (the scheduler takes it over when that
// runs out), or a deployment waiting for the next poll of its Online agent.
func TestDemo_LeavesNoJobBehind(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	f := load(t, now)
	jobs, err := f.Jobs(fsm.JobFilter{}, all())
	require.NoError(t, err)
	require.NotEmpty(t, jobs.Items)
	for _, j := range jobs.Items {
		switch j.Status {
		case fsm.JobCompleted, fsm.JobFailed:
		case fsm.JobRunning:
			assert.Equal(t, LeaseHolder, j.LeaseHolder, j.ID)
			require.NotNil(t, j.LeaseExpiresAt, j.ID)
			assert.True(t, j.LeaseExpiresAt.After(now), j.ID)
		case fsm.JobPending:
			assert.Equal(t, fsm.JobDeployment, j.Type, "%s: a Pending renewal would wait for the scheduler", j.ID)
			a, err := f.Agent(j.AgentID)
			require.NoError(t, err, j.ID)
			assert.Equal(t, fsm.AgentOnline, a.Status, "%s waits for agent %s", j.ID, a.ID)
		default:
			t.Errorf("job %s is %s", j.ID, j.Status)
		}
	}
}
