package pgimport

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

// Tables are the tables an import reads, in the order it sends them: each
// after those it references. Mappings travel with their certificates.
var Tables = []string{
	fsm.ImportTeams, fsm.ImportOwners, fsm.ImportRenewalPolicies, fsm.ImportIssuers, fsm.ImportAgents,
	fsm.ImportTargets, fsm.ImportPolicyRules, fsm.ImportCertificates, fsm.ImportVersions, fsm.ImportJobs,
	fsm.ImportViolations, fsm.ImportNotifications, fsm.ImportAuditEvents,
}

// row is one row read, as the record sent for it.
type row struct {
	id   string
	key  string   // where reading resumes after it: the id, or "time|id" for audit events
	rec  any      // the wire record
	refs []string // the records it references, "table/id"
	size int      // about how many bytes it adds to a batch
}

// querier is what reading needs of a connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// count returns the number of rows of table.
func count(ctx context.Context, q querier, table string) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("pgimport: count %s: %w", table, err)
	}
	return n, nil
}

func ts(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func tsp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(t)
	return &v
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func ref(table, id string) []string {
	if id == "" {
		return nil
	}
	return []string{table + "/" + id}
}

func size(v any) int {
	b, _ := json.Marshal(v)
	return len(b) + 1
}

// rawJSON is a jsonb column's value, or nil for NULL.
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return json.RawMessage(b)
}

