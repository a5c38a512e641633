package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/node/backup"
)

// notRestoredAsSaved are the tables a restored cluster does not hold as they
// were saved: the cluster's own identity (its members, the join tokens they
// spent, the revoked certificates of the saved cluster's nodes, meta) and
// the bookkeeping every new command adds to (stored requests, counts, the
// audit index). The audit chain itself is compared up to the saved head.
var notRestoredAsSaved = map[string]bool{
	"meta": true, "members": true, "join_tokens": true, "node_cert_revocations": true,
	"requests": true, "requests_by_index": true, "counts": true, "idx_audit_by_time": true,
}

// tableHashes returns the SHA-256 of every bucket of the state file at path,
// by name; audit_events is hashed up to event auditSeq only (all when 0).
func tableHashes(t *testing.T, path string, auditSeq uint64) map[string]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	require.NoError(t, err)
	defer db.Close()
	out := map[string]string{}
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			h := sha256.New()
			err := b.ForEach(func(k, v []byte) error {
				if string(name) == "audit_events" && auditSeq > 0 && len(k) == 8 && binary.BigEndian.Uint64(k) > auditSeq {
					return nil
				}
				fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(v), v)
				return nil
			})
			out[string(name)] = hex.EncodeToString(h.Sum(nil))
			return err
		})
	}))
	return out
}

// snapshotBody writes the body of the snapshot file at path to a state file
// and returns the file's header and the state file's path.
func snapshotBody(t testing.TB, path string) (*backup.Header, string) {
	t.Helper()
	in, err := os.Open(path)
	require.NoError(t, err)
	defer in.Close()
	h, body, err := backup.Read(in)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "saved.db")
	f, err := os.Create(out)
	require.NoError(t, err)
	_, err = io.Copy(f, body)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return h, out
}

