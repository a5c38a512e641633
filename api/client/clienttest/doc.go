// Package clienttest gives tests of the API's clients (the client package,
// the CLI, the agent) HTTPS servers on 127.0.0.1 with certificates of a CA
// made for the test, so that trust and its refusal are tested with real TLS.
// It is for tests only: its keys are made fresh and never stored.
package clienttest
