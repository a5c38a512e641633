package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/api/wire"
)

// Limits on a certificate's lists.
const (
	MaxSANs    = 100
	MaxTags    = 64
	MaxTargets = 256
)

// checkText refuses, in the certificate's name, common name, SANs,
// environment and tags, what CheckText refuses.
func (c *Certificate) checkText() error {
	if err := nameFields("name", c.Name, "common_name", c.CommonName); err != nil {
		return err
	}
	for i, s := range c.SANs {
		if err := textChars("sans", fmt.Sprintf("sans[%d]", i), s, false); err != nil {
			return err
		}
	}
	if err := ValidNameChars("environment", c.Environment); err != nil {
		return err
	}
	return tagChars(c.Tags)
}

func (c *Certificate) validate() error {
	if err := ValidID("id", c.ID); err != nil {
		return err
	}
	if err := validName("name", c.Name); err != nil {
		return err
	}
	if err := ValidCommonName("common_name", c.CommonName); err != nil {
		return err
	}
	if len(c.SANs) > MaxSANs {
		return invalidf("sans", "at most %d SANs are allowed", MaxSANs)
	}
	for _, s := range c.SANs {
		if err := ValidSAN("sans", s); err != nil {
			return err
		}
	}
	if err := ValidText("environment", c.Environment, 64, false); err != nil {
		return err
	}
	for _, r := range c.references()[:3] {
		if err := ValidID(r.field, r.id); err != nil {
			return err
		}
	}
	if err := optionalID("renewal_policy_id", c.RenewalPolicyID); err != nil {
		return err
	}
	if c.Status == "" {
		c.Status = CertPending
	}
	st, err := validEnum("status", c.Status, CertificateStatuses, true)
	if err != nil {
		return err
	}
	c.Status = st
	if len(c.Tags) > MaxTags {
		return invalidf("tags", "at most %d tags are allowed", MaxTags)
	}
	// Keys in order: the first error must be the same on every node.
	keys := make([]string, 0, len(c.Tags))
	for k := range c.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := ValidText("tags", k, 128, true); err != nil {
			return err
		}
		if err := ValidText("tags", c.Tags[k], 1024, false); err != nil {
			return err
		}
	}
	if len(c.TargetIDs) > MaxTargets {
		return invalidf("target_ids", "at most %d targets are allowed", MaxTargets)
	}
	for _, id := range c.TargetIDs {
		if err := ValidID("target_ids", id); err != nil {
			return err
		}
	}
	switch c.KeyGeneration {
	case "", wire.KeyGenerationAgent, wire.KeyGenerationServer:
	default:
		return invalidf("key_generation", "key_generation %q must be %q or %q", c.KeyGeneration, wire.KeyGenerationAgent, wire.KeyGenerationServer)
	}
	kt, err := validEnum("key_type", c.KeyType, KeyTypes, false)
	if err != nil {
		return err
	}
	c.KeyType = kt
	return ValidText("status_reason", c.StatusReason, 4096, false)
}

func (c *Certificate) references() []reference {
	return []reference{
		{bucketOwners, "owner", "owner_id", c.OwnerID},
		{bucketTeams, "team", "team_id", c.TeamID},
		{bucketIssuers, "issuer", "issuer_id", c.IssuerID},
		{bucketRenewalPolicies, "renewal policy", "renewal_policy_id", c.RenewalPolicyID},
	}
}

// certStore reads and writes certificates with their indexes and mappings.
type certStore struct{ t *txn }

func (s certStore) get(id string) (*Certificate, error) {
	var c Certificate
	found, err := getJSON(s.t.bucket(bucketCertificates), []byte(id), &c)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound("certificate", id)
	}
	return &c, nil
}

