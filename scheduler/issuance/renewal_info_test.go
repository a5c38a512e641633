package issuance

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// An issuer that has made no material (a Local CA before its first
// issuance, as on a fresh dev node) has issued nothing through the cluster:
// asking it for renewal information is "none offered", never a failure that
// the renewal-information loop would warn about on every pass, and it makes
// no CA.
func TestIssuance_RenewalInfoOfAnIssuerWithoutMaterialIsNone(t *testing.T) {
	h := newHarness(t)
	s := h.service("n1")
	cert := h.certificate(fsmtest.CertificateID)
	_, err := s.RenewalInfo(context.Background(), *cert, "")
	require.ErrorIs(t, err, issuer.ErrNoRenewalInfo)
	require.Zero(t, h.prop.count(fsm.CommandSetIssuerMaterial), "asking made no CA")
}
