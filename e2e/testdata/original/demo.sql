-- Demo data in the original certctl's tables, spelled as the original
-- wrote them (lower-case statuses and types, "local" issuers, placeholder
-- key hashes and PEMs, the informal policy rule types of its default
-- rules): the site the docs describe (ids as in REFERENCE), with a few jobs.
-- Written for these tests; see README.md.
INSERT INTO teams (id, name, description, created_at, updated_at) VALUES
  ('t-platform', 'Platform Engineering', 'Core infrastructure', now() - interval '180 days', now() - interval '180 days'),
  ('t-security', 'Security Operations', 'Security tooling and compliance', now() - interval '180 days', now() - interval '20 days'),
  ('t-payments', 'Payments', 'Payment processing', now() - interval '150 days', now() - interval '150 days'),
  ('t-frontend', 'Frontend', NULL, now() - interval '150 days', now() - interval '150 days'),
  ('t-data', 'Data Engineering', 'Pipelines and analytics', now() - interval '120 days', now() - interval '120 days');

INSERT INTO owners (id, name, email, team_id, created_at, updated_at) VALUES
  ('o-alice', 'Alice Chen', 'alice@example.com', 't-platform', now() - interval '180 days', now() - interval '180 days'),
  ('o-bob', 'Bob Martinez', 'bob@example.com', 't-security', now() - interval '180 days', now() - interval '180 days'),
  ('o-carol', 'Carol Williams', 'carol@example.com', 't-payments', now() - interval '150 days', now() - interval '150 days'),
  ('o-dave', 'Dave Kim', 'dave@example.com', 't-frontend', now() - interval '150 days', now() - interval '150 days'),
  ('o-eve', 'Eve Johnson', 'eve@example.com', 't-data', now() - interval '120 days', now() - interval '120 days');

INSERT INTO renewal_policies (id, name, renewal_window_days, auto_renew, max_retries, retry_interval_minutes, alert_thresholds_days, created_at, updated_at) VALUES
  ('rp-standard', 'Standard 30-day', 30, true, 3, 60, '[30, 14, 7, 0]', now() - interval '180 days', now() - interval '180 days'),
  ('rp-urgent', 'Urgent 14-day', 14, true, 5, 30, '[14, 7, 3, 0]', now() - interval '180 days', now() - interval '180 days'),
  ('rp-manual', 'Manual only', 30, false, 0, 0, '[30, 14, 7, 0]', now() - interval '180 days', now() - interval '180 days');

INSERT INTO issuers (id, name, type, config, enabled, created_at, updated_at) VALUES
  ('iss-local', 'Local Dev CA', 'local', '{"ca_common_name": "CertCtl Demo CA", "validity_days": 90}', true, now() - interval '180 days', now() - interval '180 days'),
  ('iss-acme-le', 'Let''s Encrypt Staging', 'acme', '{"directory_url": "https://acme-staging-v02.api.letsencrypt.org/directory", "email": "admin@example.com"}', false, now() - interval '150 days', now() - interval '150 days'),
  ('iss-vault', 'Vault PKI', 'vault', '{"addr": "https://vault.internal:8200", "mount": "pki", "role": "web", "ttl": "720h"}', false, now() - interval '90 days', now() - interval '90 days');

INSERT INTO agents (id, name, hostname, status, last_heartbeat_at, registered_at, api_key_hash) VALUES
  ('ag-web-prod', 'web-prod-agent', 'web-prod-01.internal', 'online', now() - interval '30 seconds', now() - interval '90 days', 'demo_hash_1'),
  ('ag-web-staging', 'web-staging-agent', 'web-stg-01.internal', 'online', now() - interval '45 seconds', now() - interval '60 days', 'demo_hash_2'),
  ('ag-lb-prod', 'lb-prod-agent', 'f5-prod-01.internal', 'online', now() - interval '15 seconds', now() - interval '120 days', 'demo_hash_3'),
  ('ag-data-prod', 'data-prod-agent', 'data-prod-01.internal', 'online', now() - interval '20 seconds', now() - interval '45 days', 'demo_hash_4'),
  ('ag-iis-prod', 'iis-prod-agent', 'iis-prod-01.internal', 'offline', now() - interval '3 hours', now() - interval '30 days', 'demo_hash_5');

