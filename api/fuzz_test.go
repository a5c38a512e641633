package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

// fuzzEnv is an in-process single node (Dev) with fixed references that the
// seed corpus names: team t-fuzz, owner o-fuzz, issuer iss-fuzz, renewal
// policy rp-fuzz, agent ag-fuzz and its target tgt-fuzz.
func fuzzEnv(f *testing.F) (*env, http.Handler) {
	e := newEnv(f, api.Config{Dev: true, RateLimit: -1})
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{"/api/v1/teams", map[string]any{"id": "t-fuzz", "name": "fuzz"}},
		{"/api/v1/owners", map[string]any{"id": "o-fuzz", "name": "fuzz", "team_id": "t-fuzz"}},
		{"/api/v1/issuers", map[string]any{"id": "iss-fuzz", "name": "fuzz", "type": "GenericCA"}},
		{"/api/v1/renewal-policies", map[string]any{"id": "rp-fuzz", "name": "fuzz"}},
		{"/api/v1/agents", map[string]any{"id": "ag-fuzz", "name": "fuzz", "hostname": "fuzz.example.net"}},
		{"/api/v1/targets", map[string]any{"id": "tgt-fuzz", "name": "fuzz", "type": "NGINX", "agent_id": "ag-fuzz"}},
	} {
		e.mustAs(f, "", 201, "POST", c.path, c.body)
	}
	return e, e.api.Handler()
}

// serve runs one request through the handler in process.
func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// checkAnswer fails on a 5xx, on an answer without X-Request-ID, and on a
// 4xx that is not in the error shape.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, input any) {
	t.Helper()
	id := rec.Header().Get("X-Request-ID")
	if id == "" {
		t.Fatalf("no X-Request-ID for %q", input)
	}
	if rec.Code >= 500 {
		t.Fatalf("status %d for %q: %s", rec.Code, input, rec.Body.Bytes())
	}
	if rec.Code < 400 {
		return
	}
	var e wire.Error
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("status %d for %q is not in the error shape: %v: %s", rec.Code, input, err, rec.Body.Bytes())
	}
	if e.Error != http.StatusText(rec.Code) || e.Message == "" || e.RequestID != id || e.Code == "" {
		t.Fatalf("status %d for %q: bad error body %+v", rec.Code, input, e)
	}
}

// FuzzCertificateRequest drives POST /api/v1/certificates with arbitrary
// bodies: never a 5xx, every 4xx in the error shape, and a 201 only when the
// certificate read back validates as a command would and holds what the body
// asked for.
func FuzzCertificateRequest(f *testing.F) {
	_, h := fuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/api/v1/certificates", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		rec := serve(h, r)
		checkAnswer(t, rec, body)
		switch {
		case rec.Code >= 400:
			return
		case rec.Code != http.StatusCreated:
			t.Fatalf("status %d for %q: a create answers 201 or an error", rec.Code, body)
		}
		var created wire.Certificate
		if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil {
			t.Fatalf("201 body does not decode: %v: %s", err, rec.Body.Bytes())
		}
		got := serve(h, httptest.NewRequest("GET", "/api/v1/certificates/"+created.ID, nil))
		if got.Code != http.StatusOK {
			t.Fatalf("created %s but GET answers %d: %s", created.ID, got.Code, got.Body.Bytes())
		}
		var stored fsm.Certificate
		if err := json.Unmarshal(got.Body.Bytes(), &stored); err != nil {
			t.Fatalf("GET body does not decode: %v", err)
		}
		if err := (&fsm.CreateCertificate{Certificate: stored}).Validate(); err != nil {
			t.Fatalf("201 for %q, but the stored certificate does not validate: %v", body, err)
		}
		var asked struct {
			ID         string `json:"id"`
			CommonName string `json:"common_name"`
			OwnerID    string `json:"owner_id"`
		}
		if err := json.Unmarshal(body, &asked); err != nil {
			t.Fatalf("201 for a body that is not a certificate request: %q: %v", body, err)
		}
		if stored.CommonName != asked.CommonName || stored.OwnerID != asked.OwnerID || asked.ID != "" && stored.ID != asked.ID {
			t.Fatalf("201 for %q stored something else: %+v", body, stored)
		}
		if stored.Status == "" || stored.CreatedAt.IsZero() {
			t.Fatalf("stored certificate lacks server fields: %+v", stored)
		}
	})
}

// FuzzListQuery drives the query parsing of GET /api/v1/certificates: never a
// 5xx, every 4xx in the error shape, and a 200 is a list envelope whose page
// holds at most per_page (1..500) of total items.
func FuzzListQuery(f *testing.F) {
	e, h := fuzzEnv(f)
	for i, st := range []string{"", "Active", "Expired"} {
		id := e.id("mc-fuzz-")
		body := map[string]any{"id": id, "name": id, "common_name": id + ".example.com", "owner_id": "o-fuzz", "team_id": "t-fuzz",
			"issuer_id": "iss-fuzz", "target_ids": []string{"tgt-fuzz"}, "environment": []string{"prod", "staging", "dev"}[i],
			"expires_at": time.Now().AddDate(0, 0, 10*i-5).UTC().Format(time.RFC3339)}
		if st != "" {
			body["status"] = st
		}
		e.mustAs(f, "", 201, "POST", "/api/v1/certificates", body)
	}
	for _, q := range []string{
		"", "page=2&per_page=1", "status=active", "status=Sleeping", "sort=-expires_at", "sort=name&page=3&per_page=1",
		"expires_before=2030-01-01T00:00:00Z&expires_after=2020-01-01T00:00:00Z", "q=FUZZ&environment=prod",
		"owner_id=o-fuzz&team_id=t-fuzz&issuer_id=iss-fuzz", "consistency=strong", "consistency=bogus",
		"page=9223372036854775807&sort=name", "per_page=0", "page=%zz", "sort=-", "sort=--name", "status=&status=Active",
		"expires_before=9999-12-31T23:59:59-23:59", ";;&&==", "q=%00%ff",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest("GET", "/api/v1/certificates", nil)
		r.URL.RawQuery = query
		rec := serve(h, r)
		checkAnswer(t, rec, query)
		if rec.Code >= 400 {
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d for %q", rec.Code, query)
		}
		var l wire.List[wire.Certificate]
		dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("200 for %q is not a list of certificates: %v", query, err)
		}
		if l.Data == nil || l.Page < 1 || l.PerPage < 1 || l.PerPage > fsm.MaxPerPage || len(l.Data) > l.PerPage || l.Total < len(l.Data) {
			t.Fatalf("bad envelope for %q: page %d per_page %d total %d items %d", query, l.Page, l.PerPage, l.Total, len(l.Data))
		}
		for _, c := range l.Data {
			if c.ID == "" {
				t.Fatalf("an item without id for %q", query)
			}
		}
	})
}
