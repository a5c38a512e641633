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

	"github.com/certctl/certctl/node"
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
			fail(c, refuse(node.CodeTooLarge, fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)))
			return false
		}
		fail(c, invalid("", "could not read the request body: "+err.Error()))
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		fail(c, invalid("", "request body is empty; send a JSON object"))
		return false
	}
	if !utf8.Valid(body) {
		fail(c, invalid("", "request body is not valid UTF-8"))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		field, msg := describeJSONError(err)
		fail(c, invalid(field, msg))
		return false
	}
	if dec.More() {
		fail(c, invalid("", "request body holds more than one JSON value"))
		return false
	}
	// encoding/json keeps the last of duplicate keys where other parsers
	// keep the first: refuse them, so every reader sees the same request.
	if key, dup := duplicateKey(body); dup {
		fail(c, invalid(key, fmt.Sprintf("key %q appears more than once in one JSON object; send each field once", key)))
		return false
	}
	return true
}

// duplicateKey returns the first key that appears twice in one object of
// body, a JSON text that has already decoded, as a dotted path ("tags.env").
func duplicateKey(body []byte) (string, bool) {
	type frame struct {
		path    string          // of this object or array
		keys    map[string]bool // nil for an array
		wantKey bool
		key     string // the key whose value comes next
	}
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				f := &frame{}
				if n := len(stack); n > 0 {
					f.path = stack[n-1].path
					if stack[n-1].keys != nil {
						f.path = joinPath(f.path, stack[n-1].key)
					}
				}
				if v == '{' {
					f.keys, f.wantKey = map[string]bool{}, true
				}
				stack = append(stack, f)
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].wantKey {
				top := stack[n-1]
				if top.keys[v] {
					return joinPath(top.path, v), true
				}
				top.keys[v], top.wantKey, top.key = true, false, v
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
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
