package fsm

import (
	"encoding/hex"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/api/wire"
)

// checkText refuses, in the agent's name, hostname and version, what
// CheckText refuses.
func (a *Agent) checkText() error {
	return nameFields("name", a.Name, "hostname", a.Hostname, "version", a.Version)
}

func (a *Agent) validate() error {
	if err := ValidID("id", a.ID); err != nil {
		return err
	}
	if err := ValidText("name", a.Name, 128, true); err != nil {
		return err
	}
	if err := ValidText("hostname", a.Hostname, 253, true); err != nil {
		return err
	}
	if a.Status == "" {
		a.Status = AgentOffline
	}
	st, err := validEnum("status", a.Status, AgentStatuses, true)
	if err != nil {
		return err
	}
	a.Status = st
	if a.APIKeyHash != "" {
		if b, err := hex.DecodeString(a.APIKeyHash); err != nil || len(b) != 32 {
			return invalidf("api_key_hash", "api_key_hash must be a hex SHA-256")
		}
	}
	return ValidText("version", a.Version, 64, false)
}

type agentStore struct{ t *txn }

func (s agentStore) get(id string) (*Agent, error) {
	var a Agent
	found, err := getJSON(s.t.bucket(bucketAgents), []byte(id), &a)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound("agent", id)
	}
	return &a, nil
}

func (s agentStore) put(old, a *Agent) {
	putJSON(s.t.bucket(bucketAgents), []byte(a.ID), a)
	var oldStatus wire.AgentStatus
	if old == nil {
		s.t.addCount(1, string(bucketAgents))
	} else {
		oldStatus = old.Status
	}
	if oldStatus != a.Status {
		if oldStatus != "" {
			s.t.addCount(-1, string(bucketAgents), "status", string(oldStatus))
		}
		s.t.addCount(1, string(bucketAgents), "status", string(a.Status))
	}
}

// RegisterAgent adds an agent, and with Key its API key, in one step so an
// agent never exists without the key it was promised.
type RegisterAgent struct {
	Agent Agent   `json:"agent"`
	Key   *APIKey `json:"key,omitempty"`
}

func (RegisterAgent) CommandType() CommandType { return CommandRegisterAgent }
func (p *RegisterAgent) Validate() error {
	if err := p.Agent.validate(); err != nil {
		return err
	}
	if p.Key == nil {
		return nil
	}
	if p.Key.Role != RoleAgent || p.Key.AgentID != p.Agent.ID {
		return invalidf("key", "an agent's key has role agent and the agent's id")
	}
	return p.Key.validate()
}
func (p *RegisterAgent) checkText() error {
	if err := p.Agent.checkText(); err != nil {
		return err
	}
	if p.Key == nil {
		return nil
	}
	return p.Key.checkText()
}
func (p *RegisterAgent) apply(t *txn) (any, error) {
	a := p.Agent
	if t.exists(bucketAgents, a.ID) {
		return nil, conflictf("agent", a.ID, "agent %q already exists", a.ID)
	}
	if err := t.checkNameFree(bucketAgents, "agent", a.Name, a.ID); err != nil {
		return nil, err
	}
	if p.Key != nil {
		if err := checkKeyFree(t, p.Key); err != nil {
			return nil, err
		}
	}
	a.RegisteredAt, a.RetiredAt = t.now(), nil
	agentStore{t}.put(nil, &a)
	t.setName(bucketAgents, "", a.Name, a.ID)
	t.audit("agent_registered", "agent", a.ID, map[string]string{"name": a.Name, "hostname": a.Hostname})
	if p.Key != nil {
		k := *p.Key
		putKey(t, &k)
	}
	return a, nil
}

// Heartbeat is one agent's sign of life, as received by any node.
type Heartbeat struct {
	AgentID  string    `json:"agent_id"`
	At       time.Time `json:"at"`
	Version  string    `json:"version,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	// OS, Architecture and IPAddress, when set, replace the agent's
	// (entries written before they existed have none and change none).
	OS           string `json:"os,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	IPAddress    string `json:"ip_address,omitempty"`
}

// HeartbeatLimits are the longest values a heartbeat's text fields may
// hold, in bytes.
var HeartbeatLimits = map[string]int{"version": 64, "hostname": 253, "os": 64, "architecture": 64, "ip_address": 64}

// fields lists the beat's text fields with their values, in a fixed order.
func (b *Heartbeat) fields() [][2]string {
	return [][2]string{{"version", b.Version}, {"hostname", b.Hostname}, {"os", b.OS}, {"architecture", b.Architecture}, {"ip_address", b.IPAddress}}
}

// CheckHeartbeat checks one beat's text fields as RecordHeartbeats does:
// the API asks it of each beat before batching it, since one refused beat
// would fail the whole batch.
func CheckHeartbeat(b *Heartbeat) error {
	for _, f := range b.fields() {
		if err := ValidText(f[0], f[1], HeartbeatLimits[f[0]], false); err != nil {
			return err
		}
		if err := ValidNameChars(f[0], f[1]); err != nil {
			return err
		}
	}
	return nil
}

// RecordHeartbeats folds many heartbeats into one entry, so thousands of
// agents cost a few raft entries a second. Unknown and retired agents are
// skipped, not refused: one stale agent must not fail the batch.
type RecordHeartbeats struct {
	Beats []Heartbeat `json:"beats"`
}

