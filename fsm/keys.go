package fsm

import (
	"encoding/binary"
	"math"
	"time"
)

// Bucket names. The fourteen tables keep the original's table names; the rest
// are indexes and bookkeeping. All keys are built by the functions in this file.
var (
	bucketTeams           = []byte("teams")
	bucketOwners          = []byte("owners")
	bucketRenewalPolicies = []byte("renewal_policies")
	bucketIssuers         = []byte("issuers")
	bucketAgents          = []byte("agents")
	bucketCertificates    = []byte("managed_certificates")
	bucketTargets         = []byte("deployment_targets")
	bucketMappings        = []byte("certificate_target_mappings")
	bucketVersions        = []byte("certificate_versions")
	bucketJobs            = []byte("jobs")
	bucketPolicyRules     = []byte("policy_rules")
	bucketViolations      = []byte("policy_violations")
	bucketAudit           = []byte("audit_events")
	bucketNotifications   = []byte("notification_events")

	bucketMeta      = []byte("meta")     // applied index and term, cluster id, audit head
	bucketMembers   = []byte("members")  // node id → Member
	bucketCounts    = []byte("counts")   // count key → uint64
	bucketRequests  = []byte("requests") // request id → stored result
	bucketReqByIdx  = []byte("requests_by_index")
	bucketNames     = []byte("idx_names") // table \x00 name → id, for unique names
	bucketCertExp   = []byte("idx_certificates_by_expiry")
	bucketCertStat  = []byte("idx_certificates_by_status")
	bucketMapByTgt  = []byte("idx_mappings_by_target")
	bucketVerByCert = []byte("idx_versions_by_certificate")
	bucketVerByFP   = []byte("idx_versions_by_fingerprint")
	bucketJobStat   = []byte("idx_jobs_by_status")
	bucketJobAgent  = []byte("idx_jobs_by_agent")
	bucketJobCert   = []byte("idx_jobs_by_certificate")
	bucketAuditTime = []byte("idx_audit_by_time")
	bucketViolCert  = []byte("idx_violations_by_certificate")
	bucketViolRule  = []byte("idx_violations_by_rule")
	bucketNotifStat = []byte("idx_notifications_by_status")
	bucketNotifKey  = []byte("idx_notifications_by_dedup_key")

	bucketAPIKeys        = []byte("api_keys")                       // key id → APIKey
	bucketKeyByHash      = []byte("idx_api_keys_by_hash")           // sha-256 hex → key id
	bucketKeyByAgent     = []byte("idx_api_keys_by_agent")          // agent \x00 key id
	bucketRevocations    = []byte("revocations")                    // issuer \x00 serial → Revocation
	bucketRevByCert      = []byte("idx_revocations_by_certificate") // certificate \x00 issuer \x00 serial
	bucketIssuerMaterial = []byte("issuer_material")                // issuer id → sealed CA material (JSON)
	bucketServerKeys     = []byte("server_keys")                    // certificate id → ServerKey (JSON): its current version's sealed key
	bucketJoinTokens     = []byte("join_tokens")                    // token id → JoinToken (its secret only as a hash)
	bucketNodeCertRevoke = []byte("node_cert_revocations")          // node certificate serial → NodeCertRevocation
	// bucketOpenJobs holds the unfinished jobs of each certificate, keyed
	// certificate \x00 slot \x00 job (see openSlot): a lifecycle command
	// asks whether a certificate has an open renewal with one seek.
	bucketOpenJobs = []byte("idx_open_jobs_by_certificate")
	// bucketRenewalScan is the expiry index of the certificates the renewal
	// check looks after (Watched, not archived, not ended): expiry \x00 id.
	bucketRenewalScan = []byte("idx_renewal_scan")
	// bucketScanEnded marks a certificate the renewal check is done with
	// (EndExpiryWatch): certificate id → the expiry (timeKey) it ended at.
	// A new expiry puts it back in the scan.
	bucketScanEnded = []byte("renewal_scan_ended")
	// bucketACMEChallenges holds the live answers to ACME HTTP-01
	// challenges: token → ACMEChallenge.
	bucketACMEChallenges = []byte("acme_challenges")
	// bucketCertWeak holds the id of each certificate at risk weak_keys
	// (weakAtRisk): its list reads these keys instead of every record.
	bucketCertWeak = []byte("idx_certificates_weak")
	// bucketRenewalInfo indexes the certificates whose CA suggested a
	// renewal window still in force (RenewalInfoValid): RenewAt \x00 id.
	bucketRenewalInfo = []byte("idx_renewal_info")
)

