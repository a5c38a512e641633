package wire

// ImportAgent is an agent read from the original certctl with the hash of
// its key as the original stored it (hex SHA-256): it becomes the agent's
// key here, so the agent's existing key keeps working.
type ImportAgent struct {
	Agent
	APIKeyHash string `json:"api_key_hash,omitempty"`
}

// ImportRecords are rows of the original's tables, in its JSON field names;
// a certificate's target_ids are its rows of certificate_target_mappings.
type ImportRecords struct {
	Teams           []Team               `json:"teams,omitempty"`
	Owners          []Owner              `json:"owners,omitempty"`
	RenewalPolicies []RenewalPolicy      `json:"renewal_policies,omitempty"`
	Issuers         []Issuer             `json:"issuers,omitempty"`
	Agents          []ImportAgent        `json:"agents,omitempty"`
	Targets         []Target             `json:"deployment_targets,omitempty"`
	PolicyRules     []PolicyRule         `json:"policy_rules,omitempty"`
	Certificates    []Certificate        `json:"managed_certificates,omitempty"`
	Versions        []CertificateVersion `json:"certificate_versions,omitempty"`
	Jobs            []Job                `json:"jobs,omitempty"`
	Violations      []PolicyViolation    `json:"policy_violations,omitempty"`
	Notifications   []Notification       `json:"notification_events,omitempty"`
	AuditEvents     []AuditEvent         `json:"audit_events,omitempty"`
}

// ImportRequest is one batch of POST /api/v1/import (admin). Source names
// the database read (no password); DryRun plans without writing, and then
// Assume lists the records ("table/id") earlier batches of the dry run
// would have imported, so that references to them count as met.
type ImportRequest struct {
	Source  string        `json:"source"`
	DryRun  bool          `json:"dry_run,omitempty"`
	Assume  []string      `json:"assume,omitempty"`
	Records ImportRecords `json:"records"`
}

// ImportRefusal is one row the import refuses and why; a mapping's id is
// "certificate_id/target_id".
type ImportRefusal struct {
	Table  string `json:"table"`
	ID     string `json:"id"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// ImportCount is what a batch did (or would do) with one table's rows:
// new, already imported identical (skipped), refused.
type ImportCount struct {
	New     int `json:"new"`
	Same    int `json:"same"`
	Refused int `json:"refused"`
}

// ImportResult answers an ImportRequest: per table counts, the rows
// refused, and the agents whose existing key was carried over.
type ImportResult struct {
	DryRun    bool                   `json:"dry_run"`
	Tables    map[string]ImportCount `json:"tables"`
	Refused   []ImportRefusal        `json:"refused,omitempty"`
	AgentKeys []string               `json:"agent_keys,omitempty"`
}
