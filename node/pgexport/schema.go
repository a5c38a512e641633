package pgexport

import (
	"fmt"
	"regexp"
	"strings"
)

// schemaDDL creates the original's fourteen tables (migrations/000001 of
// certctl 1.0) when missing, with their indexes, and certctl_export. Two
// differences, both loosening: the unique constraints on names and
// fingerprints are DEFERRABLE INITIALLY DEFERRED, so one transaction may
// swap two names or reuse a deleted record's name before the old row goes
// (they are checked at commit, as the original checked them); and
// renewal_policies.renewal_window_days and
// managed_certificates.renewal_policy_id may be NULL, which the appliance
// means ("a third of the lifetime", "the default policy") and no value of
// the original's says. A database made with the original's DDL keeps its own
// constraints: CREATE TABLE IF NOT EXISTS leaves it as it is.
const schemaDDL = `
CREATE TABLE IF NOT EXISTS teams (
  id TEXT PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED,
  description TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_teams_name ON teams(name);

CREATE TABLE IF NOT EXISTS owners (
  id TEXT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  email VARCHAR(255) NOT NULL,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_owners_email ON owners(email);
CREATE INDEX IF NOT EXISTS idx_owners_team_id ON owners(team_id);

CREATE TABLE IF NOT EXISTS renewal_policies (
  id TEXT PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED,
  renewal_window_days INT,
  auto_renew BOOLEAN NOT NULL DEFAULT true,
  max_retries INT NOT NULL DEFAULT 3,
  retry_interval_minutes INT NOT NULL DEFAULT 60,
  alert_thresholds_days JSONB NOT NULL DEFAULT '[30, 14, 7, 0]',
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_renewal_policies_name ON renewal_policies(name);

CREATE TABLE IF NOT EXISTS issuers (
  id TEXT PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED,
  type VARCHAR(255) NOT NULL,
  config JSONB,
  enabled BOOLEAN NOT NULL DEFAULT true,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_issuers_name ON issuers(name);
CREATE INDEX IF NOT EXISTS idx_issuers_enabled ON issuers(enabled);

CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED,
  hostname VARCHAR(255) NOT NULL,
  status VARCHAR(50) NOT NULL DEFAULT 'offline',
  last_heartbeat_at TIMESTAMPTZ,
  registered_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  api_key_hash VARCHAR(255) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_agents_status ON agents(status);
CREATE INDEX IF NOT EXISTS idx_agents_hostname ON agents(hostname);
CREATE INDEX IF NOT EXISTS idx_agents_last_heartbeat_at ON agents(last_heartbeat_at);

CREATE TABLE IF NOT EXISTS managed_certificates (
  id TEXT PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED,
  common_name VARCHAR(255) NOT NULL,
  sans TEXT[] DEFAULT ARRAY[]::TEXT[],
  environment VARCHAR(50),
  owner_id TEXT NOT NULL REFERENCES owners(id) ON DELETE RESTRICT,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  issuer_id TEXT NOT NULL REFERENCES issuers(id) ON DELETE RESTRICT,
  renewal_policy_id TEXT REFERENCES renewal_policies(id) ON DELETE RESTRICT,
  status VARCHAR(50) NOT NULL DEFAULT 'pending',
  expires_at TIMESTAMPTZ,
  tags JSONB NOT NULL DEFAULT '{}',
  last_renewal_at TIMESTAMPTZ,
  last_deployment_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_managed_certificates_status ON managed_certificates(status);
CREATE INDEX IF NOT EXISTS idx_managed_certificates_expires_at ON managed_certificates(expires_at);
CREATE INDEX IF NOT EXISTS idx_managed_certificates_owner_id ON managed_certificates(owner_id);
CREATE INDEX IF NOT EXISTS idx_managed_certificates_team_id ON managed_certificates(team_id);
CREATE INDEX IF NOT EXISTS idx_managed_certificates_issuer_id ON managed_certificates(issuer_id);
CREATE INDEX IF NOT EXISTS idx_managed_certificates_name ON managed_certificates(name);

CREATE TABLE IF NOT EXISTS deployment_targets (
  id TEXT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  type VARCHAR(255) NOT NULL,
  agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
  config JSONB,
  enabled BOOLEAN NOT NULL DEFAULT true,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_deployment_targets_agent_id ON deployment_targets(agent_id);
CREATE INDEX IF NOT EXISTS idx_deployment_targets_enabled ON deployment_targets(enabled);
CREATE INDEX IF NOT EXISTS idx_deployment_targets_name ON deployment_targets(name);

CREATE TABLE IF NOT EXISTS certificate_target_mappings (
  certificate_id TEXT NOT NULL REFERENCES managed_certificates(id) ON DELETE CASCADE,
  target_id TEXT NOT NULL REFERENCES deployment_targets(id) ON DELETE CASCADE,
  PRIMARY KEY (certificate_id, target_id)
);
CREATE INDEX IF NOT EXISTS idx_certificate_target_mappings_target_id ON certificate_target_mappings(target_id);

CREATE TABLE IF NOT EXISTS certificate_versions (
  id TEXT PRIMARY KEY,
  certificate_id TEXT NOT NULL REFERENCES managed_certificates(id) ON DELETE CASCADE,
  serial_number VARCHAR(255) NOT NULL,
  not_before TIMESTAMPTZ NOT NULL,
  not_after TIMESTAMPTZ NOT NULL,
  fingerprint_sha256 VARCHAR(255) NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED,
  pem_chain TEXT NOT NULL,
  csr_pem TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_certificate_versions_certificate_id ON certificate_versions(certificate_id);
CREATE INDEX IF NOT EXISTS idx_certificate_versions_fingerprint ON certificate_versions(fingerprint_sha256);

CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  type VARCHAR(255) NOT NULL,
  certificate_id TEXT REFERENCES managed_certificates(id) ON DELETE CASCADE,
  target_id TEXT REFERENCES deployment_targets(id) ON DELETE SET NULL,
  agent_id TEXT REFERENCES agents(id) ON DELETE SET NULL,
  status VARCHAR(50) NOT NULL DEFAULT 'pending',
  attempts INT NOT NULL DEFAULT 0,
  max_attempts INT NOT NULL DEFAULT 3,
  last_error TEXT,
  deployment_result JSONB,
  scheduled_at TIMESTAMPTZ,
  started_at TIMESTAMPTZ,
  completed_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS idx_jobs_certificate_id ON jobs(certificate_id);
CREATE INDEX IF NOT EXISTS idx_jobs_scheduled_at ON jobs(scheduled_at);
CREATE INDEX IF NOT EXISTS idx_jobs_agent_id ON jobs(agent_id);

CREATE TABLE IF NOT EXISTS policy_rules (
  id TEXT PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED,
  type VARCHAR(255) NOT NULL,
  config JSONB NOT NULL,
  enabled BOOLEAN NOT NULL DEFAULT true,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_policy_rules_name ON policy_rules(name);
CREATE INDEX IF NOT EXISTS idx_policy_rules_enabled ON policy_rules(enabled);

CREATE TABLE IF NOT EXISTS policy_violations (
  id TEXT PRIMARY KEY,
  certificate_id TEXT NOT NULL REFERENCES managed_certificates(id) ON DELETE CASCADE,
  rule_id TEXT NOT NULL REFERENCES policy_rules(id) ON DELETE CASCADE,
  message TEXT NOT NULL,
  severity VARCHAR(50) NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_policy_violations_certificate_id ON policy_violations(certificate_id);
CREATE INDEX IF NOT EXISTS idx_policy_violations_rule_id ON policy_violations(rule_id);
CREATE INDEX IF NOT EXISTS idx_policy_violations_severity ON policy_violations(severity);

CREATE TABLE IF NOT EXISTS audit_events (
  id TEXT PRIMARY KEY,
  actor VARCHAR(255) NOT NULL,
  actor_type VARCHAR(50) NOT NULL,
  action VARCHAR(255) NOT NULL,
  resource_type VARCHAR(255) NOT NULL,
  resource_id VARCHAR(255) NOT NULL,
  details JSONB,
  timestamp TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_audit_events_resource_type_id ON audit_events(resource_type, resource_id);
CREATE INDEX IF NOT EXISTS idx_audit_events_actor ON audit_events(actor);
CREATE INDEX IF NOT EXISTS idx_audit_events_timestamp ON audit_events(timestamp);
CREATE INDEX IF NOT EXISTS idx_audit_events_action ON audit_events(action);

CREATE TABLE IF NOT EXISTS notification_events (
  id TEXT PRIMARY KEY,
  type VARCHAR(255) NOT NULL,
  certificate_id TEXT REFERENCES managed_certificates(id) ON DELETE CASCADE,
  channel VARCHAR(255) NOT NULL,
  recipient VARCHAR(255) NOT NULL,
  message TEXT NOT NULL,
  sent_at TIMESTAMPTZ,
  status VARCHAR(50) NOT NULL DEFAULT 'pending',
  error TEXT
);
CREATE INDEX IF NOT EXISTS idx_notification_events_certificate_id ON notification_events(certificate_id);
CREATE INDEX IF NOT EXISTS idx_notification_events_status ON notification_events(status);
CREATE INDEX IF NOT EXISTS idx_notification_events_type ON notification_events(type);

CREATE TABLE IF NOT EXISTS certctl_export (
  id INT PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  cluster_id TEXT NOT NULL,
  raft_index BIGINT NOT NULL,
  raft_term BIGINT NOT NULL,
  schema_version BIGINT NOT NULL,
  exported_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
`

