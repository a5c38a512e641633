package scheduler

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

// Every id and request id the scheduler proposes is built here, from the
// decision alone (never from randomness), so the same decision taken twice,
// by a retry or by the next leader, names the same records and is a no-op.

// expiryRequest is the request id of a renewal check decision about a
// certificate expiring at exp.
func expiryRequest(certID string, exp time.Time, what string) string {
	return fmt.Sprintf("renewal/%s/%d/%s", certID, exp.Unix(), what)
}

// statusRequest is the request id of a status change of certificate c.
// Every change of a certificate stamps updated_at, so the same change
// decided again later (the status came back meanwhile) gets a new id, while
// the same decision taken twice on the same state does not.
func statusRequest(c *fsm.Certificate, to wire.CertificateStatus) string {
	return fmt.Sprintf("renewal/%s/%d/status/%s-%s/%d", c.ID, c.ExpiresAt.Unix(), c.Status, to, c.UpdatedAt.UnixNano())
}

// expiryAlertKey is the dedup key of a certificate's alert for a threshold:
// one per threshold per certificate version (a renewal brings a new expiry).
func expiryAlertKey(certID string, threshold int, exp time.Time) string {
	return fmt.Sprintf("%s/expiry/%d/%d", certID, threshold, exp.Unix())
}

// renewalJobID names the automatic renewal job of a certificate for the
// expiry exp: at most one such job per certificate version.
func renewalJobID(certID string, exp time.Time) string {
	id := "job-renew-" + certID + "-" + strconv.FormatInt(exp.Unix(), 10)
	if len(id) > fsm.MaxIDLength {
		id = "job-renew-" + digest(certID+"/"+strconv.FormatInt(exp.Unix(), 10))
	}
	return id
}

// agentRequest is the request id of a health decision, taken at now, about
// an agent last seen at seen. An agent record carries no version, so the
// decision's time is in it: Online again without a newer heartbeat (an
// older one arriving late), an agent must go Offline again. Taking the
// decision twice is still harmless: the status change is a compare and set
// on Online, the alert is deduplicated by key.
func agentRequest(agentID string, seen, now time.Time, what string) string {
	return fmt.Sprintf("health/%s/%d/%s/%d", agentID, seen.Unix(), what, now.UnixNano())
}

// agentAlertKey is the dedup key of an agent's offline alert: one per
// silence (a heartbeat, then a new silence, makes a new key).
func agentAlertKey(agentID string, seen time.Time) string {
	return fmt.Sprintf("agent/%s/offline/%d", agentID, seen.Unix())
}

// jobRequest is the request id of a step of the attempt of job started
// (claimed) at started.
func jobRequest(jobID string, started time.Time, what string) string {
	return fmt.Sprintf("jobs/%s/%d/%s", jobID, started.UnixNano(), what)
}

// claimRequest is the request id of a claim (or extension) of a job at now.
func claimRequest(jobID string, now time.Time, what string) string {
	return fmt.Sprintf("jobs/%s/%s/%d", jobID, what, now.UnixNano())
}

// renewalFailedKey is the dedup key of the alert that a job failed for good.
func renewalFailedKey(certID, jobID string) string {
	return certID + "/renewal-failed/" + jobID
}

// notifyRequest is the request id of the outcome of a notification's
// attempt after attempts earlier ones: one outcome per attempt, so a retry
// after a lost leadership is a no-op.
func notifyRequest(id string, requeues, attempts int, what string) string {
	if requeues > 0 { // attempts restarted from 0 after an operator's retry
		return fmt.Sprintf("notify/%s/r%d/%d/%s", id, requeues, attempts, what)
	}
	return fmt.Sprintf("notify/%s/%d/%s", id, attempts, what)
}

// notificationID names the notification with dedup key key.
func notificationID(key string) string { return "ne-" + digest(key) }

// digest is a short, stable stand-in for s in an id.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:12])
}
