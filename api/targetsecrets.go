package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/certctl/certctl/fsm"
	"github.com/gin-gonic/gin"
)

// targetSecretFields names, by target type in lower case, the fields of a
// target's config that hold a secret. Such a field is stored only sealed
// under the nodes' key-encryption key (Config.Secrets), shown to people as
// redactedSecret, and opened only in the work handed to the target's own
// agent. A connector whose config gains a secret adds it here.
var targetSecretFields = map[string][]string{
	"f5":  {"password"},
	"iis": {"winrm_password"},
}

const (
	// sealedPrefix starts a sealed secret as stored in a target's config:
	// "sealed:v1:" and the standard base64 of a keywrap sealed value.
	sealedPrefix = "sealed:v1:"
	// redactedSecret stands for a stored secret in every answer to people;
	// sent back in an update, it keeps the stored secret.
	redactedSecret = "********"
)

// secretFieldsOf returns the secret fields of a target of type typ (any case).
func secretFieldsOf(typ string) []string {
	if canon, ok := fsm.TargetTypes.Canonical(typ); ok {
		typ = canon
	}
	return targetSecretFields[strings.ToLower(typ)]
}

// targetSecretAAD binds a sealed secret to its target and field: moved to
// another target or field, it does not open.
func targetSecretAAD(targetID, field string) []byte {
	return []byte("certctl/target-secret/" + targetID + "/" + field)
}

// configFields decodes a target's config; empty or null is an empty object.
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

// secretKey returns the secret field that key names, compared without
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

// protectTargetSecrets settles the secret fields of v's config before it
// is proposed: a new value is sealed, the redacted placeholder or an absent
// field keeps the stored value (update only), "" clears it. The state
// machine never sees a plaintext. A value that looks sealed is refused: a
// client must not plant a blob sealed for another target. Field names are
// matched without regard to case and stored in their canonical form. It
// writes the error itself and returns false on failure.
func (s *Server) protectTargetSecrets(c *gin.Context, v *fsm.Target, update bool) bool {
	fields := secretFieldsOf(v.Type)
	if len(fields) == 0 {
		return true
	}
	m, err := configFields(v.Config)
	if err != nil {
		failStatus(c, http.StatusBadRequest, "config", "config must be a JSON object")
		return false
	}
	given := map[string]json.RawMessage{}
	for k, raw := range m {
		f, ok := secretKey(k, fields)
		if !ok {
			continue
		}
		if _, dup := given[f]; dup {
			failStatus(c, http.StatusBadRequest, "config."+f, "config holds "+f+" more than once (field names are matched without regard to case)")
			return false
		}
		given[f] = raw
		delete(m, k)
	}
	var stored map[string]json.RawMessage // the stored target's config, read once
	for _, f := range fields {
		field := "config." + f
		raw, present := given[f]
		value := ""
		if present {
			var ok bool
			if value, ok = stringValue(raw); !ok {
				failStatus(c, http.StatusBadRequest, field, field+" must be a string")
				return false
			}
		}
		switch {
		case !present || value == redactedSecret:
			if !update {
				if present {
					failStatus(c, http.StatusBadRequest, field, field+" is "+redactedSecret+", the placeholder answers show for a stored secret; give the secret itself")
					return false
				}
				continue
			}
			if stored == nil {
				if stored, err = s.storedConfig(v.ID); err != nil {
					fail(c, err)
					return false
				}
			}
			keep, ok := s.keptSecret(c, v, f, stored)
			if !ok {
				return false
			}
			if keep == nil && present {
				failStatus(c, http.StatusBadRequest, field, field+" is "+redactedSecret+", but target "+v.ID+" has no stored "+f+" to keep; give the secret itself")
				return false
			}
			if keep != nil {
				m[f] = keep
			}
		case value == "":
			m[f] = quote("")
		case strings.HasPrefix(value, sealedPrefix):
			failStatus(c, http.StatusBadRequest, field, field+" looks like a sealed value; only the server seals secrets: give the secret itself")
			return false
		default:
			sealed, ok := s.sealTargetSecret(c, v, f, []byte(value))
			if !ok {
				return false
			}
			m[f] = sealed
		}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		fail(c, fmt.Errorf("api: encode the config of target %s: %w", v.ID, err))
		return false
	}
	v.Config = raw
	return true
}

// storedConfig returns the config of the stored target id; none is empty.
func (s *Server) storedConfig(id string) (map[string]json.RawMessage, error) {
	t, err := s.state.Target(id)
	if fsm.CodeOf(err) == fsm.CodeNotFound {
		return map[string]json.RawMessage{}, nil // the update itself will say so
	}
	if err != nil {
		return nil, err
	}
	m, err := configFields(t.Config)
	if err != nil {
		return map[string]json.RawMessage{}, nil
	}
	return m, nil
}

