package acme

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"time"

	"github.com/go-acme/lego/v5/challenge/dns01"
)

// hookTimeout bounds one run of a DNS-01 hook.
const hookTimeout = time.Minute

// hook is the DNS-01 challenge.Provider that runs a program the node's
// administrator allowed (Options.DNSHooks): "<path> present <fqdn> <value>"
// before the CA is told, "<path> cleanup <fqdn> <value>" after. It runs
// with an environment of PATH alone, so nothing of the server's (a join
// token, say) reaches it; its output is kept for the error when it fails.
type hook struct {
	path    string
	timeout time.Duration
}

func (h hook) Present(ctx context.Context, domain, _, keyAuth string) error {
	return h.run(ctx, "present", domain, keyAuth)
}

func (h hook) CleanUp(ctx context.Context, domain, _, keyAuth string) error {
	return h.run(ctx, "cleanup", domain, keyAuth)
}

// Timeout is the propagation check's: the config's dns_propagation_seconds.
func (h hook) Timeout() (timeout, interval time.Duration) { return h.timeout, 2 * time.Second }

func (h hook) run(ctx context.Context, action, domain, keyAuth string) error {
	info := dns01.GetChallengeInfo(ctx, domain, keyAuth)
	ctx, cancel := context.WithTimeout(ctx, hookTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.path, action, info.EffectiveFQDN, info.Value)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		text := out.Bytes()
		if len(text) > 1024 {
			text = text[len(text)-1024:]
		}
		return fmt.Errorf("acme: dns-01 hook %s %s %s: %w: %s", h.path, action, info.EffectiveFQDN, err, bytes.TrimSpace(text))
	}
	return nil
}

// allowedHook checks that the config's dns_hook is one the node allows.
func (c *connector) allowedHook(path string) error {
	if !slices.Contains(c.opts.DNSHooks, path) {
		return fmt.Errorf("acme: dns_hook %s is not among this node's acme_dns_hooks: a hook runs on the nodes, so only whoever administers them may allow one (acme_dns_hooks in the server config): %w",
			path, errHookNotAllowed)
	}
	return nil
}
