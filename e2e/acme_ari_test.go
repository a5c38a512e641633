package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/issuer/acme/acmetest"
)

// TestACME_ClusterHonoursRenewalInfo: a three-node cluster with an ACME
// issuer on pebble (validation off: the point is the timing). Pebble is
// told, through its management interface, to suggest a window already
// past for one certificate and a window a month ahead for another, before
// the cluster asks; a new leader asks at once (the renewal-information
// loop runs when a leader starts). The first is renewed early, by the
// cluster alone, though its renewal policy would wait years; the second,
// moved to a policy whose own window says "now", is not renewed, while a
// control certificate on that policy with no window from its CA is.
func TestACME_ClusterHonoursRenewalInfo(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin, WithNodeArgs(func(string) []string {
		return []string{"--renewal-check-spec", "@every 2s"}
	}))
	c.Start(3)
	leader := c.WaitLeader()
	pebble := acmetest.Start(t, acmetest.Options{HTTPPort: acmetest.FreePort(t), AlwaysValid: true})
	f := c.Seed(leader)
	api := c.APIClient(AdminKey, c.Nodes()...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	cfg, err := json.Marshal(map[string]any{"directory_url": pebble.DirectoryURL, "ca_bundle": pebble.CABundle,
		"email": "pki@example.com", "eab_kid": acmetest.EABKID, "eab_hmac_key": acmetest.EABHMACKey,
		"terms_of_service_agreed": true})
	require.NoError(t, err)
	_, err = api.CreateIssuer(ctx, wire.Issuer{ID: "iss-ari", Name: "pebble ari", Type: "ACME", Config: cfg, Enabled: true})
	require.NoError(t, err)
	wide := 3650
	_, err = api.CreateRenewalPolicy(ctx, wire.RenewalPolicy{ID: "rp-now", Name: "renew now", RenewalWindowDays: &wide,
		AutoRenew: true, MaxRetries: 1, RetryIntervalMinutes: 1, AlertThresholdsDays: []int{}})
	require.NoError(t, err)

	// Two certificates under the default policy (a third of pebble's
	// lifetime: years away), issued by hand.
	for _, id := range []string{"mc-ari-past", "mc-ari-far"} {
		serverKeyCert(t, ctx, api, f, id, "iss-ari")
		require.NoError(t, api.RenewCertificate(ctx, id))
	}
	past := waitVersions(t, c, api, "mc-ari-past", 1, 60*time.Second)[0]
	far := waitVersions(t, c, api, "mc-ari-far", 1, 60*time.Second)[0]
	now := time.Now().UTC().Truncate(time.Second)
	pebble.SetRenewalInfo(t, past.PEMChain, now.Add(-2*time.Hour), now.Add(-time.Hour), "https://ca.example/early")
	farStart := now.Add(30 * 24 * time.Hour)
	pebble.SetRenewalInfo(t, far.PEMChain, farStart, farStart.Add(24*time.Hour), "")

	// A new leader asks the CA at once.
	c.Stop(leader)
	c.WaitLeader(leader)
	c.Restart(leader)

	info := func(id string) *wire.RenewalInfo {
		var ri *wire.RenewalInfo
		c.Wait("the renewal information of "+id, func(ctx context.Context) error {
			got, err := api.GetCertificate(ctx, id)
			if err != nil {
				return err
			}
			if got.RenewalInfo == nil {
				return errors.New("none recorded yet")
			}
			ri = got.RenewalInfo
			return nil
		})
		return ri
	}
	pastInfo := info("mc-ari-past")
	assert.True(t, pastInfo.WindowStart.Equal(now.Add(-2*time.Hour)), "%v", pastInfo.WindowStart)
	assert.Equal(t, "https://ca.example/early", pastInfo.ExplanationURL)
	assert.True(t, pastInfo.RetryAfter.After(pastInfo.FetchedAt.Add(5*time.Hour)), "pebble's Retry-After (6h) is kept: %+v", pastInfo)
	farInfo := info("mc-ari-far")
	assert.True(t, farInfo.WindowStart.Equal(farStart), "%v", farInfo.WindowStart)

	// The window that has passed: renewed early, by the cluster itself.
	versions := waitVersions(t, c, api, "mc-ari-past", 2, 90*time.Second)
	assert.NotEqual(t, versions[0].SerialNumber, versions[1].SerialNumber)
	for _, v := range versions {
		pebble.Verify(t, v.PEMChain, "mc-ari-past.example.com")
	}

	// The window a month ahead holds off a policy that says "now"; the
	// control certificate on that policy, without a window, renews.
	moveToPolicy(t, ctx, api, "mc-ari-far", "rp-now")
	serverKeyCert(t, ctx, api, f, "mc-ari-control", "iss-ari")
	require.NoError(t, api.RenewCertificate(ctx, "mc-ari-control"))
	waitVersions(t, c, api, "mc-ari-control", 1, 60*time.Second)
	moveToPolicy(t, ctx, api, "mc-ari-control", "rp-now")
	waitVersions(t, c, api, "mc-ari-control", 2, 90*time.Second)
	l, err := api.ListCertificateVersions(ctx, "mc-ari-far", 1, 10)
	require.NoError(t, err)
	assert.Equal(t, 1, l.Total, "the CA's window, a month ahead, decides, not the policy's")
}

func moveToPolicy(t *testing.T, ctx context.Context, api *client.Client, id, policy string) {
	t.Helper()
	got, err := api.GetCertificate(ctx, id)
	require.NoError(t, err)
	got.RenewalPolicyID = policy
	_, err = api.UpdateCertificate(ctx, id, *got)
	require.NoError(t, err)
}
