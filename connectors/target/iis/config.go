package iis

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/certctl/certctl/connectors/target"
)

// Config is one IIS target's configuration (JSON field names as stored;
// hostname, site_name, cert_store, binding_info and the winrm_* fields up
// to winrm_https are the names the original product used).
type Config struct {
	// Hostname is the IIS host's name; it is also the WinRM host when
	// WinRMHost is empty.
	Hostname string `json:"hostname"`
	// SiteName is the IIS site, exactly as IIS Manager shows it.
	SiteName string `json:"site_name"`
	// CertStore is the LocalMachine store to import into; "" means "My".
	CertStore string `json:"cert_store,omitempty"`
	// BindingInfo is the site's https binding as IIS writes it,
	// IP:port:host header, e.g. "*:443:www.example.com".
	BindingInfo string `json:"binding_info"`

	WinRMHost string `json:"winrm_host,omitempty"`
	// WinRMPort 0 means 5986 with HTTPS, 5985 without.
	WinRMPort     int    `json:"winrm_port,omitempty"`
	WinRMUsername string `json:"winrm_username"`
	WinRMPassword string `json:"winrm_password"`
	// WinRMHTTPS must be true: Basic authentication over HTTP would send
	// the password and the PKCS#12 in clear.
	WinRMHTTPS bool `json:"winrm_https"`
	// WinRMCAFile verifies the listener's certificate; empty uses the host's
	// roots. WinRMInsecureSkipVerify, explicit and exclusive, accepts any.
	WinRMCAFile             string `json:"winrm_ca_file,omitempty"`
	WinRMInsecureSkipVerify bool   `json:"winrm_insecure_skip_verify,omitempty"`

	// Endpoint (host:port) adds a TLS handshake to ValidateDeployment,
	// sending ServerName as SNI.
	Endpoint   string `json:"endpoint,omitempty"`
	ServerName string `json:"server_name,omitempty"`

	// PFXEncryption is how the PKCS#12 sent to the host is protected:
	// "aes256" (default; Windows Server 2019 and later) or "3des" (older
	// hosts, whose Import-PfxCertificate cannot read AES).
	PFXEncryption string `json:"pfx_encryption,omitempty"`
}

