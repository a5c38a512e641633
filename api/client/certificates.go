package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/certctl/certctl/api/wire"
)

// ListCertificatesOptions filters and pages GET /certificates. Empty fields
// do not filter. Status is a certificate status (any case); Q searches names
// and common names; Sort names the order the server supports.
type ListCertificatesOptions struct {
	Status        string
	Environment   string
	OwnerID       string
	TeamID        string
	IssuerID      string
	ExpiresBefore *time.Time
	ExpiresAfter  *time.Time
	Q             string
	Sort          string
	Page          int
	PerPage       int
}

func (o ListCertificatesOptions) query() url.Values {
	q := url.Values{}
	set(q, "status", o.Status)
	set(q, "environment", o.Environment)
	set(q, "owner_id", o.OwnerID)
	set(q, "team_id", o.TeamID)
	set(q, "issuer_id", o.IssuerID)
	setTime(q, "expires_before", o.ExpiresBefore)
	setTime(q, "expires_after", o.ExpiresAfter)
	set(q, "q", o.Q)
	set(q, "sort", o.Sort)
	setPage(q, o.Page, o.PerPage)
	return q
}

// ListCertificates returns one page of managed certificates.
func (c *Client) ListCertificates(ctx context.Context, opts ListCertificatesOptions) (*wire.List[wire.Certificate], error) {
	return list[wire.Certificate](ctx, c, apiPath("certificates"), opts.query())
}

// GetCertificate returns the certificate id.
func (c *Client) GetCertificate(ctx context.Context, id string) (*wire.Certificate, error) {
	return get[wire.Certificate](ctx, c, apiPath("certificates", id))
}

// certificateRequest is the body of a certificate create or update: the
// fields a client may set. The lifecycle fields (timestamps, status reason)
// are the server's and are not sent.
type certificateRequest struct {
	ID              string                 `json:"id,omitempty"`
	Name            string                 `json:"name,omitempty"`
	CommonName      string                 `json:"common_name"`
	SANs            []string               `json:"sans,omitempty"`
	Environment     string                 `json:"environment,omitempty"`
	OwnerID         string                 `json:"owner_id,omitempty"`
	TeamID          string                 `json:"team_id,omitempty"`
	IssuerID        string                 `json:"issuer_id,omitempty"`
	TargetIDs       []string               `json:"target_ids,omitempty"`
	RenewalPolicyID string                 `json:"renewal_policy_id,omitempty"`
	Status          wire.CertificateStatus `json:"status,omitempty"`
	ExpiresAt       *time.Time             `json:"expires_at,omitempty"`
	Tags            map[string]string      `json:"tags,omitempty"`
	KeyGeneration   wire.KeyGeneration     `json:"key_generation,omitempty"`
	KeyType         wire.KeyType           `json:"key_type,omitempty"`
}

func newCertificateRequest(c wire.Certificate) certificateRequest {
	return certificateRequest{
		ID: c.ID, Name: c.Name, CommonName: c.CommonName, SANs: c.SANs, Environment: c.Environment,
		OwnerID: c.OwnerID, TeamID: c.TeamID, IssuerID: c.IssuerID, TargetIDs: c.TargetIDs,
		RenewalPolicyID: c.RenewalPolicyID, Status: c.Status, ExpiresAt: c.ExpiresAt, Tags: c.Tags,
		KeyGeneration: c.KeyGeneration, KeyType: c.KeyType,
	}
}

// CreateCertificate adds a managed certificate and returns it as stored. The
// server requires common_name, owner_id, team_id and issuer_id; an empty ID
// lets it choose one, and an empty Name defaults to the common name. Only the
// fields a client may set are sent: timestamps and the status reason are
// the server's.
func (c *Client) CreateCertificate(ctx context.Context, cert wire.Certificate) (*wire.Certificate, error) {
	return create[wire.Certificate](ctx, c, apiPath("certificates"), newCertificateRequest(cert))
}

// UpdateCertificate replaces the settable fields of certificate id (those
// CreateCertificate sends), so a certificate read with GetCertificate can be
// changed and sent back as it is.
func (c *Client) UpdateCertificate(ctx context.Context, id string, cert wire.Certificate) (*wire.Certificate, error) {
	return update[wire.Certificate](ctx, c, apiPath("certificates", id), newCertificateRequest(cert))
}

// ArchiveCertificate archives certificate id (DELETE: its status becomes
// Archived; nothing is erased).
func (c *Client) ArchiveCertificate(ctx context.Context, id string) error {
	return c.remove(ctx, apiPath("certificates", id))
}

// ListCertificateVersions returns one page of the issued versions of
// certificate id; page and perPage 0 mean the server's defaults.
func (c *Client) ListCertificateVersions(ctx context.Context, id string, page, perPage int) (*wire.List[wire.CertificateVersion], error) {
	return list[wire.CertificateVersion](ctx, c, apiPath("certificates", id, "versions"), ListOptions{page, perPage}.query())
}

// ListCertificateViolations returns one page of the policy violations of
// certificate id; page and perPage 0 mean the server's defaults.
func (c *Client) ListCertificateViolations(ctx context.Context, id string, page, perPage int) (*wire.List[wire.PolicyViolation], error) {
	return list[wire.PolicyViolation](ctx, c, apiPath("certificates", id, "violations"), ListOptions{page, perPage}.query())
}

// RenewCertificate asks for certificate id to be renewed now (202); the
// renewal runs as a job.
func (c *Client) RenewCertificate(ctx context.Context, id string) error {
	return c.action(ctx, apiPath("certificates", id, "renew"), nil, http.StatusAccepted)
}

type deployRequest struct {
	TargetID string `json:"target_id,omitempty"`
}

// DeployCertificate asks for certificate id to be deployed (202) to
// targetID, or to all its targets when targetID is empty.
func (c *Client) DeployCertificate(ctx context.Context, id, targetID string) error {
	return c.action(ctx, apiPath("certificates", id, "deploy"), deployRequest{TargetID: targetID}, http.StatusAccepted)
}

type revokeRequest struct {
	Reason string `json:"reason"`
}

// RevocationReasons returns the RFC 5280 reason names RevokeCertificate
// accepts, in the order of their codes (7, removeFromCRL, is not one).
func RevocationReasons() []string {
	return []string{
		"unspecified", "keyCompromise", "caCompromise", "affiliationChanged", "superseded",
		"cessationOfOperation", "certificateHold", "privilegeWithdrawn",
	}
}

// RevokeCertificate revokes certificate id for reason, one of
// RevocationReasons; the server checks it.
func (c *Client) RevokeCertificate(ctx context.Context, id, reason string) error {
	return c.action(ctx, apiPath("certificates", id, "revoke"), revokeRequest{Reason: reason}, http.StatusOK)
}
