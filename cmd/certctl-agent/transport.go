package main

import (
	"errors"
	"strconv"
	"strings"

	"github.com/certctl/certctl/api/client"
)

// boolValue is a setting that is on or off: a YAML boolean, true or false
// in the environment, a flag given alone (-insecure-http) or =true/false.
type boolValue bool

func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }
func (b *boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("must be true or false")
	}
	*b = boolValue(v)
	return nil
}

// serverProblem says what is wrong with server_url, or "" when nothing is:
// an address that is not a base URL, or plain http:// to another host
// without insecure_http. Plain http:// on loopback (a --dev node on this
// host, as make run starts) is allowed.
func serverProblem(c agentConfig) string {
	err := client.Config{Servers: c.ServerURL, InsecureHTTP: bool(c.InsecureHTTP)}.Validate()
	if err == nil {
		return ""
	}
	msg := "server_url: " + strings.TrimPrefix(err.Error(), "certctl: ")
	if errors.Is(err, client.ErrInsecureHTTP) {
		msg += " (with ca_bundle, CERTCTL_CA_BUNDLE or -ca-bundle, naming the cluster CA from 'certctl ca bundle'), " +
			"or set insecure_http: true (CERTCTL_INSECURE_HTTP=true, -insecure-http) to send them in clear anyway"
	}
	return msg
}
