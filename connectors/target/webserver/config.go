package webserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/certctl/certctl/connectors/target"
)

// Config is a host target's configuration, as stored on the target (JSON
// field names are the product's contract). Which fields a kind accepts is
// listed by the kind; the others must be absent.
type Config struct {
	// CertPath receives the certificate: for NGINX and Apache the leaf
	// followed by the intermediates (ssl_certificate, and SSLCertificateFile
	// since Apache 2.4.8); for Files the leaf alone.
	CertPath string `json:"cert_path,omitempty"`
	// KeyPath receives a copy of the agent's private key.
	KeyPath string `json:"key_path,omitempty"`
	// ChainPath receives the intermediates alone.
	ChainPath string `json:"chain_path,omitempty"`
	// FullchainPath (Files) receives the leaf followed by the
	// intermediates.
	FullchainPath string `json:"fullchain_path,omitempty"`
	// PEMPath (HAProxy) receives leaf, intermediates and key in one file,
	// with KeyMode.
	PEMPath string `json:"pem_path,omitempty"`
	// ValidateCommand checks the server's configuration with the new files
	// in place; ReloadCommand makes the server use them. Empty means the
	// kind's default. They run without a shell.
	ValidateCommand string `json:"validate_command,omitempty"`
	ReloadCommand   string `json:"reload_command,omitempty"`
	// Owner and Group own the written files (names or numeric ids); empty
	// leaves the agent's.
	Owner string `json:"owner,omitempty"`
	Group string `json:"group,omitempty"`
	// CertMode and KeyMode are octal permissions (default "0644" and
	// "0600"). A key may not be readable by others.
	CertMode string `json:"cert_mode,omitempty"`
	KeyMode  string `json:"key_mode,omitempty"`
	// Endpoint is the host:port that serves the certificate, for
	// ValidateDeployment's TLS handshake; empty reads the files back.
	Endpoint string `json:"endpoint,omitempty"`
	// ServerName is the SNI of that handshake; empty is the certificate's
	// common name.
	ServerName string `json:"server_name,omitempty"`
}

// kind is a kind of host target.
type kind struct {
	// Name is the target type, e.g. "NGINX".
	Name string
	// Fields are the config fields it accepts.
	Fields []string
	// ValidateCommand and ReloadCommand are used when the config leaves
	// them empty; empty here means none.
	ValidateCommand, ReloadCommand string
}

var ownFields = []string{"owner", "group", "cert_mode", "key_mode", "endpoint", "server_name", "validate_command", "reload_command"}

// The kinds of host target; never modified.
var (
	nginxKind = kind{Name: "NGINX",
		Fields:          append([]string{"cert_path", "key_path", "chain_path"}, ownFields...),
		ValidateCommand: "nginx -t", ReloadCommand: "nginx -s reload"}
	apacheKind = kind{Name: "Apache",
		Fields:          append([]string{"cert_path", "key_path", "chain_path"}, ownFields...),
		ValidateCommand: "apachectl configtest", ReloadCommand: "apachectl graceful"}
	haproxyKind = kind{Name: "HAProxy",
		Fields:          append([]string{"pem_path"}, ownFields...),
		ValidateCommand: "haproxy -c -f /etc/haproxy/haproxy.cfg", ReloadCommand: "systemctl reload haproxy"}
	filesKind = kind{Name: "Files",
		Fields: append([]string{"cert_path", "key_path", "chain_path", "fullchain_path"}, ownFields...)}
)

// settings is a checked Config with its defaults applied.
type settings struct {
	Config
	certMode, keyMode fs.FileMode
	owner             target.Ownership
}

