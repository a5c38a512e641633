package iis

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/certctl/certctl/connectors/target"
)

// WS-Management and WinRS identifiers (MS-WSMV 3.1.4).
const (
	nsSOAP    = "http://www.w3.org/2003/05/soap-envelope"
	nsAddr    = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsWSMan   = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsMSWSMan = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
	nsShell   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"

	// ResourceShell is the ResourceURI of the cmd shell.
	ResourceShell = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"

	ActionCreate  = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
	ActionDelete  = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
	ActionCommand = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
	ActionReceive = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
	ActionSignal  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"

	SignalTerminate = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
	StateDone       = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"

	// ContentType is what a WinRM listener accepts.
	ContentType = "application/soap+xml;charset=UTF-8"

	anonymous = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
	// wsmanTimedOut is the WSManFault code of a Receive that saw no
	// output within its OperationTimeout: ask again.
	wsmanTimedOut = "2150858793"
)

// maxOutput bounds what one command may print before it is cut off.
const maxOutput = 1 << 20

// ExitError is a remote command that exited non-zero; Stderr is what it
// printed there, trimmed.
type ExitError struct {
	Code   int
	Stderr string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("exit status %d", e.Code)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// Is makes an *ExitError match target.ErrCommand.
func (e *ExitError) Is(t error) bool { return t == target.ErrCommand }

// FaultError is a SOAP fault or an HTTP error from the WinRM listener.
type FaultError struct {
	Action string
	Status int
	Code   string // WSManFault code, if any
	Reason string
}

func (e *FaultError) Error() string {
	a := e.Action[strings.LastIndex(e.Action, "/")+1:]
	msg := fmt.Sprintf("iis: WinRM %s: HTTP %d", a, e.Status)
	if e.Status == http.StatusUnauthorized {
		msg += ": Basic authentication refused: check winrm_username and winrm_password, and that the listener allows Basic (winrm set winrm/config/service/auth @{Basic=\"true\"})"
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// wsman is a WinRM client for one endpoint with Basic credentials.
type wsman struct {
	endpoint string
	user     string
	password string
	http     *http.Client
	// opTimeout is the OperationTimeout asked of the host for each request.
	opTimeout time.Duration
}

func messageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("uuid:%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// envelope builds one request. shellID is "" for Create; options are
// w:Option name → value.
func (c *wsman) envelope(action, shellID string, options [][2]string, body string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	b.WriteString(`<s:Envelope xmlns:s="` + nsSOAP + `" xmlns:a="` + nsAddr + `" xmlns:w="` + nsWSMan + `" xmlns:p="` + nsMSWSMan + `" xmlns:rsp="` + nsShell + `">`)
	b.WriteString(`<s:Header>`)
	b.WriteString(`<a:To>` + xmlText(c.endpoint) + `</a:To>`)
	b.WriteString(`<a:ReplyTo><a:Address s:mustUnderstand="true">` + anonymous + `</a:Address></a:ReplyTo>`)
	b.WriteString(`<w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize>`)
	b.WriteString(`<a:MessageID>` + messageID() + `</a:MessageID>`)
	b.WriteString(`<w:Locale xml:lang="en-US" s:mustUnderstand="false"/><p:DataLocale xml:lang="en-US" s:mustUnderstand="false"/>`)
	fmt.Fprintf(&b, `<w:OperationTimeout>PT%dS</w:OperationTimeout>`, int(c.opTimeout/time.Second))
	b.WriteString(`<w:ResourceURI s:mustUnderstand="true">` + ResourceShell + `</w:ResourceURI>`)
	b.WriteString(`<a:Action s:mustUnderstand="true">` + action + `</a:Action>`)
	if shellID != "" {
		b.WriteString(`<w:SelectorSet><w:Selector Name="ShellId">` + xmlText(shellID) + `</w:Selector></w:SelectorSet>`)
	}
	if len(options) > 0 {
		b.WriteString(`<w:OptionSet>`)
		for _, o := range options {
			b.WriteString(`<w:Option Name="` + o[0] + `">` + o[1] + `</w:Option>`)
		}
		b.WriteString(`</w:OptionSet>`)
	}
	b.WriteString(`</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`)
	return []byte(b.String())
}

// post sends one envelope and decodes the answer's body into out.
func (c *wsman) post(ctx context.Context, action string, env []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(env))
	if err != nil {
		return fmt.Errorf("iis: WinRM request: %w", err)
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "certctl-iis")
	req.SetBasicAuth(c.user, c.password)
	resp, err := c.http.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("iis: WinRM %s: %w", action[strings.LastIndex(action, "/")+1:], err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("iis: WinRM answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return faultOf(action, resp.StatusCode, data)
	}
	var e struct {
		Body struct {
			Inner []byte `xml:",innerxml"`
		} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
	}
	if err := xml.Unmarshal(data, &e); err != nil {
		return fmt.Errorf("iis: WinRM %s: the answer is not a SOAP envelope: %w", action[strings.LastIndex(action, "/")+1:], err)
	}
	if out == nil {
		return nil
	}
	if err := xml.Unmarshal(e.Body.Inner, out); err != nil {
		return fmt.Errorf("iis: WinRM %s: unexpected answer: %w", action[strings.LastIndex(action, "/")+1:], err)
	}
	return nil
}

func faultOf(action string, status int, data []byte) error {
	fe := &FaultError{Action: action, Status: status}
	var f struct {
		Body struct {
			Fault struct {
				Reason string `xml:"Reason>Text"`
				Detail struct {
					WSManFault struct {
						Code    string `xml:"Code,attr"`
						Message string `xml:"Message"`
					} `xml:"WSManFault"`
				} `xml:"Detail"`
			} `xml:"Fault"`
		} `xml:"Body"`
	}
	if xml.Unmarshal(data, &f) == nil {
		fe.Code = f.Body.Fault.Detail.WSManFault.Code
		fe.Reason = strings.TrimSpace(f.Body.Fault.Reason)
		if m := strings.TrimSpace(f.Body.Fault.Detail.WSManFault.Message); m != "" && fe.Reason == "" {
			fe.Reason = m
		}
	}
	return fe
}

// shell is one remote cmd shell; close it with Close.
type shell struct {
	c  *wsman
	id string
}

func (c *wsman) openShell(ctx context.Context) (*shell, error) {
	body := `<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`
	opts := [][2]string{{"WINRS_NOPROFILE", "TRUE"}, {"WINRS_CODEPAGE", "65001"}}
	// The answer's body is rsp:Shell (holding rsp:ShellId) or, from older
	// hosts, x:ResourceCreated (holding the ShellId selector): read both.
	var out struct {
		ShellID   string `xml:"ShellId"`
		Selectors []struct {
			Name  string `xml:"Name,attr"`
			Value string `xml:",chardata"`
		} `xml:"ReferenceParameters>SelectorSet>Selector"`
	}
	if err := c.post(ctx, ActionCreate, c.envelope(ActionCreate, "", opts, body), &out); err != nil {
		return nil, err
	}
	id := out.ShellID
	for _, s := range out.Selectors {
		if s.Name == "ShellId" {
			id = s.Value
		}
	}
	id = strings.TrimSpace(id)
	if id == "" {
		return nil, errors.New("iis: WinRM Create answered without a ShellId")
	}
	return &shell{c: c, id: id}, nil
}

// Close deletes the shell on the host.
func (s *shell) Close(ctx context.Context) error {
	return s.c.post(ctx, ActionDelete, s.c.envelope(ActionDelete, s.id, nil, ""), nil)
}

// run starts command with args, reads its output until it is done and
// terminates it. A non-zero exit is an *ExitError carrying stderr.
func (s *shell) run(ctx context.Context, command string, args ...string) (stdout, stderr []byte, err error) {
	var b strings.Builder
	b.WriteString(`<rsp:CommandLine><rsp:Command>` + xmlText(command) + `</rsp:Command>`)
	for _, a := range args {
		b.WriteString(`<rsp:Arguments>` + xmlText(a) + `</rsp:Arguments>`)
	}
	b.WriteString(`</rsp:CommandLine>`)
	opts := [][2]string{{"WINRS_CONSOLEMODE_STDIN", "TRUE"}, {"WINRS_SKIP_CMD_SHELL", "FALSE"}}
	var started struct {
		CommandID string `xml:"CommandId"`
	}
	if err := s.c.post(ctx, ActionCommand, s.c.envelope(ActionCommand, s.id, opts, b.String()), &started); err != nil {
		return nil, nil, err
	}
	id := strings.TrimSpace(started.CommandID)
	if id == "" {
		return nil, nil, errors.New("iis: WinRM Command answered without a CommandId")
	}
	defer func() {
		// Terminating a finished command frees it on the host; its failure
		// changes nothing for the caller.
		sig := `<rsp:Signal CommandId="` + xmlText(id) + `"><rsp:Code>` + SignalTerminate + `</rsp:Code></rsp:Signal>`
		_ = s.c.post(context.WithoutCancel(ctx), ActionSignal, s.c.envelope(ActionSignal, s.id, nil, sig), nil)
	}()

	var out, errOut bytes.Buffer
	// Each Receive waits up to the operation timeout on the host; ctx
	// bounds the whole command, and the count bounds a host that answers
	// at once without progress.
	for i := 0; i < 10000; i++ {
		recv := `<rsp:Receive><rsp:DesiredStream CommandId="` + xmlText(id) + `">stdout stderr</rsp:DesiredStream></rsp:Receive>`
		var r struct {
			Streams []struct {
				Name      string `xml:"Name,attr"`
				CommandID string `xml:"CommandId,attr"`
				Data      string `xml:",chardata"`
			} `xml:"Stream"`
			State struct {
				CommandID string `xml:"CommandId,attr"`
				State     string `xml:"State,attr"`
				ExitCode  *int   `xml:"ExitCode"`
			} `xml:"CommandState"`
		}
		err := s.c.post(ctx, ActionReceive, s.c.envelope(ActionReceive, s.id, [][2]string{{"WSMAN_CMDSHELL_OPTION_KEEPALIVE", "TRUE"}}, recv), &r)
		var fe *FaultError
		if errors.As(err, &fe) && fe.Code == wsmanTimedOut {
			continue
		}
		if err != nil {
			return out.Bytes(), errOut.Bytes(), err
		}
		for _, st := range r.Streams {
			if st.CommandID != "" && st.CommandID != id {
				continue
			}
			data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(st.Data))
			if err != nil {
				return out.Bytes(), errOut.Bytes(), fmt.Errorf("iis: WinRM Receive: stream %s is not base64", st.Name)
			}
			dst := &out
			if st.Name == "stderr" {
				dst = &errOut
			}
			if dst.Len()+len(data) > maxOutput {
				return out.Bytes(), errOut.Bytes(), fmt.Errorf("iis: the remote command printed more than %d bytes", maxOutput)
			}
			dst.Write(data)
		}
		if r.State.State == StateDone {
			code := 0
			if r.State.ExitCode != nil {
				code = *r.State.ExitCode
			}
			if code != 0 {
				return out.Bytes(), errOut.Bytes(), &ExitError{Code: code, Stderr: trimStderr(errOut.Bytes())}
			}
			return out.Bytes(), errOut.Bytes(), nil
		}
		if err := ctx.Err(); err != nil {
			return out.Bytes(), errOut.Bytes(), err
		}
	}
	return out.Bytes(), errOut.Bytes(), errors.New("iis: the remote command never finished")
}

// trimStderr makes PowerShell's stderr readable: errors raised outside the
// scripts' own handler arrive as CLIXML, whose error strings are kept.
func trimStderr(b []byte) string {
	s := string(b)
	if rest, ok := strings.CutPrefix(s, "#< CLIXML"); ok {
		var objs struct {
			S []struct {
				S    string `xml:"S,attr"`
				Text string `xml:",chardata"`
			} `xml:"S"`
		}
		if xml.Unmarshal([]byte(strings.TrimSpace(rest)), &objs) == nil {
			var lines []string
			for _, e := range objs.S {
				if e.S == "Error" {
					lines = append(lines, strings.TrimRight(strings.ReplaceAll(e.Text, "_x000D__x000A_", "\n"), "\n"))
				}
			}
			s = strings.Join(lines, "\n")
		}
	}
	return target.TrimOutput([]byte(strings.TrimSpace(s)))
}
