package iistest

import (
	"crypto"
	"crypto/sha1" //nolint:gosec // Windows thumbprints
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/certctl/certctl/connectors/target/targettest"
)

// Protocol constants as MS-WSMV documents them, spelled out again here so
// that a typo in the connector does not pass its own test.
const (
	wsResourceURI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
	wsCreate      = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
	wsDelete      = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
	wsCommand     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
	wsReceive     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
	wsSignal      = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"
	wsTerminate   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
	wsDone        = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
	wsRunning     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
	wsAnonymous   = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
)

// The host as StartHost makes it.
const (
	// Username and Password are the credentials the listener accepts
	// until SetPassword.
	Username = `WEB01\certctl`
	Password = "p@ss'word"
	// Site and Binding name the https binding the host has at first,
	// bound to a certificate in LocalMachine\My with its key; Config names
	// Binding.
	Site    = "Default Web Site"
	Binding = "*:443:www.example.com"
)

// Host is a running fake WinRM listener and the IIS host behind it. Its
// methods are safe for concurrent use with the requests it serves.
type Host struct {
	// Addr is the WinRM listener, 127.0.0.1:port; Port is its port.
	Addr string
	Port int
	// CAPEM is the listener's certificate in PEM, which a client must
	// trust; CAFile holds it.
	CAPEM  string
	CAFile string

	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex
	pass       string
	msgIDs     map[string]bool
	shells     map[string]bool
	commands   map[string]*command
	nextID     int
	requests   int
	scripts    []string // kinds run, in order
	violations []string

	temp     map[string]string                       // temporary files: name → text
	stores   map[string]map[string]*x509.Certificate // store → thumbprint → certificate
	keys     map[string]bool                         // thumbprints imported with their private key
	bindings map[string]map[string]string            // site → binding info → thumbprint
	bStores  map[string]map[string]string            // site → binding info → store

	// failDeploy, when set, is the stderr of every deploy script, which
	// fails with exit status 1 before changing anything.
	failDeploy string
}

type command struct {
	shell    string
	stdout   []byte
	stderr   []byte
	exit     int
	receives int
	done     bool
}

// StartHost starts a host on 127.0.0.1 whose site Site has the https
// binding Binding, and stops it when the test ends. Every protocol
// violation it sees fails t, and so does a shell or a temporary file still
// there when the test ends.
func StartHost(t testing.TB) *Host {
	t.Helper()
	f := &Host{t: t, pass: Password, msgIDs: map[string]bool{}, shells: map[string]bool{},
		commands: map[string]*command{}, temp: map[string]string{}, stores: map[string]map[string]*x509.Certificate{"My": {}},
		keys: map[string]bool{}, bindings: map[string]map[string]string{}, bStores: map[string]map[string]string{}}
	old := targettest.Issue(t, "old.example.com", 3)
	f.stores["My"][Thumbprint(old.Cert)] = old.Cert
	f.keys[Thumbprint(old.Cert)] = true
	f.addBinding(Site, Binding, Thumbprint(old.Cert))
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, id := range slices.Sorted(maps.Keys(f.shells)) {
			f.violate("shell %s was never deleted", id)
		}
		for _, name := range slices.Sorted(maps.Keys(f.temp)) {
			f.violate("temporary file %s left on the host", name)
		}
	})
	f.Addr = f.srv.Listener.Addr().String()
	f.Port = f.srv.Listener.Addr().(*net.TCPAddr).Port
	f.CAPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}))
	f.CAFile = filepath.Join(t.TempDir(), "winrm-ca.pem")
	require.NoError(t, os.WriteFile(f.CAFile, []byte(f.CAPEM), 0o600))
	return f
}

