package f5test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target/targettest"
)

// The device as StartBIGIP makes it.
const (
	// Username and Password are the credentials the device accepts until
	// SetPassword.
	Username = "admin"
	Password = "s3cret!"
	// ProfileName is the client-ssl profile in partition Common that
	// Config names, and ProfilePath its key in State.Profiles: the
	// ~partition~name form of iControl REST paths.
	ProfileName = "clientssl-www"
	ProfilePath = "~Common~" + ProfileName
	// DefaultCert and DefaultKey are the objects ProfileName uses at first.
	DefaultCert = "/Common/default.crt"
	DefaultKey  = "/Common/default.key"
)

// Entry is one entry of a client-ssl profile's certKeyChain: the full
// names (/partition/name) of the objects it uses.
type Entry struct {
	Name  string `json:"name"`
	Cert  string `json:"cert,omitempty"`
	Key   string `json:"key,omitempty"`
	Chain string `json:"chain,omitempty"`
}

// BIGIP is a running fake BIG-IP. Its methods are safe for concurrent use
// with the requests it serves.
type BIGIP struct {
	// Addr is the management interface, 127.0.0.1:port; Host and Port are
	// its parts, as a target config names them.
	Addr string
	Host string
	Port int
	// CAPEM is the management interface's certificate in PEM, which a
	// client must trust; CAFile holds it.
	CAPEM  string
	CAFile string

	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex
	pass       string
	tokens     map[string]bool
	nextTok    int
	uploads    map[string]*upload
	keys       map[string]string // full name → PEM
	certs      map[string]string
	profiles   map[string][]Entry // "~Partition~name" → certKeyChain
	txs        map[string]*transaction
	nextTx     int
	saves      int
	removed    []string
	requests   int
	violations []string

	// refuseCommit, when set, is the device's message refusing every
	// transaction commit.
	refuseCommit string
	// refuseSave, when set, fails the save of the configuration.
	refuseSave string
}

type upload struct {
	data  []byte
	total int
}

type transaction struct {
	state    string
	profiles map[string][]Entry
}

const downloads = "/var/config/rest/downloads/"

// StartBIGIP starts a device on 127.0.0.1 whose profile ProfileName (in
// Common) uses DefaultCert and DefaultKey, and stops it when the test
// ends. Every protocol violation it sees fails t.
func StartBIGIP(t testing.TB) *BIGIP {
	t.Helper()
	f := &BIGIP{t: t, pass: Password, tokens: map[string]bool{}, uploads: map[string]*upload{},
		keys: map[string]string{}, certs: map[string]string{}, profiles: map[string][]Entry{}, txs: map[string]*transaction{}}
	old := targettest.Issue(t, "old.example.com", 7)
	f.keys[DefaultKey] = old.KeyPEM
	f.certs[DefaultCert] = old.CertPEM
	f.profiles[ProfilePath] = []Entry{{Name: "default", Cert: DefaultCert, Key: DefaultKey}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.Addr = f.srv.Listener.Addr().String()
	f.Host = "127.0.0.1"
	f.Port = f.srv.Listener.Addr().(*net.TCPAddr).Port
	f.CAPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}))
	f.CAFile = filepath.Join(t.TempDir(), "bigip-ca.pem")
	require.NoError(t, os.WriteFile(f.CAFile, []byte(f.CAPEM), 0o600))
	return f
}

