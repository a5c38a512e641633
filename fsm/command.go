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
	// The lifecycle's requests (requests.go).
	CommandRequestRenewal    CommandType = 47
	CommandRequestDeployment CommandType = 48
	CommandEndExpiryWatch    CommandType = 49

	CommandRegisterAgent    CommandType = 50
	CommandRecordHeartbeats CommandType = 51
	CommandSetAgentStatus   CommandType = 52
	CommandRetireAgent      CommandType = 53

	CommandCreateNotifications    CommandType = 60
	CommandMarkNotificationSent   CommandType = 61
	CommandMarkNotificationFailed CommandType = 62
	CommandMarkNotificationRead   CommandType = 63
	CommandRequeueNotification    CommandType = 64

	CommandRecordViolations CommandType = 70

	CommandCreateAPIKey CommandType = 80
	CommandRevokeAPIKey CommandType = 81

	CommandRevokeCertificate CommandType = 90
	CommandRequestRevocation CommandType = 91

	CommandSetIssuerMaterial CommandType = 100

	CommandPutACMEChallenge    CommandType = 101
	CommandDeleteACMEChallenge CommandType = 102
	// CommandConfirmACMEChallenge: an agent serves an HTTP-01 answer.
	CommandConfirmACMEChallenge CommandType = 103
	CommandSetRenewalInfo       CommandType = 104

	CommandReevaluatePolicies CommandType = 110

	CommandStartJob CommandType = 120

	// Imports from another system (imports.go); 130-139 are kept for them.
	CommandImportRecords CommandType = 130
)

// commandSpec registers one command: its type, the name String gives it,
// and a constructor of its empty payload for DecodeCommand. Its handler is
// the payload's apply method.
type commandSpec struct {
	typ  CommandType
	name string
	new  func() Payload
}