INSERT INTO deployment_targets (id, name, type, agent_id, config, enabled, created_at, updated_at) VALUES
  ('tgt-nginx-prod', 'NGINX Production', 'nginx', 'ag-web-prod', '{"cert_path": "/etc/nginx/ssl/cert.pem", "key_path": "/etc/nginx/ssl/key.pem", "reload_command": "nginx -s reload"}', true, now() - interval '90 days', now() - interval '90 days'),
  ('tgt-nginx-staging', 'NGINX Staging', 'nginx', 'ag-web-staging', '{"cert_path": "/etc/nginx/ssl/cert.pem", "key_path": "/etc/nginx/ssl/key.pem"}', true, now() - interval '60 days', now() - interval '60 days'),
  ('tgt-nginx-data', 'NGINX Data', 'nginx', 'ag-data-prod', '{"cert_path": "/etc/nginx/ssl/cert.pem", "key_path": "/etc/nginx/ssl/key.pem"}', true, now() - interval '45 days', now() - interval '45 days'),
  ('tgt-f5-prod', 'F5 BIG-IP Production', 'f5', 'ag-lb-prod', '{"host": "f5-prod-01.internal", "partition": "Common", "ssl_profile": "clientssl"}', true, now() - interval '120 days', now() - interval '120 days'),
  ('tgt-iis-prod', 'IIS Production', 'iis', 'ag-iis-prod', '{"site_name": "Default Web Site", "binding_info": "*:443:"}', true, now() - interval '30 days', now() - interval '30 days');

