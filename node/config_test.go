package node_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

func TestConfig_Validate(t *testing.T) {
	valid := func() node.Config {
		return node.Config{NodeID: "n1", DataDir: "/tmp/x", RaftAddr: "127.0.0.1:8300", APIAddr: "127.0.0.1:8443", Bootstrap: true, Sealer: nodetest.Sealer}
	}
	tests := []struct {
		name    string
		change  func(*node.Config)
		wantErr string
	}{
		{"valid", func(*node.Config) {}, ""},
		{"no node id", func(c *node.Config) { c.NodeID = "" }, "NodeID"},
		{"bad node id", func(c *node.Config) { c.NodeID = "a b" }, "NodeID"},
		{"no data dir", func(c *node.Config) { c.DataDir = "" }, "DataDir"},
		{"raft addr without port", func(c *node.Config) { c.RaftAddr = "127.0.0.1" }, "RaftAddr"},
		{"no api addr", func(c *node.Config) { c.APIAddr = "" }, "APIAddr"},
		{"no sealer", func(c *node.Config) { c.Sealer = nil }, "key-encryption key"},
		{"plain http join address", func(c *node.Config) { c.Bootstrap = false; c.JoinAddrs = []string{"http://10.0.0.1:8443"} }, "HTTPS only"},
		{"join address without port", func(c *node.Config) { c.Bootstrap = false; c.JoinAddrs = []string{"10.0.0.1"} }, "not host:port"},
		{"bad tls host", func(c *node.Config) { c.TLSHosts = []string{"a b"} }, "TLS host"},
		{"bootstrap and join", func(c *node.Config) { c.JoinAddrs = []string{"a:1"} }, "mutually exclusive"},
		{"short join token", func(c *node.Config) {
			c.Bootstrap = false
			c.JoinAddrs = []string{"a:1"}
			c.JoinToken = "cjt1.jt-1.c2hvcnQ." + strings.Repeat("ab", 32)
		}, "at least 32 random bytes"},
		{"join token without CA fingerprint", func(c *node.Config) {
			c.Bootstrap = false
			c.JoinAddrs = []string{"a:1"}
			c.JoinToken = "e2e-join-token-0123456789abcdef"
		}, "not a join token"},
		{"lease above heartbeat", func(c *node.Config) {
			c.HeartbeatTimeout = 100 * time.Millisecond
			c.LeaderLeaseTimeout = 200 * time.Millisecond
		}, "LeaderLeaseTimeout"},
		{"too many append entries", func(c *node.Config) { c.MaxAppendEntries = 2048 }, "MaxAppendEntries"},
		{"negative transport timeout", func(c *node.Config) { c.TransportTimeout = -time.Second }, "TransportTimeout"},
		{"negative stall timeout", func(c *node.Config) { c.StallTimeout = -time.Second }, "StallTimeout"},
		{"shutdown shorter than two transport timeouts", func(c *node.Config) {
			c.TransportTimeout = 3 * time.Second
			c.ShutdownTimeout = 5 * time.Second
		}, "ShutdownTimeout 5s must be more than twice TransportTimeout 3s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tt.wantErr)
			}
		})
	}
}
