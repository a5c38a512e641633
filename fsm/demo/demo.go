// Package demo builds the demo data that `certctl server --dev` loads, the
// same inventory the original certctl seeded: teams, owners, renewal policies,
// issuers, agents, targets, certificates in every lifecycle state with real
// certificate versions, jobs, policy rules (whose evaluation records the violations), and notifications.
//
// The data is returned as fsm payloads, in an order that applies cleanly on an
// empty state (every reference exists before it is used), to be proposed
// through Raft like any other write.
package demo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

// CACommonName is the subject of the demo root CA that signs every demo
// certificate version.
const CACommonName = "CertCtl Demo CA"

// Lifetime is the validity of every demo leaf certificate, the Local CA's 90 days.
const Lifetime = 90 * 24 * time.Hour

// LeaseHolder holds the leases of the demo's claimed jobs.
const LeaseHolder = "demo"

const day = 24 * time.Hour

type team struct{ id, name, description string }

var teams = []team{
	{"t-platform", "Platform", "Platform engineering: shared infrastructure, API gateway and mail"},
	{"t-security", "Security", "Security engineering: identity, VPN and PKI"},
	{"t-payments", "Payments", "Payments and checkout services"},
	{"t-frontend", "Frontend", "Public web sites, dashboard and CDN"},
	{"t-data", "Data", "Data platform, warehouse and observability"},
}

type owner struct{ id, name, email, team string }

var owners = []owner{
	{"o-alice", "Alice Johnson", "alice@example.com", "t-platform"},
	{"o-bob", "Bob Smith", "bob@example.com", "t-security"},
	{"o-carol", "Carol Williams", "carol@example.com", "t-payments"},
	{"o-dave", "Dave Brown", "dave@example.com", "t-frontend"},
	{"o-eve", "Eve Davis", "eve@example.com", "t-data"},
}

func ownerOf(id string) owner {
	for _, o := range owners {
		if o.id == id {
			return o
		}
	}
	panic("demo: unknown owner " + id)
}

type agent struct {
	id, name, hostname string
	online             bool
}

var agents = []agent{
	{"ag-web-prod", "web-prod", "web-prod-01.example.com", true},
	{"ag-web-staging", "web-staging", "web-stg-01.example.com", true},
	{"ag-lb-prod", "lb-prod", "lb-proxy-01.example.com", true},
	{"ag-data-prod", "data-prod", "data-prod-01.example.com", true},
	{"ag-iis-prod", "iis-prod", "iis-prod-01.example.com", false},
}

// AgentVersion is the version the demo agents report in their heartbeats.
const AgentVersion = "1.0.0"

// cert describes one demo certificate and the state it ends in.
type cert struct {
	id, name, cn string
	sans         []string
	env          string
	owner        string
	issuer       string
	policy       string
	tags         map[string]string
	targets      []string
	status       wire.CertificateStatus
	expiresIn    time.Duration // from now; negative when already expired
	reason       string
}

func svc(name string) map[string]string { return map[string]string{"service": name} }

