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
