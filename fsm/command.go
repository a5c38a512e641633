package fsm

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/certctl/certctl/api/wire"
)

// CommandType names a semantic command. Values are explicit, never reused and
// never renumbered: they are written in every node's raft log.
type CommandType uint16

const (
	CommandUnknown CommandType = 0

	CommandInitCluster      CommandType = 1
	CommandRegisterMember   CommandType = 2
	CommandRemoveMember     CommandType = 3
	CommandSetClusterCA     CommandType = 4
	CommandCreateJoinToken  CommandType = 5
	CommandRevokeJoinToken  CommandType = 6
	CommandConsumeJoinToken CommandType = 7
	CommandRecordNodeCert   CommandType = 8

	CommandCreateTeam          CommandType = 10
	CommandUpdateTeam          CommandType = 11
	CommandDeleteTeam          CommandType = 12
	CommandCreateOwner         CommandType = 13
	CommandUpdateOwner         CommandType = 14
	CommandDeleteOwner         CommandType = 15
	CommandCreateRenewalPolicy CommandType = 16
	CommandUpdateRenewalPolicy CommandType = 17
	CommandDeleteRenewalPolicy CommandType = 18
	CommandCreateIssuer        CommandType = 19
	CommandUpdateIssuer        CommandType = 20
	CommandDeleteIssuer        CommandType = 21
	CommandCreateTarget        CommandType = 22
	CommandUpdateTarget        CommandType = 23
	CommandDeleteTarget        CommandType = 24
	CommandCreatePolicyRule    CommandType = 25
	CommandUpdatePolicyRule    CommandType = 26
	CommandDeletePolicyRule    CommandType = 27

	CommandCreateCertificate    CommandType = 30
	CommandUpdateCertificate    CommandType = 31
	CommandArchiveCertificate   CommandType = 32
	CommandSetCertificateStatus CommandType = 33
	CommandMapTarget            CommandType = 34
	CommandUnmapTarget          CommandType = 35
	CommandRecordVersion        CommandType = 36

	CommandCreateJobs   CommandType = 40
	CommandClaimJob     CommandType = 41
	CommandCompleteJob  CommandType = 42
	CommandFailJob      CommandType = 43
	CommandCancelJob    CommandType = 44
	CommandAwaitCSR     CommandType = 45
	CommandReleaseLease CommandType = 46

	CommandRegisterAgent    CommandType = 50
	CommandRecordHeartbeats CommandType = 51
	CommandSetAgentStatus   CommandType = 52
	CommandRetireAgent      CommandType = 53

	CommandCreateNotifications    CommandType = 60
	CommandMarkNotificationSent   CommandType = 61
	CommandMarkNotificationFailed CommandType = 62
	CommandMarkNotificationRead   CommandType = 63

	CommandRecordViolations CommandType = 70

	CommandCreateAPIKey CommandType = 80
	CommandRevokeAPIKey CommandType = 81

	CommandRevokeCertificate CommandType = 90

	CommandSetIssuerMaterial CommandType = 100
)

