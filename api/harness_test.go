package api_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

// env is one single-node cluster with the API in front of it, served on
// 127.0.0.1. On a server with Dev off, admin holds the secret of an admin key
// made by proposing fsm.CreateAPIKey straight through the node.
type env struct {
	url   string
	node  *node.Node
	api   *api.Server
	admin string
	seq   atomic.Int64
	// client trusts the cluster CA (HTTPS unless Dev); nodeClient presents
	// the node's own certificate, as another node of the cluster would.
	client     *http.Client
	nodeClient *http.Client
}

// asNode, given as the key of a request, sends it with the node's
// certificate instead of an API key.
const asNode = "<node certificate>"

// envOption adjusts the node's config before it starts.
type envOption func(*node.Config)

// noQuorum starts the node from the data dir of one member of a stopped
// three-node cluster, so it never knows a leader: every proposal ends with
// node.ErrNoLeader after a short wait.
func noQuorum(t testing.TB) envOption {
	c := nodetest.NewCluster(t, 3)
	m := c.Members[0]
	c.Close()
	return func(cfg *node.Config) {
		cfg.NodeID, cfg.DataDir, cfg.RaftAddr = m.Config.NodeID, m.Config.DataDir, m.Config.RaftAddr
		cfg.Bootstrap = false
		cfg.LeaderWait = 200 * time.Millisecond
	}
}

// newEnv starts a node and the API configured by cfg. It waits for the node
// to be ready (and to have recorded its cluster id and membership, so that no
// write of the node's own arrives later) unless an option turns bootstrap off.
func newEnv(t testing.TB, cfg api.Config, opts ...envOption) *env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ncfg := nodetest.Config(t, "n1")
	ncfg.Bootstrap = true
	ncfg.APIAddr = ln.Addr().String()
	for _, o := range opts {
		o(&ncfg)
	}
	n, err := node.New(ncfg)
	require.NoError(t, err)
	if cfg.Logger == nil {
		cfg.Logger = ncfg.Logger
	}
	a := api.New(cfg, n.FSM(), n)
	t.Cleanup(a.Close)
	srv := httptest.NewUnstartedServer(a.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	if cfg.Dev {
		srv.Start()
	} else {
		srv.TLS = n.ServerTLSConfig(nil)
		srv.StartTLS()
	}
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.WaitTimeout)
	defer cancel()
	require.NoError(t, n.Open(ctx))
	t.Cleanup(func() { _ = n.Close() })
	e := &env{url: srv.URL, node: n, api: a, client: http.DefaultClient}
	if !cfg.Dev {
		e.client = nodetest.HTTPClient(t, ncfg.DataDir, false)
		e.nodeClient = nodetest.HTTPClient(t, ncfg.DataDir, true)
	}
	if !ncfg.Bootstrap {
		return e
	}
	nodetest.WaitFor(t, "ready", n.Ready)
	// The node's own first writes (cluster id, membership, its CA and its
	// certificate) land before the test looks at the state.
	nodetest.WaitFor(t, "cluster id, membership, CA and node certificate", func() bool {
		id, _ := n.FSM().ClusterID()
		members, _ := n.FSM().Members()
		_, caErr := n.FSM().ClusterCA()
		return id != "" && len(members) == 1 && caErr == nil && len(members[0].CertSerials) > 0 && members[0].APIAddr != ""
	})
	if !cfg.Dev {
		e.admin = e.bootstrapKey(t, "bootstrap-admin", fsm.RoleAdmin, "")
	}
	return e
}

// bootstrapKey creates a key by proposing fsm.CreateAPIKey directly and
// returns its secret.
func (e *env) bootstrapKey(t testing.TB, name, role, agentID string) string {
	t.Helper()
	secret := api.NewKeySecret()
	e.propose(t, &fsm.CreateAPIKey{Key: fsm.APIKey{ID: e.id("key-"), Name: name, Role: role, AgentID: agentID,
		Hash: api.HashKey(secret), Prefix: api.KeyPrefix(secret)}})
	return secret
}

// id returns prefix and a number unique within the env.
func (e *env) id(prefix string) string { return fmt.Sprintf("%s%d", prefix, e.seq.Add(1)) }

// propose writes p through the node as the system would, failing the test on
// any error.
func (e *env) propose(t testing.TB, p fsm.Payload) {
	t.Helper()
	require.NoError(t, e.tryPropose(p))
}