// put writes c and moves its index entries from old. The record carries its
// target ids (kept equal to certificate_target_mappings by every command that
// maps), so the stored JSON is the certificate's wire form.
func (s certStore) put(old, c *Certificate) {
	t := s.t
	if c.TargetIDs == nil {
		c.TargetIDs = []string{}
	}
	putJSON(t.bucket(bucketCertificates), []byte(c.ID), c)
	s.putScan(old, c)
	exp, stat := t.bucket(bucketCertExp), t.bucket(bucketCertStat)
	var oldName string
	var oldStatus wire.CertificateStatus
	var oldRefs []reference
	if old != nil {
		oldName, oldStatus, oldRefs = old.Name, old.Status, old.references()
		if old.ExpiresAt != nil {
			must(exp.Delete(timeIDKey(*old.ExpiresAt, old.ID)))
		}
		must(stat.Delete(compound(string(old.Status), old.ID)))
	} else {
		t.addCount(1, string(bucketCertificates))
	}
	if c.ExpiresAt != nil {
		must(exp.Put(timeIDKey(*c.ExpiresAt, c.ID), nil))
	}
	must(stat.Put(compound(string(c.Status), c.ID), nil))
	if oldStatus != c.Status {
		if oldStatus != "" {
			t.addCount(-1, string(bucketCertificates), "status", string(oldStatus))
		}
		t.addCount(1, string(bucketCertificates), "status", string(c.Status))
	}
	t.setName(bucketCertificates, oldName, c.Name, c.ID)
	t.moveRefs(oldRefs, c.references())
	if was, is := old != nil && weakAtRisk(old), weakAtRisk(c); was != is {
		t.addCount(map[bool]int64{true: 1, false: -1}[is], string(bucketCertificates), countWeak)
		if is {
			must(t.bucket(bucketCertWeak).Put([]byte(c.ID), nil))
		} else {
			must(t.bucket(bucketCertWeak).Delete([]byte(c.ID)))
		}
	}
}

// putScan keeps the renewal check's index in step with a certificate
// written over old (nil for a new one). A certificate whose expiry changed
// is no longer ended (EndExpiryWatch): its new expiry is watched again.
func (s certStore) putScan(old, c *Certificate) {
	t := s.t
	scan, ended := t.bucket(bucketRenewalScan), t.bucket(bucketScanEnded)
	if old != nil && inRenewalScan(ended, old) {
		must(scan.Delete(timeIDKey(*old.ExpiresAt, old.ID)))
	}
	if old != nil && old.ExpiresAt != nil && (c.ExpiresAt == nil || !old.ExpiresAt.Equal(*c.ExpiresAt)) {
		must(ended.Delete([]byte(c.ID)))
	}
	if inRenewalScan(ended, c) {
		must(scan.Put(timeIDKey(*c.ExpiresAt, c.ID), nil))
	}
	s.putRenewalInfo(old, c)
}

// inRenewalScan reports whether the renewal check looks after c: it has an
// expiry, a Watched status, and the check has not ended at that expiry.
func inRenewalScan(ended getter, c *Certificate) bool {
	return c.ExpiresAt != nil && Watched(c.Status) && !bytes.Equal(ended.Get([]byte(c.ID)), timeKey(*c.ExpiresAt))
}

// setTargets replaces the certificate's mappings with ids.
func (s certStore) setTargets(certID string, ids []string) {
	m, byTgt := s.t.bucket(bucketMappings), s.t.bucket(bucketMapByTgt)
	for _, old := range mappedTargets(s.t.tx, certID) {
		must(m.Delete(compound(certID, old)))
		must(byTgt.Delete(compound(old, certID)))
		s.t.moveRefs([]reference{{bucket: bucketTargets, id: old}}, nil)
	}
	for _, id := range ids {
		must(m.Put(compound(certID, id), nil))
		must(byTgt.Put(compound(id, certID), nil))
		s.t.moveRefs(nil, []reference{{bucket: bucketTargets, id: id}})
	}
}

func (s certStore) checkTargets(ids []string) error {
	for _, id := range ids {
		if err := s.t.requireExists(bucketTargets, "target", "target_ids", id); err != nil {
			return err
		}
	}
	return nil
}

// mappedTargets returns the target ids mapped to a certificate, in order.
func mappedTargets(tx *bolt.Tx, certID string) []string {
	out := []string{}
	pfx := prefix(certID)
	c := tx.Bucket(bucketMappings).Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		out = append(out, string(k[len(pfx):]))
	}
	return out
}

func dedupSorted(ids []string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	n := 0
	for i, id := range out {
		if i == 0 || id != out[n-1] {
			out[n] = id
			n++
		}
	}
	return out[:n]
}

// CreateCertificate adds a managed certificate with its target mappings.
type CreateCertificate struct {
	Certificate Certificate `json:"certificate"`
}

