package fsm

import (
	"bytes"
	"crypto/hmac"
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
	raw := json.RawMessage("{}")
	if details != nil {
		b, err := json.Marshal(details)
		must(err)
		raw = b
	}
	t.appendAudit(AuditEvent{
		Actor:        t.cmd.Actor,
		ActorType:    t.cmd.ActorType,
		ActorRole:    t.cmd.ActorRole,
		Action:       action,
		ResourceType: resourceType,
		ResourceID:   resourceID,
		Details:      raw,
		Timestamp:    t.now(),
		Via:          t.cmd.Via,
	})
}

// appendAudit numbers ev, links it to the head of the chain and stores it
// with its time index: ev's ID, Seq, RaftIndex, PrevHash, Chain and Hash are
// the chain's, whatever ev held.
func (t *txn) appendAudit(ev AuditEvent) {
	meta := t.bucket(bucketMeta)
	seq := readU64(meta.Get(metaAuditSeq)) + 1
	ev.ID, ev.Seq, ev.RaftIndex = auditID(seq), seq, t.index
	ev.PrevHash = string(meta.Get(metaAuditHead))
	stored := sealAudit(&ev, t.auditKey)
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

// ChainHMAC is the Chain of a keyed link: its Hash is the HMAC-SHA256, under
// the FSM's audit key, of the event's JSON with Hash empty (Chain included).
// A link with an empty Chain is a plain SHA-256 of the same bytes, which
// anyone holding the state file can recompute; see DESIGN.md for when each
// is written and accepted.
const ChainHMAC = "hmac-sha256"

// sealAudit sets ev.Chain and ev.Hash, keyed when key is not empty, and
// returns the event's stored bytes, marshalling it once: Hash is the last
// field, so the unsealed encoding ends in an empty hash that the seal fills
// in, giving what marshalling the sealed event gives.
func sealAudit(ev *AuditEvent, key []byte) []byte {
	ev.Chain = ""
	if len(key) > 0 {
		ev.Chain = ChainHMAC
	}
	ev.Hash = ""
	unsealed, err := json.Marshal(ev)
	must(err)
	ev.Hash = linkHash(unsealed, key)
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

// linkHash is the hex HMAC-SHA256 of unsealed under key, or its SHA-256
// when key is empty.
func linkHash(unsealed, key []byte) string {
	if len(key) == 0 {
		sum := sha256.Sum256(unsealed)
		return hex.EncodeToString(sum[:])
	}
	m := hmac.New(sha256.New, key)
	m.Write(unsealed)
	return hex.EncodeToString(m.Sum(nil))
}

// auditHash recomputes the link of ev with key (nil for a plain SHA-256
// link): the hash of the event with its Hash field empty. Events are stored
// with Go's encoding/json in struct order, so the same event always hashes
// the same on every node.
func auditHash(ev *AuditEvent, key []byte) string {
	c := *ev
	c.Hash = ""
	b, _ := json.Marshal(&c)
	return linkHash(b, key)
}

// ChainBreak names the first audit event whose hash or link does not match.
type ChainBreak struct {
	Seq    uint64 `json:"seq"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// AuditVerification is the result of walking the whole audit chain. Keyed
// says the verifier held the audit key; KeyedFrom is the seq of the first
// keyed link (0: none); UnkeyedEvents counts the plain SHA-256 links that
// verified, all before KeyedFrom.
type AuditVerification struct {
	Events        uint64      `json:"events"`
	Head          string      `json:"head"`
	Valid         bool        `json:"valid"`
	Break         *ChainBreak `json:"first_break,omitempty"`
	Keyed         bool        `json:"keyed"`
	KeyedFrom     uint64      `json:"keyed_from,omitempty"`
	UnkeyedEvents uint64      `json:"unkeyed_events"`
}

// VerifyAudit recomputes every link of the chain and reports the first
// break. With an audit key (Options.AuditKey) it checks keyed links and
// accepts plain SHA-256 links only before the first keyed one, and a chain
// of events none of which is keyed is a break: a node with the key writes
// keyed links, so such a chain was rewritten by someone without it (or
// nothing has changed since the upgrade that brought keyed links). Without
// a key, a keyed link is a break it cannot check.
func (f *FSM) VerifyAudit() (AuditVerification, error) {
	var res AuditVerification
	err := f.view(func(tx *bolt.Tx) error {
		res = verifyAuditTx(tx, f.opts.AuditKey)
		return nil
	})
	return res, err
}

func verifyAuditTx(tx *bolt.Tx, key []byte) AuditVerification {
	res := AuditVerification{Valid: true, Keyed: len(key) > 0}
	prev := ""
	var want uint64 = 1
	var last AuditEvent
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
		switch ev.Chain {
		case "":
			if res.KeyedFrom != 0 {
				return brk(fmt.Sprintf("plain SHA-256 link after the chain became keyed at event %d: rewritten by someone without the audit key, "+
					"or written by a node without it (--kek-file)", res.KeyedFrom))
			}
			if auditHash(&ev, nil) != ev.Hash {
				return brk("hash does not match the event's content")
			}
			res.UnkeyedEvents++
		case ChainHMAC:
			if len(key) == 0 {
				return brk("keyed link (" + ChainHMAC + ") that this node cannot check: it has no audit key (--kek-file)")
			}
			if !hmac.Equal([]byte(auditHash(&ev, key)), []byte(ev.Hash)) {
				return brk("hash does not match the event's content under this cluster's audit key")
			}
			if res.KeyedFrom == 0 {
				res.KeyedFrom = seq
			}
		default:
			return brk(fmt.Sprintf("unknown chain %q", ev.Chain))
		}
		prev = ev.Hash
		res.Events = seq
		last = ev
		want++
	}
	res.Head = prev
	if head := string(tx.Bucket(bucketMeta).Get(metaAuditHead)); head != prev {
		res.Valid = false
		res.Break = &ChainBreak{Seq: want, Reason: "chain head does not match the last event (events removed from the end)"}
		return res
	}
	if len(key) > 0 && res.Events > 0 && res.KeyedFrom == 0 {
		res.Valid = false
		res.Break = &ChainBreak{Seq: last.Seq, ID: last.ID, Reason: "no keyed link: every event is a plain SHA-256 link, which anyone with the " +
			"state file can recompute; a node with the audit key writes keyed links, so the chain was rewritten without it, " +
			"unless nothing has changed since the upgrade to keyed links (then verify again after the next change)"}
	}
	return res
}

// AuditHead is the head of the audit chain as of a raft index: the last
// event written by an entry at or below AtIndex (Seq 0 and Hash empty when
// there is none). Two replicas that hold the same chain report the same head
// for the same AtIndex; AppliedIndex is the replica's own progress.
type AuditHead struct {
	AtIndex      uint64 `json:"at_index"`
	AppliedIndex uint64 `json:"applied_index"`
	Seq          uint64 `json:"seq"`
	ID           string `json:"id,omitempty"`
	Hash         string `json:"hash"`
	RaftIndex    uint64 `json:"raft_index"`
}

// AuditHeadAt returns the head of the chain as of raft index at; 0 means the
// applied index. An index past the applied one is an error with Code
// CodeState and Field "at_index": this replica cannot answer for it yet.
func (f *FSM) AuditHeadAt(at uint64) (AuditHead, error) {
	var h AuditHead
	err := f.view(func(tx *bolt.Tx) error {
		h.AppliedIndex = readU64(tx.Bucket(bucketMeta).Get(metaAppliedIndex))
		h.AtIndex = at
		if at == 0 {
			h.AtIndex = h.AppliedIndex
		}
		if h.AtIndex > h.AppliedIndex {
			return &Error{Code: CodeState, Field: "at_index", Message: fmt.Sprintf(
				"at_index %d is past this node's applied index %d: ask again once it has caught up", h.AtIndex, h.AppliedIndex)}
		}
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var ev struct {
				ID        string `json:"id"`
				RaftIndex uint64 `json:"raft_index"`
				Hash      string `json:"hash"`
			}
			if err := json.Unmarshal(v, &ev); err != nil {
				return unreadable([]byte(auditID(readU64(k))), err)
			}
			if ev.RaftIndex <= h.AtIndex {
				h.Seq, h.ID, h.Hash, h.RaftIndex = readU64(k), ev.ID, ev.Hash, ev.RaftIndex
				break
			}
		}
		return nil
	})
	return h, err
}
