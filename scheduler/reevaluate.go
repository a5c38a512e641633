package scheduler

import (
	"context"
	"fmt"

	"github.com/certctl/certctl/fsm"
)

// reevaluatePolicies is the policy loop's pass: while a policy sweep is
// under way (a rule was created or changed), it proposes the sweep's next
// ReevaluatePolicies batch of PolicyBatch certificates, in id order, and
// reads the sweep again, until it ends. The sweep's cursor is in the
// replicated state, so a new leader resumes where the last batch applied
// left it (its first pass runs as soon as it leads). A batch refused as
// stale (the rules changed again and restarted the sweep) is read again;
// refused while the sweep has not moved, the pass ends with the error and
// the next one retries.
func (s *Scheduler) reevaluatePolicies(ctx context.Context) error {
	batches := 0
	var refused *fsm.ReevaluatePolicies
	for ctx.Err() == nil {
		b, err := s.state.NextPolicyBatch(s.cfg.PolicyBatch)
		if err != nil {
			return err
		}
		if b == nil {
			if batches > 0 {
				s.log.Info("policy rules re-evaluated against the certificates", "batches", batches)
			}
			return nil
		}
		moved := refused == nil || refused.Since != b.Since || refused.After != b.After
		err = s.propose(ctx, s.cfg.Now(), sweepRequest(b), b)
		switch {
		case err == nil:
			batches++
			refused = nil
		case rejected(err) && moved:
			refused = b
		default:
			return fmt.Errorf("policy re-evaluation after %q for the rule change at index %d: %w", b.After, b.Since, err)
		}
	}
	return nil
}

// NudgePolicies asks the policy loop to run now: wire it to
// fsm.OnRulesChanged so a rule change is followed at once. It never blocks
// and acts only while Run runs on this node.
func (s *Scheduler) NudgePolicies() {
	select {
	case s.policyWake <- struct{}{}:
	default:
	}
}

// sweepRequest is the request id of a batch of a policy sweep: one per
// position of the sweep, so a retry of a batch that was applied is a no-op.
func sweepRequest(b *fsm.ReevaluatePolicies) string {
	after := b.After
	if len(after) > 32 {
		after = digest(after)
	}
	return fmt.Sprintf("policy/%d/%s", b.Since, after)
}
