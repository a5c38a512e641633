package localca

import (
	"crypto/elliptic"
	"math/big"
	"testing"
	"time"

	"github.com/certctl/certctl/connectors/issuer"
)

// BenchmarkIssueECDSA measures one issuance end to end inside the connector:
// parse the CSR and check its signature, names and key, then sign a leaf
// with the ECDSA P-384 intermediate. The CSR is ECDSA P-256, as the agent
// makes them; the serial is fixed by the caller, as the lifecycle engine does.
func BenchmarkIssueECDSA(b *testing.B) {
	ca := newTestCA(b, "", Config{CRLURL: testCRLURL})
	req := issuer.IssuanceRequest{
		CommonName: "bench.example.com",
		SANs:       []string{"www.bench.example.com"},
		CSRPEM:     makeCSR(b, ecKey(b, elliptic.P256()), "bench.example.com", "www.bench.example.com"),
	}
	b.ReportAllocs()
	for b.Loop() {
		serial, err := issuer.NewSerial(nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Serial = serial
		if _, err := ca.iss.IssueCertificate(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "issuances/s")
}

// BenchmarkIssueECDSAParallel is BenchmarkIssueECDSA from GOMAXPROCS
// goroutines sharing one Issuer.
func BenchmarkIssueECDSAParallel(b *testing.B) {
	ca := newTestCA(b, "", Config{CRLURL: testCRLURL})
	csr := makeCSR(b, ecKey(b, elliptic.P256()), "bench.example.com")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := issuer.IssuanceRequest{CommonName: "bench.example.com", CSRPEM: csr}
			if _, err := ca.iss.IssueCertificate(b.Context(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "issuances/s")
}

// BenchmarkIssueRSA2048CSR is BenchmarkIssueECDSA for an RSA 2048 CSR.
func BenchmarkIssueRSA2048CSR(b *testing.B) {
	ca := newTestCA(b, "", Config{})
	req := issuer.IssuanceRequest{CommonName: "bench.example.com", CSRPEM: makeCSR(b, rsaKey(b, 2048), "bench.example.com")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.iss.IssueCertificate(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "issuances/s")
}

// BenchmarkCRL1000 signs a CRL of 1,000 revoked serials.
func BenchmarkCRL1000(b *testing.B) {
	ca := newTestCA(b, "", Config{})
	revoked := make([]issuer.RevokedSerial, 1000)
	now := ca.inter.NotBefore.Add(1)
	for i := range revoked {
		s, err := issuer.NewSerial(nil)
		if err != nil {
			b.Fatal(err)
		}
		revoked[i] = issuer.RevokedSerial{Serial: s, RevokedAt: now, Reason: issuer.ReasonSuperseded}
	}
	number := big.NewInt(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.iss.CRL(b.Context(), revoked, now, now.Add(24*time.Hour), number); err != nil {
			b.Fatal(err)
		}
	}
}
