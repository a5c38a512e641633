package wire

// AuditVerification is the answer of GET /audit/verify: the result of
// recomputing every hash of the audit chain. Events counts the events that
// verified; Head is the hash of the last of them. When Valid is false,
// FirstBreak names the first event whose hash or link does not match.
type AuditVerification struct {
	Valid      bool        `json:"valid"`
	Events     uint64      `json:"events"`
	Head       string      `json:"head"`
	FirstBreak *ChainBreak `json:"first_break,omitempty"`
}

// ChainBreak names the first audit event that breaks the chain: its sequence
// number, its id (empty when the break is past the last event) and why.
type ChainBreak struct {
	Seq    uint64 `json:"seq"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}
