package pgexport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/certctl/certctl/fsm"
)

// batchRows is how many rows one COPY into a staging table carries: the
// memory an export holds at once, whatever the size of the state.
const batchRows = 5000

// lockKey is the transaction-level advisory lock every export takes, so two
// exporters writing the same database run one after the other.
const lockKey = 0x63657274 // "cert"

// ErrOtherCluster is returned when the database holds the export of another
// cluster.
var ErrOtherCluster = errors.New("pgexport: the database holds the export of another cluster")

// Meta is what certctl_export records: the cluster and the raft index (and
// term) of the state the database reflects.
type Meta struct {
	ClusterID     string
	Index, Term   uint64
	SchemaVersion uint64
}

// Result says what one sync did.
type Result struct {
	Meta
	Full bool // the whole state was compared, not a difference
	// Rows is the number of records read and sent to the database;
	// Changed and Deleted count the rows that changed in it, per table;
	// Skipped the rows left out because a record they must reference is
	// absent from the state (as the original's ON DELETE CASCADE would
	// have removed them).
	Rows    int
	Changed map[string]int
	Deleted map[string]int
	Skipped map[string]int
	// Nulled counts optional references to absent records written as NULL.
	Nulled map[string]int
}

// Exporter writes states into PostgreSQL. The zero value is not usable; see
// New.
type Exporter struct {
	sec Secrets
	log *slog.Logger
}

// New returns an exporter redacting the secret fields sec declares, logging
// to log (nil: discard).
func New(sec Secrets, log *slog.Logger) *Exporter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Exporter{sec: sec, log: log}
}

