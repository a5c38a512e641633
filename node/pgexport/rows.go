package pgexport

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/certctl/certctl/fsm"
)

// Secrets declares the secret fields of issuer and target configs, as the
// connectors do (the issuer registry's and the target secret table's
// SecretFields). Either may be nil: no declared field.
type Secrets struct {
	Issuer func(typ string) (secret, destination []string)
	Target func(typ string) (secret, destination []string)
}

// sealedMark starts every value sealed under the cluster's key-encryption
// key (api/secrets.go); such values leave sealed.
const sealedMark = "sealed:"

// redacted stands for a secret that is not sealed, as the API shows it.
const redacted = "********"

// redact returns config with every declared secret field that holds
// anything but a sealed value replaced by the API's redaction mark. A
// config that is not a JSON object is dropped entirely (NULL) rather than
// risk a secret in it.
func redact(config json.RawMessage, fields []string) (any, error) {
	if len(config) == 0 || string(config) == "null" {
		return nil, nil
	}
	if len(fields) == 0 {
		return config, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(config, &m); err != nil {
		return nil, nil
	}
	changed := false
	for _, f := range fields {
		v, ok := m[f]
		if !ok || string(v) == "null" || string(v) == `""` {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil && strings.HasPrefix(s, sealedMark) {
			continue
		}
		m[f] = json.RawMessage(`"` + redacted + `"`)
		changed = true
	}
	if !changed {
		return config, nil
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(out), nil
}

// ref is a reference of a row to a record of another table.
type ref struct {
	table    string
	id       string
	nullable bool // a missing record makes it NULL; else the row is left out
	col      int  // the column of the row that holds it
}

// row is one record as the columns of its table, with the references the
// database checks.
type row struct {
	vals []any
	refs []ref
}

func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func tsp(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return pgTime(*t)
}

// pgTime is t as PostgreSQL keeps it: UTC, whole microseconds (truncated,
// as the binary protocol does, so a script and a direct export agree).
func pgTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func ts(t time.Time) any { return pgTime(t) }

// tsOrNull is ts for a nullable column: the zero time is NULL.
func tsOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return pgTime(t)
}

func jsonOr(raw json.RawMessage, empty string) any {
	if len(raw) == 0 || string(raw) == "null" {
		if empty == "" {
			return nil
		}
		return json.RawMessage(empty)
	}
	return raw
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// toRow converts a decoded record of table into its row.
func toRow(table string, rec any, sec Secrets) (row, error) {
	switch r := rec.(type) {
	case *fsm.Team:
		return row{vals: []any{r.ID, r.Name, str(r.Description), ts(r.CreatedAt), ts(r.UpdatedAt)}}, nil
	case *fsm.Owner:
		return row{vals: []any{r.ID, r.Name, r.Email, r.TeamID, ts(r.CreatedAt), ts(r.UpdatedAt)},
			refs: []ref{{table: "teams", id: r.TeamID, col: 3}}}, nil
	case *fsm.RenewalPolicy:
		var window any
		if r.RenewalWindowDays != nil {
			window = int32(*r.RenewalWindowDays)
		}
		th := r.AlertThresholdsDays
		if th == nil {
			th = []int{}
		}
		return row{vals: []any{r.ID, r.Name, window, r.AutoRenew, int32(r.MaxRetries), int32(r.RetryIntervalMinutes),
			mustJSON(th), ts(r.CreatedAt), ts(r.UpdatedAt)}}, nil
	case *fsm.Issuer:
		var fields []string
		if sec.Issuer != nil {
			fields, _ = sec.Issuer(string(r.Type))
		}
		cfg, err := redact(r.Config, fields)
		if err != nil {
			return row{}, err
		}
		return row{vals: []any{r.ID, r.Name, string(r.Type), cfg, r.Enabled, ts(r.CreatedAt), ts(r.UpdatedAt)}}, nil
	case *fsm.Agent:
		return row{vals: []any{r.ID, r.Name, r.Hostname, string(r.Status), tsp(r.LastHeartbeatAt), ts(r.RegisteredAt), r.APIKeyHash}}, nil
	case *fsm.Certificate:
		sans := r.SANs
		if sans == nil {
			sans = []string{}
		}
		tags := r.Tags
		if tags == nil {
			tags = map[string]string{}
		}
		refs := []ref{{table: "owners", id: r.OwnerID, col: 5}, {table: "teams", id: r.TeamID, col: 6}, {table: "issuers", id: r.IssuerID, col: 7}}
		if r.RenewalPolicyID != "" {
			refs = append(refs, ref{table: "renewal_policies", id: r.RenewalPolicyID, col: 8, nullable: true})
		}
		return row{vals: []any{r.ID, r.Name, r.CommonName, sans, str(r.Environment), r.OwnerID, r.TeamID, r.IssuerID,
			str(r.RenewalPolicyID), string(r.Status), tsp(r.ExpiresAt), mustJSON(tags), tsp(r.LastRenewalAt),
			tsp(r.LastDeploymentAt), ts(r.CreatedAt), ts(r.UpdatedAt)}, refs: refs}, nil
	case *fsm.Target:
		var fields []string
		if sec.Target != nil {
			fields, _ = sec.Target(string(r.Type))
		}
		cfg, err := redact(r.Config, fields)
		if err != nil {
			return row{}, err
		}
		return row{vals: []any{r.ID, r.Name, string(r.Type), r.AgentID, cfg, r.Enabled, ts(r.CreatedAt), ts(r.UpdatedAt)},
			refs: []ref{{table: "agents", id: r.AgentID, col: 3}}}, nil
	case *fsm.TargetMapping:
		return row{vals: []any{r.CertificateID, r.TargetID},
			refs: []ref{{table: "managed_certificates", id: r.CertificateID, col: 0}, {table: "deployment_targets", id: r.TargetID, col: 1}}}, nil
	case *fsm.CertificateVersion:
		return row{vals: []any{r.ID, r.CertificateID, r.SerialNumber, pgTime(r.NotBefore), pgTime(r.NotAfter), r.FingerprintSHA256,
			r.PEMChain, str(r.CSRPEM), ts(r.CreatedAt)},
			refs: []ref{{table: "managed_certificates", id: r.CertificateID, col: 1}}}, nil
	case *fsm.Job:
		var refs []ref
		if r.CertificateID != "" {
			refs = append(refs, ref{table: "managed_certificates", id: r.CertificateID, col: 2, nullable: true})
		}
		if r.TargetID != "" {
			refs = append(refs, ref{table: "deployment_targets", id: r.TargetID, col: 3, nullable: true})
		}
		if r.AgentID != "" {
			refs = append(refs, ref{table: "agents", id: r.AgentID, col: 4, nullable: true})
		}
		return row{vals: []any{r.ID, string(r.Type), str(r.CertificateID), str(r.TargetID), str(r.AgentID), string(r.Status),
			int32(r.Attempts), int32(r.MaxAttempts), str(r.LastError), jsonOr(r.DeploymentResult, ""), tsOrNull(r.ScheduledAt),
			tsp(r.StartedAt), tsp(r.CompletedAt), ts(r.CreatedAt)}, refs: refs}, nil
	case *fsm.PolicyRule:
		return row{vals: []any{r.ID, r.Name, string(r.Type), jsonOr(r.Config, "{}"), r.Enabled, ts(r.CreatedAt), ts(r.UpdatedAt)}}, nil
	case *fsm.PolicyViolation:
		return row{vals: []any{r.ID, r.CertificateID, r.RuleID, r.Message, string(r.Severity), ts(r.CreatedAt)},
			refs: []ref{{table: "managed_certificates", id: r.CertificateID, col: 1}, {table: "policy_rules", id: r.RuleID, col: 2}}}, nil
	case *fsm.AuditEvent:
		return row{vals: []any{r.ID, r.Actor, string(r.ActorType), r.Action, r.ResourceType, r.ResourceID,
			jsonOr(r.Details, ""), ts(r.Timestamp)}}, nil
	case *fsm.Notification:
		var refs []ref
		if r.CertificateID != "" {
			refs = append(refs, ref{table: "managed_certificates", id: r.CertificateID, col: 2, nullable: true})
		}
		return row{vals: []any{r.ID, string(r.Type), str(r.CertificateID), string(r.Channel), r.Recipient, r.Message,
			tsp(r.SentAt), string(r.Status), str(r.Error)}, refs: refs}, nil
	}
	return row{}, fmt.Errorf("pgexport: table %s: unexpected record %T", table, rec)
}
