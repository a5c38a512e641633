package scheduler

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/issuer/localca"
	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
	"github.com/certctl/certctl/node/nodetest"
	issuing "github.com/certctl/certctl/scheduler/issuance"
)

// The fake Issuance of these tests is named issuance, hence the import
// name issuing.

// localCAHarness is the scheduler harness with the seeded issuer a Local CA
// of default config, and an issuance service per node sharing one KEK and
// one issuer registry, wired as cmd wires them.
func localCAHarness(t *testing.T) (*harness, func(node string) *issuing.Service) {
	t.Helper()
	h := newHarness(t)
	iss := fsmtest.Issuer(fsmtest.IssuerID, "Local CA")
	iss.Config = json.RawMessage(`{"ca_common_name":"Harness CA"}`)
	h.must(&fsm.UpdateIssuer{Issuer: iss})
	kek, err := keywrap.NewKEK(nil)
	require.NoError(t, err)
	reg, err := issuer.NewRegistry(localca.Connector(kek, localca.WithClock(h.clock.Now)))
	require.NoError(t, err)
	return h, func(node string) *issuing.Service {
		s, err := issuing.New(issuing.Config{NodeID: node, KEK: kek, Now: h.clock.Now, Logger: nodetest.Logger(t, slog.LevelWarn)}, reg, h.f, h.prop)
		require.NoError(t, err)
		return s
	}
}
