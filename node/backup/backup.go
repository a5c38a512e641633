package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"
)

// Magic starts every snapshot file, followed by a space and the format
// version.
const Magic = "certctl-snapshot"

// FormatVersion is the format this binary writes and the only one it reads.
const FormatVersion = 1

// maxHeader bounds the header line: a header is a few kilobytes at most.
const maxHeader = 1 << 20

// Header describes a snapshot file's body. The JSON names are part of the
// file format.
type Header struct {
	FormatVersion int       `json:"format_version"`
	ClusterID     string    `json:"cluster_id"`
	Index         uint64    `json:"index"` // raft index of the state
	Term          uint64    `json:"term"`  // raft term of that index
	NodeID        string    `json:"node_id"`
	CreatedAt     time.Time `json:"created_at"`
	SchemaVersion uint64    `json:"schema_version"` // the stored schema of the body
	// Counts holds the records of each table (fsm.StateSummary.Counts).
	Counts     map[string]int `json:"counts"`
	AuditHead  AuditHead      `json:"audit_head"`
	BodySize   int64          `json:"body_size"`
	BodySHA256 string         `json:"body_sha256"` // lower-case hex
}

// AuditHead names the last audit event of the state (zero when none).
type AuditHead struct {
	Seq  uint64 `json:"seq"`
	ID   string `json:"id,omitempty"`
	Hash string `json:"hash,omitempty"`
}

// Records is the sum of the header's counts.
func (h *Header) Records() int64 {
	var n int64
	for _, c := range h.Counts {
		n += int64(c)
	}
	return n
}

// Errors a reader returns, matched with errors.Is.
var (
	ErrNotSnapshot = errors.New("backup: not a certctl snapshot file")
	ErrVersion     = errors.New("backup: unknown snapshot format version")
	ErrHeader      = errors.New("backup: snapshot header is unreadable")
	ErrTruncated   = errors.New("backup: snapshot body is truncated")
	ErrChecksum    = errors.New("backup: snapshot body checksum mismatch")
	ErrTooLong     = errors.New("backup: snapshot body is longer than its header says")
)

// Write writes a snapshot file to w: the magic line, h as the header (its
// FormatVersion set to FormatVersion) and body, which must be exactly
// h.BodySize bytes whose SHA-256 is h.BodySHA256: the producer writes the
// body to a temporary file first and hashes it. A body that differs is an
// error, after it was written.
func Write(w io.Writer, h Header, body io.Reader) error {
	h.FormatVersion = FormatVersion
	if err := h.validate(); err != nil {
		return err
	}
	if err := writeHeader(w, h); err != nil {
		return err
	}
	sum := sha256.New()
	n, err := io.Copy(w, io.TeeReader(io.LimitReader(body, h.BodySize+1), sum))
	if err != nil {
		return fmt.Errorf("backup: write body: %w", err)
	}
	if n != h.BodySize {
		return fmt.Errorf("backup: body is %d bytes, the header says %d", n, h.BodySize)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != h.BodySHA256 {
		return fmt.Errorf("backup: body SHA-256 is %s, the header says %s", got, h.BodySHA256)
	}
	return nil
}

// writeHeader writes the magic line and h.
func writeHeader(w io.Writer, h Header) error {
	hdr, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("backup: encode header: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%s %d\n%s\n", Magic, FormatVersion, hdr); err != nil {
		return fmt.Errorf("backup: write header: %w", err)
	}
	return nil
}

func (h *Header) validate() error {
	switch {
	case h.BodySize <= 0:
		return fmt.Errorf("backup: header body_size is %d; set it to the body's size", h.BodySize)
	case len(h.BodySHA256) != sha256.Size*2 || strings.ToLower(h.BodySHA256) != h.BodySHA256:
		return fmt.Errorf("backup: header body_sha256 %q is not a lower-case hex SHA-256", h.BodySHA256)
	}
	if _, err := hex.DecodeString(h.BodySHA256); err != nil {
		return fmt.Errorf("backup: header body_sha256 %q is not a lower-case hex SHA-256", h.BodySHA256)
	}
	return nil
}

// Read reads a snapshot file's magic line and header from r and returns the
// header and a reader of the body. The body reader returns exactly
// h.BodySize bytes; at its end it returns an error wrapping ErrTruncated when
// r ends early, ErrChecksum when the SHA-256 differs and ErrTooLong when r
// holds more, instead of io.EOF. A file of another format version is an
// error wrapping ErrVersion naming both versions.
func Read(r io.Reader) (*Header, io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if start, _ := br.Peek(len(Magic) + 1); string(start) != Magic+" " {
		return nil, nil, fmt.Errorf("%w: it does not start with %q", ErrNotSnapshot, Magic+" ")
	}
	magic, err := readLine(br, 64)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotSnapshot, err)
	}
	name, ver, ok := strings.Cut(magic, " ")
	if !ok || name != Magic {
		return nil, nil, fmt.Errorf("%w: it does not start with %q", ErrNotSnapshot, Magic+" ")
	}
	v, err := strconv.Atoi(ver)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: format version %q is not a number", ErrNotSnapshot, ver)
	}
	if v != FormatVersion {
		return nil, nil, fmt.Errorf("%w %d: this certctl reads format version %d only", ErrVersion, v, FormatVersion)
	}
	line, err := readLine(br, maxHeader)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	var h Header
	dec := json.NewDecoder(strings.NewReader(line))
	if err := dec.Decode(&h); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	if h.FormatVersion != FormatVersion {
		return nil, nil, fmt.Errorf("%w: format_version is %d in the header and %d on the first line", ErrHeader, h.FormatVersion, v)
	}
	if err := h.validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	return &h, &bodyReader{r: br, left: h.BodySize, want: h.BodySHA256, size: h.BodySize, sum: sha256.New()}, nil
}

// readLine reads one line of at most max bytes, without its newline.
func readLine(br *bufio.Reader, max int) (string, error) {
	var buf bytes.Buffer
	for {
		frag, err := br.ReadSlice('\n')
		buf.Write(frag)
		if buf.Len() > max {
			return "", fmt.Errorf("line is longer than %d bytes", max)
		}
		if err == nil {
			return strings.TrimSuffix(buf.String(), "\n"), nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return "", errors.New("the file ends before the line does")
		}
		return "", err
	}
}

// bodyReader checks a body's size and SHA-256 as it is read.
type bodyReader struct {
	r    io.Reader
	left int64
	size int64
	want string
	sum  hash.Hash
	err  error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left == 0 {
		b.err = b.finish()
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.sum.Write(p[:n])
	b.left -= int64(n)
	if errors.Is(err, io.EOF) && b.left > 0 {
		b.err = fmt.Errorf("%w: %d bytes of %d", ErrTruncated, b.size-b.left, b.size)
		return n, b.err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = fmt.Errorf("backup: read body: %w", err)
		return n, b.err
	}
	return n, nil
}

func (b *bodyReader) finish() error {
	var one [1]byte
	if n, _ := io.ReadFull(b.r, one[:]); n > 0 {
		return fmt.Errorf("%w: more than the %d bytes of body_size", ErrTooLong, b.size)
	}
	if got := hex.EncodeToString(b.sum.Sum(nil)); got != b.want {
		return fmt.Errorf("%w: the body's SHA-256 is %s, the header says %s", ErrChecksum, got, b.want)
	}
	return io.EOF
}
