// Package web holds the dashboard, built into the binary with go:embed and
// mounted by the API. It makes no request outside the appliance.
package web
