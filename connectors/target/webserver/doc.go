// Package webserver is the host-side target connector of certctl-agent for
// NGINX, Apache httpd, HAProxy and plain files with optional commands: it
// writes the certificate, chain and key into the configured files, checks
// the server's configuration, reloads it and, where an endpoint is set,
// checks with a TLS handshake that the new certificate is served. It must
// never run a shell, write outside the paths the agent allows, leave a
// half-written file, or put key material in a result, error or log.
package webserver