func (CreateCertificate) CommandType() CommandType { return CommandCreateCertificate }
func (p *CreateCertificate) Validate() error       { return p.Certificate.validate() }
func (p *CreateCertificate) checkText() error      { return p.Certificate.checkText() }
func (p *CreateCertificate) apply(t *txn) (any, error) {
	c := p.Certificate
	c.RenewalInfo = nil // only SetRenewalInfo records the CA's window
	if t.exists(bucketCertificates, c.ID) {
		return nil, conflictf("certificate", c.ID, "certificate %q already exists", c.ID)
	}
	if err := t.checkNameFree(bucketCertificates, "certificate", c.Name, c.ID); err != nil {
		return nil, err
	}
	if err := t.checkRefs(c.references()); err != nil {
		return nil, err
	}
	s := certStore{t}
	c.TargetIDs = dedupSorted(c.TargetIDs)
	if err := s.checkTargets(c.TargetIDs); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = t.now(), t.now()
	c.WeakKey = false // a fact of a version: RecordVersion sets it
	violations, err := planPolicies(t, &c, nil)
	if err != nil {
		return nil, err
	}
	s.put(nil, &c)
	s.setTargets(c.ID, c.TargetIDs)
	t.audit("certificate_created", "certificate", c.ID, map[string]any{
		"name": c.Name, "common_name": c.CommonName, "environment": c.Environment, "target_ids": c.TargetIDs,
	})
	applyPolicies(t, &c, violations)
	return c, nil
}

// UpdateCertificate replaces a certificate's descriptive fields and mappings.
// Status, renewal and deployment times are the lifecycle's and are kept;
// expires_at is kept unless the update sets it (inventory of external certs).
type UpdateCertificate struct {
	Certificate Certificate `json:"certificate"`
}

func (UpdateCertificate) CommandType() CommandType { return CommandUpdateCertificate }
func (p *UpdateCertificate) Validate() error       { return p.Certificate.validate() }
func (p *UpdateCertificate) checkText() error      { return p.Certificate.checkText() }
func (p *UpdateCertificate) apply(t *txn) (any, error) {
	s := certStore{t}
	old, err := s.get(p.Certificate.ID)
	if err != nil {
		return nil, err
	}
	if old.Status == CertArchived {
		return nil, statef("certificate", old.ID, "certificate %q is archived and cannot be changed", old.ID)
	}
	c := p.Certificate
	if err := t.checkNameFree(bucketCertificates, "certificate", c.Name, c.ID); err != nil {
		return nil, err
	}
	if err := t.checkRefs(c.references()); err != nil {
		return nil, err
	}
	c.TargetIDs = dedupSorted(c.TargetIDs)
	if err := s.checkTargets(c.TargetIDs); err != nil {
		return nil, err
	}
	c.Status, c.StatusReason = old.Status, old.StatusReason
	c.LastRenewalAt, c.LastDeploymentAt = old.LastRenewalAt, old.LastDeploymentAt
	c.WeakKey, c.RenewalInfo = old.WeakKey, old.RenewalInfo
	if c.ExpiresAt == nil {
		c.ExpiresAt = old.ExpiresAt
	}
	if c.KeyGeneration == "" {
		c.KeyGeneration = old.KeyGeneration
	}
	if c.KeyType == "" {
		c.KeyType = old.KeyType
	}
	c.CreatedAt, c.UpdatedAt = old.CreatedAt, t.now()
	violations, err := planPolicies(t, &c, nil)
	if err != nil {
		return nil, err
	}
	s.put(old, &c)
	s.setTargets(c.ID, c.TargetIDs)
	t.audit("certificate_updated", "certificate", c.ID, map[string]any{"name": c.Name, "target_ids": c.TargetIDs})
	applyPolicies(t, &c, violations)
	return c, nil
}

// ArchiveCertificate retires a certificate: status Archived, kept for history.
type ArchiveCertificate struct {
	ID string `json:"id"`
}

func (ArchiveCertificate) CommandType() CommandType { return CommandArchiveCertificate }
func (p *ArchiveCertificate) Validate() error       { return ValidID("id", p.ID) }
func (p *ArchiveCertificate) apply(t *txn) (any, error) {
	s := certStore{t}
	old, err := s.get(p.ID)
	if err != nil {
		return nil, err
	}
	if old.Status == CertArchived {
		return nil, nil
	}
	c := *old
	c.Status, c.UpdatedAt = CertArchived, t.now()
	s.put(old, &c)
	t.audit("certificate_archived", "certificate", c.ID, map[string]string{"previous_status": string(old.Status)})
	return nil, nil
}

