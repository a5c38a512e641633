package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/gin-gonic/gin"
)

// The secret fields of target and issuer configs are declared by their
// connectors (Config.TargetSecrets, Config.IssuerTypes); this file seals,
// redacts, keeps, clears and opens them generically over those
// declarations. A secret is sealed under the nodes' key-encryption key
// bound (keywrap.FieldAAD) to its record, its field and the agent it is for
// (a target's agent; none for an issuer, whose connector the servers run),
// so a sealed value copied elsewhere or opened for another agent does not
// open; and an update that moves a record's secrets (another agent, type or
// destination field) without giving them again clears them.

const (
	// legacyTargetPrefix starts a target's secret sealed before secrets
	// were bound to their agent ("sealed:v1:", bound to target and field
	// only). It is still opened for the target's own agent, and sealed
	// again in the current form by the first update that keeps it.
	legacyTargetPrefix = "sealed:v1:"
	// sealedMark starts every sealed form; a client never sends one.
	sealedMark = "sealed:"
	// redactedSecret stands for a stored secret in every answer to people;
	// sent back in an update, it keeps the stored secret.
	redactedSecret = "********"
)

// legacyTargetAAD is the additional data of a "sealed:v1:" value.
func legacyTargetAAD(targetID, field string) []byte {
	return []byte("certctl/target-secret/" + targetID + "/" + field)
}

// secretRecord is a target or an issuer as the secret handling sees it.
type secretRecord struct {
	kind    string // keywrap.FieldKindTarget or keywrap.FieldKindIssuer
	id, typ string
	agentID string // the agent its secrets are for; "" for an issuer
	config  json.RawMessage
}

func targetRecord(t *fsm.Target) secretRecord {
	return secretRecord{kind: keywrap.FieldKindTarget, id: t.ID, typ: string(t.Type), agentID: t.AgentID, config: t.Config}
}

func issuerRecord(i *fsm.Issuer) secretRecord {
	return secretRecord{kind: keywrap.FieldKindIssuer, id: i.ID, typ: string(i.Type), config: i.Config}
}

// fieldsOf returns the secret and destination fields the connector of a
// record of kind and type typ (any case) declares.
func (s *Server) fieldsOf(kind, typ string) (secret, destination []string) {
	var decl SecretFields = s.cfg.TargetSecrets
	types := fsm.Enum[string](fsm.TargetTypes.Strings())
	if kind == keywrap.FieldKindIssuer {
		types, decl = fsm.Enum[string](fsm.IssuerTypes.Strings()), nil
		if s.cfg.IssuerTypes != nil {
			decl = s.cfg.IssuerTypes
		}
	}
	if decl == nil {
		return nil, nil
	}
	if canon, ok := types.Canonical(typ); ok {
		typ = canon
	}
	return decl.SecretFields(typ)
}

// configFields decodes a config; empty or null is an empty object.
func configFields(raw json.RawMessage) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(raw)) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	return m, nil
}

// secretKey returns the declared field that key names, compared without
// regard to case as encoding/json matches a connector's config fields.
func secretKey(key string, fields []string) (string, bool) {
	for _, f := range fields {
		if strings.EqualFold(key, f) {
			return f, true
		}
	}
	return "", false
}

// stringValue decodes raw as a JSON string; null and other types are not.
func stringValue(raw json.RawMessage) (string, bool) {
	var p *string
	if json.Unmarshal(raw, &p) != nil || p == nil {
		return "", false
	}
	return *p, true
}

func quote(s string) json.RawMessage {
	raw, _ := json.Marshal(s) // a string always encodes
	return raw
}

// movedBecause says why a record's stored secrets may not follow it into
// the update next (its agent, its type or a destination field changed),
// or "" when they may.
func movedBecause(next, stored *secretRecord, nextFields, storedFields map[string]json.RawMessage, destination []string) string {
	switch {
	case next.agentID != stored.agentID:
		return "agent_id"
	case !strings.EqualFold(next.typ, stored.typ):
		return "type"
	}
	for _, d := range destination {
		if destinationValue(nextFields, d) != destinationValue(storedFields, d) {
			return "config." + d
		}
	}
	return ""
}