// allBuckets is every bucket Open creates; a snapshot lacking one is refused.
var allBuckets = [][]byte{
	bucketTeams, bucketOwners, bucketRenewalPolicies, bucketIssuers, bucketAgents,
	bucketCertificates, bucketTargets, bucketMappings, bucketVersions, bucketJobs,
	bucketPolicyRules, bucketViolations, bucketAudit, bucketNotifications,
	bucketMeta, bucketMembers, bucketCounts, bucketRequests, bucketReqByIdx, bucketNames,
	bucketCertExp, bucketCertStat, bucketMapByTgt, bucketVerByCert, bucketVerByFP,
	bucketJobStat, bucketJobAgent, bucketJobCert, bucketAuditTime,
	bucketViolCert, bucketViolRule, bucketNotifStat, bucketNotifKey,
	bucketAPIKeys, bucketKeyByHash, bucketKeyByAgent, bucketRevocations, bucketRevByCert, bucketIssuerMaterial,
	bucketServerKeys, bucketJoinTokens, bucketNodeCertRevoke,
	bucketOpenJobs, bucketRenewalScan, bucketScanEnded, bucketACMEChallenges, bucketCertWeak,
	bucketRenewalInfo,
}

// laterBuckets were added after the first release, before the schema had
// versions that moved: a snapshot of an older build lacks them and is still
// restored, Open creating them empty, as it does on every replica. Buckets
// added since come with a migration (schema.go, bucketSince), except those
// that hold only short-lived records no older file can have had
// (acme_challenges: a file without it has no live challenge) or whose
// records are optional fields no older file has (idx_renewal_info: no
// certificate of a file without it holds a renewal window).
var laterBuckets = map[string]bool{string(bucketIssuerMaterial): true, string(bucketServerKeys): true,
	string(bucketJoinTokens): true, string(bucketNodeCertRevoke): true, string(bucketACMEChallenges): true,
	string(bucketRenewalInfo): true}

var (
	metaAppliedIndex = []byte("applied_index")
	metaAppliedTerm  = []byte("applied_term")
	metaClusterID    = []byte("cluster_id")
	metaClusterCA    = []byte("cluster_ca") // ClusterCA (JSON): the CA of node certificates
	metaAuditSeq     = []byte("audit_seq")
	metaAuditHead    = []byte("audit_head")
	metaSchema       = []byte("schema_version") // the stored schema's version (schema.go)
	metaPolicySweep  = []byte("policy_sweep")   // PolicySweep (JSON): the re-evaluation under way, if any
)

const sep = 0x00

// compound joins parts with a NUL byte, which ids and names never contain.
func compound(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, sep)
		}
		b = append(b, p...)
	}
	return b
}

// prefix is compound(parts...) followed by the separator, for prefix scans.
func prefix(parts ...string) []byte {
	return append(compound(parts...), sep)
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func readU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Times outside what UnixNano represents (1678..2262) are clamped, so a
// "never expires" date such as 9999-12-31 sorts last instead of wrapping.
var (
	minKeyTime = time.Unix(0, 0)
	maxKeyTime = time.Unix(0, math.MaxInt64)
)

// timeKey orders times bytewise; times before 1970 sort first as zero.
func timeKey(t time.Time) []byte {
	switch {
	case t.Before(minKeyTime):
		return u64(0)
	case t.After(maxKeyTime):
		return u64(math.MaxInt64)
	}
	return u64(uint64(t.UnixNano()))
}

// timeIDKey is an index key ordered by time, then id.
func timeIDKey(t time.Time, id string) []byte {
	return append(timeKey(t), id...)
}

func nameKey(table []byte, name string) []byte {
	return compound(string(table), name)
}

func countKey(parts ...string) []byte {
	return compound(parts...)
}
