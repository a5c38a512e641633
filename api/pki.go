package api

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/gin-gonic/gin"
)

// issuerCRL serves an issuer's CRL, DER-encoded, to anyone: relying
// parties fetch it from the distribution point in the certificates.
func (s *Server) issuerCRL(c *gin.Context) {
	if !s.pkiReady(c) {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WriteTimeout)
	defer cancel()
	der, err := s.cfg.Issuers.CRL(ctx, c.Param("issuer_id"))
	if err != nil {
		s.failPKI(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/pkix-crl", der)
}

// issuerCAChain serves an issuer's CA certificates, the issuing CA first
// and the root last, for clients that must trust them.
func (s *Server) issuerCAChain(c *gin.Context) {
	if !s.pkiReady(c) {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WriteTimeout)
	defer cancel()
	chain, err := s.cfg.Issuers.CAChain(ctx, c.Param("issuer_id"))
	if err != nil {
		s.failPKI(c, err)
		return
	}
	c.Data(http.StatusOK, "application/x-pem-file", []byte(chain))
}

// issuerRootCRL serves the CRL in which a Local CA's root covers its
// intermediate, DER-encoded, to anyone: the intermediate's CRL
// distribution point, which relying parties that check the whole chain
// (openssl verify -crl_check_all) need.
func (s *Server) issuerRootCRL(c *gin.Context) {
	if !s.pkiReady(c) {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WriteTimeout)
	defer cancel()
	der, err := s.cfg.Issuers.RootCRL(ctx, c.Param("issuer_id"))
	if err != nil {
		s.failPKI(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/pkix-crl", der)
}

// issuerCACert serves one of an issuer's CA certificates, DER-encoded
// (application/pkix-cert, RFC 2585), to anyone: an HTTP caIssuers location
// serves a single DER certificate (RFC 5280 4.2.2.1).
func (s *Server) issuerCACert(which string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.pkiReady(c) {
			return
		}
		ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WriteTimeout)
		defer cancel()
		der, err := s.cfg.Issuers.CACert(ctx, c.Param("issuer_id"), which)
		if err != nil {
			s.failPKI(c, err)
			return
		}
		c.Header("Cache-Control", "public, max-age=3600")
		c.Data(http.StatusOK, "application/pkix-cert", der)
	}
}

// pkiReady answers 404 for an unknown issuer and 501 on a node without
// issuer connectors.
func (s *Server) pkiReady(c *gin.Context) bool {
	if _, err := s.state.Issuer(c.Param("issuer_id")); err != nil {
		fail(c, err)
		return false
	}
	if s.cfg.Issuers == nil {
		fail(c, refuse(node.CodeNotImplemented, "no issuer connectors are configured on this node"))
		return false
	}
	return true
}

// failPKI answers a domain error (unknown issuer, an issuer without a CRL)
// as such and anything else as the issuer's failure.
func (s *Server) failPKI(c *gin.Context, err error) {
	if node.DescribeError(err).Status != http.StatusInternalServerError {
		fail(c, err)
		return
	}
	loggerOf(c).Warn("issuer could not answer", "err", err)
	fail(c, refuse(node.CodeIssuerFailed, err.Error()))
}

// issuerCA answers what the dashboard shows of an issuer's own CA, from the
// chain and the CRL the /.well-known/pki routes serve: 200 with
// has_material false for an issuer that has not made its CA (rather than
// the 404 of those routes, which a browser logs as an error). Only
// certificates' and the CRL's dates are read: the material's keys never
// leave the issuance service.
func (s *Server) issuerCA(c *gin.Context) {
	id := c.Param("id")
	if _, err := s.state.Issuer(id); err != nil {
		fail(c, err)
		return
	}
	out := wire.IssuerCA{IssuerID: id}
	if _, err := s.state.IssuerMaterial(id); err != nil {
		if !errors.Is(err, fsm.ErrNotFound) {
			fail(c, err)
			return
		}
		c.JSON(http.StatusOK, out)
		return
	}
	out.HasMaterial = true
	if s.cfg.Issuers == nil {
		c.JSON(http.StatusOK, out)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WriteTimeout)
	defer cancel()
	chain, err := s.cfg.Issuers.CAChain(ctx, id)
	switch {
	case err == nil:
		var certs []*x509.Certificate
		for rest := []byte(chain); ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				s.failPKI(c, fmt.Errorf("issuer %s published a CA certificate that does not parse: %w", id, err))
				return
			}
			certs = append(certs, cert)
		}
		if len(certs) > 0 {
			ca, root := certs[0].NotAfter.UTC(), certs[len(certs)-1].NotAfter.UTC()
			out.CANotAfter, out.RootNotAfter = &ca, &root
		}
	case !publishesNone(err):
		s.failPKI(c, err)
		return
	}
	der, err := s.cfg.Issuers.CRL(ctx, id)
	switch {
	case err == nil:
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			s.failPKI(c, fmt.Errorf("issuer %s signed a CRL that does not parse: %w", id, err))
			return
		}
		this, n := crl.ThisUpdate.UTC(), len(crl.RevokedCertificateEntries)
		out.CRLThisUpdate, out.RevokedCount = &this, &n
		if !crl.NextUpdate.IsZero() {
			next := crl.NextUpdate.UTC()
			out.CRLNextUpdate = &next
		}
	case !publishesNone(err):
		s.failPKI(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// publishesNone reports whether err says the issuer has no such part (a
// connector without a chain or a CRL of its own), which issuerCA answers
// as null rather than as a failure.
func publishesNone(err error) bool {
	var fe *fsm.Error
	return errors.As(err, &fe) && (fe.Code == fsm.CodeState || fe.Code == fsm.CodeNotFound)
}
