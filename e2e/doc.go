// Package e2e tests the certctl binary as an operator runs it: real processes on
// 127.0.0.1, each with its own data directory, talking over HTTP and Raft. It
// owns a harness (Cluster, Node, Client, Writer) and the tests and benchmarks
// that use it. It must never import the server's packages: everything it knows
// about a node comes from the command line, the HTTP API (raw, or through the
// typed client api/client and its api/wire types) and the node's log. The
// dashboard's tests (dashboard_test.go, on the browser harness of
// browser_test.go) drive Debian's chromium headless through chromedp against
// such nodes; `make test-deps` installs chromium.
package e2e
