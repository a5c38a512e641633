package agent

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/target"
)

// work does one job of the work list.
func (a *Agent) work(ctx context.Context, item wire.WorkItem) error {
	log := a.log.With("job", item.ID, "type", item.Type, "certificate", item.CertificateID, "target", item.TargetID)
	if err := checkItem(item); err != nil {
		// Not reported with the id it carries: an id that cannot name a
		// file is not trusted to name a job either.
		log.Error("job refused", "err", err)
		return nil
	}
	if a.journal.has(item.ID) {
		// Done here already; its report did not reach the cluster yet and
		// is sent again by settle, not the deployment.
		log.Debug("job already worked; its report is pending")
		return nil
	}
	ctx, cancel := a.jobContext()
	defer cancel()
	switch {
	case (item.Type == wire.JobIssuance || item.Type == wire.JobRenewal) && item.Status == wire.JobAwaitingCSR:
		return a.sendCSR(ctx, log, item)
	case item.Type == wire.JobDeployment:
		return a.deploy(ctx, item)
	case item.Type == wire.JobValidation:
		return a.validateOnly(ctx, item)
	}
	log.Debug("job is the server's to work; skipped", "status", item.Status)
	return nil
}

func checkItem(item wire.WorkItem) error {
	if err := CheckID("job id", item.ID); err != nil {
		return err
	}
	if err := CheckID("certificate_id", item.CertificateID); err != nil {
		return err
	}
	if item.TargetID != "" {
		return CheckID("target_id", item.TargetID)
	}
	return nil
}

// jobContext bounds a job by JobTimeout; it outlives ctx by up to
// ShutdownGrace so a stop does not cut a deployment in half.
func (a *Agent) jobContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(a.jobCtx, a.cfg.JobTimeout)
}

// sendCSR makes the key of an AwaitingCSR job here and sends its CSR.
func (a *Agent) sendCSR(ctx context.Context, log *slog.Logger, item wire.WorkItem) error {
	key, err := a.keys.MakeNext(item.CertificateID, string(item.KeyType))
	if err != nil {
		log.Error("cannot make the key", "err", err)
		return a.reportNow(ctx, item.ID, outcome{Status: wire.JobFailed, Error: err.Error()})
	}
	csrPEM, err := issuer.CSRFor(key, item.CommonName, item.SANs)
	if err != nil {
		_ = a.keys.DiscardNext(item.CertificateID)
		return a.reportNow(ctx, item.ID, outcome{Status: wire.JobFailed, Error: "agent: make the CSR: " + err.Error()})
	}
	err = a.cfg.API.SubmitCSR(ctx, a.cfg.AgentID, wire.CSRRequest{CSRPEM: csrPEM, CertificateID: item.CertificateID})
	switch {
	case err == nil:
		log.Info("CSR sent; the key stays on this host", "key_type", keyTypeName(string(item.KeyType)), "key", a.keys.NextPath(item.CertificateID))
		return nil
	case client.IsGone(err):
		return a.apiErr(err)
	case client.StatusOf(err) == 400 || client.StatusOf(err) == 422:
		// The cluster refused this CSR: the key is of no use, and the job
		// would wait for ever.
		_ = a.keys.DiscardNext(item.CertificateID)
		log.Error("CSR refused", "err", err)
		return a.reportNow(ctx, item.ID, outcome{Status: wire.JobFailed, Error: "the cluster refused the agent's CSR: " + err.Error()})
	}
	log.Error("CSR not sent; the next poll tries again", "err", err)
	return nil
}

func keyTypeName(kt string) string {
	if kt == "" {
		return string(issuer.DefaultKeyType)
	}
	return kt
}

// deployment is a certificate fetched for a job, with its local key.
type deployment struct {
	leaf              *x509.Certificate
	certPEM, chainPEM string
	serial, sha256    string
	keyPath           string
	next              bool
}

