package e2e

import (
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
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/internal/pgtest"
	"github.com/certctl/certctl/node/pgimport"
)

// quietScheduler keeps the leader's loops from changing imported records
// while a test compares them with their source.
func quietScheduler(string) []string {
	return []string{"--renewal-check-spec", "@every 24h", "--job-processor-spec", "@every 24h",
		"--agent-health-spec", "@every 24h", "--notification-spec", "@every 24h"}
}

// originalDB makes a database of the original certctl holding the demo
// site (testdata/original) and returns its DSN.
func originalDB(t *testing.T, pg *pgtest.Server, name string) string {
	t.Helper()
	dsn := pg.CreateDB(name)
	pg.Psql(name, "-v", "ON_ERROR_STOP=1", "-q", "-f", filepath.Join("testdata", "original", "schema.sql"))
	pg.Psql(name, "-v", "ON_ERROR_STOP=1", "-q", "-f", filepath.Join("testdata", "original", "demo.sql"))
	return dsn
}

// realCertificate returns a PEM certificate for cn and its SHA-256 as the
// original's dashboards showed it: upper-case hex in pairs.
func realCertificate(t *testing.T, cn string) (pemChain, colonFP, fp string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(60 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	sum := sha256.Sum256(der)
	fp = hex.EncodeToString(sum[:])
	pairs := make([]string, 0, 32)
	for i := 0; i < len(fp); i += 2 {
		pairs = append(pairs, strings.ToUpper(fp[i:i+2]))
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), strings.Join(pairs, ":"), fp
}

// exec runs SQL on the database at dsn.
func execSQL(t *testing.T, dsn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql, args...)
	require.NoError(t, err, sql)
}

// importReport runs certctl import postgres with args (-o json) and
// decodes its report.
func importReport(t *testing.T, global []string, code int, args ...string) pgimport.Report {
	t.Helper()
	var rep pgimport.Report
	r := runCLI(t, append(append(append([]string{}, global...), "-o", "json", "import", "postgres"), args...)...).requireCode(t, code)
	r.decode(t, &rep)
	return rep
}

func refusedIDs(rep pgimport.Report) []string {
	var out []string
	for _, r := range rep.Refused {
		out = append(out, r.Table+" "+r.ID+" "+r.Field)
	}
	sort.Strings(out)
	return out
}

