// Package targettest is what the tests of target connectors share: a
// certificate issued as the agent holds it for a deployment (leaf, chain
// and a 0600 key file), the requests that deploy, check and roll it back,
// and a TLS listener serving it on 127.0.0.1. It is for tests only: it
// writes under t.TempDir and nowhere else, and fails the test rather than
// returning errors.
package targettest
