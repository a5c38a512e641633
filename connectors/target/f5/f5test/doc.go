// Package f5test runs a fake F5 BIG-IP for tests: an iControl REST
// management interface on 127.0.0.1 that implements, as F5 documents them,
// the few endpoints the f5 connector may use and keeps the device's state
// (uploaded files, installed keys and certificates, client-ssl profiles,
// transactions). Any request outside that protocol is a violation that
// fails the test. It is for tests only: it writes under t.TempDir and
// nowhere else.
package f5test