// read returns up to limit rows of table after key, in key order.
func read(ctx context.Context, q querier, table, after string, limit int, warn func(string)) ([]row, error) {
	var (
		rows pgx.Rows
		err  error
	)
	byID := func(cols, from string) (pgx.Rows, error) {
		return q.Query(ctx, "SELECT "+cols+" FROM "+from+" WHERE id > $1 ORDER BY id LIMIT $2", after, limit)
	}
	var out []row
	add := func(id string, rec any, refs ...[]string) {
		var all []string
		for _, r := range refs {
			all = append(all, r...)
		}
		out = append(out, row{id: id, key: id, rec: rec, refs: all, size: size(rec)})
	}
	switch table {
	case fsm.ImportTeams:
		if rows, err = byID("id, name, description, created_at, updated_at", "teams"); err != nil {
			break
		}
		for rows.Next() {
			var r wire.Team
			var desc *string
			var c, u *time.Time
			if err = rows.Scan(&r.ID, &r.Name, &desc, &c, &u); err != nil {
				break
			}
			r.Description, r.CreatedAt, r.UpdatedAt = str(desc), ts(c), ts(u)
			add(r.ID, r)
		}
	case fsm.ImportOwners:
		if rows, err = byID("id, name, email, team_id, created_at, updated_at", "owners"); err != nil {
			break
		}
		for rows.Next() {
			var r wire.Owner
			var team *string
			var c, u *time.Time
			if err = rows.Scan(&r.ID, &r.Name, &r.Email, &team, &c, &u); err != nil {
				break
			}
			r.TeamID, r.CreatedAt, r.UpdatedAt = str(team), ts(c), ts(u)
			add(r.ID, r, ref(fsm.ImportTeams, r.TeamID))
		}
	case fsm.ImportRenewalPolicies:
		if rows, err = byID("id, name, renewal_window_days, auto_renew, max_retries, retry_interval_minutes, alert_thresholds_days, created_at, updated_at", "renewal_policies"); err != nil {
			break
		}
		for rows.Next() {
			var r wire.RenewalPolicy
			var window, retries, interval *int32
			var auto *bool
			var thresholds []byte
			var c, u *time.Time
			if err = rows.Scan(&r.ID, &r.Name, &window, &auto, &retries, &interval, &thresholds, &c, &u); err != nil {
				break
			}
			if window != nil {
				w := int(*window)
				r.RenewalWindowDays = &w
			}
			r.AutoRenew = auto == nil || *auto
			if retries != nil {
				r.MaxRetries = int(*retries)
			}
			if interval != nil {
				r.RetryIntervalMinutes = int(*interval)
			}
			r.AlertThresholdsDays = []int{}
			if len(thresholds) > 0 {
				if jerr := json.Unmarshal(thresholds, &r.AlertThresholdsDays); jerr != nil {
					warn(fmt.Sprintf("renewal_policies %s: alert_thresholds_days %s is not a list of days; the default is used", r.ID, thresholds))
					r.AlertThresholdsDays = nil
				}
			}
			r.CreatedAt, r.UpdatedAt = ts(c), ts(u)
			add(r.ID, r)
		}
	case fsm.ImportIssuers:
		if rows, err = byID("id, name, type, config, enabled, created_at, updated_at", "issuers"); err != nil {
			break
		}
		for rows.Next() {
			var r wire.Issuer
			var typ string
			var config []byte
			var enabled *bool
			var c, u *time.Time
			if err = rows.Scan(&r.ID, &r.Name, &typ, &config, &enabled, &c, &u); err != nil {
				break
			}
			r.Type = canon(typ, wire.IssuerTypes(), issuerAliases)
			r.Config, r.Enabled, r.CreatedAt, r.UpdatedAt = rawJSON(config), enabled == nil || *enabled, ts(c), ts(u)
			add(r.ID, r)
		}
	case fsm.ImportAgents:
		if rows, err = byID("id, name, hostname, status, last_heartbeat_at, registered_at, api_key_hash", "agents"); err != nil {
			break
		}
		for rows.Next() {
			var r wire.ImportAgent
			var status, hash *string
			var hb, reg *time.Time
			if err = rows.Scan(&r.ID, &r.Name, &r.Hostname, &status, &hb, &reg, &hash); err != nil {
				break
			}
			r.Status = canon(str(status), wire.AgentStatuses(), nil)
			r.LastHeartbeatAt, r.RegisteredAt = tsp(hb), ts(reg)
			r.APIKeyHash = keyHash(r.ID, str(hash), warn)
			add(r.ID, r)
		}
	case fsm.ImportTargets:
		if rows, err = byID("id, name, type, agent_id, config, enabled, created_at, updated_at", "deployment_targets"); err != nil {
			break
		}
		for rows.Next() {
			var r wire.Target
			var typ string
			var agent *string
			var config []byte
			var enabled *bool
			var c, u *time.Time
			if err = rows.Scan(&r.ID, &r.Name, &typ, &agent, &config, &enabled, &c, &u); err != nil {
				break
			}
			r.Type = canon(typ, wire.TargetTypes(), nil)
			r.AgentID, r.Config, r.Enabled, r.CreatedAt, r.UpdatedAt = str(agent), rawJSON(config), enabled == nil || *enabled, ts(c), ts(u)
			add(r.ID, r, ref(fsm.ImportAgents, r.AgentID))
		}
	case fsm.ImportPolicyRules:
		if rows, err = byID("id, name, type, config, enabled, created_at, updated_at", "policy_rules"); err != nil {
			break
		}
		for rows.Next() {
			var r wire.PolicyRule
			var typ string
			var config []byte
			var enabled *bool
			var c, u *time.Time
			if err = rows.Scan(&r.ID, &r.Name, &typ, &config, &enabled, &c, &u); err != nil {
				break
			}
			r.Type = canon(typ, wire.PolicyRuleTypes(), ruleAliases)
			r.Config = ruleConfig(r.Type, rawJSON(config))
			r.Enabled, r.CreatedAt, r.UpdatedAt = enabled == nil || *enabled, ts(c), ts(u)
			add(r.ID, r)
		}
	case fsm.ImportCertificates:
		return readCertificates(ctx, q, after, limit, warn)
	case fsm.ImportVersions:
		if rows, err = byID("id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain, csr_pem, created_at", "certificate_versions"); err != nil {
			break
		}
		for rows.Next() {
			var r wire.CertificateVersion
			var csr *string
			var nb, na, c *time.Time
			if err = rows.Scan(&r.ID, &r.CertificateID, &r.SerialNumber, &nb, &na, &r.FingerprintSHA256, &r.PEMChain, &csr, &c); err != nil {
				break
			}
			r.NotBefore, r.NotAfter, r.CSRPEM, r.CreatedAt = ts(nb), ts(na), str(csr), ts(c)
			r.FingerprintSHA256 = fingerprint(r.ID, r.FingerprintSHA256, r.PEMChain, warn)
			add(r.ID, r, ref(fsm.ImportCertificates, r.CertificateID))
		}
	case fsm.ImportJobs:
		if rows, err = byID("id, type, certificate_id, target_id, agent_id, status, attempts, max_attempts, last_error, deployment_result, scheduled_at, started_at, completed_at, created_at", "jobs"); err != nil {
			break
		}
		for rows.Next() {
			var r wire.Job
			var typ, status string
			var cert, target, agent, lastErr *string
			var attempts, maxAttempts *int32
			var result []byte
			var sched, started, completed, c *time.Time
			if err = rows.Scan(&r.ID, &typ, &cert, &target, &agent, &status, &attempts, &maxAttempts, &lastErr, &result, &sched, &started, &completed, &c); err != nil {
				break
			}
			r.Type, r.Status = canon(typ, wire.JobTypes(), nil), canon(status, wire.JobStatuses(), nil)
			r.CertificateID, r.TargetID, r.AgentID, r.LastError = str(cert), str(target), str(agent), str(lastErr)
			if attempts != nil {
				r.Attempts = int(*attempts)
			}
			if maxAttempts != nil {
				r.MaxAttempts = int(*maxAttempts)
			}
			r.DeploymentResult = rawJSON(result)
			r.ScheduledAt, r.StartedAt, r.CompletedAt, r.CreatedAt = ts(sched), tsp(started), tsp(completed), ts(c)
			add(r.ID, r, ref(fsm.ImportCertificates, r.CertificateID), ref(fsm.ImportTargets, r.TargetID), ref(fsm.ImportAgents, r.AgentID))
		}
	case fsm.ImportViolations:
		if rows, err = byID("id, certificate_id, rule_id, message, severity, created_at", "policy_violations"); err != nil {
			break
		}
		for rows.Next() {
			var r wire.PolicyViolation
			var sev string
			var c *time.Time
			if err = rows.Scan(&r.ID, &r.CertificateID, &r.RuleID, &r.Message, &sev, &c); err != nil {
				break
			}
			r.Severity, r.CreatedAt = canon(sev, wire.Severities(), nil), ts(c)
			add(r.ID, r, ref(fsm.ImportCertificates, r.CertificateID), ref(fsm.ImportPolicyRules, r.RuleID))
		}
	case fsm.ImportNotifications:
		if rows, err = byID("id, type, certificate_id, channel, recipient, message, sent_at, status, error", "notification_events"); err != nil {
			break
		}
		for rows.Next() {
			var r wire.Notification
			var typ, channel, status string
			var cert, errMsg *string
			var sent *time.Time
			if err = rows.Scan(&r.ID, &typ, &cert, &channel, &r.Recipient, &r.Message, &sent, &status, &errMsg); err != nil {
				break
			}
			r.Type, r.Channel = canon(typ, wire.NotificationTypes(), nil), canon(channel, wire.Channels(), nil)
			r.Status = canon(status, wire.NotificationStatuses(), nil)
			r.CertificateID, r.SentAt, r.Error = str(cert), tsp(sent), str(errMsg)
			// The original kept no creation time: the sending time, if any,
			// is the best there is.
			r.CreatedAt = ts(sent)
			add(r.ID, r, ref(fsm.ImportCertificates, r.CertificateID))
		}
	case fsm.ImportAuditEvents:
		return readAudit(ctx, q, after, limit)
	default:
		return nil, fmt.Errorf("pgimport: no table %q", table)
	}
	if err == nil && rows != nil {
		err = rows.Err()
	}
	if rows != nil {
		rows.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("pgimport: read %s: %w", table, err)
	}
	return out, nil
}

