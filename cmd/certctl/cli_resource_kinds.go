package main

import (
	"errors"
	"slices"
	"strings"

	"github.com/certctl/certctl/api/wire"
)

// resourceKind is one resource of the API as the CLI sees it: where it is,
// how its table looks, what its list filters and its create/update flags
// are, which of its fields name other resources and which the server
// manages. The commands (cli_resource.go) and the inventory (apply, diff,
// export) are one implementation driven by these entries.
type resourceKind struct {
	name     string // the command, and an inventory's kind in any case: "renewal-policy"
	kind     string // the inventory's kind as export writes it: "RenewalPolicy"
	aliases  []string
	plural   string // for messages: "renewal policies"
	path     string // the collection under /api/v1
	idPrefix string // of the ids the server makes
	wire     any    // the wire type: the fields a body may hold, in order
	columns  []column
	filters  []filter
	fields   []fieldFlag // flags of create and update
	// secrets names the connectors declaring the config's secret fields:
	// "issuer" or "target"; "" for none.
	secrets string
	remove  string // "delete", "archive" or "" (none)
	// readOnly kinds have no create or update.
	readOnly bool
	// listPath, when set, makes the list's path from the filter flags given
	// (a violation is listed under its rule or its certificate).
	// consumed is the query parameter it put in the path, not sent again.
	listPath func(filters map[string]string) (path []string, consumed string, err error)
	actions  []action
	refs     []ref
	server   []string // fields the server manages: never sent, compared or exported
	// command false: the kind has its own commands elsewhere (cert, agent).
	command bool
	// inventory true: apply, diff and export handle the kind.
	inventory bool
	// skipExport leaves records out of export and prune (archived certificates).
	skipExport func(map[string]any) bool
}

// column is one column of a list's table: the header and the JSON field.
type column struct {
	header, field string
	format        string // "" (as text), "time", "expires"
}

// filter is a list flag and the query parameter it sets.
type filter struct {
	flag, query, usage string
	ref                string // the kind whose ids complete it; "" none
}

// flagType is how a field flag's text becomes the field's value.
type flagType int

const (
	flagString flagType = iota
	flagBool
	flagInt
	flagStrings // repeatable, a JSON array of strings
	flagInts    // repeatable, a JSON array of numbers
	flagMap     // repeatable key=value, a JSON object of strings
	flagConfig  // repeatable key=value into the config object, the value read as YAML
)

// fieldFlag is a create/update flag and the field it sets.
type fieldFlag struct {
	flag, field string
	typ         flagType
	usage       string
	ref         string // the kind whose ids complete it
}

// action is a POST without a body on one resource (notifications/ID/read).
type action struct{ name, path, short, status string }

// ref is a field naming another resource by its id (a list of ids when many).
type ref struct {
	field, kind string
	many        bool
}

// serverManaged are the fields every resource's server stamps.
var serverManaged = []string{"created_at", "updated_at", "secrets_cleared"}