// SetCertificateStatus moves a certificate to a lifecycle status. If From is
// set, the change applies only while the status is still From (compare and set),
// so a stale decision of the scheduler cannot overwrite a newer one.
type SetCertificateStatus struct {
	ID     string                 `json:"id"`
	Status wire.CertificateStatus `json:"status"`
	From   wire.CertificateStatus `json:"from,omitempty"`
	Reason string                 `json:"reason,omitempty"`
}

func (SetCertificateStatus) CommandType() CommandType { return CommandSetCertificateStatus }
func (p *SetCertificateStatus) Validate() error {
	if err := ValidID("id", p.ID); err != nil {
		return err
	}
	st, err := validEnum("status", p.Status, CertificateStatuses, true)
	if err != nil {
		return err
	}
	p.Status = st
	if p.From, err = validEnum("from", p.From, CertificateStatuses, false); err != nil {
		return err
	}
	return ValidText("reason", p.Reason, 4096, false)
}
func (p *SetCertificateStatus) apply(t *txn) (any, error) {
	s := certStore{t}
	old, err := s.get(p.ID)
	if err != nil {
		return nil, err
	}
	if p.From != "" && old.Status != p.From {
		return nil, statef("certificate", p.ID, "certificate %q is %s, not %s", p.ID, old.Status, p.From)
	}
	if old.Status == CertArchived && p.Status != CertArchived {
		return nil, statef("certificate", p.ID, "certificate %q is archived", p.ID)
	}
	if old.Status == p.Status && old.StatusReason == p.Reason {
		return nil, nil
	}
	c := *old
	c.Status, c.StatusReason, c.UpdatedAt = p.Status, p.Reason, t.now()
	s.put(old, &c)
	t.audit("certificate_status_changed", "certificate", c.ID, map[string]string{"from": string(old.Status), "to": string(c.Status), "reason": p.Reason})
	return nil, nil
}

// MapTarget maps a certificate to a target (idempotent).
type MapTarget struct {
	CertificateID string `json:"certificate_id"`
	TargetID      string `json:"target_id"`
}

func (MapTarget) CommandType() CommandType { return CommandMapTarget }
func (p *MapTarget) Validate() error {
	if err := ValidID("certificate_id", p.CertificateID); err != nil {
		return err
	}
	return ValidID("target_id", p.TargetID)
}
func (p *MapTarget) apply(t *txn) (any, error) {
	s := certStore{t}
	old, err := s.get(p.CertificateID)
	if err != nil {
		return nil, err
	}
	if err := t.requireExists(bucketTargets, "target", "target_id", p.TargetID); err != nil {
		return nil, err
	}
	if hasKey(t.bucket(bucketMappings), compound(p.CertificateID, p.TargetID)) {
		return nil, nil
	}
	c := *old
	c.TargetIDs = dedupSorted(append(append([]string{}, old.TargetIDs...), p.TargetID))
	c.UpdatedAt = t.now()
	s.put(old, &c)
	must(t.bucket(bucketMappings).Put(compound(p.CertificateID, p.TargetID), nil))
	must(t.bucket(bucketMapByTgt).Put(compound(p.TargetID, p.CertificateID), nil))
	t.moveRefs(nil, []reference{{bucket: bucketTargets, id: p.TargetID}})
	t.audit("certificate_target_mapped", "certificate", p.CertificateID, map[string]string{"target_id": p.TargetID})
	return nil, nil
}

// UnmapTarget removes a certificate ↔ target mapping.
type UnmapTarget struct {
	CertificateID string `json:"certificate_id"`
	TargetID      string `json:"target_id"`
}

