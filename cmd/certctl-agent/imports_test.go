package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestImports_AgentStaysSmall: of certctl's own packages the agent links
// only the agent runtime, the client with its wire types and the
// connectors; and neither raft, bbolt nor the HTTP framework (DESIGN
// decision 11).
func TestImports_AgentStaysSmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, string(out))
	const own = "github.com/certctl/certctl/"
	allowed := []string{own + "agent", own + "api/client", own + "api/wire", own + "connectors/"}
	banned := []string{"github.com/gin-gonic/", "github.com/hashicorp/", "go.etcd.io/bbolt"}
	for _, dep := range strings.Fields(string(out)) {
		if rest, ok := strings.CutPrefix(dep, own); ok && rest != "cmd/certctl-agent" {
			ok := false
			for _, a := range allowed {
				ok = ok || dep == a || strings.HasSuffix(a, "/") && strings.HasPrefix(dep, a)
			}
			assert.True(t, ok, "certctl-agent links %s", dep)
		}
		for _, b := range banned {
			assert.False(t, strings.HasPrefix(dep, b), "certctl-agent links %s", dep)
		}
	}
}