// resourceKinds is the table of every resource kind, the inventory's in
// the order apply writes them first: teams, owners, issuers, renewal
// policies, targets, certificates, then policy rules. Nothing refers to a
// rule, and a rule judges certificates: written first, a rule of severity
// Error would refuse a certificate of the same inventory that breaks it,
// where written after it records the violation (as the cluster that was
// exported did).
func resourceKinds() []*resourceKind {
	id := fieldFlag{flag: "id", field: "id", usage: "ID to give it (default: the server chooses)"}
	name := fieldFlag{flag: "name", field: "name", usage: "unique name"}
	enabled := fieldFlag{flag: "enabled", field: "enabled", typ: flagBool, usage: "whether it is in use"}
	config := fieldFlag{flag: "config", field: "config", typ: flagConfig, usage: "config field as key=value (value read as YAML: 90, true, [a, b]); repeatable"}
	return []*resourceKind{
		{name: "team", kind: "Team", plural: "teams", path: "teams", idPrefix: "t-", wire: wire.Team{}, command: true, inventory: true, remove: "delete",
			columns: []column{{"ID", "id", ""}, {"NAME", "name", ""}, {"DESCRIPTION", "description", ""}},
			fields:  []fieldFlag{id, name, {flag: "description", field: "description", usage: "what the team does"}},
		},
		{name: "owner", kind: "Owner", plural: "owners", path: "owners", idPrefix: "o-", wire: wire.Owner{}, command: true, inventory: true, remove: "delete",
			columns: []column{{"ID", "id", ""}, {"NAME", "name", ""}, {"EMAIL", "email", ""}, {"TEAM", "team_id", ""}},
			filters: []filter{{flag: "team", query: "team_id", usage: "only this team's owners", ref: "team"}},
			fields:  []fieldFlag{id, name, {flag: "email", field: "email", usage: "e-mail address"}, {flag: "team", field: "team_id", usage: "team ID", ref: "team"}},
			refs:    []ref{{field: "team_id", kind: "team"}},
		},
		{name: "issuer", kind: "Issuer", plural: "issuers", path: "issuers", idPrefix: "iss-", wire: wire.Issuer{}, command: true, inventory: true, remove: "delete", secrets: "issuer",
			columns: []column{{"ID", "id", ""}, {"NAME", "name", ""}, {"TYPE", "type", ""}, {"ENABLED", "enabled", ""}},
			fields:  []fieldFlag{id, name, {flag: "type", field: "type", usage: "issuer type, such as GenericCA or ACME"}, enabled, config},
			actions: []action{{name: "test", path: "test", short: "Test the issuer's connection to its CA", status: "tested"}},
		},
		{name: "renewal-policy", kind: "RenewalPolicy", aliases: []string{"renewalpolicy"}, plural: "renewal policies", path: "renewal-policies", idPrefix: "rp-",
			wire: wire.RenewalPolicy{}, command: true, inventory: true, remove: "delete",
			columns: []column{{"ID", "id", ""}, {"NAME", "name", ""}, {"WINDOW DAYS", "renewal_window_days", ""}, {"AUTO RENEW", "auto_renew", ""}, {"ALERTS (DAYS)", "alert_thresholds_days", ""}},
			fields: []fieldFlag{id, name,
				{flag: "renewal-window-days", field: "renewal_window_days", typ: flagInt, usage: "renew this many days before expiry"},
				{flag: "auto-renew", field: "auto_renew", typ: flagBool, usage: "renew without an operator"},
				{flag: "max-retries", field: "max_retries", typ: flagInt, usage: "attempts of a failed renewal"},
				{flag: "retry-interval-minutes", field: "retry_interval_minutes", typ: flagInt, usage: "minutes between attempts"},
				{flag: "alert-threshold", field: "alert_thresholds_days", typ: flagInts, usage: "days before expiry to alert; repeatable"}},
		},
		{name: "target", kind: "Target", plural: "targets", path: "targets", idPrefix: "tgt-", wire: wire.Target{}, command: true, inventory: true, remove: "delete", secrets: "target",
			columns: []column{{"ID", "id", ""}, {"NAME", "name", ""}, {"TYPE", "type", ""}, {"AGENT", "agent_id", ""}, {"ENABLED", "enabled", ""}},
			filters: []filter{{flag: "agent", query: "agent_id", usage: "only this agent's targets", ref: "agent"}, {flag: "type", query: "type", usage: "only this type, such as NGINX"}},
			fields: []fieldFlag{id, name, {flag: "type", field: "type", usage: "target type, such as NGINX, F5 or IIS"},
				{flag: "agent", field: "agent_id", usage: "ID of the agent that deploys to it", ref: "agent"}, enabled, config},
			refs: []ref{{field: "agent_id", kind: "agent"}},
		},
		{name: "certificate", kind: "Certificate", aliases: []string{"cert"}, plural: "certificates", path: "certificates", idPrefix: "mc-", wire: wire.Certificate{}, inventory: true, remove: "archive",
			// Its commands are certctl cert's (cli_cert.go): update and archive come from here.
			fields: []fieldFlag{name, {flag: "common-name", field: "common_name", usage: "common name: a host name, IP address or wildcard"},
				{flag: "san", field: "sans", typ: flagStrings, usage: "subject alternative name; repeatable (replaces the list)"},
				{flag: "environment", field: "environment", usage: "environment, such as production or staging"},
				{flag: "owner", field: "owner_id", usage: "owner ID", ref: "owner"}, {flag: "team", field: "team_id", usage: "team ID", ref: "team"},
				{flag: "issuer", field: "issuer_id", usage: "issuer ID", ref: "issuer"},
				{flag: "target", field: "target_ids", typ: flagStrings, usage: "deployment target ID; repeatable (replaces the list)", ref: "target"},
				{flag: "renewal-policy", field: "renewal_policy_id", usage: "renewal policy ID", ref: "renewal-policy"},
				{flag: "key-type", field: "key_type", usage: "ECDSA-P256, ECDSA-P384, RSA-2048, RSA-3072, RSA-4096 or Ed25519"},
				{flag: "tag", field: "tags", typ: flagMap, usage: "tag as key=value; repeatable (merged into the tags)"}},
			refs: []ref{{field: "owner_id", kind: "owner"}, {field: "team_id", kind: "team"}, {field: "issuer_id", kind: "issuer"},
				{field: "renewal_policy_id", kind: "renewal-policy"}, {field: "target_ids", kind: "target", many: true}},
			server:     []string{"status", "status_reason", "expires_at", "last_renewal_at", "last_deployment_at"},
			skipExport: func(v map[string]any) bool { return v["status"] == string(wire.CertificateArchived) },
		},
		{name: "policy", kind: "PolicyRule", aliases: []string{"policy-rule", "policyrule", "rule"}, plural: "policy rules", path: "policies", idPrefix: "pr-",
			wire: wire.PolicyRule{}, command: true, inventory: true, remove: "delete",
			columns: []column{{"ID", "id", ""}, {"NAME", "name", ""}, {"TYPE", "type", ""}, {"SEVERITY", "severity", ""}, {"ENABLED", "enabled", ""}},
			fields: []fieldFlag{id, name, {flag: "type", field: "type", usage: "rule type, such as AllowedDomains or CertificateLifetime"},
				{flag: "severity", field: "severity", usage: "Warning, Error or Critical"}, enabled, config},
		},
		{name: "agent", kind: "Agent", plural: "agents", path: "agents", idPrefix: "ag-", wire: wire.Agent{}},
		{name: "violation", kind: "PolicyViolation", plural: "policy violations", wire: wire.PolicyViolation{}, command: true, readOnly: true,
			columns: []column{{"ID", "id", ""}, {"CERTIFICATE", "certificate_id", ""}, {"RULE", "rule_id", ""}, {"SEVERITY", "severity", ""}, {"MESSAGE", "message", ""}, {"SINCE", "created_at", "time"}},
			filters: []filter{{flag: "rule", query: "rule_id", usage: "the rule's violations (or with --certificate, only this rule's)", ref: "policy"},
				{flag: "certificate", query: "certificate_id", usage: "the certificate's violations (or with --rule, only this certificate's)", ref: "certificate"}},
			listPath: violationsPath,
		},
		{name: "notification", kind: "Notification", plural: "notifications", path: "notifications", idPrefix: "ne-", wire: wire.Notification{}, command: true, readOnly: true,
			columns: []column{{"ID", "id", ""}, {"TYPE", "type", ""}, {"CHANNEL", "channel", ""}, {"RECIPIENT", "recipient", ""}, {"STATUS", "status", ""}, {"CERTIFICATE", "certificate_id", ""}, {"CREATED", "created_at", "time"}},
			filters: []filter{{flag: "status", query: "status", usage: "only this status, such as Pending, Sent, Failed or Read"},
				{flag: "type", query: "type", usage: "only this type, such as ExpirationWarning"},
				{flag: "channel", query: "channel", usage: "only this channel, such as Email or Webhook"},
				{flag: "certificate", query: "certificate_id", usage: "only this certificate's", ref: "certificate"}},
			actions: []action{{name: "read", path: "read", short: "Mark a notification read", status: "marked_as_read"},
				{name: "retry", path: "retry", short: "Put a failed or dead notification back to pending, its attempts reset", status: "requeued"}},
		},
	}
}