INSERT INTO managed_certificates (id, name, common_name, sans, environment, owner_id, team_id, issuer_id, renewal_policy_id, status, expires_at, tags, last_renewal_at, last_deployment_at, created_at, updated_at) VALUES
  ('mc-api-prod', 'api-production', 'api.example.com', ARRAY['api.example.com', 'api-v2.example.com'], 'production', 'o-alice', 't-platform', 'iss-local', 'rp-standard', 'active', now() + interval '75 days', '{"service": "api-gateway", "tier": "critical"}', now() - interval '15 days', now() - interval '15 days', now() - interval '180 days', now() - interval '15 days'),
  ('mc-web-prod', 'web-production', 'www.example.com', ARRAY['www.example.com', 'example.com'], 'production', 'o-dave', 't-frontend', 'iss-local', 'rp-standard', 'active', now() + interval '60 days', '{"service": "web"}', now() - interval '30 days', now() - interval '30 days', now() - interval '365 days', now() - interval '30 days'),
  ('mc-pay-prod', 'payments-production', 'pay.example.com', ARRAY['pay.example.com', 'checkout.example.com'], 'production', 'o-carol', 't-payments', 'iss-local', 'rp-urgent', 'active', now() + interval '45 days', '{"service": "payments", "pci": "true"}', now() - interval '45 days', now() - interval '45 days', now() - interval '200 days', now() - interval '45 days'),
  ('mc-dash-prod', 'dashboard-production', 'dashboard.example.com', ARRAY['dashboard.example.com'], 'production', 'o-dave', 't-frontend', 'iss-local', 'rp-standard', 'active', now() + interval '82 days', '{}', now() - interval '8 days', now() - interval '8 days', now() - interval '100 days', now() - interval '8 days'),
  ('mc-data-prod', 'data-api-production', 'data.example.com', ARRAY['data.example.com'], 'production', 'o-eve', 't-data', 'iss-local', 'rp-standard', 'active', now() + interval '55 days', '{"service": "data-api"}', now() - interval '35 days', now() - interval '35 days', now() - interval '150 days', now() - interval '35 days'),
  ('mc-api-stg', 'api-staging', 'api.staging.example.com', ARRAY['api.staging.example.com'], 'staging', 'o-alice', 't-platform', 'iss-local', 'rp-standard', 'active', now() + interval '65 days', '{}', now() - interval '25 days', now() - interval '25 days', now() - interval '120 days', now() - interval '25 days'),
  ('mc-web-stg', 'web-staging', 'www.staging.example.com', ARRAY['www.staging.example.com'], 'staging', 'o-dave', 't-frontend', 'iss-local', 'rp-standard', 'active', now() + interval '70 days', '{}', now() - interval '20 days', now() - interval '20 days', now() - interval '100 days', now() - interval '20 days'),
  ('mc-wildcard', 'wildcard-production', '*.example.com', ARRAY['*.example.com', 'example.com'], 'production', 'o-alice', 't-platform', 'iss-local', 'rp-standard', 'active', now() + interval '50 days', '{"service": "wildcard"}', now() - interval '40 days', now() - interval '40 days', now() - interval '365 days', now() - interval '40 days'),
  ('mc-auth-prod', 'auth-production', 'auth.example.com', ARRAY['auth.example.com', 'sso.example.com'], 'production', 'o-bob', 't-security', 'iss-local', 'rp-urgent', 'expiring', now() + interval '12 days', '{"service": "auth"}', now() - interval '78 days', now() - interval '78 days', now() - interval '300 days', now() - interval '1 day'),
  ('mc-cdn-prod', 'cdn-production', 'cdn.example.com', ARRAY['cdn.example.com'], 'production', 'o-alice', 't-platform', 'iss-local', 'rp-standard', 'expiring', now() + interval '8 days', '{"service": "cdn"}', now() - interval '82 days', now() - interval '82 days', now() - interval '250 days', now() - interval '1 day'),
  ('mc-mail-prod', 'mail-production', 'mail.example.com', ARRAY['mail.example.com', 'smtp.example.com'], 'production', 'o-bob', 't-security', 'iss-local', 'rp-standard', 'expiring', now() + interval '5 days', '{"service": "email"}', now() - interval '85 days', now() - interval '85 days', now() - interval '400 days', now() - interval '1 day'),
  ('mc-legacy-prod', 'legacy-app', 'legacy.example.com', ARRAY['legacy.example.com'], 'production', 'o-alice', 't-platform', 'iss-local', 'rp-manual', 'expired', now() - interval '3 days', '{"decom": "planned"}', now() - interval '93 days', now() - interval '93 days', now() - interval '500 days', now() - interval '3 days'),
  ('mc-old-api', 'old-api-v1', 'api-v1.example.com', ARRAY['api-v1.example.com'], 'production', 'o-alice', 't-platform', 'iss-local', 'rp-manual', 'expired', now() - interval '15 days', '{"deprecated": "true"}', NULL, NULL, now() - interval '600 days', now() - interval '15 days'),
  ('mc-grafana-prod', 'grafana-production', 'grafana.example.com', ARRAY['grafana.example.com'], 'production', 'o-eve', 't-data', 'iss-local', 'rp-standard', 'renewal_in_progress', now() + interval '3 days', '{"service": "monitoring"}', now() - interval '87 days', now() - interval '87 days', now() - interval '180 days', now() - interval '2 hours'),
  ('mc-vpn-prod', 'vpn-production', 'vpn.example.com', ARRAY['vpn.example.com'], 'production', 'o-bob', 't-security', 'iss-acme-le', 'rp-urgent', 'failed', now() + interval '1 day', '{"service": "vpn"}', NULL, NULL, now() - interval '90 days', now() - interval '1 hour');