// DDL returns the statements that create the fourteen tables and
// certctl_export when missing.
func DDL() string { return strings.TrimLeft(schemaDDL, "\n") }

// tableSpec is one exported table: its columns in the original's order and
// the columns of its primary key (the ON CONFLICT target).
type tableSpec struct {
	name string
	cols []string
	key  []string
}

var specs = map[string]tableSpec{
	"teams":                       {"teams", cols("id, name, description, created_at, updated_at"), []string{"id"}},
	"owners":                      {"owners", cols("id, name, email, team_id, created_at, updated_at"), []string{"id"}},
	"renewal_policies":            {"renewal_policies", cols("id, name, renewal_window_days, auto_renew, max_retries, retry_interval_minutes, alert_thresholds_days, created_at, updated_at"), []string{"id"}},
	"issuers":                     {"issuers", cols("id, name, type, config, enabled, created_at, updated_at"), []string{"id"}},
	"agents":                      {"agents", cols("id, name, hostname, status, last_heartbeat_at, registered_at, api_key_hash"), []string{"id"}},
	"managed_certificates":        {"managed_certificates", cols("id, name, common_name, sans, environment, owner_id, team_id, issuer_id, renewal_policy_id, status, expires_at, tags, last_renewal_at, last_deployment_at, created_at, updated_at"), []string{"id"}},
	"deployment_targets":          {"deployment_targets", cols("id, name, type, agent_id, config, enabled, created_at, updated_at"), []string{"id"}},
	"certificate_target_mappings": {"certificate_target_mappings", cols("certificate_id, target_id"), []string{"certificate_id", "target_id"}},
	"certificate_versions":        {"certificate_versions", cols("id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain, csr_pem, created_at"), []string{"id"}},
	"jobs":                        {"jobs", cols("id, type, certificate_id, target_id, agent_id, status, attempts, max_attempts, last_error, deployment_result, scheduled_at, started_at, completed_at, created_at"), []string{"id"}},
	"policy_rules":                {"policy_rules", cols("id, name, type, config, enabled, created_at, updated_at"), []string{"id"}},
	"policy_violations":           {"policy_violations", cols("id, certificate_id, rule_id, message, severity, created_at"), []string{"id"}},
	"audit_events":                {"audit_events", cols("id, actor, actor_type, action, resource_type, resource_id, details, timestamp"), []string{"id"}},
	"notification_events":         {"notification_events", cols("id, type, certificate_id, channel, recipient, message, sent_at, status, error"), []string{"id"}},
}

