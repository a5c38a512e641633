package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

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
	req, ok := decodeImport(c)
	if !ok {
		return
	}
	p, err := importPayload(req)
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

// importBody is wire.ImportRequest decoded straight into the state
// machine's types (the same JSON), saving a copy of every record.
type importBody struct {
	Source  string   `json:"source"`
	DryRun  bool     `json:"dry_run"`
	Assume  []string `json:"assume"`
	Records struct {
		Teams           []fsm.Team               `json:"teams"`
		Owners          []fsm.Owner              `json:"owners"`
		RenewalPolicies []fsm.RenewalPolicy      `json:"renewal_policies"`
		Issuers         []fsm.Issuer             `json:"issuers"`
		Agents          []fsm.Agent              `json:"agents"`
		Targets         []fsm.Target             `json:"deployment_targets"`
		PolicyRules     []fsm.PolicyRule         `json:"policy_rules"`
		Certificates    []fsm.Certificate        `json:"managed_certificates"`
		Versions        []fsm.CertificateVersion `json:"certificate_versions"`
		Jobs            []fsm.Job                `json:"jobs"`
		Violations      []fsm.PolicyViolation    `json:"policy_violations"`
		Notifications   []fsm.Notification       `json:"notification_events"`
		AuditEvents     []fsm.AuditEvent         `json:"audit_events"`
	} `json:"records"`
}

// decodeImport reads an import batch: one JSON object, valid UTF-8, no
// unknown fields. Unlike bindJSON it does not look for duplicate keys, a
// second parse that cost a fifth of an import's CPU: nothing reads the body
// but this decoder (a follower relays it to a leader that decodes it the
// same way), and each record's digest is taken from its decoded value.
func decodeImport(c *gin.Context) (*importBody, bool) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(c, refuse(node.CodeTooLarge, fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)))
			return nil, false
		}
		fail(c, invalid("", "could not read the request body: "+err.Error()))
		return nil, false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		fail(c, invalid("", "request body is empty; send a JSON object"))
		return nil, false
	}
	if !utf8.Valid(body) {
		fail(c, invalid("", "request body is not valid UTF-8"))
		return nil, false
	}
	var req importBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		field, msg := describeJSONError(err)
		fail(c, invalid(field, msg))
		return nil, false
	}
	if dec.More() {
		fail(c, invalid("", "request body holds more than one JSON value"))
		return nil, false
	}
	return &req, true
}

// importPayload turns a request into the entry to plan, each record with
// the digest of its row as sent, taken before any secret in it is sealed.
func importPayload(req *importBody) (*fsm.ImportRecords, error) {
	r := &req.Records
	p := &fsm.ImportRecords{Source: req.Source, Teams: r.Teams, Owners: r.Owners, RenewalPolicies: r.RenewalPolicies,
		Issuers: r.Issuers, Agents: r.Agents, Targets: r.Targets, PolicyRules: r.PolicyRules, Certificates: r.Certificates,
		Versions: r.Versions, Jobs: r.Jobs, Violations: r.Violations, Notifications: r.Notifications, AuditEvents: r.AuditEvents,
		Digests: map[string]string{}}
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
	for _, r := range p.Teams {
		errs = append(errs, add(fsm.ImportTeams, r.ID, r))
	}
	for _, r := range p.Owners {
		errs = append(errs, add(fsm.ImportOwners, r.ID, r))
	}
	for _, r := range p.RenewalPolicies {
		errs = append(errs, add(fsm.ImportRenewalPolicies, r.ID, r))
	}
	for _, r := range p.Issuers {
		errs = append(errs, add(fsm.ImportIssuers, r.ID, r))
	}
	for _, r := range p.Agents {
		errs = append(errs, add(fsm.ImportAgents, r.ID, r))
	}
	for _, r := range p.Targets {
		errs = append(errs, add(fsm.ImportTargets, r.ID, r))
	}
	for _, r := range p.PolicyRules {
		errs = append(errs, add(fsm.ImportPolicyRules, r.ID, r))
	}
	for _, r := range p.Certificates {
		errs = append(errs, add(fsm.ImportCertificates, r.ID, r))
	}
	for _, r := range p.Versions {
		errs = append(errs, add(fsm.ImportVersions, r.ID, r))
	}
	for _, r := range p.Jobs {
		errs = append(errs, add(fsm.ImportJobs, r.ID, r))
	}
	for _, r := range p.Violations {
		errs = append(errs, add(fsm.ImportViolations, r.ID, r))
	}
	for _, r := range p.Notifications {
		errs = append(errs, add(fsm.ImportNotifications, r.ID, r))
	}
	for _, r := range p.AuditEvents {
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
