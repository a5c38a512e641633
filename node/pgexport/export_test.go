package pgexport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/demo"
	"github.com/certctl/certctl/fsm/fsmtest"
	"github.com/certctl/certctl/internal/pgtest"
	"github.com/certctl/certctl/node/pgexport"
)

// state is a cluster's state machine fed through a test log, with demo data.
type state struct {
	t   testing.TB
	f   *fsm.FSM
	log *fsmtest.Log
}

func newState(t testing.TB, clusterID string) *state {
	t.Helper()
	f := fsmtest.Open(t)
	l := fsmtest.NewLog(t, f)
	l.Now = time.Now().UTC().Truncate(time.Second)
	l.Must(&fsm.InitCluster{ClusterID: clusterID})
	payloads, err := demo.Payloads(l.Now)
	require.NoError(t, err)
	for _, p := range payloads {
		l.Must(p)
	}
	return &state{t: t, f: f, log: l}
}

// addCertificates creates n certificates (each with one version and mapped
// to a demo target), applied in batches as raft would.
func (s *state) addCertificates(from, n int) {
	s.t.Helper()
	var entries []*raft.Log
	flush := func() {
		for i, r := range fsmtest.ApplyBatch(s.t, s.f, entries...) {
			require.NoError(s.t, r.Err, "entry %d", i)
		}
		entries = entries[:0]
	}
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("mc-bulk-%06d", i)
		c := fsm.Certificate{ID: id, Name: id, CommonName: fmt.Sprintf("host%d.example.com", i),
			SANs: []string{fmt.Sprintf("host%d.example.com", i), fmt.Sprintf("alt%d.example.com", i)}, Environment: "production",
			OwnerID: "o-alice", TeamID: "t-platform", IssuerID: "iss-local", RenewalPolicyID: "rp-standard",
			TargetIDs: []string{"tgt-nginx-prod"}, Tags: map[string]string{"app": "bulk", "n": fmt.Sprint(i)}}
		entries = append(entries, s.log.Entry(&fsm.CreateCertificate{Certificate: c}))
		v := fsmtest.Version(fmt.Sprintf("cv-bulk-%06d", i), id, 1_000_000+i, s.log.Now.Add(-time.Hour), 90*24*time.Hour)
		entries = append(entries, s.log.Entry(&fsm.RecordVersion{Version: v}))
		if len(entries) >= 500 {
			flush()
		}
	}
	flush()
}

// file writes a consistent copy of the state and opens it as an export reads it.
func (s *state) file() *fsm.StateFile {
	s.t.Helper()
	path := filepath.Join(s.t.TempDir(), "state.db")
	out, err := os.Create(path)
	require.NoError(s.t, err)
	_, err = s.f.WriteState(out)
	require.NoError(s.t, err)
	require.NoError(s.t, out.Close())
	sf, err := fsm.OpenStateFile(path)
	require.NoError(s.t, err)
	s.t.Cleanup(func() { sf.Close() })
	return sf
}

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// dump returns every table of the database as text, rows in key order:
// two databases holding the same rows dump alike.
func dump(t testing.TB, pg *pgtest.Server, db string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range fsm.ExportTables {
		order := "id"
		if table == "certificate_target_mappings" {
			order = "certificate_id, target_id"
		}
		out[table] = pg.Psql(db, "-c", fmt.Sprintf("COPY (SELECT * FROM %s ORDER BY %s) TO STDOUT", table, order))
	}
	out["certctl_export"] = pg.Psql(db, "-c", "SELECT cluster_id, raft_index, raft_term, schema_version FROM certctl_export")
	return out
}

func count(t testing.TB, conn *pgx.Conn, table string) int {
	t.Helper()
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
	return n
}

func sync(t testing.TB, e *pgexport.Exporter, conn *pgx.Conn, prev, cur *fsm.StateFile) pgexport.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := e.Sync(ctx, conn, prev, cur)
	require.NoError(t, err)
	return res
}

