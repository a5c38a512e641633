// Package target is the interface of the systems certificates are deployed
// to (NGINX, Apache httpd, HAProxy, plain files, F5 BIG-IP, IIS) and what
// their connectors share. It runs inside certctl-agent on the host: a
// connector gets the certificate and chain in PEM and the path of the local
// private key, never the key itself, and no result carries key material.
//
// A deployment either takes effect or leaves the target as it was: a
// connector keeps what it replaced under the request's StateDir before
// changing anything, restores it itself when its own steps fail, and puts it
// back on Rollback when a later check (ValidateDeployment) fails or the agent
// finds an unfinished deployment after a restart.
//
// For connectors that write files on the agent's host it provides commands
// run without a shell and only when the agent's allow-list holds them whole
// (Runner), path checks against the agent's allowed and protected
// directories (CheckPath), atomic writes and the backup a rollback
// restores; nothing is permitted that the agent's operator did not list.
// DESIGN.md lists their invariants. For connectors that talk to a
// device's API (f5, iis) it provides strict config decoding (DecodeConfig,
// LoadRoots), the API's HTTP client (APIClient) and the state file a
// Rollback reads (WriteState, KeptState).
package target