// TestImport_OriginalDemoDatabase imports a database made with the
// original's schema and demo data into a one-node cluster over TLS with
// the CLI as an operator runs it: the dry run names what the demo data
// holds that cannot be imported (placeholder PEMs, a rule type with no
// counterpart) and writes nothing; once the PEMs are real, the import
// writes every other row, which, exported back to PostgreSQL, matches its
// source field by field; running it again changes nothing; the agent keeps
// heartbeating with its original key.
func TestImport_OriginalDemoDatabase(t *testing.T) {
	skipShort(t)
	pg := pgtest.Start(t)
	dsn := originalDB(t, pg, "original")
	c := NewCluster(t, certctlBin, WithNodeArgs(quietScheduler))
	c.Start(1)
	leader := c.WaitLeader()
	global := []string{"--server", leader.URL(), "--ca-file", c.CAFile(), "--api-key", AdminKey}
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "original.dsn")
	require.NoError(t, os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600))
	checkpoint := filepath.Join(dir, "import.checkpoint")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin := c.APIClient(AdminKey)

	// The dry run on the demo data as the original shipped it.
	dry := importReport(t, global, 1, "--dsn-file", dsnFile, "--dry-run")
	assert.True(t, dry.DryRun)
	assert.Equal(t, []string{
		"certificate_versions cv-api-1 pem_chain", "certificate_versions cv-auth-1 pem_chain", "certificate_versions cv-pay-1 pem_chain",
		"certificate_versions cv-web-1 pem_chain", "certificate_versions cv-wild-1 pem_chain", "policy_rules pr-require-owner type",
	}, refusedIDs(dry))
	assert.Equal(t, 15, dry.Tables["managed_certificates"].New)
	assert.Equal(t, 7, dry.Tables["audit_events"].New)
	assert.Len(t, dry.Warnings, 5, "five placeholder key hashes: %v", dry.Warnings)
	teams, err := admin.ListTeams(ctx, client0())
	require.NoError(t, err)
	assert.Zero(t, teams.Total, "a dry run writes nothing")
	text := runCLI(t, append(append([]string{}, global...), "import", "postgres", "--dsn-file", dsnFile, "--dry-run")...).requireCode(t, 1)
	assert.Contains(t, text.stdout, "certificate_versions cv-api-1 (pem_chain): invalid PEM")
	assert.Contains(t, text.stdout, `policy_rules pr-require-owner (type): type "ownership" is not one of`)
	assert.Contains(t, text.stderr, "6 row(s) would be refused")

	// Real certificates in place of the placeholders, and a real key for
	// one agent (the original stored the hex SHA-256 of its key).
	for _, v := range []struct{ id, cn string }{{"cv-api-1", "api.example.com"}, {"cv-web-1", "www.example.com"},
		{"cv-pay-1", "pay.example.com"}, {"cv-auth-1", "auth.example.com"}, {"cv-wild-1", "*.example.com"}} {
		pemChain, colonFP, _ := realCertificate(t, v.cn)
		execSQL(t, dsn, "UPDATE certificate_versions SET pem_chain = $1, fingerprint_sha256 = $2 WHERE id = $3", pemChain, colonFP, v.id)
	}
	const originalKey = "q0ZpV3N4bWt5WlJ0dGFxa0N0b0hBb0xkY2tRZ2p3dWs" // 43 characters, as the original made them
	execSQL(t, dsn, "UPDATE agents SET api_key_hash = $1 WHERE id = 'ag-web-prod'", keyHash(originalKey))

	rep := importReport(t, global, 1, "--dsn-file", dsnFile, "--checkpoint", checkpoint)
	assert.Equal(t, []string{"policy_rules pr-require-owner type"}, refusedIDs(rep), "the rest is imported")
	want := map[string]wire.ImportCount{
		"teams": {New: 5}, "owners": {New: 5}, "renewal_policies": {New: 3}, "issuers": {New: 3}, "agents": {New: 5},
		"deployment_targets": {New: 5}, "policy_rules": {New: 3, Refused: 1}, "managed_certificates": {New: 15},
		"certificate_target_mappings": {New: 16}, "certificate_versions": {New: 5}, "jobs": {New: 3}, "policy_violations": {New: 4},
		"notification_events": {New: 4}, "audit_events": {New: 7},
	}
	for table, w := range want {
		require.NotNil(t, rep.Tables[table], table)
		assert.Equal(t, w, *rep.Tables[table], table)
	}
	assert.Equal(t, []string{"ag-web-prod"}, rep.AgentKeys)

	// Again: every row is there identical, nothing is written.
	again := importReport(t, global, 1, "--dsn-file", dsnFile, "--checkpoint", checkpoint)
	for table, w := range want {
		if table == "certificate_target_mappings" {
			continue // they travel with their certificates, counted when new
		}
		assert.Equal(t, wire.ImportCount{Same: w.New, Refused: w.Refused}, *again.Tables[table], table)
	}

	// A run that stopped left its checkpoint: the next run reads only what
	// follows it, and drops the checkpoint when it is through.
	cp, err := json.Marshal(map[string]any{"source": rep.Source, "table": "audit_events", "after": "",
		"done": []string{"teams", "owners", "renewal_policies", "issuers", "agents", "deployment_targets", "policy_rules",
			"managed_certificates", "certificate_versions", "jobs", "policy_violations", "notification_events"}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(checkpoint, cp, 0o600))
	resumed := importReport(t, global, 0, "--dsn-file", dsnFile, "--checkpoint", checkpoint)
	assert.NotEmpty(t, resumed.Resumed)
	assert.Equal(t, map[string]*wire.ImportCount{"audit_events": {Same: 7}}, resumed.Tables)
	_, err = os.Stat(checkpoint)
	assert.True(t, os.IsNotExist(err), "a finished run drops its checkpoint")

	// Exported back, the rows are the source's.
	back := pg.CreateDB("back")
	runCLI(t, append(append([]string{}, global...), "export", "postgres", "--dsn", back)...).requireCode(t, 0)
	compareTables(t, dsn, back, map[string]bool{"policy_rules/pr-require-owner": true}, "ag-web-prod")

	// The agent heartbeats with the key it had, over HTTPS to the node.
	agent := c.APIClient(originalKey)
	require.NoError(t, agent.Heartbeat(ctx, "ag-web-prod", wire.HeartbeatRequest{Version: "1.0.0", Hostname: "web-prod-01.internal"}))
	a, err := admin.GetAgent(ctx, "ag-web-prod")
	require.NoError(t, err)
	assert.Equal(t, wire.AgentStatus("Online"), a.Status)
	require.Error(t, agent.Heartbeat(ctx, "ag-web-staging", wire.HeartbeatRequest{Version: "1.0.0"}), "only its own agent's routes")

	// The imported audit events follow a marker naming the source, each
	// marked with its id there, and the chain verifies.
	events, err := admin.ListAudit(ctx, client.ListAuditOptions{PerPage: 500})
	require.NoError(t, err)
	var marker, imported int
	for i, ev := range events.Data {
		if ev.Action == "audit_imported" {
			marker = i
			assert.Contains(t, ev.ResourceID, "/original")
		}
		if ev.Imported != nil {
			imported++
			assert.Greater(t, i, marker, "imported events come after the marker")
			assert.True(t, strings.HasPrefix(ev.Imported.ID, "audit-demo-"), ev.Imported.ID)
		}
	}
	assert.Equal(t, 7, imported)
	runCLI(t, append(append([]string{}, global...), "audit", "verify")...).requireCode(t, 0)

}

