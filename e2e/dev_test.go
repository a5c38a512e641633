package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm/demo"
)

// TestNode_DevModeStartsClean runs `certctl server --dev` (what `make run`
// starts) through its scheduler's first passes over the demo data: the demo
// loads whole, each demo job is in the state the demo gives it (none taken
// by the scheduler before the demo settled it), and the log holds no ERROR
// or WARN line but the missing notifier's.
func TestNode_DevModeStartsClean(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	n := c.AddDevNode()
	c.StartNode(n)
	c.WaitReady(n)

	// The scheduler's first passes are done once each loop has logged and
	// no job is held by the scheduler any more.
	c.Wait("the dev node's first scheduler passes", func(ctx context.Context) error {
		log := n.Log()
		if strings.Contains(log, `msg="loading demo data failed"`) {
			return &fatalError{fmt.Errorf("the demo data did not load:\n%s", n.LogTail(20))}
		}
		for _, line := range []string{`msg="demo data loaded"`, `msg="renewal check"`, `msg="notifications pass"`} {
			if !strings.Contains(log, line) {
				return fmt.Errorf("no %s in the log yet", line)
			}
		}
		var jobs wire.List[wire.Job]
		if err := c.Client().GetJSON(ctx, n.URL(), "/api/v1/jobs?per_page=500", "", &jobs); err != nil {
			return err
		}
		for _, j := range jobs.Data {
			if j.Status == "Running" && j.LeaseHolder != demo.LeaseHolder {
				return fmt.Errorf("job %s is still worked by %s", j.ID, j.LeaseHolder)
			}
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	want := map[string]struct{ status, holder string }{
		"job-demo-1": {"Completed", ""},
		"job-demo-2": {"Running", demo.LeaseHolder},
		"job-demo-3": {"Failed", ""},
		"job-demo-4": {"Pending", ""}, // a deployment for ag-web-prod's next poll
	}
	for id, w := range want {
		var j wire.Job
		require.NoError(t, c.Client().GetJSON(ctx, n.URL(), "/api/v1/jobs/"+id, "", &j))
		assert.Equal(t, w.status, string(j.Status), id)
		assert.Equal(t, w.holder, j.LeaseHolder, id)
	}

	var bad []string
	for _, line := range strings.Split(n.Log(), "\n") {
		if !strings.Contains(line, "level=ERROR") && !strings.Contains(line, "level=WARN") {
			continue
		}
		if strings.Contains(line, `msg="no notifier configured`) {
			continue // the one warning a dev node gives: nothing is configured to send notifications
		}
		bad = append(bad, line)
	}
	assert.Empty(t, bad, "a dev node logs no error or warning but the missing notifier's")
}
