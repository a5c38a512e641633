package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/api/wire"
)

// Policy evaluation runs inside Apply: CreateCertificate, UpdateCertificate
// and RecordVersion evaluate every enabled rule against the certificate they
// write and replace its violations in the same transaction. The inputs are the
// certificate, the stored rules (in key order), its renewal policy, its
// current version and the command's time, so every replica reaches the same
// violations. A violation of a rule of severity Error or Critical refuses the
// command instead (CodePolicy); creating or changing a rule evaluates every
// certificate again, in batches in the background (policy_reeval.go).
//
// The kinds of rule, each with its config (one field, required; unknown
// fields are refused), its parser and its check, are the table ruleKinds
// (policy_kinds.go):
//
//	AllowedIssuers      {"allowed_issuer_ids": ["iss-local"]}
//	AllowedDomains      {"allowed_domains": ["example.com"]}  the domain and its subdomains
//	RequiredMetadata    {"required_keys": ["service"]}        tags that must be set, non-empty
//	AllowedEnvironments {"allowed": ["production"]}
//	RenewalLeadTime     {"lead_time_days": 30}                renewal must start at least this early
//	CertificateLifetime {"max_days": 397}                     not_after − not_before of the current version (an hour of backdating allowed)
//
// RenewalLeadTime compares the renewal policy's renewal_window_days with the
// lead time. Without a window (no policy, or a policy that leaves it unset)
// the certificate renews with a third of its lifetime left: a third of the
// current version's lifetime when it has one, otherwise 30 days (a third of
// the Local CA's 90 days), so with no version and no window only a lead time
// above 30 days is violated.

// Limits on a rule's config.
const (
	maxRuleListLen  = 1000
	maxRuleDays     = 36500
	maxListedInMsg  = 10
	violationPrefix = "pv-"
)

// parseRuleConfig parses the config of a rule of type typ (canonical
// spelling) into its check. Its error says what is wrong and what the type
// wants; it never depends on map order.
func parseRuleConfig(typ string, raw json.RawMessage) (ruleCheck, error) {
	kind := ruleKindOf(typ)
	if kind == nil {
		return nil, fmt.Errorf("rule type %q is unknown", typ)
	}
	example := fmt.Sprintf("config must be {%q: %s}", kind.field, kind.want)
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil, fmt.Errorf("config is missing; %s", example)
	}
	// Decode into the one field of the type, refusing the others.
	var present map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &present); err != nil || present == nil {
		return nil, fmt.Errorf("config is not a JSON object; %s", example)
	}
	for k := range present {
		if k != kind.field {
			// Report the smallest unknown key, so the message is the same on every node.
			bad := k
			for k2 := range present {
				if k2 != kind.field && k2 < bad {
					bad = k2
				}
			}
			return nil, fmt.Errorf("config field %q is not known to %s rules; %s", bad, typ, example)
		}
	}
	val, ok := present[kind.field]
	if !ok {
		return nil, fmt.Errorf("config.%s is missing; %s", kind.field, example)
	}
	check, err := kind.parse(val)
	if err != nil {
		return nil, fmt.Errorf("config.%s %s; it must be %s", kind.field, err, kind.want)
	}
	return check, nil
}

func parseDays(raw json.RawMessage) (int, error) {
	s := string(bytes.TrimSpace(raw))
	n, err := strconv.Atoi(s)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("is %s, out of range", s)
	}
	if err != nil {
		var f float64
		if json.Unmarshal(raw, &f) == nil {
			return 0, fmt.Errorf("is %s, not a whole number", s)
		}
		return 0, errors.New("is not a number")
	}
	if n < 1 || n > maxRuleDays {
		return 0, fmt.Errorf("is %d, out of range", n)
	}
	return n, nil
}

func parseStringList(raw json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var list []string
	if err := dec.Decode(&list); err != nil || list == nil {
		return nil, errors.New("is not a list of strings")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("is not a list of strings")
	}
	if len(list) > maxRuleListLen {
		return nil, fmt.Errorf("has %d entries; at most %d are allowed", len(list), maxRuleListLen)
	}
	for i, s := range list {
		if strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("entry %d is empty", i)
		}
		if ValidText("config", s, MaxNameLength, true) != nil {
			return nil, fmt.Errorf("entry %d is not a short single-line text", i)
		}
	}
	return list, nil
}

// normalizeDomain lowercases a DNS name, drops a trailing dot and counts a
// wildcard (or a leading dot) as its base domain.
func normalizeDomain(s string) string {
	s = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
	s = strings.TrimPrefix(s, "*.")
	return strings.TrimPrefix(s, ".")
}