func (RecordHeartbeats) CommandType() CommandType { return CommandRecordHeartbeats }
func (p *RecordHeartbeats) Validate() error {
	if len(p.Beats) == 0 || len(p.Beats) > 20_000 {
		return invalidf("beats", "between 1 and 20000 heartbeats are required")
	}
	for _, b := range p.Beats {
		if err := ValidID("agent_id", b.AgentID); err != nil {
			return err
		}
		if b.At.IsZero() {
			return invalidf("at", "heartbeat time is required")
		}
		for _, f := range b.fields() {
			if err := ValidText(f[0], f[1], HeartbeatLimits[f[0]], false); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkText checks every beat: the API checks each beat alone before it is
// batched, as one refused beat here would fail every other agent's.
func (p *RecordHeartbeats) checkText() error {
	for _, b := range p.Beats {
		for _, f := range b.fields() {
			if err := ValidNameChars(f[0], f[1]); err != nil {
				return err
			}
		}
	}
	return nil
}
func (p *RecordHeartbeats) apply(t *txn) (any, error) {
	s := agentStore{t}
	var recorded int
	var cameOnline []string
	for _, b := range p.Beats {
		old, err := s.get(b.AgentID)
		if err != nil || old.RetiredAt != nil {
			continue
		}
		a := *old
		if a.LastHeartbeatAt == nil || b.At.After(*a.LastHeartbeatAt) {
			at := b.At
			a.LastHeartbeatAt = &at
		}
		if b.Version != "" {
			a.Version = b.Version
		}
		if b.Hostname != "" {
			a.Hostname = b.Hostname
		}
		if b.OS != "" {
			a.OS = b.OS
		}
		if b.Architecture != "" {
			a.Architecture = b.Architecture
		}
		if b.IPAddress != "" {
			a.IPAddress = b.IPAddress
		}
		if a.Status != AgentOnline {
			cameOnline = append(cameOnline, a.ID)
		}
		a.Status = AgentOnline
		s.put(old, &a)
		recorded++
	}
	if recorded > 0 {
		t.audit("heartbeats_recorded", "agent", "", map[string]any{"count": recorded, "came_online": cameOnline})
	}
	return recorded, nil
}

// SetAgentStatus changes an agent's status; with From set, only while the
// status is still From.
type SetAgentStatus struct {
	AgentID string           `json:"agent_id"`
	Status  wire.AgentStatus `json:"status"`
	From    wire.AgentStatus `json:"from,omitempty"`
}

func (SetAgentStatus) CommandType() CommandType { return CommandSetAgentStatus }
func (p *SetAgentStatus) Validate() error {
	if err := ValidID("agent_id", p.AgentID); err != nil {
		return err
	}
	st, err := validEnum("status", p.Status, AgentStatuses, true)
	if err != nil {
		return err
	}
	p.Status = st
	p.From, err = validEnum("from", p.From, AgentStatuses, false)
	return err
}
func (p *SetAgentStatus) apply(t *txn) (any, error) {
	s := agentStore{t}
	old, err := s.get(p.AgentID)
	if err != nil {
		return nil, err
	}
	if old.RetiredAt != nil {
		return nil, statef("agent", old.ID, "agent %q is retired", old.ID)
	}
	if p.From != "" && old.Status != p.From {
		return nil, statef("agent", old.ID, "agent %q is %s, not %s", old.ID, old.Status, p.From)
	}
	if old.Status == p.Status {
		return nil, nil
	}
	a := *old
	a.Status = p.Status
	s.put(old, &a)
	t.audit("agent_status_changed", "agent", a.ID, map[string]string{"from": string(old.Status), "to": string(a.Status)})
	return nil, nil
}

// RetireAgent retires an agent: it is kept for history, its keys are revoked.
type RetireAgent struct {
	AgentID string `json:"agent_id"`
}

func (RetireAgent) CommandType() CommandType { return CommandRetireAgent }
func (p *RetireAgent) Validate() error       { return ValidID("agent_id", p.AgentID) }
func (p *RetireAgent) apply(t *txn) (any, error) {
	s := agentStore{t}
	old, err := s.get(p.AgentID)
	if err != nil {
		return nil, err
	}
	if old.RetiredAt != nil {
		return nil, nil
	}
	a, now := *old, t.now()
	a.RetiredAt, a.Status = &now, AgentOffline
	s.put(old, &a)
	t.audit("agent_retired", "agent", a.ID, nil)
	revokeAgentKeys(t, a.ID)
	return nil, nil
}

// Agent returns the agent with id.
func (f *FSM) Agent(id string) (*Agent, error) {
	var out *Agent
	err := f.view(func(tx *bolt.Tx) (err error) {
		out, err = agentStore{&txn{tx: tx}}.get(id)
		return err
	})
	return out, err
}

// AgentFilter selects agents; empty fields match everything.
type AgentFilter struct {
	Status  wire.AgentStatus
	Version string // exactly
	OS      string // exactly, any case
}

// Agents lists agents in id order.
func (f *FSM) Agents(flt AgentFilter, p Page) (List[Agent], error) {
	var match func(*Agent) bool
	if flt != (AgentFilter{}) {
		st, _ := AgentStatuses.Canonical(string(flt.Status))
		match = func(a *Agent) bool {
			return (st == "" || a.Status == st) && (flt.Version == "" || a.Version == flt.Version) &&
				(flt.OS == "" || strings.EqualFold(a.OS, flt.OS))
		}
	}
	var out List[Agent]
	err := f.view(func(tx *bolt.Tx) (err error) {
		out, err = scanBucket(tx, bucketAgents, p, match)
		return err
	})
	return out, err
}