// fetch picks up the certificate of item and finds its key on this host
// (storing the key the server made, for a certificate whose key it makes).
func (a *Agent) fetch(ctx context.Context, certID string, storeServerKey bool) (*deployment, error) {
	p, err := a.cfg.API.PickupCertificate(ctx, a.cfg.AgentID, certID)
	if err != nil {
		return nil, fmt.Errorf("agent: fetch certificate %s: %w", certID, a.apiErr(err))
	}
	d, err := splitChain(p.CertificatePEM)
	if err != nil {
		return nil, fmt.Errorf("agent: certificate %s from the cluster: %w", certID, err)
	}
	d.keyPath, d.next, err = a.keys.KeyFor(certID, d.leaf)
	if err != nil && storeServerKey && p.PrivateKeyPEM != "" {
		keyPEM := []byte(p.PrivateKeyPEM)
		err = a.keys.StoreNext(certID, keyPEM)
		clear(keyPEM)
		if err == nil {
			d.keyPath, d.next, err = a.keys.KeyFor(certID, d.leaf)
		}
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// splitChain separates the leaf from the intermediates of a PEM chain.
func splitChain(chain string) (*deployment, error) {
	rest := []byte(chain)
	var blocks [][]byte
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a %q block where certificates were expected", b.Type)
		}
		blocks = append(blocks, pem.EncodeToMemory(b))
	}
	if len(blocks) == 0 {
		return nil, errors.New("no certificate in the answer")
	}
	der, _ := pem.Decode(blocks[0])
	leaf, err := x509.ParseCertificate(der.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the leaf does not parse: %w", err)
	}
	sum := sha256.Sum256(leaf.Raw)
	var chainPEM strings.Builder
	for _, b := range blocks[1:] {
		chainPEM.Write(b)
	}
	return &deployment{leaf: leaf, certPEM: string(blocks[0]), chainPEM: chainPEM.String(),
		serial: hex.EncodeToString(leaf.SerialNumber.Bytes()), sha256: hex.EncodeToString(sum[:])}, nil
}

// deployResult is what the job records of a deployment.
type deployResult struct {
	TargetID          string                   `json:"target_id"`
	TargetType        wire.TargetType          `json:"target_type"`
	SerialNumber      string                   `json:"serial_number,omitempty"`
	FingerprintSHA256 string                   `json:"fingerprint_sha256,omitempty"`
	Deployment        *target.DeploymentResult `json:"deployment,omitempty"`
	Validation        *target.ValidationResult `json:"validation,omitempty"`
	Rollback          *target.RollbackResult   `json:"rollback,omitempty"`
	RollbackError     string                   `json:"rollback_error,omitempty"`
	Host              string                   `json:"host"`
	FinishedAt        time.Time                `json:"finished_at"`
}