// commands is the one list of commands: adding a command is a constant
// above, its payload type, and one line here. TestCommands_Registered checks
// every constant is here exactly once, under its payload's own name.
var commands = []commandSpec{
	register[InitCluster](CommandInitCluster, "InitCluster"),
	register[RegisterMember](CommandRegisterMember, "RegisterMember"),
	register[RemoveMember](CommandRemoveMember, "RemoveMember"),
	register[SetClusterCA](CommandSetClusterCA, "SetClusterCA"),
	register[CreateJoinToken](CommandCreateJoinToken, "CreateJoinToken"),
	register[RevokeJoinToken](CommandRevokeJoinToken, "RevokeJoinToken"),
	register[ConsumeJoinToken](CommandConsumeJoinToken, "ConsumeJoinToken"),
	register[RecordNodeCert](CommandRecordNodeCert, "RecordNodeCert"),
	register[CreateTeam](CommandCreateTeam, "CreateTeam"),
	register[UpdateTeam](CommandUpdateTeam, "UpdateTeam"),
	register[DeleteTeam](CommandDeleteTeam, "DeleteTeam"),
	register[CreateOwner](CommandCreateOwner, "CreateOwner"),
	register[UpdateOwner](CommandUpdateOwner, "UpdateOwner"),
	register[DeleteOwner](CommandDeleteOwner, "DeleteOwner"),
	register[CreateRenewalPolicy](CommandCreateRenewalPolicy, "CreateRenewalPolicy"),
	register[UpdateRenewalPolicy](CommandUpdateRenewalPolicy, "UpdateRenewalPolicy"),
	register[DeleteRenewalPolicy](CommandDeleteRenewalPolicy, "DeleteRenewalPolicy"),
	register[CreateIssuer](CommandCreateIssuer, "CreateIssuer"),
	register[UpdateIssuer](CommandUpdateIssuer, "UpdateIssuer"),
	register[DeleteIssuer](CommandDeleteIssuer, "DeleteIssuer"),
	register[CreateTarget](CommandCreateTarget, "CreateTarget"),
	register[UpdateTarget](CommandUpdateTarget, "UpdateTarget"),
	register[DeleteTarget](CommandDeleteTarget, "DeleteTarget"),
	register[CreatePolicyRule](CommandCreatePolicyRule, "CreatePolicyRule"),
	register[UpdatePolicyRule](CommandUpdatePolicyRule, "UpdatePolicyRule"),
	register[DeletePolicyRule](CommandDeletePolicyRule, "DeletePolicyRule"),
	register[CreateCertificate](CommandCreateCertificate, "CreateCertificate"),
	register[UpdateCertificate](CommandUpdateCertificate, "UpdateCertificate"),
	register[ArchiveCertificate](CommandArchiveCertificate, "ArchiveCertificate"),
	register[SetCertificateStatus](CommandSetCertificateStatus, "SetCertificateStatus"),
	register[MapTarget](CommandMapTarget, "MapTarget"),
	register[UnmapTarget](CommandUnmapTarget, "UnmapTarget"),
	register[RecordVersion](CommandRecordVersion, "RecordVersion"),
	register[CreateJobs](CommandCreateJobs, "CreateJobs"),
	register[ClaimJob](CommandClaimJob, "ClaimJob"),
	register[CompleteJob](CommandCompleteJob, "CompleteJob"),
	register[FailJob](CommandFailJob, "FailJob"),
	register[CancelJob](CommandCancelJob, "CancelJob"),
	register[AwaitCSR](CommandAwaitCSR, "AwaitCSR"),
	register[ReleaseLease](CommandReleaseLease, "ReleaseLease"),
	register[RequestRenewal](CommandRequestRenewal, "RequestRenewal"),
	register[RequestDeployment](CommandRequestDeployment, "RequestDeployment"),
	register[EndExpiryWatch](CommandEndExpiryWatch, "EndExpiryWatch"),
	register[RegisterAgent](CommandRegisterAgent, "RegisterAgent"),
	register[RecordHeartbeats](CommandRecordHeartbeats, "RecordHeartbeats"),
	register[SetAgentStatus](CommandSetAgentStatus, "SetAgentStatus"),
	register[RetireAgent](CommandRetireAgent, "RetireAgent"),
	register[CreateNotifications](CommandCreateNotifications, "CreateNotifications"),
	register[MarkNotificationSent](CommandMarkNotificationSent, "MarkNotificationSent"),
	register[MarkNotificationFailed](CommandMarkNotificationFailed, "MarkNotificationFailed"),
	register[MarkNotificationRead](CommandMarkNotificationRead, "MarkNotificationRead"),
	register[RequeueNotification](CommandRequeueNotification, "RequeueNotification"),
	register[RecordViolations](CommandRecordViolations, "RecordViolations"),
	register[CreateAPIKey](CommandCreateAPIKey, "CreateAPIKey"),
	register[RevokeAPIKey](CommandRevokeAPIKey, "RevokeAPIKey"),
	register[RevokeCertificate](CommandRevokeCertificate, "RevokeCertificate"),
	register[RequestRevocation](CommandRequestRevocation, "RequestRevocation"),
	register[SetIssuerMaterial](CommandSetIssuerMaterial, "SetIssuerMaterial"),
	register[PutACMEChallenge](CommandPutACMEChallenge, "PutACMEChallenge"),
	register[DeleteACMEChallenge](CommandDeleteACMEChallenge, "DeleteACMEChallenge"),
	register[ConfirmACMEChallenge](CommandConfirmACMEChallenge, "ConfirmACMEChallenge"),
	register[SetRenewalInfo](CommandSetRenewalInfo, "SetRenewalInfo"),
	register[ReevaluatePolicies](CommandReevaluatePolicies, "ReevaluatePolicies"),
	register[StartJob](CommandStartJob, "StartJob"),
	register[ImportRecords](CommandImportRecords, "ImportRecords"),
}

// register makes the spec of a command whose payload is a *T.
func register[T any, P interface {
	*T
	Payload
}](typ CommandType, name string) commandSpec {
	return commandSpec{typ: typ, name: name, new: func() Payload { return P(new(T)) }}
}

// commandIndex finds a registered command by type.
var commandIndex = func() map[CommandType]commandSpec {
	m := make(map[CommandType]commandSpec, len(commands))
	for _, c := range commands {
		m[c.typ] = c
	}
	return m
}()

func (t CommandType) String() string {
	if c, ok := commandIndex[t]; ok {
		return c.name
	}
	return fmt.Sprintf("CommandType(%d)", uint16(t))
}

// newPayload returns an empty payload for t, or nil for an unknown type.
func newPayload(t CommandType) Payload {
	if c, ok := commandIndex[t]; ok {
		return c.new()
	}
	return nil
}

// Payload is the body of a command. Validate checks everything that can be
// checked without state; the proposer calls it before proposing and Apply calls
// it again, so a malformed command never changes anything. apply writes only
// through txn.bucket and must return any error, an *Error, before its first
// write: a batch shares one bbolt transaction, so a rejected command cannot be
// rolled back on its own (see runHandler for what a breach costs).
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