// destinationValue is the value of field f in m (any case) in a canonical
// JSON form; absent, null and the zero values ("", 0, false) are all the
// connector's default and compare equal.
func destinationValue(m map[string]json.RawMessage, f string) string {
	var vals []string
	for k, raw := range m {
		if !strings.EqualFold(k, f) {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			vals = append(vals, string(raw))
			continue
		}
		switch x := v.(type) {
		case nil:
			continue
		case string:
			if x == "" {
				continue
			}
		case bool:
			if !x {
				continue
			}
		case json.Number:
			if x.String() == "0" {
				continue
			}
		}
		b, _ := json.Marshal(v)
		vals = append(vals, string(b))
	}
	slices.Sort(vals)
	return strings.Join(vals, "\x00")
}

// protectSecrets settles the secret fields of v's config before it is
// proposed and returns the config to propose, with the secret fields the
// update cleared. A new value is sealed for v's record, field and agent;
// the placeholder or an absent field keeps the stored value (update only),
// unless v's agent, type or a destination field changed: then the stored
// value is cleared and named in cleared, never re-bound; "" clears it. The
// state machine never sees a plaintext. A value that looks sealed is
// refused in any field: only the server seals. Secret field names are
// matched without regard to case and stored in their canonical form.
// stored loads the record as stored (nil when there is none). It writes
// the error itself and returns false on failure.
func (s *Server) protectSecrets(c *gin.Context, v secretRecord, update bool, stored func() (*secretRecord, error)) (json.RawMessage, []string, bool) {
	m, err := configFields(v.config)
	if err != nil {
		fail(c, invalid("config", "config must be a JSON object"))
		return nil, nil, false
	}
	for k, raw := range m {
		if value, ok := stringValue(raw); ok && strings.HasPrefix(value, sealedMark) {
			fail(c, invalid("config."+k, "config."+k+" looks like a sealed value; only the server seals secrets: give the secret itself"))
			return nil, nil, false
		}
	}
	secret, destination := s.fieldsOf(v.kind, v.typ)
	if len(secret) == 0 {
		return v.config, nil, true
	}
	given := map[string]json.RawMessage{}
	for k, raw := range m {
		f, ok := secretKey(k, secret)
		if !ok {
			continue
		}
		if _, dup := given[f]; dup {
			fail(c, invalid("config."+f, "config holds "+f+" more than once (field names are matched without regard to case)"))
			return nil, nil, false
		}
		given[f] = raw
		delete(m, k)
	}
	var old *secretRecord
	oldFields := map[string]json.RawMessage{}
	moved := ""
	if update {
		if old, err = stored(); err != nil {
			fail(c, err)
			return nil, nil, false
		}
		if old != nil {
			if oldFields, err = configFields(old.config); err != nil {
				oldFields = map[string]json.RawMessage{}
			}
			moved = movedBecause(&v, old, m, oldFields, destination)
		}
	}
	var cleared []string
	for _, f := range secret {
		field := "config." + f
		raw, present := given[f]
		value := ""
		if present {
			var ok bool
			if value, ok = stringValue(raw); !ok {
				fail(c, invalid(field, field+" must be a string"))
				return nil, nil, false
			}
		}
		switch {
		case !present || value == redactedSecret:
			if !update {
				if present {
					fail(c, invalid(field, field+" is "+redactedSecret+", the placeholder answers show for a stored secret; give the secret itself"))
					return nil, nil, false
				}
				continue
			}
			keep := storedSecret(oldFields, f)
			if keep == "" {
				if present {
					fail(c, invalid(field, field+" is "+redactedSecret+", but "+v.kind+" "+v.id+" has no stored "+f+" to keep; give the secret itself"))
					return nil, nil, false
				}
				continue
			}
			if moved != "" {
				// The secret was given for another agent or destination:
				// it does not follow the record there.
				m[f] = quote("")
				cleared = append(cleared, f)
				continue
			}
			kept, ok := s.keepSecret(c, v, f, keep)
			if !ok {
				return nil, nil, false
			}
			m[f] = kept
		case value == "":
			m[f] = quote("")
		default:
			sealed, ok := s.sealSecret(c, v, f, []byte(value))
			if !ok {
				return nil, nil, false
			}
			m[f] = sealed
		}
	}
	if len(cleared) > 0 {
		loggerOf(c).Info("secrets cleared: they were given for another agent or destination", v.kind, v.id, "changed", moved, "fields", cleared)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		fail(c, fmt.Errorf("api: encode the config of %s %s: %w", v.kind, v.id, err))
		return nil, nil, false
	}
	return raw, cleared, true
}