// keyHash is how the original stored an agent's key: its hex SHA-256.
func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// client0 is the first page of 500.
func client0() client.ListOptions { return client.ListOptions{PerPage: 500} }

// TestImport_BadInput: a database with a dangling owner, an invalid PEM and
// an id the cluster already holds: the dry run names each; the real run
// refuses them and imports the rest; with --strict nothing is imported.
func TestImport_BadInput(t *testing.T) {
	skipShort(t)
	pg := pgtest.Start(t)
	c := NewCluster(t, certctlBin, WithNodeArgs(quietScheduler))
	c.Start(1)
	leader := c.WaitLeader()
	global := []string{"--server", leader.URL(), "--ca-file", c.CAFile(), "--api-key", AdminKey}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin := c.APIClient(AdminKey)
	// The cluster already has a team t-data, not the original's.
	_, err := admin.CreateTeam(ctx, wire.Team{ID: "t-data", Name: "Data (appliance)"})
	require.NoError(t, err)

	bad := func(name string) string {
		dsn := originalDB(t, pg, name)
		pemChain, colonFP, _ := realCertificate(t, "api.example.com")
		execSQL(t, dsn, "UPDATE certificate_versions SET pem_chain = $1, fingerprint_sha256 = $2 WHERE id = 'cv-api-1'", pemChain, colonFP)
		execSQL(t, dsn, "DELETE FROM certificate_versions WHERE id IN ('cv-web-1', 'cv-pay-1', 'cv-auth-1')")
		execSQL(t, dsn, "DELETE FROM policy_rules WHERE id = 'pr-require-owner'")
		// A dangling owner: the constraint was dropped, as a partial
		// restore of a dump leaves it.
		execSQL(t, dsn, "ALTER TABLE managed_certificates DROP CONSTRAINT managed_certificates_owner_id_fkey")
		execSQL(t, dsn, "UPDATE managed_certificates SET owner_id = 'o-gone' WHERE id = 'mc-dash-prod'")
		return dsn
	}

	dsn := bad("bad")
	dry := importReport(t, global, 1, "--dsn", dsn, "--dry-run")
	got := refusedIDs(dry)
	assert.Contains(t, got, "managed_certificates mc-dash-prod owner_id", "the dangling owner")
	assert.Contains(t, got, "certificate_versions cv-wild-1 pem_chain", "the invalid PEM")
	assert.Contains(t, got, "teams t-data id", "the id the cluster holds")
	for _, r := range dry.Refused {
		switch r.ID {
		case "mc-dash-prod":
			assert.Equal(t, `owner_id "o-gone" is neither in the cluster nor imported (owners)`, r.Reason)
		case "t-data":
			assert.Equal(t, `id "t-data" already exists in the cluster`, r.Reason)
		}
	}

	// --strict: nothing is imported.
	strict := runCLI(t, append(append([]string{}, global...), "import", "postgres", "--dsn", dsn, "--strict", "--checkpoint", "")...).requireCode(t, 1)
	assert.Contains(t, strict.stderr, "nothing was imported")
	certs, err := admin.ListCertificates(ctx, client.ListCertificatesOptions{PerPage: 500})
	require.NoError(t, err)
	assert.Zero(t, certs.Total)
	teams, err := admin.ListTeams(ctx, client0())
	require.NoError(t, err)
	assert.Equal(t, 1, teams.Total, "only the cluster's own team")

	// Without it: the refused rows are named, the rest is imported.
	rep := importReport(t, global, 1, "--dsn", dsn, "--checkpoint", "")
	assert.Equal(t, got, refusedIDs(rep), "the real run refuses what the dry run said")
	_, err = admin.GetCertificate(ctx, "mc-api-prod")
	require.NoError(t, err)
	_, err = admin.GetCertificate(ctx, "mc-dash-prod")
	require.Error(t, err)
	tm, err := admin.GetTeam(ctx, "t-data")
	require.NoError(t, err)
	assert.Equal(t, "Data (appliance)", tm.Name, "the cluster's record is kept")
	v, err := admin.ListCertificateVersions(ctx, "mc-api-prod", 1, 500)
	require.NoError(t, err)
	assert.Equal(t, 1, v.Total)
}

