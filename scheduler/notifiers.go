package scheduler

import (
	"context"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/certctl/certctl/connectors/notifier"
	"github.com/certctl/certctl/fsm"
)

// CertificateReader is what NotifierService reads; *fsm.FSM satisfies it.
type CertificateReader interface {
	Certificate(id string) (*fsm.Certificate, error)
}

// NotifierService is the Notifiers of cmd: it turns a notification into the
// notifier's Alert or Event (with the certificate's name, common name and
// expiry read from the state) and sends it through the notifier registered
// for its channel. A channel with none fails with a
// *notifier.NoNotifierError. It is safe for concurrent use.
type NotifierService struct {
	reg   *notifier.Registry
	certs CertificateReader
	now   func() time.Time
}

var _ Notifiers = (*NotifierService)(nil)

// NewNotifierService returns the service sending through reg. now gives the
// days left of an alert; nil means time.Now.
func NewNotifierService(reg *notifier.Registry, certs CertificateReader, now func() time.Time) (*NotifierService, error) {
	if reg == nil || certs == nil {
		return nil, errors.New("scheduler: a notifier registry and a certificate reader are required")
	}
	if now == nil {
		now = time.Now
	}
	return &NotifierService{reg: reg, certs: certs, now: now}, nil
}

// Send sends n through the notifier of its channel.
func (s *NotifierService) Send(ctx context.Context, n fsm.Notification) error {
	nt, err := s.reg.Get(string(n.Channel))
	if err != nil {
		return err
	}
	var cert *fsm.Certificate
	if n.CertificateID != "" {
		cert, err = s.certs.Certificate(n.CertificateID)
		if err != nil && !errors.Is(err, fsm.ErrNotFound) {
			return err
		}
	}
	if notifier.IsEvent(string(n.Type)) {
		e := notifier.Event{ID: n.ID, Type: string(n.Type), CertificateID: n.CertificateID, Message: n.Message,
			Recipients: recipients(n.Recipient), CreatedAt: n.CreatedAt}
		if cert != nil {
			e.CertificateName, e.CommonName = cert.Name, cert.CommonName
		}
		return nt.SendEvent(ctx, e)
	}
	a := notifier.Alert{ID: n.ID, Type: string(n.Type), CertificateID: n.CertificateID, Message: n.Message,
		Recipients: recipients(n.Recipient), CreatedAt: n.CreatedAt}
	if cert != nil {
		a.CertificateName, a.CommonName = cert.Name, cert.CommonName
		if cert.ExpiresAt != nil {
			exp := *cert.ExpiresAt
			a.ExpiresAt = &exp
			a.DaysLeft = daysLeft(s.now(), exp)
		}
	}
	return nt.SendAlert(ctx, a)
}

// daysLeft is the number of whole days from now to exp, rounded down, so a
// certificate expiring in 13.5 days has 13 left and an expired one a
// negative number.
func daysLeft(now, exp time.Time) int {
	return int(math.Floor(exp.Sub(now).Hours() / 24))
}

// recipients splits a notification's comma-separated recipients.
func recipients(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}
