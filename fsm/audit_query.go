package fsm

import (
	"bytes"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/api/wire"
)

// AuditFilter selects audit events; empty fields match everything. From is
// inclusive, To exclusive.
type AuditFilter struct {
	Actor        string
	ActorType    wire.ActorType
	Action       string
	ResourceType string
	ResourceID   string
	From         *time.Time
	To           *time.Time
}

// AuditEvents lists audit events in time order, through the time index.
func (f *FSM) AuditEvents(flt AuditFilter, p Page) (List[AuditEvent], error) {
	if at, ok := ActorTypes.Canonical(string(flt.ActorType)); ok {
		flt.ActorType = at
	}
	unfiltered := flt == AuditFilter{}
	var out List[AuditEvent]
	err := f.view(func(tx *bolt.Tx) error {
		if unfiltered {
			l, err := scanBucket[AuditEvent](tx, bucketAudit, p, nil)
			out = l
			return err
		}
		pg := newPager[AuditEvent](p)
		events := tx.Bucket(bucketAudit)
		c := tx.Bucket(bucketAuditTime).Cursor()
		var k []byte
		if flt.From != nil {
			k, _ = c.Seek(timeKey(*flt.From))
		} else {
			k, _ = c.First()
		}
		var end []byte
		if flt.To != nil {
			end = timeKey(*flt.To)
		}
		for ; k != nil; k, _ = c.Next() {
			if end != nil && bytes.Compare(k[:8], end) >= 0 {
				break
			}
			var ev AuditEvent
			if err := json.Unmarshal(events.Get(k[8:]), &ev); err != nil {
				return unreadable(k, err)
			}
			if (flt.Actor != "" && ev.Actor != flt.Actor) || (flt.ActorType != "" && ev.ActorType != flt.ActorType) ||
				(flt.Action != "" && ev.Action != flt.Action) || (flt.ResourceType != "" && ev.ResourceType != flt.ResourceType) ||
				(flt.ResourceID != "" && ev.ResourceID != flt.ResourceID) {
				continue
			}
			if pg.wants() {
				pg.add(ev)
			}
		}
		out = List[AuditEvent]{Items: pg.items, Total: pg.seen}
		return nil
	})
	return out, err
}

// AuditEvent returns the audit event with id.
func (f *FSM) AuditEvent(id string) (*AuditEvent, error) {
	var out AuditEvent
	err := f.view(func(tx *bolt.Tx) error {
		seq, ok := auditSeq(id)
		if !ok {
			return notFound("audit event", id)
		}
		found, err := getJSON(tx.Bucket(bucketAudit), u64(seq), &out)
		if err == nil && !found {
			err = notFound("audit event", id)
		}
		return err
	})
	return &out, err
}
