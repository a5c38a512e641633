package fsm

import (
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/api/wire"
)

func (n *Notification) validate() error {
	if err := ValidID("id", n.ID); err != nil {
		return err
	}
	var err error
	if n.Type, err = validEnum("type", n.Type, NotificationTypes, true); err != nil {
		return err
	}
	if n.Channel, err = validEnum("channel", n.Channel, Channels, true); err != nil {
		return err
	}
	if err := optionalID("certificate_id", n.CertificateID); err != nil {
		return err
	}
	if err := ValidText("recipient", n.Recipient, 1024, false); err != nil {
		return err
	}
	if err := ValidText("message", n.Message, MaxTextLength, true); err != nil {
		return err
	}
	if n.Status == "" {
		n.Status = NotifyPending
	}
	if n.Status != NotifyPending {
		return invalidf("status", "a new notification is pending, not %q", n.Status)
	}
	return ValidText("dedup_key", n.DedupKey, 512, false)
}

type notificationStore struct{ t *txn }

func (s notificationStore) get(id string) (*Notification, error) {
	var n Notification
	found, err := getJSON(s.t.bucket(bucketNotifications), []byte(id), &n)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound("notification", id)
	}
	return &n, nil
}

func (s notificationStore) put(old, n *Notification) {
	t := s.t
	putJSON(t.bucket(bucketNotifications), []byte(n.ID), n)
	stat := t.bucket(bucketNotifStat)
	if old == nil {
		t.addCount(1, string(bucketNotifications))
		if n.DedupKey != "" {
			must(t.bucket(bucketNotifKey).Put([]byte(n.DedupKey), []byte(n.ID)))
		}
	} else if old.Status != n.Status {
		must(stat.Delete(compound(string(old.Status), old.ID)))
		t.addCount(-1, string(bucketNotifications), "status", string(old.Status))
	}
	if old == nil || old.Status != n.Status {
		must(stat.Put(compound(string(n.Status), n.ID), nil))
		t.addCount(1, string(bucketNotifications), "status", string(n.Status))
	}
}

// CreateNotifications queues notifications. One whose DedupKey was seen before
// is skipped: that is how an alert threshold fires once per certificate however
// often the renewal check runs. The result is the ids actually queued.
type CreateNotifications struct {
	Notifications []Notification `json:"notifications"`
}

func (CreateNotifications) CommandType() CommandType { return CommandCreateNotifications }
func (p *CreateNotifications) Validate() error {
	if len(p.Notifications) == 0 || len(p.Notifications) > MaxBatch {
		return invalidf("notifications", "between 1 and %d notifications are required", MaxBatch)
	}
	for i := range p.Notifications {
		if err := p.Notifications[i].validate(); err != nil {
			return err
		}
	}
	return nil
}
func (p *CreateNotifications) apply(t *txn) (any, error) {
	seen := map[string]bool{}
	for _, n := range p.Notifications {
		if seen[n.ID] || t.exists(bucketNotifications, n.ID) {
			return nil, conflictf("notification", n.ID, "notification %q already exists", n.ID)
		}
		seen[n.ID] = true
		if err := t.requireExists(bucketCertificates, "certificate", "certificate_id", n.CertificateID); err != nil {
			return nil, err
		}
	}
	queued := []string{}
	keys := map[string]bool{}
	for _, n := range p.Notifications {
		if n.DedupKey != "" {
			if keys[n.DedupKey] || t.bucket(bucketNotifKey).Get([]byte(n.DedupKey)) != nil {
				continue
			}
			keys[n.DedupKey] = true
		}
		n.CreatedAt, n.Attempts = t.now(), 0
		notificationStore{t}.put(nil, &n)
		t.audit("notification_queued", "notification", n.ID, map[string]string{"type": string(n.Type), "channel": string(n.Channel), "certificate_id": n.CertificateID})
		queued = append(queued, n.ID)
	}
	return queued, nil
}

// MarkNotificationSent records a delivery.
type MarkNotificationSent struct {
	ID string `json:"id"`
}

func (MarkNotificationSent) CommandType() CommandType { return CommandMarkNotificationSent }
func (p *MarkNotificationSent) Validate() error       { return ValidID("id", p.ID) }
func (p *MarkNotificationSent) apply(t *txn) (any, error) {
	s := notificationStore{t}
	old, err := s.get(p.ID)
	if err != nil {
		return nil, err
	}
	if old.Status != NotifyPending && old.Status != NotifyFailed {
		return nil, statef("notification", p.ID, "notification %q is %s", p.ID, old.Status)
	}
	n, now := *old, t.now()
	n.Status, n.SentAt, n.Error, n.NextAttemptAt = NotifySent, &now, "", nil
	n.Attempts++
	s.put(old, &n)
	t.audit("notification_sent", "notification", n.ID, map[string]any{"attempts": n.Attempts})
	return nil, nil
}

// MarkNotificationFailed records a failed delivery: failed and due again at
// RetryAt, or dead when Dead is set (the retry budget is spent).
type MarkNotificationFailed struct {
	ID      string     `json:"id"`
	Error   string     `json:"error"`
	RetryAt *time.Time `json:"retry_at,omitempty"`
	Dead    bool       `json:"dead,omitempty"`
}

