package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

// maxRecipients bounds a notification's recipient list (the fsm's limit).
const maxRecipients = 1024

// stale reports whether agent a, Online, has been silent for longer than
// after at now, and since when. An agent that never sent a heartbeat counts
// from its registration.
func stale(now time.Time, a *fsm.Agent, after time.Duration) (time.Time, bool) {
	if a.Status != fsm.AgentOnline || a.RetiredAt != nil {
		return time.Time{}, false
	}
	seen := a.RegisteredAt
	if a.LastHeartbeatAt != nil {
		seen = *a.LastHeartbeatAt
	}
	return seen, now.Sub(seen) > after
}

// checkAgents is the agent health check: an Online agent silent for longer
// than AgentOfflineAfter goes Offline (compare and set on Online, so an
// agent that came back meanwhile is left alone), and if it serves targets
// the owners of the certificates deployed through them are alerted, once
// per silence.
func (s *Scheduler) checkAgents(ctx context.Context) error {
	now := s.cfg.Now()
	type silent struct {
		agent fsm.Agent
		seen  time.Time
	}
	var found []silent
	for page := 1; ; page++ {
		l, err := s.state.Agents(fsm.AgentFilter{}, fsm.Page{Page: page, PerPage: fsm.MaxPerPage})
		if err != nil {
			return err
		}
		for _, a := range l.Items {
			if seen, ok := stale(now, &a, s.cfg.AgentOfflineAfter); ok {
				found = append(found, silent{a, seen})
			}
		}
		if len(l.Items) < fsm.MaxPerPage {
			break
		}
	}
	if len(found) == 0 {
		return nil
	}
	targets, err := s.targetsByAgent()
	if err != nil {
		return err
	}
	offline := 0
	for _, f := range found {
		if err := ctx.Err(); err != nil {
			return err
		}
		a := f.agent
		err := s.propose(ctx, now, agentRequest(a.ID, f.seen, now, "offline"),
			&fsm.SetAgentStatus{AgentID: a.ID, Status: fsm.AgentOffline, From: fsm.AgentOnline})
		switch {
		case rejected(err):
			s.log.Debug("agent changed meanwhile", "agent", a.ID, "err", err)
			continue
		case err != nil:
			return err
		}
		offline++
		s.log.Info("agent offline", "agent", a.ID, "last_seen", f.seen)
		if tids := targets[a.ID]; len(tids) > 0 {
			if err := s.alertAgent(ctx, now, &a, f.seen, tids); err != nil {
				return err
			}
		}
	}
	s.log.Info("agent health check", "silent", len(found), "set_offline", offline)
	return nil
}

// targetsByAgent returns the ids of every target by the agent serving it.
func (s *Scheduler) targetsByAgent() (map[string][]string, error) {
	out := map[string][]string{}
	for page := 1; ; page++ {
		l, err := s.state.Targets(fsm.TargetFilter{}, fsm.Page{Page: page, PerPage: fsm.MaxPerPage})
		if err != nil {
			return nil, err
		}
		for _, t := range l.Items {
			out[t.AgentID] = append(out[t.AgentID], t.ID)
		}
		if len(l.Items) < fsm.MaxPerPage {
			return out, nil
		}
	}
}

// alertAgent queues the AgentOffline alert of agent a, silent since seen,
// which serves targets tids.
func (s *Scheduler) alertAgent(ctx context.Context, now time.Time, a *fsm.Agent, seen time.Time, tids []string) error {
	key := agentAlertKey(a.ID, seen)
	if done, err := s.state.NotificationKeySeen(key); err != nil || done {
		return err
	}
	certs, recipients, err := s.affected(tids)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Agent %s (%s) has sent no heartbeat since %s and is now offline; its %d target(s) serve %d certificate(s), which cannot be deployed there until it is back.",
		a.Name, a.Hostname, seen.UTC().Format(time.RFC3339), len(tids), certs)
	n := fsm.Notification{ID: notificationID(key), Type: wire.NotificationAgentOffline, Channel: wire.ChannelEmail,
		Recipient: recipients, Message: msg, DedupKey: key}
	err = s.propose(ctx, now, agentRequest(a.ID, seen, now, "alert"), &fsm.CreateNotifications{Notifications: []fsm.Notification{n}})
	if rejected(err) {
		s.log.Debug("agent alert not queued", "agent", a.ID, "err", err)
		return nil
	}
	return err
}

// affected returns how many live certificates the targets serve and the e-mails
// of their owners, sorted, comma-separated, within the fsm's limit.
func (s *Scheduler) affected(tids []string) (int, string, error) {
	certs := map[string]bool{}
	for _, tid := range tids {
		ids, err := s.state.TargetCertificateIDs(tid)
		if err != nil {
			return 0, "", err
		}
		for _, id := range ids {
			certs[id] = true
		}
	}
	live := 0
	owners := map[string]bool{}
	emails := map[string]bool{}
	for id := range certs {
		c, err := s.state.Certificate(id)
		if errors.Is(err, fsm.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, "", err
		}
		if c.Status == fsm.CertArchived {
			continue
		}
		live++
		if owners[c.OwnerID] {
			continue
		}
		owners[c.OwnerID] = true
		o, err := s.state.Owner(c.OwnerID)
		if errors.Is(err, fsm.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, "", err
		}
		if o.Email != "" {
			emails[o.Email] = true
		}
	}
	list := make([]string, 0, len(emails))
	for e := range emails {
		list = append(list, e)
	}
	slices.Sort(list)
	var b strings.Builder
	for _, e := range list {
		if b.Len()+len(e)+2 > maxRecipients {
			break
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e)
	}
	return live, b.String(), nil
}
