package acme

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/providers/dns/dnsupdate"
	"github.com/miekg/dns"

	"github.com/certctl/certctl/connectors/issuer"
)

// errHookNotAllowed: a config names a dns_hook the node does not allow.
var errHookNotAllowed = errors.New("acme: hook not allowed")

// setDNS01 makes client answer DNS-01 by the config's dns_hook (when the
// node allows it) or by RFC 2136 updates to the config's DNS server (lego's
// dnsupdate provider, TSIG-signed when a key is set),
// and check that the server answers the record before the CA is told:
// asked directly, every two seconds, up to dns_propagation_seconds.
func (i *Issuer) setDNS01(client *lego.Client) error {
	server := i.cfg.DNSServer
	check := dns01.WrapPreCheck(func(ctx context.Context, _, fqdn, value string, _ dns01.PreCheckFunc) (bool, error) {
		return txtServed(ctx, server, fqdn, value)
	})
	if i.cfg.DNSHook != "" {
		if err := i.c.allowedHook(i.cfg.DNSHook); err != nil {
			return &issuer.ConfigError{Field: "dns_hook", Reason: err.Error()}
		}
		return client.Challenge.SetDNS01Provider(hook{path: i.cfg.DNSHook,
			timeout: time.Duration(i.cfg.DNSPropagationSeconds) * time.Second}, check)
	}
	cfg := dnsupdate.NewDefaultConfig()
	cfg.Nameserver = i.cfg.DNSServer
	cfg.Zones = []string{i.cfg.DNSZone}
	cfg.TSIGKey, cfg.TSIGSecret = i.cfg.DNSTSIGKey, i.cfg.DNSTSIGSecret
	cfg.TSIGAlgorithm = i.cfg.DNSTSIGAlgorithm
	cfg.PropagationTimeout = time.Duration(i.cfg.DNSPropagationSeconds) * time.Second
	cfg.PollingInterval = 2 * time.Second
	cfg.SequenceInterval = 0
	cfg.TTL = 60
	provider, err := dnsupdate.NewDNSProviderConfig(cfg)
	if err != nil {
		return fmt.Errorf("acme: dns-01: %w", err)
	}
	return client.Challenge.SetDNS01Provider(provider, check)
}

// txtServed asks server whether fqdn has the TXT record value.
func txtServed(ctx context.Context, server, fqdn, value string) (bool, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(fqdn), dns.TypeTXT)
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return false, nil // not yet reachable: lego asks again until the timeout
	}
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok && strings.Join(txt.Txt, "") == value {
			return true, nil
		}
	}
	return false, nil
}
