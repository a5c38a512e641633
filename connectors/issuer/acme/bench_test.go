package acme_test

import (
	"testing"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/issuer/acme/acmetest"
)

// BenchmarkOrderHTTP01 is the time one order takes against pebble with
// HTTP-01 validated for real (PEBBLE_VA_NOSLEEP=1): new order, the answer
// published, the challenge validated over HTTP, finalize, fetch. Run:
//
//	go test -run '^$' -bench OrderHTTP01 -benchtime=20x ./connectors/issuer/acme/
func BenchmarkOrderHTTP01(b *testing.B) {
	e := newEnv(b, acmetest.Options{})
	iss := e.issuerFor(b, "iss-bench", e.config(nil))
	csr := csrFor(b, "bench.example.com")
	for b.Loop() {
		if _, err := iss.IssueCertificate(b.Context(), issuer.IssuanceRequest{CommonName: "bench.example.com", CSRPEM: csr}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkOrderDNS01 is BenchmarkOrderHTTP01 with DNS-01: the TXT record
// written by a TSIG-signed RFC 2136 update to a DNS server the test runs,
// checked there, validated by pebble, removed. Run:
//
//	go test -run '^$' -bench OrderDNS01 -benchtime=10x ./connectors/issuer/acme/
func BenchmarkOrderDNS01(b *testing.B) {
	zone := acmetest.StartDNS(b, "example.com")
	e := newEnv(b, acmetest.Options{DNSServer: zone.Addr})
	iss := e.issuerFor(b, "iss-bench-dns", e.config(map[string]any{"challenge": "dns-01", "dns_server": zone.Addr,
		"dns_zone": "example.com", "dns_tsig_key": acmetest.TSIGKey, "dns_tsig_secret": acmetest.TSIGSecret}))
	csr := csrFor(b, "bench.example.com")
	for b.Loop() {
		if _, err := iss.IssueCertificate(b.Context(), issuer.IssuanceRequest{CommonName: "bench.example.com", CSRPEM: csr}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}