// xmins sums the row versions' transaction ids of every table: a run that
// rewrites any row changes it.
func xmins(t testing.TB, conn *pgx.Conn) string {
	var parts []string
	for _, table := range fsm.ExportTables {
		var s string
		require.NoError(t, conn.QueryRow(context.Background(),
			fmt.Sprintf("SELECT coalesce(sum(xmin::text::bigint), 0)::text || '/' || count(*) FROM %s", table)).Scan(&s))
		parts = append(parts, table+"="+s)
	}
	return strings.Join(parts, " ")
}

func TestExport_FullStateCountsRowsAndIdempotence(t *testing.T) {
	pg := pgtest.Start(t)
	st := newState(t, "cluster-export-test")
	st.addCertificates(0, 3000)
	cur := st.file()
	conn := connect(t, pg.CreateDB("full"))
	e := pgexport.New(pgexport.Secrets{}, nil)

	res := sync(t, e, conn, nil, cur)
	assert.True(t, res.Full)
	sum := cur.Summary()
	for _, table := range fsm.ExportTables {
		assert.Equal(t, sum.Counts[table]-res.Skipped[table], count(t, conn, table), "rows of %s", table)
		assert.Greater(t, count(t, conn, table), 0, "table %s is empty: the demo data should fill every table", table)
	}
	assert.GreaterOrEqual(t, count(t, conn, "managed_certificates"), 3015)
	meta, ok, err := pgexport.ReadMeta(context.Background(), conn)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, pgexport.Meta{ClusterID: "cluster-export-test", Index: sum.AppliedIndex, Term: sum.AppliedTerm, SchemaVersion: sum.SchemaVersion}, meta)

	// A sample of rows, field by field, against the records.
	ctx := context.Background()
	for _, id := range []string{"mc-api-prod", "mc-bulk-000000", "mc-bulk-001234", "mc-bulk-002999", "mc-vpn-prod"} {
		c, err := st.f.Certificate(id)
		require.NoError(t, err)
		var (
			name, cn, owner, team, issuer, status string
			env, policy                           *string
			sans                                  []string
			tags                                  map[string]string
			expires, renewed, deployed            *time.Time
			created, updated                      time.Time
		)
		require.NoError(t, conn.QueryRow(ctx, `SELECT name, common_name, sans, environment, owner_id, team_id, issuer_id,
			renewal_policy_id, status, expires_at, tags, last_renewal_at, last_deployment_at, created_at, updated_at
			FROM managed_certificates WHERE id = $1`, id).Scan(&name, &cn, &sans, &env, &owner, &team, &issuer,
			&policy, &status, &expires, &tags, &renewed, &deployed, &created, &updated))
		assert.Equal(t, c.Name, name)
		assert.Equal(t, c.CommonName, cn)
		assert.Equal(t, nonNil(c.SANs), sans)
		assert.Equal(t, c.Environment, deref(env))
		assert.Equal(t, []string{c.OwnerID, c.TeamID, c.IssuerID, c.RenewalPolicyID, string(c.Status)}, []string{owner, team, issuer, deref(policy), status})
		assert.Equal(t, len(c.Tags), len(tags))
		for k, v := range c.Tags {
			assert.Equal(t, v, tags[k])
		}
		assertTime(t, c.ExpiresAt, expires)
		assertTime(t, c.LastRenewalAt, renewed)
		assertTime(t, c.LastDeploymentAt, deployed)
		assertTime(t, &c.CreatedAt, &created)
		assertTime(t, &c.UpdatedAt, &updated)
	}
	for _, id := range []string{"ag-web-prod", "ag-web-staging", "ag-lb-prod", "ag-data-prod", "ag-iis-prod"} {
		a, err := st.f.Agent(id)
		require.NoError(t, err)
		var name, host, status, hash string
		var hb *time.Time
		require.NoError(t, conn.QueryRow(ctx, `SELECT name, hostname, status, last_heartbeat_at, api_key_hash FROM agents WHERE id = $1`, a.ID).
			Scan(&name, &host, &status, &hb, &hash))
		assert.Equal(t, []string{a.Name, a.Hostname, string(a.Status), a.APIKeyHash}, []string{name, host, status, hash})
		assertTime(t, a.LastHeartbeatAt, hb)
	}
	it := cur.Records("audit_events")
	for i := 0; i < 20; i++ {
		k, v := it.Next()
		require.NotNil(t, k)
		rec, err := fsm.DecodeRecord("audit_events", k, v)
		require.NoError(t, err)
		want := rec.(*fsm.AuditEvent)
		var actor, actorType, action, rtype, rid string
		var details []byte
		var at time.Time
		require.NoError(t, conn.QueryRow(ctx, `SELECT actor, actor_type, action, resource_type, resource_id, details, timestamp FROM audit_events WHERE id = $1`, want.ID).
			Scan(&actor, &actorType, &action, &rtype, &rid, &details, &at))
		assert.Equal(t, []string{want.Actor, string(want.ActorType), want.Action, want.ResourceType, want.ResourceID},
			[]string{actor, actorType, action, rtype, rid})
		if len(want.Details) > 0 && string(want.Details) != "null" {
			assert.JSONEq(t, string(want.Details), string(details))
		}
		assertTime(t, &want.Timestamp, &at)
	}

	// A second export of the same state changes nothing: no row rewritten.
	before, beforeDump := xmins(t, conn), dump(t, pg, "full")
	res = sync(t, e, conn, nil, cur)
	assert.Equal(t, 0, total(res.Changed), "changed on the second run: %v", res.Changed)
	assert.Equal(t, 0, total(res.Deleted), "deleted on the second run: %v", res.Deleted)
	assert.Equal(t, before, xmins(t, conn))
	assert.Equal(t, beforeDump, dump(t, pg, "full"))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func assertTime(t *testing.T, want, got *time.Time) {
	t.Helper()
	if want == nil || want.IsZero() {
		assert.Nil(t, got)
		return
	}
	require.NotNil(t, got)
	assert.True(t, want.Truncate(time.Microsecond).Equal(*got), "time %v, want %v", got, want)
}

