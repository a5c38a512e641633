package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestImports_AgentStaysSmall: the agent links neither the server's state
// machine, raft, the scheduler, nor the HTTP framework (DESIGN decision 11).
func TestImports_AgentStaysSmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/certctl/certctl/fsm", "github.com/certctl/certctl/node",
			"github.com/certctl/certctl/scheduler", "github.com/certctl/certctl/api", "github.com/gin-gonic/", "github.com/hashicorp/", "go.etcd.io/bbolt"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") || strings.HasPrefix(dep, banned) && strings.HasSuffix(banned, "/") {
				if dep == "github.com/certctl/certctl/api/client" || dep == "github.com/certctl/certctl/api/wire" {
					continue
				}
				assert.Fail(t, "certctl-agent links "+dep)
			}
		}
	}
}