// storedSecret returns the stored value of secret field f; "" for none.
func storedSecret(stored map[string]json.RawMessage, f string) string {
	for k, raw := range stored {
		if strings.EqualFold(k, f) {
			value, _ := stringValue(raw)
			return value
		}
	}
	return ""
}

// keepSecret returns the stored value of field f to keep in v's update,
// where it stays bound to the same record, field and agent: a sealed value
// as it is; a value sealed before secrets were bound to agents, or a
// plaintext stored before secrets were sealed, sealed now in the current
// form (a legacy value that does not open is kept as it is: its agent's
// work goes without it, as before).
func (s *Server) keepSecret(c *gin.Context, v secretRecord, f, keep string) (json.RawMessage, bool) {
	switch {
	case strings.HasPrefix(keep, keywrap.FieldPrefix):
		return quote(keep), true
	case strings.HasPrefix(keep, legacyTargetPrefix):
		plaintext, err := s.openLegacy(v.id, f, keep)
		if err != nil {
			return quote(keep), true
		}
		return s.sealSecret(c, v, f, plaintext)
	default:
		return s.sealSecret(c, v, f, []byte(keep))
	}
}

// sealSecret seals plaintext as the value of field f of v, for v's agent.
func (s *Server) sealSecret(c *gin.Context, v secretRecord, f string, plaintext []byte) (json.RawMessage, bool) {
	defer clear(plaintext)
	if s.cfg.Secrets == nil {
		fail(c, &node.CodedError{Code: node.CodeNotImplemented, Field: "config." + f, Message: "this node has no key-encryption key: the " + f + " of a " + v.typ + " " + v.kind +
			" is stored only sealed; start every node with --kek-file (the same file on each)"})
		return nil, false
	}
	sealed, err := s.cfg.Secrets.Seal(plaintext, keywrap.FieldAAD(v.kind, v.id, f, v.agentID))
	if err != nil {
		fail(c, fmt.Errorf("api: seal the %s of %s %s: %w", f, v.kind, v.id, err))
		return nil, false
	}
	return quote(keywrap.FormatField(sealed)), true
}

// redactConfig returns config with every non-empty declared secret, and
// any sealed value, replaced by redactedSecret, for an answer to people:
// neither a secret nor its sealed form leaves the cluster there.
func (s *Server) redactConfig(kind, typ string, config json.RawMessage) json.RawMessage {
	secret, _ := s.fieldsOf(kind, typ)
	m, err := configFields(config)
	if err != nil {
		return config
	}
	changed := false
	for k, raw := range m {
		value, isString := stringValue(raw)
		_, declared := secretKey(k, secret)
		sealed := isString && strings.HasPrefix(value, sealedMark)
		if !sealed && (!declared || (isString && value == "") || string(raw) == "null") {
			continue
		}
		m[k] = quote(redactedSecret)
		changed = true
	}
	if !changed {
		return config
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return config
	}
	return raw
}

func (s *Server) redactTarget(t *fsm.Target) {
	t.Config = s.redactConfig(keywrap.FieldKindTarget, string(t.Type), t.Config)
}
func (s *Server) redactIssuer(i *fsm.Issuer) {
	i.Config = s.redactConfig(keywrap.FieldKindIssuer, string(i.Type), i.Config)
}

// errNoKEK is why a node without a key-encryption key hands no secret.
var errNoKEK = errors.New("api: this node has no key-encryption key (--kek-file)")

// errNotItsAgent is why a target's secret is not handed to an agent that no
// longer serves the target (a job queued before the target was moved).
var errNotItsAgent = errors.New("api: the target is served by another agent now")

