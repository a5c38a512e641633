package acme

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"

	"github.com/certctl/certctl/connectors/issuer"
)

// ACME Renewal Information (RFC 9773): the CA's suggested renewal window
// for a certificate it issued, and the "replaces" of the order renewing it.

var _ issuer.RenewalInformer = (*Issuer)(nil)

// RenewalInfo asks the CA's renewalInfo endpoint when certPEM should
// renew. A directory without one gives an error matching
// issuer.ErrNoRenewalInfo; the CA's other refusals are issuer.CAErrors.
func (i *Issuer) RenewalInfo(ctx context.Context, certPEM string) (*issuer.RenewalInfo, error) {
	leaf, err := parseLeaf(certPEM)
	if err != nil {
		return nil, err
	}
	client, err := i.session(ctx)
	if err != nil {
		return nil, err
	}
	ri, err := client.Certificate.GetRenewalInfo(ctx, leaf)
	if errors.Is(err, api.ErrNoARI) {
		return nil, issuer.ErrNoRenewalInfo
	}
	if err != nil {
		return nil, caError("fetch the renewal information of certificate "+issuer.FormatSerial(leaf.SerialNumber), err)
	}
	return &issuer.RenewalInfo{
		WindowStart:    ri.SuggestedWindow.Start.UTC(),
		WindowEnd:      ri.SuggestedWindow.End.UTC(),
		ExplanationURL: ri.ExplanationURL,
		RetryAfter:     ri.RetryAfter,
	}, nil
}

// RenewCertificate orders a new certificate as IssueCertificate does; the
// order names the certificate it replaces (RFC 9773 §5) when the request
// carries it and the directory has renewalInfo (lego sends "replaces" only
// then, and orders again without it on alreadyReplaced). A CA that refuses
// the replacement otherwise (a "replaces" it cannot parse, or a certificate
// it has no order for: malformed or serverInternal from Boulder and
// pebble) gets the order again without it, once.
func (i *Issuer) RenewCertificate(ctx context.Context, req issuer.RenewalRequest) (*issuer.IssuanceResult, error) {
	replaces := ""
	if req.PreviousCertPEM != "" {
		if leaf, err := parseLeaf(req.PreviousCertPEM); err == nil {
			replaces, _ = api.MakeARICertID(leaf)
		}
	}
	res, err := i.issue(ctx, req.IssuanceRequest, replaces)
	var ce *issuer.CAError
	if replaces != "" && errors.As(err, &ce) &&
		replacementRefused(ce) {
		return i.issue(ctx, req.IssuanceRequest, "")
	}
	return res, err
}

// parseLeaf parses the first certificate of certPEM.
func parseLeaf(certPEM string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, &issuer.RequestError{Field: "cert_pem", Reason: "no PEM certificate in it"}
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, &issuer.RequestError{Field: "cert_pem", Reason: "the certificate does not parse: " + err.Error()}
	}
	return leaf, nil
}

// replacementRefused reports whether the CA refused an order for what it
// names as replaced: already replaced, a "replaces" it cannot parse, or a
// certificate it has no order for (another CA's, or from before a change of
// account), which Boulder and pebble answer with malformed or serverInternal.
func replacementRefused(ce *issuer.CAError) bool {
	switch ce.Type {
	case legoacme.AlreadyReplacedErrorType, legoacme.MalformedErrorType, legoacme.ServerInternalErrorType:
		return true
	}
	return strings.Contains(strings.ToLower(ce.Detail), "replace")
}
