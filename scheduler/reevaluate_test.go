package scheduler

import (
	"github.com/certctl/certctl/api/wire"

	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

func labOnly(severity wire.Severity) fsm.PolicyRule {
	return fsm.PolicyRule{ID: "rule-env", Name: "Production only", Type: fsm.RuleAllowedEnvironments,
		Config: []byte(`{"allowed":["production"]}`), Enabled: true, Severity: severity}
}

func violators(t *testing.T, f *fsm.FSM, ruleID string) []string {
	t.Helper()
	list, err := f.Violations(fsm.ViolationFilter{RuleID: ruleID}, fsm.Page{PerPage: fsm.MaxPerPage})
	require.NoError(t, err)
	out := []string{}
	for _, v := range list.Items {
		out = append(out, v.CertificateID)
	}
	return out
}

// TestPolicies_RuleChangeReevaluatesExistingCertificates: after a rule is
// created, the policy pass proposes batches of PolicyBatch certificates
// until the sweep is done, and the violations are exactly those of the
// existing certificates the rule finds wanting; a change of the rule is
// followed the same way. A pass with no sweep under way proposes nothing.
func TestPolicies_RuleChangeReevaluatesExistingCertificates(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.PolicyBatch = 3 })
	ctx := context.Background()
	require.NoError(t, h.s.reevaluatePolicies(ctx)) // the fixtures' own rule
	var lab []string
	for i := range 10 {
		c := fsmtest.Certificate(fmt.Sprintf("mc-%02d", i), fmt.Sprintf("h%d.example.com", i))
		if i%2 == 0 {
			c.Environment = "lab"
			lab = append(lab, c.ID)
		}
		h.must(&fsm.CreateCertificate{Certificate: c})
	}
	before := h.prop.count(fsm.CommandReevaluatePolicies)

	h.must(&fsm.CreatePolicyRule{Rule: labOnly(fsm.SeverityWarning), Sweep: true})
	assert.Empty(t, violators(t, h.f, "rule-env"), "the rule's entry leaves the certificates to the sweep")
	require.NoError(t, h.s.reevaluatePolicies(ctx))
	assert.Equal(t, lab, violators(t, h.f, "rule-env"))
	assert.Equal(t, 4, h.prop.count(fsm.CommandReevaluatePolicies)-before, "11 certificates, 3 a batch")
	sweep, err := h.f.PolicySweep()
	require.NoError(t, err)
	assert.Nil(t, sweep)

	quiet := h.prop.proposals()
	require.NoError(t, h.s.reevaluatePolicies(ctx))
	assert.Equal(t, quiet, h.prop.proposals(), "nothing to do, nothing proposed")

	rule := labOnly(fsm.SeverityWarning)
	rule.Config = []byte(`{"allowed":["lab"]}`)
	h.must(&fsm.UpdatePolicyRule{Rule: rule, Sweep: true})
	require.NoError(t, h.s.reevaluatePolicies(ctx))
	want := []string{fsmtest.CertificateID}
	for i := 1; i < 10; i += 2 {
		want = append(want, fmt.Sprintf("mc-%02d", i))
	}
	assert.ElementsMatch(t, want, violators(t, h.f, "rule-env"))
}

// heldProposer proposes through a node, but holds ReevaluatePolicies
// batches past the allowed number until its ctx ends (leadership lost), as
// a leader that dies in the middle of a sweep would.
type heldProposer struct {
	n     *node.Node
	gate  *sweepGate
	actor string
}

type sweepGate struct {
	mu      sync.Mutex
	allowed int           // batches that may still be proposed; < 0: any
	held    chan struct{} // closed when a batch is held
	once    sync.Once
	applied []string // "<node> after <cursor>" of each batch applied
}

func (p heldProposer) Propose(ctx context.Context, cmd *fsm.Command) (uint64, error) {
	if cmd.Type == fsm.CommandReevaluatePolicies {
		p.gate.mu.Lock()
		hold := p.gate.allowed == 0
		if p.gate.allowed > 0 {
			p.gate.allowed--
		}
		p.gate.mu.Unlock()
		if hold {
			p.gate.once.Do(func() { close(p.gate.held) })
			<-ctx.Done()
			return 0, ctx.Err()
		}
	}
	idx, err := p.n.Propose(ctx, cmd)
	if err == nil && cmd.Type == fsm.CommandReevaluatePolicies {
		var b fsm.ReevaluatePolicies
		if json.Unmarshal(cmd.Payload, &b) == nil {
			p.gate.mu.Lock()
			p.gate.applied = append(p.gate.applied, p.n.ID()+" after "+b.After)
			p.gate.mu.Unlock()
		}
	}
	return idx, err
}

func (g *sweepGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.allowed = -1
}