// keptSecret returns the stored value of secret field f to keep in v's
// update: a sealed value as it is, and a plaintext stored before secrets
// were sealed, sealed now. Nil: nothing to keep (none, or "").
func (s *Server) keptSecret(c *gin.Context, v *fsm.Target, f string, stored map[string]json.RawMessage) (json.RawMessage, bool) {
	for k, raw := range stored {
		if !strings.EqualFold(k, f) {
			continue
		}
		value, ok := stringValue(raw)
		switch {
		case !ok || value == "":
			return nil, true
		case strings.HasPrefix(value, sealedPrefix):
			return quote(value), true
		default:
			return s.sealTargetSecret(c, v, f, []byte(value))
		}
	}
	return nil, true
}

// sealTargetSecret seals plaintext as the value of field f of target v.
func (s *Server) sealTargetSecret(c *gin.Context, v *fsm.Target, f string, plaintext []byte) (json.RawMessage, bool) {
	defer clear(plaintext)
	if s.cfg.Secrets == nil {
		failStatus(c, http.StatusNotImplemented, "config."+f, "this node has no key-encryption key: the "+f+" of a "+v.Type+
			" target is stored only sealed; start every node with --kek-file (the same file on each)")
		return nil, false
	}
	sealed, err := s.cfg.Secrets.Seal(plaintext, targetSecretAAD(v.ID, f))
	if err != nil {
		fail(c, fmt.Errorf("api: seal the %s of target %s: %w", f, v.ID, err))
		return nil, false
	}
	return quote(sealedPrefix + base64.StdEncoding.EncodeToString(sealed)), true
}

// redactTargetSecrets replaces every non-empty secret of t's config with
// redactedSecret, for an answer to people: neither the secret nor its
// sealed form leaves the cluster there.
func redactTargetSecrets(t *fsm.Target) {
	fields := secretFieldsOf(t.Type)
	if len(fields) == 0 {
		return
	}
	m, err := configFields(t.Config)
	if err != nil {
		return
	}
	changed := false
	for k, raw := range m {
		if _, ok := secretKey(k, fields); !ok {
			continue
		}
		if value, ok := stringValue(raw); (ok && value == "") || string(raw) == "null" {
			continue
		}
		m[k] = quote(redactedSecret)
		changed = true
	}
	if changed {
		if raw, err := json.Marshal(m); err == nil {
			t.Config = raw
		}
	}
}

// errNoKEK is why a node without a key-encryption key hands no secret.
var errNoKEK = errors.New("api: this node has no key-encryption key (--kek-file)")

// openTargetSecrets returns t's config with its sealed secrets opened, for
// the work handed to the target's own agent. A secret that does not open
// (another cluster's KEK, no KEK here) is left out, and the log says why:
// that job fails on the agent with its connector's words, the others go on.
func (s *Server) openTargetSecrets(c *gin.Context, t *fsm.Target, jobID string) json.RawMessage {
	fields := secretFieldsOf(t.Type)
	if len(fields) == 0 {
		return t.Config
	}
	m, err := configFields(t.Config)
	if err != nil {
		return t.Config
	}
	for k, raw := range m {
		f, ok := secretKey(k, fields)
		if !ok {
			continue
		}
		value, ok := stringValue(raw)
		if !ok || !strings.HasPrefix(value, sealedPrefix) {
			continue // "", or a plaintext stored before secrets were sealed
		}
		plaintext, err := s.openTargetSecret(t.ID, f, value)
		if err != nil {
			delete(m, k)
			loggerOf(c).Warn("a target's secret does not open on this node; the work item carries none",
				"target", t.ID, "field", f, "job", jobID, "err", err)
			continue
		}
		m[k] = quote(string(plaintext))
		clear(plaintext)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return t.Config
	}
	return raw
}

func (s *Server) openTargetSecret(targetID, f, value string) ([]byte, error) {
	if s.cfg.Secrets == nil {
		return nil, errNoKEK
	}
	sealed, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(value, sealedPrefix))
	if err != nil {
		return nil, fmt.Errorf("api: the sealed %s of target %s is not base64: %w", f, targetID, err)
	}
	plaintext, err := s.cfg.Secrets.Open(sealed, targetSecretAAD(targetID, f))
	if err != nil {
		return nil, fmt.Errorf("api: the %s of target %s does not open with this node's key-encryption key (is --kek-file the cluster's?): %w", f, targetID, err)
	}
	return plaintext, nil
}