var certs = []cert{
	{"mc-api-prod", "API Production", "api.example.com", []string{"api.example.com", "api-v2.example.com"},
		"production", "o-alice", "iss-local", "rp-standard", svc("api"),
		[]string{"tgt-nginx-prod", "tgt-f5-prod"}, fsm.CertActive, 62 * day, ""},
	{"mc-web-prod", "Web Production", "www.example.com", []string{"www.example.com", "example.com"},
		"production", "o-dave", "iss-acme-le", "rp-standard", svc("web"),
		[]string{"tgt-nginx-prod", "tgt-f5-prod"}, fsm.CertActive, 75 * day, ""},
	{"mc-pay-prod", "Payments Production", "pay.example.com", []string{"pay.example.com", "checkout.example.com"},
		"production", "o-carol", "iss-local", "rp-urgent", svc("payments"),
		[]string{"tgt-f5-prod"}, fsm.CertActive, 45 * day, ""},
	{"mc-dash-prod", "Dashboard Production", "dashboard.example.com", []string{"dashboard.example.com"},
		"production", "o-dave", "iss-local", "rp-standard", svc("dashboard"),
		[]string{"tgt-nginx-prod"}, fsm.CertActive, 80 * day, ""},
	{"mc-data-prod", "Data Platform Production", "data.example.com", []string{"data.example.com", "warehouse.example.com"},
		"production", "o-eve", "iss-local", "rp-standard", svc("data-platform"),
		[]string{"tgt-nginx-data"}, fsm.CertActive, 55 * day, ""},
	{"mc-api-stg", "API Staging", "api.staging.example.com", []string{"api.staging.example.com"},
		"staging", "o-alice", "iss-local", "rp-standard", svc("api"),
		[]string{"tgt-nginx-staging"}, fsm.CertActive, 85 * day, ""},
	{"mc-web-stg", "Web Staging", "www.staging.example.com", []string{"www.staging.example.com", "staging.example.com"},
		"staging", "o-dave", "iss-local", "rp-manual", svc("web"),
		[]string{"tgt-nginx-staging"}, fsm.CertActive, 40 * day, ""},
	{"mc-wildcard", "Wildcard example.com", "*.example.com", []string{"*.example.com", "example.com"},
		"production", "o-bob", "iss-local", "rp-urgent", svc("edge"),
		[]string{"tgt-f5-prod"}, fsm.CertActive, 70 * day, ""},

	{"mc-auth-prod", "Auth Production", "auth.example.com", []string{"auth.example.com", "login.example.com"},
		"production", "o-bob", "iss-local", "rp-urgent", svc("auth"),
		[]string{"tgt-nginx-prod"}, fsm.CertExpiring, 7 * day, ""},
	{"mc-cdn-prod", "CDN Production", "cdn.example.com", []string{"cdn.example.com", "static.example.com", "assets.example.com"},
		"production", "o-dave", "iss-local", "rp-standard", svc("cdn"),
		[]string{"tgt-f5-prod"}, fsm.CertExpiring, 14 * day, ""},
	{"mc-mail-prod", "Mail Production", "mail.example.com", []string{"mail.example.com", "smtp.example.com"},
		"production", "o-alice", "iss-local", "rp-standard", svc("mail"),
		[]string{"tgt-iis-prod"}, fsm.CertExpiring, 21 * day, ""},

	// mc-legacy-prod carries a SAN outside the allowed domains and mc-old-api
	// lacks the service tag: evaluating the policy rules when they are created
	// records the demo's violations and notifies their owners.
	{"mc-legacy-prod", "Legacy Portal Production", "legacy.example.com", []string{"legacy.example.com", "legacy.example-corp.net"},
		"production", "o-carol", "iss-local", "rp-manual", svc("legacy-portal"),
		[]string{"tgt-iis-prod"}, fsm.CertExpired, -3 * day, ""},
	{"mc-old-api", "Old API v1", "old-api.example.com", []string{"old-api.example.com"},
		"production", "o-alice", "iss-local", "rp-manual", map[string]string{"deprecated": "true"},
		[]string{"tgt-nginx-prod"}, fsm.CertExpired, -20 * day, ""},

	{"mc-grafana-prod", "Grafana Production", "grafana.example.com", []string{"grafana.example.com"},
		"production", "o-eve", "iss-local", "rp-standard", svc("grafana"),
		[]string{"tgt-nginx-data"}, fsm.CertRenewalInProgress, 10 * day, ""},
	{"mc-vpn-prod", "VPN Production", "vpn.example.com", []string{"vpn.example.com"},
		"production", "o-bob", "iss-acme-le", "rp-urgent", svc("vpn"),
		[]string{"tgt-f5-prod"}, fsm.CertFailed, 6 * day, vpnFailure},
}

const vpnFailure = "renewal failed: issuer iss-acme-le is disabled and its ACME directory " +
	"https://acme-v02.api.letsencrypt.org/directory is unreachable"

func raw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func intp(v int) *int { return &v }

