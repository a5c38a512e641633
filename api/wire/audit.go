package wire

// AuditVerification is the answer of GET /audit/verify: the result of
// recomputing every link of the answering node's audit chain. Events counts
// the events that verified; Head is the hash of the last of them. When Valid
// is false, FirstBreak names the first event whose hash or link does not
// match. Keyed says the node holds the audit key (links are HMAC-SHA256 under
// a key derived from the KEK); KeyedFrom is the first keyed event (0: none)
// and UnkeyedEvents counts the plain SHA-256 links written before it.
type AuditVerification struct {
	Valid         bool        `json:"valid"`
	Events        uint64      `json:"events"`
	Head          string      `json:"head"`
	FirstBreak    *ChainBreak `json:"first_break,omitempty"`
	Keyed         bool        `json:"keyed"`
	KeyedFrom     uint64      `json:"keyed_from,omitempty"`
	UnkeyedEvents uint64      `json:"unkeyed_events"`
}

// AuditHead is the answer of GET /audit/head: the head of the answering
// node's audit chain as of raft index AtIndex, that is the last event written
// by an entry at or below it (Seq 0 and Hash empty when there is none), and
// the node's own applied index. Nodes holding the same chain report the same
// Seq and Hash for the same AtIndex.
type AuditHead struct {
	AtIndex      uint64 `json:"at_index"`
	AppliedIndex uint64 `json:"applied_index"`
	Seq          uint64 `json:"seq"`
	ID           string `json:"id,omitempty"`
	Hash         string `json:"hash"`
	RaftIndex    uint64 `json:"raft_index"`
}

// ChainBreak names the first audit event that breaks the chain: its sequence
// number, its id (empty when the break is past the last event) and why.
type ChainBreak struct {
	Seq    uint64 `json:"seq"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}
