package fsm

import (
	"github.com/certctl/certctl/api/wire"

	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"
)

// The kinds of policy rule (PolicyRule.Type), as the wire spells them.
const (
	RuleAllowedIssuers      = wire.PolicyAllowedIssuers
	RuleAllowedDomains      = wire.PolicyAllowedDomains
	RuleRequiredMetadata    = wire.PolicyRequiredMetadata
	RuleAllowedEnvironments = wire.PolicyAllowedEnvironments
	RuleRenewalLeadTime     = wire.PolicyRenewalLeadTime
	RuleCertificateLifetime = wire.PolicyCertificateLifetime
)

// ruleCheck returns what is wrong with certificate c under one rule whose
// config it was parsed from, or "". v is the version being issued or the
// current one, nil if there is none.
type ruleCheck func(t *txn, c *Certificate, v *CertificateVersion) string

// ruleKind is everything about one kind of policy rule: its config (one
// field, required), how that field is parsed into the rule's check, and
// what fixes a violation. Adding a kind is one entry in ruleKinds.
type ruleKind struct {
	name wire.PolicyRuleType
	// field is the config's one field and want what it holds, as
	// messages say it.
	field, want string
	// parse turns the field's value into the check; its error completes
	// "config.<field> ..." (e.g. "is not a list of strings").
	parse func(raw json.RawMessage) (ruleCheck, error)
	// fixField is the field a refusal names, fix what to do.
	fixField, fix string
	// versionOnly: only a version (its lifetime) can break or repair the
	// rule, so only a recorded version is refused for it, never an update.
	versionOnly bool
}

// ruleKinds is the one table of policy rule kinds, in the order the wire
// lists them (PolicyRuleTypes).
var ruleKinds = []ruleKind{
	{
		name: RuleAllowedIssuers, field: "allowed_issuer_ids", want: "a list of issuer ids",
		fixField: "issuer_id", fix: "use an allowed issuer (issuer_id)",
		parse: listRule(nil, func(allowed []string) ruleCheck {
			return func(_ *txn, c *Certificate, _ *CertificateVersion) string {
				if !contains(allowed, c.IssuerID, false) {
					return fmt.Sprintf("issuer %s is not allowed; the rule allows issuers %s", c.IssuerID, listed(allowed))
				}
				return ""
			}
		}),
	},
	{
		name: RuleAllowedDomains, field: "allowed_domains", want: "a list of DNS domains",
		fixField: "sans", fix: "remove or change the names outside the allowed domains (common_name, sans)",
		parse: listRule(domainEntry, func(allowed []string) ruleCheck {
			return func(_ *txn, c *Certificate, _ *CertificateVersion) string {
				var bad []string
				seen := map[string]bool{}
				for _, name := range append([]string{c.CommonName}, c.SANs...) {
					if seen[name] || net.ParseIP(name) != nil || strings.Contains(name, "@") {
						continue
					}
					seen[name] = true
					if !inDomains(normalizeDomain(name), allowed) {
						bad = append(bad, name)
					}
				}
				if len(bad) > 0 {
					return fmt.Sprintf("%s not within the allowed domains; the rule allows %s and their subdomains",
						plural(bad, "name %s is", "names %s are"), listed(allowed))
				}
				return ""
			}
		}),
	},
	{
		name: RuleRequiredMetadata, field: "required_keys", want: "a list of tag keys",
		fixField: "tags", fix: "set the missing tags",
		parse: listRule(nil, func(required []string) ruleCheck {
			return func(_ *txn, c *Certificate, _ *CertificateVersion) string {
				var missing []string
				for _, key := range required {
					if strings.TrimSpace(c.Tags[key]) == "" && !contains(missing, key, false) {
						missing = append(missing, key)
					}
				}
				if len(missing) > 0 {
					return fmt.Sprintf("%s missing; the rule requires tags %s",
						plural(missing, "required tag %s is", "required tags %s are"), listed(required))
				}
				return ""
			}
		}),
	},
	{
		name: RuleAllowedEnvironments, field: "allowed", want: "a list of environments",
		fixField: "environment", fix: "set an allowed environment",
		parse: listRule(nil, func(allowed []string) ruleCheck {
			return func(_ *txn, c *Certificate, _ *CertificateVersion) string {
				if c.Environment == "" {
					return fmt.Sprintf("the certificate has no environment; the rule allows environments %s", listed(allowed))
				}
				if !contains(allowed, c.Environment, true) {
					return fmt.Sprintf("environment %s is not allowed; the rule allows environments %s", c.Environment, listed(allowed))
				}
				return ""
			}
		}),
	},
	{
		name: RuleRenewalLeadTime, field: "lead_time_days", want: daysWanted,
		fixField: "renewal_policy_id", fix: "use a renewal policy whose renewal_window_days is long enough (renewal_policy_id)",
		parse: daysRule(func(lead int) ruleCheck {
			return func(t *txn, c *Certificate, v *CertificateVersion) string {
				window, source := renewalWindow(t, c, v)
				if window < lead {
					return fmt.Sprintf("renewal starts %d days before expiry (%s); the rule requires at least %d days", window, source, lead)
				}
				return ""
			}
		}),
	},
	{
		name: RuleCertificateLifetime, field: "max_days", want: daysWanted,
		fixField: "not_after", fix: "issue it for fewer days (the issuer's validity_days)",
		versionOnly: true,
		parse: daysRule(func(maxDays int) ruleCheck {
			return func(_ *txn, _ *Certificate, v *CertificateVersion) string {
				if v == nil {
					return ""
				}
				life, max := v.NotAfter.Sub(v.NotBefore), time.Duration(maxDays)*24*time.Hour
				if life > max+lifetimeSkew {
					return fmt.Sprintf("version %s is valid for %s days; the rule allows at most %d days", v.ID, days(life), maxDays)
				}
				return ""
			}
		}),
	},
}