// The difference between two states, applied to the database of the first,
// leaves it as a whole export of the second does: new, updated, archived
// and deleted records alike.
func TestExport_DifferenceMatchesWholeExport(t *testing.T) {
	pg := pgtest.Start(t)
	st := newState(t, "cluster-diff")
	st.addCertificates(0, 200)
	prev := st.file()
	conn := connect(t, pg.CreateDB("diff"))
	e := pgexport.New(pgexport.Secrets{}, nil)
	sync(t, e, conn, nil, prev)

	// New, updated, archived, unmapped and deleted records.
	st.log.Advance(time.Minute)
	st.addCertificates(200, 5)
	c, err := st.f.Certificate("mc-bulk-000007")
	require.NoError(t, err)
	c.Tags = map[string]string{"app": "changed"}
	c.SANs = append(c.SANs, "new.example.com")
	st.log.Must(&fsm.UpdateCertificate{Certificate: *c})
	st.log.Must(&fsm.ArchiveCertificate{ID: "mc-bulk-000008"})
	st.log.Must(&fsm.UnmapTarget{CertificateID: "mc-bulk-000009", TargetID: "tgt-nginx-prod"})
	st.log.Must(&fsm.CreateTeam{Team: fsm.Team{ID: "t-gone", Name: "Gone"}})
	st.log.Must(&fsm.DeleteTeam{ID: "t-gone"})
	st.log.Must(&fsm.CreateTeam{Team: fsm.Team{ID: "t-kept", Name: `Kept \ back`, Description: "tab\there\nline two"}})
	cur := st.file()

	res := sync(t, e, conn, prev, cur)
	assert.False(t, res.Full, "the database was at prev's index: only the difference should be written")
	assert.Less(t, res.Rows, 100, "a difference of a few records sent %d rows", res.Rows)
	assert.Equal(t, 1, res.Deleted["certificate_target_mappings"])

	whole := connect(t, pg.CreateDB("whole"))
	sync(t, e, whole, nil, cur)
	assert.Equal(t, dump(t, pg, "whole"), dump(t, pg, "diff"))
	var status string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT status FROM managed_certificates WHERE id = 'mc-bulk-000008'`).Scan(&status))
	assert.Equal(t, string(wire.CertificateArchived), status)

	// A difference from a state the database is not at is a whole sync.
	res = sync(t, e, conn, prev, cur)
	assert.True(t, res.Full)
	assert.Equal(t, 0, total(res.Changed)+total(res.Deleted))
}

func TestExport_SQLScriptLoadsTheSameRows(t *testing.T) {
	pg := pgtest.Start(t)
	st := newState(t, "cluster-sql")
	st.addCertificates(0, 300)
	st.log.Must(&fsm.CreateTeam{Team: fsm.Team{ID: "t-odd", Name: `Odd 'quote' "dq" back\slash`, Description: "tab\there\nline two\\"}})
	cur := st.file()
	e := pgexport.New(pgexport.Secrets{}, nil)
	sync(t, e, connect(t, pg.CreateDB("direct")), nil, cur)

	var buf bytes.Buffer
	_, err := e.WriteSQL(&buf, cur)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "export.sql")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	pg.CreateDB("script")
	pg.Psql("script", "-f", path)
	assert.Equal(t, dump(t, pg, "direct"), dump(t, pg, "script"))

	// Both make the schema of the DDL run as it is, the foreign keys and
	// indexes included.
	pg.CreateDB("ddl")
	pg.Psql("ddl", "-c", pgexport.DDL())
	want := pg.SchemaDump("ddl")
	assert.Contains(t, want, "FOREIGN KEY (owner_id) REFERENCES public.owners(id) ON DELETE RESTRICT")
	assert.Equal(t, want, pg.SchemaDump("direct"))
	assert.Equal(t, want, pg.SchemaDump("script"))
}

// A secret a connector declares leaves sealed when sealed, redacted
// otherwise; the other fields as they are.
func TestExport_SecretsNeverInClear(t *testing.T) {
	pg := pgtest.Start(t)
	st := newState(t, "cluster-secrets")
	st.log.Must(&fsm.CreateTarget{Target: fsm.Target{ID: "tgt-f5-clear", Name: "f5 clear", Type: "F5", AgentID: "ag-lb-prod",
		Config: json.RawMessage(`{"host":"f5.example.com","username":"admin","password":"hunter2"}`), Enabled: true}})
	st.log.Must(&fsm.CreateTarget{Target: fsm.Target{ID: "tgt-f5-sealed", Name: "f5 sealed", Type: "F5", AgentID: "ag-lb-prod",
		Config: json.RawMessage(`{"host":"f5.example.com","username":"admin","password":"sealed:v2:QUJD"}`), Enabled: true}})
	cur := st.file()
	sec := pgexport.Secrets{Target: func(typ string) ([]string, []string) {
		if typ == "F5" {
			return []string{"password"}, []string{"host"}
		}
		return nil, nil
	}}
	conn := connect(t, pg.CreateDB("secrets"))
	sync(t, pgexport.New(sec, nil), conn, nil, cur)
	cfg := func(id string) map[string]string {
		var m map[string]string
		require.NoError(t, conn.QueryRow(context.Background(), `SELECT config FROM deployment_targets WHERE id = $1`, id).Scan(&m))
		return m
	}
	assert.Equal(t, map[string]string{"host": "f5.example.com", "username": "admin", "password": "********"}, cfg("tgt-f5-clear"))
	assert.Equal(t, "sealed:v2:QUJD", cfg("tgt-f5-sealed")["password"])
	all := strings.Join(func() []string {
		var s []string
		for _, v := range dump(t, pg, "secrets") {
			s = append(s, v)
		}
		return s
	}(), "\n")
	assert.NotContains(t, all, "hunter2")

	var buf bytes.Buffer
	_, err := pgexport.New(sec, nil).WriteSQL(&buf, cur)
	require.NoError(t, err)
	assert.NotContains(t, buf.String(), "hunter2")
}

func TestExport_RefusesAnotherClustersDatabase(t *testing.T) {
	pg := pgtest.Start(t)
	conn := connect(t, pg.CreateDB("two"))
	e := pgexport.New(pgexport.Secrets{}, nil)
	sync(t, e, conn, nil, newState(t, "cluster-a").file())
	before := dump(t, pg, "two")
	_, err := e.Sync(context.Background(), conn, nil, newState(t, "cluster-b").file())
	require.ErrorIs(t, err, pgexport.ErrOtherCluster)
	assert.Contains(t, err.Error(), "cluster-a")
	assert.Equal(t, before, dump(t, pg, "two"))
}
