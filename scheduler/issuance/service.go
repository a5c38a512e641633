package issuance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/fsm"
)

// ErrNoKEK reports a node without a key-encryption key asked for what
// exists only sealed under one: a Local CA's keys, a server-side key, an
// issuer's sealed secret. Its message names --kek-file.
var ErrNoKEK = keywrap.ErrNoKEK

// State is what the issuance service reads; *fsm.FSM satisfies it.
type State interface {
	AppliedIndex() uint64
	Issuer(id string) (*fsm.Issuer, error)
	IssuerMaterial(issuerID string) (json.RawMessage, error)
	Target(id string) (*fsm.Target, error)
	Revocations(issuerID string) ([]fsm.Revocation, error)
	CertificateVersion(id string) (*fsm.CertificateVersion, error)
	LatestCertificateVersion(certID string) (*fsm.CertificateVersion, error)
	ServerKey(certID string) (*fsm.ServerKey, error)
	Certificate(id string) (*fsm.Certificate, error)
	Job(id string) (*fsm.Job, error)
	// CheckPolicies is the refusal (fsm.CodePolicy) of issuing the
	// certificate as stored, or nil.
	CheckPolicies(certID string) error
}

var _ State = (*fsm.FSM)(nil)

// Proposer commits a command through raft; *node.Node satisfies it. A domain
// rejection comes back as an *fsm.Error.
type Proposer interface {
	Propose(ctx context.Context, cmd *fsm.Command) (uint64, error)
}

// Config configures a Service.
type Config struct {
	// NodeID names this node in the commands it proposes, as the
	// scheduler's lease holder "scheduler/<NodeID>".
	NodeID string
	// KEK is the key-encryption key server-side keys and issuers' secret
	// config fields are sealed under (keywrap.LoadKEK); the service keeps a
	// copy. Nil: such work fails with ErrNoKEK. (The connectors that seal
	// material of their own, the Local CA's, hold their own copy from cmd.)
	KEK []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand draws serials, ids and what material makers draw; nil means
	// crypto/rand.
	Rand   io.Reader
	Logger *slog.Logger
	// CRLBaseURL (e.g. http://10.0.0.1:8443) is where every node serves
	// issuers' CRLs, at <CRLBaseURL>/.well-known/pki/crl/<id>: it is handed
	// to each connector as issuer.Stored.CRLURL (a Local CA whose config
	// names no crl_url puts it in its leaves); empty hands none.
	CRLBaseURL string
}

// Service issues certificates through the issuer connectors of its
// registry: it is the scheduler's Issuance for Issuance and Renewal jobs,
// signs the CSRs agents send for them, opens server-side keys for their
// agents, and serves the CRL and CA chain of the issuers that have them
// (issuer.CRLSigner, issuer.ChainProvider). It makes, once, the material
// of an issuer whose type has an issuer.MaterialMaker. It knows no
// connector by name. It is safe for concurrent use.
type Service struct {
	cfg      Config
	state    State
	proposer Proposer
	registry *issuer.Registry
	log      *slog.Logger

	mu       sync.Mutex
	crls     map[string]cachedCRL // by issuer id
	rootCRLs map[string]cachedCRL // by issuer id
}

