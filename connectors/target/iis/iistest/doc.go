// Package iistest runs a fake Windows IIS host for tests: a WinRM HTTPS
// listener on 127.0.0.1 that checks every envelope against WS-Management
// and WinRS (MS-WSMV) as the iis connector uses them, and the host behind
// it, which "runs" the connector's PowerShell scripts by reading their
// parameters against its certificate stores and IIS bindings. Anything
// outside that protocol is a violation that fails the test, as are shells
// and temporary files left behind when the test ends. It is for tests
// only: it writes under t.TempDir and nowhere else.
package iistest
