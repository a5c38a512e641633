package api_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
)

// TestAPI_OpenAPIDocument: the document parses, is OpenAPI 3, and describes
// exactly the routes registered on the engine, path parameters in braces.
func TestAPI_OpenAPIDocument(t *testing.T) {
	e := newEnv(t, api.Config{Dev: true})
	a := e.as(t, "", "GET", "/api/v1/openapi.json", nil)
	require.Equal(t, 200, a.status)
	require.NotNil(t, a.body, "the document is JSON: %.200s", a.raw)
	require.IsType(t, "", a.body["openapi"])
	assert.True(t, strings.HasPrefix(a.body["openapi"].(string), "3."), "openapi %v", a.body["openapi"])
	info, _ := a.body["info"].(map[string]any)
	assert.NotEmpty(t, info["title"])
	assert.NotEmpty(t, info["version"])
	paths, ok := a.body["paths"].(map[string]any)
	require.True(t, ok, "paths is an object")

	engine, ok := e.api.Handler().(*gin.Engine)
	require.True(t, ok, "Handler is the gin engine")
	registered := map[string]bool{}
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	for _, r := range engine.Routes() {
		if r.Path == "/" || strings.HasPrefix(r.Path, "/assets/") {
			continue // the dashboard's page and files (package web), not the API
		}
		p := param.ReplaceAllString(r.Path, "{$1}")
		key := strings.ToLower(r.Method) + " " + p
		registered[key] = true
		item, ok := paths[p].(map[string]any)
		if !assert.True(t, ok, "route %s %s is not in the document (as %s)", r.Method, r.Path, p) {
			continue
		}
		op, ok := item[strings.ToLower(r.Method)].(map[string]any)
		if !assert.True(t, ok, "route %s %s has no operation in the document", r.Method, r.Path) {
			continue
		}
		assert.NotEmpty(t, op["summary"], key)
		assert.NotEmpty(t, op["operationId"], key)
		responses, _ := op["responses"].(map[string]any)
		assert.NotEmpty(t, responses, "%s documents its answers", key)
		var inPath []string
		for _, prm := range asSlice(op["parameters"]) {
			if m := prm.(map[string]any); m["in"] == "path" {
				inPath = append(inPath, m["name"].(string))
				assert.Equal(t, true, m["required"], "%s: path parameter %v is required", key, m["name"])
			}
		}
		var want []string
		for _, m := range param.FindAllStringSubmatch(r.Path, -1) {
			want = append(want, m[1])
		}
		assert.Equal(t, want, inPath, "%s declares its path parameters", key)
	}
	require.NotEmpty(t, registered)
	operationIDs := map[string]string{}
	for p, item := range paths {
		assert.NotContains(t, p, ":", "path parameters are written {name}: %s", p)
		for method, op := range item.(map[string]any) {
			assert.True(t, registered[method+" "+p], "documented %s %s is not served", strings.ToUpper(method), p)
			id := op.(map[string]any)["operationId"].(string)
			assert.Empty(t, operationIDs[id], "operationId %s is used by %s and %s %s", id, operationIDs[id], method, p)
			operationIDs[id] = method + " " + p
		}
	}
	assert.Len(t, registered, len(api.RoutesOf(e.api)), "the engine serves exactly the routes table")
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