var commandNames = map[CommandType]string{
	CommandInitCluster: "InitCluster", CommandRegisterMember: "RegisterMember", CommandRemoveMember: "RemoveMember",
	CommandSetClusterCA: "SetClusterCA", CommandCreateJoinToken: "CreateJoinToken", CommandRevokeJoinToken: "RevokeJoinToken",
	CommandConsumeJoinToken: "ConsumeJoinToken", CommandRecordNodeCert: "RecordNodeCert",
	CommandCreateTeam: "CreateTeam", CommandUpdateTeam: "UpdateTeam", CommandDeleteTeam: "DeleteTeam",
	CommandCreateOwner: "CreateOwner", CommandUpdateOwner: "UpdateOwner", CommandDeleteOwner: "DeleteOwner",
	CommandCreateRenewalPolicy: "CreateRenewalPolicy", CommandUpdateRenewalPolicy: "UpdateRenewalPolicy", CommandDeleteRenewalPolicy: "DeleteRenewalPolicy",
	CommandCreateIssuer: "CreateIssuer", CommandUpdateIssuer: "UpdateIssuer", CommandDeleteIssuer: "DeleteIssuer",
	CommandCreateTarget: "CreateTarget", CommandUpdateTarget: "UpdateTarget", CommandDeleteTarget: "DeleteTarget",
	CommandCreatePolicyRule: "CreatePolicyRule", CommandUpdatePolicyRule: "UpdatePolicyRule", CommandDeletePolicyRule: "DeletePolicyRule",
	CommandCreateCertificate: "CreateCertificate", CommandUpdateCertificate: "UpdateCertificate", CommandArchiveCertificate: "ArchiveCertificate",
	CommandSetCertificateStatus: "SetCertificateStatus", CommandMapTarget: "MapTarget", CommandUnmapTarget: "UnmapTarget", CommandRecordVersion: "RecordVersion",
	CommandCreateJobs: "CreateJobs", CommandClaimJob: "ClaimJob", CommandCompleteJob: "CompleteJob", CommandFailJob: "FailJob",
	CommandCancelJob: "CancelJob", CommandAwaitCSR: "AwaitCSR", CommandReleaseLease: "ReleaseLease",
	CommandRegisterAgent: "RegisterAgent", CommandRecordHeartbeats: "RecordHeartbeats", CommandSetAgentStatus: "SetAgentStatus", CommandRetireAgent: "RetireAgent",
	CommandCreateNotifications: "CreateNotifications", CommandMarkNotificationSent: "MarkNotificationSent",
	CommandMarkNotificationFailed: "MarkNotificationFailed", CommandMarkNotificationRead: "MarkNotificationRead",
	CommandRecordViolations: "RecordViolations",
	CommandCreateAPIKey:     "CreateAPIKey", CommandRevokeAPIKey: "RevokeAPIKey",
	CommandRevokeCertificate: "RevokeCertificate",
	CommandSetIssuerMaterial: "SetIssuerMaterial",
}

func (t CommandType) String() string {
	if n, ok := commandNames[t]; ok {
		return n
	}
	return fmt.Sprintf("CommandType(%d)", uint16(t))
}

// newPayload returns an empty payload for t, or nil for an unknown type.
func newPayload(t CommandType) Payload {
	switch t {
	case CommandInitCluster:
		return &InitCluster{}
	case CommandRegisterMember:
		return &RegisterMember{}
	case CommandRemoveMember:
		return &RemoveMember{}
	case CommandSetClusterCA:
		return &SetClusterCA{}
	case CommandCreateJoinToken:
		return &CreateJoinToken{}
	case CommandRevokeJoinToken:
		return &RevokeJoinToken{}
	case CommandConsumeJoinToken:
		return &ConsumeJoinToken{}
	case CommandRecordNodeCert:
		return &RecordNodeCert{}
	case CommandCreateTeam:
		return &CreateTeam{}
	case CommandUpdateTeam:
		return &UpdateTeam{}
	case CommandDeleteTeam:
		return &DeleteTeam{}
	case CommandCreateOwner:
		return &CreateOwner{}
	case CommandUpdateOwner:
		return &UpdateOwner{}
	case CommandDeleteOwner:
		return &DeleteOwner{}
	case CommandCreateRenewalPolicy:
		return &CreateRenewalPolicy{}
	case CommandUpdateRenewalPolicy:
		return &UpdateRenewalPolicy{}
	case CommandDeleteRenewalPolicy:
		return &DeleteRenewalPolicy{}
	case CommandCreateIssuer:
		return &CreateIssuer{}
	case CommandUpdateIssuer:
		return &UpdateIssuer{}
	case CommandDeleteIssuer:
		return &DeleteIssuer{}
	case CommandCreateTarget:
		return &CreateTarget{}
	case CommandUpdateTarget:
		return &UpdateTarget{}
	case CommandDeleteTarget:
		return &DeleteTarget{}
	case CommandCreatePolicyRule:
		return &CreatePolicyRule{}
	case CommandUpdatePolicyRule:
		return &UpdatePolicyRule{}
	case CommandDeletePolicyRule:
		return &DeletePolicyRule{}
	case CommandCreateCertificate:
		return &CreateCertificate{}
	case CommandUpdateCertificate:
		return &UpdateCertificate{}
	case CommandArchiveCertificate:
		return &ArchiveCertificate{}
	case CommandSetCertificateStatus:
		return &SetCertificateStatus{}
	case CommandMapTarget:
		return &MapTarget{}
	case CommandUnmapTarget:
		return &UnmapTarget{}
	case CommandRecordVersion:
		return &RecordVersion{}
	case CommandCreateJobs:
		return &CreateJobs{}
	case CommandClaimJob:
		return &ClaimJob{}
	case CommandCompleteJob:
		return &CompleteJob{}
	case CommandFailJob:
		return &FailJob{}
	case CommandCancelJob:
		return &CancelJob{}
	case CommandAwaitCSR:
		return &AwaitCSR{}
	case CommandReleaseLease:
		return &ReleaseLease{}
	case CommandRegisterAgent:
		return &RegisterAgent{}
	case CommandRecordHeartbeats:
		return &RecordHeartbeats{}
	case CommandSetAgentStatus:
		return &SetAgentStatus{}
	case CommandRetireAgent:
		return &RetireAgent{}
	case CommandCreateNotifications:
		return &CreateNotifications{}
	case CommandMarkNotificationSent:
		return &MarkNotificationSent{}
	case CommandMarkNotificationFailed:
		return &MarkNotificationFailed{}
	case CommandMarkNotificationRead:
		return &MarkNotificationRead{}
	case CommandRecordViolations:
		return &RecordViolations{}
	case CommandCreateAPIKey:
		return &CreateAPIKey{}
	case CommandRevokeAPIKey:
		return &RevokeAPIKey{}
	case CommandRevokeCertificate:
		return &RevokeCertificate{}
	case CommandSetIssuerMaterial:
		return &SetIssuerMaterial{}
	}
	return nil
}