// violationsPath lists violations under their rule, or under their
// certificate, narrowed by the other filter.
func violationsPath(f map[string]string) ([]string, string, error) {
	switch {
	case f["rule_id"] != "" && f["certificate_id"] == "":
		return []string{"policies", f["rule_id"], "violations"}, "rule_id", nil
	case f["certificate_id"] != "":
		return []string{"certificates", f["certificate_id"], "violations"}, "certificate_id", nil
	}
	return nil, "", usageError{errors.New("violation list needs --rule ID or --certificate ID (the API lists violations by rule or by certificate)")}
}

// kindNamed returns the kind whose name, kind or alias is s (any case).
func kindNamed(kinds []*resourceKind, s string) *resourceKind {
	for _, k := range kinds {
		if strings.EqualFold(s, k.name) || strings.EqualFold(s, k.kind) || slices.ContainsFunc(k.aliases, func(a string) bool { return strings.EqualFold(a, s) }) {
			return k
		}
	}
	return nil
}

// article is "a team", "an issuer", "a policy rule": one of k in a sentence.
func (k *resourceKind) article() string {
	noun := strings.TrimSuffix(k.plural, "s")
	if strings.HasSuffix(k.plural, "ies") {
		noun = strings.TrimSuffix(k.plural, "ies") + "y"
	}
	if strings.ContainsAny(noun[:1], "aeiou") {
		return "an " + noun
	}
	return "a " + noun
}

// isServerField reports whether the server manages field of k.
func (k *resourceKind) isServerField(field string) bool {
	return slices.Contains(serverManaged, field) || slices.Contains(k.server, field)
}