func (UnmapTarget) CommandType() CommandType { return CommandUnmapTarget }
func (p *UnmapTarget) Validate() error       { return (&MapTarget{p.CertificateID, p.TargetID}).Validate() }
func (p *UnmapTarget) apply(t *txn) (any, error) {
	if !hasKey(t.bucket(bucketMappings), compound(p.CertificateID, p.TargetID)) {
		return nil, notFound("mapping", p.CertificateID+"/"+p.TargetID)
	}
	s := certStore{t}
	old, err := s.get(p.CertificateID)
	if err != nil {
		return nil, err
	}
	c := *old
	c.TargetIDs = slices.DeleteFunc(append([]string{}, old.TargetIDs...), func(id string) bool { return id == p.TargetID })
	c.UpdatedAt = t.now()
	s.put(old, &c)
	must(t.bucket(bucketMappings).Delete(compound(p.CertificateID, p.TargetID)))
	must(t.bucket(bucketMapByTgt).Delete(compound(p.TargetID, p.CertificateID)))
	t.moveRefs([]reference{{bucket: bucketTargets, id: p.TargetID}}, nil)
	t.audit("certificate_target_unmapped", "certificate", p.CertificateID, map[string]string{"target_id": p.TargetID})
	return nil, nil
}

// Certificate returns the certificate with id.
func (f *FSM) Certificate(id string) (*Certificate, error) {
	var out *Certificate
	err := f.view(func(tx *bolt.Tx) error {
		c, err := certStore{&txn{tx: tx}}.get(id)
		if err != nil {
			return err
		}
		out = c
		return nil
	})
	return out, err
}

// CertificateJSON returns the wire form of the certificate with id: its
// stored bytes while they are the same (storedCertificateIsWire).
func (f *FSM) CertificateJSON(id string) (json.RawMessage, error) {
	var out json.RawMessage
	err := f.view(func(tx *bolt.Tx) (err error) {
		v := tx.Bucket(bucketCertificates).Get([]byte(id))
		if v == nil {
			return notFound("certificate", id)
		}
		out, err = wireCertificate(bytes.Clone(v))
		return err
	})
	return out, err
}

// CertificateFilter selects certificates; empty fields match everything.
type CertificateFilter struct {
	Status        wire.CertificateStatus
	Environment   string
	OwnerID       string
	TeamID        string
	IssuerID      string
	ExpiresBefore *time.Time
	ExpiresAfter  *time.Time
	Q             string // substring of name or common name, case-insensitive
	AgentID       string // mapped to a target this agent serves
	TargetID      string // mapped to this target
	KeyType       wire.KeyType
	// Risk keeps the certificates at that risk at Clock (see Risk).
	Risk  Risk
	Clock RiskClock
	// agentTargets are AgentID's targets, read by the query.
	agentTargets *[]string
	// Sort is a field of CertificateSortFields, "-" first for descending;
	// empty means by id.
	Sort string
}

// CertificateSortFields are the fields a certificate list can be sorted by.
var CertificateSortFields = Enum[string]{"id", "name", "common_name", "status", "environment", "expires_at", "created_at", "updated_at"}