// TestCluster_PolicySweepResumesAfterLeaderChange: on a real three-node
// cluster, the leader's scheduler sweeps a new rule over the certificates in
// batches; the leader stops after two batches and leadership moves; the new
// leader resumes from the replicated cursor: its first batch continues
// after the old leader's last, no batch is proposed twice, each certificate
// is reported once (the first six by the old leader, the rest by the new),
// and every node holds the violations.
func TestCluster_PolicySweepResumesAfterLeaderChange(t *testing.T) {
	gate := &sweepGate{allowed: 2, held: make(chan struct{})}
	c := nodetest.NewCluster(t, 3, nodetest.WithBeforeOpen(func(n *node.Node) {
		s, err := New(Config{NodeID: n.ID(), PolicyBatch: 3, Logger: nodetest.Logger(t, slog.LevelWarn)}, n.FSM(), heldProposer{n: n, gate: gate})
		require.NoError(t, err)
		n.RunOnLeader("scheduler", s.Run)
		n.FSM().OnRulesChanged(s.NudgePolicies)
	}))
	leader := c.Leader(t)
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.WaitTimeout)
	defer cancel()
	propose := func(p fsm.Payload) {
		t.Helper()
		cmd, err := fsm.NewCommand(fsm.Meta{Time: time.Now(), Actor: "tester", ActorType: fsm.ActorUser}, p)
		require.NoError(t, err)
		_, err = c.Followers()[0].Node().Propose(ctx, cmd)
		require.NoError(t, err)
	}
	propose(&fsm.CreateTeam{Team: fsmtest.Team(fsmtest.TeamID, "Platform")})
	propose(&fsm.CreateOwner{Owner: fsmtest.Owner(fsmtest.OwnerID, fsmtest.TeamID)})
	propose(&fsm.CreateIssuer{Issuer: fsmtest.Issuer(fsmtest.IssuerID, "Local CA")})
	var ids []string
	for i := range 14 {
		cert := fsmtest.Certificate(fmt.Sprintf("mc-%02d", i), fmt.Sprintf("h%d.example.com", i))
		cert.Environment = "lab"
		propose(&fsm.CreateCertificate{Certificate: cert})
		ids = append(ids, cert.ID)
	}
	propose(&fsm.CreatePolicyRule{Rule: labOnly(fsm.SeverityWarning), Sweep: true})

	select {
	case <-gate.held:
	case <-ctx.Done():
		t.Fatal("the leader never reached its third batch")
	}
	sweep, err := leader.Node().FSM().PolicySweep()
	require.NoError(t, err)
	require.NotNil(t, sweep)
	assert.Equal(t, "mc-05", sweep.After, "two batches of three applied")
	assert.Equal(t, ids[:6], violators(t, leader.Node().FSM(), "rule-env"))

	gate.open()
	require.NoError(t, leader.Node().TransferLeadership(ctx))
	next := c.Leader(t)
	require.NotEqual(t, leader.ID(), next.ID())
	for _, m := range c.Running() {
		nodetest.WaitFor(t, "the sweep to end on "+m.ID(), func() bool {
			s, err := m.Node().FSM().PolicySweep()
			return err == nil && s == nil && len(violators(t, m.Node().FSM(), "rule-env")) == len(ids)
		})
	}
	events, err := next.Node().FSM().AuditEvents(fsm.AuditFilter{Action: "policy_evaluated"}, fsm.Page{PerPage: fsm.MaxPerPage})
	require.NoError(t, err)
	by := map[string]string{}
	for _, ev := range events.Items {
		_, twice := by[ev.ResourceID]
		assert.False(t, twice, "%s evaluated twice", ev.ResourceID)
		by[ev.ResourceID] = ev.Actor
	}
	for i, id := range ids {
		want := holderOf(next.ID())
		if i < 6 {
			want = holderOf(leader.ID())
		}
		assert.Equal(t, want, by[id], id)
	}
	gate.mu.Lock()
	defer gate.mu.Unlock()
	assert.Equal(t, []string{
		leader.ID() + " after ", leader.ID() + " after mc-02",
		next.ID() + " after mc-05", next.ID() + " after mc-08", next.ID() + " after mc-11",
	}, gate.applied)
}

// raceProposer changes the rule once, just before the first batch it is
// given reaches the log, as an operator's change racing the sweep would.
type raceProposer struct {
	h       *harness
	changed bool
}

func (p *raceProposer) Propose(ctx context.Context, cmd *fsm.Command) (uint64, error) {
	if cmd.Type == fsm.CommandReevaluatePolicies && !p.changed {
		p.changed = true
		rule := labOnly(fsm.SeverityWarning)
		rule.Config = []byte(`{"allowed":["lab"]}`)
		p.h.must(&fsm.UpdatePolicyRule{Rule: rule, Sweep: true})
	}
	return p.h.prop.Propose(ctx, cmd)
}

// TestPolicies_StaleBatchReadAgain: a batch refused because the rules changed
// meanwhile (the sweep restarted) is not an error: the pass reads the new
// sweep and finishes it under the newer rule.
func TestPolicies_StaleBatchReadAgain(t *testing.T) {
	h := newHarness(t)
	h.must(&fsm.CreatePolicyRule{Rule: labOnly(fsm.SeverityWarning), Sweep: true})
	s, err := New(h.s.cfg, h.f, &raceProposer{h: h})
	require.NoError(t, err)

	require.NoError(t, s.reevaluatePolicies(context.Background()))
	assert.Equal(t, []string{fsmtest.CertificateID}, violators(t, h.f, "rule-env"), "mc-1 is in production, which the newer rule leaves out")
	assert.Equal(t, 2, h.prop.count(fsm.CommandReevaluatePolicies), "the stale batch, then the newer sweep's")
	sweep, err := h.f.PolicySweep()
	require.NoError(t, err)
	assert.Nil(t, sweep)
}
