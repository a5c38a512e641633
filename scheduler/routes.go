package scheduler

import (
	"strconv"
	"strings"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

// notificationsFor makes the notifications of one event of type typ whose
// dedup key is key: one per route of the certificate's renewal policy that
// takes typ, or, when none does (or there is no policy), one e-mail to the
// owner. A route's notification extends key with the route, so each is queued
// once; the owner's e-mail keeps key as it is. build fills in what the event
// says; channel, recipient, id and dedup key are set here.
func notificationsFor(p *fsm.RenewalPolicy, typ wire.NotificationType, key, ownerEmail string, build func() fsm.Notification) []fsm.Notification {
	var routes []fsm.NotifyRoute
	if p != nil {
		routes = p.Routes(typ)
	}
	if len(routes) == 0 {
		n := build()
		n.Type, n.Channel, n.Recipient, n.ID, n.DedupKey = typ, wire.ChannelEmail, ownerEmail, notificationID(key), key
		return []fsm.Notification{n}
	}
	out := make([]fsm.Notification, 0, len(routes))
	for i, r := range routes {
		rcpt := strings.Join(r.Recipients, ",")
		if rcpt == "" && r.Channel == wire.ChannelEmail {
			rcpt = ownerEmail
		}
		k := key + "/" + string(r.Channel) + "/" + strconv.Itoa(i)
		n := build()
		n.Type, n.Channel, n.Recipient, n.ID, n.DedupKey = typ, r.Channel, rcpt, notificationID(k), k
		out = append(out, n)
	}
	return out
}