// deploy works a Deployment job: fetch, deploy, validate, and on a failed
// validation put the previous certificate back. Every step after the
// journal's "deploying" entry is undone by a restart if not finished.
func (a *Agent) deploy(ctx context.Context, item wire.WorkItem) error {
	log := a.log.With("job", item.ID, "certificate", item.CertificateID, "target", item.TargetID, "target_type", item.TargetType)
	e := &journalEntry{JobID: item.ID, JobType: item.Type, CertificateID: item.CertificateID, TargetID: item.TargetID,
		TargetType: item.TargetType, TargetConfig: item.TargetConfig, StartedAt: time.Now().UTC()}
	res := &deployResult{TargetID: item.TargetID, TargetType: item.TargetType, Host: a.cfg.Hostname}
	fail := func(err error) error {
		if a.jobCtx.Err() != nil {
			// Stopped by a shutdown, not failed: the journal's entry (if
			// the deployment began) makes the next start restore the target
			// and the job is done again then.
			log.Warn("deployment interrupted by the agent stopping; it is done again after the restart", "err", err)
			return nil
		}
		log.Error("deployment failed", "err", err)
		return a.finish(ctx, e, res, err)
	}
	t, err := a.cfg.Targets.Get(string(item.TargetType))
	if err != nil {
		return fail(err)
	}
	if err := t.ValidateConfig(ctx, item.TargetConfig); err != nil {
		return fail(err)
	}
	d, err := a.fetch(ctx, item.CertificateID, true)
	if err != nil {
		if errors.Is(err, ErrRetired) {
			return err
		}
		return fail(err)
	}
	res.SerialNumber, res.FingerprintSHA256, e.NextKey = d.serial, d.sha256, d.next
	stateDir, err := a.journal.begin(e)
	if err != nil {
		return fail(err) // nothing changed yet
	}
	res.Deployment, err = t.DeployCertificate(ctx, target.DeploymentRequest{
		TargetID: item.TargetID, Config: item.TargetConfig, CertificateID: item.CertificateID,
		CommonName: item.CommonName, SANs: item.SANs, CertPEM: d.certPEM, ChainPEM: d.chainPEM, KeyPath: d.keyPath,
		SerialNumber: d.serial, FingerprintSHA256: d.sha256, StateDir: stateDir})
	if err != nil {
		return fail(err) // the connector restored what it replaced
	}
	res.Validation, err = t.ValidateDeployment(ctx, target.ValidationRequest{TargetID: item.TargetID, Config: item.TargetConfig,
		CertificateID: item.CertificateID, CommonName: item.CommonName, SerialNumber: d.serial, FingerprintSHA256: d.sha256})
	if err == nil && !res.Validation.Valid {
		err = fmt.Errorf("%w: %s", target.ErrNotServed, res.Validation.Message)
	}
	if err != nil {
		a.rollback(ctx, t, e, res)
		return fail(fmt.Errorf("validation after deploying failed, previous certificate restored: %w", err))
	}
	log.Info("certificate deployed and validated", "serial", d.serial, "validation", res.Validation.Method)
	return a.finish(ctx, e, res, nil)
}

// rollback asks the connector to restore what the deployment of e replaced.
func (a *Agent) rollback(ctx context.Context, t target.Target, e *journalEntry, res *deployResult) {
	rb, ok := t.(target.Rollbacker)
	if !ok {
		res.RollbackError = "target type " + string(e.TargetType) + " cannot roll back"
		return
	}
	r, err := rb.Rollback(ctx, target.RollbackRequest{TargetID: e.TargetID, Config: e.TargetConfig,
		CertificateID: e.CertificateID, StateDir: a.journal.targetDir(e.JobID)})
	if err != nil {
		res.RollbackError = err.Error()
		a.log.Error("rollback failed", "job", e.JobID, "target", e.TargetID, "err", err)
		return
	}
	res.Rollback = r
}

// validateOnly works a Validation job: is the current certificate served?
func (a *Agent) validateOnly(ctx context.Context, item wire.WorkItem) error {
	e := &journalEntry{JobID: item.ID, JobType: item.Type, CertificateID: item.CertificateID, TargetID: item.TargetID,
		TargetType: item.TargetType, StartedAt: time.Now().UTC()}
	res := &deployResult{TargetID: item.TargetID, TargetType: item.TargetType, Host: a.cfg.Hostname}
	t, err := a.cfg.Targets.Get(string(item.TargetType))
	if err != nil {
		return a.finish(ctx, e, res, err)
	}
	p, err := a.cfg.API.PickupCertificate(ctx, a.cfg.AgentID, item.CertificateID)
	if err != nil {
		return a.finish(ctx, e, res, fmt.Errorf("agent: fetch certificate %s: %w", item.CertificateID, a.apiErr(err)))
	}
	d, err := splitChain(p.CertificatePEM)
	if err != nil {
		return a.finish(ctx, e, res, err)
	}
	res.SerialNumber, res.FingerprintSHA256 = d.serial, d.sha256
	res.Validation, err = t.ValidateDeployment(ctx, target.ValidationRequest{TargetID: item.TargetID, Config: item.TargetConfig,
		CertificateID: item.CertificateID, CommonName: item.CommonName, SerialNumber: d.serial, FingerprintSHA256: d.sha256})
	if err == nil && !res.Validation.Valid {
		err = fmt.Errorf("%w: %s", target.ErrNotServed, res.Validation.Message)
	}
	return a.finish(ctx, e, res, err)
}