// compareTables checks every source row of the fourteen tables against
// the exported row with the same id, column by column, allowing only the
// spellings the import maps (lower-case statuses, "local" issuers,
// colon-hex fingerprints, the informal rule types) and the agent keys the
// import could not carry (placeholders); the audit events, which the
// cluster numbers itself, are matched by their content.
func compareTables(t *testing.T, srcDSN, dstDSN string, refused map[string]bool, keyedAgents ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, err := pgx.Connect(ctx, srcDSN)
	require.NoError(t, err)
	defer src.Close(context.Background())
	dst, err := pgx.Connect(ctx, dstDSN)
	require.NoError(t, err)
	defer dst.Close(context.Background())
	keyed := map[string]bool{}
	for _, a := range keyedAgents {
		keyed[a] = true
	}
	columns := map[string][]string{
		"teams":                       {"id", "name", "description", "created_at", "updated_at"},
		"owners":                      {"id", "name", "email", "team_id", "created_at", "updated_at"},
		"renewal_policies":            {"id", "name", "renewal_window_days", "auto_renew", "max_retries", "retry_interval_minutes", "alert_thresholds_days", "created_at", "updated_at"},
		"issuers":                     {"id", "name", "type", "config", "enabled", "created_at", "updated_at"},
		"agents":                      {"id", "name", "hostname", "status", "last_heartbeat_at", "registered_at", "api_key_hash"},
		"deployment_targets":          {"id", "name", "type", "agent_id", "config", "enabled", "created_at", "updated_at"},
		"policy_rules":                {"id", "name", "type", "config", "enabled", "created_at", "updated_at"},
		"managed_certificates":        {"id", "name", "common_name", "sans", "environment", "owner_id", "team_id", "issuer_id", "renewal_policy_id", "status", "expires_at", "tags", "last_renewal_at", "last_deployment_at", "created_at", "updated_at"},
		"certificate_target_mappings": {"certificate_id || '/' || target_id AS id"},
		"certificate_versions":        {"id", "certificate_id", "serial_number", "not_before", "not_after", "fingerprint_sha256", "pem_chain", "csr_pem", "created_at"},
		"jobs":                        {"id", "type", "certificate_id", "target_id", "agent_id", "status", "attempts", "max_attempts", "last_error", "deployment_result", "scheduled_at", "started_at", "completed_at", "created_at"},
		"policy_violations":           {"id", "certificate_id", "rule_id", "message", "severity", "created_at"},
		"notification_events":         {"id", "type", "certificate_id", "channel", "recipient", "message", "sent_at", "status", "error"},
	}
	for table, cols := range columns {
		sql := "SELECT " + strings.Join(cols, ", ") + " FROM " + table
		want := readRows(t, ctx, src, sql)
		got := readRows(t, ctx, dst, sql)
		require.NotEmpty(t, want, table)
		for id, w := range want {
			if refused[table+"/"+id] {
				assert.NotContains(t, got, id, "%s %s was refused", table, id)
				continue
			}
			g, ok := got[id]
			if !assert.True(t, ok, "%s %s is not in the export", table, id) {
				continue
			}
			for col, wv := range w {
				gv := g[col]
				switch {
				case table == "agents" && col == "api_key_hash" && !keyed[id]:
					assert.Empty(t, gv, "%s %s: a placeholder hash is not carried", table, id)
				case table == "agents" && col == "status", table == "managed_certificates" && col == "status",
					table == "jobs" && (col == "status" || col == "type"), table == "policy_violations" && col == "severity",
					table == "notification_events" && (col == "type" || col == "channel" || col == "status"),
					table == "deployment_targets" && col == "type":
					assert.Equal(t, squashed(wv), squashed(gv), "%s %s %s", table, id, col)
				case table == "issuers" && col == "type":
					assert.Equal(t, map[any]string{"local": "GenericCA", "acme": "ACME", "vault": "VaultPKI"}[wv], gv, "%s %s", table, id)
				case table == "policy_rules" && col == "type":
					assert.Equal(t, map[any]string{"environment": "AllowedEnvironments", "lifetime": "CertificateLifetime", "renewal_window": "RenewalLeadTime"}[wv], gv, "%s %s", table, id)
				case table == "policy_rules" && col == "config":
					assert.JSONEq(t, strings.Replace(jsonText(wv), "min_days", "lead_time_days", 1), jsonText(gv), "%s %s", table, id)
				case table == "certificate_versions" && col == "fingerprint_sha256":
					assert.Equal(t, strings.ToLower(strings.ReplaceAll(wv.(string), ":", "")), gv, "%s %s", table, id)
				default:
					assert.True(t, sameValue(wv, gv), "%s %s %s: source %#v, export %#v", table, id, col, wv, gv)
				}
			}
		}
	}
	// Audit events: each of the source's is in the export with its content.
	want := readRows(t, ctx, src, "SELECT id, actor, actor_type, action, resource_type, resource_id, details, timestamp FROM audit_events")
	got := readRows(t, ctx, dst, "SELECT id, actor, actor_type, action, resource_type, resource_id, details, timestamp FROM audit_events")
	for id, w := range want {
		found := false
		for _, g := range got {
			if g["action"] == w["action"] && g["resource_id"] == w["resource_id"] && g["actor"] == w["actor"] &&
				sameValue(w["timestamp"], g["timestamp"]) && sameValue(w["details"], g["details"]) && squashed(w["actor_type"]) == squashed(g["actor_type"]) {
				found = true
				break
			}
		}
		assert.True(t, found, "audit event %s (%v) is not in the export", id, w)
	}
}

func readRows(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string) map[string]map[string]any {
	t.Helper()
	rows, err := conn.Query(ctx, sql)
	require.NoError(t, err, sql)
	defer rows.Close()
	out := map[string]map[string]any{}
	fields := rows.FieldDescriptions()
	for rows.Next() {
		vals, err := rows.Values()
		require.NoError(t, err)
		m := map[string]any{}
		for i, f := range fields {
			m[f.Name] = vals[i]
		}
		out[fmt.Sprint(m["id"])] = m
	}
	require.NoError(t, rows.Err())
	return out
}

func squashed(v any) string {
	s, _ := v.(string)
	return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// sameValue compares two column values: times as instants, JSON as data,
// NULL, "" and an empty JSON object alike (the appliance stores absent
// text and details as empty).
func sameValue(a, b any) bool {
	empty := func(v any) bool {
		switch x := v.(type) {
		case nil:
			return true
		case string:
			return x == ""
		case map[string]any:
			return len(x) == 0
		}
		return false
	}
	if empty(a) && empty(b) {
		return true
	}
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return reflect.DeepEqual(a, b)
}
