package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/gin-gonic/gin"
)

// importPath takes batches of rows read from an original certctl database.
const importPath = "/api/v1/import"

// maxImportBody bounds one import batch: a batch of certificate versions
// carries their PEM chains, and the CLI keeps batches well under it.
const maxImportBody = 8 << 20

// importPlanner is the part of the state an import plans against.
type importPlanner interface {
	PlanImport(p *fsm.ImportRecords, o fsm.PlanOptions) (*fsm.ImportPlan, error)
}

// importRecords serves POST /api/v1/import (admin only: an import writes
// records of every kind, agent keys among them). It runs on the leader,
// whose state holds every batch the import wrote before, after a barrier:
// it plans the batch, drops what is refused (and a certificate's mappings
// to targets that are not there), and proposes the rest as one
// ImportRecords entry, sealing issuer and target secrets as a create does.
// Records already imported from identical rows are skipped.
func (s *Server) importRecords(c *gin.Context) {
	if !s.cluster.IsLeader() {
		if c.GetHeader(node.ForwardedHeader) != "" {
			fail(c, node.ErrNotLeader) // never forwarded twice
			return
		}
		_, _, apiAddr := s.cluster.Leader()
		if apiAddr == "" {
			fail(c, node.ErrNoLeader)
			return
		}
		s.proxyToLeader(c, apiAddr, s.cfg.WriteTimeout, c.Writer)
		return
	}
	planner, ok := s.state.(importPlanner)
	if !ok {
		fail(c, fmt.Errorf("api: this node's state cannot plan an import"))
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxImportBody)
	var req wire.ImportRequest
	if !bindJSON(c, &req) {
		return
	}
	p, err := importPayload(&req)
	if err != nil {
		fail(c, err)
		return
	}
	if err := p.Validate(); err != nil {
		fail(c, err)
		return
	}
	opts := fsm.PlanOptions{CheckText: true}
	if req.DryRun {
		opts.Assume = make(map[string]bool, len(req.Assume))
		for _, k := range req.Assume {
			opts.Assume[k] = true
		}
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WriteTimeout)
	defer cancel()
	if err := s.cluster.Barrier(ctx); err != nil {
		fail(c, err)
		return
	}
	var refused []fsm.ImportRefusal
	var plan *fsm.ImportPlan
	// Each pass drops what the last refused; what remains can only be
	// refused again for a record of the batch it references, so a few
	// passes settle it.
	for pass := 0; ; pass++ {
		if plan, err = planner.PlanImport(p, opts); err != nil {
			fail(c, err)
			return
		}
		if len(plan.Refused) == 0 {
			break
		}
		if pass == 4 {
			fail(c, fmt.Errorf("api: the import plan did not settle after %d passes", pass+1))
			return
		}
		refused = append(refused, plan.Refused...)
		dropRefused(p, plan.Refused)
	}
	res := wire.ImportResult{DryRun: req.DryRun, Tables: map[string]wire.ImportCount{}, AgentKeys: plan.AgentKeys}
	news := 0
	for table, n := range plan.Tables {
		res.Tables[table] = wire.ImportCount{New: n.New, Same: n.Same}
		news += n.New
	}
	fsm.SortRefusals(refused)
	for _, r := range refused {
		n := res.Tables[r.Table]
		n.Refused++
		res.Tables[r.Table] = n
		res.Refused = append(res.Refused, wire.ImportRefusal(r))
	}
	if req.DryRun || news == 0 || p.Len() == 0 {
		c.JSON(http.StatusOK, res)
		return
	}
	for i := range p.Issuers {
		if _, ok := s.protectIssuer(c, &p.Issuers[i], false); !ok {
			return
		}
	}
	for i := range p.Targets {
		if _, ok := s.protectTarget(c, &p.Targets[i], false); !ok {
			return
		}
	}
	if !s.propose(c, p) {
		return
	}
	c.JSON(http.StatusOK, res)
}