func (e *env) tryPropose(p fsm.Payload) error {
	cmd, err := fsm.NewCommand(fsm.Meta{RequestID: api.NewID("req-"), Time: time.Now().UTC(), Actor: "test", ActorType: fsm.ActorSystem}, p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.WaitTimeout)
	defer cancel()
	_, err = e.node.Propose(ctx, cmd)
	return err
}

// req is one request: key is the bearer secret ("" sends none).
type req struct {
	method string
	path   string
	key    string
	body   any               // nil, string, []byte, io.Reader (sent chunked) or a value to marshal
	header map[string]string // extra headers
}

// call sends r to the env's server. Every answer must carry an X-Request-ID.
func (e *env) call(t testing.TB, r req) answer {
	t.Helper()
	var rd io.Reader
	switch b := r.body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	case io.Reader:
		rd = b
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	hr, err := http.NewRequest(r.method, e.url+r.path, rd)
	require.NoError(t, err)
	if rd != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	client := e.client
	switch r.key {
	case "":
	case asNode:
		client = e.nodeClient
	default:
		hr.Header.Set("Authorization", "Bearer "+r.key)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := client.Do(hr)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	assert.NotEmpty(t, resp.Header.Get("X-Request-ID"), "%s %s: every answer carries X-Request-ID", r.method, r.path)
	return a
}

// as is call with a key and no extra headers.
func (e *env) as(t testing.TB, key, method, path string, body any) answer {
	t.Helper()
	return e.call(t, req{method: method, path: path, key: key, body: body})
}

// must sends a request as admin and requires status.
func (e *env) must(t testing.TB, status int, method, path string, body any) answer {
	t.Helper()
	a := e.as(t, e.admin, method, path, body)
	require.Equal(t, status, a.status, "%s %s: %s", method, path, a.raw)
	return a
}

// requireError checks the error shape: {error: status text, message,
// request_id (the X-Request-ID), code} and, if field is set, the field.
func requireError(t testing.TB, a answer, status int, field string) {
	t.Helper()
	require.Equal(t, status, a.status, "body: %s", a.raw)
	assert.Equal(t, http.StatusText(status), a.body["error"], "error is the status text")
	assert.NotEmpty(t, a.body["message"], "a message a person can act on")
	assert.NotEmpty(t, a.body["code"], "a stable code")
	assert.Equal(t, a.header.Get("X-Request-ID"), a.body["request_id"], "request_id is the X-Request-ID")
	if field != "" {
		assert.Equal(t, field, a.body["field"], "the offending field is named; message: %v", a.body["message"])
	}
}

// str reads a string field of a JSON object answer.
func str(a answer, key string) string {
	s, _ := a.body[key].(string)
	return s
}

// refs are a team, an owner and an issuer for certificates to point at.
type refs struct{ team, owner, issuer string }

func (e *env) refs(t testing.TB, key string) refs {
	t.Helper()
	r := refs{team: e.id("t-"), owner: e.id("o-"), issuer: e.id("iss-")}
	e.mustAs(t, key, 201, "POST", "/api/v1/teams", map[string]any{"id": r.team, "name": r.team, "description": "team " + r.team})
	e.mustAs(t, key, 201, "POST", "/api/v1/owners", map[string]any{"id": r.owner, "name": r.owner, "email": r.owner + "@example.com", "team_id": r.team})
	e.mustAs(t, key, 201, "POST", "/api/v1/issuers", map[string]any{"id": r.issuer, "name": r.issuer, "type": "GenericCA",
		"config": map[string]any{"ca_common_name": "Test CA", "validity_days": 90}, "enabled": true})
	return r
}

func (e *env) mustAs(t testing.TB, key string, status int, method, path string, body any) answer {
	t.Helper()
	a := e.as(t, key, method, path, body)
	require.Equal(t, status, a.status, "%s %s: %s", method, path, a.raw)
	return a
}

// certJSON is a creatable certificate body with a fresh id, name and host.
func (e *env) certJSON(r refs, extra map[string]any) map[string]any {
	id := e.id("mc-")
	b := map[string]any{"id": id, "name": id, "common_name": id + ".example.com", "sans": []string{id + ".example.com"},
		"environment": "production", "owner_id": r.owner, "team_id": r.team, "issuer_id": r.issuer,
		"tags": map[string]string{"service": "api"}}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// cert creates a certificate as key and returns its id.
func (e *env) cert(t testing.TB, key string, r refs, extra map[string]any) string {
	t.Helper()
	return str(e.mustAs(t, key, 201, "POST", "/api/v1/certificates", e.certJSON(r, extra)), "id")
}

// agent registers an agent as key and returns its id and its key's secret.
func (e *env) agent(t testing.TB, key string) (id, secret string) {
	t.Helper()
	id = e.id("ag-")
	a := e.mustAs(t, key, 201, "POST", "/api/v1/agents", map[string]any{"id": id, "name": id, "hostname": id + ".example.net"})
	return id, str(a, "api_key")
}

// target creates an NGINX target served by agentID and returns its id.
func (e *env) target(t testing.TB, key, agentID string) string {
	t.Helper()
	id := e.id("tgt-")
	e.mustAs(t, key, 201, "POST", "/api/v1/targets", map[string]any{"id": id, "name": id, "type": "NGINX", "agent_id": agentID,
		"config": map[string]any{"cert_path": "/etc/nginx/" + id + ".crt"}, "enabled": true})
	return id
}

// issue records a version of certID: a real self-signed certificate for cn
// valid for lifetime, proposed as fsm.RecordVersion (the API has no route
// that writes versions). It returns the version.
func (e *env) issue(t testing.TB, certID, cn string, lifetime time.Duration) fsm.CertificateVersion {
	t.Helper()
	v := selfSigned(t, cn, lifetime)
	v.ID, v.CertificateID = e.id("cv-"), certID
	e.propose(t, &fsm.RecordVersion{Version: v})
	return v
}

// selfSigned makes a self-signed ECDSA certificate and a CSR for cn and
// returns them as a certificate version without ids.
func selfSigned(t testing.TB, cn string, lifetime time.Duration) fsm.CertificateVersion {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	require.NoError(t, err)
	notBefore := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: notBefore, NotAfter: notBefore.Add(lifetime),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	fp := sha256.Sum256(der)
	return fsm.CertificateVersion{
		SerialNumber: hex.EncodeToString(serial.Bytes()), NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter,
		FingerprintSHA256: hex.EncodeToString(fp[:]),
		PEMChain:          string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		CSRPEM:            csrPEM(t, cn),
	}
}

// csrPEM returns a PEM CSR for cn signed by a new P-256 key.
func csrPEM(t testing.TB, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn}}, key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// fakeIssuers answers issuer tests: err for every issuer.
type fakeIssuers struct{ err error }

func (f fakeIssuers) TestIssuer(context.Context, *fsm.Issuer) error { return f.err }

func (f fakeIssuers) SignCSR(context.Context, string, fsm.Job, fsm.Certificate, string) error {
	return f.err
}

// fakeCRL is the CRL fakeIssuers serves: an empty DER SEQUENCE.
var fakeCRL = []byte{0x30, 0x00}

func (f fakeIssuers) CRL(_ context.Context, id string) ([]byte, error) {
	if id == "iss-none" {
		return nil, &fsm.Error{Code: fsm.CodeNotFound, Resource: "issuer", ID: id, Message: "issuer not found"}
	}
	return fakeCRL, f.err
}

// fakeRootCRL and fakeCACert are what fakeIssuers serves at the root's
// CRL and the DER certificate routes.
var (
	fakeRootCRL = []byte{0x30, 0x01, 0x00}
	fakeCACert  = map[string][]byte{"intermediate": {0x30, 0x02, 0x01, 0x01}, "root": {0x30, 0x02, 0x02, 0x02}}
)

func (f fakeIssuers) RootCRL(_ context.Context, id string) ([]byte, error) {
	if id == "iss-none" {
		return nil, &fsm.Error{Code: fsm.CodeNotFound, Resource: "issuer", ID: id, Message: "issuer not found"}
	}
	return fakeRootCRL, f.err
}

func (f fakeIssuers) CACert(_ context.Context, id, which string) ([]byte, error) {
	if id == "iss-none" {
		return nil, &fsm.Error{Code: fsm.CodeNotFound, Resource: "issuer", ID: id, Message: "issuer not found"}
	}
	return fakeCACert[which], f.err
}

func (f fakeIssuers) CAChain(_ context.Context, id string) (string, error) {
	if id == "iss-none" {
		return "", &fsm.Error{Code: fsm.CodeNotFound, Resource: "issuer", ID: id, Message: "issuer not found"}
	}
	return "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n", f.err
}