// New returns the issuance service, building issuers through registry
// (cmd's, built once).
func New(cfg Config, registry *issuer.Registry, state State, proposer Proposer) (*Service, error) {
	if registry == nil || state == nil || proposer == nil {
		return nil, errors.New("issuance: the service needs an issuer registry, state and a proposer")
	}
	if cfg.NodeID == "" {
		return nil, errors.New("issuance: the service needs the node id")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.KEK = bytes.Clone(cfg.KEK) // the caller may clear its copy
	return &Service{cfg: cfg, state: state, proposer: proposer, registry: registry,
		log: cfg.Logger.With("component", "issuance"), crls: map[string]cachedCRL{}, rootCRLs: map[string]cachedCRL{}}, nil
}

// build builds the connector of issuer id from its stored record: config
// (secrets opened), material, and the CRL address this node serves. With
// create, an issuer of a type with a MaterialMaker and no material yet has
// it made first: proposed once, and whatever the state holds afterwards
// (another node's, should two race) is used. Without, such an issuer is
// not found: the public PKI endpoints never write.
func (s *Service) build(ctx context.Context, issuerID string, create bool) (issuer.Issuer, *fsm.Issuer, error) {
	rec, err := s.state.Issuer(issuerID)
	if err != nil {
		return nil, nil, err
	}
	config, err := s.openIssuerConfig(rec)
	if err != nil {
		return nil, nil, err
	}
	stored := issuer.Stored{ID: rec.ID, Config: config}
	if s.cfg.CRLBaseURL != "" {
		stored.CRLURL = strings.TrimRight(s.cfg.CRLBaseURL, "/") + "/.well-known/pki/crl/" + rec.ID
	}
	if stored.Material, err = s.material(rec.ID); err != nil {
		return nil, nil, err
	}
	iss, err := s.registry.Build(ctx, string(rec.Type), stored)
	if errors.Is(err, issuer.ErrNoMaterial) && !create {
		return nil, nil, &fsm.Error{Code: fsm.CodeNotFound, Resource: "issuer", ID: rec.ID,
			Message: "issuer " + rec.ID + " has not made its CA yet: it does on its first issuance or test"}
	}
	if errors.Is(err, issuer.ErrNoMaterial) {
		if err = s.makeMaterial(ctx, rec, stored); err != nil {
			return nil, nil, err
		}
		if stored.Material, err = s.material(rec.ID); err != nil {
			return nil, nil, err
		}
		iss, err = s.registry.Build(ctx, string(rec.Type), stored)
	}
	if err != nil {
		return nil, nil, err
	}
	return iss, rec, nil
}

// material is the stored material of issuer id, nil when there is none.
func (s *Service) material(issuerID string) (json.RawMessage, error) {
	raw, err := s.state.IssuerMaterial(issuerID)
	if errors.Is(err, fsm.ErrNotFound) {
		return nil, nil
	}
	return raw, err
}

// makeMaterial makes the material of rec with its type's MaterialMaker and
// proposes it. A conflict means another node stored its own first; that
// one is used.
func (s *Service) makeMaterial(ctx context.Context, rec *fsm.Issuer, stored issuer.Stored) error {
	maker, ok := s.registry.MaterialMaker(string(rec.Type))
	if !ok {
		return fmt.Errorf("issuance: issuer %s (%s) needs material its connector cannot make", rec.ID, rec.Type)
	}
	now := s.cfg.Now()
	m, err := maker.MakeMaterial(ctx, stored, now, s.cfg.Rand)
	if err != nil {
		return fmt.Errorf("issuance: make the material of issuer %s: %w", rec.ID, err)
	}
	err = s.propose(ctx, now, "issuer-material/"+rec.ID+"/"+m.KEKID, s.actor(), &fsm.SetIssuerMaterial{IssuerID: rec.ID, Material: m.Data})
	switch {
	case errors.Is(err, fsm.ErrConflict):
		s.log.Info("another node made the issuer's material first; using its", "issuer", rec.ID, "type", rec.Type)
	case err != nil:
		return fmt.Errorf("issuance: store the material of issuer %q: %w", rec.ID, err)
	default:
		s.log.Info("issuer material made", "issuer", rec.ID, "type", rec.Type, "made", m.Summary, "kek_id", m.KEKID)
	}
	return nil
}

// Issue works an Issuance or Renewal job. With the default agent-side key
// flow the job is handed to the agent serving one of the certificate's
// targets: AwaitCSR binds it to that agent, whose CSR (SignCSR) completes
// it. A certificate with a server-side key is issued here
// (issueServerKey). The issuer is built first, so a CA that cannot sign (no
// KEK, a bad config) fails the attempt here instead of after the agent's
// work.
func (s *Service) Issue(ctx context.Context, job fsm.Job, cert fsm.Certificate) error {
	if job.Type != fsm.JobIssuance && job.Type != fsm.JobRenewal {
		return fmt.Errorf("issuance: job %s is a %s job, not an issuance or renewal", job.ID, job.Type)
	}
	// Asked again here, so that no path reaches an issuer with a
	// certificate a policy rule of severity Error refuses.
	if err := s.state.CheckPolicies(cert.ID); err != nil {
		return err
	}
	if err := s.issuerEnabled(cert.IssuerID); err != nil {
		return err
	}
	if strings.EqualFold(string(cert.KeyGeneration), "server") {
		return s.issueServerKey(ctx, job, cert)
	}
	if _, _, err := s.build(ctx, cert.IssuerID, true); err != nil {
		return err // the registry's error names the issuer
	}
	agentID := job.AgentID
	if agentID == "" {
		var err error
		if agentID, err = s.agentOf(&cert); err != nil {
			return err
		}
	}
	err := s.propose(ctx, s.cfg.Now(), jobRequest(job.ID, started(&job), "await-csr"), s.actor(),
		&fsm.AwaitCSR{JobID: job.ID, Holder: job.LeaseHolder, AgentID: agentID})
	if err != nil {
		return fmt.Errorf("issuance: hand job %s to agent %s: %w", job.ID, agentID, err)
	}
	s.log.Info("job waits for its agent's CSR", "job", job.ID, "certificate", cert.ID, "agent", agentID)
	return nil
}

// issuerEnabled refuses, for good, work for a disabled issuer: it is not
// asked (an ACME issuer of the demo data would try a CA on the internet),
// and the job fails once saying how to enable it.
func (s *Service) issuerEnabled(id string) error {
	rec, err := s.state.Issuer(id)
	if err != nil {
		return err
	}
	if !rec.Enabled {
		return &issuer.RequestError{Field: "issuer_id", Reason: fmt.Sprintf(
			"issuer %s (%s) is disabled, so it issues nothing: enable it (PUT /api/v1/issuers/%s with \"enabled\": true) or move the certificate to another issuer, then renew", rec.ID, rec.Type, rec.ID)}
	}
	return nil
}

// agentOf returns the agent serving the first of cert's targets that has one.
func (s *Service) agentOf(cert *fsm.Certificate) (string, error) {
	for _, tid := range cert.TargetIDs {
		t, err := s.state.Target(tid)
		if errors.Is(err, fsm.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		if t.AgentID != "" {
			return t.AgentID, nil
		}
	}
	return "", fmt.Errorf("issuance: certificate %s is mapped to no target served by an agent: its key is made by an agent, so map it to one (target_ids)", cert.ID)
}

// SignCSR signs an agent's CSR for job, an AwaitingCSR Issuance or Renewal
// job of cert bound to the agent: the serial is drawn before anything is
// proposed, the certificate recorded as a new version, the job completed by
// the agent, and a Deployment job queued per target of cert. A CSR or
// request the issuer refuses comes back as an *fsm.Error with CodeInvalid.
func (s *Service) SignCSR(ctx context.Context, agentID string, job fsm.Job, cert fsm.Certificate, csrPEM string) error {
	if job.AgentID != agentID || job.Status != fsm.JobAwaitingCSR {
		return &fsm.Error{Code: fsm.CodeState, Resource: "job", ID: job.ID, Message: "job " + job.ID + " is not waiting for a CSR from agent " + agentID}
	}
	if r := fsm.WorkRefusal(&cert, "issued"); r != nil {
		return r
	}
	if err := csrKeyTypeMatches(csrPEM, cert); err != nil {
		return err
	}
	switch err := s.state.CheckPolicies(cert.ID); {
	case errors.Is(err, fsm.ErrPolicy):
		return s.refuseCSR(ctx, agentID, job, err)
	case err != nil:
		return err
	}
	iss, _, err := s.build(ctx, cert.IssuerID, true)
	if err != nil {
		return err // the registry's error names the issuer
	}
	serial, err := issuer.NewSerial(s.cfg.Rand)
	if err != nil {
		return err
	}
	res, err := s.order(ctx, iss, job, cert, issuer.IssuanceRequest{CommonName: cert.CommonName, SANs: cert.SANs, CSRPEM: csrPEM, Serial: serial, CertificateID: cert.ID})
	var caErr *issuer.CAError
	if errors.As(err, &caErr) {
		// The CA's own answer goes on the job: retried later or failed
		// for good, never asked of the agent again at once.
		return s.caFailed(ctx, agentID, job, caErr)
	}
	if errors.Is(err, issuer.ErrInvalidCSR) || errors.Is(err, issuer.ErrInvalidRequest) {
		return &fsm.Error{Code: fsm.CodeInvalid, Field: "csr_pem", Message: err.Error()}
	}
	if err != nil {
		return err // the connector's own error; the caller names the issuer
	}
	actor := fsm.Meta{Actor: agentID, ActorType: fsm.ActorAgent, ActorRole: fsm.RoleAgent}
	version := fsm.CertificateVersion{ID: s.newID("cv-"), CertificateID: cert.ID, SerialNumber: res.SerialNumber,
		NotBefore: res.NotBefore, NotAfter: res.NotAfter, FingerprintSHA256: res.FingerprintSHA256,
		PEMChain: res.CertPEM + res.ChainPEM, CSRPEM: csrPEM}
	version.DescribeKey()
	now := s.cfg.Now()
	base := "csr/" + job.ID + "/" + res.SerialNumber + "/"
	err = s.propose(ctx, now, base+"version", actor, &fsm.RecordVersion{Version: version})
	if errors.Is(err, fsm.ErrPolicy) {
		// A rule that arrived while the issuer signed: the certificate is
		// thrown away, never recorded nor deployed.
		return s.refuseCSR(ctx, agentID, job, err)
	}
	if err != nil {
		return fmt.Errorf("issuance: record certificate %s's new version: %w", cert.ID, err)
	}
	if err := s.propose(ctx, now, base+"complete", actor, &fsm.CompleteJob{JobID: job.ID, AgentID: agentID}); err != nil {
		return fmt.Errorf("issuance: complete job %s: %w", job.ID, err)
	}
	var deploys []fsm.Job
	for _, tid := range cert.TargetIDs {
		t, err := s.state.Target(tid)
		if errors.Is(err, fsm.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		deploys = append(deploys, fsm.Job{ID: s.newID("job-"), Type: fsm.JobDeployment, CertificateID: cert.ID, TargetID: t.ID, AgentID: t.AgentID})
	}
	if len(deploys) > 0 {
		if err := s.propose(ctx, now, base+"deploy", actor, &fsm.CreateJobs{Jobs: deploys}); err != nil {
			return fmt.Errorf("issuance: queue the deployment of certificate %s: %w", cert.ID, err)
		}
	}
	s.log.Info("certificate issued from an agent's CSR", "certificate", cert.ID, "job", job.ID, "agent", agentID,
		"serial", res.SerialNumber, "not_after", res.NotAfter, "deployments", len(deploys))
	return nil
}

// refuseCSR answers an agent's CSR for a certificate that a policy rule of
// severity Error refuses: the job fails for good and the certificate is
// Failed, both with refusal's message naming the rule, so the agent is not
// asked for a CSR the cluster will never sign. It returns refusal (an
// *fsm.Error with CodePolicy).
func (s *Service) refuseCSR(ctx context.Context, agentID string, job fsm.Job, refusal error) error {
	now := s.cfg.Now()
	reason := fsm.CleanText(refusal.Error(), 2048)
	base := "csr/" + job.ID + "/refused/"
	err := s.propose(ctx, now, base+"fail", s.actor(), &fsm.FailJob{JobID: job.ID, AgentID: agentID, Error: reason})
	if err != nil && !rejected(err) {
		return fmt.Errorf("issuance: fail job %s: %w", job.ID, err)
	}
	if cur, err := s.state.Certificate(job.CertificateID); err == nil && fsm.MayGetWork(cur.Status) {
		why := fsm.CleanText("issuance refused: "+refusal.Error(), 4096)
		err = s.propose(ctx, now, base+"certificate-failed", s.actor(),
			&fsm.SetCertificateStatus{ID: cur.ID, Status: fsm.CertFailed, From: cur.Status, Reason: why})
		if err != nil && !rejected(err) {
			return fmt.Errorf("issuance: mark certificate %s Failed: %w", cur.ID, err)
		}
	}
	s.log.Warn("CSR refused by a policy rule; job failed", "job", job.ID, "certificate", job.CertificateID, "agent", agentID, "err", refusal)
	return refusal
}

// TestIssuer checks that rec's connector can be built: for the Local CA,
// that its CA exists (made now if not) and opens with this node's KEK.
func (s *Service) TestIssuer(ctx context.Context, rec *fsm.Issuer) error {
	_, _, err := s.build(ctx, rec.ID, true)
	return err
}

// actor is who the service's own commands are by: the node's scheduler,
// under the name its job leases carry.
func (s *Service) actor() fsm.Meta {
	return fsm.Meta{Actor: "scheduler/" + s.cfg.NodeID, ActorType: fsm.ActorSystem}
}

// propose commits p with the request id and actor given.
func (s *Service) propose(ctx context.Context, now time.Time, requestID string, who fsm.Meta, p fsm.Payload) error {
	who.RequestID, who.Time = requestID, now
	cmd, err := fsm.NewCommand(who, p)
	if err != nil {
		return err
	}
	_, err = s.proposer.Propose(ctx, cmd)
	return err
}

// newID is prefix and 16 random hex digits.
func (s *Service) newID(prefix string) string {
	var b [8]byte
	if _, err := io.ReadFull(s.cfg.Rand, b[:]); err != nil {
		_, _ = rand.Read(b[:])
	}
	return prefix + hex.EncodeToString(b[:])
}

// csrKeyTypeMatches refuses a CSR whose key is not of the certificate's
// key_type, when it names one: an agent that made another kind of key (an
// old agent that only makes P-256) must not quietly weaken or change it.
func csrKeyTypeMatches(csrPEM string, cert fsm.Certificate) error {
	if cert.KeyType == "" {
		return nil
	}
	csr, err := issuer.ParseCSR(csrPEM)
	if err != nil {
		return &fsm.Error{Code: fsm.CodeInvalid, Field: "csr_pem", Message: err.Error()}
	}
	got, err := issuer.KeyTypeOf(csr.PublicKey)
	if err != nil {
		return &fsm.Error{Code: fsm.CodeInvalid, Field: "csr_pem", Message: err.Error()}
	}
	if !strings.EqualFold(string(got), string(cert.KeyType)) {
		return &fsm.Error{Code: fsm.CodeInvalid, Field: "csr_pem", Message: fmt.Sprintf(
			"the CSR's key is %s but certificate %s asks for key_type %s: make a %s key", got, cert.ID, cert.KeyType, cert.KeyType)}
	}
	return nil
}

// jobRequest is the request id of a step of the attempt of job started
// (claimed) at started: the scheduler's scheme, so a step retried after a
// lost leadership is the same request.
func jobRequest(jobID string, started time.Time, what string) string {
	return fmt.Sprintf("jobs/%s/%d/%s", jobID, started.UnixNano(), what)
}

// started is when the current attempt of a claimed job began.
func started(job *fsm.Job) time.Time {
	if job.StartedAt != nil {
		return *job.StartedAt
	}
	return time.Time{}
}

// rejected reports whether err is a domain rejection: the command was
// applied and changed nothing (the state moved on since it was read).
func rejected(err error) bool {
	var e *fsm.Error
	return errors.As(err, &e)
}