// importPayload turns a request into the entry to plan: the records in
// the state machine's types (the same JSON), each with the digest of its
// row as sent, taken before any secret in it is sealed.
func importPayload(req *wire.ImportRequest) (*fsm.ImportRecords, error) {
	raw, err := json.Marshal(req.Records)
	if err != nil {
		return nil, fmt.Errorf("api: encode the import batch: %w", err)
	}
	p := &fsm.ImportRecords{Source: req.Source}
	if err := json.Unmarshal(raw, p); err != nil {
		return nil, &fsm.Error{Code: fsm.CodeInvalid, Field: "records", Message: "records do not fit the tables: " + err.Error()}
	}
	p.Source = req.Source
	p.Digests = map[string]string{}
	add := func(table, id string, rec any) error {
		b, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("api: encode %s %s: %w", table, id, err)
		}
		sum := sha256.Sum256(b)
		p.Digests[table+"/"+id] = hex.EncodeToString(sum[:])
		return nil
	}
	var errs []error
	for _, r := range req.Records.Teams {
		errs = append(errs, add(fsm.ImportTeams, r.ID, r))
	}
	for _, r := range req.Records.Owners {
		errs = append(errs, add(fsm.ImportOwners, r.ID, r))
	}
	for _, r := range req.Records.RenewalPolicies {
		errs = append(errs, add(fsm.ImportRenewalPolicies, r.ID, r))
	}
	for _, r := range req.Records.Issuers {
		errs = append(errs, add(fsm.ImportIssuers, r.ID, r))
	}
	for _, r := range req.Records.Agents {
		errs = append(errs, add(fsm.ImportAgents, r.ID, r))
	}
	for _, r := range req.Records.Targets {
		errs = append(errs, add(fsm.ImportTargets, r.ID, r))
	}
	for _, r := range req.Records.PolicyRules {
		errs = append(errs, add(fsm.ImportPolicyRules, r.ID, r))
	}
	for _, r := range req.Records.Certificates {
		errs = append(errs, add(fsm.ImportCertificates, r.ID, r))
	}
	for _, r := range req.Records.Versions {
		errs = append(errs, add(fsm.ImportVersions, r.ID, r))
	}
	for _, r := range req.Records.Jobs {
		errs = append(errs, add(fsm.ImportJobs, r.ID, r))
	}
	for _, r := range req.Records.Violations {
		errs = append(errs, add(fsm.ImportViolations, r.ID, r))
	}
	for _, r := range req.Records.Notifications {
		errs = append(errs, add(fsm.ImportNotifications, r.ID, r))
	}
	for _, r := range req.Records.AuditEvents {
		errs = append(errs, add(fsm.ImportAuditEvents, r.ID, r))
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// dropRefused removes the refused records from p; a refused mapping
// takes its target off the certificate, which is then imported without it.
func dropRefused(p *fsm.ImportRecords, refused []fsm.ImportRefusal) {
	out := map[string]bool{}
	unmap := map[string][]string{}
	for _, r := range refused {
		if r.Table == fsm.ImportMappings {
			cert, target, _ := strings.Cut(r.ID, "/")
			unmap[cert] = append(unmap[cert], target)
			continue
		}
		out[r.Table+"/"+r.ID] = true
	}
	for i := range p.Certificates {
		c := &p.Certificates[i]
		for _, t := range unmap[c.ID] {
			kept := c.TargetIDs[:0:0]
			for _, id := range c.TargetIDs {
				if id != t {
					kept = append(kept, id)
				}
			}
			c.TargetIDs = kept
		}
	}
	p.Teams = keep(p.Teams, out, fsm.ImportTeams, func(r fsm.Team) string { return r.ID })
	p.Owners = keep(p.Owners, out, fsm.ImportOwners, func(r fsm.Owner) string { return r.ID })
	p.RenewalPolicies = keep(p.RenewalPolicies, out, fsm.ImportRenewalPolicies, func(r fsm.RenewalPolicy) string { return r.ID })
	p.Issuers = keep(p.Issuers, out, fsm.ImportIssuers, func(r fsm.Issuer) string { return r.ID })
	p.Agents = keep(p.Agents, out, fsm.ImportAgents, func(r fsm.Agent) string { return r.ID })
	p.Targets = keep(p.Targets, out, fsm.ImportTargets, func(r fsm.Target) string { return r.ID })
	p.PolicyRules = keep(p.PolicyRules, out, fsm.ImportPolicyRules, func(r fsm.PolicyRule) string { return r.ID })
	p.Certificates = keep(p.Certificates, out, fsm.ImportCertificates, func(r fsm.Certificate) string { return r.ID })
	p.Versions = keep(p.Versions, out, fsm.ImportVersions, func(r fsm.CertificateVersion) string { return r.ID })
	p.Jobs = keep(p.Jobs, out, fsm.ImportJobs, func(r fsm.Job) string { return r.ID })
	p.Violations = keep(p.Violations, out, fsm.ImportViolations, func(r fsm.PolicyViolation) string { return r.ID })
	p.Notifications = keep(p.Notifications, out, fsm.ImportNotifications, func(r fsm.Notification) string { return r.ID })
	p.AuditEvents = keep(p.AuditEvents, out, fsm.ImportAuditEvents, func(r fsm.AuditEvent) string { return r.ID })
}

func keep[T any](rs []T, out map[string]bool, table string, id func(T) string) []T {
	kept := rs[:0:0]
	for _, r := range rs {
		if !out[table+"/"+id(r)] {
			kept = append(kept, r)
		}
	}
	return kept
}
