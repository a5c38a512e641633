package pgimport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

// Defaults of Config.
const (
	DefaultBatchRows  = 500
	DefaultBatchBytes = 4 << 20 // half the server's limit on a batch
	DefaultInFlight   = 3
)

// Client is what an import needs of the cluster: api/client's *Client.
type Client interface {
	Import(ctx context.Context, req wire.ImportRequest) (*wire.ImportResult, error)
}

// Config says how to run an import. Source names the database in the
// cluster (its audit marker, each imported event); never put a password in
// it. A zero BatchRows or BatchBytes takes the default.
type Config struct {
	Source     string
	DryRun     bool
	BatchRows  int
	BatchBytes int
	// InFlight is how many batches of a table are sent at once (3).
	InFlight int
	// Checkpoint is the file recording how far a run got, read at the start
	// and written after every batch written; "" keeps none. A dry run
	// neither reads nor writes it.
	Checkpoint string
	// Progress, when set, is told after every batch how many rows of
	// table were handled out of total.
	Progress func(table string, done, total int64)
}

func (c *Config) defaults() {
	if c.BatchRows <= 0 {
		c.BatchRows = DefaultBatchRows
	}
	if c.BatchRows > fsm.MaxImportRecords {
		c.BatchRows = fsm.MaxImportRecords
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.InFlight <= 0 {
		c.InFlight = DefaultInFlight
	}
}

// Report is what an import did (or, in a dry run, would do), per table in
// the order of Tables (and certificate_target_mappings), the rows refused
// and why, what was imported otherwise than it was (Warnings) and the
// agents whose existing key works here.
type Report struct {
	Source    string                       `json:"source"`
	DryRun    bool                         `json:"dry_run"`
	Resumed   string                       `json:"resumed_after,omitempty"`
	Tables    map[string]*wire.ImportCount `json:"tables"`
	Refused   []wire.ImportRefusal         `json:"refused"`
	Warnings  []string                     `json:"warnings"`
	AgentKeys []string                     `json:"agent_keys"`
}

// Rows is the total of rows the report counts.
func (r *Report) Rows() (n int) {
	for _, c := range r.Tables {
		n += c.New + c.Same + c.Refused
	}
	return n
}

// checkpoint is how far a run got: the tables done and the last row sent
// of the table under way.
type checkpoint struct {
	Source string   `json:"source"`
	Done   []string `json:"done"`
	Table  string   `json:"table,omitempty"`
	After  string   `json:"after,omitempty"`
}

func loadCheckpoint(path, source string) (checkpoint, error) {
	cp := checkpoint{Source: source}
	if path == "" {
		return cp, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cp, nil
	}
	if err != nil {
		return cp, fmt.Errorf("pgimport: checkpoint: %w", err)
	}
	var got checkpoint
	if err := json.Unmarshal(b, &got); err != nil {
		return cp, fmt.Errorf("pgimport: checkpoint %s is unreadable (%v): remove it to start over", path, err)
	}
	if got.Source != source {
		return cp, fmt.Errorf("pgimport: checkpoint %s is of an import from %s, not %s: remove it or give another --checkpoint", path, got.Source, source)
	}
	return got, nil
}

func (cp *checkpoint) save(path string) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("pgimport: checkpoint: %w", err)
	}
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("pgimport: checkpoint: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pgimport: checkpoint: %w", err)
	}
	return nil
}

// batch is rows of one table read together, to be sent as one request.
type batch struct {
	table string
	rows  []row
	last  bool // the table's last batch
	err   error
	warn  []string // what reading these rows noticed
}

