package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/target/webserver/webservertest"
)

// agentRig is a three-node cluster with a Local CA and one certctl-agent
// process registered on it, given every node (the leader first).
type agentRig struct {
	c        *Cluster
	api      *client.Client
	f        Fixtures
	leader   *Node
	issuerID string
	reg      *wire.AgentRegistration
	agent    *Agent
}

// allowLists are the allow-lists of the rig's agent (allowed_dirs,
// allowed_commands): what the host lets the cluster make it do.
type allowLists struct {
	dirs, commands []string
}

// allowServers are the allow-lists that let an agent deploy to servers as
// their target configs say: each server's ssl directory, and its validate
// and reload commands, whole; plus more command lines.
func allowServers(servers []*webservertest.Server, commands ...string) allowLists {
	var l allowLists
	for _, s := range servers {
		l.dirs = append(l.dirs, filepath.Join(s.Dir, "ssl"))
		l.commands = append(l.commands, s.Config["validate_command"], s.Config["reload_command"])
	}
	l.commands = append(l.commands, commands...)
	return l
}

func newAgentRig(t *testing.T, ctx context.Context, allow allowLists) *agentRig {
	t.Helper()
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	nodes := append([]*Node{leader}, c.Followers(leader)...)
	r := &agentRig{c: c, leader: leader, f: c.Seed(leader), api: c.APIClient(AdminKey, nodes...)}
	r.issuerID = localCA(t, ctx, r.api, leader, "iss-agent")
	var err error
	r.reg, err = r.api.RegisterAgent(ctx, "web", "web.example.com")
	require.NoError(t, err)
	r.agent = c.AddAgent(agentBin, AgentConfig{ID: r.reg.ID, APIKey: r.reg.APIKey, Servers: nodes,
		AllowedDirs: allow.dirs, AllowedCommands: allow.commands})
	c.StartAgent(r.agent)
	c.Wait("the agent's first heartbeat", func(ctx context.Context) error {
		a, err := r.api.GetAgent(ctx, r.reg.ID)
		if err != nil {
			return err
		}
		if a.LastHeartbeatAt == nil {
			return fmt.Errorf("agent %s has not beaten yet", a.ID)
		}
		return nil
	})
	// The heartbeat told the cluster about the host.
	a, err := r.api.GetAgent(ctx, r.reg.ID)
	require.NoError(t, err)
	require.Equal(t, runtime.GOOS, a.OS)
	require.Equal(t, runtime.GOARCH, a.Architecture)
	return r
}

// serve maps a new certificate (key made by the agent, of keyType) to a
// target of type typ deploying to server s.
func (r *agentRig) serve(t *testing.T, ctx context.Context, s *webservertest.Server, typ, certID, keyType string) (cn, targetID string) {
	t.Helper()
	cn = certID + ".example.com"
	cfg := map[string]string{"server_name": cn}
	for k, v := range s.Config {
		cfg[k] = v
	}
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	return cn, r.serveConfig(t, ctx, raw, typ, certID, keyType)
}

// serveConfig maps a new certificate for certID.example.com (key made by
// the agent, of keyType) to a new target of type typ with config raw, and
// returns the target's id.
func (r *agentRig) serveConfig(t *testing.T, ctx context.Context, raw json.RawMessage, typ, certID, keyType string) string {
	t.Helper()
	cn := certID + ".example.com"
	tgt, err := r.api.CreateTarget(ctx, wire.Target{ID: "tgt-" + certID, Name: "target of " + certID, Type: wire.TargetType(typ), AgentID: r.reg.ID,
		Config: raw, Enabled: true})
	require.NoError(t, err)
	_, err = r.api.CreateCertificate(ctx, wire.Certificate{ID: certID, Name: "cert " + certID, CommonName: cn, SANs: []string{cn},
		Environment: "production", OwnerID: r.f.OwnerID, TeamID: r.f.TeamID, IssuerID: r.issuerID, TargetIDs: []string{tgt.ID},
		KeyType: wire.KeyType(keyType)})
	require.NoError(t, err)
	return tgt.ID
}

