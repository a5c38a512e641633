package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
)

type fixedAnswers map[string]struct {
	keyAuth string
	expires time.Time
}

func (f fixedAnswers) ACMEChallengeAnswer(token string, now time.Time) (string, bool) {
	a, ok := f[token]
	if !ok || !a.expires.After(now) {
		return "", false
	}
	return a.keyAuth, true
}

// TestChallengeHandler_OnlyLiveTokens: the public HTTP-01 route answers the
// key authorization of a live token and nothing else: an unknown, expired
// or malformed token, another path or a write gets no answer.
func TestChallengeHandler_OnlyLiveTokens(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	answers := fixedAnswers{
		"live_tok-1": {"live_tok-1.thumb", now.Add(time.Minute)},
		"old":        {"old.thumb", now.Add(-time.Second)},
	}
	h := ChallengeHandler(answers, HandlerOptions{Now: func() time.Time { return now }, Wait: 20 * time.Millisecond})
	get := func(method, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		body, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, string(body)
	}
	code, body := get("GET", "/.well-known/acme-challenge/live_tok-1")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "live_tok-1.thumb", body)
	for _, path := range []string{
		"/.well-known/acme-challenge/unknown",
		"/.well-known/acme-challenge/old",
		"/.well-known/acme-challenge/",
		"/.well-known/acme-challenge/live_tok-1/x",
		"/.well-known/acme-challenge/../acme-challenge/live_tok-1x",
		"/live_tok-1",
		"/",
	} {
		code, body := get("GET", path)
		assert.Equal(t, http.StatusNotFound, code, path)
		assert.NotContains(t, body, "thumb", path)
	}
	code, body = get("POST", "/.well-known/acme-challenge/live_tok-1")
	assert.Equal(t, http.StatusMethodNotAllowed, code)
	assert.NotContains(t, body, "thumb")
}

// TestCAError_Classes: the CA's problem types map to final or retried
// errors carrying its message, and rateLimited keeps its Retry-After.
func TestCAError_Classes(t *testing.T) {
	problem := func(typ, detail string) *legoacme.ProblemDetails {
		return &legoacme.ProblemDetails{Type: typ, Detail: detail, HTTPStatus: 400}
	}
	cases := []struct {
		err   error
		final bool
	}{
		{fmt.Errorf("wrapped: %w", &legoacme.RateLimitedError{ProblemDetails: problem(legoacme.RateLimitedErrorType, "too many certificates"), RetryAfter: 90 * time.Second}), false},
		{&legoacme.NonceError{ProblemDetails: problem(legoacme.BadNonceErrorType, "JWS has an invalid anti-replay nonce")}, false},
		{problem(legoacme.ServerInternalErrorType, "oops"), false},
		{problem(legoacme.ConnectionErrorType, "could not connect"), false},
		{problem(legoacme.UnauthorizedErrorType, "key authorization mismatch"), true},
		{errors.Join(errors.New("a.example.com"), problem(legoacme.RejectedIdentifierErrorType, "forbidden by policy")), true},
		{problem(legoacme.BadCSRErrorType, "key too small"), true},
	}
	for _, c := range cases {
		err := caError("order", c.err)
		var ce *issuer.CAError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, c.final, ce.Final, "%v", err)
		assert.Equal(t, c.final, errors.Is(err, issuer.ErrInvalidRequest), "%v", err)
		var pd *legoacme.ProblemDetails
		require.ErrorAs(t, c.err, &pd)
		assert.Contains(t, err.Error(), pd.Detail, "the CA's own message")
		assert.Contains(t, err.Error(), pd.Type)
	}
	var ce *issuer.CAError
	require.ErrorAs(t, caError("order", cases[0].err), &ce)
	assert.Equal(t, 90*time.Second, ce.RetryAfter)
	assert.Contains(t, ce.Error(), "retry after 1m30s")
}

// TestParseConfig: the config's fields, defaults, legacy names and errors
// naming the field.
func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig(json.RawMessage(`{"directory_url":"https://ca.example/dir","challenge_type":"HTTP-01","eab_kid":"k","eab_hmac":"abc_-w","http_port":80}`))
	require.NoError(t, err)
	assert.Equal(t, ChallengeHTTP01, cfg.Challenge)
	assert.Equal(t, "abc_-w", cfg.EABHMACKey)
	for raw, field := range map[string]string{
		`{}`: "directory_url",
		`{"directory_url":"http://ca.example/dir"}`:                                                                                                       "directory_url",
		`{"directory_url":"https://ca.example/dir","eab_kid":"k"}`:                                                                                        "eab_hmac_key",
		`{"directory_url":"https://ca.example/dir","ca_bundle":"x"}`:                                                                                      "ca_bundle",
		`{"directory_url":"https://ca.example/dir","challenge":"x"}`:                                                                                      "challenge",
		`{"directory_url":"https://ca.example/dir","email":"a b"}`:                                                                                        "email",
		`{"directory_url":"https://ca.example/dir","directry_url":1}`:                                                                                     "directry_url",
		`{"directory_url":"https://ca.example/dir","eab_kid":"k","eab_hmac_key":"!!"}`:                                                                    "eab_hmac_key",
		`{"directory_url":"https://ca.example/dir","challenge":"dns-01"}`:                                                                                 "dns_server",
		`{"directory_url":"https://ca.example/dir","challenge":"dns-01","dns_server":"10.0.0.53:53"}`:                                                     "dns_zone",
		`{"directory_url":"https://ca.example/dir","challenge":"dns-01","dns_server":"10.0.0.53:53","dns_zone":"example.com","dns_tsig_key":"k"}`:         "dns_tsig_secret",
		`{"directory_url":"https://ca.example/dir","challenge":"dns-01","dns_server":"10.0.0.53:53","dns_zone":"example.com","dns_tsig_algorithm":"md5"}`: "dns_tsig_algorithm",
	} {
		_, err := ParseConfig(json.RawMessage(raw))
		var ce *issuer.ConfigError
		require.ErrorAs(t, err, &ce, raw)
		assert.Equal(t, field, ce.Field, raw)
	}
}
