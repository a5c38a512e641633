-- The fourteen tables of the original certctl (release 1.0) as its
-- PostgreSQL held them: names, columns, types and constraints (NOT NULL,
-- keys, uniques, foreign keys, defaults). Written for these tests from the
-- original's published table definitions; see README.md.
CREATE TABLE teams (
  id text PRIMARY KEY,
  name varchar(255) NOT NULL UNIQUE,
  description text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE owners (
  id text PRIMARY KEY,
  name varchar(255) NOT NULL,
  email varchar(255) NOT NULL,
  team_id text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE renewal_policies (
  id text PRIMARY KEY,
  name varchar(255) NOT NULL UNIQUE,
  renewal_window_days int NOT NULL,
  auto_renew boolean NOT NULL DEFAULT true,
  max_retries int NOT NULL DEFAULT 3,
  retry_interval_minutes int NOT NULL DEFAULT 60,
  alert_thresholds_days jsonb NOT NULL DEFAULT '[30, 14, 7, 0]',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE issuers (
  id text PRIMARY KEY,
  name varchar(255) NOT NULL UNIQUE,
  type varchar(255) NOT NULL,
  config jsonb,
  enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE agents (
  id text PRIMARY KEY,
  name varchar(255) NOT NULL UNIQUE,
  hostname varchar(255) NOT NULL,
  status varchar(50) NOT NULL DEFAULT 'offline',
  last_heartbeat_at timestamptz,
  registered_at timestamptz NOT NULL DEFAULT now(),
  api_key_hash varchar(255) NOT NULL
);
CREATE TABLE managed_certificates (
  id text PRIMARY KEY,
  name varchar(255) NOT NULL UNIQUE,
  common_name varchar(255) NOT NULL,
  sans text[] DEFAULT ARRAY[]::text[],
  environment varchar(50),
  owner_id text NOT NULL REFERENCES owners (id) ON DELETE RESTRICT,
  team_id text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
  issuer_id text NOT NULL REFERENCES issuers (id) ON DELETE RESTRICT,
  renewal_policy_id text NOT NULL REFERENCES renewal_policies (id) ON DELETE RESTRICT,
  status varchar(50) NOT NULL DEFAULT 'pending',
  expires_at timestamptz,
  tags jsonb NOT NULL DEFAULT '{}',
  last_renewal_at timestamptz,
  last_deployment_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE deployment_targets (
  id text PRIMARY KEY,
  name varchar(255) NOT NULL,
  type varchar(255) NOT NULL,
  agent_id text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  config jsonb,
  enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (agent_id, name)
);
CREATE TABLE certificate_target_mappings (
  certificate_id text NOT NULL REFERENCES managed_certificates (id) ON DELETE CASCADE,
  target_id text NOT NULL REFERENCES deployment_targets (id) ON DELETE CASCADE,
  PRIMARY KEY (certificate_id, target_id)
);
CREATE TABLE certificate_versions (
  id text PRIMARY KEY,
  certificate_id text NOT NULL REFERENCES managed_certificates (id) ON DELETE CASCADE,
  serial_number varchar(255) NOT NULL,
  not_before timestamptz NOT NULL,
  not_after timestamptz NOT NULL,
  fingerprint_sha256 varchar(255) NOT NULL UNIQUE,
  pem_chain text NOT NULL,
  csr_pem text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE jobs (
  id text PRIMARY KEY,
  type varchar(255) NOT NULL,
  certificate_id text REFERENCES managed_certificates (id) ON DELETE CASCADE,
  target_id text REFERENCES deployment_targets (id) ON DELETE SET NULL,
  agent_id text REFERENCES agents (id) ON DELETE SET NULL,
  status varchar(50) NOT NULL DEFAULT 'pending',
  attempts int NOT NULL DEFAULT 0,
  max_attempts int NOT NULL DEFAULT 3,
  last_error text,
  deployment_result jsonb,
  scheduled_at timestamptz,
  started_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE policy_rules (
  id text PRIMARY KEY,
  name varchar(255) NOT NULL UNIQUE,
  type varchar(255) NOT NULL,
  config jsonb NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE policy_violations (
  id text PRIMARY KEY,
  certificate_id text NOT NULL REFERENCES managed_certificates (id) ON DELETE CASCADE,
  rule_id text NOT NULL REFERENCES policy_rules (id) ON DELETE CASCADE,
  message text NOT NULL,
  severity varchar(50) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE audit_events (
  id text PRIMARY KEY,
  actor varchar(255) NOT NULL,
  actor_type varchar(50) NOT NULL,
  action varchar(255) NOT NULL,
  resource_type varchar(255) NOT NULL,
  resource_id varchar(255) NOT NULL,
  details jsonb,
  timestamp timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE notification_events (
  id text PRIMARY KEY,
  type varchar(255) NOT NULL,
  certificate_id text REFERENCES managed_certificates (id) ON DELETE CASCADE,
  channel varchar(255) NOT NULL,
  recipient varchar(255) NOT NULL,
  message text NOT NULL,
  sent_at timestamptz,
  status varchar(50) NOT NULL DEFAULT 'pending',
  error text
);
