// Package acmetest runs pebble, Let's Encrypt's ACME test server, for the
// tests of the ACME issuer: on 127.0.0.1 with free ports, its listener's
// certificate made by the test, External Account Binding required, and
// every name resolved to 127.0.0.1 by pebble-challtestsrv's DNS server.
// The binaries are those `make test-deps` installs into bin/tools.
package acmetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// EAB is the External Account Binding pebble is configured with.
const (
	EABKID     = "kid-certctl"
	EABHMACKey = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
)

// BlockedDomain is a domain pebble's policy refuses (rejectedIdentifier).
const BlockedDomain = "blocked.example"

// Options configure Start.
type Options struct {
	// HTTPPort is the port pebble's validation fetches HTTP-01 answers
	// from (on 127.0.0.1, where every name resolves). Required.
	HTTPPort int
	// NonceReject is PEBBLE_WFE_NONCEREJECT, the percentage of requests
	// pebble refuses with badNonce; 0 means pebble's default, 5.
	NonceReject int
	// AlwaysValid sets PEBBLE_VA_ALWAYS_VALID: no validation at all.
	AlwaysValid bool
	// DNSServer, when set, is the DNS server pebble resolves names and
	// DNS-01 TXT records at (a *DNS); empty runs pebble-challtestsrv,
	// which answers 127.0.0.1 for every name.
	DNSServer string
	// Profiles are the certificate profiles pebble offers (name to
	// description); nil gives pebble's default.
	Profiles map[string]string
}

// Pebble is a running pebble.
type Pebble struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// ManagementURL is pebble's management interface (roots, certificate
	// status).
	ManagementURL string
	// CABundle is the PEM CA of pebble's TLS listeners, for a config's
	// ca_bundle.
	CABundle string
	client   *http.Client
}

// Tool returns the path of a test tool in the module's bin/tools, failing
// t naming `make test-deps` when it is missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("acmetest: no go.mod above the test's directory to find bin/tools/%s in", name)
		}
		dir = parent
	}
	path := filepath.Join(dir, "bin", "tools", name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("acmetest: %s is missing (%v): run `make test-deps`, which installs pebble and pebble-challtestsrv v2.10.3 into bin/tools", name, err)
	}
	return path
}

// FreePort returns a port free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs pebble-challtestsrv's DNS server and pebble until t ends.
func Start(t testing.TB, opts Options) *Pebble {
	t.Helper()
	if opts.HTTPPort == 0 {
		t.Fatal("acmetest: Options.HTTPPort is required")
	}
	pebbleBin, challBin := Tool(t, "pebble"), Tool(t, "pebble-challtestsrv")
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := listenerCert(t)
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	certFile, keyFile := write("cert.pem", certPEM), write("key.pem", keyPEM)

	dnsAddr := opts.DNSServer
	if dnsAddr == "" {
		dnsAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		run(t, dir, "challtestsrv", challBin, nil, "-http01", "", "-https01", "", "-doh", "", "-tlsalpn01", "",
			"-dnsserver", dnsAddr, "-management", fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
			"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	}

	listen := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	mgmt := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	type profile struct {
		Description    string
		ValidityPeriod uint64
	}
	var cfg struct {
		Pebble struct {
			ListenAddress                  string
			ManagementListenAddress        string
			HTTPPort                       int
			TLSPort                        int
			Certificate                    string
			PrivateKey                     string
			ExternalAccountBindingRequired bool
			ExternalAccountMACKeys         map[string]string
			Profiles                       map[string]profile `json:",omitempty"`
			DomainBlocklist                []string
			RetryAfter                     struct{ Authz, Order int }
		} `json:"pebble"`
	}
	p := &cfg.Pebble
	p.ListenAddress, p.ManagementListenAddress = listen, mgmt
	p.HTTPPort, p.TLSPort = opts.HTTPPort, FreePort(t)
	p.Certificate, p.PrivateKey = certFile, keyFile
	p.ExternalAccountBindingRequired = true
	p.ExternalAccountMACKeys = map[string]string{EABKID: EABHMACKey}
	p.RetryAfter.Authz, p.RetryAfter.Order = 1, 1
	p.DomainBlocklist = []string{BlockedDomain}
	if opts.Profiles != nil {
		p.Profiles = map[string]profile{}
		for name, desc := range opts.Profiles {
			p.Profiles[name] = profile{Description: desc, ValidityPeriod: 7 * 24 * 3600}
		}
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := write("pebble.json", raw)
	env := []string{"PEBBLE_VA_NOSLEEP=1"}
	if opts.NonceReject > 0 {
		env = append(env, "PEBBLE_WFE_NONCEREJECT="+strconv.Itoa(opts.NonceReject))
	}
	if opts.AlwaysValid {
		env = append(env, "PEBBLE_VA_ALWAYS_VALID=1")
	}
	run(t, dir, "pebble", pebbleBin, env, "-config", cfgFile, "-dnsserver", dnsAddr)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	pb := &Pebble{
		DirectoryURL:  "https://" + listen + "/dir",
		ManagementURL: "https://" + mgmt,
		CABundle:      string(caPEM),
		client:        &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := pb.client.Get(pb.DirectoryURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return pb
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("acmetest: pebble did not answer at %s within 20s: %v (its log: %s)", pb.DirectoryURL, err, filepath.Join(dir, "pebble.log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run starts bin until t ends; its output goes to dir/name.log and is
// shown when t fails.
func run(t testing.TB, dir, name, bin string, env []string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("acmetest: start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		logFile.Close()
		if t.Failed() {
			if out, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s log:\n%s", name, tail(out, 6000))
			}
		}
	})
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// listenerCert makes a CA and a certificate for 127.0.0.1 and localhost
// signed by it, for pebble's listeners.
func listenerCert(t testing.TB) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "acmetest pebble listener CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost", "pebble"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// get fetches a path of the management interface.
func (p *Pebble) get(t testing.TB, path string) []byte {
	t.Helper()
	resp, err := p.client.Get(p.ManagementURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("acmetest: GET %s: %s: %s", path, resp.Status, body)
	}
	return body
}

// Roots returns pebble's root certificates (/roots/0) as a pool.
func (p *Pebble) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.get(t, "/roots/0")) {
		t.Fatal("acmetest: pebble's /roots/0 holds no certificate")
	}
	return pool
}

// CertStatus is pebble's record of a certificate.
type CertStatus struct {
	Status string
	Reason *uint `json:",omitempty"`
}

// Status returns what pebble says of the certificate with serial (hex).
func (p *Pebble) Status(t testing.TB, serial string) CertStatus {
	t.Helper()
	var s CertStatus
	if err := json.Unmarshal(p.get(t, "/cert-status-by-serial/"+serial), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Verify checks that chainPEM (leaf first) verifies against pebble's root
// for name.
func (p *Pebble) Verify(t testing.TB, chainPEM, name string) *x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	rest := []byte(chainPEM)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		t.Fatal("acmetest: no certificate in the chain")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: name, Roots: p.Roots(t), Intermediates: inter}); err != nil {
		t.Fatalf("acmetest: the chain does not verify against pebble's root: %v", err)
	}
	return certs[0]
}