// deploymentJobs returns the Deployment jobs of certificate certID.
func (r *agentRig) deploymentJobs(t *testing.T, ctx context.Context, certID string) []wire.Job {
	t.Helper()
	var out []wire.Job
	for page := 1; ; page++ {
		l, err := r.api.ListJobs(ctx, client.ListJobsOptions{Type: "Deployment", Page: page, PerPage: 500})
		require.NoError(t, err)
		for _, j := range l.Data {
			if j.CertificateID == certID {
				out = append(out, j)
			}
		}
		if page*500 >= l.Total {
			return out
		}
	}
}

// renew asks for a renewal of certID and returns the Deployment job it
// leads to, once finished (Completed or Failed).
func (r *agentRig) renew(t *testing.T, ctx context.Context, certID string, timeout time.Duration) wire.Job {
	t.Helper()
	before := map[string]bool{}
	for _, j := range r.deploymentJobs(t, ctx, certID) {
		before[j.ID] = true
	}
	require.NoError(t, r.api.RenewCertificate(ctx, certID))
	return r.waitNewDeployment(t, certID, before, timeout)
}

func (r *agentRig) waitNewDeployment(t *testing.T, certID string, before map[string]bool, timeout time.Duration) wire.Job {
	t.Helper()
	var job wire.Job
	err := r.c.WaitErr(timeout, func(ctx context.Context) error {
		for _, j := range r.deploymentJobs(t, ctx, certID) {
			if before[j.ID] {
				continue
			}
			if j.Status != "Completed" && j.Status != "Failed" {
				return fmt.Errorf("deployment job %s of %s is %s", j.ID, certID, j.Status)
			}
			job = j
			return nil
		}
		return fmt.Errorf("no new deployment job for %s yet", certID)
	})
	require.NoError(t, err, "agent log:\n%s", r.agent.LogTail(40))
	return job
}

func (r *agentRig) latestSerial(t *testing.T, ctx context.Context, certID string) string {
	t.Helper()
	return r.latestVersion(t, ctx, certID).SerialNumber
}

// latestVersion is the certificate version of certID issued last.
func (r *agentRig) latestVersion(t *testing.T, ctx context.Context, certID string) wire.CertificateVersion {
	t.Helper()
	l, err := r.api.ListCertificateVersions(ctx, certID, 1, 100)
	require.NoError(t, err)
	require.NotEmpty(t, l.Data)
	latest := l.Data[0]
	for _, v := range l.Data {
		if v.CreatedAt.After(latest.CreatedAt) {
			latest = v
		}
	}
	return latest
}

// servedSerial is the serial of the certificate endpoint presents for sni.
func servedSerial(t *testing.T, endpoint, sni string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", endpoint, &tls.Config{ServerName: sni, InsecureSkipVerify: true}) //nolint:gosec // the serial is what is checked
	require.NoError(t, err)
	defer conn.Close()
	return hex.EncodeToString(conn.ConnectionState().PeerCertificates[0].SerialNumber.Bytes())
}

// waitServed waits until endpoint presents the certificate of serial for
// sni. The agent's validation saw it served, but a reloaded server's old
// workers may still take a handshake or two while they wind down.
func (r *agentRig) waitServed(t *testing.T, endpoint, sni, serial string) {
	t.Helper()
	r.c.Wait(endpoint+" serving serial "+serial, func(context.Context) error {
		conn, err := tls.Dial("tcp", endpoint, &tls.Config{ServerName: sni, InsecureSkipVerify: true}) //nolint:gosec // the serial is what is checked
		if err != nil {
			return err
		}
		defer conn.Close()
		if got := hex.EncodeToString(conn.ConnectionState().PeerCertificates[0].SerialNumber.Bytes()); got != serial {
			return fmt.Errorf("serves serial %s", got)
		}
		return nil
	})
}

// validationOf returns the validation the agent recorded on a job.
func validationOf(t *testing.T, j wire.Job) map[string]any {
	t.Helper()
	var res struct {
		Validation map[string]any `json:"validation"`
	}
	require.NoError(t, json.Unmarshal(j.DeploymentResult, &res), "deployment_result %s", j.DeploymentResult)
	require.NotNil(t, res.Validation, "deployment_result %s", j.DeploymentResult)
	return res.Validation
}

