package scheduler

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
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/issuer/localca"
	"github.com/certctl/certctl/fsm"
)

// ErrNoKEK reports a node without a key-encryption key asked to use the
// Local CA, whose keys exist only sealed under that key.
var ErrNoKEK = errors.New("scheduler: no key-encryption key on this node: the Local CA needs one; start certctl server with --kek-file (config kek_file, env CERTCTL_KEK_FILE), the same file on every node")

// CRLValidity is how long a CRL served by IssuanceService.CRL is valid; a
// cached CRL is signed again once half of it has passed.
const CRLValidity = 7 * 24 * time.Hour

// IssuanceState is what the issuance service reads; *fsm.FSM satisfies it.
type IssuanceState interface {
	AppliedIndex() uint64
	Issuer(id string) (*fsm.Issuer, error)
	IssuerMaterial(issuerID string) (json.RawMessage, error)
	Target(id string) (*fsm.Target, error)
	Revocations(issuerID string) ([]fsm.Revocation, error)
	CertificateVersion(id string) (*fsm.CertificateVersion, error)
	ServerKey(certID string) (*fsm.ServerKey, error)
	Certificate(id string) (*fsm.Certificate, error)
	// CheckPolicies is the refusal (fsm.CodePolicy) of issuing the
	// certificate as stored, or nil.
	CheckPolicies(certID string) error
}

var _ IssuanceState = (*fsm.FSM)(nil)

// IssuanceConfig configures an IssuanceService.
type IssuanceConfig struct {
	// NodeID names this node in the commands it proposes.
	NodeID string
	// KEK is the key-encryption key the Local CA's keys are sealed under
	// (keywrap.LoadKEK); the service keeps a copy. Nil: the Local CA fails
	// with ErrNoKEK.
	KEK []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand draws serials, ids and CA keys' serials; nil means crypto/rand.
	Rand   io.Reader
	Logger *slog.Logger
	// CRLBaseURL (e.g. http://10.0.0.1:8443) gives a Local CA whose config
	// names no crl_url the distribution point <CRLBaseURL>/.well-known/pki/crl/<id>,
	// served by every node; empty leaves such leaves without one.
	CRLBaseURL string
}

// IssuanceService issues certificates through the issuer connectors: it
// is the scheduler's Issuance for Issuance and Renewal jobs, signs the CSRs
// agents send for them, and serves the Local CA's CRL and chain. It is safe
// for concurrent use.
type IssuanceService struct {
	cfg      IssuanceConfig
	state    IssuanceState
	proposer Proposer
	registry *issuer.Registry
	log      *slog.Logger

	mu   sync.Mutex
	crls map[string]cachedCRL // by issuer id
}

type cachedCRL struct {
	revocations int
	thisUpdate  time.Time
	der         []byte
}

var _ Issuance = (*IssuanceService)(nil)

