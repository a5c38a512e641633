package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// bindJSON decodes the request body into v, strictly: one JSON object, valid
// UTF-8, no unknown fields. On failure it writes a 400 (or 413) that names
// what to fix and returns false.
func bindJSON(c *gin.Context, v any) bool {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			failStatus(c, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit))
			return false
		}
		failStatus(c, http.StatusBadRequest, "", "could not read the request body: "+err.Error())
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		failStatus(c, http.StatusBadRequest, "", "request body is empty; send a JSON object")
		return false
	}
	if !utf8.Valid(body) {
		failStatus(c, http.StatusBadRequest, "", "request body is not valid UTF-8")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		field, msg := describeJSONError(err)
		failStatus(c, http.StatusBadRequest, field, msg)
		return false
	}
	if dec.More() {
		failStatus(c, http.StatusBadRequest, "", "request body holds more than one JSON value")
		return false
	}
	return true
}

func describeJSONError(err error) (field, msg string) {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "", "malformed JSON at byte " + strconv.FormatInt(syn.Offset, 10) + ": " + syn.Error()
	case errors.As(err, &typ):
		return typ.Field, fmt.Sprintf("field %q must be %s, not %s", typ.Field, typ.Type.String(), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "", "malformed JSON: the body ends too early"
	}
	if f, ok := unknownField(err.Error()); ok {
		return f, fmt.Sprintf("unknown field %q", f)
	}
	return "", "invalid JSON: " + err.Error()
}

// unknownField extracts the name from encoding/json's "unknown field" error.
func unknownField(s string) (string, bool) {
	const p = `json: unknown field "`
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p) : len(s)-1], true
	}
	return "", false
}
