package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/issuer/acme/acmetest"
)

// BenchmarkACMEIssuance measures ACME issuances per second end to end
// through a fresh three-node cluster against pebble with validation turned
// off (PEBBLE_VA_ALWAYS_VALID=1; pebble's 5% nonce rejections stay on): 100
// certificates with server-side keys are renewed at once through the leader
// (16 clients), and the clock runs from the first POST /renew until every
// version is recorded (key and CSR made on the leader, order placed,
// finalized and fetched, key sealed, version and job outcome committed).
// Run it once:
//
//	go test -run '^$' -bench ACMEIssuance -benchtime=1x ./e2e/
func BenchmarkACMEIssuance(b *testing.B) {
	skipShort(b)
	const (
		count   = 100
		clients = 16
	)
	c := NewCluster(b, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	pebble := acmetest.Start(b, acmetest.Options{HTTPPort: acmetest.FreePort(b), AlwaysValid: true})
	f := c.Seed(leader)
	api := c.APIClient(AdminKey, leader)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cfg, _ := json.Marshal(map[string]any{"directory_url": pebble.DirectoryURL, "ca_bundle": pebble.CABundle,
		"eab_kid": acmetest.EABKID, "eab_hmac_key": acmetest.EABHMACKey, "terms_of_service_agreed": true})
	if _, err := api.CreateIssuer(ctx, wire.Issuer{ID: "iss-bench-acme", Name: "pebble", Type: "ACME", Config: cfg, Enabled: true}); err != nil {
		b.Fatal(err)
	}
	if err := api.TestIssuer(ctx, "iss-bench-acme"); err != nil { // the account is registered before the clock starts
		b.Fatal(err)
	}
	ids := make([]string, count)
	for i := range ids {
		ids[i] = "mc-acme-bench-" + strconv.Itoa(i)
	}
	parallel(b, ids, clients, func(id string) error { return createServerKeyCert(ctx, api, f, id, "iss-bench-acme") })
	issued := func(ctx context.Context) (int, error) {
		l, err := api.ListAudit(ctx, client.ListAuditOptions{Action: "certificate_issued", PerPage: 1})
		if err != nil {
			return 0, err
		}
		return l.Total, nil
	}
	before, err := issued(ctx)
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	start := time.Now()
	parallel(b, ids, clients, func(id string) error { return api.RenewCertificate(ctx, id) })
	err = c.WaitErr(5*time.Minute, func(ctx context.Context) error {
		n, err := issued(ctx)
		if err != nil {
			return err
		}
		if n-before < count {
			return fmt.Errorf("%d of %d certificates issued", n-before, count)
		}
		return nil
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(count)/elapsed.Seconds(), "issuances/s")
	b.ReportMetric(elapsed.Seconds(), "s_total")
}
