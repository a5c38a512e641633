package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/demo"
	"github.com/certctl/certctl/node"
)

// prepareDev gives a --dev node its own loopback ports and, unless a data dir
// was chosen, a temporary one removed on exit.
func prepareDev(cfg *serverConfig) (cleanup func(), err error) {
	cleanup = func() {}
	temporary := cfg.DataDir == ""
	if temporary {
		dir, err := os.MkdirTemp("", "certctl-dev-")
		if err != nil {
			return nil, err
		}
		cfg.DataDir = dir
		cleanup = func() { os.RemoveAll(dir) }
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "dev"
	}
	// A temporary node takes any free raft port; one on a kept data dir keeps
	// its configured address, which its raft configuration records.
	if temporary && cfg.RaftAddr == defaultServerConfig().RaftAddr {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		cfg.RaftAddr = ln.Addr().String()
		ln.Close()
	}
	return cleanup, nil
}

func devBanner(cfg serverConfig) string {
	line := strings.Repeat("!", 78)
	return fmt.Sprintf(`
%s
!!  DEV MODE: one node, demo data, NO AUTHENTICATION. Never use it for real
!!  certificates. Data dir: %s
!!  API and dashboard: http://%s
%s

`, line, cfg.DataDir, cfg.APIAddr, line)
}

// loadDemoData proposes the demo data once, on a fresh state.
func loadDemoData(ctx context.Context, n *node.Node, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := n.FSM().Team("t-platform"); err == nil {
		log.Info("demo data already present")
		return nil
	}
	now := time.Now().UTC()
	payloads, err := demo.Payloads(now)
	if err != nil {
		return err
	}
	for i, p := range payloads {
		cmd, err := fsm.NewCommand(fsm.Meta{
			RequestID: fmt.Sprintf("demo-%d-%d", now.UnixNano(), i),
			Time:      now,
			Actor:     "demo",
			ActorType: fsm.ActorSystem,
		}, p)
		if err != nil {
			return fmt.Errorf("demo command %d (%s): %w", i, p.CommandType(), err)
		}
		if _, err := n.Propose(ctx, cmd); err != nil {
			return fmt.Errorf("demo command %d (%s): %w", i, p.CommandType(), err)
		}
	}
	log.Info("demo data loaded", "commands", len(payloads))
	return nil
}
