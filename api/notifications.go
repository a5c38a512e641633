package api

import (
	"net/http"

	"github.com/certctl/certctl/fsm"
	"github.com/gin-gonic/gin"
)

func (s *Server) listNotifications(c *gin.Context) {
	p, ok := pageOf(c)
	if !ok {
		return
	}
	flt := fsm.NotificationFilter{CertificateID: c.Query("certificate_id")}
	if flt.Status, ok = enumQuery(c, "status", fsm.NotificationStatus); !ok {
		return
	}
	if flt.Type, ok = enumQuery(c, "type", fsm.NotificationTypes); !ok {
		return
	}
	if flt.Channel, ok = enumQuery(c, "channel", fsm.Channels); !ok {
		return
	}
	l, err := s.state.Notifications(flt, p)
	if err != nil {
		fail(c, err)
		return
	}
	respondList(c, p, l)
}

func (s *Server) getNotification(c *gin.Context) {
	s.respondRead(c, http.StatusOK, func() (any, error) { return s.state.Notification(c.Param("id")) })
}

func (s *Server) readNotification(c *gin.Context) {
	if s.propose(c, &fsm.MarkNotificationRead{ID: c.Param("id")}) {
		statusOK(c, http.StatusOK, "marked_as_read")
	}
}