// TestAgent_DeploysToNGINXApacheHAProxy: on a three-node cluster, one agent
// makes the key of each certificate, sends its CSR, deploys the signed
// certificate to a real nginx, Apache httpd and HAProxy, each reloads, and
// a TLS handshake sees the new serial; each job is Completed with the
// validation the agent ran. No byte of any key the agent made reaches the
// cluster: not its files, logs or answers.
func TestAgent_DeploysToNGINXApacheHAProxy(t *testing.T) {
	skipShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	boot := webservertest.NewBootstrap(t)
	type server struct {
		name, typ, keyType string
		s                  *webservertest.Server
		wantKey            any
	}
	// The servers start first: the agent's allow-lists name their
	// directories and commands.
	servers := []server{
		{"nginx", "NGINX", "", webservertest.StartNGINX(t, boot), &ecdsa.PublicKey{}},
		{"apache", "Apache", "RSA-2048", webservertest.StartApache(t, boot), &rsa.PublicKey{}},
		{"haproxy", "HAProxy", "ECDSA-P384", webservertest.StartHAProxy(t, boot), &ecdsa.PublicKey{}},
	}
	var started []*webservertest.Server
	for _, srv := range servers {
		started = append(started, srv.s)
	}
	r := newAgentRig(t, ctx, allowServers(started))
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.s
			certID := "mc-" + srv.name
			cn, _ := r.serve(t, ctx, s, srv.typ, certID, srv.keyType)
			job := r.renew(t, ctx, certID, 90*time.Second)
			require.Equal(t, "Completed", string(job.Status), "last error: %s\nagent log:\n%s", job.LastError, r.agent.LogTail(40))
			serial := r.latestSerial(t, ctx, certID)
			r.waitServed(t, s.Endpoint, cn, serial)
			v := validationOf(t, job)
			assert.Equal(t, true, v["valid"])
			assert.Equal(t, "tls", v["method"])
			assert.Equal(t, serial, v["served_serial"])
			assert.Equal(t, s.Endpoint, v["endpoint"])
			leaf := firstCert(t, mustRead(t, s.LeafFile))
			assert.IsType(t, srv.wantKey, leaf.PublicKey, "key_type honoured")
		})
	}
	assertAgentKeysNowhere(t, ctx, r)
}

// firstCert is the first certificate of a PEM file that may hold keys too
// (HAProxy's).
func firstCert(t *testing.T, raw []byte) *x509.Certificate {
	t.Helper()
	for {
		var b *pem.Block
		b, raw = pem.Decode(raw)
		require.NotNil(t, b, "no certificate in the file")
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			require.NoError(t, err)
			return c
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	return raw
}

// assertAgentKeysNowhere searches every node's files and log, and the
// cluster's answers about the certificates and jobs, for the bytes of
// every key in the agent's key directory.
func assertAgentKeysNowhere(t *testing.T, ctx context.Context, r *agentRig) {
	t.Helper()
	keyFiles, err := filepath.Glob(filepath.Join(r.agent.KeyDir, "*.key"))
	require.NoError(t, err)
	require.NotEmpty(t, keyFiles)
	var secrets [][]byte
	for _, kf := range keyFiles {
		raw := mustRead(t, kf)
		block, _ := pem.Decode(raw)
		require.NotNil(t, block, kf)
		secrets = append(secrets, raw, block.Bytes, []byte(hex.EncodeToString(block.Bytes)))
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		require.NoError(t, err)
		switch k := key.(type) {
		case *ecdsa.PrivateKey:
			d, err := k.Bytes()
			require.NoError(t, err)
			secrets = append(secrets, d)
		case *rsa.PrivateKey:
			secrets = append(secrets, k.D.Bytes(), k.Primes[0].Bytes())
		case ed25519.PrivateKey:
			secrets = append(secrets, k.Seed())
		}
	}
	searched, err := r.c.NodeFiles(true, func(p string, data []byte) {
		for _, s := range secrets {
			assert.False(t, bytes.Contains(data, s), "%s holds bytes of an agent's key", p)
		}
	})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, searched, 9, "every node's state file, raft log and log were searched")

	var answers [][]byte
	for _, path := range []string{"/api/v1/certificates?per_page=500", "/api/v1/jobs?per_page=500", "/api/v1/audit?per_page=500", "/api/v1/agents/" + r.reg.ID} {
		var raw json.RawMessage
		require.NoError(t, r.c.Client().GetJSON(ctx, r.leader.URL(), path, "", &raw))
		answers = append(answers, raw)
	}
	certs, err := r.api.ListCertificates(ctx, client.ListCertificatesOptions{PerPage: 500})
	require.NoError(t, err)
	for _, c := range certs.Data {
		var raw json.RawMessage
		require.NoError(t, r.c.Client().GetJSON(ctx, r.leader.URL(), "/api/v1/certificates/"+c.ID+"/versions?per_page=100", "", &raw))
		answers = append(answers, raw)
	}
	for _, a := range answers {
		assert.NotContains(t, string(a), "PRIVATE KEY")
		for _, s := range secrets {
			assert.False(t, bytes.Contains(a, s), "an answer of the cluster holds bytes of an agent's key")
		}
	}
}