// parseConfig decodes raw strictly (unknown fields, or fields of another
// kind, are refused by name), applies the kind's defaults and checks every
// field against o.
func parseConfig(k kind, o target.HostOptions, raw json.RawMessage) (settings, error) {
	var s settings
	if len(bytes.TrimSpace(raw)) == 0 {
		return s, target.Configf("config", "%s targets need a config with %s", k.Name, required(k))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return s, target.Configf("config", "not a JSON object: %v", err)
	}
	var unknown []string
	for name := range fields {
		if !slices.Contains(k.Fields, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return s, target.Configf(strings.Join(unknown, ", "), "not a field of %s targets, which take %s", k.Name, strings.Join(k.Fields, ", "))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s.Config); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return s, target.Configf(typeErr.Field, "want a %s, not a JSON %s", typeErr.Type, typeErr.Value)
		}
		return s, target.Configf("config", "%v", err)
	}
	if s.ValidateCommand == "" {
		s.ValidateCommand = k.ValidateCommand
	}
	if s.ReloadCommand == "" {
		s.ReloadCommand = k.ReloadCommand
	}
	return s, s.check(k, o)
}

func (s *settings) check(k kind, o target.HostOptions) error {
	paths := s.paths()
	switch k.Name {
	case nginxKind.Name, apacheKind.Name:
		if s.CertPath == "" {
			return target.Configf("cert_path", "%s targets need the path its server reads the certificate from", k.Name)
		}
		if s.KeyPath == "" {
			return target.Configf("key_path", "%s targets need the path its server reads the private key from", k.Name)
		}
	case haproxyKind.Name:
		if s.PEMPath == "" {
			return target.Configf("pem_path", "HAProxy targets need the path of the PEM file its bind line's crt names")
		}
	default:
		if len(paths) == 0 {
			return target.Configf("cert_path", "give at least one of cert_path, key_path, chain_path, fullchain_path")
		}
	}
	seen := make(map[string]string, len(paths))
	for _, p := range paths {
		if err := target.CheckPath(p.field, p.value, o.AllowedDirs, o.ProtectedDirs); err != nil {
			return err
		}
		if other, dup := seen[p.value]; dup {
			return target.Configf(p.field, "%q is also %s: give each file its own path", p.value, other)
		}
		seen[p.value] = p.field
	}
	var err error
	if s.certMode, err = target.ParseMode("cert_mode", s.CertMode, 0o644); err != nil {
		return err
	}
	if s.keyMode, err = target.ParseMode("key_mode", s.KeyMode, 0o600); err != nil {
		return err
	}
	if s.keyMode&0o007 != 0 {
		return target.Configf("key_mode", "%s lets every user of the host read the private key: use 0600, or 0640 with group", s.keyMode)
	}
	s.owner = target.Ownership{Owner: s.Owner, Group: s.Group}
	if err := s.owner.Check(); err != nil {
		return err
	}
	for _, c := range []fieldValue{{"validate_command", s.ValidateCommand}, {"reload_command", s.ReloadCommand}} {
		if c.value != "" {
			if err := o.Runner.Check(c.field, c.value, s.files()); err != nil {
				return err
			}
		}
	}
	if s.Endpoint != "" {
		host, port, err := net.SplitHostPort(s.Endpoint)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return target.Configf("endpoint", "%q is not host:port (e.g. www.example.com:443)", s.Endpoint)
		}
	}
	if strings.ContainsAny(s.ServerName, " /:\x00") {
		return target.Configf("server_name", "%q is not a host name", s.ServerName)
	}
	return nil
}

type fieldValue struct{ field, value string }

// paths are the configured files, in the order they are written.
func (s *settings) paths() []fieldValue {
	var out []fieldValue
	for _, p := range []fieldValue{{"key_path", s.KeyPath}, {"chain_path", s.ChainPath}, {"cert_path", s.CertPath},
		{"fullchain_path", s.FullchainPath}, {"pem_path", s.PEMPath}} {
		if p.value != "" {
			out = append(out, p)
		}
	}
	return out
}

// files are the configured paths by field: the values of the
// placeholders of the agent's allowed_commands.
func (s *settings) files() target.Paths {
	m := make(target.Paths)
	for _, p := range s.paths() {
		m[p.field] = p.value
	}
	return m
}

func required(k kind) string {
	switch k.Name {
	case haproxyKind.Name:
		return "pem_path"
	case filesKind.Name:
		return "at least one of cert_path, key_path, chain_path, fullchain_path"
	}
	return "cert_path and key_path"
}
