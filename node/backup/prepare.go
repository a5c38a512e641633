package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/certctl/certctl/fsm"
)

// State is what Prepare takes a copy of: *fsm.FSM.
type State interface {
	WriteState(w io.Writer) (fsm.StateSummary, error)
}

// Prepared is a body written to a temporary file and hashed, with its
// header filled in: ready to be written as a snapshot file with WriteTo.
// Close removes the temporary file; a Prepared is used by one goroutine.
type Prepared struct {
	Header Header
	f      *os.File
}

// Prepare writes a consistent copy of src's state to a temporary file in dir
// (the system's temporary directory when dir is empty), hashing it as it
// goes, and fills the header from the state copied: cluster id, index and
// term, schema version, counts and audit head, with nodeID and now.
func Prepare(src State, dir, nodeID string, now time.Time) (*Prepared, error) {
	f, err := os.CreateTemp(dir, ".certctl-snapshot-body-*")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	p := &Prepared{f: f}
	sum := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(f, sum)}
	s, err := src.WriteState(cw)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.Header = Header{
		FormatVersion: FormatVersion,
		ClusterID:     s.ClusterID,
		Index:         s.AppliedIndex,
		Term:          s.AppliedTerm,
		NodeID:        nodeID,
		CreatedAt:     now.UTC().Truncate(time.Second),
		SchemaVersion: s.SchemaVersion,
		Counts:        s.Counts,
		AuditHead:     AuditHead{Seq: s.AuditSeq, ID: s.AuditID, Hash: s.AuditHash},
		BodySize:      cw.n,
		BodySHA256:    hex.EncodeToString(sum.Sum(nil)),
	}
	return p, nil
}

// Size is the size of the whole snapshot file WriteTo writes.
func (p *Prepared) Size() (int64, error) {
	var c countingWriter
	if err := writeHeader(&c, p.Header); err != nil {
		return 0, err
	}
	return c.n + p.Header.BodySize, nil
}

// WriteTo writes the snapshot file to w.
func (p *Prepared) WriteTo(w io.Writer) (int64, error) {
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	cw := &countingWriter{w: w}
	err := Write(cw, p.Header, p.f)
	return cw.n, err
}

// Close removes the temporary body.
func (p *Prepared) Close() error {
	p.f.Close()
	return os.Remove(p.f.Name())
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.w == nil {
		c.n += int64(len(b))
		return len(b), nil
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