// validateConfig refuses a config its type cannot use, naming the config field.
func (r *PolicyRule) validateConfig() error {
	if _, err := parseRuleConfig(string(r.Type), r.Config); err != nil {
		return invalidf("config", "%s", err.Error())
	}
	return nil
}

// violationID is the id of the violation of rule by cert: "pv-<cert>-<rule>",
// or a hash of both when that is longer than an id may be.
func violationID(certID, ruleID string) string {
	id := violationPrefix + certID + "-" + ruleID
	if len(id) <= MaxIDLength {
		return id
	}
	return violationPrefix + shortHash(certID, ruleID)
}

// shortHash is 40 hexadecimal digits of the SHA-256 of parts joined by NUL.
func shortHash(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:20])
}

// currentVersion returns the certificate's most recently recorded version, or nil.
func currentVersion(t *txn, certID string) *CertificateVersion {
	pfx := prefix(certID)
	c := t.bucket(bucketVerByCert).Cursor()
	k, _ := c.Seek(append(append([]byte(nil), pfx...), 0xff))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, pfx) || len(k) < len(pfx)+8 {
		return nil
	}
	var v CertificateVersion
	if found, err := getJSON(t.bucket(bucketVersions), k[len(pfx)+8:], &v); err != nil || !found {
		return nil
	}
	return &v
}

// finding is one rule's violation by a certificate, with what a refusal
// needs to name the rule.
type finding struct {
	PolicyViolation
	name, typ string
	// enforced: the rule's severity is Error or Critical, so the violation
	// refuses the write instead of only being reported.
	enforced bool
}

// enforcing reports whether violations of a rule of severity sev refuse the
// create, update or issuance that would make them: Error and Critical do,
// Warning (and no severity) only reports.
func enforcing(sev wire.Severity) bool { return sev == SeverityError || sev == SeverityCritical }

// loadedRule is a stored rule read once for the evaluation of one or many
// certificates: unreadable (err set, no rule), or its config parsed into
// its check or not (cfgErr).
type loadedRule struct {
	id     string
	rule   PolicyRule
	err    error
	typ    string
	sev    wire.Severity
	check  ruleCheck
	cfgErr error
}

// loadRules reads the enabled rules (and the unreadable ones) in key order.
func loadRules(t *txn) []loadedRule {
	var out []loadedRule
	cur := t.bucket(bucketPolicyRules).Cursor()
	for k, raw := cur.First(); k != nil; k, raw = cur.Next() {
		lr := loadedRule{id: string(k)}
		if lr.err = json.Unmarshal(raw, &lr.rule); lr.err != nil {
			out = append(out, lr)
			continue
		}
		if !lr.rule.Enabled {
			continue
		}
		lr.sev = lr.rule.Severity
		if lr.sev == "" {
			lr.sev = SeverityWarning
		}
		typ, ok := PolicyRuleTypes.Canonical(string(lr.rule.Type))
		if !ok {
			typ = lr.rule.Type
		}
		lr.typ = string(typ)
		lr.check, lr.cfgErr = parseRuleConfig(string(typ), lr.rule.Config)
		out = append(out, lr)
	}
	return out
}

// evaluate returns the violations of every enabled rule by c, in rule id
// order. v is the version being issued, or nil to use the certificate's
// current version. A rule whose config does not parse is itself reported,
// as an Error violation (enforced when the rule's own severity is); an
// unreadable rule, whose severity is unknown, is reported only. Ids and
// CreatedAt are left to the caller.
func evaluate(t *txn, c *Certificate, v *CertificateVersion) []finding {
	return evaluateRules(t, loadRules(t), c, v)
}

// evaluateRules is evaluate with the rules already loaded.
func evaluateRules(t *txn, rules []loadedRule, c *Certificate, v *CertificateVersion) []finding {
	if v == nil {
		v = currentVersion(t, c.ID)
	}
	out := []finding{}
	for _, lr := range rules {
		r := &lr.rule
		switch {
		case lr.err != nil:
			out = append(out, finding{PolicyViolation: PolicyViolation{CertificateID: c.ID, RuleID: lr.id, Severity: SeverityError,
				Message: fmt.Sprintf("policy rule %s is unreadable and could not be evaluated; recreate the rule", lr.id)}})
		case lr.cfgErr != nil:
			out = append(out, finding{PolicyViolation: PolicyViolation{CertificateID: c.ID, RuleID: r.ID, Severity: SeverityError,
				Message: fmt.Sprintf("policy rule %s (%s) has a broken config and could not be evaluated: %s", r.ID, r.Name, lr.cfgErr)},
				name: r.Name, typ: lr.typ, enforced: enforcing(lr.sev)})
		default:
			if msg := lr.check(t, c, v); msg != "" {
				out = append(out, finding{PolicyViolation: PolicyViolation{CertificateID: c.ID, RuleID: r.ID, Severity: lr.sev, Message: msg},
					name: r.Name, typ: lr.typ, enforced: enforcing(lr.sev)})
			}
		}
	}
	for i := range out {
		out[i].Message = clip(out[i].Message)
	}
	return out
}