// ReadMeta reads certctl_export; ok is false when the database has no
// export yet (no table or no row).
func ReadMeta(ctx context.Context, conn *pgx.Conn) (m Meta, ok bool, err error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('certctl_export') IS NOT NULL`).Scan(&exists); err != nil {
		return m, false, fmt.Errorf("pgexport: read certctl_export: %w", err)
	}
	if !exists {
		return m, false, nil
	}
	var idx, term, schema int64
	err = conn.QueryRow(ctx, `SELECT cluster_id, raft_index, raft_term, schema_version FROM certctl_export WHERE id = 1`).
		Scan(&m.ClusterID, &idx, &term, &schema)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("pgexport: read certctl_export: %w", err)
	}
	m.Index, m.Term, m.SchemaVersion = uint64(idx), uint64(term), uint64(schema)
	return m, true, nil
}

// Sync makes the database over conn hold the state cur, in one
// transaction: the tables are created when missing, rows upserted (a row
// equal to the state's is not rewritten), rows the state no longer has
// deleted, and certctl_export set to cur's cluster and index. When prev is
// the state the database already reflects (same cluster and index as
// certctl_export), only the difference between prev and cur is written;
// otherwise (prev nil, or the database elsewhere) the whole state is
// compared. A database holding another cluster's export is refused with
// ErrOtherCluster, unchanged.
func (e *Exporter) Sync(ctx context.Context, conn *pgx.Conn, prev, cur *fsm.StateFile) (Result, error) {
	sum := cur.Summary()
	res := Result{Meta: Meta{ClusterID: sum.ClusterID, Index: sum.AppliedIndex, Term: sum.AppliedTerm, SchemaVersion: sum.SchemaVersion},
		Changed: map[string]int{}, Deleted: map[string]int{}, Skipped: map[string]int{}, Nulled: map[string]int{}}
	if sum.ClusterID == "" {
		return res, errors.New("pgexport: the state has no cluster id")
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("pgexport: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
		return res, fmt.Errorf("pgexport: lock: %w", err)
	}
	// A database without any of the tables gets them bare, and their
	// indexes and foreign keys once the rows are in (as pg_dump orders a
	// dump): built in one pass each rather than row by row.
	var existing int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM unnest($1::text[]) AS t(name) WHERE to_regclass(t.name) IS NOT NULL`,
		append(append([]string(nil), fsm.ExportTables...), "certctl_export")).Scan(&existing); err != nil {
		return res, fmt.Errorf("pgexport: look for the tables: %w", err)
	}
	fresh := existing == 0
	ddl := schemaDDL
	if fresh {
		ddl = freshTables
	}
	if _, err := tx.Exec(ctx, ddl); err != nil {
		return res, fmt.Errorf("pgexport: create tables: %w", err)
	}
	var (
		dbCluster string
		dbIndex   int64
	)
	err = tx.QueryRow(ctx, `SELECT cluster_id, raft_index FROM certctl_export WHERE id = 1`).Scan(&dbCluster, &dbIndex)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return res, fmt.Errorf("pgexport: read certctl_export: %w", err)
	case dbCluster != sum.ClusterID:
		return res, fmt.Errorf("%w: it holds cluster %s at index %d, this state is cluster %s; export into another database",
			ErrOtherCluster, dbCluster, dbIndex, sum.ClusterID)
	}
	res.Full = true
	if prev != nil && err == nil {
		ps := prev.Summary()
		res.Full = !(ps.ClusterID == dbCluster && ps.AppliedIndex == uint64(dbIndex))
	}
	s := &syncRun{e: e, tx: tx, cur: cur, res: &res, skipped: map[string]map[string]bool{}, deletes: map[string][][]any{}, direct: map[string]bool{}}
	if !res.Full {
		s.prev = prev
	}
	for _, t := range fsm.ExportTables {
		if err := s.upsertTable(ctx, t); err != nil {
			return res, err
		}
	}
	for i := len(fsm.ExportTables) - 1; i >= 0; i-- {
		if err := s.deleteTable(ctx, fsm.ExportTables[i]); err != nil {
			return res, err
		}
	}
	if fresh {
		if _, err := tx.Exec(ctx, freshConstraints); err != nil {
			return res, fmt.Errorf("pgexport: indexes and foreign keys: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO certctl_export (id, cluster_id, raft_index, raft_term, schema_version, exported_at)
		VALUES (1, $1, $2, $3, $4, now())
		ON CONFLICT (id) DO UPDATE SET cluster_id = EXCLUDED.cluster_id, raft_index = EXCLUDED.raft_index,
		raft_term = EXCLUDED.raft_term, schema_version = EXCLUDED.schema_version, exported_at = EXCLUDED.exported_at`,
		res.ClusterID, int64(res.Index), int64(res.Term), int64(res.SchemaVersion)); err != nil {
		return res, fmt.Errorf("pgexport: write certctl_export: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("pgexport: commit: %w", err)
	}
	for t, n := range res.Skipped {
		e.log.Warn("export left out rows whose referenced record is absent", "table", t, "rows", n)
	}
	return res, nil
}

// syncRun is one Sync's transaction and bookkeeping.
type syncRun struct {
	e         *Exporter
	tx        pgx.Tx
	prev, cur *fsm.StateFile // prev nil: compare the whole state
	res       *Result
	skipped   map[string]map[string]bool // table → ids left out
	deletes   map[string][][]any         // table → keys to delete (difference only)
	direct    map[string]bool            // tables that were empty, copied into directly
}

// keyVals returns the primary key's values of a row.
func keyVals(table string, vals []any) []any {
	if table == "certificate_target_mappings" {
		return vals[:2]
	}
	return vals[:1]
}

// present reports whether the record id of table is in the exported state.
func (s *syncRun) present(table, id string) bool {
	if s.skipped[table][id] {
		return false
	}
	return s.cur.Get(table, []byte(id)) != nil
}

// rowOf decodes one record into its row, checking its references: a
// missing required one leaves the row out (ok false), a missing optional
// one is written NULL.
func (s *syncRun) rowOf(table string, key, raw []byte) (r row, ok bool, err error) {
	rec, err := fsm.DecodeRecord(table, key, raw)
	if err != nil {
		return r, false, fmt.Errorf("pgexport: %w", err)
	}
	r, err = toRow(table, rec, s.e.sec)
	if err != nil {
		return r, false, err
	}
	for _, ref := range r.refs {
		if s.present(ref.table, ref.id) {
			continue
		}
		if ref.nullable {
			r.vals[ref.col] = nil
			s.res.Nulled[table]++
			continue
		}
		if table != "certificate_target_mappings" {
			if s.skipped[table] == nil {
				s.skipped[table] = map[string]bool{}
			}
			s.skipped[table][r.vals[0].(string)] = true
		}
		s.res.Skipped[table]++
		return r, false, nil
	}
	return r, true, nil
}

func stageName(table string) string { return "certctl_stage_" + table }

// upsertTable copies the table's rows (all of them, or those that differ
// from prev) into a staging table and upserts them from there.
func (s *syncRun) upsertTable(ctx context.Context, table string) error {
	spec := specs[table]
	stage := stageName(table)
	// An empty table (a first export) takes the rows straight from COPY:
	// there is nothing to compare them with, nor to delete.
	direct := false
	if s.prev == nil {
		var any bool
		if err := s.tx.QueryRow(ctx, fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s)`, table)).Scan(&any); err != nil {
			return fmt.Errorf("pgexport: read %s: %w", table, err)
		}
		direct = !any
	}
	staged := false
	makeStage := func() error {
		if staged {
			return nil
		}
		staged = true
		if direct {
			return nil
		}
		if _, err := s.tx.Exec(ctx, fmt.Sprintf(`CREATE TEMP TABLE %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP`, stage, table)); err != nil {
			return fmt.Errorf("pgexport: staging table for %s: %w", table, err)
		}
		return nil
	}
	if direct {
		stage = table
		s.direct[table] = true
	} else if s.prev == nil {
		// The whole comparison deletes what the staging table lacks: it
		// must exist, empty or not. A difference stages only changed rows.
		if err := makeStage(); err != nil {
			return err
		}
	}
	batch := make([][]any, 0, batchRows)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := makeStage(); err != nil {
			return err
		}
		if _, err := s.tx.CopyFrom(ctx, pgx.Identifier{stage}, spec.cols, pgx.CopyFromRows(batch)); err != nil {
			return fmt.Errorf("pgexport: copy %s: %w", table, err)
		}
		s.res.Rows += len(batch)
		if direct {
			s.res.Changed[table] += len(batch)
		}
		batch = batch[:0]
		return nil
	}
	emit := func(key, raw []byte) error {
		r, ok, err := s.rowOf(table, key, raw)
		if err != nil {
			return err
		}
		if !ok {
			if s.prev != nil && r.vals != nil {
				s.deletes[table] = append(s.deletes[table], keyVals(table, r.vals))
			}
			return nil
		}
		batch = append(batch, r.vals)
		if len(batch) == batchRows {
			return flush()
		}
		return nil
	}
	var err error
	if s.prev == nil {
		err = s.cur.Scan(table, emit)
	} else {
		err = s.diff(table, emit)
	}
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	if direct || !staged {
		return nil
	}
	cl := quoted(spec.cols)
	conflict := "DO NOTHING"
	if len(spec.key) == 1 {
		var set, mine, theirs []string
		for _, c := range spec.cols[1:] {
			set = append(set, fmt.Sprintf(`"%s" = EXCLUDED."%s"`, c, c))
			mine = append(mine, fmt.Sprintf(`%s."%s"`, table, c))
			theirs = append(theirs, fmt.Sprintf(`EXCLUDED."%s"`, c))
		}
		conflict = fmt.Sprintf("DO UPDATE SET %s WHERE (%s) IS DISTINCT FROM (%s)",
			strings.Join(set, ", "), strings.Join(mine, ", "), strings.Join(theirs, ", "))
	}
	tag, err := s.tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (%s) %s`,
		table, cl, cl, stage, quoted(spec.key), conflict))
	if err != nil {
		return fmt.Errorf("pgexport: upsert %s: %w", table, err)
	}
	s.res.Changed[table] += int(tag.RowsAffected())
	return nil
}

// diff calls emit with each record of table that cur has and prev has not,
// or holds otherwise, and notes the keys of the records prev has and cur
// has not for deleteTable.
func (s *syncRun) diff(table string, emit func(key, raw []byte) error) error {
	a, b := s.prev.Records(table), s.cur.Records(table)
	ak, av := a.Next()
	bk, bv := b.Next()
	for ak != nil || bk != nil {
		switch c := cmpKeys(ak, bk); {
		case c == 0:
			if !bytes.Equal(av, bv) {
				if err := emit(bk, bv); err != nil {
					return err
				}
			}
			ak, av = a.Next()
			bk, bv = b.Next()
		case c < 0: // in prev only: deleted
			rec, err := fsm.DecodeRecord(table, ak, av)
			if err != nil {
				return fmt.Errorf("pgexport: %w", err)
			}
			r, err := toRow(table, rec, s.e.sec)
			if err != nil {
				return err
			}
			s.deletes[table] = append(s.deletes[table], keyVals(table, r.vals))
			ak, av = a.Next()
		default: // in cur only: new
			if err := emit(bk, bv); err != nil {
				return err
			}
			bk, bv = b.Next()
		}
	}
	return nil
}

// cmpKeys orders keys as bbolt does, a nil key (the end) last.
func cmpKeys(a, b []byte) int {
	switch {
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return bytes.Compare(a, b)
}

// deleteTable removes the rows the state no longer has: every row not in
// the staging table (whole state), or the keys the difference noted.
func (s *syncRun) deleteTable(ctx context.Context, table string) error {
	spec := specs[table]
	var (
		sql  string
		args []any
	)
	if s.direct[table] {
		return nil
	}
	if s.prev == nil {
		var on []string
		for _, k := range spec.key {
			on = append(on, fmt.Sprintf(`s."%s" = t."%s"`, k, k))
		}
		sql = fmt.Sprintf(`DELETE FROM %s t WHERE NOT EXISTS (SELECT 1 FROM %s s WHERE %s)`, table, stageName(table), strings.Join(on, " AND "))
	} else {
		keys := s.deletes[table]
		if len(keys) == 0 {
			return nil
		}
		cols := make([][]string, len(spec.key))
		for _, k := range keys {
			for i := range spec.key {
				cols[i] = append(cols[i], k[i].(string))
			}
		}
		if len(spec.key) == 1 {
			sql, args = fmt.Sprintf(`DELETE FROM %s WHERE "%s" = ANY($1)`, table, spec.key[0]), []any{cols[0]}
		} else {
			sql = fmt.Sprintf(`DELETE FROM %s WHERE ("%s", "%s") IN (SELECT * FROM unnest($1::text[], $2::text[]))`, table, spec.key[0], spec.key[1])
			args = []any{cols[0], cols[1]}
		}
	}
	tag, err := s.tx.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("pgexport: delete from %s: %w", table, err)
	}
	s.res.Deleted[table] += int(tag.RowsAffected())
	return nil
}
