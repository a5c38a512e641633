package api

import (
	"strings"

	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/certctl/certctl/fsm"
	"github.com/gin-gonic/gin"
)

// listBody is the original's list envelope.
type listBody[T any] struct {
	Data    []T `json:"data"`
	Total   int `json:"total"`
	Page    int `json:"page"`
	PerPage int `json:"per_page"`
}

// maxPage bounds page and per_page so that the offset (page-1)*per_page
// cannot overflow; per_page is clamped to fsm.MaxPerPage afterwards.
const maxPage = math.MaxInt32

// pageOf reads page and per_page; bad values are a 400 naming the parameter.
func pageOf(c *gin.Context) (fsm.Page, bool) {
	p := fsm.Page{}
	for _, q := range []struct {
		name string
		dst  *int
	}{{"page", &p.Page}, {"per_page", &p.PerPage}} {
		v := c.Query(q.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			fail(c, invalid(q.name, q.name+" must be an integer from 1 to "+strconv.Itoa(maxPage)+", not "+strconv.Quote(v)))
			return p, false
		}
		*q.dst = n
	}
	return p.Normalize(), true
}

// respondRawList writes the list envelope around records already in their
// wire form (the state machine stores certificates as they are served).
func respondRawList(c *gin.Context, p fsm.Page, l fsm.List[json.RawMessage]) {
	size := 64
	for _, item := range l.Items {
		size += len(item) + 1
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"data":[`...)
	for i, item := range l.Items {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, item...)
	}
	buf = append(buf, `],"total":`...)
	buf = strconv.AppendInt(buf, int64(l.Total), 10)
	buf = append(buf, `,"page":`...)
	buf = strconv.AppendInt(buf, int64(p.Page), 10)
	buf = append(buf, `,"per_page":`...)
	buf = strconv.AppendInt(buf, int64(p.PerPage), 10)
	buf = append(buf, '}')
	c.Data(http.StatusOK, "application/json; charset=utf-8", buf)
}

func respondList[T any](c *gin.Context, p fsm.Page, l fsm.List[T]) {
	c.JSON(http.StatusOK, listBody[T]{Data: l.Items, Total: l.Total, Page: p.Page, PerPage: p.PerPage})
}

// timeQuery parses an RFC 3339 query parameter; absent is nil.
func timeQuery(c *gin.Context, name string) (*time.Time, bool) {
	v := c.Query(name)
	if v == "" {
		return nil, true
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		fail(c, invalid(name, name+" must be an RFC 3339 time such as 2026-01-02T15:04:05Z, not "+strconv.Quote(v)))
		return nil, false
	}
	return &t, true
}

// enumQuery reads a query parameter that must be one of e (any case).
func enumQuery[T ~string](c *gin.Context, name string, e fsm.Enum[T]) (T, bool) {
	v := c.Query(name)
	if v == "" {
		return "", true
	}
	canon, ok := e.Canonical(v)
	if !ok {
		fail(c, invalid(name, name+" "+strconv.Quote(v)+" is not one of "+joinEnum(e)))
		return "", false
	}
	return canon, true
}

func joinEnum[T ~string](e fsm.Enum[T]) string { return strings.Join(e.Strings(), ", ") }