INSERT INTO certificate_target_mappings (certificate_id, target_id) VALUES
  ('mc-api-prod', 'tgt-nginx-prod'), ('mc-api-prod', 'tgt-f5-prod'), ('mc-web-prod', 'tgt-nginx-prod'),
  ('mc-pay-prod', 'tgt-f5-prod'), ('mc-dash-prod', 'tgt-nginx-prod'), ('mc-data-prod', 'tgt-nginx-data'),
  ('mc-api-stg', 'tgt-nginx-staging'), ('mc-web-stg', 'tgt-nginx-staging'), ('mc-wildcard', 'tgt-nginx-prod'),
  ('mc-wildcard', 'tgt-f5-prod'), ('mc-auth-prod', 'tgt-f5-prod'), ('mc-cdn-prod', 'tgt-f5-prod'),
  ('mc-mail-prod', 'tgt-nginx-prod'), ('mc-legacy-prod', 'tgt-iis-prod'), ('mc-grafana-prod', 'tgt-nginx-data'),
  ('mc-vpn-prod', 'tgt-f5-prod');

-- Placeholder PEMs, as the original's demo data had.
INSERT INTO certificate_versions (id, certificate_id, serial_number, not_before, not_after, fingerprint_sha256, pem_chain, csr_pem, created_at) VALUES
  ('cv-api-1', 'mc-api-prod', '0A:1B:2C:3D:4E:5F:00:01', now() - interval '15 days', now() + interval '75 days', 'sha256:ab12cd34ef56', E'-----BEGIN CERTIFICATE-----\nMIIDemoAPI...\n-----END CERTIFICATE-----', NULL, now() - interval '15 days'),
  ('cv-web-1', 'mc-web-prod', '0A:1B:2C:3D:4E:5F:00:02', now() - interval '30 days', now() + interval '60 days', 'sha256:cd34ef56ab12', E'-----BEGIN CERTIFICATE-----\nMIIDemoWeb...\n-----END CERTIFICATE-----', NULL, now() - interval '30 days'),
  ('cv-pay-1', 'mc-pay-prod', '0A:1B:2C:3D:4E:5F:00:03', now() - interval '45 days', now() + interval '45 days', 'sha256:ef56ab12cd34', E'-----BEGIN CERTIFICATE-----\nMIIDemoPay...\n-----END CERTIFICATE-----', NULL, now() - interval '45 days'),
  ('cv-auth-1', 'mc-auth-prod', '0A:1B:2C:3D:4E:5F:00:04', now() - interval '78 days', now() + interval '12 days', 'sha256:1234abcdef56', E'-----BEGIN CERTIFICATE-----\nMIIDemoAuth...\n-----END CERTIFICATE-----', NULL, now() - interval '78 days'),
  ('cv-wild-1', 'mc-wildcard', '0A:1B:2C:3D:4E:5F:00:05', now() - interval '40 days', now() + interval '50 days', 'sha256:5678abcdef12', E'-----BEGIN CERTIFICATE-----\nMIIDemoWild...\n-----END CERTIFICATE-----', NULL, now() - interval '40 days');

INSERT INTO jobs (id, type, certificate_id, target_id, agent_id, status, attempts, max_attempts, last_error, deployment_result, scheduled_at, started_at, completed_at, created_at) VALUES
  ('job-demo-01', 'deployment', 'mc-api-prod', 'tgt-nginx-prod', 'ag-web-prod', 'completed', 1, 3, NULL, '{"reloaded": true}', now() - interval '15 days', now() - interval '15 days', now() - interval '15 days' + interval '5 minutes', now() - interval '15 days'),
  ('job-demo-02', 'renewal', 'mc-grafana-prod', NULL, NULL, 'pending', 0, 3, NULL, NULL, now() - interval '2 hours', NULL, NULL, now() - interval '2 hours'),
  ('job-demo-03', 'renewal', 'mc-vpn-prod', NULL, NULL, 'failed', 3, 3, 'ACME challenge failed: DNS timeout', NULL, now() - interval '3 hours', now() - interval '1 hour', now() - interval '1 hour', now() - interval '3 hours');