// Config is a target config for binding Binding of site on this host
// (WinRM over HTTPS to 127.0.0.1, the credentials, winrm_ca_file), with
// extra appended inside the object: "" or fields each starting with a
// comma.
func (f *Host) Config(site, extra string) json.RawMessage {
	siteJSON, _ := json.Marshal(site)
	return json.RawMessage(fmt.Sprintf(`{"hostname":"web01.example.com","winrm_host":"127.0.0.1","winrm_port":%d,"winrm_https":true,`+
		`"winrm_username":%q,"winrm_password":%q,"winrm_ca_file":%q,"site_name":%s,"binding_info":%q%s}`,
		f.Port, Username, Password, f.CAFile, siteJSON, Binding, extra))
}

// SetPassword makes the listener accept password, and no longer the one
// Config names.
func (f *Host) SetPassword(password string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pass = password
}

// FailDeploy makes every deploy script fail with exit status 1 and stderr
// on the host, before it changes anything; "" lets them succeed again.
func (f *Host) FailDeploy(stderr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failDeploy = stderr
}

// AddBinding adds an https binding info to site, bound to the certificate
// of thumbprint in LocalMachine\My.
func (f *Host) AddBinding(site, info, thumbprint string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addBinding(site, info, thumbprint)
}

func (f *Host) addBinding(site, info, thumbprint string) {
	if f.bindings[site] == nil {
		f.bindings[site], f.bStores[site] = map[string]string{}, map[string]string{}
	}
	f.bindings[site][info], f.bStores[site][info] = thumbprint, "My"
}

// Bound returns the thumbprint the binding info of site names, "" if none.
func (f *Host) Bound(site, info string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bindings[site][info]
}

// BoundCertificate returns the certificate the binding info of site
// names, from the store it names, failing the test if there is none.
func (f *Host) BoundCertificate(t testing.TB, site, info string) *x509.Certificate {
	t.Helper()
	f.mu.Lock()
	th := f.bindings[site][info]
	store := f.bStores[site][info]
	c := f.stores[store][th]
	f.mu.Unlock()
	require.NotNil(t, c, "site %q binding %s names %q, which is not in LocalMachine\\%s", site, info, th, store)
	return c
}

// State is a copy of the host's state at one moment.
type State struct {
	// Stores are the LocalMachine certificate stores: store → thumbprint
	// → certificate. Keys holds the thumbprints imported with their key.
	Stores map[string]map[string]*x509.Certificate
	Keys   map[string]bool
	// Bindings are site → binding info → thumbprint.
	Bindings map[string]map[string]string
	// Scripts are the kinds of the scripts run, in order.
	Scripts []string
	// Temp are the temporary files on the host; Shells the shells open.
	Temp, Shells []string
	// Requests counts every request served.
	Requests int
}

// State returns a copy of the host's state.
func (f *Host) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := State{Stores: map[string]map[string]*x509.Certificate{}, Keys: maps.Clone(f.keys), Bindings: map[string]map[string]string{},
		Scripts: slices.Clone(f.scripts), Temp: slices.Sorted(maps.Keys(f.temp)), Shells: slices.Sorted(maps.Keys(f.shells)), Requests: f.requests}
	for k, v := range f.stores {
		s.Stores[k] = maps.Clone(v)
	}
	for k, v := range f.bindings {
		s.Bindings[k] = maps.Clone(v)
	}
	return s
}

// Violations returns the protocol violations seen so far, each of which
// has already failed the test.
func (f *Host) Violations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.violations)
}

// Thumbprint is Windows' name of a certificate: the SHA-1 of its DER, in
// upper-case hex.
func Thumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw) //nolint:gosec // Windows thumbprint
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// violate records a violation and fails the test. Callers hold f.mu.
func (f *Host) violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.violations = append(f.violations, msg)
	f.t.Errorf("fake WinRM: %s", msg)
}

