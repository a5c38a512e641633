package issuance

import (
	"github.com/certctl/certctl/api/wire"

	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/issuer/localca"
	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
	"github.com/certctl/certctl/node/nodetest"
)

// t0 is the harness's time: a day after the fixtures were written.
var t0 = fsmtest.T0.Add(24 * time.Hour)

// leaseDuration is how long the harness's claims last.
const leaseDuration = 30 * time.Second

// logProposer applies each proposed command to the fsm through an fsmtest
// Log, as raft on a single node would: the command is in the state when
// Propose returns, and a rejection comes back as the *fsm.Error.
type logProposer struct {
	mu     sync.Mutex
	log    *fsmtest.Log
	byType map[fsm.CommandType]int
}

func (p *logProposer) Propose(ctx context.Context, cmd *fsm.Command) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	data, err := cmd.Encode()
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	res := p.log.ApplyRaw(data)
	p.byType[cmd.Type]++
	return p.log.Index, res.Err
}

func (p *logProposer) count(t fsm.CommandType) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byType[t]
}

// harness is a real fsm seeded with fsmtest's fixtures, the seeded issuer
// a Local CA of default config, its proposals applied through the test's
// Log, and one KEK shared by the nodes' services.
type harness struct {
	t    *testing.T
	f    *fsm.FSM
	prop *logProposer
	kek  []byte
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	f := fsmtest.Open(t)
	l := fsmtest.NewLog(t, f)
	fsmtest.Seed(l)
	kek, err := keywrap.NewKEK(nil)
	require.NoError(t, err)
	h := &harness{t: t, f: f, prop: &logProposer{log: l, byType: map[fsm.CommandType]int{}}, kek: kek}
	iss := fsmtest.Issuer(fsmtest.IssuerID, "Local CA")
	iss.Config = json.RawMessage(`{"ca_common_name":"Harness CA"}`)
	h.must(&fsm.UpdateIssuer{Issuer: iss})
	return h
}

// registry is cmd's issuer registry: the Local CA under kek, and the
// planned types, plus extra.
func registry(t *testing.T, kek []byte, extra ...issuer.Connector) *issuer.Registry {
	t.Helper()
	connectors := append([]issuer.Connector{localca.Connector(kek, localca.WithClock(func() time.Time { return t0 }))}, extra...)
	for _, c := range issuer.Planned() {
		if !declared(c.Type, extra) {
			connectors = append(connectors, c)
		}
	}
	reg, err := issuer.NewRegistry(connectors...)
	require.NoError(t, err)
	return reg
}

func declared(typ string, cs []issuer.Connector) bool {
	for _, c := range cs {
		if c.Type == typ {
			return true
		}
	}
	return false
}

// service is node's issuance service with the harness's KEK and registry.
func (h *harness) service(node string, extra ...issuer.Connector) *Service {
	return h.serviceWith(Config{NodeID: node, KEK: h.kek}, registry(h.t, h.kek, extra...))
}

func (h *harness) serviceWith(cfg Config, reg *issuer.Registry) *Service {
	h.t.Helper()
	cfg.Now = func() time.Time { return t0 }
	cfg.Logger = nodetest.Logger(h.t, slog.LevelWarn)
	s, err := New(cfg, reg, h.f, h.prop)
	require.NoError(h.t, err)
	return s
}

// must applies p as an operator would, at the harness's time.
func (h *harness) must(p fsm.Payload) any {
	h.t.Helper()
	h.prop.mu.Lock()
	defer h.prop.mu.Unlock()
	h.prop.log.Now = t0
	return h.prop.log.Must(p)
}

// claim queues job id of type typ for the seeded certificate and claims it
// as node n1's scheduler.
func (h *harness) claim(id string, typ wire.JobType) {
	h.t.Helper()
	h.must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job(id, typ)}})
	h.must(&fsm.ClaimJob{JobID: id, Holder: "scheduler/n1", LeaseUntil: t0.Add(leaseDuration)})
}

func (h *harness) certificate(id string) *fsm.Certificate {
	h.t.Helper()
	c, err := h.f.Certificate(id)
	require.NoError(h.t, err)
	return c
}

func (h *harness) job(id string) *fsm.Job {
	h.t.Helper()
	j, err := h.f.Job(id)
	require.NoError(h.t, err)
	return j
}

// audit returns the audit events of action about resource id.
func (h *harness) audit(action, id string) []fsm.AuditEvent {
	h.t.Helper()
	l, err := h.f.AuditEvents(fsm.AuditFilter{Action: action, ResourceID: id}, fsm.Page{PerPage: fsm.MaxPerPage})
	require.NoError(h.t, err)
	return l.Items
}
