package issuance

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/fsm"
)

// ServerKeyAAD is the additional data a server-generated key is sealed
// with: a sealed key moved to another certificate or version, or re-bound
// to other agents than those it was made for (agentIDs, sorted), fails to
// open. Each part is length-prefixed so no two lists give the same bytes.
func ServerKeyAAD(certID, versionID string, agentIDs []string) []byte {
	var b strings.Builder
	b.WriteString("certctl/server-key/v2/" + strconv.Itoa(len(certID)) + ":" + certID + "/" + strconv.Itoa(len(versionID)) + ":" + versionID)
	for _, a := range agentIDs {
		b.WriteString("/" + strconv.Itoa(len(a)) + ":" + a)
	}
	return []byte(b.String())
}

// jobDerivedID is prefix and 16 hex digits fixed by the job (and what),
// so that a job worked again after a failover names the same version and
// the same deployments, which the state then refuses to hold twice.
func jobDerivedID(prefix, jobID, what string) string {
	h := sha256.Sum256([]byte("certctl/" + jobID + "/" + what))
	return prefix + hex.EncodeToString(h[:8])
}

// issueServerKey works an Issuance or Renewal job of a certificate whose
// key the server makes (key_generation "server", for hosts without an
// agent): the key (ECDSA P-256) and its CSR are made here, the issuer signs
// with a serial drawn before anything is proposed, and the key, sealed
// under the KEK, is recorded with the version in one command. Deployment
// jobs follow for each target; the scheduler then completes the job.
//
// The version's id is fixed by the job: a job taken over after a failover
// finds its version recorded and only finishes the rest, so a certificate
// gets one version (and one certificate_issued) per job.
func (s *Service) issueServerKey(ctx context.Context, job fsm.Job, cert fsm.Certificate) error {
	if r := fsm.WorkRefusal(&cert, "issued"); r != nil {
		return fmt.Errorf("issuance: %w", r)
	}
	if len(s.cfg.KEK) == 0 {
		return fmt.Errorf("issuance: certificate %s has a server-side key, which is stored only sealed: %w", cert.ID, ErrNoKEK)
	}
	versionID := jobDerivedID("cv-", job.ID, "version")
	base := "server-key/" + job.ID + "/"
	_, err := s.state.CertificateVersion(versionID)
	switch {
	case errors.Is(err, fsm.ErrNotFound):
		if err := s.issueAndRecord(ctx, job, cert, versionID, base); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		s.log.Info("job's version already recorded; finishing its deployments", "job", job.ID, "certificate", cert.ID, "version", versionID)
	}
	return s.queueDeployments(ctx, job, cert, base)
}

func (s *Service) issueAndRecord(ctx context.Context, job fsm.Job, cert fsm.Certificate, versionID, base string) error {
	iss, _, err := s.build(ctx, cert.IssuerID, true)
	if err != nil {
		return err // the registry's error names the issuer
	}
	key, err := issuer.GenerateKey(string(cert.KeyType), s.cfg.Rand)
	if err != nil {
		return err
	}
	defer forgetKey(key)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("issuance: encode the key of certificate %s: %w", cert.ID, err)
	}
	// The key is for the agents of the certificate's targets now, and goes
	// to no other: a target moved later does not take it along.
	agents, err := s.agentsOf(&cert)
	if err != nil {
		clear(der)
		return err
	}
	sealed, err := keywrap.Seal(s.cfg.KEK, der, ServerKeyAAD(cert.ID, versionID, agents))
	clear(der)
	if err != nil {
		return fmt.Errorf("issuance: seal the key of certificate %s: %w", cert.ID, err)
	}
	csrPEM, err := issuer.CSRFor(key, cert.CommonName, cert.SANs)
	if err != nil {
		return fmt.Errorf("issuance: certificate %s: %w", cert.ID, err)
	}
	serial, err := issuer.NewSerial(s.cfg.Rand)
	if err != nil {
		return err
	}
	res, err := s.order(ctx, iss, job, cert, issuer.IssuanceRequest{CommonName: cert.CommonName, SANs: cert.SANs, CSRPEM: csrPEM, Serial: serial, CertificateID: cert.ID})
	if err != nil {
		return fmt.Errorf("issuance: issuer %s: %w", cert.IssuerID, err)
	}
	version := fsm.CertificateVersion{ID: versionID, CertificateID: cert.ID, SerialNumber: res.SerialNumber,
		NotBefore: res.NotBefore, NotAfter: res.NotAfter, FingerprintSHA256: res.FingerprintSHA256,
		PEMChain: res.CertPEM + res.ChainPEM, CSRPEM: csrPEM}
	version.DescribeKey()
	err = s.propose(ctx, s.cfg.Now(), base+"version", s.actor(), &fsm.RecordVersion{Version: version, SealedKey: sealed, KeyAgentIDs: agents})
	if errors.Is(err, fsm.ErrConflict) {
		// Recorded by an earlier attempt whose request id is forgotten.
		if _, gerr := s.state.CertificateVersion(versionID); gerr == nil {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("issuance: record certificate %s's new version: %w", cert.ID, err)
	}
	s.log.Info("certificate issued with a server-side key", "certificate", cert.ID, "job", job.ID, "version", versionID,
		"serial", res.SerialNumber, "not_after", res.NotAfter, "key_for_agents", agents)
	return nil
}

