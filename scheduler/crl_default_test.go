package scheduler

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
	"github.com/certctl/certctl/node/nodetest"
)

// A Local CA whose config names no crl_url still puts a CRL distribution
// point in its leaves: the node's own CRL endpoint.
func TestIssuance_DefaultCRLDistributionPoint(t *testing.T) {
	h, _ := localCAHarness(t)
	kek, err := keywrap.NewKEK(nil)
	require.NoError(t, err)
	s, err := NewIssuanceService(IssuanceConfig{NodeID: "n1", KEK: kek, Now: h.clock.Now, CRLBaseURL: "http://10.0.0.1:8443/",
		Logger: nodetest.Logger(t, slog.LevelWarn)}, h.f, h.prop)
	require.NoError(t, err)
	cert := *h.certificate(fsmtest.CertificateID)
	cert.KeyGeneration = "server"
	h.must(&fsm.UpdateCertificate{Certificate: cert})
	h.must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", fsm.JobRenewal)}})
	h.must(&fsm.ClaimJob{JobID: "job-1", Holder: holderOf("n1"), LeaseUntil: t0.Add(DefaultLeaseDuration)})
	require.NoError(t, s.Issue(context.Background(), *h.job("job-1"), *h.certificate(fsmtest.CertificateID)))

	versions, err := h.f.CertificateVersions(fsmtest.CertificateID, fsm.Page{})
	require.NoError(t, err)
	require.Equal(t, 1, versions.Total)
	block, _ := pem.Decode([]byte(versions.Items[0].PEMChain))
	leaf, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	assert.Equal(t, []string{"http://10.0.0.1:8443/.well-known/pki/crl/" + fsmtest.IssuerID}, leaf.CRLDistributionPoints)
}