func (MarkNotificationFailed) CommandType() CommandType { return CommandMarkNotificationFailed }
func (p *MarkNotificationFailed) Validate() error {
	if err := ValidID("id", p.ID); err != nil {
		return err
	}
	if !p.Dead && p.RetryAt == nil {
		return invalidf("retry_at", "retry_at is required unless the notification is dead")
	}
	return ValidText("error", p.Error, MaxTextLength, true)
}
func (p *MarkNotificationFailed) apply(t *txn) (any, error) {
	s := notificationStore{t}
	old, err := s.get(p.ID)
	if err != nil {
		return nil, err
	}
	if old.Status != NotifyPending && old.Status != NotifyFailed {
		return nil, statef("notification", p.ID, "notification %q is %s", p.ID, old.Status)
	}
	n := *old
	n.Attempts++
	n.Error, n.NextAttemptAt, n.Status = p.Error, p.RetryAt, NotifyFailed
	if p.Dead {
		n.Status, n.NextAttemptAt = NotifyDead, nil
	}
	s.put(old, &n)
	t.audit("notification_"+string(n.Status), "notification", n.ID, map[string]any{"error": p.Error, "attempts": n.Attempts})
	return nil, nil
}

// MarkNotificationRead marks a notification read in the dashboard.
type MarkNotificationRead struct {
	ID string `json:"id"`
}

func (MarkNotificationRead) CommandType() CommandType { return CommandMarkNotificationRead }
func (p *MarkNotificationRead) Validate() error       { return ValidID("id", p.ID) }
func (p *MarkNotificationRead) apply(t *txn) (any, error) {
	s := notificationStore{t}
	old, err := s.get(p.ID)
	if err != nil {
		return nil, err
	}
	if old.Status == NotifyRead {
		return nil, nil
	}
	n := *old
	n.Status = NotifyRead
	s.put(old, &n)
	t.audit("notification_read", "notification", n.ID, nil)
	return nil, nil
}

// RequeueNotification puts a Failed or Dead notification back to Pending
// with its attempts reset, due at once: an operator's retry after fixing
// what made its deliveries fail. Any other status is refused (CodeState): a
// Sent or Read one went out, a Pending one is queued already.
type RequeueNotification struct {
	ID string `json:"id"`
}

func (RequeueNotification) CommandType() CommandType { return CommandRequeueNotification }
func (p *RequeueNotification) Validate() error       { return ValidID("id", p.ID) }
func (p *RequeueNotification) apply(t *txn) (any, error) {
	s := notificationStore{t}
	old, err := s.get(p.ID)
	if err != nil {
		return nil, err
	}
	if old.Status != NotifyFailed && old.Status != NotifyDead {
		return nil, statef("notification", p.ID, "notification %q is %s; only a Failed or Dead notification can be retried", p.ID, old.Status)
	}
	n := *old
	n.Status, n.Attempts, n.NextAttemptAt = NotifyPending, 0, nil
	n.Requeues++
	s.put(old, &n)
	t.audit("notification_requeued", "notification", n.ID, map[string]any{"from": old.Status, "attempts": old.Attempts, "error": old.Error})
	return nil, nil
}

// Notification returns the notification with id.
func (f *FSM) Notification(id string) (*Notification, error) {
	var out *Notification
	err := f.view(func(tx *bolt.Tx) (err error) {
		out, err = notificationStore{&txn{tx: tx}}.get(id)
		return err
	})
	return out, err
}

// NotificationFilter selects notifications; empty fields match everything.
type NotificationFilter struct {
	Status        wire.NotificationStatus
	Type          wire.NotificationType
	Channel       wire.Channel
	CertificateID string
}

// Notifications lists notifications in id order.
func (f *FSM) Notifications(flt NotificationFilter, p Page) (List[Notification], error) {
	match := func(n *Notification) bool {
		return (flt.Status == "" || n.Status == flt.Status) && (flt.Type == "" || n.Type == flt.Type) &&
			(flt.Channel == "" || n.Channel == flt.Channel) && (flt.CertificateID == "" || n.CertificateID == flt.CertificateID)
	}
	var out List[Notification]
	err := f.view(func(tx *bolt.Tx) (err error) {
		switch {
		case flt.Status != "" && flt.Type == "" && flt.Channel == "" && flt.CertificateID == "":
			var raw List[json.RawMessage]
			if raw, err = rawIndexCounted(tx, bucketNotifStat, prefix(string(flt.Status)), bucketNotifications, p,
				readCount(tx, string(bucketNotifications), "status", string(flt.Status))); err == nil {
				out, err = decodeAll[Notification](raw)
			}
		case flt.Status != "":
			out, err = scanIndex(tx, bucketNotifStat, prefix(string(flt.Status)), 0, bucketNotifications, p, match)
		case flt == NotificationFilter{}:
			out, err = scanBucket[Notification](tx, bucketNotifications, p, nil)
		default:
			out, err = scanBucket(tx, bucketNotifications, p, match)
		}
		return err
	})
	return out, err
}
