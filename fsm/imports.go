package fsm

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The tables of an import, named as the original certctl's PostgreSQL
// schema names them, in the order an import reads them: every table after
// the ones it references.
const (
	ImportTeams           = "teams"
	ImportOwners          = "owners"
	ImportRenewalPolicies = "renewal_policies"
	ImportIssuers         = "issuers"
	ImportAgents          = "agents"
	ImportTargets         = "deployment_targets"
	ImportPolicyRules     = "policy_rules"
	ImportCertificates    = "managed_certificates"
	ImportMappings        = "certificate_target_mappings"
	ImportVersions        = "certificate_versions"
	ImportJobs            = "jobs"
	ImportViolations      = "policy_violations"
	ImportNotifications   = "notification_events"
	ImportAuditEvents     = "audit_events"
)

// ImportTables lists the tables in the order they are imported.
var ImportTables = []string{
	ImportTeams, ImportOwners, ImportRenewalPolicies, ImportIssuers, ImportAgents, ImportTargets,
	ImportPolicyRules, ImportCertificates, ImportMappings, ImportVersions, ImportJobs, ImportViolations,
	ImportNotifications, ImportAuditEvents,
}

// MaxImportRecords bounds the records of one ImportRecords entry (a
// certificate's mappings travel in its record and are not counted).
const MaxImportRecords = 2000

// ImportRecords writes records read from another certctl's database (the
// original's PostgreSQL) as they were there: ids, names, timestamps and
// statuses kept, no policy evaluated, no job started. Each record is new,
// or already imported from an identical row (skipped, so an import can be
// run again), or refused: an id the cluster already holds otherwise, a
// unique name or fingerprint taken, a reference to a record neither in
// the cluster nor in the entry, an invalid record or PEM. Apply refuses
// the whole entry, writing nothing, when any record is refused: the
// proposer plans first (PlanImport) and proposes only what passes.
//
// Digests holds, for each record ("table/id"; a mapping is
// "managed_certificates/cert/target" under the mapping's table), the hex
// SHA-256 of the row as the proposer read it, before any secret in it
// was sealed: a record is "the same" when its stored digest is. An
// agent's APIKeyHash, a hex SHA-256 of its key as the original stored it,
// becomes an agent key with that hash, so the agent's existing key
// authenticates. Imported audit events are appended to the chain after a
// marker event naming Source, each marked Imported with its source id.
type ImportRecords struct {
	Source          string               `json:"source"`
	Teams           []Team               `json:"teams,omitempty"`
	Owners          []Owner              `json:"owners,omitempty"`
	RenewalPolicies []RenewalPolicy      `json:"renewal_policies,omitempty"`
	Issuers         []Issuer             `json:"issuers,omitempty"`
	Agents          []Agent              `json:"agents,omitempty"`
	Targets         []Target             `json:"deployment_targets,omitempty"`
	PolicyRules     []PolicyRule         `json:"policy_rules,omitempty"`
	Certificates    []Certificate        `json:"managed_certificates,omitempty"`
	Versions        []CertificateVersion `json:"certificate_versions,omitempty"`
	Jobs            []Job                `json:"jobs,omitempty"`
	Violations      []PolicyViolation    `json:"policy_violations,omitempty"`
	Notifications   []Notification       `json:"notification_events,omitempty"`
	AuditEvents     []AuditEvent         `json:"audit_events,omitempty"`
	Digests         map[string]string    `json:"digests"`
}

func (ImportRecords) CommandType() CommandType { return CommandImportRecords }

// Len is the number of records in the entry.
func (p *ImportRecords) Len() int {
	return len(p.Teams) + len(p.Owners) + len(p.RenewalPolicies) + len(p.Issuers) + len(p.Agents) +
		len(p.Targets) + len(p.PolicyRules) + len(p.Certificates) + len(p.Versions) + len(p.Jobs) +
		len(p.Violations) + len(p.Notifications) + len(p.AuditEvents)
}