// certLess orders certificates by field, then id; unset expiries sort last.
func certLess(field string) func(a, b *Certificate) int {
	key := func(c *Certificate) string {
		switch field {
		case "name":
			return c.Name
		case "common_name":
			return c.CommonName
		case "status":
			return string(c.Status)
		case "environment":
			return c.Environment
		case "expires_at":
			if c.ExpiresAt == nil {
				return "\xff"
			}
			return c.ExpiresAt.UTC().Format("2006-01-02T15:04:05.000000000")
		case "created_at":
			return c.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000000")
		case "updated_at":
			return c.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000000000")
		}
		return c.ID
	}
	return func(a, b *Certificate) int {
		if c := strings.Compare(key(a), key(b)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	}
}

// match is predicate, or nil when the filter holds a status alone (the
// caller walks that status's index).
func (flt CertificateFilter) match() func(*Certificate) bool {
	if flt == (CertificateFilter{Status: flt.Status}) {
		return nil
	}
	return flt.predicate()
}

// predicate reports whether a certificate matches every field of the
// filter but Risk, which its walk decides.
func (flt CertificateFilter) predicate() func(*Certificate) bool {
	q := strings.ToLower(flt.Q)
	var agentTargets []string
	if flt.agentTargets != nil {
		agentTargets = *flt.agentTargets
	}
	keyType := func(c *Certificate) wire.KeyType {
		if c.KeyType == "" {
			return wire.KeyECDSAP256
		}
		return c.KeyType
	}
	return func(c *Certificate) bool {
		switch {
		case flt.TargetID != "" && !slices.Contains(c.TargetIDs, flt.TargetID),
			flt.AgentID != "" && !slices.ContainsFunc(c.TargetIDs, func(id string) bool { return slices.Contains(agentTargets, id) }),
			flt.KeyType != "" && keyType(c) != flt.KeyType:
			return false
		}
		switch {
		case flt.Status != "" && c.Status != flt.Status,
			flt.Environment != "" && c.Environment != flt.Environment,
			flt.OwnerID != "" && c.OwnerID != flt.OwnerID,
			flt.TeamID != "" && c.TeamID != flt.TeamID,
			flt.IssuerID != "" && c.IssuerID != flt.IssuerID:
			return false
		}
		if flt.ExpiresBefore != nil && (c.ExpiresAt == nil || !c.ExpiresAt.Before(*flt.ExpiresBefore)) {
			return false
		}
		if flt.ExpiresAfter != nil && (c.ExpiresAt == nil || !c.ExpiresAt.After(*flt.ExpiresAfter)) {
			return false
		}
		if q != "" && !strings.Contains(strings.ToLower(c.Name), q) && !strings.Contains(strings.ToLower(c.CommonName), q) {
			return false
		}
		return true
	}
}

// Certificates lists certificates in id order (by status index when filtered
// by status), with exact totals.
func (f *FSM) Certificates(flt CertificateFilter, p Page) (List[Certificate], error) {
	flt, sorted, err := flt.normalize()
	if err != nil {
		return List[Certificate]{}, err
	}
	if flt.AgentID != "" {
		ids, err := f.agentTargetIDs(flt.AgentID)
		if err != nil {
			return List[Certificate]{}, err
		}
		flt.agentTargets = &ids
	}
	if flt.Risk != "" {
		field, desc := strings.CutPrefix(flt.Sort, "-")
		var out List[Certificate]
		err := f.view(func(tx *bolt.Tx) (err error) {
			out, err = riskCertificates(tx, flt, field, desc, p)
			return err
		})
		return out, err
	}
	if sorted {
		field, desc := strings.CutPrefix(flt.Sort, "-")
		return f.sortedCertificates(flt, field, desc, p)
	}
	if raw, ok, err := f.certificatesIndexed(flt, p); ok || err != nil {
		if err != nil {
			return List[Certificate]{}, err
		}
		return decodeAll[Certificate](raw)
	}
	var out List[Certificate]
	err = f.view(func(tx *bolt.Tx) (err error) {
		if flt.Status != "" {
			out, err = scanIndex(tx, bucketCertStat, prefix(string(flt.Status)), 0, bucketCertificates, p, flt.match())
		} else {
			out, err = scanBucket(tx, bucketCertificates, p, flt.match())
		}
		return err
	})
	return out, err
}

// CertificatesJSON answers what Certificates answers, each certificate in
// its wire form. The common lists (unfiltered, by status, by expiry) are
// served as stored, without decoding and encoding each record, while the
// stored bytes are the wire form (storedCertificateIsWire).
func (f *FSM) CertificatesJSON(flt CertificateFilter, p Page) (List[json.RawMessage], error) {
	norm, sorted, err := flt.normalize()
	if err != nil {
		return List[json.RawMessage]{}, err
	}
	if !sorted {
		if raw, ok, err := f.certificatesIndexed(norm, p); ok || err != nil {
			if err != nil {
				return List[json.RawMessage]{}, err
			}
			for i, v := range raw.Items {
				if raw.Items[i], err = wireCertificate(v); err != nil {
					return List[json.RawMessage]{}, err
				}
			}
			return raw, nil
		}
	}
	l, err := f.Certificates(flt, p)
	if err != nil {
		return List[json.RawMessage]{}, err
	}
	out := List[json.RawMessage]{Items: make([]json.RawMessage, len(l.Items)), Total: l.Total}
	for i := range l.Items {
		if out.Items[i], err = json.Marshal(&l.Items[i]); err != nil {
			return List[json.RawMessage]{}, err
		}
	}
	return out, nil
}

// normalize canonicalises the status and checks the sort; sorted reports
// whether the list needs a sort other than by id.
func (flt CertificateFilter) normalize() (CertificateFilter, bool, error) {
	if st, ok := CertificateStatuses.Canonical(string(flt.Status)); ok {
		flt.Status = st
	}
	if flt.KeyType != "" {
		kt, ok := KeyTypes.Canonical(string(flt.KeyType))
		if !ok {
			return flt, false, invalidf("key_type", "key_type %q is not one of %s", flt.KeyType, strings.Join(KeyTypes.Strings(), ", "))
		}
		flt.KeyType = kt
	}
	if flt.Risk != "" {
		r, ok := Risks.Canonical(string(flt.Risk))
		if !ok {
			return flt, false, invalidf("risk", "risk %q is not one of %s", flt.Risk, joinRisks())
		}
		if flt.Clock.Now.IsZero() {
			return flt, false, invalidf("risk", "a risk is judged at a time: the query needs its clock")
		}
		flt.Risk = r
	} else {
		flt.Clock = RiskClock{}
	}
	field, desc := strings.CutPrefix(flt.Sort, "-")
	if field == "" || field == "id" && !desc {
		flt.Sort = ""
		return flt, false, nil
	}
	if _, ok := CertificateSortFields.Canonical(field); !ok {
		return flt, false, invalidf("sort", "sort %q must be one of %s, with '-' first for descending", flt.Sort, strings.Join(CertificateSortFields, ", "))
	}
	return flt, true, nil
}

// certificatesIndexed serves the lists an index answers page by page, as
// stored bytes: none, status only, or expiry only as the filter. ok is false
// for other filters.
func (f *FSM) certificatesIndexed(flt CertificateFilter, p Page) (out List[json.RawMessage], ok bool, err error) {
	onlyExpiry := flt == CertificateFilter{ExpiresBefore: flt.ExpiresBefore, ExpiresAfter: flt.ExpiresAfter}
	switch {
	case flt == CertificateFilter{}:
		out, err = f.certificatePage(p)
		return out, true, err
	case flt == CertificateFilter{Status: flt.Status}, onlyExpiry:
	default:
		return out, false, nil
	}
	err = f.view(func(tx *bolt.Tx) (err error) {
		if flt.Status != "" {
			out, err = rawIndexCounted(tx, bucketCertStat, prefix(string(flt.Status)), bucketCertificates, p,
				readCount(tx, string(bucketCertificates), "status", string(flt.Status)))
		} else {
			out, err = expiryRange(tx, flt.ExpiresAfter, flt.ExpiresBefore, p)
		}
		return err
	})
	return out, true, err
}

// CertificatesExpiringBefore calls fn for each certificate (not archived)
// whose expiry is before t, soonest first, reading only the expiry index range
// so a renewal sweep costs what is in its window. fn returning false stops.
func (f *FSM) CertificatesExpiringBefore(t time.Time, fn func(*Certificate) bool) error {
	return f.view(func(tx *bolt.Tx) error {
		end := timeKey(t)
		certs := tx.Bucket(bucketCertificates)
		c := tx.Bucket(bucketCertExp).Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], end) < 0; k, _ = c.Next() {
			var cert Certificate
			raw := certs.Get(k[8:])
			if raw == nil {
				continue
			}
			if err := cert.decodeStored(raw); err != nil {
				return unreadable(k[8:], err)
			}
			if cert.Status == CertArchived {
				continue
			}
			if !fn(&cert) {
				return nil
			}
		}
		return nil
	})
}