// readCertificates reads certificates with their mappings as target_ids.
func readCertificates(ctx context.Context, q querier, after string, limit int, warn func(string)) ([]row, error) {
	rows, err := q.Query(ctx, `SELECT id, name, common_name, sans, environment, owner_id, team_id, issuer_id, renewal_policy_id,
		status, expires_at, tags, last_renewal_at, last_deployment_at, created_at, updated_at
		FROM managed_certificates WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("pgimport: read managed_certificates: %w", err)
	}
	var certs []*wire.Certificate
	byID := map[string]*wire.Certificate{}
	for rows.Next() {
		r := &wire.Certificate{}
		var env, owner, team, issuer, policy *string
		var status string
		var tags []byte
		var exp, renewed, deployed, c, u *time.Time
		if err = rows.Scan(&r.ID, &r.Name, &r.CommonName, &r.SANs, &env, &owner, &team, &issuer, &policy,
			&status, &exp, &tags, &renewed, &deployed, &c, &u); err != nil {
			break
		}
		if r.SANs == nil {
			r.SANs = []string{}
		}
		r.Environment, r.OwnerID, r.TeamID, r.IssuerID, r.RenewalPolicyID = str(env), str(owner), str(team), str(issuer), str(policy)
		r.Status = canon(status, wire.CertificateStatuses(), nil)
		r.ExpiresAt, r.LastRenewalAt, r.LastDeploymentAt, r.CreatedAt, r.UpdatedAt = tsp(exp), tsp(renewed), tsp(deployed), ts(c), ts(u)
		r.Tags = map[string]string{}
		if len(tags) > 0 {
			var m map[string]any
			if json.Unmarshal(tags, &m) != nil {
				warn(fmt.Sprintf("managed_certificates %s: tags %s are not a JSON object; imported without tags", r.ID, tags))
			}
			for k, v := range m {
				if s, ok := v.(string); ok {
					r.Tags[k] = s
				} else {
					b, _ := json.Marshal(v)
					r.Tags[k] = string(b)
				}
			}
		}
		r.TargetIDs = []string{}
		certs = append(certs, r)
		byID[r.ID] = r
	}
	if err == nil {
		err = rows.Err()
	}
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("pgimport: read managed_certificates: %w", err)
	}
	if len(certs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(certs))
	for i, c := range certs {
		ids[i] = c.ID
	}
	mrows, err := q.Query(ctx, "SELECT certificate_id, target_id FROM certificate_target_mappings WHERE certificate_id = ANY($1) ORDER BY certificate_id, target_id", ids)
	if err != nil {
		return nil, fmt.Errorf("pgimport: read certificate_target_mappings: %w", err)
	}
	for mrows.Next() {
		var cert, target string
		if err = mrows.Scan(&cert, &target); err != nil {
			break
		}
		if c := byID[cert]; c != nil {
			c.TargetIDs = append(c.TargetIDs, target)
		}
	}
	if err == nil {
		err = mrows.Err()
	}
	mrows.Close()
	if err != nil {
		return nil, fmt.Errorf("pgimport: read certificate_target_mappings: %w", err)
	}
	out := make([]row, 0, len(certs))
	for _, c := range certs {
		var refs []string
		refs = append(refs, ref(fsm.ImportOwners, c.OwnerID)...)
		refs = append(refs, ref(fsm.ImportTeams, c.TeamID)...)
		refs = append(refs, ref(fsm.ImportIssuers, c.IssuerID)...)
		refs = append(refs, ref(fsm.ImportRenewalPolicies, c.RenewalPolicyID)...)
		for _, t := range c.TargetIDs {
			refs = append(refs, ref(fsm.ImportTargets, t)...)
		}
		out = append(out, row{id: c.ID, key: c.ID, rec: *c, refs: refs, size: size(c)})
	}
	return out, nil
}

// auditKey is where reading audit events resumes: after (timestamp, id).
func auditKey(at time.Time, id string) string { return at.UTC().Format(time.RFC3339Nano) + "|" + id }

// readAudit reads audit events in the order they happened.
func readAudit(ctx context.Context, q querier, after string, limit int) ([]row, error) {
	var (
		rows pgx.Rows
		err  error
	)
	const cols = "SELECT id, actor, actor_type, action, resource_type, resource_id, details, timestamp FROM audit_events "
	if after == "" {
		rows, err = q.Query(ctx, cols+"ORDER BY timestamp, id LIMIT $1", limit)
	} else {
		at, id, _ := strings.Cut(after, "|")
		t, perr := time.Parse(time.RFC3339Nano, at)
		if perr != nil {
			return nil, fmt.Errorf("pgimport: the checkpoint's audit position %q is unreadable: %w", after, perr)
		}
		rows, err = q.Query(ctx, cols+"WHERE (timestamp, id) > ($1, $2) ORDER BY timestamp, id LIMIT $3", t, id, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("pgimport: read audit_events: %w", err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r wire.AuditEvent
		var actorType string
		var details []byte
		var at *time.Time
		if err := rows.Scan(&r.ID, &r.Actor, &actorType, &r.Action, &r.ResourceType, &r.ResourceID, &details, &at); err != nil {
			return nil, fmt.Errorf("pgimport: read audit_events: %w", err)
		}
		r.ActorType = canon(actorType, wire.ActorTypes(), nil)
		r.Details, r.Timestamp = rawJSON(details), ts(at)
		out = append(out, row{id: r.ID, key: auditKey(*at, r.ID), rec: r, size: size(r)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgimport: read audit_events: %w", err)
	}
	return out, nil
}