type envelope struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  struct {
		To      string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing To"`
		ReplyTo struct {
			Address struct {
				MustUnderstand string `xml:"http://www.w3.org/2003/05/soap-envelope mustUnderstand,attr"`
				Value          string `xml:",chardata"`
			} `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Address"`
		} `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing ReplyTo"`
		MessageID        string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
		Action           string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
		ResourceURI      string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
		MaxEnvelopeSize  string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd MaxEnvelopeSize"`
		OperationTimeout string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
		Selectors        []struct {
			Name  string `xml:"Name,attr"`
			Value string `xml:",chardata"`
		} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet>Selector"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body struct {
		Shell *struct {
			InputStreams  string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell InputStreams"`
			OutputStreams string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell OutputStreams"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
		CommandLine *struct {
			Command   string   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Command"`
			Arguments []string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Arguments"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
		Receive *struct {
			DesiredStream struct {
				CommandID string `xml:"CommandId,attr"`
				Streams   string `xml:",chardata"`
			} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell DesiredStream"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
		Signal *struct {
			CommandID string `xml:"CommandId,attr"`
			Code      string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Code"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Signal"`
		Inner string `xml:",innerxml"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

var (
	uuidRE    = regexp.MustCompile(`^uuid:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-4[0-9A-Fa-f]{3}-[89abAB][0-9A-Fa-f]{3}-[0-9A-Fa-f]{12}$`)
	durationR = regexp.MustCompile(`^PT[0-9]+(\.[0-9]+)?S$`)
)

func (f *Host) fail(w http.ResponseWriter, format string, args ...any) {
	f.violate(format, args...)
	http.Error(w, "protocol error", http.StatusBadRequest)
}

func (f *Host) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if r.Method != http.MethodPost || r.URL.Path != "/wsman" {
		f.fail(w, "unexpected %s %s", r.Method, r.URL.Path)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/soap+xml;charset=UTF-8" {
		f.fail(w, "Content-Type %q", ct)
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		f.fail(w, "no Basic authorization")
		return
	}
	if user != Username || pass != f.pass {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	data, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var e envelope
	if err := xml.Unmarshal(data, &e); err != nil {
		f.fail(w, "not a SOAP 1.2 envelope: %v", err)
		return
	}
	h := e.Header
	switch {
	case h.To != f.srv.URL+"/wsman":
		f.fail(w, "a:To %q, want %s/wsman", h.To, f.srv.URL)
		return
	case h.ReplyTo.Address.Value != wsAnonymous || h.ReplyTo.Address.MustUnderstand != "true":
		f.fail(w, "a:ReplyTo %+v", h.ReplyTo)
		return
	case !uuidRE.MatchString(h.MessageID) || f.msgIDs[h.MessageID]:
		f.fail(w, "a:MessageID %q is not a fresh uuid", h.MessageID)
		return
	case h.ResourceURI != wsResourceURI:
		f.fail(w, "w:ResourceURI %q", h.ResourceURI)
		return
	case h.MaxEnvelopeSize == "" || !durationR.MatchString(h.OperationTimeout):
		f.fail(w, "w:MaxEnvelopeSize %q / w:OperationTimeout %q", h.MaxEnvelopeSize, h.OperationTimeout)
		return
	}
	f.msgIDs[h.MessageID] = true
	shellID := ""
	for _, s := range h.Selectors {
		if s.Name == "ShellId" {
			shellID = s.Value
		}
	}
	if h.Action != wsCreate && !f.shells[shellID] {
		f.fail(w, "%s: ShellId selector %q names no open shell", h.Action, shellID)
		return
	}
	switch h.Action {
	case wsCreate:
		if shellID != "" || e.Body.Shell == nil || e.Body.Shell.InputStreams != "stdin" || e.Body.Shell.OutputStreams != "stdout stderr" {
			f.fail(w, "Create: selector %q, body %s", shellID, e.Body.Inner)
			return
		}
		f.nextID++
		id := fmt.Sprintf("11111111-2222-3333-4444-%012d", f.nextID)
		f.shells[id] = true
		// Hosts answer either form; alternate so that both are read.
		if f.nextID%2 == 0 {
			respond(w, h.MessageID, `<rsp:Shell><rsp:ShellId>`+id+`</rsp:ShellId><rsp:ResourceUri>`+wsResourceURI+
				`</rsp:ResourceUri><rsp:State>Connected</rsp:State><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`)
			return
		}
		respond(w, h.MessageID, `<x:ResourceCreated xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer"><a:Address>`+h.To+
			`</a:Address><a:ReferenceParameters><w:ResourceURI>`+wsResourceURI+`</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">`+id+
			`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`)
	case wsCommand:
		cl := e.Body.CommandLine
		if cl == nil {
			f.fail(w, "Command without rsp:CommandLine: %s", e.Body.Inner)
			return
		}
		f.nextID++
		id := fmt.Sprintf("AAAAAAAA-BBBB-CCCC-DDDD-%012d", f.nextID)
		c := &command{shell: shellID}
		f.commands[id] = c
		f.run(c, cl.Command, cl.Arguments)
		respond(w, h.MessageID, `<rsp:CommandResponse><rsp:CommandId>`+id+`</rsp:CommandId></rsp:CommandResponse>`)
	case wsReceive:
		rc := e.Body.Receive
		if rc == nil || rc.DesiredStream.Streams != "stdout stderr" {
			f.fail(w, "Receive body %s", e.Body.Inner)
			return
		}
		id := rc.DesiredStream.CommandID
		c := f.commands[id]
		if c == nil || c.shell != shellID || c.done {
			f.fail(w, "Receive for command %q that is unknown, of another shell, or already done", id)
			return
		}
		c.receives++
		switch c.receives {
		case 1: // the host saw no output within OperationTimeout
			w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, soap(h.MessageID, `<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode></s:Code>`+
				`<s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot complete the operation within the time specified in OperationTimeout.</s:Text></s:Reason>`+
				`<s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858793" Machine="web01"><f:Message>timed out</f:Message></f:WSManFault></s:Detail></s:Fault>`))
		case 2: // part of the output, still running
			half := len(c.stdout) / 2
			respond(w, h.MessageID, `<rsp:ReceiveResponse>`+stream("stdout", id, c.stdout[:half], false)+
				`<rsp:CommandState CommandId="`+id+`" State="`+wsRunning+`"/></rsp:ReceiveResponse>`)
		default:
			c.done = true
			respond(w, h.MessageID, fmt.Sprintf(`<rsp:ReceiveResponse>%s%s<rsp:CommandState CommandId="%s" State="%s"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>`,
				stream("stdout", id, c.stdout[len(c.stdout)/2:], true), stream("stderr", id, c.stderr, true), id, wsDone, c.exit))
		}
	case wsSignal:
		sg := e.Body.Signal
		if sg == nil || sg.Code != wsTerminate || f.commands[sg.CommandID] == nil || f.commands[sg.CommandID].shell != shellID {
			f.fail(w, "Signal body %s", e.Body.Inner)
			return
		}
		delete(f.commands, sg.CommandID)
		respond(w, h.MessageID, `<rsp:SignalResponse/>`)
	case wsDelete:
		if strings.TrimSpace(e.Body.Inner) != "" {
			f.fail(w, "Delete with a body: %s", e.Body.Inner)
			return
		}
		delete(f.shells, shellID)
		for id, c := range f.commands {
			if c.shell == shellID {
				f.violate("command %s deleted with its shell, never terminated", id)
				delete(f.commands, id)
			}
		}
		respond(w, h.MessageID, "")
	default:
		f.fail(w, "unknown a:Action %q", h.Action)
	}
}

func stream(name, id string, data []byte, end bool) string {
	s := `<rsp:Stream Name="` + name + `" CommandId="` + id + `"`
	if end {
		s += ` End="true"`
	}
	return s + `>` + base64.StdEncoding.EncodeToString(data) + `</rsp:Stream>`
}

func soap(relatesTo, body string) string {
	return `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">` +
		`<s:Header><a:Action>response</a:Action><a:MessageID>uuid:00000000-0000-4000-8000-000000000000</a:MessageID><a:To>` + wsAnonymous +
		`</a:To><a:RelatesTo>` + relatesTo + `</a:RelatesTo></s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
}

func respond(w http.ResponseWriter, relatesTo, body string) {
	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	_, _ = io.WriteString(w, soap(relatesTo, body))
}

// run "executes" a command line: only powershell with an encoded script
// of the connector's kinds, within cmd.exe's length limit.
func (f *Host) run(c *command, cmd string, args []string) {
	line := cmd + " " + strings.Join(args, " ")
	if cmd != "powershell" || len(args) != 4 || args[0] != "-NoProfile" || args[1] != "-NonInteractive" || args[2] != "-EncodedCommand" {
		f.violate("command line %.200q", line)
		c.exit = 1
		return
	}
	if len(line) > 8191 {
		f.violate("a command line of %d characters, over cmd.exe's 8191", len(line))
	}
	raw, err := base64.StdEncoding.DecodeString(args[3])
	if err != nil || len(raw)%2 != 0 {
		f.violate("-EncodedCommand is not base64 of UTF-16LE")
		c.exit = 1
		return
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	kind, params, body, err := parseScript(string(utf16.Decode(u)))
	if err != nil {
		f.violate("%v", err)
		c.exit = 1
		return
	}
	for _, name := range []string{"Site", "BindingInfo", "Password", "Thumbprint"} {
		if v := params[name]; len(v) > 3 && strings.Contains(body, v) {
			f.violate("$%s's value %q is spliced into the script's code", name, v)
		}
	}
	f.scripts = append(f.scripts, kind)
	out, errOut, exit := f.script(kind, params)
	c.stdout, c.stderr, c.exit = []byte(out), []byte(errOut), exit
}

var paramLine = regexp.MustCompile(`^\$([A-Za-z]+) = ([\x{27}\x{2018}-\x{201b}].*)$`)

// parseScript reads "# certctl:<kind>", then "$Name = '<literal>'" lines
// by PowerShell's rules for single-quoted strings, then the body.
func parseScript(s string) (kind string, params map[string]string, body string, err error) {
	lines := strings.Split(s, "\n")
	kind, ok := strings.CutPrefix(lines[0], "# certctl:")
	if !ok {
		return "", nil, "", fmt.Errorf("script without a certctl marker: %.80q", s)
	}
	params = map[string]string{}
	i := 1
	for ; i < len(lines); i++ {
		m := paramLine.FindStringSubmatch(lines[i])
		if m == nil {
			break
		}
		v, rest, err := psLiteral(m[2])
		if err != nil || rest != "" {
			return "", nil, "", fmt.Errorf("script %s: $%s is not one single-quoted literal: %q (%v)", kind, m[1], m[2], err)
		}
		params[m[1]] = v
	}
	return kind, params, strings.Join(lines[i:], "\n"), nil
}

func isQuote(r rune) bool {
	return r == '\'' || r == '\u2018' || r == '\u2019' || r == '\u201a' || r == '\u201b'
}

// psLiteral follows PowerShell's tokenizer: any of the single-quote
// characters ends the literal unless another one follows, which it then
// stands for.
func psLiteral(s string) (value, rest string, err error) {
	rs := []rune(s)
	if len(rs) == 0 || !isQuote(rs[0]) {
		return "", "", fmt.Errorf("no opening quote")
	}
	var b strings.Builder
	for i := 1; i < len(rs); i++ {
		if isQuote(rs[i]) {
			if i+1 < len(rs) && isQuote(rs[i+1]) {
				b.WriteRune(rs[i+1])
				i++
				continue
			}
			return b.String(), string(rs[i+1:]), nil
		}
		b.WriteRune(rs[i])
	}
	return "", "", fmt.Errorf("unterminated literal")
}

// script simulates the host running one of the connector's scripts.
func (f *Host) script(kind string, p map[string]string) (stdout, stderr string, exit int) {
	binding := func() (string, bool) {
		th, ok := f.bindings[p["Site"]][p["BindingInfo"]]
		return th, ok
	}
	noBinding := fmt.Sprintf("certctl: site '%s' has no https binding '%s': add it in IIS Manager first", p["Site"], p["BindingInfo"])
	switch kind {
	case "upload":
		if !regexp.MustCompile(`^[A-Za-z0-9+/=]+$`).MatchString(p["Chunk"]) {
			f.violate("upload chunk is not base64")
		}
		switch p["Mode"] {
		case "create":
			f.temp[p["File"]] = p["Chunk"]
		case "append":
			if _, ok := f.temp[p["File"]]; !ok {
				f.violate("append to %s, never created", p["File"])
			}
			f.temp[p["File"]] += p["Chunk"]
		default:
			f.violate("upload mode %q", p["Mode"])
		}
		return "", "", 0
	case "cleanup":
		delete(f.temp, p["File"])
		return "", "", 0
	case "query":
		th, ok := binding()
		if !ok {
			return "", noBinding, 1
		}
		out := "certctl-bound-thumbprint=" + th + "\r\ncertctl-bound-store=" + f.bStores[p["Site"]][p["BindingInfo"]] + "\r\n"
		if c := f.stores[f.bStores[p["Site"]][p["BindingInfo"]]][th]; c != nil {
			sum := sha256.Sum256(c.Raw)
			out += "certctl-bound-sha256=" + strings.ToUpper(hex.EncodeToString(sum[:])) + "\r\n"
		}
		return out, "", 0
	case "deploy":
		text, ok := f.temp[p["File"]]
		delete(f.temp, p["File"]) // the script's finally
		if !ok {
			f.violate("deploy of %s, never uploaded", p["File"])
			return "", "certctl: file not found", 1
		}
		pfx, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			f.violate("the reassembled upload is not base64: %v", err)
			return "", "certctl: bad base64", 1
		}
		key, leaf, cas, err := pkcs12.DecodeChain(pfx, p["Password"])
		if err != nil {
			f.violate("the PKCS#12 does not open with the one-time password: %v", err)
			return "", "certctl: The specified network password is not correct.", 1
		}
		if !key.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) {
			f.violate("the PKCS#12's key is not its certificate's")
		}
		if Thumbprint(leaf) != p["Thumbprint"] {
			f.violate("$Thumbprint %s, the PKCS#12 holds %s", p["Thumbprint"], Thumbprint(leaf))
		}
		if f.failDeploy != "" {
			return "", f.failDeploy, 1
		}
		store := f.stores[p["Store"]]
		if store == nil {
			return "", "certctl: Cannot find path 'Cert:\\LocalMachine\\" + p["Store"] + "' because it does not exist.", 1
		}
		store[Thumbprint(leaf)] = leaf
		f.keys[Thumbprint(leaf)] = true
		for _, ca := range cas {
			store[Thumbprint(ca)] = ca
		}
		prev, ok := binding()
		if !ok {
			return "", noBinding, 1
		}
		f.bindings[p["Site"]][p["BindingInfo"]], f.bStores[p["Site"]][p["BindingInfo"]] = Thumbprint(leaf), p["Store"]
		return "certctl-previous-thumbprint=" + prev + "\r\ncertctl-thumbprint=" + Thumbprint(leaf) + "\r\n", "", 0
	case "rollback":
		if f.stores[p["Store"]][p["Thumbprint"]] == nil {
			return "", "certctl: Cannot find path 'Cert:\\LocalMachine\\" + p["Store"] + "\\" + p["Thumbprint"] + "' because it does not exist.", 1
		}
		if _, ok := binding(); !ok {
			return "", noBinding, 1
		}
		f.bindings[p["Site"]][p["BindingInfo"]], f.bStores[p["Site"]][p["BindingInfo"]] = p["Thumbprint"], p["Store"]
		return "certctl-thumbprint=" + p["Thumbprint"] + "\r\n", "", 0
	}
	f.violate("unknown script kind %q", kind)
	return "", "unknown", 1
}