// CertificatesInRenewalScan calls fn for each certificate the renewal check
// looks after (Watched, and not ended by EndExpiryWatch) whose expiry is
// before t, soonest first. It reads only that range of its own index, so an
// expired certificate the check is done with costs nothing. fn returning
// false stops.
func (f *FSM) CertificatesInRenewalScan(t time.Time, fn func(*Certificate) bool) error {
	return f.certificatesByTimeIndex(bucketRenewalScan, t, fn)
}

// certificatesByTimeIndex calls fn for each certificate of index (keys: an
// 8-byte time, then the id) whose time is before t, in key order, until fn
// returns false.
func (f *FSM) certificatesByTimeIndex(index []byte, t time.Time, fn func(*Certificate) bool) error {
	return f.view(func(tx *bolt.Tx) error {
		end := timeKey(t)
		certs := tx.Bucket(bucketCertificates)
		c := tx.Bucket(index).Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], end) < 0; k, _ = c.Next() {
			var cert Certificate
			found, err := getJSON(certs, k[8:], &cert)
			if err != nil {
				return err
			}
			if found && !fn(&cert) {
				return nil
			}
		}
		return nil
	})
}

// CertificatesByStatusCount returns the number of certificates per status.
func (f *FSM) CertificatesByStatusCount() (map[wire.CertificateStatus]int, error) {
	out := map[wire.CertificateStatus]int{}
	err := f.view(func(tx *bolt.Tx) error {
		for _, st := range CertificateStatuses {
			if n := readCount(tx, string(bucketCertificates), "status", string(st)); n > 0 {
				out[st] = n
			}
		}
		return nil
	})
	return out, err
}

