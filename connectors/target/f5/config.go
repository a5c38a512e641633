package f5

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/certctl/certctl/connectors/target"
)

// Config is one BIG-IP target's configuration (JSON field names as stored;
// host, port, username, password, partition and ssl_profile are the names
// the original product used).
type Config struct {
	// Host is the management address (name or IP, no scheme or port).
	Host string `json:"host"`
	// Port is the management port; 0 means 443.
	Port     int    `json:"port,omitempty"`
	Username string `json:"username"`
	Password string `json:"password"`
	// Partition holds the installed objects and the profile; "" means
	// "Common".
	Partition string `json:"partition,omitempty"`
	// SSLProfile is the client-ssl profile to switch, by name without its
	// partition.
	SSLProfile string `json:"ssl_profile"`
	// CAFile is a PEM bundle that verifies the management interface's
	// certificate; empty uses the host's roots.
	CAFile string `json:"ca_file,omitempty"`
	// InsecureSkipVerify accepts any management certificate. Explicit and
	// exclusive with CAFile.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
	// Endpoint (host:port of a virtual server using the profile) adds a TLS
	// handshake to ValidateDeployment, sending ServerName as SNI.
	Endpoint   string `json:"endpoint,omitempty"`
	ServerName string `json:"server_name,omitempty"`
}

// Type is the target type name of an F5 BIG-IP target, under which both the
// agent registers the connector and the server declares its Secrets.
const Type = "F5"

// Secrets declares Config's secret: the password, sent to the management
// interface that host and port name and that ca_file or
// insecure_skip_verify authenticate. Changing any of those without giving
// the password again clears it (endpoint and server_name only name what
// ValidateDeployment shakes hands with: no secret goes there).
func Secrets() target.Secrets {
	return target.Secrets{Secret: []string{"password"}, Destination: []string{"host", "port", "ca_file", "insecure_skip_verify"}}
}

// DefaultPartition is the partition used when Config.Partition is empty.
const DefaultPartition = "Common"

// objectName is what BIG-IP accepts in an object or partition name without
// quoting; anything else is refused rather than escaped into a URL.
var objectName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// fieldNames are Config's JSON names, for the error about an unknown one.
var fieldNames = []string{"host", "port", "username", "password", "partition", "ssl_profile", "ca_file", "insecure_skip_verify", "endpoint", "server_name"}

// ParseConfig decodes and checks a JSON config: unknown fields are errors
// naming the field, and defaults are filled in.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var c Config
	if err := target.DecodeConfig(raw, &c, fieldNames); err != nil {
		return c, err
	}
	if c.Port == 0 {
		c.Port = 443
	}
	if c.Partition == "" {
		c.Partition = DefaultPartition
	}
	return c, c.Validate()
}

// Validate reports the first problem of c, which ParseConfig has filled
// with defaults. It reads ca_file but does not contact the device.
func (c Config) Validate() error {
	switch {
	case c.Host == "":
		return target.Configf("host", "the BIG-IP management address is required")
	case strings.ContainsAny(c.Host, "/:@ \t\r\n") && net.ParseIP(c.Host) == nil:
		return target.Configf("host", "%q: give a host name or IP address only, without scheme, port or path", c.Host)
	case c.Port < 1 || c.Port > 65535:
		return target.Configf("port", "%d is not a TCP port", c.Port)
	case c.Username == "":
		return target.Configf("username", "a BIG-IP user allowed to manage certificates and profiles is required")
	case c.Password == "":
		return target.Configf("password", "the password of %q is required", c.Username)
	case !objectName.MatchString(c.Partition):
		return target.Configf("partition", "%q is not a partition name (letters, digits, _ . -)", c.Partition)
	case c.SSLProfile == "":
		return target.Configf("ssl_profile", "the client-ssl profile to update is required")
	case strings.Contains(c.SSLProfile, "/"):
		return target.Configf("ssl_profile", "%q: give the profile's name alone and its partition in partition", c.SSLProfile)
	case !objectName.MatchString(c.SSLProfile):
		return target.Configf("ssl_profile", "%q is not a profile name (letters, digits, _ . -)", c.SSLProfile)
	case c.CAFile != "" && c.InsecureSkipVerify:
		return target.Configf("insecure_skip_verify", "set either ca_file or insecure_skip_verify, not both")
	case c.ServerName != "" && c.Endpoint == "":
		return target.Configf("server_name", "is only used with endpoint")
	}
	if c.Endpoint != "" {
		if _, port, err := net.SplitHostPort(c.Endpoint); err != nil || port == "" {
			return target.Configf("endpoint", "%q: give host:port of a virtual server that uses %s", c.Endpoint, c.SSLProfile)
		}
	}
	if c.CAFile != "" {
		if _, err := target.LoadRoots("ca_file", c.CAFile); err != nil {
			return err
		}
	}
	return nil
}

func (c Config) baseURL() string {
	return "https://" + net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// profilePath is the REST path of the profile, in BIG-IP's ~partition~name
// form.
func (c Config) profilePath() string {
	return fmt.Sprintf("/mgmt/tm/ltm/profile/client-ssl/~%s~%s", c.Partition, c.SSLProfile)
}