// Payload is the body of a command. Validate checks everything that can be
// checked without state; the proposer calls it before proposing and Apply calls
// it again, so a malformed command never changes anything. apply must return any
// error before its first write: a batch shares one bbolt transaction, so a
// rejected command cannot be rolled back on its own.
type Payload interface {
	CommandType() CommandType
	Validate() error
	apply(t *txn) (any, error)
}

// Command is the envelope written to the raft log. Time, RequestID and every id
// inside the payload are fixed by the proposer, which keeps Apply deterministic.
type Command struct {
	Type      CommandType    `json:"type"`
	RequestID string         `json:"request_id,omitempty"`
	Time      time.Time      `json:"time"`
	Actor     string         `json:"actor"`
	ActorType wire.ActorType `json:"actor_type"`
	ActorRole string         `json:"actor_role,omitempty"`
	// Via is the node that authenticated Actor when the command reached the
	// leader from another node. The leader sets it from the sending node's
	// certificate, whatever the sender wrote.
	Via     string          `json:"via,omitempty"`
	Payload json.RawMessage `json:"payload"`
}

// Meta is what the proposer fixes about a command besides its payload.
// RequestID makes a retried command a no-op: give each logical write its own.
type Meta struct {
	RequestID string
	Time      time.Time
	Actor     string         // who acts: an API key's name, an agent id, "scheduler"
	ActorType wire.ActorType // User, System or Agent
	ActorRole string         // the acting key's role, if a key acted
}

// NewCommand validates p, applies CheckText to it, and wraps it in an
// envelope ready to propose.
func NewCommand(m Meta, p Payload) (*Command, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := CheckText(p); err != nil {
		return nil, err
	}
	if m.Time.IsZero() {
		return nil, invalidf("time", "command time is required")
	}
	if m.Actor == "" {
		m.Actor = "system"
	}
	if m.ActorType == "" {
		m.ActorType = ActorSystem
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("fsm: encode %s: %w", p.CommandType(), err)
	}
	return &Command{
		Type:      p.CommandType(),
		RequestID: m.RequestID,
		Time:      m.Time.UTC().Truncate(time.Microsecond), // PostgreSQL's precision, for export parity
		Actor:     m.Actor,
		ActorType: m.ActorType,
		ActorRole: m.ActorRole,
		Payload:   body,
	}, nil
}

// Encode returns the bytes to hand to raft.Apply.
func (c *Command) Encode() ([]byte, error) {
	return json.Marshal(c)
}

// DecodeCommand parses an entry of the raft log and its payload, and validates it.
func DecodeCommand(data []byte) (*Command, Payload, error) {
	var c Command
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, nil, invalidf("", "undecodable command: %v", err)
	}
	if c.Time.IsZero() {
		return &c, nil, invalidf("time", "command time is required")
	}
	p := newPayload(c.Type)
	if p == nil {
		return &c, nil, invalidf("type", "unknown command type %d", c.Type)
	}
	if err := json.Unmarshal(c.Payload, p); err != nil {
		return &c, nil, invalidf("payload", "undecodable %s payload: %v", c.Type, err)
	}
	if err := p.Validate(); err != nil {
		return &c, nil, err
	}
	return &c, p, nil
}

// ApplyResult is what Apply returns for each entry. Err holds a domain
// rejection (a *Error); raft's own errors come from the future, never here.
type ApplyResult struct {
	Value any
	Err   error
}