// queueDeployments queues one Deployment job per target of cert, with ids
// fixed by job: queued once however often the job is worked.
func (s *Service) queueDeployments(ctx context.Context, job fsm.Job, cert fsm.Certificate, base string) error {
	var deploys []fsm.Job
	for _, tid := range cert.TargetIDs {
		t, err := s.state.Target(tid)
		if errors.Is(err, fsm.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		deploys = append(deploys, fsm.Job{ID: jobDerivedID("job-", job.ID, "deploy/"+t.ID), Type: fsm.JobDeployment,
			CertificateID: cert.ID, TargetID: t.ID, AgentID: t.AgentID})
	}
	if len(deploys) == 0 {
		return nil
	}
	err := s.propose(ctx, s.cfg.Now(), base+"deploy", s.actor(), &fsm.CreateJobs{Jobs: deploys})
	if errors.Is(err, fsm.ErrConflict) {
		return nil // queued by an earlier attempt
	}
	if err != nil {
		return fmt.Errorf("issuance: queue the deployment of certificate %s: %w", cert.ID, err)
	}
	return nil
}

// agentsOf returns the agents of cert's targets, sorted and distinct.
func (s *Service) agentsOf(cert *fsm.Certificate) ([]string, error) {
	var agents []string
	for _, tid := range cert.TargetIDs {
		t, err := s.state.Target(tid)
		if errors.Is(err, fsm.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if t.AgentID != "" && !slices.Contains(agents, t.AgentID) {
			agents = append(agents, t.AgentID)
		}
	}
	slices.Sort(agents)
	return agents, nil
}

// OpenServerKey returns the private key (PKCS #8 PEM) of certificate
// certID's current version and that version's id, opened with the KEK for
// agentID: an *fsm.Error with CodeNotFound when the certificate has no
// server-side key, and one with CodeState when the key
// was not made for agentID (a target moved to it since, or a key recorded
// before keys were bound to agents): that agent needs a new key, i.e. the
// certificate renewed. The caller hands the key only to agentID, itself
// the agent of a target mapped to the certificate, and clears it after use.
func (s *Service) OpenServerKey(_ context.Context, certID, agentID string) ([]byte, string, error) {
	k, err := s.state.ServerKey(certID)
	if err != nil {
		return nil, "", err
	}
	if agentID == "" || !slices.Contains(k.AgentIDs, agentID) {
		made := "for no agent (its certificate had no target served by an agent then, or the key predates keys bound to their agents)"
		if len(k.AgentIDs) > 0 {
			made = "for agent " + strings.Join(k.AgentIDs, ", ")
		}
		return nil, "", &fsm.Error{Code: fsm.CodeState, Resource: "server key", ID: certID, Message: "the server-side key of certificate " + certID +
			" (version " + k.VersionID + ") was made " + made + ", not for agent " + agentID +
			": a key goes only to the agent it was made for; renew the certificate to make one for the agents of its targets now"}
	}
	if len(s.cfg.KEK) == 0 {
		return nil, "", ErrNoKEK
	}
	der, err := keywrap.Open(s.cfg.KEK, k.SealedKey, ServerKeyAAD(certID, k.VersionID, k.AgentIDs))
	if err != nil {
		return nil, "", fmt.Errorf("issuance: the server-side key of certificate %s does not open with this node's KEK (is --kek-file the cluster's?): %w", certID, err)
	}
	defer clear(der)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), k.VersionID, nil
}

// forgetKey overwrites what of a private key's secret it can reach. The
// crypto packages keep their own copies out of reach; this shortens how
// long the plaintext lingers in the leader's memory.
func forgetKey(key any) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.D != nil {
			clear(k.D.Bits())
		}
	case *rsa.PrivateKey:
		if k.D != nil {
			clear(k.D.Bits())
		}
		for _, p := range k.Primes {
			clear(p.Bits())
		}
	}
}