// Validate checks the envelope only: each record is checked by the plan,
// which refuses it by name instead of refusing the entry.
func (p *ImportRecords) Validate() error {
	if err := ValidText("source", p.Source, 512, true); err != nil {
		return err
	}
	if n := p.Len(); n == 0 || n > MaxImportRecords {
		return invalidf("records", "between 1 and %d records are required, not %d", MaxImportRecords, n)
	}
	for k, d := range p.Digests {
		if b, err := hex.DecodeString(d); err != nil || len(b) != sha256.Size {
			return invalidf("digests", "the digest of %s must be a hex SHA-256", k)
		}
	}
	return nil
}

// ImportRefusal is one record an import cannot take, and why.
type ImportRefusal struct {
	Table  string `json:"table"`
	ID     string `json:"id"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// ImportCount is what an import does with the records of one table.
type ImportCount struct {
	New     int `json:"new"`
	Same    int `json:"same"`
	Refused int `json:"refused"`
}

// ImportPlan is what applying an ImportRecords would do: per table, how
// many records are new, already there identical, or refused, and the
// refusals in the order of the entry; Warnings say what is imported but
// not as it was (an agent whose key cannot be carried over).
type ImportPlan struct {
	Tables   map[string]*ImportCount `json:"tables"`
	Refused  []ImportRefusal         `json:"refused,omitempty"`
	Warnings []string                `json:"warnings,omitempty"`
	// AgentKeys are the agents whose existing key is carried over.
	AgentKeys []string `json:"agent_keys,omitempty"`

	writes []func(t *txn)
}

// PlanOptions are the proposer's parts of a plan: Assume names records
// ("table/id") that earlier entries of a dry run would have written, so
// that references to them count as met; CheckText applies the text rules
// that NewCommand applies to other commands (Apply does not: see DESIGN.md).
type PlanOptions struct {
	Assume    map[string]bool
	CheckText bool
}

// PlanImport plans p against the current state without writing anything.
func (f *FSM) PlanImport(p *ImportRecords, o PlanOptions) (*ImportPlan, error) {
	var plan *ImportPlan
	err := f.view(func(tx *bolt.Tx) error {
		plan = planImport(&txn{tx: tx}, p, o)
		return nil
	})
	return plan, err
}

func (p *ImportRecords) apply(t *txn) (any, error) {
	plan := planImport(t, p, PlanOptions{})
	if len(plan.Refused) > 0 {
		msgs := make([]string, 0, 5)
		for i, r := range plan.Refused {
			if i == 5 {
				msgs = append(msgs, fmt.Sprintf("and %d more", len(plan.Refused)-5))
				break
			}
			msgs = append(msgs, r.Table+" "+r.ID+": "+r.Reason)
		}
		return nil, conflictf("import", p.Source, "the import refuses %d record(s), so none was written: %s; plan again and propose what passes",
			len(plan.Refused), strings.Join(msgs, "; "))
	}
	for _, w := range plan.writes {
		w(t)
	}
	counts := map[string]int{}
	for table, c := range plan.Tables {
		if c.New > 0 {
			counts[table] = c.New
		}
	}
	if len(counts) > 0 && (len(counts) > 1 || counts[ImportAuditEvents] == 0) {
		delete(counts, ImportAuditEvents)
		t.audit("records_imported", "import", p.Source, map[string]any{"source": p.Source, "records": counts, "agent_keys": plan.AgentKeys})
	}
	return plan, nil
}

// importKey is where the digest of an imported record is kept: under the
// table's name in the names index, so that a record is recognised when
// the same row is imported again.
func importKey(table, id string) []byte { return nameKey([]byte("import:"+table), id) }

// importPlanner walks an entry table by table, deciding each record.
type importPlanner struct {
	t     *txn
	p     *ImportRecords
	o     PlanOptions
	plan  *ImportPlan
	added map[string]bool   // "table/id" planned as new in this entry
	names map[string]string // name index key → id planned in this entry
	fps   map[string]bool   // fingerprints planned in this entry
	hash  map[string]bool   // key hashes planned in this entry
}

func planImport(t *txn, p *ImportRecords, o PlanOptions) *ImportPlan {
	pl := &importPlanner{
		t: t, p: p, o: o,
		plan:  &ImportPlan{Tables: map[string]*ImportCount{}},
		added: map[string]bool{}, names: map[string]string{}, fps: map[string]bool{}, hash: map[string]bool{},
	}
	pl.teams()
	pl.owners()
	pl.renewalPolicies()
	pl.issuers()
	pl.agents()
	pl.targets()
	pl.policyRules()
	pl.certificates()
	pl.versions()
	pl.jobs()
	pl.violations()
	pl.notifications()
	pl.auditEvents()
	return pl.plan
}

func (pl *importPlanner) count(table string) *ImportCount {
	c := pl.plan.Tables[table]
	if c == nil {
		c = &ImportCount{}
		pl.plan.Tables[table] = c
	}
	return c
}

func (pl *importPlanner) refuse(table, id, field, reason string) {
	pl.count(table).Refused++
	pl.plan.Refused = append(pl.plan.Refused, ImportRefusal{Table: table, ID: id, Field: field, Reason: reason})
}

// refuseErr refuses a record for err, naming err's field when it has one.
func (pl *importPlanner) refuseErr(table, id string, err error) {
	var e *Error
	if errors.As(err, &e) {
		pl.refuse(table, id, e.Field, e.Message)
		return
	}
	pl.refuse(table, id, "", err.Error())
}

// status of a record against the state: new, the same row imported before,
// or refused (the reason).
type importStatus int

const (
	importNew importStatus = iota
	importSame
	importRefused
)

// existing decides a record by its id. exists reports whether the state
// holds the id outside imports (nil: only imports can hold it).
func (pl *importPlanner) existing(table, id string, exists func() bool) importStatus {
	key := table + "/" + id
	if pl.added[key] {
		pl.refuse(table, id, "id", fmt.Sprintf("id %q appears twice in the import", id))
		return importRefused
	}
	digest := pl.p.Digests[key]
	if digest == "" {
		pl.refuse(table, id, "digest", "the record has no digest of its source row")
		return importRefused
	}
	if stored := pl.t.tx.Bucket(bucketNames).Get(importKey(table, id)); stored != nil {
		if string(stored) == digest {
			pl.count(table).Same++
			return importSame
		}
		pl.refuse(table, id, "id", fmt.Sprintf("id %q was imported before from a different row; the cluster keeps that one", id))
		return importRefused
	}
	if exists != nil && exists() {
		pl.refuse(table, id, "id", fmt.Sprintf("id %q already exists in the cluster", id))
		return importRefused
	}
	return importNew
}

// has reports whether a record a reference names is in the cluster, new in
// this entry, or assumed by a dry run.
func (pl *importPlanner) has(table string, bucket []byte, id string) bool {
	key := table + "/" + id
	return pl.added[key] || pl.o.Assume[key] || pl.t.exists(bucket, id)
}

// importRef is one reference of an imported record.
type importRef struct {
	field, table string
	bucket       []byte
	id           string
}

// missing returns the first reference not met, or nil.
func (pl *importPlanner) missing(refs ...importRef) *importRef {
	for i := range refs {
		r := &refs[i]
		if r.id != "" && !pl.has(r.table, r.bucket, r.id) {
			return r
		}
	}
	return nil
}

func (pl *importPlanner) refuseMissing(table, id string, r *importRef) {
	pl.refuse(table, id, r.field, fmt.Sprintf("%s %q is neither in the cluster nor imported (%s)", r.field, r.id, r.table))
}

// takeName reserves a unique name for id; it fails when the state or an
// earlier record of the entry holds it for another id.
func (pl *importPlanner) takeName(tab []byte, table, id, field, name string) bool {
	if name == "" {
		return true
	}
	k := string(nameKey(tab, name))
	owner := pl.names[k]
	if owner == "" {
		owner = pl.t.nameOwner(tab, name)
	}
	if owner != "" && owner != id {
		pl.refuse(table, id, field, fmt.Sprintf("%s %q is already used by %s", field, name, owner))
		return false
	}
	pl.names[k] = id
	return true
}

// accept counts a new record, notes it for the references that follow and
// queues its write with its digest.
func (pl *importPlanner) accept(table, id string, w func(t *txn)) {
	key := table + "/" + id
	pl.added[key] = true
	pl.count(table).New++
	digest := pl.p.Digests[key]
	pl.plan.writes = append(pl.plan.writes, func(t *txn) {
		w(t)
		must(t.bucket(bucketNames).Put(importKey(table, id), []byte(digest)))
	})
}

// check runs a record's validation and, for the proposer, its text rules.
func (pl *importPlanner) check(table, id string, validate func() error, text func() error) bool {
	if err := validate(); err != nil {
		pl.refuseErr(table, id, err)
		return false
	}
	if pl.o.CheckText && text != nil {
		if err := text(); err != nil {
			pl.refuseErr(table, id, err)
			return false
		}
	}
	return true
}

// stampTimes fills creation and update times the source left empty.
func stampTimes(t *txn, created, updated *time.Time) {
	if created.IsZero() {
		*created = t.now()
	}
	if updated != nil && updated.IsZero() {
		*updated = *created
	}
}

// putImported writes a record of one of the generic tables as it came.
func putImported[R any, P recordPtr[R]](t *txn, tab table, rec P) {
	id := rec.recordID()
	putJSON(t.bucket(tab.bucket), []byte(id), rec)
	t.setName(tab.bucket, "", rec.uniqueName(), id)
	t.moveRefs(nil, rec.references())
	t.addCount(1, string(tab.bucket))
}

func (pl *importPlanner) teams() {
	for i := range pl.p.Teams {
		r := pl.p.Teams[i]
		if !pl.check(ImportTeams, r.ID, r.validate, r.checkText) ||
			pl.existing(ImportTeams, r.ID, func() bool { return pl.t.exists(bucketTeams, r.ID) }) != importNew ||
			!pl.takeName(bucketTeams, ImportTeams, r.ID, "name", r.Name) {
			continue
		}
		pl.accept(ImportTeams, r.ID, func(t *txn) {
			stampTimes(t, &r.CreatedAt, &r.UpdatedAt)
			putImported(t, teamsTable, &r)
		})
	}
}

func (pl *importPlanner) owners() {
	for i := range pl.p.Owners {
		r := pl.p.Owners[i]
		if !pl.check(ImportOwners, r.ID, r.validate, r.checkText) ||
			pl.existing(ImportOwners, r.ID, func() bool { return pl.t.exists(bucketOwners, r.ID) }) != importNew {
			continue
		}
		if m := pl.missing(importRef{"team_id", ImportTeams, bucketTeams, r.TeamID}); m != nil {
			pl.refuseMissing(ImportOwners, r.ID, m)
			continue
		}
		pl.accept(ImportOwners, r.ID, func(t *txn) {
			stampTimes(t, &r.CreatedAt, &r.UpdatedAt)
			putImported(t, ownersTable, &r)
		})
	}
}

func (pl *importPlanner) renewalPolicies() {
	for i := range pl.p.RenewalPolicies {
		r := pl.p.RenewalPolicies[i]
		if !pl.check(ImportRenewalPolicies, r.ID, r.validate, r.checkText) ||
			pl.existing(ImportRenewalPolicies, r.ID, func() bool { return pl.t.exists(bucketRenewalPolicies, r.ID) }) != importNew ||
			!pl.takeName(bucketRenewalPolicies, ImportRenewalPolicies, r.ID, "name", r.Name) {
			continue
		}
		pl.accept(ImportRenewalPolicies, r.ID, func(t *txn) {
			stampTimes(t, &r.CreatedAt, &r.UpdatedAt)
			putImported(t, renewalPoliciesTable, &r)
		})
	}
}

func (pl *importPlanner) issuers() {
	for i := range pl.p.Issuers {
		r := pl.p.Issuers[i]
		if !pl.check(ImportIssuers, r.ID, r.validate, r.checkText) ||
			pl.existing(ImportIssuers, r.ID, func() bool { return pl.t.exists(bucketIssuers, r.ID) }) != importNew ||
			!pl.takeName(bucketIssuers, ImportIssuers, r.ID, "name", r.Name) {
			continue
		}
		pl.accept(ImportIssuers, r.ID, func(t *txn) {
			stampTimes(t, &r.CreatedAt, &r.UpdatedAt)
			putImported(t, issuersTable, &r)
		})
	}
}

// importedKeyID is the id of the key an imported agent keeps.
func importedKeyID(agentID string) string {
	id := "key-imported-" + agentID
	if len(id) > MaxIDLength {
		sum := sha256.Sum256([]byte(agentID))
		id = "key-imported-" + hex.EncodeToString(sum[:16])
	}
	return id
}

func (pl *importPlanner) agents() {
	for i := range pl.p.Agents {
		r := pl.p.Agents[i]
		r.APIKeyHash = strings.ToLower(r.APIKeyHash)
		if !pl.check(ImportAgents, r.ID, r.validate, r.checkText) ||
			pl.existing(ImportAgents, r.ID, func() bool { return pl.t.exists(bucketAgents, r.ID) }) != importNew ||
			!pl.takeName(bucketAgents, ImportAgents, r.ID, "name", r.Name) {
			continue
		}
		var key *APIKey
		if r.APIKeyHash != "" {
			key = &APIKey{
				ID: importedKeyID(r.ID), Name: "agent " + r.ID + " (imported)", Role: RoleAgent,
				AgentID: r.ID, Hash: r.APIKeyHash,
			}
			if len(key.Name) > MaxNameLength {
				key.Name = key.ID
			}
			// A hash that is already some key's would hand that key to
			// this agent, or this agent's key to its holder: refused.
			if pl.hash[r.APIKeyHash] || pl.t.tx.Bucket(bucketKeyByHash).Get([]byte(r.APIKeyHash)) != nil {
				pl.refuse(ImportAgents, r.ID, "api_key_hash", "api_key_hash is already the hash of another API key in the cluster or the import")
				continue
			}
			if pl.t.exists(bucketAPIKeys, key.ID) || !pl.takeName(bucketAPIKeys, ImportAgents, r.ID, "api_key_hash", key.Name) {
				if pl.t.exists(bucketAPIKeys, key.ID) {
					pl.refuse(ImportAgents, r.ID, "api_key_hash", fmt.Sprintf("the agent's key id %q is taken", key.ID))
				}
				continue
			}
			pl.hash[r.APIKeyHash] = true
			pl.plan.AgentKeys = append(pl.plan.AgentKeys, r.ID)
		}
		pl.accept(ImportAgents, r.ID, func(t *txn) {
			if r.RegisteredAt.IsZero() {
				r.RegisteredAt = t.now()
			}
			r.RetiredAt = nil
			agentStore{t}.put(nil, &r)
			t.setName(bucketAgents, "", r.Name, r.ID)
			if key != nil {
				k := *key
				k.CreatedAt = r.RegisteredAt
				putJSON(t.bucket(bucketAPIKeys), []byte(k.ID), &k)
				must(t.bucket(bucketKeyByHash).Put([]byte(k.Hash), []byte(k.ID)))
				must(t.bucket(bucketKeyByAgent).Put(compound(k.AgentID, k.ID), nil))
				t.setName(bucketAPIKeys, "", k.Name, k.ID)
				t.addCount(1, string(bucketAPIKeys))
			}
		})
	}
}

func (pl *importPlanner) targets() {
	for i := range pl.p.Targets {
		r := pl.p.Targets[i]
		if !pl.check(ImportTargets, r.ID, r.validate, r.checkText) ||
			pl.existing(ImportTargets, r.ID, func() bool { return pl.t.exists(bucketTargets, r.ID) }) != importNew {
			continue
		}
		if m := pl.missing(importRef{"agent_id", ImportAgents, bucketAgents, r.AgentID}); m != nil {
			pl.refuseMissing(ImportTargets, r.ID, m)
			continue
		}
		if !pl.takeName(bucketTargets, ImportTargets, r.ID, "name", r.uniqueName()) {
			continue
		}
		pl.accept(ImportTargets, r.ID, func(t *txn) {
			stampTimes(t, &r.CreatedAt, &r.UpdatedAt)
			putImported(t, targetsTable, &r)
		})
	}
}

func (pl *importPlanner) policyRules() {
	for i := range pl.p.PolicyRules {
		r := pl.p.PolicyRules[i]
		if !pl.check(ImportPolicyRules, r.ID, r.validate, r.checkText) ||
			pl.existing(ImportPolicyRules, r.ID, func() bool { return pl.t.exists(bucketPolicyRules, r.ID) }) != importNew ||
			!pl.takeName(bucketPolicyRules, ImportPolicyRules, r.ID, "name", r.Name) {
			continue
		}
		pl.accept(ImportPolicyRules, r.ID, func(t *txn) {
			stampTimes(t, &r.CreatedAt, &r.UpdatedAt)
			putImported(t, policyRulesTable, &r)
		})
	}
}

// MappingID names a certificate-target mapping in refusals and digests.
func MappingID(certID, targetID string) string { return certID + "/" + targetID }

func (pl *importPlanner) certificates() {
	for i := range pl.p.Certificates {
		r := pl.p.Certificates[i]
		if !pl.check(ImportCertificates, r.ID, r.validate, r.checkText) ||
			pl.existing(ImportCertificates, r.ID, func() bool { return pl.t.exists(bucketCertificates, r.ID) }) != importNew {
			continue
		}
		if m := pl.missing(
			importRef{"owner_id", ImportOwners, bucketOwners, r.OwnerID},
			importRef{"team_id", ImportTeams, bucketTeams, r.TeamID},
			importRef{"issuer_id", ImportIssuers, bucketIssuers, r.IssuerID},
			importRef{"renewal_policy_id", ImportRenewalPolicies, bucketRenewalPolicies, r.RenewalPolicyID},
		); m != nil {
			pl.refuseMissing(ImportCertificates, r.ID, m)
			continue
		}
		r.TargetIDs = dedupSorted(r.TargetIDs)
		r.RenewalInfo = nil // a CA's window is only ever its answer (SetRenewalInfo)
		mapped := true
		for _, tid := range r.TargetIDs {
			if !pl.has(ImportTargets, bucketTargets, tid) {
				pl.refuse(ImportMappings, MappingID(r.ID, tid), "target_id",
					fmt.Sprintf("target_id %q is neither in the cluster nor imported (deployment_targets)", tid))
				mapped = false
			}
		}
		if !mapped || !pl.takeName(bucketCertificates, ImportCertificates, r.ID, "name", r.Name) {
			continue
		}
		pl.count(ImportMappings).New += len(r.TargetIDs)
		pl.accept(ImportCertificates, r.ID, func(t *txn) {
			stampTimes(t, &r.CreatedAt, &r.UpdatedAt)
			s := certStore{t}
			s.put(nil, &r)
			s.setTargets(r.ID, r.TargetIDs)
		})
	}
}

// CertificateFingerprint is the hex SHA-256 of the first certificate of a
// PEM chain, or an error saying what is wrong with the chain.
func CertificateFingerprint(chain string) (string, error) {
	block, _ := pem.Decode([]byte(chain))
	if block == nil {
		return "", errors.New("pem_chain holds no PEM block")
	}
	if block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("pem_chain starts with a %q block, not a CERTIFICATE", block.Type)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return "", fmt.Errorf("pem_chain's first certificate does not parse: %v", err)
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:]), nil
}

func (pl *importPlanner) versions() {
	for i := range pl.p.Versions {
		r := pl.p.Versions[i]
		fp, err := CertificateFingerprint(r.PEMChain)
		if err != nil {
			pl.refuse(ImportVersions, r.ID, "pem_chain", "invalid PEM: "+err.Error())
			continue
		}
		if !pl.check(ImportVersions, r.ID, r.validate, nil) ||
			pl.existing(ImportVersions, r.ID, func() bool { return pl.t.exists(bucketVersions, r.ID) }) != importNew {
			continue
		}
		if fp != r.FingerprintSHA256 {
			pl.refuse(ImportVersions, r.ID, "fingerprint_sha256", "fingerprint_sha256 is not the SHA-256 of the certificate in pem_chain ("+fp+")")
			continue
		}
		if m := pl.missing(importRef{"certificate_id", ImportCertificates, bucketCertificates, r.CertificateID}); m != nil {
			pl.refuseMissing(ImportVersions, r.ID, m)
			continue
		}
		if other := pl.t.tx.Bucket(bucketVerByFP).Get([]byte(fp)); other != nil || pl.fps[fp] {
			pl.refuse(ImportVersions, r.ID, "fingerprint_sha256", "another version already has fingerprint "+fp)
			continue
		}
		pl.fps[fp] = true
		pl.accept(ImportVersions, r.ID, func(t *txn) {
			stampTimes(t, &r.CreatedAt, nil)
			putJSON(t.bucket(bucketVersions), []byte(r.ID), &r)
			must(t.bucket(bucketVerByCert).Put(append(prefix(r.CertificateID), timeIDKey(r.CreatedAt, r.ID)...), nil))
			must(t.bucket(bucketVerByFP).Put([]byte(r.FingerprintSHA256), []byte(r.ID)))
			t.addCount(1, string(bucketVersions))
		})
	}
}

func (pl *importPlanner) jobs() {
	for i := range pl.p.Jobs {
		r := pl.p.Jobs[i]
		r.LeaseHolder, r.LeaseExpiresAt = "", nil
		validate := func() error {
			st, err := validEnum("status", r.Status, JobStatuses, true)
			if err != nil {
				return err
			}
			c := r
			c.Status = JobPending
			if err := c.validate(); err != nil {
				return err
			}
			r = c
			r.Status = st
			return nil
		}
		if !pl.check(ImportJobs, r.ID, validate, nil) ||
			pl.existing(ImportJobs, r.ID, func() bool { return pl.t.exists(bucketJobs, r.ID) }) != importNew {
			continue
		}
		if m := pl.missing(
			importRef{"certificate_id", ImportCertificates, bucketCertificates, r.CertificateID},
			importRef{"target_id", ImportTargets, bucketTargets, r.TargetID},
			importRef{"agent_id", ImportAgents, bucketAgents, r.AgentID},
		); m != nil {
			pl.refuseMissing(ImportJobs, r.ID, m)
			continue
		}
		pl.accept(ImportJobs, r.ID, func(t *txn) {
			stampTimes(t, &r.CreatedAt, nil)
			if r.ScheduledAt.IsZero() {
				r.ScheduledAt = r.CreatedAt
			}
			jobStore{t}.put(nil, &r)
		})
	}
}

func (pl *importPlanner) violations() {
	for i := range pl.p.Violations {
		r := pl.p.Violations[i]
		if !pl.check(ImportViolations, r.ID, r.validate, nil) ||
			pl.existing(ImportViolations, r.ID, func() bool { return pl.t.exists(bucketViolations, r.ID) }) != importNew {
			continue
		}
		if m := pl.missing(
			importRef{"certificate_id", ImportCertificates, bucketCertificates, r.CertificateID},
			importRef{"rule_id", ImportPolicyRules, bucketPolicyRules, r.RuleID},
		); m != nil {
			pl.refuseMissing(ImportViolations, r.ID, m)
			continue
		}
		pl.accept(ImportViolations, r.ID, func(t *txn) {
			stampTimes(t, &r.CreatedAt, nil)
			putJSON(t.bucket(bucketViolations), []byte(r.ID), &r)
			must(t.bucket(bucketViolCert).Put(compound(r.CertificateID, r.ID), nil))
			must(t.bucket(bucketViolRule).Put(compound(r.RuleID, r.ID), nil))
			t.moveRefs(nil, []reference{{bucket: bucketPolicyRules, id: r.RuleID}})
			t.addCount(1, string(bucketViolations))
		})
	}
}

func (pl *importPlanner) notifications() {
	for i := range pl.p.Notifications {
		r := pl.p.Notifications[i]
		validate := func() error {
			st, err := validEnum("status", r.Status, NotificationStatus, true)
			if err != nil {
				return err
			}
			c := r
			c.Status = NotifyPending
			if err := c.validate(); err != nil {
				return err
			}
			r = c
			r.Status = st
			return nil
		}
		if !pl.check(ImportNotifications, r.ID, validate, nil) ||
			pl.existing(ImportNotifications, r.ID, func() bool { return pl.t.exists(bucketNotifications, r.ID) }) != importNew {
			continue
		}
		if m := pl.missing(importRef{"certificate_id", ImportCertificates, bucketCertificates, r.CertificateID}); m != nil {
			pl.refuseMissing(ImportNotifications, r.ID, m)
			continue
		}
		if r.DedupKey != "" && pl.t.tx.Bucket(bucketNotifKey).Get([]byte(r.DedupKey)) != nil {
			pl.refuse(ImportNotifications, r.ID, "dedup_key", "another notification already has dedup_key "+r.DedupKey)
			continue
		}
		pl.accept(ImportNotifications, r.ID, func(t *txn) {
			stampTimes(t, &r.CreatedAt, nil)
			notificationStore{t}.put(nil, &r)
		})
	}
}

// validImportedEvent checks an audit event read from the source.
func validImportedEvent(ev *AuditEvent) error {
	if err := ValidID("id", ev.ID); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"actor", ev.Actor}, {"action", ev.Action}, {"resource_type", ev.ResourceType}, {"resource_id", ev.ResourceID},
	} {
		if err := ValidText(f.name, f.v, 255, f.name != "resource_id"); err != nil {
			return err
		}
	}
	at, err := validEnum("actor_type", ev.ActorType, ActorTypes, true)
	if err != nil {
		return err
	}
	ev.ActorType = at
	if len(ev.Details) == 0 || string(ev.Details) == "null" {
		ev.Details = json.RawMessage("{}")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(ev.Details, &obj); err != nil {
		return invalidf("details", "details must be a JSON object")
	}
	if ev.Timestamp.IsZero() {
		return invalidf("timestamp", "timestamp is required")
	}
	return nil
}

func (pl *importPlanner) auditEvents() {
	var events []AuditEvent
	for i := range pl.p.AuditEvents {
		r := pl.p.AuditEvents[i]
		if !pl.check(ImportAuditEvents, r.ID, func() error { return validImportedEvent(&r) }, nil) ||
			pl.existing(ImportAuditEvents, r.ID, nil) != importNew {
			continue
		}
		pl.added[ImportAuditEvents+"/"+r.ID] = true
		pl.count(ImportAuditEvents).New++
		events = append(events, r)
	}
	if len(events) == 0 {
		return
	}
	source, digests := pl.p.Source, pl.p.Digests
	pl.plan.writes = append(pl.plan.writes, func(t *txn) {
		t.audit("audit_imported", "import", source, map[string]any{
			"source": source, "events": len(events), "first_id": events[0].ID, "last_id": events[len(events)-1].ID,
		})
		for _, r := range events {
			t.appendAudit(AuditEvent{
				Actor: r.Actor, ActorType: r.ActorType, Action: r.Action,
				ResourceType: r.ResourceType, ResourceID: r.ResourceID, Details: r.Details, Timestamp: r.Timestamp.UTC(),
				Imported: &AuditImport{Source: source, ID: r.ID},
			})
			must(t.bucket(bucketNames).Put(importKey(ImportAuditEvents, r.ID), []byte(digests[ImportAuditEvents+"/"+r.ID])))
		}
	})
}

// SortRefusals orders refusals by table (in import order), then id.
func SortRefusals(rs []ImportRefusal) {
	order := map[string]int{}
	for i, t := range ImportTables {
		order[t] = i
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if order[rs[i].Table] != order[rs[j].Table] {
			return order[rs[i].Table] < order[rs[j].Table]
		}
		return rs[i].ID < rs[j].ID
	})
}
