package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// audit appends an event for the command being applied, chained to the
// previous event. details is marshalled to JSON (nil becomes {}).
func (t *txn) audit(action, resourceType, resourceID string, details any) {
	meta := t.bucket(bucketMeta)
	seq := readU64(meta.Get(metaAuditSeq)) + 1
	raw := json.RawMessage("{}")
	if details != nil {
		b, err := json.Marshal(details)
		must(err)
		raw = b
	}
	ev := AuditEvent{
		ID:           auditID(seq),
		Actor:        t.cmd.Actor,
		ActorType:    t.cmd.ActorType,
		ActorRole:    t.cmd.ActorRole,
		Action:       action,
		ResourceType: resourceType,
		ResourceID:   resourceID,
		Details:      raw,
		Timestamp:    t.now(),
		Seq:          seq,
		RaftIndex:    t.index,
		Via:          t.cmd.Via,
		PrevHash:     string(meta.Get(metaAuditHead)),
	}
	stored := sealAudit(&ev)
	must(t.bucket(bucketAudit).Put(u64(seq), stored))
	must(t.bucket(bucketAuditTime).Put(append(timeKey(ev.Timestamp), u64(seq)...), nil))
	must(meta.Put(metaAuditSeq, u64(seq)))
	must(meta.Put(metaAuditHead, []byte(ev.Hash)))
	t.addCount(1, string(bucketAudit))
}

func auditID(seq uint64) string { return fmt.Sprintf("audit-%012d", seq) }

// auditSeq is the inverse of auditID: an event's id names its position.
func auditSeq(id string) (uint64, bool) {
	digits, ok := strings.CutPrefix(id, "audit-")
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || auditID(seq) != id {
		return 0, false
	}
	return seq, true
}

// sealAudit sets ev.Hash and returns the event's stored bytes, marshalling it
// once: Hash is the last field, so the unsealed encoding ends in an empty
// hash that the seal fills in, giving what marshalling the sealed event gives.
func sealAudit(ev *AuditEvent) []byte {
	ev.Hash = ""
	unsealed, err := json.Marshal(ev)
	must(err)
	sum := sha256.Sum256(unsealed)
	ev.Hash = hex.EncodeToString(sum[:])
	const empty = `"hash":""}`
	if !bytes.HasSuffix(unsealed, []byte(empty)) {
		sealed, err := json.Marshal(ev)
		must(err)
		return sealed
	}
	sealed := append(unsealed[:len(unsealed)-len(empty)], `"hash":"`...)
	sealed = append(sealed, ev.Hash...)
	return append(sealed, `"}`...)
}

// auditHash is the SHA-256 (hex) of the event with its Hash field empty.
// Events are stored with Go's encoding/json in struct order, so the same
// event always hashes the same on every node.
func auditHash(ev *AuditEvent) string {
	c := *ev
	c.Hash = ""
	b, _ := json.Marshal(&c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ChainBreak names the first audit event whose hash or link does not match.
type ChainBreak struct {
	Seq    uint64 `json:"seq"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// AuditVerification is the result of walking the whole audit chain.
type AuditVerification struct {
	Events uint64      `json:"events"`
	Head   string      `json:"head"`
	Valid  bool        `json:"valid"`
	Break  *ChainBreak `json:"first_break,omitempty"`
}

// VerifyAudit recomputes every hash of the chain and reports the first break.
func (f *FSM) VerifyAudit() (AuditVerification, error) {
	var res AuditVerification
	err := f.view(func(tx *bolt.Tx) error {
		res = verifyAuditTx(tx)
		return nil
	})
	return res, err
}

func verifyAuditTx(tx *bolt.Tx) AuditVerification {
	res := AuditVerification{Valid: true}
	prev := ""
	var want uint64 = 1
	c := tx.Bucket(bucketAudit).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq := readU64(k)
		var ev AuditEvent
		brk := func(reason string) AuditVerification {
			res.Valid = false
			res.Break = &ChainBreak{Seq: seq, ID: ev.ID, Reason: reason}
			return res
		}
		if err := json.Unmarshal(v, &ev); err != nil {
			return brk("unreadable event: " + err.Error())
		}
		if seq != want {
			return brk(fmt.Sprintf("sequence gap: expected %d", want))
		}
		if ev.PrevHash != prev {
			return brk("prev_hash does not match the previous event's hash")
		}
		if auditHash(&ev) != ev.Hash {
			return brk("hash does not match the event's content")
		}
		prev = ev.Hash
		res.Events = seq
		want++
	}
	if head := string(tx.Bucket(bucketMeta).Get(metaAuditHead)); head != prev {
		res.Valid = false
		res.Break = &ChainBreak{Seq: want, Reason: "chain head does not match the last event (events removed from the end)"}
	}
	res.Head = prev
	return res
}
