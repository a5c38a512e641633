package f5

// stateFile, in the deployment's StateDir, is what Rollback restores.
const stateFile = "f5-previous-profile.json"

// state is the profile's certKeyChain before the first attempt of a
// deployment switched it.
type state struct {
	Profile      string       `json:"profile"` // REST path, to refuse restoring onto another profile
	CertKeyChain []chainEntry `json:"cert_key_chain"`
}

// chainEntry is one entry of a client-ssl profile's certKeyChain, as
// iControl REST names its fields.
type chainEntry struct {
	Name  string `json:"name"`
	Cert  string `json:"cert,omitempty"`
	Key   string `json:"key,omitempty"`
	Chain string `json:"chain,omitempty"`
}