// PolicyRuleTypes are the kinds of policy rule, from ruleKinds.
var PolicyRuleTypes = func() Enum[wire.PolicyRuleType] {
	e := make(Enum[wire.PolicyRuleType], len(ruleKinds))
	for i, k := range ruleKinds {
		e[i] = k.name
	}
	return e
}()

// ruleKindOf returns the kind named typ (canonical spelling), or nil.
func ruleKindOf(typ string) *ruleKind {
	for i := range ruleKinds {
		if string(ruleKinds[i].name) == typ {
			return &ruleKinds[i]
		}
	}
	return nil
}

var daysWanted = fmt.Sprintf("a whole number of days from 1 to %d", maxRuleDays)

// listRule parses a list of strings, each passed through entry when set
// (which may refuse it), and makes the check of the list.
func listRule(entry func(string) (string, error), check func([]string) ruleCheck) func(json.RawMessage) (ruleCheck, error) {
	return func(raw json.RawMessage) (ruleCheck, error) {
		list, err := parseStringList(raw)
		if err != nil {
			return nil, err
		}
		for i := range list {
			if entry == nil {
				continue
			}
			if list[i], err = entry(list[i]); err != nil {
				return nil, err
			}
		}
		return check(list), nil
	}
}

// daysRule parses a whole number of days and makes its check.
func daysRule(check func(int) ruleCheck) func(json.RawMessage) (ruleCheck, error) {
	return func(raw json.RawMessage) (ruleCheck, error) {
		n, err := parseDays(raw)
		if err != nil {
			return nil, err
		}
		return check(n), nil
	}
}

// domainEntry normalises an allowed domain, refusing what is not one.
func domainEntry(s string) (string, error) {
	d := normalizeDomain(s)
	if validDNSName("allowed_domains", d, false) != nil {
		return "", fmt.Errorf("entry %q is not a DNS domain", s)
	}
	return d, nil
}
