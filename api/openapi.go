package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// openAPIDoc builds the OpenAPI 3 document from the routes table, so the
// document cannot drift from what is served: a route is described by the
// same entry that registers it.
func (s *Server) openAPIDoc() map[string]any {
	paths := map[string]map[string]any{}
	for _, r := range s.routes() {
		p := openAPIPath(r.path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		op := map[string]any{
			"summary":     r.summary,
			"tags":        []string{r.tag},
			"operationId": operationID(r),
			"responses":   responses(r),
			"x-access":    r.access.String(),
		}
		var params []any
		for _, seg := range strings.Split(r.path, "/") {
			if strings.HasPrefix(seg, ":") {
				params = append(params, map[string]any{"name": seg[1:], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
			}
		}
		for _, q := range r.query {
			params = append(params, map[string]any{"name": q, "in": "query", "required": false, "schema": queryType(q)})
		}
		if params != nil {
			op["parameters"] = params
		}
		if r.request != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(r.request))}}}
		}
		if r.access != accessPublic && r.access != accessInternal {
			op["security"] = []any{map[string]any{"bearer": []string{}}}
		}
		paths[p][strings.ToLower(r.method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "certctl API",
			"version":     "1.0",
			"description": "The certctl appliance's REST API: the original certctl's wire format, served by every node of the cluster.",
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"schemas":         map[string]any{"Error": schemaOf(reflect.TypeOf(errorBody{}))},
		},
	}
}

func openAPIPath(ginPath string) string {
	segs := strings.Split(ginPath, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

func operationID(r route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.method))
	for _, s := range strings.Split(strings.TrimPrefix(r.path, "/api/v1"), "/") {
		s = strings.TrimPrefix(s, ":")
		for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func queryType(name string) map[string]any {
	switch name {
	case "page", "per_page":
		return map[string]any{"type": "integer", "minimum": 1}
	case "expires_before", "expires_after", "from", "to":
		return map[string]any{"type": "string", "format": "date-time"}
	case "consistency":
		return map[string]any{"type": "string", "enum": []string{"local", "strong"}}
	}
	return map[string]any{"type": "string"}
}

func responses(r route) map[string]any {
	errRef := map[string]any{"description": "error", "content": map[string]any{
		"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	out := map[string]any{}
	ok := map[string]any{"description": http.StatusText(r.status)}
	switch v := r.response.(type) {
	case nil:
	case string:
		media := "text/plain"
		if r.produces != "" {
			media = r.produces
		}
		schema := map[string]any{"type": "string"}
		if r.produces == SnapshotMediaType {
			schema["format"] = "binary"
		}
		ok["content"] = map[string]any{media: map[string]any{"schema": schema}}
	default:
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(v))}}
	}
	out[strconv.Itoa(r.status)] = ok
	codes := []int{http.StatusServiceUnavailable}
	if r.access != accessPublic && r.access != accessInternal {
		codes = append(codes, http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests)
	}
	if strings.Contains(r.path, ":") {
		codes = append(codes, http.StatusNotFound)
	}
	if r.method != http.MethodGet {
		codes = append(codes, http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge)
	}
	if r.method != http.MethodGet && (strings.HasPrefix(r.path, "/api/v1/certificates") || strings.HasSuffix(r.path, "/csr")) {
		// Refused by a policy rule of severity Error or Critical (policy_violation).
		codes = append(codes, http.StatusUnprocessableEntity)
	}
	for _, c := range codes {
		out[strconv.Itoa(c)] = errRef
	}
	return out
}

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage{})
)

// schemaOf describes a Go type as an OpenAPI schema, from its json tags.
func schemaOf(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{"type": "object"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := schemaOf(t.Elem())
		s["nullable"] = true
		return s
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint64, reflect.Uint32:
		return map[string]any{"type": "integer"}
	case reflect.Float64, reflect.Float32:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		props := map[string]any{}
		addFields(t, props)
		return map[string]any{"type": "object", "properties": props}
	}
	return map[string]any{}
}

func addFields(t reflect.Type, props map[string]any) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			addFields(f.Type, props)
			continue
		}
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type)
	}
}

// openAPIDocument renders the document once per server.
type openAPIDocument struct {
	once sync.Once
	json []byte
}

func (s *Server) openAPI(c *gin.Context) {
	s.openapi.once.Do(func() { s.openapi.json, _ = json.MarshalIndent(s.openAPIDoc(), "", "  ") })
	c.Data(http.StatusOK, "application/json", s.openapi.json)
}
