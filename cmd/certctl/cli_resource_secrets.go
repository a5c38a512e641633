package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/issuer"
)

// redacted is how the API shows a stored secret; sent back in an update it
// keeps the stored one.
const redacted = "********"

// secretFields are the secret fields of the config of a record of kind k
// and type typ (any case), as its connector declares them: the issuer
// registry's for issuers, the target connectors' for targets. The CLI holds
// the same connectors as the server it ships with.
func secretFields(k *resourceKind, typ string) []string {
	switch k.secrets {
	case "issuer":
		reg, err := declaredIssuers(nil)
		if err != nil {
			return nil
		}
		s, _ := reg.SecretFields(typ)
		return s
	case "target":
		s, _ := targetSecrets().SecretFields(typ)
		return s
	}
	return nil
}

// declaredIssuers is the server's issuer registry (secrets.go), whose
// connectors declare the secret fields of their configs; the CLI builds
// no issuer, so kek may be nil. The one place the CLI and its tests build
// the registry.
func declaredIssuers(kek []byte) (*issuer.Registry, error) {
	return issuerRegistry(kek, nil)
}

// allSecretFields are the secret fields any type of kind k declares,
// sorted: the types the API knows (wire's enums), asked one by one.
func allSecretFields(k *resourceKind) []string {
	var types []string
	switch k.secrets {
	case "issuer":
		for _, t := range wire.IssuerTypes() {
			types = append(types, string(t))
		}
	case "target":
		for _, t := range wire.TargetTypes() {
			types = append(types, string(t))
		}
	}
	var out []string
	for _, t := range types {
		for _, f := range secretFields(k, t) {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	sort.Strings(out)
	return out
}

// fieldError is a problem with one field of a body, named by its path
// ("config.password").
type fieldError struct {
	path []string
	msg  string
}

func (e *fieldError) Error() string { return strings.Join(e.path, ".") + ": " + e.msg }

// resolveSecrets replaces, in body's config, each NAME_file: PATH naming a
// secret field its type declares with the secret read from PATH (relative
// to baseDir), and refuses a secret given as a value: secrets live in
// files, never in flags or inventory files. The redaction marker ********
// (a stored secret, kept) is accepted. With allowed not nil (an
// inventory's secrets), a secret file must be inside one of those
// directories once symbolic links are followed: a reviewed inventory change
// cannot make apply read, and send to a target's host, a file of the
// machine that runs it from elsewhere.
func (k *resourceKind) resolveSecrets(body map[string]any, baseDir string, allowed []string) error {
	if k.secrets == "" {
		return nil
	}
	config, ok := body["config"].(map[string]any)
	if !ok {
		return nil
	}
	typ, _ := body["type"].(string)
	declared := secretFields(k, typ)
	keys := make([]string, 0, len(config))
	for key := range config {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if base, ok := strings.CutSuffix(key, "_file"); ok {
			if field, ok := fold(base, declared); ok {
				path, _ := config[key].(string)
				if _, both := config[base]; both {
					return &fieldError{[]string{"config", base}, "given with " + key + " as well: give the file only"}
				}
				if path != "" && !filepath.IsAbs(path) {
					path = filepath.Join(baseDir, path)
				}
				if allowed != nil && path != "" {
					if err := within(path, allowed); err != nil {
						return &fieldError{[]string{"config", key}, err.Error()}
					}
				}
				v, err := readSecretFile(path)
				if err != nil {
					return &fieldError{[]string{"config", key}, err.Error()}
				}
				delete(config, key)
				config[field] = v
				continue
			}
		}
		if _, ok := fold(key, declared); ok {
			if v, isString := config[key].(string); isString && (v == redacted || v == "") {
				continue
			}
			return &fieldError{[]string{"config", key}, fmt.Sprintf("%s is a secret of %s type %s: give it as %s_file: PATH (a file holding it), never its value", key, k.name, typ, key)}
		}
	}
	return nil
}

// within checks that path, its links followed, is inside one of dirs.
func within(path string, dirs []string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	if real, err = filepath.Abs(real); err != nil {
		return err
	}
	for _, d := range dirs {
		rd, err := filepath.EvalSymlinks(d)
		if err != nil {
			continue
		}
		if rd, err = filepath.Abs(rd); err != nil {
			continue
		}
		if rel, err := filepath.Rel(rd, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil
		}
	}
	return fmt.Errorf("%s is outside the inventory's directories (%s): an inventory names secret files there, or in a directory given with --secrets-dir", path, strings.Join(dirs, ", "))
}

// fold returns the field of fields equal to s without regard to case, as
// the API matches a connector's config fields.
func fold(s string, fields []string) (string, bool) {
	for _, f := range fields {
		if strings.EqualFold(s, f) {
			return f, true
		}
	}
	return "", false
}

// maxInventoryFile bounds a body or inventory file.
const maxInventoryFile = 16 << 20

// readLimited reads a file of at most maxInventoryFile bytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxInventoryFile+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxInventoryFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxInventoryFile)
	}
	return raw, nil
}

// readFull reads into buf until it is full or the reader ends.
func readFull(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	return n, err
}