// TestBackupDrill saves a snapshot of a 3-node cluster holding thousands of
// certificates, versions, jobs, an agent and audit events while writes go
// on; stops and wipes every node; starts a new node from the snapshot
// (--restore-from) and joins two fresh nodes to it. Every table is then as
// saved on every node, the audit chain verifies on every node, the scheduler
// renews a certificate (and redoes none of the work the state says is
// done), and the agent works on with the API key it had.
func TestBackupDrill(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	f := c.Seed(leader)
	api := c.APIClient(AdminKey)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Thousands of certificates, created 16 at a time.
	const bulk = 2000
	var wg sync.WaitGroup
	ids := make(chan string)
	errs := make(chan error, bulk)
	for range 16 {
		wg.Go(func() {
			for id := range ids {
				cert := f.NewCertificate(id)
				_, err := api.CreateCertificate(ctx, wire.Certificate{ID: cert.ID, Name: cert.Name, CommonName: cert.CommonName, SANs: cert.SANs,
					Environment: cert.Environment, OwnerID: cert.OwnerID, TeamID: cert.TeamID, IssuerID: cert.IssuerID, Tags: cert.Tags})
				errs <- err
			}
		})
	}
	for i := range bulk {
		ids <- fmt.Sprintf("mc-bulk-%04d", i)
	}
	close(ids)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// Versions and completed jobs: certificates issued by a Local CA (a
	// year's validity: no expiry alert or renewal falls due during the test).
	iss, err := api.CreateIssuer(ctx, wire.Issuer{ID: "iss-drill", Name: "drill CA", Type: "GenericCA",
		Config: json.RawMessage(`{"ca_common_name":"Drill CA","validity_days":365}`), Enabled: true})
	require.NoError(t, err)
	require.NoError(t, api.TestIssuer(ctx, iss.ID))
	issued := []string{"mc-drill-0", "mc-drill-1", "mc-drill-2", "mc-drill-3"}
	for _, id := range issued {
		serverKeyCert(t, ctx, api, f, id, iss.ID)
		require.NoError(t, api.RenewCertificate(ctx, id))
	}
	for _, id := range issued {
		waitVersions(t, c, api, id, 1, time.Minute)
	}
	require.NoError(t, c.WaitErr(time.Minute, func(ctx context.Context) error {
		for _, st := range []string{"Pending", "Running"} {
			l, err := api.ListJobs(ctx, client.ListJobsOptions{Status: st, PerPage: 1})
			if err != nil {
				return err
			}
			if l.Total > 0 {
				return fmt.Errorf("%d jobs %s", l.Total, st)
			}
		}
		return nil
	}))

	// An agent with its own API key, heartbeating.
	reg, err := api.RegisterAgent(ctx, "drill-agent", "drill-host")
	require.NoError(t, err)
	agentDir := t.TempDir()
	ag := c.AddAgent(agentBin, AgentConfig{ID: reg.ID, APIKey: reg.APIKey, Servers: c.Nodes(), AllowedDirs: []string{agentDir}})
	c.StartAgent(ag)
	c.Wait("the agent's first heartbeat", func(ctx context.Context) error {
		a, err := api.GetAgent(ctx, reg.ID)
		if err != nil || a.LastHeartbeatAt == nil {
			return fmt.Errorf("no heartbeat yet (%v)", err)
		}
		return nil
	})
	require.NoError(t, ag.Stop(AgentStopTimeout))

	// The save, while writes go on.
	stop := make(chan struct{})
	var acked atomic.Int64
	var lastAcked atomic.Value
	var writer sync.WaitGroup
	writer.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("t-w-%d", i)
			if _, err := api.CreateTeam(ctx, wire.Team{ID: id, Name: fmt.Sprintf("writer %d", i)}); err == nil {
				acked.Add(1)
				lastAcked.Store(id)
			}
		}
	})
	for acked.Load() < 20 {
		time.Sleep(10 * time.Millisecond)
	}
	snap := filepath.Join(t.TempDir(), "drill.snap")
	runCLI(t, "--server", c.Followers(leader)[0].URL(), "--ca-file", c.CAFile(), "--api-key", AdminKey, "snapshot", "save", snap).requireCode(t, 0)
	close(stop)
	writer.Wait()
	header, savedDB := snapshotBody(t, snap)
	saved := tableHashes(t, savedDB, 0)
	require.GreaterOrEqual(t, header.Counts["managed_certificates"], bulk)
	require.Positive(t, header.Counts["certificate_versions"])
	require.Positive(t, header.Counts["jobs"])
	require.Positive(t, header.Counts["agents"])
	require.Positive(t, header.Counts["audit_events"])
	t.Logf("saved index %d: %d records, %d bytes; %d writes acknowledged during the save",
		header.Index, header.Records(), header.BodySize, acked.Load())

	// Online, through a follower: a damaged copy is refused by the check
	// named, with nothing changed; the file itself is restored on every node,
	// and the write acknowledged last (after the save) is gone.
	cliOn := func(n *Node, args ...string) cliRun {
		return runCLI(t, append([]string{"--server", n.URL(), "--ca-file", c.CAFile(), "--api-key", AdminKey}, args...)...)
	}
	raw, err := os.ReadFile(snap)
	require.NoError(t, err)
	raw[len(raw)-4096] ^= 0x01
	bad := filepath.Join(t.TempDir(), "bad.snap")
	require.NoError(t, os.WriteFile(bad, raw, 0o600))
	fol := c.Followers(c.WaitLeader())[0]
	r := cliOn(fol, "snapshot", "restore", "--yes", bad).requireCode(t, 1)
	assert.Contains(t, r.stderr, "checksum check failed")
	last := lastAcked.Load().(string)
	_, err = api.GetTeam(ctx, last)
	require.NoError(t, err, "a refused restore changes nothing")
	cliOn(fol, "snapshot", "restore", "--yes", snap).requireCode(t, 0)
	for _, n := range c.Live() {
		c.Wait(n.ID+" to install the restored state", func(ctx context.Context) error {
			_, err := c.APIClient(AdminKey, n).GetTeam(ctx, last)
			if client.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("team %s written after the save is still there (%v)", last, err)
		})
	}

	// The disaster: every node stopped and its data dir wiped.
	for _, n := range c.Live() {
		c.Stop(n)
		require.NoError(t, os.RemoveAll(n.DataDir))
	}

	// Recovery: a new node from the snapshot, two fresh nodes joining it
	// (with the join token the snapshot holds).
	r1 := c.AddNode(NodeConfig{ID: "r1", RestoreFrom: snap})
	c.StartNode(r1)
	c.WaitReady(r1)
	r2 := c.AddNode(NodeConfig{ID: "r2", Join: []string{r1.APIAddr}})
	c.StartNode(r2)
	r3 := c.AddNode(NodeConfig{ID: "r3", Join: []string{r1.APIAddr}})
	c.StartNode(r3)
	c.WaitMembers(3)
	c.WaitLeader()
	restored := []*Node{r1, r2, r3}
	for _, n := range restored {
		c.WaitReady(n)
	}

	// Every table as saved, on every node: read from their state files,
	// followers first so the leader stops last.
	newLeader := c.WaitLeader()
	for _, n := range append(c.Followers(newLeader), newLeader) {
		c.Stop(n)
	}
	for _, n := range restored {
		got := tableHashes(t, filepath.Join(n.DataDir, "state.db"), header.AuditHead.Seq)
		for table, h := range saved {
			if !notRestoredAsSaved[table] {
				assert.Equal(t, h, got[table], "%s: table %s is not as saved", n.ID, table)
			}
		}
	}
	for _, n := range restored {
		c.StartNode(n)
	}
	for _, n := range restored {
		c.WaitReady(n)
	}
	api = c.APIClient(AdminKey, restored...)

	// The audit chain is intact on every node and they agree.
	r = runCLI(t, "--server", r2.URL(), "--ca-file", c.CAFile(), "--api-key", AdminKey, "audit", "verify", "--cluster").requireCode(t, 0)
	for _, n := range restored {
		assert.Regexp(t, `(?m)^`+n.ID+`\s.*\sintact\s+agrees$`, r.stdout)
	}

	// The scheduler carries on: a renewal runs; the work the state holds as
	// done is not done again.
	require.NoError(t, api.RenewCertificate(ctx, issued[0]))
	waitVersions(t, c, api, issued[0], 2, time.Minute)
	for _, id := range issued[1:] {
		v, err := api.ListCertificateVersions(ctx, id, 1, 10)
		require.NoError(t, err)
		assert.Equal(t, 1, v.Total, "certificate %s was issued once", id)
	}

	// The agent works on with its old key against the new nodes.
	since := time.Now()
	ag2 := c.AddAgent(agentBin, AgentConfig{ID: reg.ID, APIKey: reg.APIKey, Servers: restored, AllowedDirs: []string{agentDir}})
	c.StartAgent(ag2)
	c.Wait("the agent's heartbeat on the restored cluster", func(ctx context.Context) error {
		a, err := api.GetAgent(ctx, reg.ID)
		if err != nil {
			return err
		}
		if a.LastHeartbeatAt == nil || !a.LastHeartbeatAt.After(since.Add(-time.Second)) {
			return fmt.Errorf("no heartbeat since the restore (last %v)", a.LastHeartbeatAt)
		}
		return nil
	})
}