// refusal returns the rejection of a write whose result has the findings
// fs, or nil when no enforced rule is violated. With version false the
// write records no version, and a versionOnly kind (CertificateLifetime),
// which only a version can violate or repair, is left to the version's own
// write. The message
// names every enforced rule broken (id, name, type, what is wrong, what to
// fix), in rule id order.
func refusal(c *Certificate, fs []finding, version bool) *Error {
	var parts []string
	var first *finding
	for i := range fs {
		f := &fs[i]
		kind := ruleKindOf(f.typ)
		if !f.enforced || (!version && kind != nil && kind.versionOnly) {
			continue
		}
		if first == nil {
			first = f
		}
		fix := "fix the rule's config"
		if kind != nil && !strings.Contains(f.Message, "could not be evaluated") {
			fix = kind.fix
		}
		parts = append(parts, fmt.Sprintf("policy rule %s (%q, type %s, severity %s): %s; to comply, %s",
			f.RuleID, f.name, f.typ, f.Severity, strings.TrimSuffix(f.Message, "."), fix))
	}
	if first == nil {
		return nil
	}
	msg := fmt.Sprintf("certificate %s violates %s", c.ID, strings.Join(parts, "; and "))
	msg += ". Rules of severity Error or Critical refuse what violates them; an admin may set the rule's severity to Warning to only report it"
	field := ""
	if kind := ruleKindOf(first.typ); kind != nil {
		field = kind.fixField
	}
	return &Error{Code: CodePolicy, Resource: "policy_rule", ID: first.RuleID, Field: field, Message: clip(msg)}
}

// lifetimeSkew is how much longer than a CertificateLifetime rule's max_days
// a version may be: CAs backdate not_before for clock skew (the Local CA a
// minute, others up to an hour), and that is not lifetime. Without it, an
// Error rule of 90 days would refuse every 90-day certificate.
const lifetimeSkew = time.Hour

// maxViolationMessage is the longest message a violation may carry.
const maxViolationMessage = 4096

// clip shortens s to maxViolationMessage bytes, on a rune boundary.
func clip(s string) string {
	if len(s) <= maxViolationMessage {
		return s
	}
	const more = " …"
	n := maxViolationMessage - len(more)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + more
}

// renewalWindow returns how many days before expiry c renews (RenewalWindow),
// and why.
func renewalWindow(t *txn, c *Certificate, v *CertificateVersion) (int, string) {
	p, _ := policyOf(t, c) // unreadable: no policy, as a deleted one
	var lifetime time.Duration
	if v != nil {
		lifetime = v.NotAfter.Sub(v.NotBefore)
	}
	days := int(RenewalWindow(p, lifetime) / Day)
	switch {
	case p != nil && p.RenewalWindowDays != nil:
		return days, "renewal policy " + c.RenewalPolicyID
	case lifetime > 0:
		return days, "a third of the lifetime of version " + v.ID + ", as no renewal window is set"
	}
	return days, "a third of a 90-day lifetime, as no renewal window is set"
}

func inDomains(name string, allowed []string) bool {
	for _, d := range allowed {
		if name == d || strings.HasSuffix(name, "."+d) {
			return true
		}
	}
	return false
}

