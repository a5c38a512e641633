package node

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/assert"
)

func TestHCLogAdapter_WritesToSlog(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), "raft")

	l.Debug("hidden", "k", 1)
	l.Named("net").With("peer", "n2").Warn("slow", "took", "5ms")
	l.StandardLogger(nil).Print("from std")

	out := buf.String()
	assert.NotContains(t, out, "hidden")
	assert.Contains(t, out, "level=WARN msg=slow component=raft.net peer=n2 took=5ms")
	assert.Contains(t, out, `msg="from std"`)
	assert.False(t, l.IsDebug())
	assert.True(t, l.IsWarn())

	l.SetLevel(hclog.Error)
	l.Warn("dropped")
	assert.NotContains(t, buf.String(), "dropped")
	assert.Equal(t, hclog.Error, l.GetLevel())
}

func TestLogger_RendersHCLogFormat(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLog(slog.New(slog.NewTextHandler(&buf, nil)), "raft")
	l.Info("initial configuration", "servers", hclog.Fmt("%+v", []string{"a", "b"}))
	assert.Contains(t, buf.String(), "servers=\"[a b]\"")
}

// TestLogger_FirstElectionIsNoWarning: raft warns of every election on a
// heartbeat timeout; the one a booting node starts, never having seen a
// leader, is logged as information, and a lost leader stays a warning.
func TestLogger_FirstElectionIsNoWarning(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLog(slog.New(slog.NewTextHandler(&buf, nil)), "raft")
	l.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "", "last-leader-id", "")
	assert.Contains(t, buf.String(), `level=INFO msg="heartbeat timeout reached, starting election"`)
	buf.Reset()
	l.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "127.0.0.1:8300", "last-leader-id", "n1")
	assert.Contains(t, buf.String(), `level=WARN msg="heartbeat timeout reached, starting election"`)
}
