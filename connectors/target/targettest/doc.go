// Package targettest is what the tests of target connectors share: a
// certificate issued as the agent holds it for a deployment (leaf, chain
// and a 0600 key file). It is for tests only: it writes under t.TempDir
// and nowhere else, and fails the test rather than returning errors.
package targettest