// Run imports the database q reads into the cluster c, table by table in
// batches, resuming after the checkpoint. A batch is written whole or not
// at all: a run stopped by an error or a signal resumes after the last
// batch written. Rows already imported identical are counted as same.
func Run(ctx context.Context, q querier, c Client, cfg Config) (*Report, error) {
	cfg.defaults()
	rep := &Report{Source: cfg.Source, DryRun: cfg.DryRun, Tables: map[string]*wire.ImportCount{}, Refused: []wire.ImportRefusal{}, Warnings: []string{}, AgentKeys: []string{}}
	cp := checkpoint{Source: cfg.Source}
	if !cfg.DryRun {
		var err error
		if cp, err = loadCheckpoint(cfg.Checkpoint, cfg.Source); err != nil {
			return nil, err
		}
		if cp.Table != "" || len(cp.Done) > 0 {
			rep.Resumed = fmt.Sprintf("%v done, %s after %q", cp.Done, cp.Table, cp.After)
		}
	}
	totals := map[string]int64{}
	for _, t := range Tables {
		n, err := count(ctx, q, t)
		if err != nil {
			return nil, err
		}
		totals[t] = n
	}

	// The next batch is read while one is sent: reading and the raft
	// round trip overlap. The reader stops when ctx ends or the sender
	// stops listening.
	ctx, cancel := context.WithCancel(ctx)
	batches := make(chan batch, 2)
	defer func() {
		cancel()
		for range batches { // until the reader has stopped
		}
	}()
	go func() {
		defer close(batches)
		for _, table := range Tables {
			if slices.Contains(cp.Done, table) {
				continue
			}
			after := ""
			if cp.Table == table {
				after = cp.After
			}
			for {
				var warned []string
				rows, err := read(ctx, q, table, after, cfg.BatchRows, func(s string) { warned = append(warned, s) })
				b := batch{table: table, rows: rows, err: err, last: err == nil && len(rows) < cfg.BatchRows, warn: warned}
				select {
				case batches <- b:
				case <-ctx.Done():
					return
				}
				if err != nil || b.last {
					break
				}
				after = rows[len(rows)-1].key
			}
		}
	}()

	accepted := map[string]bool{} // a dry run's records that would be there
	done := map[string]int64{}
	// Up to cfg.InFlight batches of one table are sent at once: rows of a
	// table reference only earlier tables, so they are independent, and
	// the cluster folds concurrent entries into one raft append. Answers
	// are taken in the order the batches were read, so the checkpoint
	// only ever moves past batches that were written.
	var pending []*inflight
	settle := func(p *inflight) error {
		res, err := p.wait()
		if err != nil {
			return err
		}
		record(rep, p.table, p.rows, res, accepted)
		done[p.table] += int64(len(p.rows))
		if !cfg.DryRun {
			cp.Table, cp.After = p.table, p.rows[len(p.rows)-1].key
			if err := cp.save(cfg.Checkpoint); err != nil {
				return err
			}
		}
		if cfg.Progress != nil {
			cfg.Progress(p.table, done[p.table], totals[p.table])
		}
		return nil
	}
	drain := func() error {
		for len(pending) > 0 {
			p := pending[0]
			pending = pending[1:]
			if err := settle(p); err != nil {
				for _, q := range pending {
					_, _ = q.wait()
				}
				pending = nil
				return err
			}
		}
		return nil
	}
	defer func() { _ = drain() }()
	for b := range batches {
		if b.err != nil {
			return rep, b.err
		}
		rep.Warnings = append(rep.Warnings, b.warn...)
		for start := 0; start < len(b.rows); {
			end, bytes := start, 0
			for end < len(b.rows) && (end == start || bytes+b.rows[end].size <= cfg.BatchBytes) {
				bytes += b.rows[end].size
				end++
			}
			if len(pending) >= cfg.InFlight {
				p := pending[0]
				pending = pending[1:]
				if err := settle(p); err != nil {
					return rep, err
				}
			}
			pending = append(pending, post(ctx, c, cfg, b.table, b.rows[start:end], accepted))
			start = end
		}
		if b.last {
			if err := drain(); err != nil {
				return rep, err
			}
			if cfg.Progress != nil {
				cfg.Progress(b.table, totals[b.table], totals[b.table])
			}
			if !cfg.DryRun {
				cp.Done, cp.Table, cp.After = append(cp.Done, b.table), "", ""
				if err := cp.save(cfg.Checkpoint); err != nil {
					return rep, err
				}
			}
		}
	}
	if err := drain(); err != nil {
		return rep, err
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, nil
}

// inflight is one batch sent and its answer to come.
type inflight struct {
	table string
	rows  []row
	done  chan struct{}
	res   *wire.ImportResult
	err   error
}

func (p *inflight) wait() (*wire.ImportResult, error) {
	<-p.done
	return p.res, p.err
}

// post sends one batch of rows of table; the answer is the inflight's.
// A dry run names in the request the records it references that earlier
// batches would have written (accepted, read here before the goroutine
// starts: it holds only earlier tables' records, settled already).
func post(ctx context.Context, c Client, cfg Config, table string, rows []row, accepted map[string]bool) *inflight {
	req := wire.ImportRequest{Source: cfg.Source, DryRun: cfg.DryRun}
	for _, r := range rows {
		addRecord(&req.Records, table, r.rec)
		if cfg.DryRun {
			for _, k := range r.refs {
				if accepted[k] {
					req.Assume = append(req.Assume, k)
				}
			}
		}
	}
	slices.Sort(req.Assume)
	req.Assume = slices.Compact(req.Assume)
	p := &inflight{table: table, rows: rows, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.res, p.err = c.Import(ctx, req)
		if p.err != nil {
			p.err = fmt.Errorf("pgimport: %s: a batch of %d rows from %s: %w", table, len(rows), rows[0].id, p.err)
		}
	}()
	return p
}

// record adds the answer to one batch to rep.
func record(rep *Report, table string, rows []row, res *wire.ImportResult, accepted map[string]bool) {
	refused := map[string]bool{}
	for _, r := range res.Refused {
		refused[r.Table+"/"+r.ID] = true
	}
	for _, r := range rows {
		if !refused[table+"/"+r.id] {
			accepted[table+"/"+r.id] = true
		}
	}
	for t, n := range res.Tables {
		sum := rep.Tables[t]
		if sum == nil {
			sum = &wire.ImportCount{}
			rep.Tables[t] = sum
		}
		sum.New += n.New
		sum.Same += n.Same
		sum.Refused += n.Refused
	}
	rep.Refused = append(rep.Refused, res.Refused...)
	rep.AgentKeys = append(rep.AgentKeys, res.AgentKeys...)
}

func addRecord(r *wire.ImportRecords, table string, rec any) {
	switch v := rec.(type) {
	case wire.Team:
		r.Teams = append(r.Teams, v)
	case wire.Owner:
		r.Owners = append(r.Owners, v)
	case wire.RenewalPolicy:
		r.RenewalPolicies = append(r.RenewalPolicies, v)
	case wire.Issuer:
		r.Issuers = append(r.Issuers, v)
	case wire.ImportAgent:
		r.Agents = append(r.Agents, v)
	case wire.Target:
		r.Targets = append(r.Targets, v)
	case wire.PolicyRule:
		r.PolicyRules = append(r.PolicyRules, v)
	case wire.Certificate:
		r.Certificates = append(r.Certificates, v)
	case wire.CertificateVersion:
		r.Versions = append(r.Versions, v)
	case wire.Job:
		r.Jobs = append(r.Jobs, v)
	case wire.PolicyViolation:
		r.Violations = append(r.Violations, v)
	case wire.Notification:
		r.Notifications = append(r.Notifications, v)
	case wire.AuditEvent:
		r.AuditEvents = append(r.AuditEvents, v)
	default:
		panic(fmt.Sprintf("pgimport: a %T in table %s", rec, table))
	}
}