var (
	storeName  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,63}$`)
	hostHeader = regexp.MustCompile(`^[A-Za-z0-9*]([A-Za-z0-9.*-]{0,252})?$`)
)

// Type is the target type name of an IIS target, under which both the
// agent registers the connector and the server declares its Secrets.
const Type = "IIS"

// Secrets declares Config's secret: the WinRM password, sent to the WinRM
// listener that hostname (or winrm_host) and winrm_port name, over the
// transport winrm_https chooses and that winrm_ca_file or
// winrm_insecure_skip_verify authenticate. Changing any of those without
// giving the password again clears it (endpoint and server_name only name
// what ValidateDeployment shakes hands with: no secret goes there).
func Secrets() target.Secrets {
	return target.Secrets{Secret: []string{"winrm_password"}, Destination: []string{"hostname", "winrm_host", "winrm_port",
		"winrm_https", "winrm_ca_file", "winrm_insecure_skip_verify"}}
}

// fieldNames are Config's JSON names, for the error about an unknown one.
var fieldNames = []string{"hostname", "site_name", "cert_store", "binding_info", "winrm_host", "winrm_port", "winrm_username", "winrm_password", "winrm_https", "winrm_ca_file", "winrm_insecure_skip_verify", "endpoint", "server_name", "pfx_encryption"}

// ParseConfig decodes and checks a JSON config: unknown fields are errors
// naming the field, and defaults are filled in.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var c Config
	if err := target.DecodeConfig(raw, &c, fieldNames); err != nil {
		return c, err
	}
	if c.CertStore == "" {
		c.CertStore = "My"
	}
	if c.WinRMHost == "" {
		c.WinRMHost = c.Hostname
	}
	if c.WinRMPort == 0 {
		c.WinRMPort = 5985
		if c.WinRMHTTPS {
			c.WinRMPort = 5986
		}
	}
	if c.PFXEncryption == "" {
		c.PFXEncryption = "aes256"
	}
	return c, c.Validate()
}

// hasControl reports a character PowerShell or IIS could read as a line
// break or that a person cannot see.
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\u0085' {
			return true
		}
	}
	return false
}

// Validate reports the first problem of c, which ParseConfig has filled
// with defaults. It reads winrm_ca_file but does not contact the host.
func (c Config) Validate() error {
	switch {
	case c.Hostname == "" && c.WinRMHost == "":
		return target.Configf("hostname", "the IIS host's name is required")
	case strings.ContainsAny(c.WinRMHost, "/@ \t\r\n") || (strings.Contains(c.WinRMHost, ":") && net.ParseIP(c.WinRMHost) == nil):
		return target.Configf("winrm_host", "%q: give a host name or IP address only, without scheme, port or path", c.WinRMHost)
	case c.SiteName == "":
		return target.Configf("site_name", "the IIS site to bind is required, as IIS Manager names it")
	case len(c.SiteName) > 256 || hasControl(c.SiteName):
		return target.Configf("site_name", "%q holds control characters or is too long", c.SiteName)
	case !storeName.MatchString(c.CertStore):
		return target.Configf("cert_store", "%q is not a certificate store name such as My or WebHosting", c.CertStore)
	case c.WinRMPort < 1 || c.WinRMPort > 65535:
		return target.Configf("winrm_port", "%d is not a TCP port", c.WinRMPort)
	case c.WinRMUsername == "":
		return target.Configf("winrm_username", "a local administrator of the IIS host is required")
	case hasControl(c.WinRMUsername) || strings.Contains(c.WinRMUsername, ":"):
		return target.Configf("winrm_username", "%q holds characters Basic authentication cannot carry", c.WinRMUsername)
	case c.WinRMPassword == "":
		return target.Configf("winrm_password", "the password of %q is required", c.WinRMUsername)
	case !c.WinRMHTTPS:
		return target.Configf("winrm_https", "must be true: certctl authenticates with Basic, which over HTTP would send the password and the private key in clear; add an HTTPS listener (port 5986) on the host")
	case c.WinRMCAFile != "" && c.WinRMInsecureSkipVerify:
		return target.Configf("winrm_insecure_skip_verify", "set either winrm_ca_file or winrm_insecure_skip_verify, not both")
	case c.ServerName != "" && c.Endpoint == "":
		return target.Configf("server_name", "is only used with endpoint")
	case c.PFXEncryption != "aes256" && c.PFXEncryption != "3des":
		return target.Configf("pfx_encryption", "%q: use aes256, or 3des for Windows Server 2016 and older", c.PFXEncryption)
	}
	if _, _, _, err := splitBinding(c.BindingInfo); err != nil {
		return err
	}
	if c.Endpoint != "" {
		if _, port, err := net.SplitHostPort(c.Endpoint); err != nil || port == "" {
			return target.Configf("endpoint", "%q: give host:port of the site's https binding", c.Endpoint)
		}
	}
	if c.WinRMCAFile != "" {
		if _, err := target.LoadRoots("winrm_ca_file", c.WinRMCAFile); err != nil {
			return err
		}
	}
	return nil
}

// splitBinding checks binding information as IIS writes it: an IPv4
// address, [IPv6] or "*", a port, and a host header that may be empty.
func splitBinding(info string) (ip string, port int, host string, err error) {
	bad := func(why string) error {
		return target.Configf("binding_info", "%q %s: write it as IIS does, IP:port:host header, e.g. *:443:www.example.com or *:443:", info, why)
	}
	if info == "" {
		return "", 0, "", target.Configf("binding_info", "the https binding to update is required, e.g. *:443:www.example.com")
	}
	if hasControl(info) {
		return "", 0, "", bad("holds control characters")
	}
	i := strings.LastIndex(info, ":")
	if i < 0 {
		return "", 0, "", bad("has no port")
	}
	host = info[i+1:]
	j := strings.LastIndex(info[:i], ":")
	if j < 0 {
		return "", 0, "", bad("has no IP part")
	}
	ip = info[:j]
	port, perr := strconv.Atoi(info[j+1 : i])
	switch {
	case perr != nil || port < 1 || port > 65535:
		return "", 0, "", bad("has no valid port")
	case ip != "*" && net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")) == nil,
		strings.Contains(ip, ":") && !strings.HasPrefix(ip, "["):
		return "", 0, "", bad("has an IP part that is neither *, an IPv4 address nor a bracketed IPv6 address")
	case host != "" && !hostHeader.MatchString(host):
		return "", 0, "", bad("has a host header that is not a DNS name")
	}
	return ip, port, host, nil
}

func (c Config) wsmanURL() string {
	return fmt.Sprintf("https://%s/wsman", net.JoinHostPort(c.WinRMHost, strconv.Itoa(c.WinRMPort)))
}
