package wire

import "time"

// ACMEChallenge is an ACME HTTP-01 answer an agent serves on its host
// (issuer config http01_responder: agent): GET
// /.well-known/acme-challenge/{token} answers key_authorization until
// expires_at.
type ACMEChallenge struct {
	Token            string    `json:"token"`
	KeyAuthorization string    `json:"key_authorization"`
	CertificateID    string    `json:"certificate_id"`
	ExpiresAt        time.Time `json:"expires_at"`
	// Confirmed: an agent told the cluster it serves this answer.
	Confirmed bool `json:"confirmed"`
}

// ACMEChallengesResponse is the answer of GET /agents/{id}/acme-challenges.
type ACMEChallengesResponse struct {
	Challenges []ACMEChallenge `json:"challenges"`
	Count      int             `json:"count"`
}