// Payloads returns the commands that load the demo data, in apply order.
// Times are relative to now, which should also be the time of every command
// (job leases are taken until now+1m and now+10m). Certificate versions are
// real certificates signed by a demo root CA generated on each call; no private
// key is ever part of the result.
func Payloads(now time.Time) ([]fsm.Payload, error) {
	now = now.UTC()
	var out []fsm.Payload
	add := func(p ...fsm.Payload) { out = append(out, p...) }

	for _, t := range teams {
		add(&fsm.CreateTeam{Team: fsm.Team{ID: t.id, Name: t.name, Description: t.description}})
	}
	for _, o := range owners {
		add(&fsm.CreateOwner{Owner: fsm.Owner{ID: o.id, Name: o.name, Email: o.email, TeamID: o.team}})
	}

	add(
		&fsm.CreateRenewalPolicy{Policy: fsm.RenewalPolicy{ID: "rp-standard", Name: "Standard",
			RenewalWindowDays: intp(30), AutoRenew: true, MaxRetries: 3, RetryIntervalMinutes: 60,
			AlertThresholdsDays: []int{30, 14, 7, 0}}},
		&fsm.CreateRenewalPolicy{Policy: fsm.RenewalPolicy{ID: "rp-urgent", Name: "Urgent",
			RenewalWindowDays: intp(14), AutoRenew: true, MaxRetries: 5, RetryIntervalMinutes: 30,
			AlertThresholdsDays: []int{14, 7, 3, 0}}},
		&fsm.CreateRenewalPolicy{Policy: fsm.RenewalPolicy{ID: "rp-manual", Name: "Manual",
			RenewalWindowDays: intp(30), AutoRenew: false, MaxRetries: 3, RetryIntervalMinutes: 60,
			AlertThresholdsDays: []int{30, 14, 7, 0}}},
	)

	add(
		&fsm.CreateIssuer{Issuer: fsm.Issuer{ID: "iss-local", Name: "Local CA", Type: wire.IssuerGenericCA, Enabled: true,
			Config: raw(map[string]any{"ca_common_name": CACommonName, "validity_days": 90})}},
		// The ACME issuers are disabled: a demo has no internet access.
		&fsm.CreateIssuer{Issuer: fsm.Issuer{ID: "iss-acme-le", Name: "Let's Encrypt", Type: wire.IssuerACME, Enabled: false,
			Config: raw(map[string]any{
				"directory_url":  "https://acme-v02.api.letsencrypt.org/directory",
				"email":          "pki@example.com",
				"challenge_type": "http-01",
				"http_port":      80,
			})}},
		&fsm.CreateIssuer{Issuer: fsm.Issuer{ID: "iss-digicert", Name: "DigiCert", Type: wire.IssuerACME, Enabled: false,
			Config: raw(map[string]any{
				"directory_url":  "https://acme.digicert.com/v2/acme/directory/",
				"email":          "pki@example.com",
				"challenge_type": "http-01",
			})}},
	)

	// Agents: registered, then heard from; ag-iis-prod went quiet three hours
	// ago and has been marked Offline.
	beats := make([]fsm.Heartbeat, 0, len(agents))
	for _, a := range agents {
		add(&fsm.RegisterAgent{Agent: fsm.Agent{ID: a.id, Name: a.name, Hostname: a.hostname}})
		at := now.Add(-30 * time.Second)
		if !a.online {
			at = now.Add(-3 * time.Hour)
		}
		beats = append(beats, fsm.Heartbeat{AgentID: a.id, At: at, Version: AgentVersion})
	}
	add(&fsm.RecordHeartbeats{Beats: beats})
	for _, a := range agents {
		if !a.online {
			add(&fsm.SetAgentStatus{AgentID: a.id, Status: fsm.AgentOffline, From: fsm.AgentOnline})
		}
	}

	nginx := func(dir string) json.RawMessage {
		return raw(map[string]any{
			"cert_path":        dir + "/cert.pem",
			"key_path":         dir + "/key.pem",
			"chain_path":       dir + "/chain.pem",
			"reload_command":   "systemctl reload nginx",
			"validate_command": "nginx -t",
		})
	}
	add(
		&fsm.CreateTarget{Target: fsm.Target{ID: "tgt-nginx-prod", Name: "NGINX Production", Type: wire.TargetNGINX,
			AgentID: "ag-web-prod", Enabled: true, Config: nginx("/etc/nginx/ssl")}},
		&fsm.CreateTarget{Target: fsm.Target{ID: "tgt-nginx-staging", Name: "NGINX Staging", Type: wire.TargetNGINX,
			AgentID: "ag-web-staging", Enabled: true, Config: nginx("/etc/nginx/ssl")}},
		&fsm.CreateTarget{Target: fsm.Target{ID: "tgt-nginx-data", Name: "NGINX Data", Type: wire.TargetNGINX,
			AgentID: "ag-data-prod", Enabled: true, Config: nginx("/etc/nginx/ssl")}},
		// Credentials (username, password) are configured on the agent's side,
		// never in the demo.
		&fsm.CreateTarget{Target: fsm.Target{ID: "tgt-f5-prod", Name: "F5 BIG-IP Production", Type: wire.TargetF5,
			AgentID: "ag-lb-prod", Enabled: true, Config: raw(map[string]any{
				"host":        "bigip-prod.example.com",
				"port":        443,
				"partition":   "Common",
				"ssl_profile": "clientssl-example-com",
			})}},
		&fsm.CreateTarget{Target: fsm.Target{ID: "tgt-iis-prod", Name: "IIS Production", Type: wire.TargetIIS,
			AgentID: "ag-iis-prod", Enabled: true, Config: raw(map[string]any{
				"hostname":     "iis-prod-01.example.com",
				"site_name":    "Default Web Site",
				"cert_store":   "My",
				"binding_info": "*:443:",
			})}},
	)

	add(
		&fsm.CreatePolicyRule{Rule: fsm.PolicyRule{ID: "pr-max-lifetime", Name: "Maximum lifetime", Type: wire.PolicyCertificateLifetime,
			Enabled: true, Severity: fsm.SeverityWarning, Config: raw(map[string]any{"max_days": 397})}},
		&fsm.CreatePolicyRule{Rule: fsm.PolicyRule{ID: "pr-required-metadata", Name: "Required metadata", Type: wire.PolicyRequiredMetadata,
			Enabled: true, Severity: fsm.SeverityWarning, Config: raw(map[string]any{"required_keys": []string{"service"}})}},
	)

	for _, c := range certs {
		o := ownerOf(c.owner)
		add(&fsm.CreateCertificate{Certificate: fsm.Certificate{
			ID: c.id, Name: c.name, CommonName: c.cn, SANs: c.sans, Environment: c.env,
			OwnerID: o.id, TeamID: o.team, IssuerID: c.issuer, RenewalPolicyID: c.policy,
			TargetIDs: c.targets, Tags: c.tags, Status: fsm.CertPending,
		}})
	}

	ca, err := newCA(now)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		if c.status == fsm.CertPending {
			continue
		}
		v, err := ca.issue(c, now)
		if err != nil {
			return nil, err
		}
		v.DescribeKey()
		add(&fsm.RecordVersion{Version: v})
		if c.status != fsm.CertActive {
			add(&fsm.SetCertificateStatus{ID: c.id, Status: c.status, From: fsm.CertActive, Reason: c.reason})
		}
	}
	// The Error rule comes after the inventory it finds wanting: a rule of
	// severity Error refuses a certificate that breaks it, so the legacy
	// certificate is one issued before the rule, reported when it was set.
	add(&fsm.CreatePolicyRule{Rule: fsm.PolicyRule{ID: "pr-allowed-domains", Name: "Allowed domains", Type: wire.PolicyAllowedDomains,
		Enabled: true, Severity: fsm.SeverityError, Config: raw(map[string]any{"allowed_domains": []string{"example.com"}})}})

	add(&fsm.CreateJobs{Jobs: []fsm.Job{
		{ID: "job-demo-1", Type: fsm.JobDeployment, CertificateID: "mc-api-prod", TargetID: "tgt-nginx-prod", AgentID: "ag-web-prod"},
		{ID: "job-demo-2", Type: fsm.JobRenewal, CertificateID: "mc-grafana-prod"},
		{ID: "job-demo-3", Type: fsm.JobRenewal, CertificateID: "mc-vpn-prod", MaxAttempts: 1},
		{ID: "job-demo-4", Type: fsm.JobDeployment, CertificateID: "mc-web-prod", TargetID: "tgt-nginx-prod", AgentID: "ag-web-prod"},
	}})
	add(
		&fsm.ClaimJob{JobID: "job-demo-1", Holder: LeaseHolder, LeaseUntil: now.Add(time.Minute)},
		&fsm.CompleteJob{JobID: "job-demo-1", Holder: LeaseHolder, DeploymentResult: raw(map[string]any{
			"validated": true,
			"target_id": "tgt-nginx-prod",
			"message":   "certificate written to /etc/nginx/ssl; nginx -t passed; nginx reloaded",
		})},
		&fsm.ClaimJob{JobID: "job-demo-2", Holder: LeaseHolder, LeaseUntil: now.Add(10 * time.Minute)},
		&fsm.ClaimJob{JobID: "job-demo-3", Holder: LeaseHolder, LeaseUntil: now.Add(time.Minute)},
		&fsm.FailJob{JobID: "job-demo-3", Holder: LeaseHolder, Error: vpnFailure},
	)
	// Claiming a renewal shows its certificate RenewalInProgress; the failed
	// one ends Failed with its reason, as the scheduler leaves it.
	for _, c := range certs {
		if c.id == "mc-vpn-prod" {
			add(&fsm.SetCertificateStatus{ID: c.id, Status: fsm.CertFailed, From: fsm.CertRenewalInProgress, Reason: c.reason})
		}
	}

	expiry := func(id string) time.Time {
		for _, c := range certs {
			if c.id == id {
				return now.Add(c.expiresIn).Truncate(time.Second)
			}
		}
		panic("demo: unknown certificate " + id)
	}
	add(
		&fsm.CreateNotifications{Notifications: []fsm.Notification{
			{ID: "ne-demo-1", Type: wire.NotificationExpirationWarning, CertificateID: "mc-auth-prod", Channel: wire.ChannelEmail,
				Recipient: ownerOf("o-bob").email, DedupKey: "mc-auth-prod/threshold/7",
				Message: fmt.Sprintf("Certificate auth.example.com (mc-auth-prod) expires in 7 days, on %s.",
					expiry("mc-auth-prod").Format(time.RFC3339))},
			{ID: "ne-demo-2", Type: wire.NotificationRenewalFailure, CertificateID: "mc-vpn-prod", Channel: wire.ChannelEmail,
				Recipient: ownerOf("o-bob").email, DedupKey: "mc-vpn-prod/renewal-failed/job-demo-3",
				Message: "Renewal of vpn.example.com (mc-vpn-prod) failed: " + vpnFailure + "."},
			{ID: "ne-demo-3", Type: wire.NotificationDeploymentSuccess, CertificateID: "mc-api-prod", Channel: wire.ChannelEmail,
				Recipient: ownerOf("o-alice").email, DedupKey: "mc-api-prod/deployed/job-demo-1",
				Message: "Certificate api.example.com (mc-api-prod) was deployed to tgt-nginx-prod (NGINX Production)."},
		}},
		&fsm.MarkNotificationSent{ID: "ne-demo-3"},
	)
	return out, nil
}

