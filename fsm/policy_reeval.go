package fsm

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// A change of the policy rules (CreatePolicyRule, UpdatePolicyRule) does
// not evaluate every certificate in its own entry, which at 100,000
// certificates held the log for seconds. It records a sweep instead
// (meta/policy_sweep): the rules changed at that entry's index, and no
// certificate is done yet. The leader's scheduler then proposes
// ReevaluatePolicies batches, certificate ids in key order continuing from
// the sweep's cursor, until a batch reaches the last certificate and the
// sweep ends. A newer rule change restarts the sweep from the first
// certificate; a batch for an older sweep, or not continuing from the
// cursor, is refused (CodeState) and the leader reads the sweep again.
//
// Until the sweep passes a certificate, its reported violations may be
// those of the former rules. What refuses work is never stale:
// CheckPolicies, and the create, update and version writes, evaluate the
// rules in force themselves.

// PolicySweep is the re-evaluation of existing certificates under way
// since the policy rules changed.
type PolicySweep struct {
	// Since is the raft index of the rule change the sweep is for.
	Since uint64 `json:"since"`
	// After is the last certificate id evaluated; "" before the first batch.
	After string `json:"after,omitempty"`
	// Evaluated counts the certificates evaluated so far.
	Evaluated int `json:"evaluated"`
}

// rulesChanged has every certificate evaluated again after the rules changed
// at this entry: with sweep, by recording a sweep from the first certificate;
// without, at once, in this entry.
func rulesChanged(t *txn, sweep bool) {
	if sweep {
		putJSON(t.bucket(bucketMeta), metaPolicySweep, &PolicySweep{Since: t.index})
		return
	}
	reevaluate(t, nextCertIDs(t.bucket(bucketCertificates), "", -1))
}

// reevaluate evaluates the rules in force against the certificates ids not
// archived and replaces their violations; it returns how many it evaluated.
func reevaluate(t *txn, ids []string) int {
	s, rules := certStore{t}, loadRules(t)
	n := 0
	for _, id := range ids {
		c, err := s.get(id)
		if err != nil || c.Status == CertArchived {
			continue
		}
		n++
		vs, err := violationIDs(t, c, evaluateRules(t, rules, c, nil))
		if err != nil {
			continue // an id clash left as it was; the certificate's next write retries
		}
		applyPolicies(t, c, vs)
	}
	return n
}

func readPolicySweep(b getter) (*PolicySweep, error) {
	var s PolicySweep
	found, err := getJSON(b, metaPolicySweep, &s)
	if err != nil || !found {
		return nil, err
	}
	return &s, nil
}

// ReevaluatePolicies evaluates the rules in force against the next
// certificates of the sweep Since, in id order after After, and replaces
// their violations (an owner is told of a new one); archived or missing ids
// are skipped. Nothing is refused, since the certificates did not change.
// The sweep moves on to the last id, or ends when no certificate follows
// it or the batch is empty. The leader proposes it (see PolicySweep);
// FSM.NextPolicyBatch builds it.
type ReevaluatePolicies struct {
	Since   uint64   `json:"since"`
	After   string   `json:"after,omitempty"`
	CertIDs []string `json:"cert_ids"`
}

func (ReevaluatePolicies) CommandType() CommandType { return CommandReevaluatePolicies }
func (p *ReevaluatePolicies) Validate() error {
	if p.Since == 0 {
		return invalidf("since", "since is the raft index of the rule change the batch is for; it is required")
	}
	if p.After != "" {
		if err := ValidID("after", p.After); err != nil {
			return err
		}
	}
	if len(p.CertIDs) > MaxBatch {
		return invalidf("cert_ids", "at most %d certificates per batch are allowed, got %d", MaxBatch, len(p.CertIDs))
	}
	prev := p.After
	for i, id := range p.CertIDs {
		if err := ValidID("cert_ids", id); err != nil {
			return err
		}
		if id <= prev && (i > 0 || prev != "") {
			return invalidf("cert_ids", "cert_ids must be in increasing order after %q: %q follows %q", p.After, id, prev)
		}
		prev = id
	}
	return nil
}

func (p *ReevaluatePolicies) apply(t *txn) (any, error) {
	sweep, err := readPolicySweep(t.bucket(bucketMeta))
	if err != nil {
		return nil, err
	}
	switch {
	case sweep == nil:
		return nil, statef("policy_sweep", "", "no policy re-evaluation is under way (the batch for the rule change at index %d came after its end)", p.Since)
	case sweep.Since != p.Since || sweep.After != p.After:
		return nil, statef("policy_sweep", "", "policy re-evaluation batch is stale: it continues the sweep of index %d after %q, the sweep under way is of index %d after %q",
			p.Since, p.After, sweep.Since, sweep.After)
	}
	last := p.After
	if n := len(p.CertIDs); n > 0 {
		last = p.CertIDs[n-1]
	}
	// The proposer read the sweep, so every certificate it did not list
	// was created after the rule change, under the rules in force, and
	// evaluated by its own create: an empty batch ends the sweep, and
	// certificates after the last id only prolong it.
	more := len(p.CertIDs) > 0 && len(nextCertIDs(t.bucket(bucketCertificates), last, 1)) > 0
	// From here on nothing fails.
	sweep.Evaluated += reevaluate(t, p.CertIDs)
	if more {
		sweep.After = last
		putJSON(t.bucket(bucketMeta), metaPolicySweep, sweep)
		return sweep, nil
	}
	must(t.bucket(bucketMeta).Delete(metaPolicySweep))
	t.audit("policy_reevaluated", "policy_rule", "", map[string]any{"since": sweep.Since, "certificates": sweep.Evaluated})
	return nil, nil
}

// nextCertIDs returns up to n certificate ids after after, in key order;
// every one when n is negative.
func nextCertIDs(b interface{ Cursor() *bolt.Cursor }, after string, n int) []string {
	var out []string
	c := b.Cursor()
	k, _ := c.Seek([]byte(after))
	if k != nil && after != "" && bytes.Equal(k, []byte(after)) {
		k, _ = c.Next()
	}
	for ; k != nil && (n < 0 || len(out) < n); k, _ = c.Next() {
		out = append(out, string(k))
	}
	return out
}

// PolicySweep returns the re-evaluation under way, or nil when the
// violations reflect the rules in force.
func (f *FSM) PolicySweep() (*PolicySweep, error) {
	var out *PolicySweep
	err := f.view(func(tx *bolt.Tx) (err error) {
		out, err = readPolicySweep(tx.Bucket(bucketMeta))
		return err
	})
	return out, err
}

// NextPolicyBatch returns the next ReevaluatePolicies of the sweep under way,
// with up to n certificate ids (at most MaxBatch), or nil when none is under
// way. A batch with no ids ends a sweep that has no certificate left.
func (f *FSM) NextPolicyBatch(n int) (*ReevaluatePolicies, error) {
	n = max(1, min(n, MaxBatch))
	var out *ReevaluatePolicies
	err := f.view(func(tx *bolt.Tx) error {
		sweep, err := readPolicySweep(tx.Bucket(bucketMeta))
		if err != nil || sweep == nil {
			return err
		}
		out = &ReevaluatePolicies{Since: sweep.Since, After: sweep.After,
			CertIDs: nextCertIDs(tx.Bucket(bucketCertificates), sweep.After, n)}
		return nil
	})
	return out, err
}