// openTargetSecrets returns t's config with its sealed secrets opened for
// agentID, for the work handed to that agent. A secret that does not open
// (sealed for another agent or target, another cluster's KEK, no KEK here),
// or any secret of a target agentID no longer serves, is left out and the
// log says why: that job fails on the agent with its connector's words
// (the password is required), the others go on.
func (s *Server) openTargetSecrets(c *gin.Context, t *fsm.Target, jobID, agentID string) json.RawMessage {
	secret, _ := s.fieldsOf(keywrap.FieldKindTarget, string(t.Type))
	m, err := configFields(t.Config)
	if err != nil {
		return t.Config
	}
	changed := false
	for k, raw := range m {
		value, ok := stringValue(raw)
		if !ok || value == "" {
			continue
		}
		_, declared := secretKey(k, secret)
		if !declared && !strings.HasPrefix(value, sealedMark) {
			continue
		}
		changed = true
		plaintext, err := s.openTargetSecret(t, k, value, agentID)
		if err != nil {
			delete(m, k)
			loggerOf(c).Warn("a target's secret is not handed to this agent; the work item carries none",
				"target", t.ID, "field", k, "job", jobID, "agent", agentID, "err", err)
			continue
		}
		m[k] = quote(string(plaintext))
		clear(plaintext)
	}
	if !changed {
		return t.Config
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return t.Config
	}
	return raw
}

// openTargetSecret opens the value of field f of t for agentID, which
// must be t's agent.
func (s *Server) openTargetSecret(t *fsm.Target, f, value, agentID string) ([]byte, error) {
	sealed, isSealed, err := keywrap.ParseField(value)
	switch {
	case t.AgentID != agentID:
		// A job queued before the target was moved: whatever the value
		// is bound to, the target's record says which agent may have it.
		return nil, errNotItsAgent
	case isSealed && err != nil:
		return nil, err
	case isSealed:
		if s.cfg.Secrets == nil {
			return nil, errNoKEK
		}
		plaintext, err := s.cfg.Secrets.Open(sealed, keywrap.FieldAAD(keywrap.FieldKindTarget, t.ID, f, agentID))
		if err != nil {
			return nil, fmt.Errorf("api: the %s of target %s does not open for agent %s (sealed for another agent or target, or under another key-encryption key: is --kek-file the cluster's?): %w",
				f, t.ID, agentID, err)
		}
		return plaintext, nil
	case strings.HasPrefix(value, legacyTargetPrefix):
		return s.openLegacy(t.ID, f, value)
	case strings.HasPrefix(value, sealedMark):
		return nil, fmt.Errorf("api: the %s of target %s is sealed in a form this node does not know", f, t.ID)
	default:
		return []byte(value), nil // a plaintext stored before secrets were sealed
	}
}

// openLegacy opens a "sealed:v1:" value of field f of target targetID.
func (s *Server) openLegacy(targetID, f, value string) ([]byte, error) {
	if s.cfg.Secrets == nil {
		return nil, errNoKEK
	}
	sealed, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(value, legacyTargetPrefix))
	if err != nil {
		return nil, fmt.Errorf("api: the sealed %s of target %s is not base64: %w", f, targetID, err)
	}
	plaintext, err := s.cfg.Secrets.Open(sealed, legacyTargetAAD(targetID, f))
	if err != nil {
		return nil, fmt.Errorf("api: the %s of target %s does not open with this node's key-encryption key (is --kek-file the cluster's?): %w", f, targetID, err)
	}
	return plaintext, nil
}

// protectTarget and protectIssuer are the crud protect steps of targets
// and issuers.
func (s *Server) protectTarget(c *gin.Context, v *fsm.Target, update bool) ([]string, bool) {
	raw, cleared, ok := s.protectSecrets(c, targetRecord(v), update, func() (*secretRecord, error) {
		t, err := s.state.Target(v.ID)
		if fsm.CodeOf(err) == fsm.CodeNotFound {
			return nil, nil // the update itself will say so
		}
		if err != nil {
			return nil, err
		}
		r := targetRecord(t)
		return &r, nil
	})
	if ok {
		v.Config = raw
	}
	return cleared, ok
}

func (s *Server) protectIssuer(c *gin.Context, v *fsm.Issuer, update bool) ([]string, bool) {
	raw, cleared, ok := s.protectSecrets(c, issuerRecord(v), update, func() (*secretRecord, error) {
		i, err := s.state.Issuer(v.ID)
		if fsm.CodeOf(err) == fsm.CodeNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		r := issuerRecord(i)
		return &r, nil
	})
	if ok {
		v.Config = raw
	}
	return cleared, ok
}

// targetAnswer and issuerAnswer are the answer to an update that cleared
// secrets: the record as served, and which secrets it lost.
type targetAnswer struct {
	*fsm.Target
	SecretsCleared []string `json:"secrets_cleared,omitempty"`
}

type issuerAnswer struct {
	*fsm.Issuer
	SecretsCleared []string `json:"secrets_cleared,omitempty"`
}