// finish records the outcome of a job in the journal, promotes the key a
// successful deployment used, and reports.
func (a *Agent) finish(ctx context.Context, e *journalEntry, res *deployResult, jobErr error) error {
	o := outcome{Status: wire.JobCompleted}
	if jobErr != nil {
		o = outcome{Status: wire.JobFailed, Error: jobErr.Error()}
	}
	if res != nil {
		res.FinishedAt = time.Now().UTC()
		raw, err := json.Marshal(res)
		if err != nil {
			return err
		}
		o.Result = raw
	}
	if err := a.journal.decide(e, o); err != nil {
		a.log.Error("cannot write the journal; reporting anyway", "job", e.JobID, "err", err)
	}
	return a.settleEntry(ctx, e)
}

// reportNow reports an outcome that changed nothing on a target.
func (a *Agent) reportNow(ctx context.Context, jobID string, o outcome) error {
	return a.finish(ctx, &journalEntry{JobID: jobID, StartedAt: time.Now().UTC()}, nil, errorOf(o))
}

func errorOf(o outcome) error {
	if o.Status == wire.JobCompleted {
		return nil
	}
	return errors.New(o.Error)
}

// settle deals with every job an earlier poll or run left in the journal.
func (a *Agent) settle(ctx context.Context) {
	entries, err := a.journal.entries()
	if err != nil {
		a.log.Error("cannot read the journal", "err", err)
		return
	}
	for _, e := range entries {
		if err := a.settleEntry(ctx, e); err != nil && ctx.Err() == nil {
			a.log.Warn("job still to settle", "job", e.JobID, "err", err)
		}
	}
}

// settleEntry finishes what the journal says of one job: an interrupted
// deployment is rolled back (the job is still the cluster's to hand out,
// and is done again); a decided one is reported, then forgotten.
func (a *Agent) settleEntry(ctx context.Context, e *journalEntry) error {
	switch e.Phase {
	case "":
		return a.journal.done(e.JobID) // died before the entry was written: nothing changed
	case phaseDeploying:
		t, err := a.cfg.Targets.Get(string(e.TargetType))
		if err != nil {
			return err
		}
		res := &deployResult{TargetID: e.TargetID, TargetType: e.TargetType, Host: a.cfg.Hostname}
		a.rollback(ctx, t, e, res)
		if res.RollbackError != "" {
			return a.finish(ctx, e, res, fmt.Errorf("the agent stopped during the deployment and could not restore the previous certificate: %s", res.RollbackError))
		}
		a.log.Warn("interrupted deployment rolled back; the job will be done again", "job", e.JobID, "target", e.TargetID)
		return a.journal.done(e.JobID)
	}
	if e.Outcome.Status == wire.JobCompleted && e.NextKey {
		if err := a.keys.Promote(e.CertificateID); err != nil {
			return err
		}
	}
	st := wire.JobStatusRequest{Status: e.Outcome.Status, Error: e.Outcome.Error, DeploymentResult: e.Outcome.Result}
	// One idempotency key per job: a report repeated after a lost answer
	// or a restart is applied once.
	err := a.cfg.API.ReportJobStatus(client.WithIdempotencyKey(ctx, "agent-status-"+e.JobID), a.cfg.AgentID, e.JobID, st)
	switch {
	case err == nil:
	case client.IsGone(err):
		return a.apiErr(err)
	case client.IsNotFound(err) || client.IsConflict(err):
		a.log.Warn("the cluster no longer expects this job's report (cancelled or finished); dropped", "job", e.JobID, "err", err)
	default:
		return fmt.Errorf("report job %s: %w", e.JobID, err)
	}
	return a.journal.done(e.JobID)
}