// Config is a target config for this device (host, port, credentials,
// ProfileName, ca_file), with extra appended inside the object: "" or
// fields each starting with a comma.
func (f *BIGIP) Config(extra string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"host":%q,"port":%d,"username":%q,"password":%q,"ssl_profile":%q,"ca_file":%q%s}`,
		f.Host, f.Port, Username, Password, ProfileName, f.CAFile, extra))
}

// SetPassword makes the device accept password, and no longer the one
// Config names.
func (f *BIGIP) SetPassword(password string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pass = password
}

// RefuseCommit makes the device refuse every transaction commit with msg,
// its own message, changing nothing; "" accepts them again.
func (f *BIGIP) RefuseCommit(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuseCommit = msg
}

// RefuseSave makes the device refuse to save its configuration with msg;
// "" accepts again.
func (f *BIGIP) RefuseSave(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuseSave = msg
}

// AddDualProfile adds client-ssl profile "dual" (State.Profiles key
// "~Common~dual"), which serves an RSA certificate (entry "rsa") and,
// with DefaultCert, an ECDSA one (entry "ecdsa") side by side.
func (f *BIGIP) AddDualProfile(t testing.TB) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(5), Subject: pkix.Name{CommonName: "rsa.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys["/Common/rsa.key"] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	f.certs["/Common/rsa.crt"] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	f.profiles["~Common~dual"] = []Entry{
		{Name: "rsa", Cert: "/Common/rsa.crt", Key: "/Common/rsa.key"},
		{Name: "ecdsa", Cert: DefaultCert, Key: DefaultKey},
	}
}

// Profile returns the certKeyChain of profile path ("~Partition~name").
func (f *BIGIP) Profile(path string) []Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.profiles[path])
}

// ProfileCertificate returns the certificate of the first entry of
// profile path ("~Partition~name"), failing the test if there is none.
func (f *BIGIP) ProfileCertificate(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	f.mu.Lock()
	chain := f.profiles[path]
	var certPEM string
	if len(chain) > 0 {
		certPEM = f.certs[chain[0].Cert]
	}
	f.mu.Unlock()
	require.NotEmpty(t, chain, "profile %s has no certKeyChain", path)
	b, _ := pem.Decode([]byte(certPEM))
	require.NotNil(t, b, "profile %s names certificate %s, which is not installed", path, chain[0].Cert)
	c, err := x509.ParseCertificate(b.Bytes)
	require.NoError(t, err)
	return c
}

// State is a copy of the device's state at one moment.
type State struct {
	// Keys and Certs are the installed objects: full name → PEM.
	Keys, Certs map[string]string
	// Profiles are the client-ssl profiles' certKeyChains by
	// "~Partition~name".
	Profiles map[string][]Entry
	// Uploads are the files left in the REST downloads folder, Removed
	// those removed with util/unix-rm, in order.
	Uploads, Removed []string
	// Tokens are those handed out and not deleted yet.
	Tokens []string
	// Saves counts saves of the configuration, Requests every request
	// served.
	Saves, Requests int
}

// State returns a copy of the device's state.
func (f *BIGIP) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := State{Keys: maps.Clone(f.keys), Certs: maps.Clone(f.certs), Profiles: map[string][]Entry{},
		Uploads: slices.Sorted(maps.Keys(f.uploads)), Removed: slices.Clone(f.removed), Tokens: slices.Sorted(maps.Keys(f.tokens)),
		Saves: f.saves, Requests: f.requests}
	for k, v := range f.profiles {
		s.Profiles[k] = slices.Clone(v)
	}
	return s
}

// Violations returns the protocol violations seen so far, each of which
// has already failed the test.
func (f *BIGIP) Violations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.violations)
}

// fail records a violation, fails the test and answers 400. Callers hold
// f.mu.
func (f *BIGIP) fail(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.violations = append(f.violations, msg)
	f.t.Errorf("fake BIG-IP: %s", msg)
	device(w, http.StatusBadRequest, msg)
}

func device(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": status, "message": msg, "errorStack": []string{}})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

var (
	cryptoObject = regexp.MustCompile(`^/mgmt/tm/sys/crypto/(key|cert)/~([^~/]+)~([^~/]+)$`)
	profilePath  = regexp.MustCompile(`^/mgmt/tm/ltm/profile/client-ssl/(~[^~/]+~[^~/]+)$`)
	txPath       = regexp.MustCompile(`^/mgmt/tm/transaction/([0-9]+)$`)
	contentRange = regexp.MustCompile(`^([0-9]+)-([0-9]+)/([0-9]+)$`)
)

func (f *BIGIP) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	p := r.URL.Path
	if r.Header.Get("Authorization") != "" {
		f.fail(w, "%s %s: sent an Authorization header; only the token from the login is allowed", r.Method, p)
		return
	}
	if r.Method == http.MethodPost && p == "/mgmt/shared/authn/login" {
		var in map[string]string
		if !f.decode(w, r, &in) {
			return
		}
		if in["loginProviderName"] != "tmos" {
			f.fail(w, "login: loginProviderName %q, want tmos", in["loginProviderName"])
			return
		}
		if in["username"] != Username || in["password"] != f.pass {
			device(w, http.StatusUnauthorized, "Authentication failed.")
			return
		}
		f.nextTok++
		tok := fmt.Sprintf("TOKEN%04d", f.nextTok)
		f.tokens[tok] = true
		reply(w, map[string]any{"username": Username, "token": map[string]any{"token": tok, "timeout": 1200}})
		return
	}
	if tok := r.Header.Get("X-F5-Auth-Token"); !f.tokens[tok] {
		f.fail(w, "%s %s: missing or unknown X-F5-Auth-Token %q", r.Method, p, tok)
		return
	}
	coord := r.Header.Get("X-F5-REST-Coordination-Id")
	if coord != "" && !(r.Method == http.MethodPatch && profilePath.MatchString(p)) {
		f.fail(w, "%s %s: carries X-F5-REST-Coordination-Id, only the profile change belongs in the transaction", r.Method, p)
		return
	}
	switch {
	case r.Method == http.MethodDelete && strings.HasPrefix(p, "/mgmt/shared/authz/tokens/"):
		tok := strings.TrimPrefix(p, "/mgmt/shared/authz/tokens/")
		if !f.tokens[tok] {
			f.fail(w, "DELETE of unknown token %q", tok)
			return
		}
		delete(f.tokens, tok)
		reply(w, map[string]any{"token": tok})
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/mgmt/shared/file-transfer/uploads/"):
		f.upload(w, r, strings.TrimPrefix(p, "/mgmt/shared/file-transfer/uploads/"))
	case r.Method == http.MethodGet && cryptoObject.MatchString(p):
		m := cryptoObject.FindStringSubmatch(p)
		store := f.certs
		if m[1] == "key" {
			store = f.keys
		}
		if _, ok := store["/"+m[2]+"/"+m[3]]; !ok {
			device(w, http.StatusNotFound, fmt.Sprintf("01020036:3: The requested %s (/%s/%s) was not found.", m[1], m[2], m[3]))
			return
		}
		obj := map[string]any{"kind": "tm:sys:crypto:" + m[1] + ":" + m[1] + "state", "name": m[3], "partition": m[2]}
		if m[1] == "key" {
			k, _ := parsePEMKey([]byte(f.keys["/"+m[2]+"/"+m[3]]))
			switch k.(type) {
			case *rsa.PrivateKey:
				obj["keyType"] = "rsa-private"
			case *ecdsa.PrivateKey:
				obj["keyType"] = "ec-private"
			}
		}
		reply(w, obj)
	case r.Method == http.MethodPost && (p == "/mgmt/tm/sys/crypto/key" || p == "/mgmt/tm/sys/crypto/cert"):
		f.install(w, r, strings.TrimPrefix(p, "/mgmt/tm/sys/crypto/"))
	case r.Method == http.MethodGet && profilePath.MatchString(p):
		name := profilePath.FindStringSubmatch(p)[1]
		chain, ok := f.profiles[name]
		if !ok {
			device(w, http.StatusNotFound, "01020036:3: The requested profile ("+name+") was not found.")
			return
		}
		reply(w, map[string]any{"kind": "tm:ltm:profile:client-ssl:client-sslstate", "fullPath": strings.ReplaceAll(name, "~", "/"), "certKeyChain": withReferences(chain)})
	case r.Method == http.MethodPatch && profilePath.MatchString(p):
		f.patchProfile(w, r, profilePath.FindStringSubmatch(p)[1], coord)
	case r.Method == http.MethodPost && p == "/mgmt/tm/transaction":
		var in map[string]any
		if !f.decode(w, r, &in) {
			return
		}
		f.nextTx++
		id := strconv.Itoa(1700000000 + f.nextTx)
		f.txs[id] = &transaction{state: "STARTED", profiles: map[string][]Entry{}}
		reply(w, map[string]any{"transId": json.Number(id), "state": "STARTED", "timeoutSeconds": 120, "kind": "tm:transactionstate"})
	case r.Method == http.MethodPatch && txPath.MatchString(p):
		f.commit(w, r, txPath.FindStringSubmatch(p)[1])
	case r.Method == http.MethodPost && p == "/mgmt/tm/util/unix-rm":
		var in map[string]string
		if !f.decode(w, r, &in) {
			return
		}
		name, ok := strings.CutPrefix(in["utilCmdArgs"], downloads)
		if in["command"] != "run" || !ok || f.uploads[name] == nil {
			f.fail(w, "unix-rm %v: only removes a file this client uploaded", in)
			return
		}
		delete(f.uploads, name)
		f.removed = append(f.removed, name)
		reply(w, map[string]any{"kind": "tm:util:unix-rm:runstate", "command": "run", "utilCmdArgs": in["utilCmdArgs"]})
	case r.Method == http.MethodPost && p == "/mgmt/tm/sys/config":
		var in map[string]string
		if !f.decode(w, r, &in) {
			return
		}
		if in["command"] != "save" {
			f.fail(w, "sys config: command %q, want save", in["command"])
			return
		}
		if f.refuseSave != "" {
			device(w, http.StatusBadRequest, f.refuseSave)
			return
		}
		f.saves++
		reply(w, map[string]any{"kind": "tm:sys:config:savestate", "command": "save"})
	default:
		f.fail(w, "unexpected %s %s", r.Method, p)
	}
}

func (f *BIGIP) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.fail(w, "%s %s: Content-Type %q, want application/json", r.Method, r.URL.Path, ct)
		return false
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		f.fail(w, "%s %s: body: %v", r.Method, r.URL.Path, err)
		return false
	}
	return true
}

func withReferences(chain []Entry) []map[string]any {
	out := []map[string]any{}
	for _, e := range chain {
		m := map[string]any{"name": e.Name, "cert": e.Cert, "key": e.Key,
			"certReference": map[string]string{"link": "https://localhost/mgmt/tm/sys/file/ssl-cert/" + strings.ReplaceAll(e.Cert, "/", "~")},
			"keyReference":  map[string]string{"link": "https://localhost/mgmt/tm/sys/file/ssl-key/" + strings.ReplaceAll(e.Key, "/", "~")}}
		if e.Chain != "" {
			m["chain"] = e.Chain
		}
		out = append(out, m)
	}
	return out
}

func (f *BIGIP) upload(w http.ResponseWriter, r *http.Request, name string) {
	if ct := r.Header.Get("Content-Type"); ct != "application/octet-stream" {
		f.fail(w, "upload %s: Content-Type %q, want application/octet-stream", name, ct)
		return
	}
	m := contentRange.FindStringSubmatch(r.Header.Get("Content-Range"))
	if m == nil {
		f.fail(w, "upload %s: Content-Range %q, want start-end/size", name, r.Header.Get("Content-Range"))
		return
	}
	start, _ := strconv.Atoi(m[1])
	end, _ := strconv.Atoi(m[2])
	total, _ := strconv.Atoi(m[3])
	body, _ := io.ReadAll(io.LimitReader(r.Body, 2<<20))
	switch {
	case len(body) > 1<<20:
		f.fail(w, "upload %s: a chunk of %d bytes, over the worker's 1 MiB", name, len(body))
		return
	case end < start || end >= total || len(body) != end-start+1:
		f.fail(w, "upload %s: Content-Range %s does not match a body of %d bytes", name, r.Header.Get("Content-Range"), len(body))
		return
	}
	u := f.uploads[name]
	if start == 0 {
		u = &upload{total: total}
		f.uploads[name] = u
	}
	if u == nil || u.total != total || len(u.data) != start {
		f.fail(w, "upload %s: chunk at %d does not continue the upload", name, start)
		return
	}
	u.data = append(u.data, body...)
	reply(w, map[string]any{"remainingByteCount": total - len(u.data), "usedChunks": map[string]int{}, "totalByteCount": total, "localFilePath": downloads + name})
}

func (f *BIGIP) install(w http.ResponseWriter, r *http.Request, kind string) {
	var in map[string]string
	if !f.decode(w, r, &in) {
		return
	}
	name, from := in["name"], in["from-local-file"]
	file, ok := strings.CutPrefix(from, downloads)
	u := f.uploads[file]
	switch {
	case in["command"] != "install":
		f.fail(w, "install %s: command %q", kind, in["command"])
		return
	case !strings.HasPrefix(name, "/") || strings.Count(name, "/") != 2:
		f.fail(w, "install %s: name %q is not /partition/name", kind, name)
		return
	case !ok || u == nil:
		f.fail(w, "install %s %s from %s: that file was never uploaded", kind, name, from)
		return
	case len(u.data) != u.total:
		f.fail(w, "install %s %s from %s: the upload is incomplete", kind, name, from)
		return
	}
	store := f.certs
	if kind == "key" {
		store = f.keys
		if _, err := parsePEMKey(u.data); err != nil {
			device(w, http.StatusBadRequest, "01070712:3: Values (/"+name+") specified for ssl key: "+err.Error())
			return
		}
	} else if b, _ := pem.Decode(u.data); b == nil || b.Type != "CERTIFICATE" {
		device(w, http.StatusBadRequest, "01070712:3: Values specified for certificate are invalid")
		return
	}
	if _, exists := store[name]; exists {
		f.fail(w, "install %s %s: already exists; the client should have checked", kind, name)
		return
	}
	store[name] = string(u.data)
	reply(w, map[string]any{"kind": "tm:sys:crypto:" + kind + ":" + kind + "state", "command": "install", "name": name})
}

func (f *BIGIP) patchProfile(w http.ResponseWriter, r *http.Request, name, coord string) {
	if _, ok := f.profiles[name]; !ok {
		f.fail(w, "PATCH of unknown profile %s", name)
		return
	}
	tx := f.txs[coord]
	if coord == "" || tx == nil || tx.state != "STARTED" {
		f.fail(w, "PATCH %s outside an open transaction (X-F5-REST-Coordination-Id %q)", name, coord)
		return
	}
	var in struct {
		CertKeyChain []Entry `json:"certKeyChain"`
	}
	if !f.decode(w, r, &in) {
		return
	}
	for _, e := range in.CertKeyChain {
		_, certOK := f.certs[e.Cert]
		_, keyOK := f.keys[e.Key]
		_, chainOK := f.certs[e.Chain]
		if e.Name == "" || !certOK || !keyOK || (e.Chain != "" && !chainOK) {
			f.fail(w, "PATCH %s: certKeyChain entry %+v references objects never installed", name, e)
			return
		}
	}
	tx.profiles[name] = in.CertKeyChain
	reply(w, map[string]any{"method": "PATCH", "uri": "https://localhost/mgmt/tm/ltm/profile/client-ssl/" + name, "evalOrder": len(tx.profiles), "commandId": len(tx.profiles)})
}

func (f *BIGIP) commit(w http.ResponseWriter, r *http.Request, id string) {
	var in map[string]any
	if !f.decode(w, r, &in) {
		return
	}
	tx := f.txs[id]
	switch {
	case tx == nil:
		f.fail(w, "commit of unknown transaction %s", id)
		return
	case tx.state != "STARTED":
		f.fail(w, "transaction %s committed twice (state %s)", id, tx.state)
		return
	case in["state"] != "VALIDATING" || len(in) != 1:
		f.fail(w, "commit %s: body %v, want {\"state\":\"VALIDATING\"}", id, in)
		return
	case len(tx.profiles) == 0:
		f.fail(w, "commit %s: an empty transaction", id)
		return
	}
	if f.refuseCommit != "" {
		tx.state = "FAILED"
		device(w, http.StatusBadRequest, f.refuseCommit)
		return
	}
	for name, chain := range tx.profiles {
		for _, e := range chain {
			if !pairs(f.certs[e.Cert], f.keys[e.Key]) {
				tx.state = "FAILED"
				f.fail(w, "transaction %s: profile %s pairs cert %s with key %s that does not match", id, name, e.Cert, e.Key)
				return
			}
		}
	}
	for name, chain := range tx.profiles {
		f.profiles[name] = chain
	}
	tx.state = "COMPLETED"
	reply(w, map[string]any{"transId": json.Number(id), "state": "COMPLETED", "kind": "tm:transactionstate"})
}

func parsePEMKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	return k.(crypto.Signer), nil
}

func pairs(certPEM, keyPEM string) bool {
	b, _ := pem.Decode([]byte(certPEM))
	if b == nil {
		return false
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return false
	}
	k, err := parsePEMKey([]byte(keyPEM))
	if err != nil {
		return false
	}
	return k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(c.PublicKey)
}