func cols(s string) []string { return strings.Split(s, ", ") }

// Columns returns the columns of table in the original's order (nil for a
// table that is not one of the fourteen).
func Columns(table string) []string { return append([]string(nil), specs[table].cols...) }

// quoted returns the columns as SQL identifiers ("timestamp" is a keyword).
func quoted(c []string) string {
	q := make([]string, len(c))
	for i, s := range c {
		q[i] = `"` + s + `"`
	}
	return strings.Join(q, ", ")
}

// The DDL of a fresh database, split as pg_dump splits it: the tables bare,
// then (after the rows are in) their indexes and foreign keys, which
// PostgreSQL builds in one pass each instead of row by row. The result is
// the schema schemaDDL makes, the foreign keys under the names PostgreSQL
// gives inline ones (<table>_<column>_fkey).
var freshTables, freshConstraints = splitDDL(schemaDDL)

var (
	referencesRE = regexp.MustCompile(`\s+REFERENCES (\w+)\((\w+)\) ON DELETE (CASCADE|RESTRICT|SET NULL)`)
	createRE     = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS (\w+) \($`)
)

func splitDDL(ddl string) (tables, constraints string) {
	var t, idx, fks []string
	table := ""
	for _, line := range strings.Split(ddl, "\n") {
		if m := createRE.FindStringSubmatch(line); m != nil {
			table = m[1]
		}
		if strings.HasPrefix(line, "CREATE INDEX") {
			idx = append(idx, line)
			continue
		}
		if m := referencesRE.FindStringSubmatch(line); m != nil {
			col := strings.Fields(line)[0]
			fks = append(fks, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s_%s_fkey FOREIGN KEY (%s) REFERENCES %s(%s) ON DELETE %s;",
				table, table, col, col, m[1], m[2], m[3]))
			line = referencesRE.ReplaceAllString(line, "")
		}
		t = append(t, line)
	}
	return strings.Join(t, "\n"), strings.Join(append(idx, fks...), "\n") + "\n"
}