func contains(list []string, s string, fold bool) bool {
	for _, x := range list {
		if x == s || fold && strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// listed joins at most maxListedInMsg entries, saying how many more there are.
func listed(list []string) string {
	if len(list) == 0 {
		return "(none)"
	}
	n := min(len(list), maxListedInMsg)
	s := strings.Join(list[:n], ", ")
	if len(list) > n {
		s += fmt.Sprintf(" and %d more", len(list)-n)
	}
	return s
}

func plural(list []string, one, many string) string {
	if len(list) == 1 {
		return fmt.Sprintf(one, list[0])
	}
	return fmt.Sprintf(many, listed(list))
}

// days formats a duration in days, to a tenth.
func days(d time.Duration) string {
	return strconv.FormatFloat(math.Round(d.Hours()/24*10)/10, 'f', -1, 64)
}

// planPolicies evaluates the rules against c as a command is about to write
// it (v being the version it issues, if any) and gives each violation its id.
// It writes nothing, so a command calls it before its first write. A
// violation of an enforced rule (Error or Critical) refuses the command
// with CodePolicy (see refusal).
func planPolicies(t *txn, c *Certificate, v *CertificateVersion) ([]PolicyViolation, error) {
	fs := evaluate(t, c, v)
	if err := refusal(c, fs, v != nil); err != nil {
		return nil, err
	}
	return violationIDs(t, c, fs)
}

// violationIDs gives each finding its violation id.
func violationIDs(t *txn, c *Certificate, fs []finding) ([]PolicyViolation, error) {
	vs := make([]PolicyViolation, len(fs))
	for i := range fs {
		vs[i] = fs[i].PolicyViolation
		id := violationID(c.ID, vs[i].RuleID)
		if checkViolationIDs(t, c.ID, []PolicyViolation{{ID: id}}) != nil {
			// Taken by another certificate's recorded violation: use the hashed form.
			id = violationPrefix + shortHash(c.ID, vs[i].RuleID)
		}
		vs[i].ID = id
	}
	if err := checkViolationIDs(t, c.ID, vs); err != nil {
		return nil, err
	}
	return vs, nil
}

// CheckPolicies returns the refusal (CodePolicy) of issuing a new version of
// certificate certID as it is stored: a violation of an enabled Error or
// Critical rule, evaluated now against the rules in the state. The
// lifecycle engine asks it before an issuer is called, so such a
// certificate never reaches one; CertificateLifetime, which depends on the
// version to be issued, is checked when the version is recorded. It returns
// nil when nothing refuses, ErrNotFound for an unknown certificate.
func (f *FSM) CheckPolicies(certID string) error {
	var out error
	err := f.view(func(tx *bolt.Tx) error {
		t := &txn{tx: tx, cmd: &Command{}} // read only: no index, no time
		c, err := certStore{t}.get(certID)
		if err != nil {
			return err
		}
		if r := refusal(c, evaluate(t, c, nil), false); r != nil {
			out = r
		}
		return nil
	})
	if err != nil {
		return err
	}
	return out
}

// applyPolicies replaces the violations of c, which the command has just
// written, with vs (from planPolicies) and queues an e-mail to the owner for
// each violation that is new: one the certificate did not have for that rule.
func applyPolicies(t *txn, c *Certificate, vs []PolicyViolation) {
	added := replaceViolations(t, c.ID, vs)
	if len(added) == 0 || c.OwnerID == "" {
		return
	}
	var o Owner
	if found, err := getJSON(t.bucket(bucketOwners), []byte(c.OwnerID), &o); err != nil || !found || o.Email == "" {
		return
	}
	for _, v := range added {
		id := fmt.Sprintf("ne-pv-%s-%s-%d", c.ID, v.RuleID, t.index)
		if len(id) > MaxIDLength {
			id = fmt.Sprintf("ne-pv-%s-%d", shortHash(c.ID, v.RuleID), t.index)
		}
		key := fmt.Sprintf("policy/%s/%s/%d", c.ID, v.RuleID, v.CreatedAt.Unix())
		if t.exists(bucketNotifications, id) || t.bucket(bucketNotifKey).Get([]byte(key)) != nil {
			continue
		}
		n := Notification{ID: id, Type: wire.NotificationPolicyViolation, CertificateID: c.ID, Channel: wire.ChannelEmail, Recipient: o.Email,
			Status: NotifyPending, DedupKey: key, CreatedAt: t.now(),
			Message: fmt.Sprintf("Certificate %s (%s) violates policy rule %s [%s]: %s", c.CommonName, c.ID, v.RuleID, v.Severity, v.Message)}
		notificationStore{t}.put(nil, &n)
		t.audit("notification_queued", "notification", n.ID, map[string]string{"type": string(n.Type), "channel": string(n.Channel), "certificate_id": n.CertificateID})
	}
}

// checkViolationIDs refuses ids held by another certificate's violations.
func checkViolationIDs(t *txn, certID string, vs []PolicyViolation) error {
	seen := map[string]bool{}
	for _, v := range vs {
		// An id may be reused by the certificate whose violations it replaces.
		taken := t.exists(bucketViolations, v.ID) && !hasKey(t.bucket(bucketViolCert), compound(certID, v.ID))
		if seen[v.ID] || taken {
			return conflictf("policy_violation", v.ID, "policy violation %q already exists", v.ID)
		}
		seen[v.ID] = true
	}
	return nil
}
