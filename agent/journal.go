package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/certctl/certctl/api/wire"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The journal is how a deployment survives the agent being killed: before a
// connector changes anything, the job's entry is written as "deploying";
// once the outcome is known (deployed and validated, or failed and rolled
// back) it becomes "decided" with that outcome; it is deleted once the
// cluster has the report. An agent that starts and finds a "deploying" entry
// rolls the target back (the connector's backup is in the same directory)
// and leaves the job to be done again; a "decided" entry is reported again.
const (
	phaseDeploying = "deploying"
	phaseDecided   = "decided"
)

type journalEntry struct {
	JobID         string          `json:"job_id"`
	JobType       wire.JobType    `json:"job_type"`
	CertificateID string          `json:"certificate_id"`
	TargetID      string          `json:"target_id"`
	TargetType    wire.TargetType `json:"target_type"`
	TargetConfig  json.RawMessage `json:"target_config,omitempty"`
	Phase         string          `json:"phase"`
	// NextKey: the deployment used the certificate's next key, promoted
	// once the outcome is Completed.
	NextKey   bool      `json:"next_key,omitempty"`
	Outcome   *outcome  `json:"outcome,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// outcome is the report owed to the cluster for a job.
type outcome struct {
	Status wire.JobStatus  `json:"status"` // Completed or Failed
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

type journal struct {
	dir string // <state_dir>/jobs
}

func openJournal(stateDir string) (*journal, error) {
	if stateDir == "" {
		return nil, errors.New("agent: no state directory configured (state_dir)")
	}
	dir := filepath.Join(filepath.Clean(stateDir), "jobs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: state directory: %w", err)
	}
	return &journal{dir: dir}, nil
}

// jobDir is the directory of a job's entry; targetDir the StateDir its
// connector keeps backups in.
func (j *journal) jobDir(jobID string) string    { return filepath.Join(j.dir, jobID) }
func (j *journal) targetDir(jobID string) string { return filepath.Join(j.dir, jobID, "target") }

// begin records that job is about to change its target, and returns the
// connector's StateDir. An entry left by an earlier attempt is replaced
// only after the caller has settled it (see Agent.settle).
func (j *journal) begin(e *journalEntry) (string, error) {
	if err := os.MkdirAll(j.targetDir(e.JobID), 0o700); err != nil {
		return "", fmt.Errorf("agent: journal of job %s: %w", e.JobID, err)
	}
	e.Phase = phaseDeploying
	return j.targetDir(e.JobID), j.write(e)
}

// decide records the outcome owed to the cluster.
func (j *journal) decide(e *journalEntry, o outcome) error {
	e.Phase, e.Outcome = phaseDecided, &o
	return j.write(e)
}

func (j *journal) write(e *journalEntry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	// An outcome decided before any change (a refused config) has no
	// directory yet.
	if err := os.MkdirAll(j.jobDir(e.JobID), 0o700); err != nil {
		return fmt.Errorf("agent: journal of job %s: %w", e.JobID, err)
	}
	return writeFileAtomic(filepath.Join(j.jobDir(e.JobID), "journal.json"), raw, 0o600)
}

// has reports whether job jobID has an entry: an outcome still to report,
// or a deployment to settle first.
func (j *journal) has(jobID string) bool {
	_, err := os.Stat(j.jobDir(jobID))
	return err == nil
}

// done forgets a job: its report reached the cluster.
func (j *journal) done(jobID string) error {
	if err := os.RemoveAll(j.jobDir(jobID)); err != nil {
		return fmt.Errorf("agent: forget job %s: %w", jobID, err)
	}
	return syncDir(j.dir)
}

// entries returns every job entry, oldest first. A directory without a
// readable entry (the agent died while making it) comes back with only its
// JobID and no phase: nothing was changed for it yet.
func (j *journal) entries() ([]*journalEntry, error) {
	dirs, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("agent: read the journal: %w", err)
	}
	var out []*journalEntry
	for _, d := range dirs {
		if !d.IsDir() || CheckID("job_id", d.Name()) != nil {
			continue
		}
		e := &journalEntry{JobID: d.Name()}
		raw, err := os.ReadFile(filepath.Join(j.dir, d.Name(), "journal.json"))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("agent: read the journal of job %s: %w", d.Name(), err)
		default:
			if err := json.Unmarshal(raw, e); err != nil {
				return nil, fmt.Errorf("agent: the journal of job %s does not parse (%v); move %s away to go on", d.Name(), err, filepath.Join(j.dir, d.Name()))
			}
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *journalEntry) int { return a.StartedAt.Compare(b.StartedAt) })
	return out, nil
}
