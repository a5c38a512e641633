package wire

import "encoding/json"

// HeartbeatRequest is the body of POST /agents/{id}/heartbeat.
type HeartbeatRequest struct {
	Version  string `json:"version"`
	Hostname string `json:"hostname"`
	// Sent by the original agent's releases after 1.0.0; stored on the
	// agent record.
	OS           string `json:"os,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	IPAddress    string `json:"ip_address,omitempty"`
}

// WorkItem is one job handed to an agent by GET /agents/{id}/work.
type WorkItem struct {
	ID            string          `json:"id"`
	Type          JobType         `json:"type"`
	CertificateID string          `json:"certificate_id"`
	CommonName    string          `json:"common_name"`
	SANs          []string        `json:"sans"`
	KeyType       KeyType         `json:"key_type,omitempty"` // ours: the key to make for an AwaitingCSR job
	TargetID      string          `json:"target_id,omitempty"`
	TargetType    TargetType      `json:"target_type,omitempty"`
	TargetConfig  json.RawMessage `json:"target_config,omitempty"`
	Status        JobStatus       `json:"status"`
}

// WorkResponse is the answer of GET /agents/{id}/work.
type WorkResponse struct {
	Jobs  []WorkItem `json:"jobs"`
	Count int        `json:"count"`
}

// CSRRequest is the body of POST /agents/{id}/csr.
type CSRRequest struct {
	CSRPEM        string `json:"csr_pem"`
	CertificateID string `json:"certificate_id,omitempty"`
}

// JobStatusRequest is the body of POST /agents/{id}/jobs/{job_id}/status.
type JobStatusRequest struct {
	Status           JobStatus       `json:"status"`
	Error            string          `json:"error,omitempty"`
	DeploymentResult json.RawMessage `json:"deployment_result,omitempty"`
}

// CertificatePickup is the answer of GET /agents/{id}/certificates/{cert_id}.
// PrivateKeyPEM (ours) is set only for a certificate whose key the server
// made (key_generation "server"), and only for the agent of a target
// mapped to it.
type CertificatePickup struct {
	CertificatePEM string `json:"certificate_pem"`
	PrivateKeyPEM  string `json:"private_key_pem,omitempty"`
}

// AgentRegistration is the answer of POST /agents: the agent and its API
// key, shown this once.
type AgentRegistration struct {
	Agent
	APIKey string `json:"api_key"`
}
