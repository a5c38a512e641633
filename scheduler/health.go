package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
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

// alertAgent queues the AgentOffline alerts of agent a, silent since seen,
// which serves targets tids. They are routed like every other alert, by the
// renewal policies of the certificates deployed there: a policy's routes
// that take AgentOffline get the alert (an Email route without recipients
// goes to the owners of that policy's certificates); the owners of the
// certificates whose policy routes it nowhere get one e-mail together, keyed
// by the silence alone. A channel and recipient list gets the alert once,
// however many policies route it there.
func (s *Scheduler) alertAgent(ctx context.Context, now time.Time, a *fsm.Agent, seen time.Time, tids []string) error {
	key := agentAlertKey(a.ID, seen)
	certs, err := s.affected(tids)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Agent %s (%s) has sent no heartbeat since %s and is now offline; its %d target(s) serve %d certificate(s), which cannot be deployed there until it is back.",
		a.Name, a.Hostname, seen.UTC().Format(time.RFC3339), len(tids), len(certs))
	// The owners' e-mails by renewal policy ("" for none), policies in order.
	owners := map[string]map[string]bool{}
	var policies []string
	emails := map[string]string{}
	for _, c := range certs {
		if owners[c.RenewalPolicyID] == nil {
			owners[c.RenewalPolicyID] = map[string]bool{}
			policies = append(policies, c.RenewalPolicyID)
		}
		e, ok := emails[c.OwnerID]
		if !ok {
			o, err := s.state.Owner(c.OwnerID)
			switch {
			case err == nil:
				e = o.Email
			case !errors.Is(err, fsm.ErrNotFound):
				return err
			}
			emails[c.OwnerID] = e
		}
		if e != "" {
			owners[c.RenewalPolicyID][e] = true
		}
	}
	slices.Sort(policies)
	var notes []fsm.Notification
	sent := map[string]bool{} // channel and recipients already alerted
	unrouted := map[string]bool{}
	for _, pid := range policies {
		var routes []fsm.NotifyRoute
		if pid != "" {
			p, err := s.state.RenewalPolicy(pid)
			switch {
			case err == nil:
				routes = p.Routes(wire.NotificationAgentOffline)
			case !errors.Is(err, fsm.ErrNotFound):
				return err
			}
		}
		if len(routes) == 0 {
			for e := range owners[pid] {
				unrouted[e] = true
			}
			continue
		}
		for i, r := range routes {
			rcpt := strings.Join(r.Recipients, ",")
			if rcpt == "" && r.Channel == wire.ChannelEmail {
				rcpt = recipientList(owners[pid])
			}
			if sent[string(r.Channel)+"\x00"+rcpt] {
				continue
			}
			sent[string(r.Channel)+"\x00"+rcpt] = true
			k := key + "/" + pid + "/" + string(r.Channel) + "/" + strconv.Itoa(i)
			notes = append(notes, fsm.Notification{ID: notificationID(k), Type: wire.NotificationAgentOffline, Channel: r.Channel,
				Recipient: rcpt, Message: msg, DedupKey: k})
		}
	}
	if len(unrouted) > 0 || len(notes) == 0 {
		notes = append(notes, fsm.Notification{ID: notificationID(key), Type: wire.NotificationAgentOffline, Channel: wire.ChannelEmail,
			Recipient: recipientList(unrouted), Message: msg, DedupKey: key})
	}
	fresh := notes[:0]
	for _, n := range notes {
		done, err := s.state.NotificationKeySeen(n.DedupKey)
		if err != nil {
			return err
		}
		if !done {
			fresh = append(fresh, n)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	err = s.propose(ctx, now, agentRequest(a.ID, seen, now, "alert"), &fsm.CreateNotifications{Notifications: fresh})
	if rejected(err) {
		s.log.Debug("agent alert not queued", "agent", a.ID, "err", err)
		return nil
	}
	return err
}

// affected returns the live (not archived) certificates the targets serve,
// in id order.
func (s *Scheduler) affected(tids []string) ([]fsm.Certificate, error) {
	ids := map[string]bool{}
	for _, tid := range tids {
		l, err := s.state.TargetCertificateIDs(tid)
		if err != nil {
			return nil, err
		}
		for _, id := range l {
			ids[id] = true
		}
	}
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	slices.Sort(sorted)
	var out []fsm.Certificate
	for _, id := range sorted {
		c, err := s.state.Certificate(id)
		if errors.Is(err, fsm.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if c.Status != fsm.CertArchived {
			out = append(out, *c)
		}
	}
	return out, nil
}

// recipientList is the e-mails of set, sorted, comma-separated, within the
// fsm's limit.
func recipientList(set map[string]bool) string {
	list := make([]string, 0, len(set))
	for e := range set {
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
	return b.String()
}