// sortedCertificates collects every match, sorts and pages it: the cost is
// the number of matches, so narrow filters stay cheap.
func (f *FSM) sortedCertificates(flt CertificateFilter, field string, desc bool, p Page) (List[Certificate], error) {
	all := flt
	all.Sort = ""
	var matches []Certificate
	err := f.view(func(tx *bolt.Tx) error {
		match := all.match()
		visit := func(c *Certificate) {
			if match == nil || match(c) {
				matches = append(matches, *c)
			}
		}
		if all.Status != "" {
			pfx := prefix(string(all.Status))
			certs := tx.Bucket(bucketCertificates)
			cur := tx.Bucket(bucketCertStat).Cursor()
			for k, _ := cur.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = cur.Next() {
				var c Certificate
				if _, err := getJSON(certs, k[len(pfx):], &c); err != nil {
					return err
				}
				visit(&c)
			}
			return nil
		}
		return tx.Bucket(bucketCertificates).ForEach(func(k, v []byte) error {
			var c Certificate
			if err := c.decodeStored(v); err != nil {
				return unreadable(k, err)
			}
			visit(&c)
			return nil
		})
	})
	if err != nil {
		return List[Certificate]{}, err
	}
	return sortPage(matches, field, desc, p), nil
}

// sortPage sorts matches by field (then id) and returns page p of them.
func sortPage(matches []Certificate, field string, desc bool, p Page) List[Certificate] {
	less := certLess(field)
	slices.SortFunc(matches, func(a, b Certificate) int {
		if desc {
			return less(&b, &a)
		}
		return less(&a, &b)
	})
	p = p.Normalize()
	lo := min(p.offset(), len(matches))
	hi := min(lo+p.PerPage, len(matches))
	page := append([]Certificate{}, matches[lo:hi]...)
	return List[Certificate]{Items: page, Total: len(matches)}
}

// agentTargetIDs returns the ids of the targets agentID serves.
func (f *FSM) agentTargetIDs(agentID string) ([]string, error) {
	ids := []string{}
	err := f.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTargets).ForEach(func(k, v []byte) error {
			var t struct {
				AgentID string `json:"agent_id"`
			}
			if err := json.Unmarshal(v, &t); err != nil {
				return unreadable(k, err)
			}
			if t.AgentID == agentID {
				ids = append(ids, string(k))
			}
			return nil
		})
	})
	return ids, err
}

// expiryRange pages the certificates expiring strictly between after and
// before (either may be nil) through the expiry index, in expiry order. Only
// the page is read; the rest of the range is counted by its keys.
func expiryRange(tx *bolt.Tx, after, before *time.Time, p Page) (List[json.RawMessage], error) {
	p = p.Normalize()
	c := tx.Bucket(bucketCertExp).Cursor()
	var k []byte
	if after != nil {
		k, _ = c.Seek(timeKey(after.Add(time.Nanosecond)))
	} else {
		k, _ = c.First()
	}
	var end []byte
	if before != nil {
		end = timeKey(*before)
	}
	certs := tx.Bucket(bucketCertificates)
	items := []json.RawMessage{}
	total := 0
	for ; k != nil && (end == nil || bytes.Compare(k[:8], end) < 0); k, _ = c.Next() {
		if total >= p.offset() && len(items) < p.PerPage {
			if v := certs.Get(k[8:]); v != nil {
				items = append(items, append(json.RawMessage(nil), v...))
			}
		}
		total++
	}
	return List[json.RawMessage]{Items: items, Total: total}, nil
}
