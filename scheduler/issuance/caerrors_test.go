package issuance

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// refusingCA is an issuer whose CA refuses every order with err.
type refusingCA struct {
	issuer.Issuer
	err *issuer.CAError
}

func (r refusingCA) IssueCertificate(context.Context, issuer.IssuanceRequest) (*issuer.IssuanceResult, error) {
	return nil, r.err
}

func (r refusingCA) RenewCertificate(context.Context, issuer.RenewalRequest) (*issuer.IssuanceResult, error) {
	return nil, r.err
}

// TestSignCSR_CARefusalGoesOnTheJob: a CA's refusal of an agent's CSR is
// recorded on the job with the CA's message: a rateLimited one is retried
// no sooner than its Retry-After, a final one fails the job and the
// certificate for good. Neither leaves the job waiting for the agent to
// send the same CSR again.
func TestSignCSR_CARefusalGoesOnTheJob(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *issuer.CAError
	}{
		{"rateLimited", &issuer.CAError{Op: "order", Type: "urn:ietf:params:acme:error:rateLimited", Detail: "too many new orders recently", RetryAfter: 3 * time.Hour}},
		{"rejectedIdentifier", &issuer.CAError{Op: "order", Type: "urn:ietf:params:acme:error:rejectedIdentifier", Detail: "domain name is forbidden by policy", Final: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			ca := issuer.Connector{Type: "ACME", New: func(context.Context, issuer.Stored) (issuer.Issuer, error) { return refusingCA{err: tc.err}, nil }}
			s := h.service("n1", ca)
			h.must(&fsm.CreateIssuer{Issuer: fsm.Issuer{ID: "iss-acme", Name: "acme", Type: "ACME", Config: json.RawMessage(`{}`), Enabled: true}})
			cert := *h.certificate(fsmtest.CertificateID)
			cert.IssuerID = "iss-acme"
			h.must(&fsm.UpdateCertificate{Certificate: cert})
			h.claim("job-1", fsm.JobRenewal)
			ctx := context.Background()
			require.NoError(t, s.Issue(ctx, *h.job("job-1"), *h.certificate(fsmtest.CertificateID)))
			require.Equal(t, fsm.JobAwaitingCSR, h.job("job-1").Status)

			key, err := issuer.KeyECDSAP256.Generate(nil)
			require.NoError(t, err)
			csr, err := issuer.CSRFor(key, cert.CommonName, cert.SANs)
			require.NoError(t, err)
			err = s.SignCSR(ctx, fsmtest.AgentID, *h.job("job-1"), *h.certificate(fsmtest.CertificateID), csr)
			require.ErrorIs(t, err, tc.err)

			j := h.job("job-1")
			assert.Contains(t, j.LastError, tc.err.Detail, "the CA's own message")
			assert.Contains(t, j.LastError, tc.err.Type)
			assert.Equal(t, 1, j.Attempts)
			if tc.err.Final {
				assert.Equal(t, fsm.JobFailed, j.Status)
				assert.Equal(t, fsm.CertFailed, h.certificate(fsmtest.CertificateID).Status)
				assert.Contains(t, h.certificate(fsmtest.CertificateID).StatusReason, tc.err.Detail)
				return
			}
			assert.Equal(t, fsm.JobPending, j.Status)
			assert.False(t, j.ScheduledAt.Before(t0.Add(3*time.Hour)), "not before the CA's Retry-After: %s", j.ScheduledAt)
		})
	}
}