// NewIssuanceService returns the issuance service, with the Local CA
// registered under its type.
func NewIssuanceService(cfg IssuanceConfig, state IssuanceState, proposer Proposer) (*IssuanceService, error) {
	if state == nil || proposer == nil {
		return nil, errors.New("scheduler: issuance needs state and a proposer")
	}
	if cfg.NodeID == "" {
		return nil, errors.New("scheduler: issuance needs the node id")
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
	s := &IssuanceService{cfg: cfg, state: state, proposer: proposer, registry: issuer.NewRegistry(),
		log: cfg.Logger.With("component", "issuance"), crls: map[string]cachedCRL{}}
	kek := cfg.KEK
	build := localca.Constructor(s.material, kek, localca.WithClock(cfg.Now))
	err := s.registry.Register(localca.Type, func(ctx context.Context, id string, config json.RawMessage) (issuer.Issuer, error) {
		if len(kek) == 0 {
			return nil, ErrNoKEK
		}
		return build(ctx, id, config)
	}, localca.ValidateConfig)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Registry is the service's issuer registry, for validating configs.
func (s *IssuanceService) Registry() *issuer.Registry { return s.registry }

// material is the Local CA's MaterialFunc: the stored material, nil when
// none has been made yet.
func (s *IssuanceService) material(_ context.Context, issuerID string) (*localca.CAMaterial, error) {
	raw, err := s.state.IssuerMaterial(issuerID)
	if errors.Is(err, fsm.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m localca.CAMaterial
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("scheduler: stored CA material of issuer %q is unreadable: %w", issuerID, err)
	}
	return &m, nil
}

// build builds the connector of issuer id. With create, a Local CA without
// material has its CA made first: its material is proposed once, and
// whatever the state holds afterwards (another node's, should two race) is
// used. Without, such an issuer is not found: the public PKI endpoints
// never write.
func (s *IssuanceService) build(ctx context.Context, issuerID string, create bool) (issuer.Issuer, *fsm.Issuer, error) {
	rec, err := s.state.Issuer(issuerID)
	if err != nil {
		return nil, nil, err
	}
	config, err := s.openIssuerConfig(rec)
	if err != nil {
		return nil, nil, err
	}
	config = s.withCRLURL(string(rec.Type), rec.ID, config)
	iss, err := s.registry.Build(ctx, rec.ID, string(rec.Type), config)
	if errors.Is(err, localca.ErrNoMaterial) && !create {
		return nil, nil, &fsm.Error{Code: fsm.CodeNotFound, Resource: "issuer", ID: rec.ID,
			Message: "issuer " + rec.ID + " has not made its CA yet: it does on its first issuance or test"}
	}
	if errors.Is(err, localca.ErrNoMaterial) {
		if err = s.makeCA(ctx, rec); err != nil {
			return nil, nil, err
		}
		iss, err = s.registry.Build(ctx, rec.ID, string(rec.Type), config)
	}
	if err != nil {
		return nil, nil, err
	}
	return iss, rec, nil
}

// withCRLURL returns config, that of issuer id of type typ, with the
// default CRL distribution point filled in for a Local CA that names none.
func (s *IssuanceService) withCRLURL(typ, id string, config json.RawMessage) json.RawMessage {
	if s.cfg.CRLBaseURL == "" || !strings.EqualFold(typ, localca.Type) {
		return config
	}
	var m map[string]any
	if json.Unmarshal(config, &m) != nil {
		return config // the connector says what is wrong with it
	}
	if m == nil {
		m = map[string]any{}
	}
	if u, _ := m["crl_url"].(string); u != "" {
		return config
	}
	m["crl_url"] = strings.TrimRight(s.cfg.CRLBaseURL, "/") + "/.well-known/pki/crl/" + id
	out, err := json.Marshal(m)
	if err != nil {
		return config
	}
	return out
}

// makeCA makes the Local CA of rec and proposes its material. A conflict
// means another node stored its own first; that one is used.
func (s *IssuanceService) makeCA(ctx context.Context, rec *fsm.Issuer) error {
	cfg, err := localca.ParseConfig(rec.Config)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	cfg.ID = rec.ID
	m, err := localca.NewCAFor(cfg, s.cfg.KEK, now, s.cfg.Rand)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	err = s.propose(ctx, now, "issuer-material/"+rec.ID+"/"+m.KEKID, s.actor(), &fsm.SetIssuerMaterial{IssuerID: rec.ID, Material: raw})
	switch {
	case errors.Is(err, fsm.ErrConflict):
		s.log.Info("another node made the Local CA first; using its", "issuer", rec.ID)
	case err != nil:
		return fmt.Errorf("scheduler: store the CA of issuer %q: %w", rec.ID, err)
	default:
		s.log.Info("Local CA made", "issuer", rec.ID, "key_type", m.KeyType, "kek_id", m.KEKID)
	}
	return nil
}

// Issue works an Issuance or Renewal job. With the default agent-side key
// flow the job is handed to the agent serving one of the certificate's
// targets: AwaitCSR binds it to that agent, whose CSR (SignCSR) completes
// it. A certificate with a server-side key is issued here (issueServerKey). The issuer is built first, so a CA that cannot sign (no KEK, a bad
// config) fails the attempt here instead of after the agent's work.
func (s *IssuanceService) Issue(ctx context.Context, job fsm.Job, cert fsm.Certificate) error {
	if job.Type != fsm.JobIssuance && job.Type != fsm.JobRenewal {
		return fmt.Errorf("scheduler: job %s is a %s job, not an issuance or renewal", job.ID, job.Type)
	}
	// Asked again here, so that no path reaches an issuer with a
	// certificate a policy rule of severity Error refuses.
	if err := s.state.CheckPolicies(cert.ID); err != nil {
		return err
	}
	if strings.EqualFold(string(cert.KeyGeneration), string(wire.KeyGenerationServer)) {
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
		return fmt.Errorf("scheduler: hand job %s to agent %s: %w", job.ID, agentID, err)
	}
	s.log.Info("job waits for its agent's CSR", "job", job.ID, "certificate", cert.ID, "agent", agentID)
	return nil
}

// agentOf returns the agent serving the first of cert's targets that has one.
func (s *IssuanceService) agentOf(cert *fsm.Certificate) (string, error) {
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
	return "", fmt.Errorf("scheduler: certificate %s is mapped to no target served by an agent: its key is made by an agent, so map it to one (target_ids)", cert.ID)
}

// SignCSR signs an agent's CSR for job, an AwaitingCSR Issuance or Renewal
// job of cert bound to the agent: the serial is drawn before anything is
// proposed, the certificate recorded as a new version, the job completed by
// the agent, and a Deployment job queued per target of cert. A CSR or
// request the issuer refuses comes back as an *fsm.Error with CodeInvalid.
func (s *IssuanceService) SignCSR(ctx context.Context, agentID string, job fsm.Job, cert fsm.Certificate, csrPEM string) error {
	if job.AgentID != agentID || job.Status != fsm.JobAwaitingCSR {
		return &fsm.Error{Code: fsm.CodeState, Resource: "job", ID: job.ID, Message: "job " + job.ID + " is not waiting for a CSR from agent " + agentID}
	}
	if cert.Status == fsm.CertArchived || cert.Status == fsm.CertRevoked {
		return &fsm.Error{Code: fsm.CodeState, Resource: "certificate", ID: cert.ID, Message: "certificate " + cert.ID + " is " + string(cert.Status) + " and cannot be issued"}
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
	res, err := iss.IssueCertificate(ctx, issuer.IssuanceRequest{CommonName: cert.CommonName, SANs: cert.SANs, CSRPEM: csrPEM, Serial: serial})
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
	now := s.cfg.Now()
	base := "csr/" + job.ID + "/" + res.SerialNumber + "/"
	err = s.propose(ctx, now, base+"version", actor, &fsm.RecordVersion{Version: version})
	if errors.Is(err, fsm.ErrPolicy) {
		// A rule that arrived while the issuer signed: the certificate is
		// thrown away, never recorded nor deployed.
		return s.refuseCSR(ctx, agentID, job, err)
	}
	if err != nil {
		return fmt.Errorf("scheduler: record certificate %s's new version: %w", cert.ID, err)
	}
	if err := s.propose(ctx, now, base+"complete", actor, &fsm.CompleteJob{JobID: job.ID, AgentID: agentID}); err != nil {
		return fmt.Errorf("scheduler: complete job %s: %w", job.ID, err)
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
			return fmt.Errorf("scheduler: queue the deployment of certificate %s: %w", cert.ID, err)
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
func (s *IssuanceService) refuseCSR(ctx context.Context, agentID string, job fsm.Job, refusal error) error {
	now := s.cfg.Now()
	reason := clean(refusal.Error(), 2048)
	base := "csr/" + job.ID + "/refused/"
	err := s.propose(ctx, now, base+"fail", s.actor(), &fsm.FailJob{JobID: job.ID, AgentID: agentID, Error: reason})
	if err != nil && !rejected(err) {
		return fmt.Errorf("scheduler: fail job %s: %w", job.ID, err)
	}
	if cur, err := s.state.Certificate(job.CertificateID); err == nil && cur.Status != fsm.CertArchived && cur.Status != fsm.CertRevoked {
		why := clean("issuance refused: "+refusal.Error(), 4096)
		err = s.propose(ctx, now, base+"certificate-failed", s.actor(),
			&fsm.SetCertificateStatus{ID: cur.ID, Status: fsm.CertFailed, From: cur.Status, Reason: why})
		if err != nil && !rejected(err) {
			return fmt.Errorf("scheduler: mark certificate %s Failed: %w", cur.ID, err)
		}
	}
	s.log.Warn("CSR refused by a policy rule; job failed", "job", job.ID, "certificate", job.CertificateID, "agent", agentID, "err", refusal)
	return refusal
}

// TestIssuer checks that rec's connector can be built: for the Local CA,
// that its CA exists (made now if not) and opens with this node's KEK.
func (s *IssuanceService) TestIssuer(ctx context.Context, rec *fsm.Issuer) error {
	_, _, err := s.build(ctx, rec.ID, true)
	return err
}

// CRL returns issuer issuerID's current CRL (DER), listing every serial
// revoked in the state. It is signed again when a revocation arrives or
// half of its CRLValidity has passed; its number is the raft index it
// reflects, which only grows.
func (s *IssuanceService) CRL(ctx context.Context, issuerID string) ([]byte, error) {
	revs, err := s.state.Revocations(issuerID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	s.mu.Lock()
	c, ok := s.crls[issuerID]
	s.mu.Unlock()
	if ok && c.revocations == len(revs) && now.Sub(c.thisUpdate) < CRLValidity/2 {
		return c.der, nil
	}
	iss, rec, err := s.build(ctx, issuerID, false)
	if err != nil {
		return nil, err
	}
	signer, ok := iss.(issuer.CRLSigner)
	if !ok {
		return nil, &fsm.Error{Code: fsm.CodeState, Resource: "issuer", ID: rec.ID, Message: "issuer " + rec.ID + " (" + string(rec.Type) + ") does not sign its own CRL"}
	}
	list := make([]issuer.RevokedSerial, 0, len(revs))
	for _, r := range revs {
		serial, err := issuer.ParseSerial(r.SerialNumber)
		if err != nil {
			return nil, fmt.Errorf("scheduler: revoked serial %q of issuer %s: %w", r.SerialNumber, issuerID, err)
		}
		reason, err := issuer.ParseReason(r.Reason)
		if err != nil {
			reason = issuer.ReasonUnspecified
		}
		list = append(list, issuer.RevokedSerial{Serial: serial, RevokedAt: r.RevokedAt, Reason: reason})
	}
	number := new(big.Int).SetUint64(s.state.AppliedIndex())
	thisUpdate := now.UTC().Truncate(time.Second)
	der, err := signer.CRL(ctx, list, thisUpdate, thisUpdate.Add(CRLValidity), number)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.crls[issuerID] = cachedCRL{revocations: len(revs), thisUpdate: thisUpdate, der: der}
	s.mu.Unlock()
	return der, nil
}

// CAChain returns issuer issuerID's CA certificates in PEM, the issuing CA
// first and the root last.
func (s *IssuanceService) CAChain(ctx context.Context, issuerID string) (string, error) {
	iss, rec, err := s.build(ctx, issuerID, false)
	if err != nil {
		return "", err
	}
	p, ok := iss.(issuer.ChainProvider)
	if !ok {
		return "", &fsm.Error{Code: fsm.CodeState, Resource: "issuer", ID: rec.ID, Message: "issuer " + rec.ID + " (" + string(rec.Type) + ") does not publish its CA chain"}
	}
	return p.CAChainPEM()
}

func (s *IssuanceService) actor() fsm.Meta {
	return fsm.Meta{Actor: holderOf(s.cfg.NodeID), ActorType: fsm.ActorSystem}
}

// propose commits p with the request id and actor given.
func (s *IssuanceService) propose(ctx context.Context, now time.Time, requestID string, who fsm.Meta, p fsm.Payload) error {
	who.RequestID, who.Time = requestID, now
	cmd, err := fsm.NewCommand(who, p)
	if err != nil {
		return err
	}
	_, err = s.proposer.Propose(ctx, cmd)
	return err
}

// newID is prefix and 16 random hex digits.
func (s *IssuanceService) newID(prefix string) string {
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