-- The original's default policy rules, with its informal types.
INSERT INTO policy_rules (id, name, type, config, enabled, created_at, updated_at) VALUES
  ('pr-require-owner', 'require-owner', 'ownership', '{"requirement": "owner_id must be set"}', true, now() - interval '180 days', now() - interval '180 days'),
  ('pr-allowed-environments', 'allowed-environments', 'environment', '{"allowed": ["production", "staging", "development"]}', true, now() - interval '180 days', now() - interval '180 days'),
  ('pr-max-certificate-lifetime', 'max-certificate-lifetime', 'lifetime', '{"max_days": 90}', true, now() - interval '180 days', now() - interval '180 days'),
  ('pr-min-renewal-window', 'min-renewal-window', 'renewal_window', '{"min_days": 14}', true, now() - interval '180 days', now() - interval '180 days');

INSERT INTO policy_violations (id, certificate_id, rule_id, message, severity, created_at) VALUES
  ('pv-demo-01', 'mc-legacy-prod', 'pr-max-certificate-lifetime', 'Certificate has expired', 'critical', now() - interval '3 days'),
  ('pv-demo-02', 'mc-old-api', 'pr-max-certificate-lifetime', 'Certificate expired 15 days ago', 'critical', now() - interval '15 days'),
  ('pv-demo-03', 'mc-vpn-prod', 'pr-min-renewal-window', 'Renewal failed within the minimum renewal window', 'error', now() - interval '1 hour'),
  ('pv-demo-04', 'mc-mail-prod', 'pr-min-renewal-window', 'Expires in 5 days, below the 14-day minimum', 'warning', now() - interval '20 minutes');

INSERT INTO audit_events (id, actor, actor_type, action, resource_type, resource_id, details, timestamp) VALUES
  ('audit-demo-01', 'alice@example.com', 'user', 'certificate.renewed', 'certificate', 'mc-api-prod', '{"issuer": "local"}', now() - interval '15 days'),
  ('audit-demo-02', 'system', 'system', 'certificate.deployed', 'certificate', 'mc-api-prod', '{"target": "tgt-nginx-prod", "status": "success"}', now() - interval '15 days' + interval '5 minutes'),
  ('audit-demo-03', 'carol@example.com', 'user', 'certificate.created', 'certificate', 'mc-pay-prod', '{"common_name": "pay.example.com"}', now() - interval '200 days'),
  ('audit-demo-04', 'system', 'system', 'renewal.started', 'certificate', 'mc-grafana-prod', '{"reason": "expiring_in_3_days"}', now() - interval '2 hours'),
  ('audit-demo-05', 'system', 'system', 'renewal.failed', 'certificate', 'mc-vpn-prod', '{"error": "ACME challenge failed: DNS timeout", "attempt": 3}', now() - interval '1 hour'),
  ('audit-demo-06', 'ag-web-prod', 'agent', 'job.status_reported', 'job', 'job-demo-01', NULL, now() - interval '15 days' + interval '5 minutes'),
  ('audit-demo-07', 'bob@example.com', 'user', 'agent.registered', 'agent', 'ag-iis-prod', '{"hostname": "iis-prod-01.internal"}', now() - interval '30 days');

INSERT INTO notification_events (id, type, certificate_id, channel, recipient, message, sent_at, status, error) VALUES
  ('ne-demo-01', 'expiration_warning', 'mc-auth-prod', 'email', 'bob@example.com', 'Certificate auth-production expires in 12 days', now() - interval '30 minutes', 'sent', NULL),
  ('ne-demo-02', 'expiration_warning', 'mc-cdn-prod', 'email', 'alice@example.com', 'Certificate cdn-production expires in 8 days', now() - interval '25 minutes', 'sent', NULL),
  ('ne-demo-03', 'renewal_failure', 'mc-vpn-prod', 'webhook', 'https://hooks.example.com/certctl', 'Renewal failed for vpn-production after 3 attempts', NULL, 'failed', 'connection refused'),
  ('ne-demo-04', 'deployment_success', 'mc-api-prod', 'webhook', 'https://hooks.example.com/certctl', 'api-production deployed to NGINX Production', now() - interval '15 days', 'sent', NULL);
