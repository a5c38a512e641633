package pgexport

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/certctl/certctl/fsm"
)

// WriteSQL writes the state cur as a SQL script that `psql -f` loads into an
// empty database, in one transaction: the tables, one COPY ... FROM stdin
// block per table, then the indexes and foreign keys (the schema Sync
// makes), and the certctl_export row. The
// rows are those Sync writes, secrets redacted alike.
func (e *Exporter) WriteSQL(w io.Writer, cur *fsm.StateFile) (Result, error) {
	sum := cur.Summary()
	res := Result{Meta: Meta{ClusterID: sum.ClusterID, Index: sum.AppliedIndex, Term: sum.AppliedTerm, SchemaVersion: sum.SchemaVersion},
		Full: true, Changed: map[string]int{}, Deleted: map[string]int{}, Skipped: map[string]int{}, Nulled: map[string]int{}}
	s := &syncRun{e: e, cur: cur, res: &res, skipped: map[string]map[string]bool{}}
	bw := bufio.NewWriterSize(w, 1<<20)
	fmt.Fprintf(bw, "-- certctl export of cluster %s at raft index %d (term %d)\n", sum.ClusterID, sum.AppliedIndex, sum.AppliedTerm)
	fmt.Fprint(bw, "-- Load into an empty database: psql -v ON_ERROR_STOP=1 -f FILE\n")
	fmt.Fprint(bw, "SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\n")
	fmt.Fprint(bw, "BEGIN;\n\n", strings.TrimLeft(freshTables, "\n"))
	var line []byte
	for _, t := range fsm.ExportTables {
		fmt.Fprintf(bw, "\nCOPY %s (%s) FROM stdin;\n", t, quoted(specs[t].cols))
		err := cur.Scan(t, func(key, raw []byte) error {
			r, ok, err := s.rowOf(t, key, raw)
			if err != nil || !ok {
				return err
			}
			line = line[:0]
			for i, v := range r.vals {
				if i > 0 {
					line = append(line, '\t')
				}
				line = appendCopyValue(line, v)
			}
			line = append(line, '\n')
			res.Rows++
			res.Changed[t]++
			_, err = bw.Write(line)
			return err
		})
		if err != nil {
			return res, err
		}
		fmt.Fprint(bw, "\\.\n")
	}
	fmt.Fprint(bw, "\n", freshConstraints)
	fmt.Fprintf(bw, "\nINSERT INTO certctl_export (id, cluster_id, raft_index, raft_term, schema_version, exported_at)\n"+
		"VALUES (1, %s, %d, %d, %d, %s);\nCOMMIT;\n",
		sqlString(sum.ClusterID), sum.AppliedIndex, sum.AppliedTerm, sum.SchemaVersion, sqlString(time.Now().UTC().Format(time.RFC3339Nano)))
	return res, bw.Flush()
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// appendCopyValue appends v in COPY's text format.
func appendCopyValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, `\N`...)
	case string:
		return appendCopyText(b, x)
	case bool:
		if x {
			return append(b, 't')
		}
		return append(b, 'f')
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case time.Time:
		return x.AppendFormat(b, "2006-01-02 15:04:05.000000Z07:00")
	case json.RawMessage:
		return appendCopyText(b, string(x))
	case []string:
		var arr strings.Builder
		arr.WriteByte('{')
		for i, s := range x {
			if i > 0 {
				arr.WriteByte(',')
			}
			arr.WriteByte('"')
			arr.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s))
			arr.WriteByte('"')
		}
		arr.WriteByte('}')
		return appendCopyText(b, arr.String())
	}
	panic(fmt.Sprintf("pgexport: no COPY text form for %T", v))
}

func appendCopyText(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			b = append(b, c)
		}
	}
	return b
}
