package iis

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf16"
)

// maxCommandLine is cmd.exe's limit, through which WinRS starts commands.
const maxCommandLine = 8191

// psQuote returns s as a PowerShell single-quoted literal, in which nothing
// is expanded. PowerShell also takes the typographic single quotes as
// quote marks, so each of them is doubled too.
func psQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'', '\u2018', '\u2019', '\u201a', '\u201b':
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// param is one variable a script starts with.
type param struct{ name, value string }

// script is the text of one remote step: a marker line naming it, its
// parameters as single-quoted literals, then its fixed body. Values reach
// the body only through those variables, never spliced into code.
func script(kind string, params []param, body string) string {
	var b strings.Builder
	b.WriteString("# certctl:" + kind + "\n")
	for _, p := range params {
		fmt.Fprintf(&b, "$%s = %s\n", p.name, psQuote(p.value))
	}
	b.WriteString(body)
	return b.String()
}

// encodedCommand is the argument list running s with powershell.exe:
// -EncodedCommand takes base64 of UTF-16LE, which no shell re-parses.
func encodedCommand(s string) (cmd string, args []string, err error) {
	u := utf16.Encode([]rune(s))
	raw := make([]byte, 2*len(u))
	for i, c := range u {
		raw[2*i], raw[2*i+1] = byte(c), byte(c>>8)
	}
	args = []string{"-NoProfile", "-NonInteractive", "-EncodedCommand", base64.StdEncoding.EncodeToString(raw)}
	if n := len("powershell") + len(strings.Join(args, " ")) + 1; n > maxCommandLine {
		return "", nil, fmt.Errorf("iis: a script of %d characters makes a command line of %d, over Windows' %d", len(s), n, maxCommandLine)
	}
	return "powershell", args, nil
}

// uploadChunk is how many base64 characters of the PKCS#12 one command
// carries: with the script around them, encoded as UTF-16 and base64, the
// command line stays under maxCommandLine.
const uploadChunk = 2400

const prelude = `$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$code = 0
`

// iisBinding finds the https binding through Microsoft.Web.Administration,
// which compares the site name exactly; Get-WebBinding -Name would read
// wildcards in it.
const iisBinding = `Add-Type -Path (Join-Path $env:windir 'System32\inetsrv\Microsoft.Web.Administration.dll')
$sm = New-Object Microsoft.Web.Administration.ServerManager
$s = $sm.Sites | Where-Object { $_.Name -eq $Site } | Select-Object -First 1
if (-not $s) { throw "IIS has no site '$Site'" }
$b = $s.Bindings | Where-Object { $_.Protocol -eq 'https' -and $_.BindingInformation -eq $BindingInfo } | Select-Object -First 1
if (-not $b) { throw "site '$Site' has no https binding '$BindingInfo': add it in IIS Manager first" }
$bound = if ($b.CertificateHash) { [BitConverter]::ToString($b.CertificateHash).Replace('-', '') } else { '' }
`

const epilogue = `} catch {
  [Console]::Error.WriteLine('certctl: ' + $_.Exception.Message)
  $code = 1
}
`

// uploadBody writes (Mode create) or appends a chunk of base64 text to a
// file in the WinRM user's temporary folder.
const uploadBody = prelude + `try {
  $path = Join-Path ([IO.Path]::GetTempPath()) $File
  if ($Mode -eq 'create') { [IO.File]::WriteAllText($path, $Chunk) } else { [IO.File]::AppendAllText($path, $Chunk) }
` + epilogue + `exit $code
`

// queryBody prints the binding's certificate: thumbprint, store and the
// SHA-256 of its DER, the fingerprint certctl compares.
const queryBody = prelude + `try {
` + iisBinding + `  $st = if ($b.CertificateStoreName) { $b.CertificateStoreName } else { 'My' }
  'certctl-bound-thumbprint=' + $bound
  'certctl-bound-store=' + $st
  $c = if ($bound) { Get-Item -LiteralPath ('Cert:\LocalMachine\' + $st + '\' + $bound) -ErrorAction SilentlyContinue }
  if ($c) {
    'certctl-bound-sha256=' + [BitConverter]::ToString([Security.Cryptography.SHA256]::Create().ComputeHash($c.RawData)).Replace('-', '')
  }
` + epilogue + `exit $code
`

// deployBody imports the uploaded PKCS#12 and binds its certificate; the
// temporary files go whatever happens.
const deployBody = prelude + `$tmp = Join-Path ([IO.Path]::GetTempPath()) $File
$pfx = [IO.Path]::ChangeExtension($tmp, '.pfx')
try {
  [IO.File]::WriteAllBytes($pfx, [Convert]::FromBase64String([IO.File]::ReadAllText($tmp)))
  $pw = ConvertTo-SecureString -String $Password -AsPlainText -Force
  $null = Import-PfxCertificate -FilePath $pfx -CertStoreLocation ('Cert:\LocalMachine\' + $Store) -Password $pw
  $cert = Get-Item -LiteralPath ('Cert:\LocalMachine\' + $Store + '\' + $Thumbprint)
  if (-not $cert.HasPrivateKey) { throw "certificate $Thumbprint was imported without its private key" }
` + iisBinding + `  'certctl-previous-thumbprint=' + $bound
  $b.CertificateStoreName = $Store
  $b.CertificateHash = $cert.GetCertHash()
  $sm.CommitChanges()
  'certctl-thumbprint=' + $cert.Thumbprint
` + epilogue + `finally {
  Remove-Item -LiteralPath $tmp, $pfx -Force -ErrorAction SilentlyContinue
}
exit $code
`

// rollbackBody binds a certificate already in the store again.
const rollbackBody = prelude + `try {
  $cert = Get-Item -LiteralPath ('Cert:\LocalMachine\' + $Store + '\' + $Thumbprint)
` + iisBinding + `  $b.CertificateStoreName = $Store
  $b.CertificateHash = $cert.GetCertHash()
  $sm.CommitChanges()
  'certctl-thumbprint=' + $cert.Thumbprint
` + epilogue + `exit $code
`

// cleanupBody removes the temporary files of an upload that went no
// further.
const cleanupBody = prelude + `$tmp = Join-Path ([IO.Path]::GetTempPath()) $File
Remove-Item -LiteralPath $tmp, ([IO.Path]::ChangeExtension($tmp, '.pfx')) -Force -ErrorAction SilentlyContinue
exit 0
`

// outputValue returns the value of the "key=" line of a script's stdout.
func outputValue(stdout []byte, key string) (string, bool) {
	for _, line := range strings.Split(string(stdout), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), key+"="); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}