// TestAgent_RollbackRestartFailover on nginx: a deployment nginx refuses
// is rolled back (the previous certificate stays served, the job is Failed
// with nginx's words); the agent killed in the middle of a deployment
// leaves whole files and, restarted, finishes the job; the cluster's leader
// killed while the agent polls, the agent carries on through another
// member; hostile target configs from the cluster are refused.
func TestAgent_RollbackRestartFailover(t *testing.T) {
	skipShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	s := webservertest.StartNGINX(t, webservertest.NewBootstrap(t))
	// Allowed: nginx's validate and reload, the validation nginx refuses,
	// and the slow reload that keeps a deployment under way.
	r := newAgentRig(t, ctx, allowServers([]*webservertest.Server{s}, s.BrokenValidate, "/bin/sleep 6"))
	const certID = "mc-nginx"
	cn, targetID := r.serve(t, ctx, s, "NGINX", certID, "")
	job := r.renew(t, ctx, certID, 90*time.Second)
	require.Equal(t, "Completed", string(job.Status), job.LastError)
	good := r.latestSerial(t, ctx, certID)
	r.waitServed(t, s.Endpoint, cn, good)

	setConfig := func(change map[string]string) {
		t.Helper()
		cfg := map[string]string{"server_name": cn}
		for k, v := range s.Config {
			cfg[k] = v
		}
		for k, v := range change {
			cfg[k] = v
		}
		tgt, err := r.api.GetTarget(ctx, targetID)
		require.NoError(t, err)
		tgt.Config, err = json.Marshal(cfg)
		require.NoError(t, err)
		_, err = r.api.UpdateTarget(ctx, targetID, *tgt)
		require.NoError(t, err)
	}

	t.Run("nginx refuses the config: rolled back", func(t *testing.T) {
		setConfig(map[string]string{"validate_command": s.BrokenValidate})
		job := r.renew(t, ctx, certID, 90*time.Second)
		require.Equal(t, "Failed", string(job.Status))
		assert.Contains(t, job.LastError, s.Refusal, "the job carries nginx's own words")
		assert.Equal(t, good, servedSerial(t, s.Endpoint, cn), "nginx keeps serving the previous certificate")
		onDisk := firstCert(t, mustRead(t, s.LeafFile))
		assert.Equal(t, good, hex.EncodeToString(onDisk.SerialNumber.Bytes()), "the previous files are back")
		setConfig(nil)
	})

	t.Run("agent killed mid-deployment: whole files, job finished after restart", func(t *testing.T) {
		// The reload takes long enough to kill the agent while it runs: the
		// new files are in place, nginx not yet reloaded.
		setConfig(map[string]string{"reload_command": "/bin/sleep 6"})
		before := map[string]bool{}
		for _, j := range r.deploymentJobs(t, ctx, certID) {
			before[j.ID] = true
		}
		require.NoError(t, r.api.RenewCertificate(ctx, certID))
		r.c.Wait("the new certificate written by the agent", func(context.Context) error {
			leaf := firstCert(t, mustRead(t, s.LeafFile))
			if hex.EncodeToString(leaf.SerialNumber.Bytes()) == good {
				return fmt.Errorf("still the previous certificate on disk")
			}
			return nil
		})
		require.NoError(t, r.agent.Kill())
		assertWholeMatchingFiles(t, s)
		setConfig(nil)
		r.c.StartAgent(r.agent)
		job := r.waitNewDeployment(t, certID, before, 90*time.Second)
		require.Equal(t, "Completed", string(job.Status), job.LastError)
		serial := r.latestSerial(t, ctx, certID)
		assert.NotEqual(t, good, serial)
		r.waitServed(t, s.Endpoint, cn, serial)
		assertWholeMatchingFiles(t, s)
		assert.Contains(t, r.agent.Log(), "interrupted deployment rolled back")
		good = serial
	})

	t.Run("leader killed while the agent polls", func(t *testing.T) {
		leader := r.c.WaitLeader()
		killedAt := time.Now()
		r.c.Kill(leader)
		r.c.WaitLeader(leader)
		job := r.renew(t, ctx, certID, 90*time.Second)
		require.Equal(t, "Completed", string(job.Status), job.LastError)
		serial := r.latestSerial(t, ctx, certID)
		assert.NotEqual(t, good, serial)
		r.waitServed(t, s.Endpoint, cn, serial)
		r.c.Wait("a heartbeat after the kill", func(ctx context.Context) error {
			a, err := r.api.GetAgent(ctx, r.reg.ID)
			if err != nil {
				return err
			}
			if a.LastHeartbeatAt == nil || !a.LastHeartbeatAt.After(killedAt) {
				return fmt.Errorf("last heartbeat %v is before the kill", a.LastHeartbeatAt)
			}
			return nil
		})
		good = serial
	})

	t.Run("hostile configs from the cluster refused", func(t *testing.T) {
		touch, err := exec.LookPath("touch")
		require.NoError(t, err)
		stop := strings.Replace(s.Config["reload_command"], "-s reload", "-s stop", 1)
		elsewhere := filepath.Join(t.TempDir(), "cert.pem")
		for _, bad := range []struct {
			change map[string]string
			want   string
		}{
			{map[string]string{"reload_command": s.Config["reload_command"] + "; touch " + filepath.Join(s.Dir, "pwned")}, "shell"},
			{map[string]string{"cert_path": s.Dir + "/ssl/../../cert.pem"}, "cert_path"},
			{map[string]string{"key_path": filepath.Join(r.agent.KeyDir, certID+".key")}, "key_path"},
			// Outside the agent's allow-lists: a program it does not list,
			// the program it lists with arguments that would stop nginx, a
			// directory it does not list.
			{map[string]string{"reload_command": touch + " " + filepath.Join(s.Dir, "pwned")},
				`add "` + touch + " " + filepath.Join(s.Dir, "pwned") + `" to allowed_commands`},
			{map[string]string{"reload_command": stop}, `add "` + stop + `" to allowed_commands`},
			{map[string]string{"cert_path": elsewhere}, `add "` + filepath.Dir(elsewhere) + `" to allowed_dirs`},
		} {
			setConfig(bad.change)
			before := map[string]bool{}
			for _, j := range r.deploymentJobs(t, ctx, certID) {
				before[j.ID] = true
			}
			require.NoError(t, r.api.DeployCertificate(ctx, certID, targetID))
			job := r.waitNewDeployment(t, certID, before, 60*time.Second)
			assert.Equal(t, "Failed", string(job.Status))
			assert.Contains(t, job.LastError, bad.want)
			assert.NoFileExists(t, filepath.Join(s.Dir, "pwned"))
			assert.NoFileExists(t, elsewhere)
			assert.Equal(t, good, servedSerial(t, s.Endpoint, cn), "nginx still runs and serves the previous certificate")
		}
		setConfig(nil)
	})
}

// assertWholeMatchingFiles: the certificate and key nginx reads each parse
// in full, and belong together.
func assertWholeMatchingFiles(t *testing.T, s *webservertest.Server) {
	t.Helper()
	certs := parsePEMCerts(t, mustRead(t, s.LeafFile))
	require.NotEmpty(t, certs)
	block, rest := pem.Decode(mustRead(t, s.KeyFile))
	require.NotNil(t, block, "the key file is whole PEM")
	assert.Empty(t, bytes.TrimSpace(rest))
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	pub, ok := key.(interface{ Public() crypto.PublicKey })
	require.True(t, ok)
	assert.True(t, pub.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(certs[0].PublicKey), "the key is the certificate's")
}