// ca is the demo root CA; its key lives only for the duration of Payloads.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newCA(now time.Time) (*ca, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("demo: CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: CACommonName, Organization: []string{"CertCtl Demo"}},
		NotBefore:             now.Add(-365 * day).Truncate(time.Second),
		NotAfter:              now.Add(10 * 365 * day).Truncate(time.Second),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("demo: CA certificate: %w", err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("demo: CA certificate: %w", err)
	}
	return &ca{cert: parsed, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}, nil
}

func randomSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("demo: serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

// issue signs a leaf for c valid for Lifetime, ending at now+c.expiresIn, and
// returns it as a certificate version. The leaf's key is discarded.
func (a *ca) issue(c cert, now time.Time) (fsm.CertificateVersion, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fsm.CertificateVersion{}, fmt.Errorf("demo: key for %s: %w", c.id, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return fsm.CertificateVersion{}, err
	}
	notAfter := now.Add(c.expiresIn).Truncate(time.Second)
	notBefore := notAfter.Add(-Lifetime)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: c.cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, s := range c.sans {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return fsm.CertificateVersion{}, fmt.Errorf("demo: certificate for %s: %w", c.id, err)
	}
	fp := sha256.Sum256(der)
	leaf := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return fsm.CertificateVersion{
		ID:                "cv-" + c.id + "-1",
		CertificateID:     c.id,
		SerialNumber:      fmt.Sprintf("%x", serial),
		NotBefore:         notBefore,
		NotAfter:          notAfter,
		FingerprintSHA256: hex.EncodeToString(fp[:]),
		PEMChain:          leaf + a.pem,
	}, nil
}
