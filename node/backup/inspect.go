package backup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/certctl/certctl/fsm"
)

// Check is the outcome of one of Inspect's checks.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Report is what Inspect found: each check in order and the counts it
// recomputed from the body (nil when the body could not be read).
type Report struct {
	Checks []Check        `json:"checks"`
	Counts map[string]int `json:"counts,omitempty"`
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

func (r *Report) add(name string, err error, detail string) {
	c := Check{Name: name, OK: err == nil, Detail: detail}
	if err != nil {
		c.Detail = err.Error()
	}
	r.Checks = append(r.Checks, c)
}

// Check names, in the order Inspect runs them.
const (
	CheckFormat   = "format"   // magic line, format version and header
	CheckChecksum = "checksum" // body size and SHA-256
	CheckRecords  = "records"  // the body is a state file whose every record decodes
	CheckHeader   = "header"   // the header's counts, index, term, cluster id and audit head match the body
)

// CheckStream checks the snapshot file at path by reading it once, in
// constant memory: its magic and format version and the size and SHA-256 of
// its body (the first two checks of Inspect). It does not open the body as
// a state file; Inspect does.
func CheckStream(path string) (*Header, Report, error) {
	var rep Report
	f, err := os.Open(path)
	if err != nil {
		return nil, rep, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	h, body, err := Read(f)
	rep.add(CheckFormat, err, fmt.Sprintf("%s %d", Magic, FormatVersion))
	if err != nil {
		return nil, rep, err
	}
	_, err = io.Copy(io.Discard, body)
	rep.add(CheckChecksum, err, fmt.Sprintf("%d bytes, sha256 %s", h.BodySize, h.BodySHA256))
	return h, rep, err
}

// Inspect checks the snapshot file at path without a cluster: its magic and
// format version, the size and SHA-256 of its whole body, that the body is a
// state file of a schema this binary reads whose every record decodes (see
// fsm.InspectFile), and that the header agrees with the body (counts, index,
// term, cluster id, schema version, audit head). The body is copied to a
// temporary file beside path (or in the system's temporary directory when
// that directory is not writable) and opened read-only; the copy is removed.
// The header is nil when the file has none; the error says which check
// failed first and wraps ErrVersion, ErrChecksum, ErrTruncated, a
// *fsm.RecordError and so on.
func Inspect(path string) (*Header, Report, error) {
	var rep Report
	f, err := os.Open(path)
	if err != nil {
		return nil, rep, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	h, body, err := Read(f)
	rep.add(CheckFormat, err, fmt.Sprintf("%s %d", Magic, FormatVersion))
	if err != nil {
		return nil, rep, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".certctl-inspect-*")
	if err != nil {
		tmp, err = os.CreateTemp("", "certctl-inspect-*")
		if err != nil {
			return h, rep, fmt.Errorf("backup: %w", err)
		}
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, body)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("backup: %w", cerr)
	}
	rep.add(CheckChecksum, err, fmt.Sprintf("%d bytes, sha256 %s", h.BodySize, h.BodySHA256))
	if err != nil {
		return h, rep, err
	}
	s, err := fsm.InspectFile(tmp.Name())
	if err != nil {
		var re *fsm.RecordError
		if !errors.As(err, &re) {
			err = fmt.Errorf("backup: the body is not a readable state file: %w", err)
		} else {
			err = fmt.Errorf("backup: %w", err)
		}
		rep.add(CheckRecords, err, "")
		return h, rep, err
	}
	rep.Counts = s.Counts
	rep.add(CheckRecords, nil, fmt.Sprintf("%d records decoded", sumCounts(s.Counts)))
	err = Agrees(h, s)
	rep.add(CheckHeader, err, "counts, index, term, cluster id, schema version and audit head match the body")
	return h, rep, err
}

// Agrees reports whether h describes the state s: a header that differs from
// its body is an error naming each field that differs.
func Agrees(h *Header, s fsm.StateSummary) error {
	var diffs []string
	diff := func(field string, header, body any) {
		if fmt.Sprint(header) != fmt.Sprint(body) {
			diffs = append(diffs, fmt.Sprintf("%s is %v in the header and %v in the body", field, header, body))
		}
	}
	diff("cluster_id", h.ClusterID, s.ClusterID)
	diff("index", h.Index, s.AppliedIndex)
	diff("term", h.Term, s.AppliedTerm)
	diff("schema_version", h.SchemaVersion, s.SchemaVersion)
	diff("audit_head.seq", h.AuditHead.Seq, s.AuditSeq)
	diff("audit_head.hash", h.AuditHead.Hash, s.AuditHash)
	names := map[string]bool{}
	for t := range h.Counts {
		names[t] = true
	}
	for t := range s.Counts {
		names[t] = true
	}
	sorted := make([]string, 0, len(names))
	for t := range names {
		sorted = append(sorted, t)
	}
	sort.Strings(sorted)
	for _, t := range sorted {
		diff("counts."+t, h.Counts[t], s.Counts[t])
	}
	if len(diffs) > 0 {
		return fmt.Errorf("backup: the header does not describe the body: %s", strings.Join(diffs, "; "))
	}
	return nil
}

func sumCounts(c map[string]int) int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}
